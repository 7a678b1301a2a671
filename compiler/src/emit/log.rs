//! `log` rules on the targets without a log action. A `log` decides nothing,
//! so leaving it out keeps every verdict: the build goes on, with W0013 per
//! rule naming the targets that drop it and what to observe with instead.
//! Calico writes them (its `Log` action); the istio target only routes `via`.

use super::Target;
use crate::db::{Db, Program};
use crate::diagnostic::{Code, Diagnostic};
use crate::names;
use crate::syntax::ast::Action;

/// W0013 for every `log` rule when `targets` include kubernetes or cilium.
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
