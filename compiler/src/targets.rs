//! The target checks of the language server: what `nplc build --target T`
//! would report, as a tracked query per (program, target), so that an edit
//! recomputes only the builds whose inputs it changed (a comment edit that
//! leaves the IR as it was recomputes nothing past lowering).
//!
//! Builds go through the public `emit::build` only; the resources are
//! dropped, the diagnostics kept. A program with errors of its own has no
//! target diagnostics: its fast diagnostics already say what is wrong.
//!
//! Also the warnings a set of targets adds to a build, read from the
//! program (the backends below `emit::build` see only the IR).

use crate::diagnostic::{Code, Diagnostic};
use crate::emit::{self, Options, Target};
use crate::ir::{self, Action};
use crate::{check, names, Db, Program};

/// The diagnostics of building `program` for `target` (errors and the
/// warnings the build adds), or none when the program has errors of its own.
#[salsa::tracked(returns(ref))]
pub fn diagnostics(db: &dyn Db, program: Program, target: Target) -> Vec<Diagnostic> {
    build_diagnostics(db, program, target, &Options::default())
}

/// [`diagnostics`] for a build that knows more than the program (the
/// inventories of a project's nplc.toml: the API server's endpoints, the
/// cluster's ranges). Options are not database inputs, so only the default
/// build is tracked.
pub fn diagnostics_with(
    db: &dyn Db,
    program: Program,
    target: Target,
    options: &Options,
) -> Vec<Diagnostic> {
    if *options == Options::default() {
        return diagnostics(db, program, target).clone();
    }
    build_diagnostics(db, program, target, options)
}

fn build_diagnostics(
    db: &dyn Db,
    program: Program,
    target: Target,
    options: &Options,
) -> Vec<Diagnostic> {
    if check::source_diagnostics(db, program)
        .iter()
        .any(Diagnostic::is_error)
    {
        return Vec::new();
    }
    match emit::build(db, program, target, options) {
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

/// The warnings of a kubernetes build (W0014, W0015; see
/// `emit::kubernetes::warnings`), none for a program with errors.
pub fn kubernetes_warnings(db: &dyn Db, program: Program, options: &Options) -> Vec<Diagnostic> {
    match ir::lower(db, program) {
        Some(ir) => emit::kubernetes::warnings(ir, options),
        None => Vec::new(),
    }
}

/// W0013 for every `log` rule when `targets` include kubernetes or cilium,
/// which have no log action. A `log` decides nothing, so leaving it out
/// keeps every verdict: the build goes on, with the warning naming the
/// targets that drop it and what to observe with instead. Calico writes
/// them (its `Log` action); the istio target only routes `via`.
pub fn dropped_logs(db: &dyn Db, program: Program, targets: &[Target]) -> Vec<Diagnostic> {
    let without: Vec<Target> = targets
        .iter()
        .copied()
        .filter(|t| matches!(t, Target::Kubernetes | Target::Cilium))
        .collect();
    if without.is_empty() {
        return Vec::new();
    }
    let names: Vec<&str> = without.iter().map(|t| t.as_str()).collect();
    let help = if without == [Target::Kubernetes] {
        "NetworkPolicy has no log action: build for `--target calico` to log, or observe with your CNI's flow logs"
    } else {
        "Cilium has no log rule: observe a rollout with its policy audit mode (agent-wide `policy-audit-mode: \"true\"` or per endpoint `cilium-dbg endpoint config ID PolicyAuditMode=Enabled`) and `hubble observe --verdict AUDIT` (docs/targets.md, Rollout); to log per rule, build for `--target calico`"
    };
    // From the resolved rules, not the IR's `Tier::logs`: the warning also
    // goes with the errors of a program that has some.
    names::resolve(db, program)
        .rules
        .iter()
        .filter(|r| r.action == Action::Log)
        .map(|rule| {
            Diagnostic::new(
                Code::LogNotSupported,
                rule.span,
                format!(
                    "this `log` is left out of the {} output, which has no log action",
                    names.join(" and ")
                ),
            )
            .with_label("records nothing there")
            .with_help(help)
        })
        .collect()
}
