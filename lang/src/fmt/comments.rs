//! Finding the comments of a file. The AST has none, so the formatter scans the
//! text for them, skipping strings, text blocks, doc comments (`///`, part of
//! the AST) and regular expressions (`string(/a\/\/b/)`).

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// Nothing but blanks before it on its line.
    pub own_line: bool,
    /// A blank line stands between it and what came before.
    pub blank_before: bool,
}

pub fn scan(src: &str) -> Vec<Comment> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut last_significant: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' => {
                i = skip_string(b, i);
                last_significant = Some(b'"');
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let start = i;
                let mut depth = 0usize;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth = depth.saturating_sub(1);
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(make(src, start, i.min(b.len())));
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let start = i;
                let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
                let is_doc = b.get(i + 2) == Some(&b'/') && b.get(i + 3) != Some(&b'/');
                if !is_doc {
                    out.push(make(src, start, end));
                }
                i = end;
            }
            b'/' if last_significant == Some(b'(') => {
                // A regular expression literal in a refinement type.
                i += 1;
                while i < b.len() && b[i] != b'/' && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                last_significant = Some(b'/');
            }
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            _ => {
                last_significant = Some(c);
                i += 1;
            }
        }
    }
    out
}

fn make(src: &str, start: usize, end: usize) -> Comment {
    let line_start = src[..start].rfind('\n').map_or(0, |n| n + 1);
    let own_line = src[line_start..start].trim().is_empty();
    let prev = src[..line_start].trim_end_matches([' ', '\t', '\r', '\n']);
    let blank_before = own_line && src[prev.len()..line_start].matches('\n').count() >= 2;
    Comment {
        start,
        end,
        text: src[start..end].trim_end().to_string(),
        own_line,
        blank_before,
    }
}

/// The end of the string starting at `i` (a `"…"` with `${…}` inside, or `"""…"""`).
fn skip_string(b: &[u8], i: usize) -> usize {
    if b.get(i..i + 3) == Some(b"\"\"\"") {
        let mut j = i + 3;
        while j < b.len() {
            if b[j] == b'\\' {
                j += 2;
                continue;
            }
            if b.get(j..j + 3) == Some(b"\"\"\"") {
                return j + 3;
            }
            if b[j] == b'$' && b.get(j + 1) == Some(&b'{') {
                j = skip_interp(b, j + 2);
                continue;
            }
            j += 1;
        }
        return b.len();
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            b'\n' => return j,
            b'$' if b.get(j + 1) == Some(&b'{') => j = skip_interp(b, j + 2),
            _ => j += 1,
        }
    }
    b.len()
}

/// The end of an interpolation whose `${` ends before `j`.
fn skip_interp(b: &[u8], mut j: usize) -> usize {
    let mut depth = 1usize;
    while j < b.len() {
        match b[j] {
            b'"' => {
                j = skip_string(b, j);
                continue;
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    b.len()
}
