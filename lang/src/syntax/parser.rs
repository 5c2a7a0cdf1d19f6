//! From source text to [`ast::File`], with every syntax error collected.
//!
//! Architecture invariant: parsing never fails and never panics. It returns a
//! tree of everything that parsed and a list of diagnostics. The pest grammar is
//! applied one top-level item at a time; after an error the driver skips to the
//! next line that starts a top-level item at column 0, so later mistakes are
//! reported too.

use pest::iterators::Pair;
use pest::Parser as _;

use super::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::source::{FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "syntax/grammar.pest"]
struct Grammar;

/// The deepest nesting a file may have (brackets, interpolations, `if` and
/// `let` expressions inside one another): deeper input would exhaust the stack
/// of the recursive phases.
pub const MAX_NESTING: usize = 64;
/// The most operands one chain of binary operators may have.
pub const MAX_OPERANDS: usize = 256;
/// The deepest expression tree the parser builds: every phase after it walks
/// trees recursively, within this bound.
pub const MAX_DEPTH: usize = 512;

/// Parses one file. Never panics; returns what parsed plus all syntax errors.
pub fn parse(file: FileId, src: &str) -> (File, Vec<Diagnostic>) {
    // Fast path: the file parses at once (in parallel chunks when it is large,
    // each chunk scanning its own nesting first, since pest parses it alone).
    if let Some(parsed) = parse_fast(file, src) {
        return parsed;
    }
    if let Some(at) = too_deep(src) {
        let end = next_char_boundary(src, at);
        let d = Diagnostic::error(
            Code::Syntax,
            format!("nesting too deep: more than {MAX_NESTING} levels of brackets, `if`s and `let`s"),
        )
        .label(Span::new(file, at, end), "too deep here")
        .help("split the expression with `let`s or functions; a long `else if` chain can be a map lookup");
        return (File::default(), vec![d]);
    }
    let mut items = Vec::new();
    let mut diags = Vec::new();
    let mut pos = 0usize;
    while pos < src.len() {
        let rest = &src[pos..];
        if only_trivia(rest) {
            break;
        }
        match Grammar::parse(Rule::single_item, rest) {
            Ok(mut pairs) => {
                let Some(single) = pairs.next() else { break };
                let end = single.as_span().end();
                let mut b = Builder {
                    file,
                    offset: pos,
                    diags: &mut diags,
                    depth: 0,
                };
                if let Some(item) = single.into_inner().find(|p| p.as_rule() == Rule::item) {
                    if let Some(item) = b.item(item) {
                        items.push(item);
                    }
                }
                if end == 0 {
                    break;
                }
                pos += end;
            }
            Err(plain) => {
                // Detailed errors (expected tokens at the furthest position) slow every
                // rule down, so only the item that fails is parsed again to collect them
                // (the editor re-parses a file with an error at every keystroke).
                pest::set_error_detail(true);
                let err = Grammar::parse(Rule::single_item, rest).err().unwrap_or(plain);
                pest::set_error_detail(false);
                let (at, message) = describe_error(&err, rest);
                let at_abs = pos + at;
                let span_end = next_char_boundary(src, at_abs);
                let found = found_text(src, at_abs);
                diags.push(
                    Diagnostic::error(Code::Syntax, format!("syntax error: {message}, found {found}"))
                        .label(Span::new(file, at_abs, span_end), format!("expected {}", expected_short(&message)))
                        .help("check the syntax of this item against docs/language.md; the parser resumes at the next top-level item"),
                );
                pos = recovery_point(src, pos.max(line_start(src, at_abs)));
            }
        }
    }
    (File { items }, diags)
}

/// Whether `text` is only blanks and comments: the grammar's `only_trivia`
/// (`//` comments but not `///` doc comments, except `////`).
///
/// Asking pest is exact, but a failed pest parse builds an error whose line
/// is found by walking back from the end of the input: asked before every
/// item of a file, that made parsing a file with a syntax error quadratic in
/// its length. Blanks and line comments are skipped here; at a block comment
/// (whose nesting pest decides by backtracking) pest is asked after all.
fn only_trivia(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1), b.get(i + 2), b.get(i + 3)) {
            (b' ' | b'\t' | b'\n' | b'\r', ..) => i += 1,
            (b'/', Some(b'/'), Some(b'/'), next) if next != Some(&b'/') => return false,
            (b'/', Some(b'/'), ..) => {
                i = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |n| i + n);
            }
            (b'/', Some(b'*'), ..) => {
                return text
                    .get(i..)
                    .is_some_and(|rest| Grammar::parse(Rule::only_trivia, rest).is_ok());
            }
            _ => return false,
        }
    }
    true
}

/// The position where nesting first exceeds [`MAX_NESTING`], if it does.
///
/// The grammar is recursive, so the parser's stack grows with nesting; this
/// scan runs before it, in one pass, to refuse input nested beyond what every
/// phase can walk. It counts what can nest: brackets, `${`, block comments
/// inside one another, and the `if` and `let … in` expressions whose
/// branches and bodies nest without brackets (`if a then 1 else if b then 2
/// else …`). An `if` counts, and a `let` counts at its `in` (so that the `let`
/// items of a component body do not), until a `,`, `;` or `=` at its level
/// shows that its expression ended (a `let`'s own `=` excepted), so a long
/// list of `if`s is not nesting. It may overcount, never undercount. Brackets
/// in comments, string text and regex literals do not count.
fn too_deep(src: &str) -> Option<usize> {
    /// One open level: a string, or brackets (the top level is one too).
    #[derive(Clone, Copy)]
    struct Level {
        string: bool,
        /// `if`s and `let … in`s counted in this level and not known to be over.
        keywords: usize,
        /// `let`s whose own `=` is still to come.
        lets: usize,
        /// `let`s whose `in` may come (an item `let` has none).
        lets_in: usize,
        /// `for`s whose `in` is still to come.
        fors: usize,
    }
    const OPEN: Level = Level {
        string: false,
        keywords: 0,
        lets: 0,
        lets_in: 0,
        fors: 0,
    };
    let b = src.as_bytes();
    let mut stack: Vec<Level> = vec![OPEN];
    // Open levels above the top one plus every level's keywords.
    let mut depth = 0usize;
    // The last byte outside blanks, comments and strings (`(` before `/` starts a regex).
    let mut last = b'\n';
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let top = stack.len() - 1;
        if stack[top].string {
            match c {
                b'\\' => i += 1,
                // A string ends at its quote, or (unterminated) at the end of its line.
                b'"' | b'\n' => {
                    stack.pop();
                    depth -= 1;
                }
                b'$' if b.get(i + 1) == Some(&b'{') => {
                    stack.push(OPEN);
                    depth += 1;
                    i += 1;
                }
                _ => {}
            }
            i += 1;
            if depth > MAX_NESTING {
                return Some(i - 1);
            }
            continue;
        }
        match c {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i + 1 < b.len() && b[i + 1] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // Block comments nest.
                let mut open = 0usize;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        open += 1;
                        if depth + open > MAX_NESTING {
                            return Some(i);
                        }
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        open -= 1;
                        i += 2;
                        if open == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'/' if last == b'(' => {
                // A regex literal (`string(/^[a-z]+$/)`): to its closing `/` on this line.
                i += 1;
                while i < b.len() && b[i] != b'/' && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'"' if b.get(i..i + 3) == Some(b"\"\"\"") => {
                // Text blocks: skip to the closing quotes (interpolations inside are rare and shallow).
                let rest = src.get(i + 3..).unwrap_or("");
                i += 3 + rest.find("\"\"\"").map_or(rest.len(), |n| n + 2);
            }
            b'"' => {
                stack.push(Level { string: true, ..OPEN });
                depth += 1;
            }
            b'(' | b'[' | b'{' => {
                stack.push(OPEN);
                depth += 1;
            }
            b')' | b']' | b'}' if top > 0 => {
                depth -= 1 + stack[top].keywords;
                stack.pop();
            }
            b',' | b';' => {
                depth -= stack[top].keywords;
                stack[top] = Level { ..OPEN };
            }
            b'=' => {
                let before = i.checked_sub(1).map(|k| b[k]);
                let after = b.get(i + 1).copied();
                if matches!(after, Some(b'=' | b'>')) {
                    i += 1; // `==`, `=>`
                } else if matches!(before, Some(b'!' | b'<' | b'>' | b'=')) {
                    // the end of `!=`, `<=`, `>=`
                } else if stack[top].lets > 0 {
                    stack[top].lets -= 1;
                } else {
                    depth -= stack[top].keywords;
                    stack[top] = Level { ..OPEN };
                }
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let from = i;
                while i + 1 < b.len() && (b[i + 1].is_ascii_alphanumeric() || b[i + 1] == b'_') {
                    i += 1;
                }
                let word = &b[from..=i];
                if top == 0 && (from == 0 || b[from - 1] == b'\n') {
                    // A top-level item starts at column 0 (as the recovering parser assumes).
                    depth -= stack[0].keywords;
                    stack[0] = OPEN;
                }
                let level = &mut stack[top];
                match word {
                    b"if" => {
                        level.keywords += 1;
                        depth += 1;
                    }
                    b"let" => {
                        level.lets += 1;
                        level.lets_in += 1;
                    }
                    b"for" => level.fors += 1,
                    b"in" if level.fors > 0 => level.fors -= 1,
                    b"in" if level.lets_in > 0 => {
                        // The body of a `let … in` nests.
                        level.lets_in -= 1;
                        level.keywords += 1;
                        depth += 1;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        if depth > MAX_NESTING {
            return Some(i);
        }
        if !c.is_ascii_whitespace() {
            last = c;
        }
        i += 1;
    }
    None
}

/// Files larger than this are parsed in parallel chunks.
const PARALLEL_THRESHOLD: usize = 128 * 1024;

/// Parses a file that has no syntax error; `None` when it has one (the caller
/// then runs the recovering parser, which reports every error).
///
/// A large file is split at lines that start a top-level item and the chunks are
/// parsed on several threads. A split inside a text block or a block comment
/// leaves a chunk that does not parse, so a wrong split can only fall back to
/// the sequential path, never change the result.
fn parse_fast(file: FileId, src: &str) -> Option<(File, Vec<Diagnostic>)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if src.len() < PARALLEL_THRESHOLD || threads < 2 {
        return parse_chunk(file, src, 0);
    }
    let mut bounds = vec![0usize];
    let step = src.len() / threads;
    for k in 1..threads {
        let from = (k * step).max(bounds.last().copied().unwrap_or(0));
        let at = recovery_point(src, from);
        if at < src.len() && at > bounds.last().copied().unwrap_or(0) {
            bounds.push(at);
        }
    }
    bounds.push(src.len());
    let chunks: Vec<(usize, &str)> = bounds
        .windows(2)
        .filter_map(|w| Some((w[0], src.get(w[0]..w[1])?)))
        .collect();
    let results: Vec<Option<(File, Vec<Diagnostic>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|(offset, text)| scope.spawn(move || parse_chunk(file, text, *offset)))
            .collect();
        handles.into_iter().map(|h| h.join().ok().flatten()).collect()
    });
    // Into the first chunk's items, grown once: the items are large, and every
    // copy of them is fresh memory the kernel must hand over.
    let mut parsed = results.into_iter().collect::<Option<Vec<_>>>()?.into_iter();
    let (mut first, mut diags) = parsed.next()?;
    let rest: Vec<_> = parsed.collect();
    first.items.reserve(rest.iter().map(|(f, _)| f.items.len()).sum());
    for (f, d) in rest {
        first.items.extend(f.items);
        diags.extend(d);
    }
    Some((first, diags))
}

/// Parses `text` (which starts at byte `offset` of the file) in pieces of
/// about [`PIECE`] bytes, split like the chunks of [`parse_fast`], one pest
/// call each; `None` when a piece does not parse or the text nests too deep
/// for pest's recursion.
///
/// pest queues two tokens per rule matched before anything reads them, about
/// 25 bytes for each byte of source: parsing a large chunk at once grew that
/// queue by copying it into fresh memory again and again (a third of the
/// page faults of `tpt check`, which were a quarter of its time). A piece's
/// queue fits in the caches, and the next piece reuses its memory.
fn parse_chunk(file: FileId, text: &str, offset: usize) -> Option<(File, Vec<Diagnostic>)> {
    if too_deep(text).is_some() {
        return None;
    }
    let mut items = Vec::new();
    let mut diags = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let end = if text.len() - start > PIECE {
            recovery_point(text, start + PIECE)
        } else {
            text.len()
        };
        let piece = text.get(start..end)?;
        let mut pairs = Grammar::parse(Rule::whole_file, piece).ok()?;
        let mut b = Builder {
            file,
            offset: offset + start,
            diags: &mut diags,
            depth: 0,
        };
        if let Some(whole) = pairs.next() {
            for item in whole.into_inner().filter(|p| p.as_rule() == Rule::item) {
                if let Some(item) = b.item(item) {
                    items.push(item);
                }
            }
        }
        start = end;
    }
    Some((File { items }, diags))
}

/// The size of the pieces [`parse_chunk`] parses one at a time.
const PIECE: usize = 32 * 1024;

/// One expression alone (the value of a `--var`), in file `file`; `None`
/// when `src` is not exactly one expression.
pub fn parse_expr(file: FileId, src: &str) -> Option<Expr> {
    if too_deep(src).is_some() {
        return None;
    }
    let mut pairs = Grammar::parse(Rule::single_expr, src).ok()?;
    let single = pairs.next()?;
    let inner = single.into_inner().find(|p| is_expr(p.as_rule()))?;
    let mut diags = Vec::new();
    let mut b = Builder {
        file,
        offset: 0,
        diags: &mut diags,
        depth: 0,
    };
    let e = b.expr(inner);
    diags.is_empty().then_some(e)
}

fn next_char_boundary(src: &str, at: usize) -> usize {
    let mut end = (at + 1).min(src.len());
    while end < src.len() && !src.is_char_boundary(end) {
        end += 1;
    }
    end.max(at)
}

fn found_text(src: &str, at: usize) -> String {
    let rest = src.get(at..).unwrap_or("");
    match rest.chars().next() {
        None => "end of file".to_string(),
        Some('\n') | Some('\r') => "end of line".to_string(),
        Some(_) => {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .take(24)
                .collect();
            if word.is_empty() {
                format!("`{}`", rest.chars().next().unwrap_or(' '))
            } else {
                format!("`{word}`")
            }
        }
    }
}

fn line_start(src: &str, at: usize) -> usize {
    src.get(..at).and_then(|s| s.rfind('\n')).map_or(0, |i| i + 1)
}

const ITEM_STARTS: &[&str] = &[
    "import ",
    "type ",
    "schema ",
    "resource ",
    "param ",
    "let ",
    "fn ",
    "for ",
    "environment ",
    "moved ",
    "component ",
    "output ",
    "@",
    "///",
];

/// The start of the first line after `from`'s line that begins a top-level item.
fn recovery_point(src: &str, from: usize) -> usize {
    let mut i = from;
    loop {
        let Some(nl) = src.get(i..).and_then(|s| s.find('\n')) else {
            return src.len();
        };
        i += nl + 1;
        let line = src.get(i..).unwrap_or("");
        if ITEM_STARTS.iter().any(|k| line.starts_with(k)) {
            return i;
        }
    }
}

/// Where a pest error is and what was expected there, in words for people.
/// With pest's error detail on, the furthest position reached and the tokens
/// expected there are known (`expected `:``), not only the rule that failed.
fn describe_error(err: &pest::error::Error<Rule>, _rest: &str) -> (usize, String) {
    let mut at = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let mut names: Vec<String> = Vec::new();
    if let Some(attempts) = err.parse_attempts() {
        if attempts.max_position >= at {
            at = attempts.max_position;
            let tokens: Vec<String> = attempts
                .expected_tokens()
                .iter()
                // Blanks are ranges in the grammar (cheaper than strings); they are
                // never what an error should ask for.
                .map(|t| t.to_string())
                .filter(|t| !t.starts_with(char::is_whitespace))
                .filter(|t| !t.is_empty() && t != "BUILTIN_RULE" && !t.starts_with('/'))
                .collect();
            // Character classes (`0..9`) and long lists of operators read badly:
            // say what kind of thing fits, and offer the structural tokens.
            let classes = tokens.iter().any(|t| t.contains("..") && t.len() > 2);
            if !classes && tokens.len() <= 4 {
                names.extend(tokens.iter().map(|t| format!("`{t}`")));
            } else {
                if tokens.iter().any(|t| t == "0..9" || t == "\"") {
                    names.push("an expression".to_string());
                } else if classes {
                    names.push("a name".to_string());
                }
                for structural in ["}", "]", ")", ",", "=", ":"] {
                    if tokens.iter().any(|t| t == structural) {
                        names.push(format!("`{structural}`"));
                    }
                }
                if names.is_empty() {
                    names.push("an operator or the end of the expression".to_string());
                }
            }
        }
    }
    if names.is_empty() {
        if let pest::error::ErrorVariant::ParsingError { positives, .. } = &err.variant {
            names = positives
                .iter()
                .filter_map(|r| rule_name(*r))
                .map(str::to_string)
                .collect();
        }
    }
    names.sort_unstable();
    names.dedup();
    // Long lists help nobody: keep the first few, tokens first.
    names.sort_by_key(|n| !n.starts_with('`'));
    names.truncate(6);
    let message = if names.is_empty() {
        "unexpected input".to_string()
    } else {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        format!("expected {}", join_or(&refs))
    };
    (at, message)
}

fn expected_short(message: &str) -> String {
    message.strip_prefix("expected ").unwrap_or(message).to_string()
}

fn join_or(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// Names for people; `None` hides a rule from "expected …" lists.
fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::item | Rule::item_body | Rule::single_item => {
            "an item (import, type, schema, param, let, fn, resource, for, environment)"
        }
        Rule::import | Rule::import_std | Rule::import_path => "an import",
        Rule::ident | Rule::qualified | Rule::address => "a name",
        Rule::name => "a field name",
        Rule::type_expr
        | Rule::type_term
        | Rule::list_type
        | Rule::map_type
        | Rule::record_type
        | Rule::literal_type
        | Rule::refined_type => "a type",
        Rule::binary | Rule::paren | Rule::if_expr | Rule::let_expr => "an expression",
        Rule::number_lit | Rule::range_bound => "a number",
        Rule::string_lit | Rule::string_plain | Rule::text_block => "a string",
        Rule::bool_lit => "`true` or `false`",
        Rule::null_lit => "`null`",
        Rule::list_lit | Rule::list_comp => "a list",
        Rule::record_lit | Rule::map_comp => "a record",
        Rule::entry | Rule::record_entry => "`name = value`",
        Rule::field_decl => "a field declaration `name: type`",
        Rule::body => "`{`",
        Rule::env_set | Rule::overlay => "`param = value` or `resource { … }`",
        Rule::overlay_body | Rule::overlay_field => "`field = value`",
        Rule::annotation => "an annotation",
        Rule::range => "a range `min..max`",
        Rule::regex_lit => "a regular expression `/…/`",
        Rule::bin_op => "an operator",
        Rule::field_access | Rule::index | Rule::call_args => "`.`, `[` or `(`",
        Rule::for_vars => "loop variables",
        Rule::for_member => "a resource",
        Rule::str_text | Rule::str_escape | Rule::interp | Rule::block_text | Rule::block_escape => {
            "string text"
        }
        Rule::EOI => "end of file",
        _ => return None,
    })
}

struct Builder<'d> {
    file: FileId,
    offset: usize,
    diags: &'d mut Vec<Diagnostic>,
    /// How deep the expression tree being built is (see [`MAX_DEPTH`]).
    depth: usize,
}

type P<'i> = Pair<'i, Rule>;

impl Builder<'_> {
    /// The span of a pair, without the blanks and comments pest leaves at its
    /// end (a rule ending in an optional part, `sep?` or `(op ~ x)*`, consumes
    /// the trivia before finding the part absent): every consumer gets spans
    /// that end where the construct does.
    fn span(&self, p: &P) -> Span {
        let s = p.as_span();
        let end = s.start() + without_trailing_trivia(p.as_str());
        Span::new(self.file, self.offset + s.start(), self.offset + end)
    }

    fn ident(&self, p: &P) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(p),
        }
    }

    fn item(&mut self, p: P) -> Option<Item> {
        let span = self.span(&p);
        let mut docs = None;
        let mut annotations = Vec::new();
        let mut kind = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::docs => docs = self.docs(c),
                Rule::annotation => annotations.push(self.annotation(c)),
                _ => kind = self.item_kind(c),
            }
        }
        Some(Item {
            docs,
            annotations,
            kind: kind?,
            span,
        })
    }

    fn docs(&self, p: P) -> Option<String> {
        let lines: Vec<&str> = p
            .into_inner()
            .map(|l| {
                let t = l.as_str().trim_start_matches("///");
                t.strip_prefix(' ').unwrap_or(t).trim_end()
            })
            .collect();
        if lines.is_empty() {
            None
        } else {
            Some(lines.join("\n"))
        }
    }

    fn annotation(&mut self, p: P) -> Annotation {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let name = inner.next().map(|n| self.ident(&n)).unwrap_or_else(|| Ident {
            name: String::new(),
            span,
        });
        let args = inner.map(|e| self.expr(e)).collect();
        Annotation { name, args, span }
    }

    fn item_kind(&mut self, p: P) -> Option<ItemKind> {
        Some(match p.as_rule() {
            Rule::import => ItemKind::Import(self.import(p)),
            Rule::type_alias => {
                let mut inner = p.into_inner();
                let name = self.ident(&inner.next()?);
                let ty = self.type_expr(inner.next()?);
                ItemKind::TypeAlias(TypeAlias { name, ty })
            }
            Rule::schema => ItemKind::Schema(self.schema(p)?),
            Rule::param => {
                let mut inner = p.into_inner();
                let name = self.ident(&inner.next()?);
                let ty = self.type_expr(inner.next()?);
                let default = inner.next().map(|e| self.expr(e));
                ItemKind::Param(Param { name, ty, default })
            }
            Rule::let_item => {
                let mut inner = p.into_inner();
                let name = self.ident(&inner.next()?);
                let mut ty = None;
                let mut value = None;
                for c in inner {
                    match c.as_rule() {
                        Rule::type_expr => ty = Some(self.type_expr(c)),
                        _ => value = Some(self.expr(c)),
                    }
                }
                ItemKind::Let(LetItem {
                    name,
                    ty,
                    value: value?,
                })
            }
            Rule::fn_item => {
                let mut inner = p.into_inner();
                let name = self.ident(&inner.next()?);
                let mut params = Vec::new();
                let mut ret = None;
                let mut body = None;
                for c in inner {
                    match c.as_rule() {
                        Rule::fn_param => {
                            let mut pi = c.into_inner();
                            let n = self.ident(&pi.next()?);
                            let t = self.type_expr(pi.next()?);
                            params.push((n, t));
                        }
                        Rule::type_expr => ret = Some(self.type_expr(c)),
                        _ => body = Some(self.expr(c)),
                    }
                }
                ItemKind::Fn(FnItem {
                    name,
                    params,
                    ret: ret?,
                    body: body?,
                })
            }
            Rule::resource => ItemKind::Resource(self.resource(p)?),
            Rule::for_item => ItemKind::For(self.for_item(p)?),
            Rule::environment => ItemKind::Environment(self.environment(p)?),
            Rule::moved => {
                let mut inner = p.into_inner();
                let from = self.expr(inner.next()?);
                let to = self.expr(inner.next()?);
                ItemKind::Moved(Moved { from, to })
            }
            Rule::component => {
                let mut inner = p.into_inner();
                let name = self.ident(&inner.next()?);
                let items = inner.filter_map(|i| self.item(i)).collect();
                ItemKind::Component(Component { name, items })
            }
            Rule::import_block => {
                let mut inner = p.into_inner();
                let to = self.expr(inner.next()?);
                let id = self.expr(inner.next()?);
                ItemKind::ImportBlock(ImportBlock { to, id })
            }
            Rule::output => {
                let mut inner = p.into_inner();
                let name = self.ident(&inner.next()?);
                let ty = self.type_expr(inner.next()?);
                let value = self.expr(inner.next()?);
                ItemKind::Output(Output { name, ty, value })
            }
            _ => return None,
        })
    }

    fn import(&mut self, p: P) -> Import {
        let mut source = None;
        let mut alias = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::import_std => {
                    let n = c.into_inner().next();
                    source = n.map(|n| ImportSource::Std(self.ident(&n)));
                }
                Rule::import_path => {
                    let span = self.span(&c);
                    let path = c
                        .into_inner()
                        .next()
                        .map(|s| self.plain_string(s))
                        .unwrap_or_default();
                    source = Some(ImportSource::Path { path, span });
                }
                Rule::ident => alias = Some(self.ident(&c)),
                _ => {}
            }
        }
        let source = source.unwrap_or(ImportSource::Path {
            path: String::new(),
            span: Span::default(),
        });
        Import { source, alias }
    }

    fn schema(&mut self, p: P) -> Option<Schema> {
        let mut is_resource = false;
        let mut name = None;
        let mut extends = None;
        let mut fields = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::resource_marker => is_resource = true,
                Rule::ident => name = Some(self.ident(&c)),
                Rule::qualified => extends = Some(self.qualified(c)),
                Rule::field_decl => fields.push(self.field_decl(c)?),
                _ => {}
            }
        }
        Some(Schema {
            is_resource,
            name: name?,
            extends,
            fields,
        })
    }

    fn field_decl(&mut self, p: P) -> Option<FieldDecl> {
        let span = self.span(&p);
        let mut docs = None;
        let mut annotations = Vec::new();
        let mut name = None;
        let mut ty = None;
        let mut default = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::docs => docs = self.docs(c),
                Rule::annotation => annotations.push(self.annotation(c)),
                Rule::name => name = Some(self.ident(&c)),
                Rule::type_expr => ty = Some(self.type_expr(c)),
                r if is_expr(r) => default = Some(self.expr(c)),
                _ => {}
            }
        }
        Some(FieldDecl {
            docs,
            annotations,
            name: name?,
            ty: ty?,
            default,
            span,
        })
    }

    fn resource(&mut self, p: P) -> Option<Resource> {
        let mut inner = p.into_inner();
        let name = self.ident(&inner.next()?);
        let schema = self.qualified(inner.next()?);
        let body_pair = inner.next()?;
        let body_span = self.span(&body_pair);
        let body = self.entries(body_pair);
        Some(Resource {
            name,
            schema,
            body,
            body_span,
        })
    }

    fn entries(&mut self, p: P) -> Vec<Entry> {
        let inner = p.into_inner();
        let mut out = Vec::with_capacity(inner.len());
        for e in inner {
            let span = self.span(&e);
            let mut name = None;
            let mut value = None;
            for c in e.into_inner() {
                match c.as_rule() {
                    Rule::name => name = Some(self.ident(&c)),
                    r if is_expr(r) => value = Some(self.expr(c)),
                    _ => {}
                }
            }
            if let (Some(name), Some(value)) = (name, value) {
                out.push(Entry { name, value, span });
            }
        }
        out
    }

    fn for_vars(&self, p: P) -> Option<ForVars> {
        let mut inner = p.into_inner();
        let first = self.ident(&inner.next()?);
        let second = inner.next().map(|s| self.ident(&s));
        Some(ForVars { first, second })
    }

    fn for_item(&mut self, p: P) -> Option<ForItem> {
        let mut inner = p.into_inner();
        let vars = self.for_vars(inner.next()?)?;
        let iter = self.expr(inner.next()?);
        let mut members = Vec::new();
        for m in inner {
            let span = self.span(&m);
            let mut docs = None;
            let mut annotations = Vec::new();
            let mut kind = None;
            for c in m.into_inner() {
                match c.as_rule() {
                    Rule::docs => docs = self.docs(c),
                    Rule::annotation => annotations.push(self.annotation(c)),
                    Rule::resource => kind = self.resource(c).map(ItemKind::Resource),
                    Rule::for_item => kind = self.for_item(c).map(ItemKind::For),
                    _ => {}
                }
            }
            if let Some(kind) = kind {
                members.push(Item {
                    docs,
                    annotations,
                    kind,
                    span,
                });
            }
        }
        Some(ForItem { vars, iter, members })
    }

    fn environment(&mut self, p: P) -> Option<Environment> {
        let mut inner = p.into_inner();
        let name = self.ident(&inner.next()?);
        let mut extends = None;
        let mut sets = Vec::new();
        let mut overlays = Vec::new();
        for c in inner {
            match c.as_rule() {
                Rule::ident => extends = Some(self.ident(&c)),
                Rule::env_set => {
                    let span = self.span(&c);
                    let mut ci = c.into_inner().filter(|x| x.as_rule() != Rule::docs);
                    let n = self.ident(&ci.next()?);
                    let v = self.expr(ci.next()?);
                    sets.push(EnvSet {
                        name: n,
                        value: v,
                        span,
                    });
                }
                Rule::overlay => {
                    let span = self.span(&c);
                    let mut segments = Vec::new();
                    let mut fields = Vec::new();
                    for o in c.into_inner() {
                        match o.as_rule() {
                            Rule::address => {
                                for seg in o.into_inner() {
                                    let mut si = seg.into_inner();
                                    if let Some(n) = si.next() {
                                        segments.push(OverlaySegment {
                                            name: self.ident(&n),
                                            key: si.next().map(|k| self.expr(k)),
                                        });
                                    }
                                }
                            }
                            Rule::overlay_body => fields = self.overlay_body(o),
                            _ => {}
                        }
                    }
                    if segments.is_empty() {
                        return None;
                    }
                    let first = segments.remove(0);
                    overlays.push(Overlay {
                        target: first.name,
                        key: first.key,
                        inner: segments,
                        fields,
                        span,
                    });
                }
                _ => {}
            }
        }
        Some(Environment {
            name,
            extends,
            sets,
            overlays,
        })
    }

    fn overlay_body(&mut self, p: P) -> Vec<OverlayField> {
        let mut out = Vec::new();
        for f in p.into_inner() {
            let span = self.span(&f);
            let mut name = None;
            let mut value = None;
            for c in f.into_inner() {
                match c.as_rule() {
                    Rule::name => name = Some(self.ident(&c)),
                    r if is_expr(r) => value = Some(OverlayValue::Set(self.expr(c))),
                    Rule::overlay_body => value = Some(OverlayValue::Merge(self.overlay_body(c))),
                    _ => {}
                }
            }
            if let (Some(name), Some(value)) = (name, value) {
                out.push(OverlayField { name, value, span });
            }
        }
        out
    }

    fn qualified(&self, p: P) -> QualifiedName {
        let span = self.span(&p);
        let parts: Vec<Ident> = p.into_inner().map(|i| self.ident(&i)).collect();
        match parts.as_slice() {
            [m, n] => QualifiedName {
                module: Some(m.clone()),
                name: n.clone(),
                span,
            },
            [n] => QualifiedName {
                module: None,
                name: n.clone(),
                span,
            },
            _ => QualifiedName {
                module: None,
                name: Ident {
                    name: String::new(),
                    span,
                },
                span,
            },
        }
    }

    // ------------------------------------------------------------ types

    fn type_expr(&mut self, p: P) -> TypeExpr {
        let span = self.span(&p);
        let mut terms: Vec<TypeExpr> = p.into_inner().map(|t| self.type_term(t)).collect();
        if terms.len() == 1 {
            terms.pop().unwrap_or(TypeExpr {
                kind: TypeExprKind::Union(vec![]),
                span,
            })
        } else {
            TypeExpr {
                kind: TypeExprKind::Union(terms),
                span,
            }
        }
    }

    fn type_term(&mut self, p: P) -> TypeExpr {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let atom = match inner.next() {
            Some(a) => self.type_atom(a),
            None => TypeExpr {
                kind: TypeExprKind::Union(vec![]),
                span,
            },
        };
        if inner.next().is_some() {
            TypeExpr {
                kind: TypeExprKind::Optional(Box::new(atom)),
                span,
            }
        } else {
            atom
        }
    }

    fn type_atom(&mut self, p: P) -> TypeExpr {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::list_type => match p.into_inner().next() {
                Some(t) => TypeExprKind::List(Box::new(self.type_expr(t))),
                None => TypeExprKind::Union(vec![]),
            },
            Rule::map_type => match p.into_inner().next() {
                Some(t) => TypeExprKind::Map(Box::new(self.type_expr(t))),
                None => TypeExprKind::Union(vec![]),
            },
            Rule::record_type => {
                let fields = p.into_inner().filter_map(|f| self.field_decl(f)).collect();
                TypeExprKind::Record(fields)
            }
            Rule::literal_type => {
                let s = p
                    .into_inner()
                    .next()
                    .map(|s| self.plain_string(s))
                    .unwrap_or_default();
                TypeExprKind::Literal(s)
            }
            Rule::refined_type => {
                let mut inner = p.into_inner();
                let base = inner.next().map(|b| self.ident(&b)).unwrap_or(Ident {
                    name: String::new(),
                    span,
                });
                match inner.next() {
                    Some(r) if r.as_rule() == Rule::regex_lit => {
                        let regex_span = self.span(&r);
                        let raw = r.as_str();
                        let body = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
                        TypeExprKind::Pattern {
                            base,
                            regex: body.replace("\\/", "/"),
                            regex_span,
                        }
                    }
                    Some(r) => {
                        let mut min = None;
                        let mut max = None;
                        let mut seen_dots = false;
                        for b in r.into_inner() {
                            if b.as_rule() == Rule::dots {
                                seen_dots = true;
                            } else if seen_dots {
                                max = self.number(b);
                            } else {
                                min = self.number(b);
                            }
                        }
                        TypeExprKind::Range { base, min, max }
                    }
                    None => TypeExprKind::Named(QualifiedName {
                        module: None,
                        name: base,
                        span,
                    }),
                }
            }
            Rule::qualified => TypeExprKind::Named(self.qualified(p)),
            _ => TypeExprKind::Union(vec![]),
        };
        TypeExpr { kind, span }
    }

    fn number(&mut self, p: P) -> Option<Number> {
        let span = self.span(&p);
        let neg = p.as_str().starts_with('-');
        let lit = p.into_inner().find(|c| c.as_rule() == Rule::number_lit)?;
        match number_kind(lit.as_str()) {
            NumberKind::Duration => {
                self.diags.push(
                    Diagnostic::error(Code::InvalidLiteral, "a range bound must be a number")
                        .label(span, "this is a duration")
                        .help("ranges refine ints and floats: write e.g. `int(1..10)`"),
                );
                None
            }
            NumberKind::Float => {
                let v: f64 = lit.as_str().parse().unwrap_or(0.0);
                Some(Number::Float(if neg { -v } else { v }))
            }
            _ => match self.parse_int(lit.as_str(), neg) {
                Some(v) => Some(Number::Int(v)),
                None => {
                    self.diags.push(int_overflow(span));
                    None
                }
            },
        }
    }

    fn parse_int(&self, text: &str, neg: bool) -> Option<i64> {
        let digits: String = text.chars().filter(|c| *c != '_').collect();
        let s = if neg { format!("-{digits}") } else { digits };
        s.parse().ok()
    }

    // ------------------------------------------------------------ expressions

    /// An expression, unless the tree would get deeper than [`MAX_DEPTH`].
    fn expr(&mut self, p: P) -> Expr {
        let span = self.span(&p);
        if self.depth >= MAX_DEPTH {
            return self.too_deep(span);
        }
        self.depth += 1;
        let e = self.expr_unchecked(p, span);
        self.depth -= 1;
        e
    }

    fn too_deep(&mut self, span: Span) -> Expr {
        self.diags.push(
            Diagnostic::error(
                Code::Syntax,
                format!("expression too deep: its tree would be more than {MAX_DEPTH} levels deep"),
            )
            .label(span, "too deep here")
            .help("split the expression with `let`s or functions"),
        );
        error_expr(span)
    }

    fn expr_unchecked(&mut self, p: P, span: Span) -> Expr {
        match p.as_rule() {
            Rule::if_expr => {
                let mut inner = p.into_inner();
                let c = self.next_expr(&mut inner, span);
                let t = self.next_expr(&mut inner, span);
                let e = self.next_expr(&mut inner, span);
                Expr {
                    kind: ExprKind::If(Box::new(c), Box::new(t), Box::new(e)),
                    span,
                }
            }
            Rule::let_expr => {
                let mut inner = p.into_inner();
                let name = inner.next().map(|n| self.ident(&n)).unwrap_or(Ident {
                    name: String::new(),
                    span,
                });
                let v = self.next_expr(&mut inner, span);
                let b = self.next_expr(&mut inner, span);
                Expr {
                    kind: ExprKind::Let(name, Box::new(v), Box::new(b)),
                    span,
                }
            }
            Rule::binary => self.binary(p),
            _ => self.postfix_or_primary(p),
        }
    }

    fn next_expr<'i>(&mut self, it: &mut impl Iterator<Item = P<'i>>, span: Span) -> Expr {
        match it.next() {
            Some(p) => self.expr(p),
            None => error_expr(span),
        }
    }

    /// Precedence climbing over the flat list of a `binary` pair: unary
    /// operators, primaries, postfix operations and binary operators.
    fn binary(&mut self, p: P) -> Expr {
        let inner = p.clone().into_inner();
        // Most expressions are one operand without operators: built directly,
        // without the operator lists.
        if inner.len() == 1 && self.depth < MAX_DEPTH {
            if let Some(c) = inner.clone().next() {
                if !matches!(
                    c.as_rule(),
                    Rule::unary_op | Rule::bin_op | Rule::field_access | Rule::index | Rule::call_args
                ) {
                    self.depth += 1;
                    let e = self.postfix_or_primary(c);
                    self.depth -= 1;
                    return e;
                }
            }
        }
        // Operands, unary operators and postfix operations each add at most a level to the tree.
        let elements = inner.filter(|c| c.as_rule() != Rule::bin_op).count();
        if self.depth + elements > MAX_DEPTH {
            return self.too_deep(self.span(&p));
        }
        self.depth += elements;
        let e = self.binary_unchecked(p);
        self.depth -= elements;
        e
    }

    fn binary_unchecked(&mut self, p: P) -> Expr {
        let mut operands = Vec::new();
        let mut ops = Vec::new();
        let mut unary: Vec<(UnaryOp, Span)> = Vec::new();
        let mut current: Option<Expr> = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::unary_op => {
                    let op = if c.as_str() == "!" {
                        UnaryOp::Not
                    } else {
                        UnaryOp::Neg
                    };
                    unary.push((op, self.span(&c)));
                }
                Rule::bin_op => {
                    let operand = current.take().unwrap_or_else(|| error_expr(self.span(&c)));
                    operands.push(apply_unary(operand, std::mem::take(&mut unary)));
                    ops.push(bin_op(c.as_str()));
                }
                Rule::field_access | Rule::index | Rule::call_args => {
                    current = match current.take() {
                        Some(e) => Some(self.apply_postfix(e, c)),
                        None => Some(error_expr(self.span(&c))),
                    };
                }
                _ => current = Some(self.postfix_or_primary(c)),
            }
        }
        if let Some(operand) = current {
            operands.push(apply_unary(operand, unary));
        }
        if operands.len() > MAX_OPERANDS {
            let span = operands.first().map(|o| o.span).unwrap_or_default();
            self.diags.push(
                Diagnostic::error(
                    Code::Syntax,
                    format!("expression too long: more than {MAX_OPERANDS} operands"),
                )
                .label(span, "this chain of operators is too long")
                .help("split it with `let`s, or use `sum(…)`, `concat(…)` or `join(…)`"),
            );
            return error_expr(span);
        }
        let mut operands = operands.into_iter();
        let Some(first) = operands.next() else {
            return error_expr(Span::default());
        };
        let rest: Vec<(BinOp, Expr)> = ops.into_iter().zip(operands).collect();
        let mut rest = rest.into_iter().peekable();
        climb(first, &mut rest, 0)
    }

    fn apply_postfix(&mut self, e: Expr, c: P) -> Expr {
        let span = e.span.to(self.span(&c));
        match c.as_rule() {
            Rule::field_access => {
                let name = c.into_inner().next().map(|n| self.ident(&n)).unwrap_or(Ident {
                    name: String::new(),
                    span,
                });
                Expr {
                    kind: ExprKind::Field(Box::new(e), name),
                    span,
                }
            }
            Rule::index => {
                let i = match c.into_inner().next() {
                    Some(x) => self.expr(x),
                    None => error_expr(span),
                };
                Expr {
                    kind: ExprKind::Index(Box::new(e), Box::new(i)),
                    span,
                }
            }
            Rule::call_args => {
                let args = c.into_inner().map(|a| self.expr(a)).collect();
                Expr {
                    kind: ExprKind::Call(Box::new(e), args),
                    span,
                }
            }
            _ => e,
        }
    }

    fn postfix_or_primary(&mut self, p: P) -> Expr {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::binary | Rule::if_expr | Rule::let_expr => return self.expr(p),
            Rule::paren => match p.into_inner().next() {
                Some(e) => ExprKind::Paren(Box::new(self.expr(e))),
                None => return error_expr(span),
            },
            Rule::number_lit => match number_kind(p.as_str()) {
                NumberKind::Int => match self.parse_int(p.as_str(), false) {
                    Some(v) => ExprKind::Int(v),
                    None => {
                        self.diags.push(int_overflow(span));
                        ExprKind::Int(0)
                    }
                },
                NumberKind::Float => ExprKind::Float(p.as_str().parse().unwrap_or(0.0)),
                NumberKind::Duration => self.duration(p.as_str(), span),
            },
            _ => return self.primary_rest(p, span),
        };
        Expr { kind, span }
    }

    fn duration(&mut self, text: &str, span: Span) -> ExprKind {
        match parse_duration(text) {
            Some(ms) => ExprKind::Duration(ms),
            None => {
                self.diags.push(
                    Diagnostic::error(Code::InvalidLiteral, "duration literal is too large")
                        .label(span, "does not fit in 64-bit milliseconds")
                        .help("use a smaller duration"),
                );
                ExprKind::Duration(0)
            }
        }
    }

    fn primary_rest(&mut self, p: P, span: Span) -> Expr {
        let kind = match p.as_rule() {
            Rule::bool_lit => ExprKind::Bool(p.as_str() == "true"),
            Rule::null_lit => ExprKind::Null,
            Rule::string_lit => ExprKind::Str(self.string_parts(p, false)),
            Rule::text_block => ExprKind::Str(self.string_parts(p, true)),
            Rule::ident => ExprKind::Ident(self.ident(&p)),
            Rule::list_lit => ExprKind::List(p.into_inner().map(|e| self.expr(e)).collect()),
            Rule::record_lit => {
                let mut entries = Vec::new();
                for e in p.into_inner() {
                    let espan = self.span(&e);
                    let mut key = None;
                    let mut quoted = false;
                    let mut value = None;
                    for c in e.into_inner() {
                        match c.as_rule() {
                            Rule::name => key = Some(self.ident(&c)),
                            Rule::string_plain => {
                                let kspan = self.span(&c);
                                quoted = true;
                                key = Some(Ident {
                                    name: self.plain_string(c),
                                    span: kspan,
                                });
                            }
                            r if is_expr(r) => value = Some(self.expr(c)),
                            _ => {}
                        }
                    }
                    if let (Some(key), Some(value)) = (key, value) {
                        entries.push(RecordEntry {
                            key,
                            quoted,
                            value,
                            span: espan,
                        });
                    }
                }
                ExprKind::Record(entries)
            }
            Rule::list_comp | Rule::map_comp => {
                let is_map = p.as_rule() == Rule::map_comp;
                let mut inner = p.into_inner();
                let vars = inner.next().and_then(|v| self.for_vars(v));
                let exprs: Vec<Expr> = inner.map(|e| self.expr(e)).collect();
                let Some(vars) = vars else { return error_expr(span) };
                let mut exprs = exprs.into_iter();
                let iter = exprs.next().unwrap_or_else(|| error_expr(span));
                let key = if is_map { exprs.next() } else { None };
                let body = exprs.next().unwrap_or_else(|| error_expr(span));
                let filter = exprs.next();
                let comp = Box::new(Comprehension {
                    vars,
                    iter,
                    key,
                    body,
                    filter,
                });
                if is_map {
                    ExprKind::MapComp(comp)
                } else {
                    ExprKind::ListComp(comp)
                }
            }
            _ => return error_expr(span),
        };
        Expr { kind, span }
    }

    fn plain_string(&mut self, p: P) -> String {
        let mut out = String::new();
        for part in self.string_parts(p, false) {
            if let StrPart::Text(t) = part {
                out.push_str(&t);
            }
        }
        out
    }

    fn string_parts(&mut self, p: P, block: bool) -> Vec<StrPart> {
        // Most strings are one piece of text: room for exactly that (a
        // vector's first growth would make room for four, on every literal).
        let mut parts: Vec<StrPart> = Vec::with_capacity(1);
        let push_text = |parts: &mut Vec<StrPart>, t: &str| {
            if let Some(StrPart::Text(prev)) = parts.last_mut() {
                prev.push_str(t);
            } else {
                parts.push(StrPart::Text(t.to_string()));
            }
        };
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::str_text | Rule::block_text => push_text(&mut parts, c.as_str()),
                Rule::str_escape | Rule::block_escape => {
                    let span = self.span(&c);
                    match unescape(c.as_str()) {
                        Some(ch) => push_text(&mut parts, ch.encode_utf8(&mut [0; 4])),
                        None => self.diags.push(
                            Diagnostic::error(Code::InvalidLiteral, "invalid escape in string")
                                .label(span, "not a valid character")
                                .help("`\\u{…}` takes a hexadecimal Unicode scalar value, e.g. `\\u{e9}`"),
                        ),
                    }
                }
                Rule::interp => {
                    let span = self.span(&c);
                    let e = match c.into_inner().next() {
                        Some(e) => self.expr(e),
                        None => error_expr(span),
                    };
                    parts.push(StrPart::Interp(e));
                }
                _ => {}
            }
        }
        if block {
            dedent_block(&mut parts);
        }
        parts
    }
}

/// The error placeholder: an expression that parsed as nothing (only after a
/// reported error; the checker gives it the error type).
/// The length of `text` without trailing blanks and `//` comments. Trivia
/// always ends in a blank (a comment ends at a newline, which the blanks after
/// it take), so text that does not end in one is returned whole, at once.
fn without_trailing_trivia(text: &str) -> usize {
    // Called for every node the builder makes: byte loops, and the comment
    // search only on a last line that has a `/` at all.
    let b = text.as_bytes();
    let mut end = b.len();
    loop {
        let mut trimmed = end;
        while trimmed > 0 && matches!(b[trimmed - 1], b' ' | b'\t' | b'\r' | b'\n') {
            trimmed -= 1;
        }
        if trimmed == end {
            return end;
        }
        end = trimmed;
        // A `//` comment (not in a string) on the last line left: cut it, and go on.
        let line_start = b[..end].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
        if !b[line_start..end].contains(&b'/') {
            return end;
        }
        match comment_start(&text[line_start..end]) {
            Some(at) => end = line_start + at,
            None => return end,
        }
    }
}

/// Where a `//` line comment starts in `line`, outside strings; `None` for a
/// line with a text block's quotes (strings of several lines are not followed).
fn comment_start(line: &str) -> Option<usize> {
    if line.contains("\"\"\"") {
        return None;
    }
    let b = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && b.get(i + 1) == Some(&b'/') => {
                // `///` is a doc comment: it belongs to what follows, never trails.
                return (b.get(i + 2) != Some(&b'/')).then_some(i);
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn error_expr(span: Span) -> Expr {
    Expr {
        kind: ExprKind::Null,
        span,
    }
}

enum NumberKind {
    Int,
    Float,
    Duration,
}

/// A number token's form, from its text: `5m` is a duration, `1.5` a float.
fn number_kind(text: &str) -> NumberKind {
    if text
        .bytes()
        .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
    {
        NumberKind::Duration
    } else if text.contains('.') {
        NumberKind::Float
    } else if text.ends_with(['s', 'm', 'h', 'd']) {
        NumberKind::Duration
    } else {
        NumberKind::Int
    }
}

fn is_expr(rule: Rule) -> bool {
    matches!(rule, Rule::if_expr | Rule::let_expr | Rule::binary)
}

/// Applies prefix operators (innermost last); `-` on a literal folds into it,
/// so that i64::MIN can be written.
fn apply_unary(mut e: Expr, ops: Vec<(UnaryOp, Span)>) -> Expr {
    for (op, span) in ops.into_iter().rev() {
        e = match (op, &e.kind) {
            (UnaryOp::Neg, ExprKind::Int(v)) => Expr {
                kind: ExprKind::Int(v.wrapping_neg()),
                span: span.to(e.span),
            },
            (UnaryOp::Neg, ExprKind::Float(v)) => Expr {
                kind: ExprKind::Float(-v),
                span: span.to(e.span),
            },
            _ => Expr {
                span: span.to(e.span),
                kind: ExprKind::Unary(op, Box::new(e)),
            },
        };
    }
    e
}

fn int_overflow(span: Span) -> Diagnostic {
    Diagnostic::error(Code::InvalidLiteral, "integer literal is too large")
        .label(span, "does not fit in a 64-bit signed integer")
        .help("integers range from -9223372036854775808 to 9223372036854775807")
}

fn climb(
    mut lhs: Expr,
    rest: &mut std::iter::Peekable<std::vec::IntoIter<(BinOp, Expr)>>,
    min_prec: u8,
) -> Expr {
    while let Some((op, _)) = rest.peek() {
        let op = *op;
        let prec = op.precedence();
        if prec < min_prec {
            break;
        }
        let Some((_, mut rhs)) = rest.next() else { break };
        while let Some((next, _)) = rest.peek() {
            if next.precedence() > prec {
                rhs = climb(rhs, rest, prec + 1);
            } else {
                break;
            }
        }
        let span = lhs.span.to(rhs.span);
        lhs = Expr {
            kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
            span,
        };
    }
    lhs
}

fn bin_op(text: &str) -> BinOp {
    match text {
        "??" => BinOp::Coalesce,
        "||" => BinOp::Or,
        "&&" => BinOp::And,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "<" => BinOp::Lt,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        ">=" => BinOp::Ge,
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        _ => BinOp::Rem,
    }
}

fn unescape(esc: &str) -> Option<char> {
    Some(match esc {
        "\\n" => '\n',
        "\\t" => '\t',
        "\\r" => '\r',
        "\\\"" => '"',
        "\\\\" => '\\',
        "\\$" => '$',
        other => {
            let hex = other.strip_prefix("\\u{")?.strip_suffix('}')?;
            char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
        }
    })
}

/// Parses `1h30m` into milliseconds; `None` on overflow.
pub fn parse_duration(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut num: i64 = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(d) = c.to_digit(10) {
            num = num.checked_mul(10)?.checked_add(i64::from(d))?;
            continue;
        }
        let unit: i64 = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1
            }
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            _ => return None,
        };
        total = total.checked_add(num.checked_mul(unit)?)?;
        num = 0;
    }
    Some(total)
}

/// Text blocks: drop the first line if it is empty, drop the last line if it is
/// only indentation, and remove the common leading indentation of all lines.
fn dedent_block(parts: &mut [StrPart]) {
    // Gather the text-only view to compute the common indent of line starts.
    let mut joined = String::new();
    for p in parts.iter() {
        match p {
            StrPart::Text(t) => joined.push_str(t),
            StrPart::Interp(_) => joined.push('\u{0}'),
        }
    }
    let trimmed_start = joined.strip_prefix('\n').is_some();
    let body = if trimmed_start { &joined[1..] } else { &joined[..] };
    let indent = body
        .split('\n')
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let mut at_line_start = true;
    let mut first = true;
    let n = parts.len();
    for (i, p) in parts.iter_mut().enumerate() {
        if let StrPart::Text(t) = p {
            let mut out = String::with_capacity(t.len());
            let mut text: &str = t;
            if first && trimmed_start {
                text = &text[1..];
            }
            for (li, line) in text.split('\n').enumerate() {
                if li > 0 {
                    out.push('\n');
                    at_line_start = true;
                }
                if at_line_start {
                    let strip = line.len() - line.trim_start_matches([' ', '\t']).len();
                    out.push_str(&line[strip.min(indent)..]);
                } else {
                    out.push_str(line);
                }
                if !line.is_empty() {
                    at_line_start = false;
                }
            }
            if i == n - 1 {
                if let Some(pos) = out.rfind('\n') {
                    if out[pos + 1..].trim().is_empty() {
                        out.truncate(pos + 1);
                    }
                }
            }
            *t = out;
        } else {
            at_line_start = false;
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trivia_agrees_with_the_grammar() {
        let pieces = [
            " ",
            "\t",
            "\n",
            "\r\n",
            "// c\n",
            "//",
            "/// doc\n",
            "////\n",
            "//// x",
            "/* a */",
            "/* /* nested */ */",
            "/* open",
            "*/",
            "/",
            "x",
            "let",
            "\"s\"",
            "/*/",
            "/**/",
            "///",
            "\u{b}",
            "é",
        ];
        // Every sequence of up to three pieces.
        let mut texts = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| pieces.iter().map(move |p| format!("{t}{p}")))
                .collect();
            texts.extend(longer);
        }
        for t in &texts {
            let grammar = Grammar::parse(Rule::only_trivia, t).is_ok();
            assert_eq!(only_trivia(t), grammar, "{t:?}");
        }
    }
}
