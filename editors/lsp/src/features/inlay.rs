//! Inlay hints: what each resource's fields get, as `tpt check` evaluates
//! every environment (the first few): after a field whose value is computed
//! (or overlaid), its value — one, or one per environment where they differ;
//! at the end of a resource's block, the fields it leaves to their defaults
//! (or to overlays) with the values they get. A stamped resource (`for`)
//! shows a value only where every instance has the same. Secrets show as
//! redacted, values known only after apply as such; nothing while the
//! configuration has errors.

use std::collections::HashMap;

use lsp_types::{
    InlayHint, InlayHintKind, InlayHintLabel, InlayHintParams, InlayHintTooltip, Position, Range,
};
use serde_json::Value;
use tpt_lang::source::Span;
use tpt_lang::value::Value as V;

use crate::line_index::{overlaps, LineIndex};
use crate::server::{Answer, Server};

/// The longest hint label, in characters (the tooltip has the whole).
const LABEL: usize = 60;

/// An environment's name and the inputs of each instance of one resource in it.
type PerEnvironment<'a> = (Option<&'a str>, Vec<&'a tpt_lang::IndexMap<String, V>>);

pub fn inlay_hints(server: &mut Server, p: InlayHintParams) -> Answer {
    let Some((a, file)) = server.file(&p.text_document.uri) else {
        return Ok(Value::Null);
    };
    let Some(source) = a.program.sources.get(file) else {
        return Ok(Value::Null);
    };
    let evaluations = a.evaluations();
    if evaluations.is_empty() {
        return Ok(serde_json::to_value(Vec::<InlayHint>::new()).unwrap_or(Value::Null));
    }
    // Per resource declaration (by the span of its name): per environment,
    // the inputs of each of its instances.
    let mut by_decl: HashMap<Span, Vec<PerEnvironment>> = HashMap::new();
    for ev in evaluations {
        let env = ev.environment.as_deref();
        for r in ev.resources.iter().filter(|r| r.span.file == file) {
            let envs = by_decl.entry(r.span).or_default();
            match envs.last_mut() {
                Some((e, list)) if *e == env => list.push(&r.inputs),
                _ => envs.push((env, vec![&r.inputs])),
            }
        }
    }
    let lines = LineIndex::of(source);
    let mut hints = Vec::new();
    for module in &a.program.modules {
        for decl in module.resources.values() {
            let node = &decl.node;
            let Some(envs) = by_decl.get(&node.name.span) else {
                continue;
            };
            let value_of = |field: &str| -> Option<Vec<(Option<&str>, String)>> {
                envs.iter()
                    .map(|(env, instances)| {
                        let mut shown = instances.iter().map(|i| i.get(field).map(shown));
                        let first = shown.next()??;
                        // A stamped resource: only a value every instance has.
                        shown
                            .all(|s| s.as_deref() == Some(&first))
                            .then_some((*env, first))
                    })
                    .collect()
            };
            // After each field whose written value is not what it gets.
            for entry in &node.body {
                let Some(values) = value_of(&entry.name.name) else {
                    continue;
                };
                let written = source.slice(entry.value.span);
                if values.iter().all(|(_, v)| v == written) {
                    continue;
                }
                let at = lines.position(entry.value.span.end as usize);
                hints.push(hint(at, &per_environment(&values), true));
            }
            // The fields left out, at the closing brace.
            let Some(first) = envs.first().and_then(|(_, i)| i.first()) else {
                continue;
            };
            let mut left: Vec<String> = Vec::new();
            for field in first.keys() {
                if node.body.iter().any(|e| &e.name.name == field) {
                    continue;
                }
                let Some(values) = value_of(field) else { continue };
                if values.iter().all(|(_, v)| v == "null") {
                    continue;
                }
                left.push(format!("{field} = {}", per_environment(&values)));
            }
            if !left.is_empty() {
                let close = (node.body_span.end as usize).saturating_sub(1);
                hints.push(hint(lines.position(close), &left.join(", "), false));
            }
        }
    }
    hints.retain(|h| overlaps(&Range::new(h.position, h.position), &p.range));
    hints.sort_by_key(|h| (h.position.line, h.position.character));
    Ok(serde_json::to_value(hints).unwrap_or(Value::Null))
}

/// A value as source where it has a literal form, else as `tpt eval` shows
/// it for people (a secret as `(sensitive)`, an output as known after apply).
fn shown(v: &V) -> String {
    v.to_source().unwrap_or_else(|| v.to_string())
}

/// `"a"` when every environment gives it, else `prod: "a" · staging: "b"`.
fn per_environment(values: &[(Option<&str>, String)]) -> String {
    match values {
        [(_, v), rest @ ..] if rest.iter().all(|(_, w)| w == v) => v.clone(),
        _ => values
            .iter()
            .map(|(env, v)| format!("{}: {v}", env.unwrap_or("base")))
            .collect::<Vec<_>>()
            .join(" · "),
    }
}

fn hint(position: Position, text: &str, after_value: bool) -> InlayHint {
    let label = if after_value {
        format!("= {text}")
    } else {
        text.to_string()
    };
    let short: String = if label.chars().count() > LABEL {
        label.chars().take(LABEL - 1).chain(['…']).collect()
    } else {
        label.clone()
    };
    InlayHint {
        position,
        label: InlayHintLabel::String(short.clone()),
        kind: Some(InlayHintKind::TYPE),
        text_edits: None,
        tooltip: (short != label).then_some(InlayHintTooltip::String(label)),
        padding_left: Some(true),
        padding_right: Some(!after_value),
        data: None,
    }
}
