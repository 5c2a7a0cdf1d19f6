//! Functions may not be recursive (every program terminates): the call graph
//! of user functions must be acyclic. Each cycle is reported once, naming every
//! function on it.

use std::collections::{BTreeMap, BTreeSet};

use super::Checker;
use crate::diagnostic::{Code, Diagnostic};
use crate::program::ModuleId;
use crate::syntax::ast::{Expr, ExprKind, StrPart};

type FnKey = (ModuleId, String);

impl Checker<'_> {
    pub(super) fn check_recursion(&mut self) {
        let mut graph: BTreeMap<FnKey, BTreeSet<FnKey>> = BTreeMap::new();
        for (i, module) in self.p.modules.iter().enumerate() {
            let m = ModuleId(i as u32);
            if module.component.is_some() {
                // A component declares no functions; it sees its file's.
                continue;
            }
            for (name, f) in &module.fns {
                let mut calls = BTreeSet::new();
                let params: Vec<&str> = f.node.params.iter().map(|(n, _)| n.name.as_str()).collect();
                collect_calls(self, m, &f.node.body, &params, &mut calls);
                graph.insert((m, name.clone()), calls);
            }
        }
        // Iterative DFS with colours; a back edge closes a cycle.
        let mut state: BTreeMap<FnKey, u8> = BTreeMap::new(); // 1 = on stack, 2 = done
        let mut reported: BTreeSet<BTreeSet<FnKey>> = BTreeSet::new();
        let keys: Vec<FnKey> = graph.keys().cloned().collect();
        for start in keys {
            if state.contains_key(&start) {
                continue;
            }
            let mut stack: Vec<(FnKey, Vec<FnKey>)> = Vec::new();
            let succ: Vec<FnKey> = graph
                .get(&start)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            state.insert(start.clone(), 1);
            stack.push((start, succ));
            while let Some((node, mut rest)) = stack.pop() {
                match rest.pop() {
                    None => {
                        state.insert(node, 2);
                    }
                    Some(next) => {
                        stack.push((node, rest));
                        match state.get(&next) {
                            Some(1) => {
                                let pos = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                                let cycle: Vec<FnKey> =
                                    stack.iter().skip(pos).map(|(n, _)| n.clone()).collect();
                                let set: BTreeSet<FnKey> = cycle.iter().cloned().collect();
                                if reported.insert(set) {
                                    self.report_cycle(&cycle);
                                }
                            }
                            Some(_) => {}
                            None => {
                                let succ = graph
                                    .get(&next)
                                    .map(|s| s.iter().cloned().collect())
                                    .unwrap_or_default();
                                state.insert(next.clone(), 1);
                                stack.push((next, succ));
                            }
                        }
                    }
                }
            }
        }
    }

    fn report_cycle(&mut self, cycle: &[FnKey]) {
        let names: Vec<String> = cycle.iter().map(|(_, n)| format!("`{n}`")).collect();
        let message = if cycle.len() == 1 {
            format!("function {} calls itself", names.join(""))
        } else {
            format!("functions {} call each other in a cycle", names.join(" → "))
        };
        let mut d = Diagnostic::error(Code::Recursion, message);
        for (m, n) in cycle {
            if let Some(f) = self.p.module(*m).fns.get(n) {
                d = d.label(f.node.name.span, format!("`{n}` is on the cycle"));
            }
        }
        self.err(d.help("functions may not be recursive, so that every program terminates; use a comprehension or a builtin instead"));
    }
}

fn collect_calls(c: &Checker, m: ModuleId, e: &Expr, shadow: &[&str], out: &mut BTreeSet<FnKey>) {
    let mut rec = |e: &Expr| collect_calls(c, m, e, shadow, out);
    match &e.kind {
        ExprKind::Call(callee, args) => {
            match &callee.kind {
                ExprKind::Ident(id)
                    if !shadow.contains(&id.name.as_str()) && c.p.module(m).fns.contains_key(&id.name) =>
                {
                    out.insert((m, id.name.clone()));
                }
                ExprKind::Field(target, name) => {
                    if let ExprKind::Ident(id) = &target.kind {
                        if let Some(imp) = c.p.module(m).imports.get(&id.name) {
                            if c.p.module(imp.module).fns.contains_key(&name.name) {
                                out.insert((imp.module, name.name.clone()));
                            }
                        }
                    }
                }
                _ => {}
            }
            collect_calls(c, m, callee, shadow, out);
            for a in args {
                collect_calls(c, m, a, shadow, out);
            }
        }
        ExprKind::Str(parts) => {
            for p in parts {
                if let StrPart::Interp(e) = p {
                    rec(e);
                }
            }
        }
        ExprKind::List(items) => items.iter().for_each(rec),
        ExprKind::Record(entries) => entries
            .iter()
            .for_each(|en| collect_calls(c, m, &en.value, shadow, out)),
        ExprKind::ListComp(comp) | ExprKind::MapComp(comp) => {
            collect_calls(c, m, &comp.iter, shadow, out);
            for x in [comp.key.as_ref(), Some(&comp.body), comp.filter.as_ref()]
                .into_iter()
                .flatten()
            {
                collect_calls(c, m, x, shadow, out);
            }
        }
        ExprKind::Field(t, _) | ExprKind::Unary(_, t) | ExprKind::Paren(t) => rec(t),
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) | ExprKind::Let(_, a, b) => {
            collect_calls(c, m, a, shadow, out);
            collect_calls(c, m, b, shadow, out);
        }
        ExprKind::If(a, b, d) => {
            collect_calls(c, m, a, shadow, out);
            collect_calls(c, m, b, shadow, out);
            collect_calls(c, m, d, shadow, out);
        }
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Duration(_)
        | ExprKind::Bool(_)
        | ExprKind::Null
        | ExprKind::Ident(_) => {}
    }
}
