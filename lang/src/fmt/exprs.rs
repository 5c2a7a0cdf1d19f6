//! Printing expressions and types.

use super::Printer;
use crate::syntax::ast::*;

impl Printer<'_> {
    /// An expression at the current indentation; records and lists written over
    /// several lines (or holding comments) are printed one element per line.
    pub(super) fn expr(&mut self, e: &Expr) -> String {
        crate::stack::guard(|| self.expr_node(e))
    }

    fn expr_node(&mut self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Record(entries)
                if !entries.is_empty() && (self.multiline(e.span) || self.has_comment_in(e.span)) =>
            {
                let body = self.block(e.span, |p| {
                    let mut prev_end = None;
                    for en in entries {
                        p.entry_gap(prev_end, en.span.start as usize);
                        p.comments_before_item(en.span.start as usize);
                        let v = p.expr(&en.value);
                        p.line(
                            &format!("{} = {v}", key(&en.key, en.quoted)),
                            en.span.end as usize,
                        );
                        prev_end = Some(en.span.end as usize);
                    }
                });
                format!("{{\n{body}{}}}", self.pad())
            }
            ExprKind::List(items)
                if !items.is_empty() && (self.multiline(e.span) || self.has_comment_in(e.span)) =>
            {
                let body = self.block(e.span, |p| {
                    let mut prev_end = None;
                    for it in items {
                        p.entry_gap(prev_end, it.span.start as usize);
                        p.comments_before_item(it.span.start as usize);
                        let v = p.expr(it);
                        // The comma belongs to the element; a comment after it trails the line.
                        let comma_end =
                            p.src[it.span.end as usize..]
                                .find(',')
                                .map_or(it.span.end as usize, |i| {
                                    let between = &p.src[it.span.end as usize..it.span.end as usize + i];
                                    if between.trim().is_empty() {
                                        it.span.end as usize + i + 1
                                    } else {
                                        it.span.end as usize
                                    }
                                });
                        p.line(&format!("{v},"), comma_end);
                        prev_end = Some(it.span.end as usize);
                    }
                });
                format!("[\n{body}{}]", self.pad())
            }
            _ => self.expr_inline(e),
        }
    }

    /// Prints the elements of a multi-line literal one level deeper; returns them.
    fn block(&mut self, span: crate::source::Span, f: impl FnOnce(&mut Self)) -> String {
        let saved = std::mem::take(&mut self.out);
        self.indent += 1;
        f(self);
        self.comments_before(span.end as usize - 1);
        self.indent -= 1;
        std::mem::replace(&mut self.out, saved)
    }

    /// An expression on one line.
    pub(super) fn expr_inline(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Duration(_) => self.slice(e.span).to_string(),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Null => "null".into(),
            ExprKind::Str(parts) => {
                let raw = self.slice(e.span);
                if raw.starts_with("\"\"\"") {
                    return raw.to_string();
                }
                let mut out = String::from("\"");
                for p in parts {
                    match p {
                        StrPart::Text(t) => escape_into(&mut out, t),
                        StrPart::Interp(x) => {
                            out.push_str("${");
                            out.push_str(&self.expr_inline(x));
                            out.push('}');
                        }
                    }
                }
                out.push('"');
                out
            }
            ExprKind::Ident(id) => id.name.clone(),
            ExprKind::Paren(inner) => format!("({})", self.expr_inline(inner)),
            ExprKind::List(items) => {
                let parts: Vec<String> = items.iter().map(|i| self.expr_inline(i)).collect();
                format!("[{}]", parts.join(", "))
            }
            ExprKind::Record(entries) => {
                if entries.is_empty() {
                    return "{}".into();
                }
                let parts: Vec<String> = entries
                    .iter()
                    .map(|en| format!("{} = {}", key(&en.key, en.quoted), self.expr_inline(&en.value)))
                    .collect();
                format!("{{ {} }}", parts.join(", "))
            }
            ExprKind::ListComp(c) => format!("[{}]", self.comp(c)),
            ExprKind::MapComp(c) => format!("{{{}}}", self.comp(c)),
            ExprKind::Field(t, n) => format!("{}.{}", self.expr_inline(t), n.name),
            ExprKind::Index(t, i) => format!("{}[{}]", self.expr_inline(t), self.expr_inline(i)),
            ExprKind::Call(f, args) => {
                let parts: Vec<String> = args.iter().map(|a| self.expr_inline(a)).collect();
                format!("{}({})", self.expr_inline(f), parts.join(", "))
            }
            ExprKind::Unary(op, x) => {
                let o = match op {
                    UnaryOp::Not => "!",
                    UnaryOp::Neg => "-",
                };
                format!("{o}{}", self.expr_inline(x))
            }
            ExprKind::Binary(op, l, r) => {
                format!("{} {} {}", self.expr_inline(l), op.as_str(), self.expr_inline(r))
            }
            ExprKind::If(c, t, f) => {
                format!(
                    "if {} then {} else {}",
                    self.expr_inline(c),
                    self.expr_inline(t),
                    self.expr_inline(f)
                )
            }
            ExprKind::Let(n, v, b) => format!(
                "let {} = {} in {}",
                n.name,
                self.expr_inline(v),
                self.expr_inline(b)
            ),
        }
    }

    fn comp(&self, c: &Comprehension) -> String {
        let vars = match &c.vars.second {
            Some(s) => format!("{}, {}", c.vars.first.name, s.name),
            None => c.vars.first.name.clone(),
        };
        let body = match &c.key {
            Some(k) => format!("{} => {}", self.expr_inline(k), self.expr_inline(&c.body)),
            None => self.expr_inline(&c.body),
        };
        let filter = c
            .filter
            .as_ref()
            .map(|f| format!(" if {}", self.expr_inline(f)))
            .unwrap_or_default();
        format!("for {vars} in {} : {body}{filter}", self.expr_inline(&c.iter))
    }

    // ------------------------------------------------------------ types

    pub(super) fn type_expr(&self, t: &TypeExpr) -> String {
        match &t.kind {
            TypeExprKind::Named(q) => q.to_string(),
            TypeExprKind::List(inner) => format!("[{}]", self.type_expr(inner)),
            TypeExprKind::Map(inner) => format!("{{string: {}}}", self.type_expr(inner)),
            TypeExprKind::Record(fields) => {
                if fields.is_empty() {
                    return "{}".into();
                }
                if self.multiline(t.span) {
                    let inner_pad = "  ".repeat(self.indent + 1);
                    let mut out = String::from("{\n");
                    for f in fields {
                        if let Some(d) = &f.docs {
                            for l in d.split('\n') {
                                out.push_str(&inner_pad);
                                out.push_str(if l.is_empty() { "///" } else { "/// " });
                                out.push_str(l);
                                out.push('\n');
                            }
                        }
                        out.push_str(&inner_pad);
                        out.push_str(&self.record_field(f));
                        out.push('\n');
                    }
                    out.push_str(&"  ".repeat(self.indent));
                    out.push('}');
                    return out;
                }
                let parts: Vec<String> = fields.iter().map(|f| self.record_field(f)).collect();
                format!("{{ {} }}", parts.join(", "))
            }
            TypeExprKind::Literal(s) => super::quote(s),
            TypeExprKind::Optional(inner) => format!("{}?", self.type_expr(inner)),
            TypeExprKind::Union(parts) => {
                let shown: Vec<String> = parts.iter().map(|p| self.type_expr(p)).collect();
                if self.multiline(t.span) {
                    // Kept broken as written: one line per line of the source.
                    let mut out = String::new();
                    let pad = "  ".repeat(self.indent + 1);
                    for (i, (p, s)) in parts.iter().zip(&shown).enumerate() {
                        if i > 0 {
                            let prev_end = parts.get(i - 1).map_or(0, |x| x.span.end as usize);
                            if self.src[prev_end..p.span.start as usize].contains('\n') {
                                out.push('\n');
                                out.push_str(&pad);
                                out.push_str("| ");
                            } else {
                                out.push_str(" | ");
                            }
                        }
                        out.push_str(s);
                    }
                    out
                } else {
                    shown.join(" | ")
                }
            }
            TypeExprKind::Range { .. } | TypeExprKind::Pattern { .. } => self.slice(t.span).to_string(),
        }
    }

    fn record_field(&self, f: &FieldDecl) -> String {
        let anns = if f.annotations.is_empty() {
            String::new()
        } else {
            format!("{} ", self.annotations(&f.annotations))
        };
        let default = f
            .default
            .as_ref()
            .map(|d| format!(" = {}", self.expr_inline(d)))
            .unwrap_or_default();
        format!("{anns}{}: {}{default}", f.name.name, self.type_expr(&f.ty))
    }
}

fn key(k: &Ident, quoted: bool) -> String {
    if quoted {
        super::quote(&k.name)
    } else {
        k.name.clone()
    }
}

/// Escapes text for a `"…"` string: quotes, backslashes, `${`, control characters.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
}
