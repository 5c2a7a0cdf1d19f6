//! The formatter behind `tpt fmt`: prints a file in the canonical layout,
//! keeping every comment.
//!
//! Layout: two-space indentation; one blank line around blocks (schemas,
//! resources, environments, `for`), the user's single blank lines kept between
//! other items and between entries; no column alignment. A record, list or
//! overlay written on one line stays on one line (normalised spacing); one
//! written over several lines gets one element per line. Literals keep their
//! source text (`1_000`, `1h30m`), text blocks are kept verbatim.
//!
//! Comments are found by scanning the text (`comments`), and printed before
//! the first node that starts after them, or at the end of the line they
//! trailed. As a safety net the result must parse to the same tree and keep
//! every comment; if it ever would not, the file is left as it is.
//!
//! Idempotent: formatting formatted text changes nothing (every layout choice
//! depends only on what the formatter itself writes).

pub mod comments;
mod exprs;

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Span};
use crate::syntax::ast::*;
use comments::Comment;

/// Formats one file. Returns the syntax errors instead when it does not parse
/// (a file with errors is never rewritten).
pub fn format_source(file: FileId, src: &str) -> Result<String, Vec<Diagnostic>> {
    let (ast, diags) = crate::syntax::parse(file, src);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    let out = print(&ast, src);
    if is_faithful(file, src, &out) {
        Ok(out)
    } else {
        Ok(src.to_string())
    }
}

fn print(ast: &File, src: &str) -> String {
    let comments = comments::scan(src);
    let mut p = Printer {
        src,
        comments,
        next: 0,
        out: String::new(),
        indent: 0,
    };
    p.file(ast);
    p.out
}

/// The formatter's output without the safety net, and whether it is faithful
/// (same tree, same comments). For tests: `format_source` falls back to the
/// input when the output is not faithful, which would hide a formatter bug.
pub fn format_unchecked(file: FileId, src: &str) -> Option<(String, bool)> {
    let (ast, diags) = crate::syntax::parse(file, src);
    if diags.iter().any(Diagnostic::is_error) {
        return None;
    }
    let out = print(&ast, src);
    let ok = is_faithful(file, src, &out);
    Some((out, ok))
}

/// Whether `formatted` means the same as `src`: the same tree (spans aside) and the same comments.
fn is_faithful(file: FileId, src: &str, formatted: &str) -> bool {
    let (a, _) = crate::syntax::parse(file, src);
    let (b, diags) = crate::syntax::parse(file, formatted);
    if !diags.is_empty() {
        return false;
    }
    let texts = |s: &str| comments::scan(s).into_iter().map(|c| c.text).collect::<Vec<_>>();
    strip_spans(&format!("{a:?}")) == strip_spans(&format!("{b:?}")) && texts(src) == texts(formatted)
}

/// The Debug text of a tree without its spans.
pub fn strip_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(i) = rest.find("Span {") {
        out.push_str(&rest[..i]);
        match rest[i..].find('}') {
            Some(j) => rest = &rest[i + j + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

pub(crate) struct Printer<'s> {
    src: &'s str,
    comments: Vec<Comment>,
    /// The first comment not yet printed.
    next: usize,
    out: String,
    indent: usize,
}

impl Printer<'_> {
    fn pad(&self) -> String {
        "  ".repeat(self.indent)
    }

    /// Writes one line at the current indentation, with the comment that
    /// trailed `end` in the source (if any) at its end.
    fn line(&mut self, text: &str, end: usize) {
        let pad = self.pad();
        self.out.push_str(&pad);
        self.out.push_str(text);
        self.trailing(end);
        self.out.push('\n');
    }

    /// The end of the last token before `end`: spans of pest rules can reach
    /// over the blanks and comments that follow them.
    fn content_end(&self, mut end: usize) -> usize {
        loop {
            let trimmed = self
                .src
                .get(..end)
                .unwrap_or("")
                .trim_end_matches([' ', '\t', '\r', '\n'])
                .len();
            let i = self.comments.partition_point(|c| c.start < trimmed);
            match i.checked_sub(1).and_then(|i| self.comments.get(i)) {
                Some(c) if c.start + c.text.len() == trimmed && c.start < trimmed => end = c.start,
                _ => return trimmed,
            }
        }
    }

    /// Appends a comment that follows `end` on the same source line.
    fn trailing(&mut self, end: usize) {
        let end = self.content_end(end);
        if let Some(c) = self.comments.get(self.next) {
            if c.start >= end && !c.own_line && !self.src[end..c.start].contains('\n') {
                let text = c.text.clone();
                self.out.push_str("  ");
                self.out.push_str(&text);
                self.next += 1;
            }
        }
    }

    /// The comments before an item or entry at `pos`, and the blank line that
    /// separated the last of them from it.
    fn comments_before_item(&mut self, pos: usize) {
        let first = self.next;
        self.comments_before(pos);
        if self.next > first {
            if let Some(c) = self.comments.get(self.next - 1) {
                if self.blank_between_raw(c.start + c.text.len(), pos) {
                    self.blank_line();
                }
            }
        }
    }

    /// Prints, on their own lines, the comments that start before `pos`.
    fn comments_before(&mut self, pos: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if c.start >= pos {
                break;
            }
            let c = c.clone();
            self.next += 1;
            if c.blank_before
                && !self.out.is_empty()
                && !self.out.ends_with("\n\n")
                && !self.out.ends_with("{\n")
            {
                self.out.push('\n');
            }
            let pad = self.pad();
            if !c.own_line && self.out.ends_with('\n') {
                // A comment that trailed something printed inline elsewhere: keep it, on its own line.
                self.out.push_str(&pad);
                self.out.push_str(&c.text);
                self.out.push('\n');
                continue;
            }
            self.out.push_str(&pad);
            self.out.push_str(&c.text);
            self.out.push('\n');
        }
    }

    fn blank_line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Whether the source has an empty line between `a` and `b`.
    fn blank_between(&self, a: usize, b: usize) -> bool {
        self.blank_between_raw(self.content_end(a).min(b), b)
    }

    /// Whether the source text between `a` and `b` has an empty line.
    fn blank_between_raw(&self, a: usize, b: usize) -> bool {
        let text = self.src.get(a..b).unwrap_or("");
        let mut newlines = 0;
        for line in text.split('\n').skip(1) {
            newlines += 1;
            if line.trim().is_empty() && newlines < text.matches('\n').count() {
                return true;
            }
        }
        false
    }

    fn slice(&self, span: Span) -> &str {
        self.src.get(span.range()).unwrap_or("")
    }

    fn multiline(&self, span: Span) -> bool {
        self.slice(span).contains('\n')
    }

    fn docs(&mut self, docs: &Option<String>) {
        if let Some(d) = docs {
            for l in d.split('\n') {
                let text = if l.is_empty() {
                    "///".to_string()
                } else {
                    format!("/// {l}")
                };
                let pad = self.pad();
                self.out.push_str(&format!("{pad}{text}\n"));
            }
        }
    }

    // ------------------------------------------------------------ items

    fn file(&mut self, f: &File) {
        self.items(&f.items);
        self.comments_before(self.src.len() + 1);
        while self.out.ends_with("\n\n") {
            self.out.pop();
        }
    }

    /// Items of a file or a component: a blank line around blocks, and where
    /// the source had one.
    fn items(&mut self, items: &[Item]) {
        let mut prev: Option<&Item> = None;
        for item in items {
            let first_start = self
                .comments
                .get(self.next)
                .map_or(item.span.start, |c| c.start.min(item.span.start as usize) as u32);
            if let Some(p) = prev {
                if is_block(p)
                    || is_block(item)
                    || self.blank_between(p.span.end as usize, first_start as usize)
                {
                    self.blank_line();
                }
            }
            self.comments_before_item(item.span.start as usize);
            self.item(item);
            prev = Some(item);
        }
    }

    fn annotations(&self, anns: &[Annotation]) -> String {
        anns.iter()
            .map(|a| self.annotation(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn annotation(&self, a: &Annotation) -> String {
        if a.args.is_empty() {
            format!("@{}", a.name.name)
        } else {
            let args: Vec<String> = a.args.iter().map(|e| self.expr_inline(e)).collect();
            format!("@{}({})", a.name.name, args.join(", "))
        }
    }

    fn item(&mut self, item: &Item) {
        self.docs(&item.docs);
        let end = item.span.end as usize;
        // Annotations of a param stay on its line; others go above the item.
        let inline_anns = matches!(item.kind, ItemKind::Param(_));
        let prefix = if item.annotations.is_empty() {
            String::new()
        } else if inline_anns {
            format!("{} ", self.annotations(&item.annotations))
        } else {
            // One annotation per line above the item.
            let pad = self.pad();
            for a in &item.annotations {
                let text = self.annotation(a);
                self.out.push_str(&format!("{pad}{text}\n"));
            }
            String::new()
        };
        match &item.kind {
            ItemKind::Import(i) => {
                let source = match &i.source {
                    ImportSource::Std(n) => format!("std.{}", n.name),
                    ImportSource::Path { path, .. } => quote(path),
                };
                let alias = i
                    .alias
                    .as_ref()
                    .map(|a| format!(" as {}", a.name))
                    .unwrap_or_default();
                self.line(&format!("{prefix}import {source}{alias}"), end);
            }
            ItemKind::TypeAlias(t) => {
                let ty = self.type_expr(&t.ty);
                self.line(&format!("{prefix}type {} = {ty}", t.name.name), end);
            }
            ItemKind::Param(p) => {
                let default = p
                    .default
                    .as_ref()
                    .map(|d| format!(" = {}", self.expr(d)))
                    .unwrap_or_default();
                let ty = self.type_expr(&p.ty);
                self.line(&format!("{prefix}param {}: {ty}{default}", p.name.name), end);
            }
            ItemKind::Let(l) => {
                let ty =
                    l.ty.as_ref()
                        .map(|t| format!(": {}", self.type_expr(t)))
                        .unwrap_or_default();
                let value = self.expr(&l.value);
                self.line(&format!("{prefix}let {}{ty} = {value}", l.name.name), end);
            }
            ItemKind::Fn(f) => {
                let params: Vec<String> = f
                    .params
                    .iter()
                    .map(|(n, t)| format!("{}: {}", n.name, self.type_expr(t)))
                    .collect();
                let ret = self.type_expr(&f.ret);
                let body = self.expr(&f.body);
                self.line(
                    &format!(
                        "{prefix}fn {}({}): {ret} = {body}",
                        f.name.name,
                        params.join(", ")
                    ),
                    end,
                );
            }
            ItemKind::Schema(s) => self.schema(s, &prefix, item.span),
            ItemKind::Resource(r) => self.resource(r, &prefix, item.span),
            ItemKind::For(f) => self.for_item(f, &prefix, item.span),
            ItemKind::Environment(e) => self.environment(e, &prefix, item.span),
            ItemKind::Moved(mv) => {
                let (from, to) = (self.expr_inline(&mv.from), self.expr_inline(&mv.to));
                self.line(&format!("{prefix}moved {{ from = {from}, to = {to} }}"), end);
            }
            ItemKind::ImportBlock(b) => {
                let (to, id) = (self.expr_inline(&b.to), self.expr_inline(&b.id));
                self.line(&format!("{prefix}import {{ to = {to}, id = {id} }}"), end);
            }
            ItemKind::Output(o) => {
                let ty = self.type_expr(&o.ty);
                let value = self.expr(&o.value);
                self.line(&format!("{prefix}output {}: {ty} = {value}", o.name.name), end);
            }
            ItemKind::Component(c) => {
                let head = format!("{prefix}component {} {{", c.name.name);
                if c.items.is_empty() && !self.has_comment_in(item.span) {
                    self.line(&format!("{head}}}"), end);
                    return;
                }
                self.line(&head, c.name.span.end as usize + 1);
                self.indent += 1;
                self.items(&c.items);
                self.comments_before(end - 1);
                while self.out.ends_with("\n\n") {
                    self.out.pop();
                }
                self.indent -= 1;
                self.line("}", end);
            }
        }
    }

    fn schema(&mut self, s: &Schema, prefix: &str, span: Span) {
        let kw = if s.is_resource {
            "resource schema"
        } else {
            "schema"
        };
        let ext = s
            .extends
            .as_ref()
            .map(|q| format!(" extends {q}"))
            .unwrap_or_default();
        let head = format!("{prefix}{kw} {}{ext} {{", s.name.name);
        if s.fields.is_empty() && !self.has_comment_in(span) {
            self.line(&format!("{head}}}"), span.end as usize);
            return;
        }
        self.line(&head, s.name.span.end as usize);
        self.indent += 1;
        let mut prev_end: Option<usize> = None;
        for f in &s.fields {
            self.entry_gap(prev_end, f.span.start as usize);
            self.comments_before_item(f.span.start as usize);
            self.field_decl(f);
            prev_end = Some(f.span.end as usize);
        }
        self.comments_before(span.end as usize - 1);
        self.indent -= 1;
        self.line("}", span.end as usize);
    }

    fn field_decl(&mut self, f: &FieldDecl) {
        self.docs(&f.docs);
        let anns = if f.annotations.is_empty() {
            String::new()
        } else {
            format!("{} ", self.annotations(&f.annotations))
        };
        let ty = self.type_expr(&f.ty);
        let default = f
            .default
            .as_ref()
            .map(|d| format!(" = {}", self.expr(d)))
            .unwrap_or_default();
        let end = f.span.end as usize;
        self.line(&format!("{anns}{}: {ty}{default}", f.name.name), end);
    }

    /// Keeps one blank line between entries where the source had one.
    fn entry_gap(&mut self, prev_end: Option<usize>, start: usize) {
        if let Some(pe) = prev_end {
            let first = self.comments.get(self.next).map_or(start, |c| c.start.min(start));
            if self.blank_between(pe, first) {
                self.blank_line();
            }
        }
    }

    fn resource(&mut self, r: &Resource, prefix: &str, span: Span) {
        let head = format!("{prefix}resource {}: {} {{", r.name.name, r.schema);
        if r.body.is_empty() && !self.has_comment_in(r.body_span) {
            self.line(&format!("{head}}}"), span.end as usize);
            return;
        }
        self.line(&head, r.body_span.start as usize + 1);
        self.indent += 1;
        let mut prev_end = None;
        for e in &r.body {
            self.entry_gap(prev_end, e.span.start as usize);
            self.comments_before_item(e.span.start as usize);
            let value = self.expr(&e.value);
            self.line(&format!("{} = {value}", e.name.name), e.span.end as usize);
            prev_end = Some(e.span.end as usize);
        }
        self.comments_before(span.end as usize - 1);
        self.indent -= 1;
        self.line("}", span.end as usize);
    }

    fn for_item(&mut self, f: &ForItem, prefix: &str, span: Span) {
        let vars = match &f.vars.second {
            Some(s) => format!("{}, {}", f.vars.first.name, s.name),
            None => f.vars.first.name.clone(),
        };
        let iter = self.expr(&f.iter);
        self.line(
            &format!("{prefix}for {vars} in {iter} {{"),
            f.iter.span.end as usize + 1,
        );
        self.indent += 1;
        let mut prev: Option<&Item> = None;
        for m in &f.members {
            if prev.is_some() {
                self.blank_line();
            }
            self.comments_before_item(m.span.start as usize);
            self.item(m);
            prev = Some(m);
        }
        self.comments_before(span.end as usize - 1);
        self.indent -= 1;
        self.line("}", span.end as usize);
    }

    fn environment(&mut self, e: &Environment, prefix: &str, span: Span) {
        let ext = e
            .extends
            .as_ref()
            .map(|x| format!(" extends {}", x.name))
            .unwrap_or_default();
        let head = format!("{prefix}environment {}{ext} {{", e.name.name);
        // Settings and overlays in source order.
        enum Entry<'a> {
            Set(&'a EnvSet),
            Overlay(&'a Overlay),
        }
        let mut entries: Vec<(u32, Entry)> = e.sets.iter().map(|s| (s.span.start, Entry::Set(s))).collect();
        entries.extend(e.overlays.iter().map(|o| (o.span.start, Entry::Overlay(o))));
        entries.sort_by_key(|(s, _)| *s);
        if entries.is_empty() && !self.has_comment_in(span) {
            self.line(&format!("{head}}}"), span.end as usize);
            return;
        }
        // A one-line environment of settings stays on one line.
        let one_line = !self.multiline(span) && !self.has_comment_in(span) && e.overlays.is_empty();
        if one_line {
            let sets: Vec<String> = e
                .sets
                .iter()
                .map(|s| format!("{} = {}", s.name.name, self.expr(&s.value)))
                .collect();
            self.line(&format!("{head} {} }}", sets.join("; ")), span.end as usize);
            return;
        }
        self.line(&head, e.name.span.end as usize);
        self.indent += 1;
        let mut prev_end = None;
        for (start, entry) in entries {
            self.entry_gap(prev_end, start as usize);
            self.comments_before_item(start as usize);
            match entry {
                Entry::Set(s) => {
                    let v = self.expr(&s.value);
                    self.line(&format!("{} = {v}", s.name.name), s.span.end as usize);
                    prev_end = Some(s.span.end as usize);
                }
                Entry::Overlay(o) => {
                    let mut target = match &o.key {
                        Some(k) => format!("{}[{}]", o.target.name, self.expr_inline(k)),
                        None => o.target.name.clone(),
                    };
                    for seg in &o.inner {
                        target.push('.');
                        target.push_str(&seg.name.name);
                        if let Some(k) = &seg.key {
                            target.push_str(&format!("[{}]", self.expr_inline(k)));
                        }
                    }
                    self.overlay_fields(&target, &o.fields, o.span);
                    prev_end = Some(o.span.end as usize);
                }
            }
        }
        self.comments_before(span.end as usize - 1);
        self.indent -= 1;
        self.line("}", span.end as usize);
    }

    /// `head { f = v, g { … } }`, on one line if it was written on one line.
    fn overlay_fields(&mut self, head: &str, fields: &[OverlayField], span: Span) {
        if !self.multiline(span) && !self.has_comment_in(span) {
            let text = format!("{head} {}", self.overlay_inline(fields));
            self.line(&text, span.end as usize);
            return;
        }
        self.line(&format!("{head} {{"), span.start as usize);
        self.indent += 1;
        let mut prev_end = None;
        for f in fields {
            self.entry_gap(prev_end, f.span.start as usize);
            self.comments_before_item(f.span.start as usize);
            match &f.value {
                OverlayValue::Set(e) => {
                    let v = self.expr(e);
                    self.line(&format!("{} = {v}", f.name.name), f.span.end as usize);
                }
                OverlayValue::Merge(inner) => self.overlay_fields(&f.name.name, inner, f.span),
            }
            prev_end = Some(f.span.end as usize);
        }
        self.comments_before(span.end as usize - 1);
        self.indent -= 1;
        self.line("}", span.end as usize);
    }

    fn overlay_inline(&self, fields: &[OverlayField]) -> String {
        if fields.is_empty() {
            return "{}".into();
        }
        let parts: Vec<String> = fields
            .iter()
            .map(|f| match &f.value {
                OverlayValue::Set(e) => format!("{} = {}", f.name.name, self.expr_inline(e)),
                OverlayValue::Merge(inner) => format!("{} {}", f.name.name, self.overlay_inline(inner)),
            })
            .collect();
        format!("{{ {} }}", parts.join(", "))
    }

    fn has_comment_in(&self, span: Span) -> bool {
        self.comments[self.next..]
            .iter()
            .any(|c| c.start >= span.start as usize && c.start < span.end as usize)
    }
}

fn is_block(item: &Item) -> bool {
    matches!(
        item.kind,
        ItemKind::Schema(_)
            | ItemKind::Resource(_)
            | ItemKind::For(_)
            | ItemKind::Environment(_)
            | ItemKind::Component(_)
    )
}

/// A string literal for text (no interpolation).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    exprs::escape_into(&mut out, s);
    out.push('"');
    out
}
