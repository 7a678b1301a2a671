//! The API server's listener: TCP 443 (the `kubernetes` Service's port) and
//! TCP 6443 (the endpoints' usual port) are one listener towards
//! `kube-apiserver` (docs/semantics.md). The evaluator matches ports with it
//! (`eval::apiserver_port_matches`); the backends and the lints see each rule
//! that names one of the two split so that set operations on ports see both.

use std::borrow::Cow;

use crate::algebra::ports::{PortSet, Protocol};
use crate::ir::{Entity, Ir, PeerSet, Rule};

/// The API server's listener as a rule towards `kube-apiserver` names it:
/// TCP 443, the port of the `kubernetes` Service that clients connect to,
/// and TCP 6443, the endpoint port API servers usually serve on and the
/// Service rewrites 443 to before any policy sees the packet.
pub const APISERVER_LISTENER_PORTS: [u16; 2] = [443, 6443];

/// A rule towards `kube-apiserver` whose ports hold one of
/// [`APISERVER_LISTENER_PORTS`] but not both, as two rules of the same
/// meaning ([`apiserver_port_matches`]) and span: the rule without the API
/// server (if it has other peers), and the rule towards the API server with
/// both ports. `None` for every other rule. Set operations on ports (a deny
/// carved out of an allow, a deny narrowed by an earlier tier's allow, the
/// lints' regions) then see the listener.
pub fn apiserver_listener_parts(rule: &Rule) -> Option<Vec<Rule>> {
    let ports = &rule.service.ports;
    let names = |p: &u16| ports.contains(Protocol::Tcp, *p, None);
    if !rule.destination.entities.contains(&Entity::KubeApiserver)
        || !APISERVER_LISTENER_PORTS.iter().any(names)
        || APISERVER_LISTENER_PORTS.iter().all(names)
    {
        return None;
    }
    let mut parts = Vec::with_capacity(2);
    let mut rest = rule.clone();
    rest.destination.entities.remove(&Entity::KubeApiserver);
    if !rest.destination.is_empty() {
        parts.push(rest);
    }
    let mut api = rule.clone();
    api.destination = PeerSet::entity(Entity::KubeApiserver);
    for p in APISERVER_LISTENER_PORTS {
        api.service.ports = api.service.ports.union(&PortSet::port(Protocol::Tcp, p));
    }
    parts.push(api);
    Some(parts)
}

/// The program with each rule split by [`apiserver_listener_parts`], as the
/// backends write it (borrowed when no rule needs it).
pub fn with_apiserver_listener(ir: &Ir) -> Cow<'_, Ir> {
    if !ir.rules().any(|r| apiserver_listener_parts(r).is_some()) {
        return Cow::Borrowed(ir);
    }
    let mut out = ir.clone();
    for tier in &mut out.tiers {
        tier.rules = tier
            .rules
            .iter()
            .flat_map(|rule| apiserver_listener_parts(rule).unwrap_or_else(|| vec![rule.clone()]))
            .collect();
    }
    Cow::Owned(out)
}
