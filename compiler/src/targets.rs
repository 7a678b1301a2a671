//! The target checks of the language server: what `nplc build --target T`
//! would report, as a tracked query per (program, target), so that an edit
//! recomputes only the builds whose inputs it changed (a comment edit that
//! leaves the IR as it was recomputes nothing past lowering).
//!
//! Builds go through the public `emit::build` only; the resources are
//! dropped, the diagnostics kept. A program with errors of its own has no
//! target diagnostics: its fast diagnostics already say what is wrong.

use crate::diagnostic::{Code, Diagnostic};
use crate::emit::{self, Options, Target};
use crate::syntax::ast::Action;
use crate::{check, names, Db, Program};

/// The diagnostics of building `program` for `target` (errors and the
/// warnings the build adds), or none when the program has errors of its own.
#[salsa::tracked(returns(ref))]
pub fn diagnostics(db: &dyn Db, program: Program, target: Target) -> Vec<Diagnostic> {
    if check::source_diagnostics(db, program)
        .iter()
        .any(Diagnostic::is_error)
    {
        return Vec::new();
    }
    match emit::build(db, program, target, &Options::default()) {
        Ok(_) => Vec::new(),
        Err(diags) => diags,
    }
}

/// W0005 for every `allow … via` when a set of targets (a build's, `nplc
/// check --target`'s, the editor's `nplc.targets`) is not empty and lacks
/// `istio`: the network policy sends the source to the gateway, and nothing
/// routes the host's traffic there. A property of the set, not of one
/// target's build, so it is not in [`diagnostics`].
pub fn missing_routing(db: &dyn Db, program: Program, targets: &[Target]) -> Vec<Diagnostic> {
    if targets.is_empty() || targets.contains(&Target::Istio) {
        return Vec::new();
    }
    let resolved = names::resolve(db, program);
    resolved
        .rules
        .iter()
        .filter(|r| r.action == Action::Allow)
        .filter_map(|r| r.via.map(|g| (r, resolved.def(g))))
        .map(|(rule, gateway)| {
            let diag = Diagnostic::new(
                Code::ViaWithoutIstio,
                rule.span,
                format!(
                    "this `via` is built without the istio target: the network policy sends the source to gateway `{}` instead of the host, and nothing routes the host's traffic through the gateway",
                    gateway.name
                ),
            )
            .with_label("routed by the `istio` target")
            .with_help("add `--target istio` to the build (or apply the output of a build that has it)");
            match gateway.span {
                Some(span) => diag.with_secondary(span, "the gateway"),
                None => diag,
            }
        })
        .collect()
}
