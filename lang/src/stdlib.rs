//! The standard library: `.tpt` modules from `stdlib/`, embedded into the binary.

/// `(name, display path, text)` of every `std.*` module.
pub const MODULES: &[(&str, &str, &str)] = &[
    ("aws", "std/aws.tpt", include_str!("../../stdlib/aws.tpt")),
    ("k8s", "std/k8s.tpt", include_str!("../../stdlib/k8s.tpt")),
    ("state", "std/state.tpt", include_str!("../../stdlib/state.tpt")),
];

/// The display path and text of `std.NAME`.
pub fn module(name: &str) -> Option<(&'static str, &'static str)> {
    MODULES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, path, text)| (*path, *text))
}
