//! Reading the text before the cursor, lexically: which brackets are open
//! (strings, comments and interpolations skipped), what opened each, which
//! keys a block sets, and whether the cursor stands after `key =`.

use regex::Regex;

/// A regular expression of this module (all are literals: `None` never happens).
pub fn re(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

/// A character of a name.
pub fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// An open bracket at the cursor and where it is.
#[derive(Debug, Clone, Copy)]
pub struct Open {
    pub ch: u8,
    pub pos: usize,
}

/// What the text before the cursor is, lexically.
#[derive(Debug)]
pub struct Scan {
    pub open: Vec<Open>,
    pub in_string: bool,
    pub in_comment: bool,
}

pub fn scan(text: &str) -> Scan {
    let b = text.as_bytes();
    let mut open: Vec<Open> = Vec::new();
    let mut in_string = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' => in_string = false,
                b'\n' => in_string = false,
                b'$' if b.get(i + 1) == Some(&b'{') => {
                    open.push(Open { ch: b'$', pos: i });
                    in_string = false;
                    i += 1;
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'/' if b.get(i + 1) == Some(&b'/') => match text.get(i..).and_then(|t| t.find('\n')) {
                Some(n) => i += n,
                None => {
                    return Scan {
                        open,
                        in_string: false,
                        in_comment: true,
                    }
                }
            },
            b'/' if b.get(i + 1) == Some(&b'*') => match text.get(i + 2..).and_then(|t| t.find("*/")) {
                Some(n) => i += n + 3,
                None => {
                    return Scan {
                        open,
                        in_string: false,
                        in_comment: true,
                    }
                }
            },
            b'"' if text.get(i..).is_some_and(|t| t.starts_with("\"\"\"")) => {
                match text.get(i + 3..).and_then(|t| t.find("\"\"\"")) {
                    Some(n) => i += n + 5,
                    None => {
                        return Scan {
                            open,
                            in_string: true,
                            in_comment: false,
                        }
                    }
                }
            }
            b'"' => in_string = true,
            b'{' | b'[' | b'(' => open.push(Open { ch: c, pos: i }),
            b'}' | b']' | b')' => {
                if let Some(o) = open.pop() {
                    if o.ch == b'$' {
                        in_string = true;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    Scan {
        open,
        in_string,
        in_comment: false,
    }
}

/// The text that opened a bracket: from the previous line break, bracket or
/// separator up to it.
pub fn opener_text(text: &str, pos: usize) -> &str {
    let head = text.get(..pos).unwrap_or("");
    let start = head.rfind(['\n', '{', '[', '(', ',', ';']).map_or(0, |i| i + 1);
    head.get(start..).unwrap_or("").trim()
}

/// The keys set (`key = …`, or `key { … }` in an overlay) at the top level of
/// the block that starts at `start`, up to its closing brace.
pub fn keys_in_block(text: &str, start: usize) -> Vec<String> {
    let Some(body) = text.get(start..) else {
        return Vec::new();
    };
    let b = body.as_bytes();
    let mut keys = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut at_entry = true;
    while i < b.len() {
        let c = b[i];
        match c {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i += body.get(i..).and_then(|t| t.find('\n')).unwrap_or(b.len() - i);
                continue;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                at_entry = false;
            }
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => break,
            },
            b'\n' | b',' | b';' => at_entry = depth == 0,
            c if at_entry && depth == 0 && (c.is_ascii_alphabetic() || c == b'_') => {
                let word: String = body[i..].chars().take_while(|c| is_ident_char(*c)).collect();
                i += word.len();
                let rest = body[i..].trim_start();
                if (rest.starts_with('=') && !rest.starts_with("==") && !rest.starts_with("=>"))
                    || rest.starts_with('{')
                {
                    keys.push(word);
                }
                at_entry = false;
                continue;
            }
            c if !c.is_ascii_whitespace() => at_entry = false,
            _ => {}
        }
        i += 1;
    }
    keys
}

/// `key =` at the end of a segment (not `==`, `!=`, `<=`, `>=`, `=>`): the key.
pub fn assignment(segment: &str) -> Option<&str> {
    let c = re(r"(?:^|[^\w])(\w+)\s*=(?:[^=>]|$)")?
        .captures_iter(segment)
        .last()?;
    let whole = c.get(0)?;
    // The `=` must be a plain assignment: the character before it is not an operator.
    let eq = segment.get(..whole.end())?.rfind('=')?;
    if segment
        .get(..eq)
        .is_some_and(|s| s.ends_with(['!', '<', '>', '=']))
    {
        return None;
    }
    c.get(1).map(|k| k.as_str())
}

#[cfg(test)]
mod tests {
    use super::{assignment, keys_in_block, opener_text, scan};

    #[test]
    fn assignments_are_found_but_not_comparisons() {
        assert_eq!(assignment("size = "), Some("size"));
        assert_eq!(assignment("a = b == "), Some("a"));
        assert_eq!(assignment("x == "), None);
        assert_eq!(assignment("name"), None);
    }

    #[test]
    fn scanner_skips_strings_comments_and_tracks_interpolation() {
        let s = scan("resource a: k8s.App {\n  image = \"x:${tag} {\" // {\n  env = {");
        assert_eq!(s.open.len(), 2);
        assert!(!s.in_string);
        let s = scan("a = \"abc ${ x }");
        assert!(s.in_string);
        assert!(scan("a = 1 // comment").in_comment);
        assert!(scan("a = 1 /* comment").in_comment);
        assert_eq!(scan("a = { /* { */").open.len(), 1);
    }

    #[test]
    fn keys_of_a_block_at_its_top_level() {
        let text =
            "{\n  region = \"a}\" // x = 1\n  tags = { inner = 1 }, size = 2\n  main { a = 1 }\n}\nafter = 1";
        assert_eq!(keys_in_block(text, 1), ["region", "tags", "size", "main"]);
    }

    #[test]
    fn opener_text_is_the_line_before_the_bracket() {
        let text = "resource a: k8s.App {";
        assert_eq!(opener_text(text, text.len() - 1), "resource a: k8s.App");
        let text = "  node_groups = [{";
        assert_eq!(opener_text(text, text.len() - 1), "");
    }
}
