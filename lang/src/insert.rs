//! Where quick fixes write into a file (see [`Fix`](crate::diagnostic::Fix)):
//! a new `import` line, a new declaration before the first item, new fields
//! at the end of a `{ … }` block — in the layout `tpt fmt` gives.

use crate::diagnostic::Fix;
use crate::source::{FileId, Span};

/// The top of a file: its `import` lines, and where its first item begins.
struct Header {
    /// The end of the last top-level `import` line (after its newline).
    imports_end: Option<usize>,
    /// The start of the first item that is no `import` — of the comments just
    /// above it, which belong to it — or the end of the file.
    first_item: usize,
}

fn header(text: &str) -> Header {
    let mut imports_end = None;
    // The start of the comment lines since the last blank line or item.
    let mut comments: Option<usize> = None;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let t = line.trim();
        if t.is_empty() {
            comments = None;
        } else if t.starts_with("//") {
            comments.get_or_insert(start);
        } else if t.starts_with("import ") && !t.starts_with("import {") {
            imports_end = Some(at);
            comments = None;
        } else {
            return Header {
                imports_end,
                first_item: comments.unwrap_or(start),
            };
        }
    }
    Header {
        imports_end,
        first_item: text.len(),
    }
}

/// The edit that adds `line` (an `import …`, without newline) below the
/// file's imports, or above its first item.
pub(crate) fn import(file: FileId, text: &str, line: &str) -> (Span, String) {
    let h = header(text);
    match h.imports_end {
        Some(end) if text[..end].ends_with('\n') => (point(file, end), format!("{line}\n")),
        // The last line of the file, without a newline.
        Some(end) => (point(file, end), format!("\n{line}\n")),
        None => before_items(file, text, h.first_item, line),
    }
}

/// The preferred fix that adds `import std.MODULE` to a file.
pub(crate) fn std_import(file: FileId, text: &str, module: &str) -> Fix {
    let line = format!("import std.{module}");
    let edit = import(file, text, &line);
    Fix {
        title: format!("Add `{line}`"),
        edits: vec![edit],
        preferred: true,
    }
}

/// The edit that adds the declaration `decl` (one line, without newline)
/// above the file's first item (below its imports).
pub(crate) fn declaration(file: FileId, text: &str, decl: &str) -> (Span, String) {
    let h = header(text);
    before_items(file, text, h.first_item, decl)
}

fn before_items(file: FileId, text: &str, at: usize, line: &str) -> (Span, String) {
    if at >= text.len() {
        let sep = if text.is_empty() || text.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        (point(file, text.len()), format!("{sep}{line}\n"))
    } else {
        (point(file, at), format!("{line}\n\n"))
    }
}

/// The edit that adds `entries` (`name = value`) at the end of the block
/// `block` (its span holds the braces): each on its own line, indented one
/// step more than the line of the closing brace, in a block of several
/// lines; after a comma in a block on one line.
pub(crate) fn entries(text: &str, block: Span, entries: &[String]) -> Option<(Span, String)> {
    let (open, close) = (block.start as usize, (block.end as usize).checked_sub(1)?);
    if text.get(open..=open) != Some("{") || text.get(close..=close) != Some("}") || close <= open {
        return None;
    }
    let inner = &text[open + 1..close];
    let last = open + 1 + inner.trim_end().len();
    if inner.contains('\n') {
        let line_start = text[..close].rfind('\n').map_or(0, |i| i + 1);
        let brace_indent: String = text[line_start..close]
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        let new: String = entries.iter().map(|e| format!("\n{brace_indent}  {e}")).collect();
        Some((point(block.file, last), new))
    } else if inner.trim().is_empty() {
        let span = Span {
            file: block.file,
            start: block.start + 1,
            end: u32::try_from(close).ok()?,
        };
        Some((span, format!(" {} ", entries.join(", "))))
    } else {
        let sep = if inner.trim_end().ends_with(',') {
            " "
        } else {
            ", "
        };
        Some((point(block.file, last), format!("{sep}{}", entries.join(", "))))
    }
}

fn point(file: FileId, at: usize) -> Span {
    // Files are under 4 GiB (the source map holds offsets as u32).
    let at = u32::try_from(at).unwrap_or(u32::MAX);
    Span {
        file,
        start: at,
        end: at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str, (span, new): (Span, String)) -> String {
        let mut out = text.to_string();
        out.replace_range(span.start as usize..span.end as usize, &new);
        out
    }

    const F: FileId = FileId(0);

    #[test]
    fn an_import_goes_below_the_imports_or_above_the_first_item() {
        let cases = [
            (
                "import std.aws\n\nparam a: int\n",
                "import std.aws\nimport std.k8s\n\nparam a: int\n",
            ),
            ("import std.aws", "import std.aws\nimport std.k8s\n"),
            (
                "/// A.\nparam a: int\n",
                "import std.k8s\n\n/// A.\nparam a: int\n",
            ),
            (
                "// header\n\nparam a: int\n",
                "// header\n\nimport std.k8s\n\nparam a: int\n",
            ),
            ("", "import std.k8s\n"),
            (
                "import { to = z, id = \"x\" }\n",
                "import std.k8s\n\nimport { to = z, id = \"x\" }\n",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(apply(text, import(F, text, "import std.k8s")), want, "{text:?}");
        }
    }

    #[test]
    fn a_declaration_goes_above_the_first_item() {
        let text = "import std.aws\n\n/// The zone.\nresource z: aws.HostedZone {}\n";
        assert_eq!(
            apply(text, declaration(F, text, "param d: string")),
            "import std.aws\n\nparam d: string\n\n/// The zone.\nresource z: aws.HostedZone {}\n"
        );
    }

    #[test]
    fn entries_go_at_the_end_of_a_block_in_its_layout() {
        let two = vec!["a = 1".to_string(), "b = \"\"".to_string()];
        let cases = [
            ("x {\n  c = 2\n}", "x {\n  c = 2\n  a = 1\n  b = \"\"\n}"),
            (
                "  x {\n    c = 2,\n  }\n",
                "  x {\n    c = 2,\n    a = 1\n    b = \"\"\n  }\n",
            ),
            ("x {\n}", "x {\n  a = 1\n  b = \"\"\n}"),
            ("x {}", "x { a = 1, b = \"\" }"),
            ("x { c = 2 }", "x { c = 2, a = 1, b = \"\" }"),
            ("x { c = 2, }", "x { c = 2, a = 1, b = \"\" }"),
        ];
        for (text, want) in cases {
            let open = text.find('{').unwrap_or(0);
            let close = text.rfind('}').unwrap_or(0);
            let block = Span {
                file: F,
                start: open as u32,
                end: close as u32 + 1,
            };
            let edit = entries(text, block, &two);
            assert_eq!(edit.map(|e| apply(text, e)).as_deref(), Some(want), "{text:?}");
        }
    }
}
