//! The one diagnostic type of tpt. Every phase collects [`Diagnostic`]s (never
//! stopping at the first); the CLI and the LSP render them. A diagnostic has a
//! stable [`Code`], a message, labelled spans (the first primary), and a help text.

use crate::source::{SourceFile, SourceMap, Span};

/// Stable diagnostic codes. The number never changes meaning once released;
/// `docs/language.md` lists them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// A syntax error.
    Syntax,
    /// A literal that cannot be represented (integer overflow, bad regex, bad escape).
    InvalidLiteral,
    /// A name that is not defined.
    UnknownName,
    /// A field that the record or schema does not have.
    UnknownField,
    /// A type name that is not defined.
    UnknownType,
    /// An import that cannot be found or read.
    ImportNotFound,
    /// A name defined twice in one scope.
    Duplicate,
    /// Imports that form a cycle.
    ImportCycle,
    /// A declaration that is not allowed where it stands.
    MisplacedItem,
    /// An annotation that does not exist or is misplaced.
    BadAnnotation,
    /// A `moved` block whose addresses are not resource addresses, or point nowhere.
    BadMove,
    /// A resource schema that extends another adds an input field its kind cannot apply.
    ExtendsAddsField,
    /// A value of the wrong type.
    TypeMismatch,
    /// A required field (no default, not optional) is not set.
    MissingField,
    /// A literal outside a refinement (range, pattern, length).
    RefinementLiteral,
    /// A secret value flowing into a place that would show it.
    SecretLeak,
    /// A resource output set by the user.
    OutputAssigned,
    /// A call with the wrong number of arguments.
    ArgumentCount,
    /// A call of something that is not a function, or field access on a non-record.
    NotCallable,
    /// An optional value used where a value is required.
    MaybeNull,
    /// An environment that does not exist.
    UnknownEnvironment,
    /// An overlay of a resource that does not exist.
    UnknownOverlayTarget,
    /// An overlay of a field that does not exist, or a merge into a non-record field.
    BadOverlayField,
    /// `extends` chains of environments that form a cycle.
    EnvironmentCycle,
    /// A parameter without default that an environment does not set.
    MissingParam,
    /// An environment setting something that is not a parameter.
    UnknownParam,
    /// `tpt promote` of a param that is not marked `@promote`.
    NotPromotable,
    /// `tpt promote` to an environment that does not set the param itself.
    PromoteTargetUnset,
    /// A user function that calls itself, directly or through others.
    Recursion,
    /// Top-level `let`s that depend on each other in a cycle.
    LetCycle,
    /// Resources whose inputs depend on each other in a cycle.
    DependencyCycle,
    /// A computed value outside a refinement (checked at evaluation).
    RefinementValue,
    /// Arithmetic that fails: division by zero, overflow.
    Arithmetic,
    /// Indexing out of range or a missing map key.
    IndexOutOfRange,
    /// Two resources with the same address.
    DuplicateAddress,
    /// A named input (environment variable, file) that is not available.
    MissingInput,
    /// A value too large to build (range, repetition).
    LimitExceeded,
    /// A state file that is not valid state.
    StateCorrupt,
    /// A state file written by a newer tpt.
    StateNewer,
    /// The state is locked by another run.
    StateLocked,
    /// A state operation on an address the state does not have, or an unlock that does not match.
    StateAddress,
    /// A saved plan made against another state than the current one.
    StalePlan,
    /// `--target` of an address that neither the configuration nor the state has.
    UnknownTarget,
    /// A plan would delete or replace a `@prevent_destroy` resource.
    PreventDestroy,
    /// An operation of a provider failed (apply, refresh, data lookup).
    ProviderFailed,
    /// A schema no kind applies (nor any schema it extends).
    NoProvider,
    /// `tpt apply` without approval and no terminal to ask on.
    NotApproved,
    /// A file or directory that cannot be read.
    Io,
}

impl Code {
    pub const ALL: &'static [Code] = &[
        Code::Syntax,
        Code::InvalidLiteral,
        Code::UnknownName,
        Code::UnknownField,
        Code::UnknownType,
        Code::ImportNotFound,
        Code::Duplicate,
        Code::ImportCycle,
        Code::MisplacedItem,
        Code::BadAnnotation,
        Code::BadMove,
        Code::ExtendsAddsField,
        Code::TypeMismatch,
        Code::MissingField,
        Code::RefinementLiteral,
        Code::SecretLeak,
        Code::OutputAssigned,
        Code::ArgumentCount,
        Code::NotCallable,
        Code::MaybeNull,
        Code::UnknownEnvironment,
        Code::UnknownOverlayTarget,
        Code::BadOverlayField,
        Code::EnvironmentCycle,
        Code::MissingParam,
        Code::UnknownParam,
        Code::NotPromotable,
        Code::PromoteTargetUnset,
        Code::Recursion,
        Code::LetCycle,
        Code::DependencyCycle,
        Code::RefinementValue,
        Code::Arithmetic,
        Code::IndexOutOfRange,
        Code::DuplicateAddress,
        Code::MissingInput,
        Code::LimitExceeded,
        Code::StateCorrupt,
        Code::StateNewer,
        Code::StateLocked,
        Code::StateAddress,
        Code::StalePlan,
        Code::UnknownTarget,
        Code::PreventDestroy,
        Code::ProviderFailed,
        Code::NoProvider,
        Code::NotApproved,
        Code::Io,
    ];

    /// The stable code, e.g. `E0001`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "E0001",
            Code::InvalidLiteral => "E0002",
            Code::UnknownName => "E0100",
            Code::UnknownField => "E0101",
            Code::UnknownType => "E0102",
            Code::ImportNotFound => "E0103",
            Code::Duplicate => "E0104",
            Code::ImportCycle => "E0105",
            Code::MisplacedItem => "E0106",
            Code::BadAnnotation => "E0107",
            Code::BadMove => "E0108",
            Code::ExtendsAddsField => "E0109",
            Code::TypeMismatch => "E0200",
            Code::MissingField => "E0201",
            Code::RefinementLiteral => "E0202",
            Code::SecretLeak => "E0203",
            Code::OutputAssigned => "E0204",
            Code::ArgumentCount => "E0205",
            Code::NotCallable => "E0206",
            Code::MaybeNull => "E0207",
            Code::UnknownEnvironment => "E0300",
            Code::UnknownOverlayTarget => "E0301",
            Code::BadOverlayField => "E0302",
            Code::EnvironmentCycle => "E0303",
            Code::MissingParam => "E0304",
            Code::UnknownParam => "E0305",
            Code::NotPromotable => "E0306",
            Code::PromoteTargetUnset => "E0307",
            Code::Recursion => "E0400",
            Code::LetCycle => "E0401",
            Code::DependencyCycle => "E0402",
            Code::RefinementValue => "E0500",
            Code::Arithmetic => "E0501",
            Code::IndexOutOfRange => "E0502",
            Code::DuplicateAddress => "E0503",
            Code::MissingInput => "E0504",
            Code::LimitExceeded => "E0505",
            Code::Io => "E0600",
            Code::StateCorrupt => "E0700",
            Code::StateNewer => "E0701",
            Code::StateLocked => "E0702",
            Code::StateAddress => "E0703",
            Code::StalePlan => "E0704",
            Code::UnknownTarget => "E0705",
            Code::PreventDestroy => "E0706",
            Code::ProviderFailed => "E0800",
            Code::NoProvider => "E0801",
            Code::NotApproved => "E0802",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// The first label is the primary location (may be empty for file-less errors).
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// Changes that would mend it, for editors' quick fixes: the preferred
    /// one (if any) first.
    pub fixes: Vec<Fix>,
}

/// A change of the source that mends a diagnostic: an editor's quick fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// What it does, as a command: "Add `import std.aws`".
    pub title: String,
    /// Each replaces the text of a span (an empty span inserts), in any file.
    pub edits: Vec<(Span, String)>,
    /// Whether an editor may apply it without asking ("fix all"): only for a
    /// fix that is almost surely what was meant.
    pub preferred: bool,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            fixes: Vec::new(),
        }
    }

    /// Adds the primary label (first call) or a secondary one.
    pub fn label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        let primary = self.labels.is_empty();
        self.labels.push(Label {
            span,
            message: message.into(),
            primary,
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// The preferred fix "did you mean": `replacement` for the primary span's text.
    pub fn suggest(self, replacement: impl Into<String>) -> Diagnostic {
        let Some(span) = self.primary_span() else {
            return self;
        };
        self.replace(span, replacement, true)
    }

    /// A fix that writes `replacement` in place of `span`'s text.
    pub fn replace(self, span: Span, replacement: impl Into<String>, preferred: bool) -> Diagnostic {
        let text = replacement.into();
        self.fix(Fix {
            title: format!("Replace with `{text}`"),
            edits: vec![(span, text)],
            preferred,
        })
    }

    /// Adds a fix; a preferred one goes before the others.
    pub fn fix(mut self, fix: Fix) -> Diagnostic {
        if fix.preferred {
            // One preferred fix: an editor applies it without asking.
            for f in &mut self.fixes {
                f.preferred = false;
            }
            self.fixes.insert(0, fix);
        } else {
            self.fixes.push(fix);
        }
        self
    }

    pub fn primary_span(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// A miette report for this diagnostic, with its source attached.
    pub fn to_report(&self, sources: &SourceMap) -> miette::Report {
        miette::Report::new(Rendered::new(self, sources))
    }
}

/// Sorts diagnostics by file and position (then code), and removes exact duplicates.
pub fn sort_diagnostics(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| (a.primary_span(), a.code, &a.message).cmp(&(b.primary_span(), b.code, &b.message)));
    diags.dedup();
}

/// `1 file`, `2 files`: a count in a message.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// "did you mean" candidate: the closest name within a small edit distance.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let d = strsim::damerau_levenshtein(name, c);
        let limit = (name.chars().count().max(3)) / 3 + 1;
        let lower_eq = c.eq_ignore_ascii_case(name);
        if (d <= limit || lower_eq) && best.is_none_or(|(bd, bc)| d < bd || (d == bd && c < bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// A diagnostic bound to its source text, in the form miette renders.
#[derive(Debug)]
pub struct Rendered {
    /// `None` for a note: a label of the diagnostic in another file.
    code: Option<Code>,
    message: String,
    help: Option<String>,
    source: Option<Excerpted>,
    labels: Vec<miette::LabeledSpan>,
    related: Vec<Rendered>,
}

impl Rendered {
    pub fn new(diag: &Diagnostic, sources: &SourceMap) -> Rendered {
        let primary_file = diag.primary_span().map(|s| s.file);
        let primary_source = primary_file.and_then(|f| sources.get(f));
        let mut labels = Vec::new();
        let mut related = Vec::new();
        for label in &diag.labels {
            if let Some(file) = primary_source.filter(|_| Some(label.span.file) == primary_file) {
                let (start, len) = clip_on_long_line(file, label.span.start as usize, label.span.len());
                let span = miette::SourceSpan::new(start.into(), len);
                let text = if label.message.is_empty() {
                    None
                } else {
                    Some(label.message.clone())
                };
                labels.push(if label.primary {
                    miette::LabeledSpan::new_primary_with_span(text, span)
                } else {
                    miette::LabeledSpan::new_with_span(text, span)
                });
            } else {
                // A label in another file: a note of this diagnostic, with its own
                // excerpt (miette shows one file per report), never an error of its own.
                let note = Diagnostic::error(diag.code, label.message.clone()).label(label.span, "here");
                let mut note = Rendered::new(&note, sources);
                note.code = None;
                related.push(note);
            }
        }
        let source = primary_source.map(|f| Excerpted(f.clone()));
        Rendered {
            code: Some(diag.code),
            message: diag.message.clone(),
            help: diag.help.clone(),
            source,
            labels,
            related,
        }
    }
}

/// Lines longer than this are shown as an excerpt around the position: a
/// minified or generated line of many kilobytes would bury the message (and
/// columns past 65,535 are more than the renderer can pad to).
const LONG_LINE: usize = 240;
/// How much of a long line is shown before and after the position.
const EXCERPT_BEFORE: usize = 40;
const EXCERPT_AFTER: usize = 120;

/// A label on a long line keeps its start and at most the excerpt's width.
fn clip_on_long_line(file: &SourceFile, start: usize, len: usize) -> (usize, usize) {
    let (line_start, line_end) = file.line_bounds(file.line_of(start));
    if line_end - line_start <= LONG_LINE {
        return (start, len);
    }
    let end = ceil_char_boundary(&file.text, (start + len).min(start + EXCERPT_AFTER).min(line_end));
    (start, end.saturating_sub(start))
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// A file as miette reads it: whole lines with context, except that a long
/// line is cut to an excerpt around the position read. Lines are found with
/// the file's line index, so rendering costs the same anywhere in a large file.
#[derive(Debug)]
struct Excerpted(SourceFile);

impl miette::SourceCode for Excerpted {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let file = &self.0;
        let text: &str = &file.text;
        let at = span.offset();
        if at > text.len() {
            return Err(miette::MietteError::OutOfBounds);
        }
        let end = (at + span.len()).min(text.len());
        let line = file.line_of(at);
        let (line_start, line_end) = file.line_bounds(line);
        // The last line the span touches (a span ending just after a newline ends before it).
        let last_of_span = file.line_of(end.saturating_sub(1).max(at));
        let first = line.saturating_sub(before);
        let last = (last_of_span + after).min(file.line_count().saturating_sub(1));
        let long = (first..=last).any(|l| {
            let (s, e) = file.line_bounds(l);
            e - s > LONG_LINE
        });
        if long {
            let from = floor_char_boundary(text, at.saturating_sub(EXCERPT_BEFORE).max(line_start));
            let to = ceil_char_boundary(text, (at + EXCERPT_AFTER).min(line_end));
            return Ok(Box::new(miette::MietteSpanContents::new_named(
                file.name.clone(),
                &text.as_bytes()[from..to],
                miette::SourceSpan::new(from.into(), to - from),
                line,
                at - line_start,
                line + 1,
            )));
        }
        // miette's own reading of a text, from the first line shown on (it would
        // scan from the start of the file to find the line).
        // (From one line earlier: miette looks at the newline before a line.)
        let base_line = first.saturating_sub(1);
        let base = file.line_bounds(base_line).0;
        let local = text[base..].read_span(
            &miette::SourceSpan::new((at - base).into(), span.len()),
            before,
            after,
        )?;
        let shown = *local.span();
        Ok(Box::new(miette::MietteSpanContents::new_named(
            file.name.clone(),
            local.data(),
            miette::SourceSpan::new((shown.offset() + base).into(), shown.len()),
            local.line() + base_line,
            local.column(),
            // miette's count is of the lines read from the start of the text.
            local.line_count() + base_line,
        )))
    }
}

impl std::fmt::Display for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.code
            .map(|c| Box::new(c.as_str()) as Box<dyn std::fmt::Display + 'a>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        // A note is advice; a diagnostic says its own severity in its text.
        self.code.is_none().then_some(miette::Severity::Advice)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h.clone()) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}

#[cfg(test)]
mod excerpt_tests {
    use miette::SourceCode;

    use super::Excerpted;
    use crate::source::SourceFile;

    /// On short lines, reading through the line index gives what miette's own
    /// reading of the text gives, for every span and amount of context.
    #[test]
    fn short_lines_read_as_miette_reads_them() {
        let text = "a = 1\n\nresource b: B {\n  x = 2\n}\n\nlet c = [\n  1,\n]";
        let ours = Excerpted(SourceFile::new("t.tpt", text));
        for start in 0..=text.len() {
            for len in 0..=(text.len() - start) {
                for ctx in 0..3 {
                    let span = miette::SourceSpan::new(start.into(), len);
                    let (Ok(a), Ok(b)) = (ours.read_span(&span, ctx, ctx), text.read_span(&span, ctx, ctx))
                    else {
                        panic!("read failed at {start}+{len}");
                    };
                    assert_eq!(
                        (a.data(), a.span(), a.line(), a.column(), a.line_count()),
                        (b.data(), b.span(), b.line(), b.column(), b.line_count()),
                        "{start}+{len}, context {ctx}"
                    );
                }
            }
        }
    }
}
