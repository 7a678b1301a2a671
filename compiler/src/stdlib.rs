//! The standard library: NPL modules embedded in the binary.

/// `(import path, source)` of every module. `std/prelude` is imported
/// implicitly by every file.
pub const MODULES: &[(&str, &str)] = &[
    ("std/prelude", include_str!("../../stdlib/std/prelude.npl")),
    (
        "std/baseline",
        include_str!("../../stdlib/std/baseline.npl"),
    ),
    ("std/k8s", include_str!("../../stdlib/std/k8s.npl")),
    ("std/homelab", include_str!("../../stdlib/std/homelab.npl")),
];

pub const PRELUDE: &str = "std/prelude";

pub fn is_std_path(path: &str) -> bool {
    path == "std" || path.starts_with("std/")
}

pub fn source(path: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, text)| *text)
}
