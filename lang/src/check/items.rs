//! Checking declarations: schema defaults, params, `let`s, function bodies,
//! resource bodies (fields against their schema, outputs, `depends_on`) and
//! annotation arguments.

use super::Checker;
use crate::diagnostic::{Code, Diagnostic};
use crate::program::{ModuleId, ResourceDecl, SchemaId};
use crate::syntax::ast::{Annotation, Expr, ExprKind, Ident};
use crate::types::Ty;

impl Checker<'_> {
    pub(super) fn check_module(&mut self, m: ModuleId) {
        let module = self.p.module(m);
        // Schema defaults.
        let schemas: Vec<SchemaId> = module
            .types
            .values()
            .filter_map(|t| match t {
                crate::program::TypeDef::Schema(id) => Some(*id),
                crate::program::TypeDef::Alias { .. } => None,
            })
            // A component's body sees its file's types; they are checked with the file.
            .filter(|id| module.component.is_none() && self.p.schema(*id).module == m)
            .collect();
        for id in schemas {
            self.check_schema(id);
        }
        for (name, p) in &module.params {
            if let Some(default) = &p.node.default {
                self.check_expr(m, default, &p.ty, &format_args!("the default of param `{name}`"));
            }
        }
        for name in module.lets.keys().filter(|n| !module.inherits(n)) {
            self.let_type(m, name);
        }
        for (name, f) in module.fns.iter().filter(|(n, _)| !module.inherits(n)) {
            let locals: Vec<(String, Ty)> = f.typed_params();
            let ret = f.ty.clone();
            self.with_locals(locals, |c| {
                c.check_expr(m, &f.node.body, &ret, &format_args!("the result of `{name}`"));
            });
        }
        for r in module.resources.values() {
            self.check_resource(m, r);
        }
        for (name, o) in &module.outputs {
            let ty = o.ty.clone();
            self.check_expr(m, &o.node.value, &ty, &format_args!("output `{name}`"));
        }
        if module.component.is_some() {
            // The resources of a component's body have what they need without overlays.
            super::envs::check_component_fields(self, m);
        }
    }

    fn check_schema(&mut self, id: SchemaId) {
        let schema = self.p.schema(id);
        for a in &schema.annotations {
            self.check_annotation_args(schema.module, a);
        }
        for (name, f) in &schema.fields {
            // Inherited fields are checked with the schema that declares them.
            if !schema_declares(self, id, name) {
                continue;
            }
            if let Some(default) = &f.default {
                let owner = format!("field `{name}` of `{}`", schema.name);
                self.check_expr(f.default_module, default, &f.ty, &owner);
            }
        }
    }

    fn check_annotation_args(&mut self, m: ModuleId, a: &Annotation) {
        let expected: &[Ty] = match a.name.name.as_str() {
            "timeout" => &[Ty::Duration],
            _ => &[],
        };
        if a.args.len() != expected.len() {
            let want = match expected.len() {
                0 => "no arguments".to_string(),
                1 => "one argument".to_string(),
                n => format!("{n} arguments"),
            };
            self.err(
                Diagnostic::error(Code::BadAnnotation, format!("`@{}` takes {want}", a.name.name))
                    .label(a.span, format!("{} given", a.args.len()))
                    .help(match a.name.name.as_str() {
                        "timeout" => "write e.g. `@timeout(30m)`",
                        _ => "remove the parentheses",
                    }),
            );
            return;
        }
        for (arg, ty) in a.args.iter().zip(expected) {
            self.check_expr(m, arg, ty, &format_args!("the argument of `@{}`", a.name.name));
        }
    }

    /// `@prevent_destroy` and `@create_before_destroy` take nothing;
    /// `@ignore_changes(a, b)` names input fields of the resource's schema.
    fn check_lifecycle(&mut self, r: &ResourceDecl) {
        for a in &r.annotations {
            if a.name.name != "ignore_changes" {
                // `@prevent_destroy`, `@create_before_destroy`: no arguments.
                self.check_annotation_args(ModuleId(0), a);
                continue;
            }
            let Some(id) = r.schema else { continue };
            let schema = self.p.schema(id);
            if schema.component.is_some() {
                self.err(
                    Diagnostic::error(
                        Code::BadAnnotation,
                        "`@ignore_changes` cannot stand on a component instance",
                    )
                    .label(a.span, "names fields of a resource")
                    .help("put it on the resources inside the component, naming their fields"),
                );
                continue;
            }
            if a.args.is_empty() {
                self.err(
                    Diagnostic::error(
                        Code::BadAnnotation,
                        "`@ignore_changes` takes the fields to ignore",
                    )
                    .label(a.span, "no field named")
                    .help("write e.g. `@ignore_changes(replicas, tags)`"),
                );
            }
            for arg in &a.args {
                let ExprKind::Ident(field) = &arg.kind else {
                    self.err(
                        Diagnostic::error(Code::BadAnnotation, "`@ignore_changes` takes field names")
                            .label(arg.span, "not a field name")
                            .help(
                                "write the names of the resource's fields: `@ignore_changes(replicas, tags)`",
                            ),
                    );
                    continue;
                };
                match schema.fields.get(&field.name) {
                    Some(f) if f.output => self.err(
                        Diagnostic::error(
                            Code::BadAnnotation,
                            format!("`{}` is an output of `{}`: there is no change of it to ignore", field.name, schema.name),
                        )
                        .label(field.span, "an output")
                        .help("name input fields of the resource"),
                    ),
                    Some(f) if f.ty.contains_secret() => self.err(
                        Diagnostic::error(
                            Code::BadAnnotation,
                            format!("changes of `{}` cannot be ignored: it holds a secret", field.name),
                        )
                        .label(field.span, "a secret field")
                        .help("tpt keeps only a fingerprint of a secret, so it cannot keep the recorded value; remove it from `@ignore_changes`"),
                    ),
                    Some(_) => {}
                    None => {
                        let mut rec = self.p.schema_record(id);
                        rec.fields.retain(|n, _| schema.fields.get(n).is_some_and(|f| !f.output));
                        let owner = format!("resource `{}` (`{}`)", r.node.name.name, schema.name);
                        self.unknown_field(&field.name, field.span, &rec, &owner);
                    }
                }
            }
        }
    }

    fn check_resource(&mut self, m: ModuleId, r: &ResourceDecl) {
        self.check_lifecycle(r);
        // Bind the loop variables of enclosing `for`s.
        let mut bound = 0;
        for l in &r.loops {
            let iter = self.infer(m, &l.iter, None);
            let vars = self.iter_vars(&l.vars, &iter, l.iter.span);
            bound += vars.len();
            self.locals.extend(vars);
        }
        if let Some(id) = r.schema {
            self.check_duplicate_keys(r.node.body.iter().map(|e| &e.name));
            let schema = self.p.schema(id);
            let owner = format!("resource `{}` (`{}`)", r.node.name.name, schema.name);
            for entry in &r.node.body {
                if entry.name.name == "depends_on" {
                    self.check_depends_on(m, &entry.value);
                    continue;
                }
                self.check_resource_field(m, id, &entry.name, &entry.value, &owner);
            }
        } else {
            for entry in &r.node.body {
                self.infer(m, &entry.value, None);
            }
        }
        let keep = self.locals.len().saturating_sub(bound);
        self.locals.truncate(keep);
    }

    /// Checks `name = value` of a resource (body or overlay): known field, not an output, right type.
    pub(crate) fn check_resource_field(
        &mut self,
        m: ModuleId,
        id: SchemaId,
        name: &Ident,
        value: &Expr,
        owner: &str,
    ) {
        let schema = self.p.schema(id);
        match schema.fields.get(&name.name) {
            Some(f) if f.output => {
                self.err(
                    Diagnostic::error(
                        Code::OutputAssigned,
                        format!(
                            "`{}` is an output of `{}` and cannot be set",
                            name.name, schema.name
                        ),
                    )
                    .label(name.span, "known only after apply")
                    .label(f.name_span, "declared `@output` here")
                    .help(format!(
                        "remove this line; read the value elsewhere as `{}.{}`",
                        owner_name(owner),
                        name.name
                    )),
                );
                self.infer(m, value, None);
            }
            Some(f) => {
                let ty = f.ty.clone();
                self.check_expr(m, value, &ty, &format_args!("field `{}` of {owner}", name.name));
            }
            None => {
                let mut rec = self.p.schema_record(id);
                rec.fields
                    .retain(|n, _| schema.fields.get(n).is_some_and(|f| !f.output));
                self.unknown_field(&name.name, name.span, &rec, owner);
                self.infer(m, value, None);
            }
        }
    }

    fn check_depends_on(&mut self, m: ModuleId, value: &Expr) {
        let ExprKind::List(items) = &value.kind else {
            self.err(
                Diagnostic::error(Code::TypeMismatch, "`depends_on` takes a list of resources")
                    .label(value.span, "not a list")
                    .help("write `depends_on = [other, another]`"),
            );
            return;
        };
        for item in items {
            let t = self.infer(m, item, None);
            if !self.is_resource_ref(&t) {
                let shown = self.show(&t);
                self.err(
                    Diagnostic::error(Code::TypeMismatch, "`depends_on` takes a list of resources")
                        .label(item.span, format!("this is `{shown}`, not a resource"))
                        .help("name resources declared in this configuration, e.g. `depends_on = [main]`"),
                );
            }
        }
    }

    fn is_resource_ref(&self, t: &Ty) -> bool {
        match t.resolved() {
            Ty::Error => true,
            Ty::Schema(id) => self.p.schema(*id).is_resource,
            Ty::List(t) | Ty::Map(t) => self.is_resource_ref(t),
            _ => false,
        }
    }
}

fn owner_name(owner: &str) -> &str {
    owner.split('`').nth(1).unwrap_or("resource")
}

/// Whether schema `id` itself declares `field` (rather than inheriting it).
fn schema_declares(c: &Checker, id: SchemaId, field: &str) -> bool {
    match c.p.schema(id).extends {
        Some(base) => {
            let b = c.p.schema(base);
            match (b.fields.get(field), c.p.schema(id).fields.get(field)) {
                (Some(bf), Some(f)) => bf.span != f.span,
                _ => true,
            }
        }
        None => true,
    }
}
