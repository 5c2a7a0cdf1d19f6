//! `file`, `templatefile`, `yaml_decode`, `json_decode`: the files were read
//! when the configuration was loaded (`Program::data`); here they are looked
//! up, rendered and decoded. A decoded value is fitted to the declared type of
//! the `let` it stands in (see `let_value`).

use super::Evaluator;
use crate::builtins::files::{decode, line_col, template_parts, TemplatePart};
use crate::diagnostic::{Code, Diagnostic};
use crate::program::join_relative;
use crate::source::{FileId, Span};
use crate::syntax::ast::{Expr, ExprKind};
use crate::value::Value;

impl Evaluator<'_> {
    /// One of the file builtins, with its (plain) argument values.
    pub(super) fn eval_file_builtin(
        &mut self,
        name: &str,
        args: &[Expr],
        values: &[Value],
        span: Span,
    ) -> Result<Value, Diagnostic> {
        match name {
            "file" => self
                .file_text(args, span)
                .map(|(_, text)| Value::str(text.as_ref())),
            "templatefile" => {
                let (path, text) = self.file_text(args, span)?;
                let vars = match values.get(1) {
                    Some(Value::Record(m)) => m.clone(),
                    _ => return Err(file_error(&path, "the variables are not a record", span)),
                };
                self.render_template(&path, &text, &vars, span)
            }
            _ => {
                let text = match values.first() {
                    Some(Value::Str(s)) => s.clone(),
                    _ => return Err(file_error(name, "expected text", span)),
                };
                let json = name == "json_decode";
                let source = args
                    .first()
                    .and_then(file_named)
                    .unwrap_or_else(|| "the text".to_string());
                let decoded = decode(json, &text).map_err(|e| {
                    Diagnostic::error(Code::InvalidLiteral, format!("`{name}` of {source}: {e}"))
                        .label(span, "decoded here")
                        .help(if json { "fix the JSON" } else { "fix the YAML" })
                })?;
                Ok(Value::from_json(&decoded))
            }
        }
    }

    /// The path written in the call and the text of the file it names.
    fn file_text(&self, args: &[Expr], span: Span) -> Result<(String, std::sync::Arc<str>), Diagnostic> {
        let lit = args.first().and_then(Expr::plain_string).unwrap_or_default();
        let reader = self
            .p
            .sources
            .get(span.file)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        match self.p.data.get(&join_relative(&reader, &lit)) {
            Some(Ok(text)) => Ok((lit, text.clone())),
            // Why it could not be read was said when loading.
            _ => Err(super::already_reported(span)),
        }
    }

    /// `${expr}` of a template, each evaluated with only `vars` in scope.
    fn render_template(
        &mut self,
        path: &str,
        text: &str,
        vars: &crate::IndexMap<String, Value>,
        span: Span,
    ) -> Result<Value, Diagnostic> {
        let at = |offset: usize, msg: &str| {
            let (line, col) = line_col(text, offset);
            Diagnostic::error(
                Code::InvalidLiteral,
                format!("in `{path}` line {line}, column {col}: {msg}"),
            )
            .label(span, "rendered here")
            .help("a template's `${…}` reads only the variables given to `templatefile`")
        };
        let parts = template_parts(text).map_err(|open| at(open, "`${` is not closed"))?;
        let mut out = String::new();
        for part in parts {
            match part {
                TemplatePart::Text(t) => out.push_str(&t),
                TemplatePart::Expr(src, offset) => {
                    let e = crate::syntax::parser::parse_expr(FileId(u32::MAX), &src)
                        .ok_or_else(|| at(offset, "not an expression"))?;
                    let mut unknown = None;
                    e.visit(&mut |x| {
                        if let ExprKind::Ident(id) = &x.kind {
                            if unknown.is_none()
                                && !vars.contains_key(&id.name)
                                && crate::builtins::lookup(&id.name).is_none()
                            {
                                unknown = Some(id.name.clone());
                            }
                        }
                    });
                    if let Some(n) = unknown {
                        return Err(at(
                            offset,
                            &format!("`{n}` is not one of the template's variables"),
                        ));
                    }
                    let locals: Vec<(String, Value)> =
                        vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    let root = self.p.root();
                    let (v, _) = self.isolated(locals, |ev| ev.eval(root, &e));
                    let v = v.map_err(|d| at(offset, &d.message))?;
                    match v {
                        Value::Str(s) => out.push_str(&s),
                        Value::Int(i) => out.push_str(&i.to_string()),
                        Value::Float(f) => out.push_str(&f.to_string()),
                        Value::Bool(b) => out.push_str(&b.to_string()),
                        Value::Duration(d) => out.push_str(&crate::value::format_duration(d)),
                        other => {
                            return Err(at(
                                offset,
                                &format!(
                                "a {} cannot be written into text; use `json_encode(…)` or `yaml_encode(…)`",
                                other.kind()
                            ),
                            ))
                        }
                    }
                }
            }
            if out.len() > crate::builtins::MAX_STRING {
                return Err(file_error(path, "the rendered text is too long", span));
            }
        }
        Ok(Value::str(out))
    }
}

/// `` `values.yaml` `` when the text comes straight from `file("values.yaml")`
/// (or a template).
pub(super) fn file_named(e: &Expr) -> Option<String> {
    ["file", "templatefile"]
        .iter()
        .find_map(|n| e.call_of(n))
        .and_then(|args| args.first())
        .and_then(Expr::plain_string)
        .map(|p| format!("`{p}`"))
}

fn file_error(path: &str, msg: &str, span: Span) -> Diagnostic {
    Diagnostic::error(Code::InvalidLiteral, format!("in `{path}`: {msg}"))
        .label(span, "read here")
        .help("fix the file, or what the call gives it")
}
