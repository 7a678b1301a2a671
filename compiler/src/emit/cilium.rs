//! `--target cilium`: cilium.io/v2 CiliumNetworkPolicy and
//! CiliumClusterwideNetworkPolicy, lowered from the program's rules with
//! Cilium's own constructs (LANGUAGE.md §4.6):
//!
//! - one policy per zone, holding its ingress and egress rules as written
//!   (`sides`, `policies`): `allow A -> B` is an egress rule in A's policy
//!   and an ingress rule in B's;
//! - `deny` → `ingressDeny` / `egressDeny` (deny beats allow in Cilium, as in
//!   one NPL tier); a deny that an earlier tier's allow overrides is written
//!   minus exactly those allows;
//! - isolation → `enableDefaultDeny`: `true` for the directions a zone
//!   isolates, `false` on the others, so an allow to an open zone does not
//!   isolate it (an endpoint is default-deny when any policy selecting it
//!   asks for it, which is NPL's union of isolating zones).
//!
//! What Cilium cannot say exactly is adjusted exactly or refused with a
//! coded error (`exact`); see docs/targets.md.

mod crd;
mod exact;
mod policies;
mod rules;
mod selectors;
mod sides;

use super::{dedup_errors, Resource, SourceLines, Target};
use crate::diagnostic::Diagnostic;
use crate::ir::Direction;
use crate::ir::Ir;

pub use selectors::{NAMESPACE_LABELS_PREFIX, POD_NAMESPACE_LABEL};

const TARGET: Target = Target::Cilium;

pub fn emit(ir: &Ir, sources: &SourceLines<'_>) -> Result<Vec<Resource>, Vec<Diagnostic>> {
    // 443 and 6443 are one listener towards the API server, and Cilium sees
    // a connection through the `kubernetes` Service on the endpoint's port.
    let with_listener = crate::ir::listener::with_apiserver_listener(ir);
    let ir: &Ir = &with_listener;
    let zones = sides::RuleZones::new(ir);
    let mut errors = Vec::new();
    let (all, denies) = sides::sides(ir, &zones, &mut errors);
    let adjusted = exact::adjust(ir, all, &mut errors);
    let (egress, ingress): (Vec<_>, Vec<_>) = adjusted
        .into_iter()
        .partition(|s| s.direction == Direction::Egress);
    let dns_servers = ir.zone_named("kube-dns").map(|z| &z.pods);
    let mut resolved_sides = exact::resolve_mixed_l7(ingress, None, &mut errors);
    let egress = exact::resolve_mixed_l7(egress, dns_servers, &mut errors);
    exact::check_lookups(ir, &egress, &denies, &mut errors);
    resolved_sides.extend(egress);
    if !errors.is_empty() {
        dedup_errors(&mut errors);
        return Err(errors);
    }
    Ok(policies::policies(ir, &resolved_sides, sources))
}
