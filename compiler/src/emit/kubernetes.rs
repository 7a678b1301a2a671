//! `--target kubernetes`: networking.k8s.io/v1 NetworkPolicy, typed with
//! k8s-openapi, emitted straight from the allow table.
//!
//! One policy per (namespace, direction, selected pod selector). NetworkPolicy
//! has no deny and no order, so tiers and denies are already resolved in the
//! table. What it cannot say — names (FQDN), L7, ICMP, the API server or the
//! node as destinations — is a coded error.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::selectors::{label_selector, label_selectors, namespaces_of};
use super::{metadata, target_error, Options, Resource, SourceLines, Target};
use crate::algebra::ipset::IpSet;
use crate::algebra::labels::Requirement;
use crate::algebra::ports::{PortSet, Protocol, FIRST_PORT, LAST_PORT};
use crate::allow::{AllowTable, Direction, DirectionTable, Entry};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::ir::{Ir, PeerSet, PodSet, PodTerm, Service};
use crate::names::Entity;

const TARGET: Target = Target::Kubernetes;

pub fn emit(
    ir: &Ir,
    table: &AllowTable,
    options: &Options,
    sources: &SourceLines<'_>,
) -> Result<Vec<Resource>, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut resources = Vec::new();
    for (direction, dir_table) in [
        (Direction::Ingress, &table.ingress),
        (Direction::Egress, &table.egress),
    ] {
        let groups = group_policies(ir, direction, dir_table, options, &mut errors);
        resources.extend(policies(ir, direction, groups, sources));
    }
    if errors.is_empty() {
        Ok(resources)
    } else {
        dedup_errors(&mut errors);
        Err(errors)
    }
}

pub(super) fn dedup_errors(errors: &mut Vec<Diagnostic>) {
    let mut seen = BTreeSet::new();
    errors.retain(|d| seen.insert((d.span.start, d.span.end, d.code, d.message.clone())));
    // An FQDN allow also allows the DNS lookups of its names (an L7 rule);
    // the name error already says what to do about that rule.
    let fqdn_rules: Vec<Span> = errors
        .iter()
        .filter(|d| d.code == Code::FqdnNeedsVia)
        .map(|d| d.span)
        .collect();
    errors.retain(|d| !(d.code == Code::L7NotSupported && fqdn_rules.contains(&d.span)));
}

/// A policy in the making: its subject and the rules collected for it.
struct Group {
    namespace: String,
    term: PodTerm,
    conjunction: Vec<Requirement>,
    rules: Vec<PolicyRule>,
    spans: Vec<Span>,
}

#[derive(Clone, PartialEq)]
struct PolicyRule {
    /// `None`: every peer.
    peers: Option<Vec<NetworkPolicyPeer>>,
    /// `None`: every port.
    ports: Option<Vec<NetworkPolicyPort>>,
}

type GroupKey = (String, Vec<Requirement>);

fn group_policies(
    ir: &Ir,
    direction: Direction,
    table: &DirectionTable,
    options: &Options,
    errors: &mut Vec<Diagnostic>,
) -> BTreeMap<GroupKey, Group> {
    // Every error points at a rule or zone; the prelude's zones always exist.
    let fallback = ir
        .rules()
        .next()
        .map(|r| r.span)
        .or_else(|| ir.zones.iter().find_map(|z| z.span));
    let Some(fallback) = fallback else {
        return BTreeMap::new();
    };
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    let mut add =
        |term: &PodTerm, rule: Option<(&PolicyRule, &[Span])>, errors: &mut Vec<Diagnostic>| {
            let Some(namespaces) = namespaces_of(term, options.namespaces.as_deref()) else {
                errors.push(needs_namespaces(ir, term, fallback));
                return;
            };
            for namespace in namespaces {
                for conj in term.pod.to_requirements() {
                    let group = groups
                        .entry((namespace.clone(), conj.clone()))
                        .or_insert_with(|| Group {
                            namespace: namespace.clone(),
                            term: term.clone(),
                            conjunction: conj.clone(),
                            rules: Vec::new(),
                            spans: Vec::new(),
                        });
                    if let Some((rule, spans)) = rule {
                        if !group.rules.contains(rule) {
                            group.rules.push(rule.clone());
                        }
                        group.spans.extend_from_slice(spans);
                    }
                }
            }
        };
    for term in &table.selected.terms {
        add(term, None, errors);
    }
    for entry in &table.entries {
        let selecting_deny = selecting_deny(ir, entry, direction);
        let anchor = entry
            .rules
            .first()
            .copied()
            .or(selecting_deny)
            .unwrap_or(fallback);
        match policy_rule(entry, direction, anchor) {
            Ok(Some(rule)) => {
                for term in &entry.local.terms {
                    add(term, Some((&rule, &entry.rules)), errors);
                }
            }
            Ok(None) => {}
            Err(mut diag) => {
                if entry.rules.is_empty() {
                    // The isolation default written out: say why it exists.
                    diag.message = format!(
                        "{}: this deny gives pods that are not isolated a policy, and that policy must allow everything else the program allows",
                        diag.message
                    );
                }
                errors.push(diag)
            }
        }
    }
    groups
}

fn needs_namespaces(ir: &Ir, term: &PodTerm, fallback: Span) -> Diagnostic {
    // The zone the policy is for: the one that is exactly this term, else one
    // containing it other than `cluster` (which contains every pod).
    let containing = |z: &&crate::ir::Zone| z.pods.terms.iter().any(|t| term.subset(t));
    let zone = ir
        .zones
        .iter()
        .find(|z| z.pods.terms.len() == 1 && z.pods.terms[0] == *term)
        .or_else(|| {
            ir.zones
                .iter()
                .filter(containing)
                .find(|z| z.pods != PodSet::all())
        })
        .or_else(|| ir.zones.iter().find(containing));
    let span = zone.and_then(|z| z.span).unwrap_or(fallback);
    let name = zone.map_or("a zone", |z| z.name.as_str());
    let what = if term.namespace == crate::algebra::labels::Term::all() {
        "selects pods in every namespace"
    } else {
        "selects namespaces by label"
    };
    target_error(
        Code::NeedsNamespaces,
        span,
        TARGET,
        format!("`{name}` {what}, and a NetworkPolicy lives in one namespace"),
        "pass the cluster's namespaces with `--namespaces NS.yaml` (from `kubectl get ns -o yaml`) to expand the policy per namespace, or use `--target cilium`, which selects namespaces by label",
    )
}

/// The deny rule that made an isolation-default entry's pods selected.
fn selecting_deny(ir: &Ir, entry: &Entry, direction: Direction) -> Option<Span> {
    if !entry.rules.is_empty() {
        return None;
    }
    ir.rules()
        .filter(|r| r.action == crate::syntax::ast::Action::Deny)
        .find(|r| {
            let local = match direction {
                Direction::Ingress => &r.destination.pods,
                Direction::Egress => &r.source.pods,
            };
            !local.intersection(&entry.local).is_empty()
        })
        .map(|r| r.span)
}

/// An allow-table entry as one NetworkPolicy rule; `Ok(None)` when nothing of
/// it needs writing (it allows only what Kubernetes always allows).
fn policy_rule(
    entry: &Entry,
    direction: Direction,
    anchor: Span,
) -> Result<Option<PolicyRule>, Diagnostic> {
    let error =
        |code: Code, message: String, help: &str| target_error(code, anchor, TARGET, message, help);
    let ports = ports(&entry.service).map_err(|(code, msg, help)| error(code, msg, help))?;
    let Some(ports) = ports else {
        return Ok(None);
    };
    let peers =
        peers(&entry.remote, direction).map_err(|(code, msg, help)| error(code, msg, help))?;
    match peers {
        Peers::Everyone => Ok(Some(PolicyRule { peers: None, ports })),
        Peers::Some(list) if list.is_empty() => Ok(None),
        Peers::Some(list) => Ok(Some(PolicyRule {
            peers: Some(list),
            ports,
        })),
    }
}

enum Peers {
    Everyone,
    Some(Vec<NetworkPolicyPeer>),
}

type TargetProblem = (Code, String, &'static str);

fn peers(remote: &PeerSet, direction: Direction) -> Result<Peers, TargetProblem> {
    let all_addresses = remote.ips == IpSet::all();
    if all_addresses && remote.pods == PodSet::all() {
        return Ok(Peers::Everyone);
    }
    // "Every name" (from `world`) is enforced by address: names resolve to
    // addresses, and the addresses allowed here are what the program allows.
    // This can only narrow (a name resolving into a denied range stays denied).
    if !remote.fqdns.is_empty() && !remote.fqdns.is_all() {
        return Err((
            Code::FqdnNeedsVia,
            format!(
                "NetworkPolicy cannot match host names ({})",
                super::fqdn_list(&remote.fqdns)
            ),
            "route the traffic through an egress gateway with `via` (see `gateway`), or build for `--target cilium`, which matches names with toFQDNs",
        ));
    }
    for entity in &remote.entities {
        let always_allowed =
            direction == Direction::Ingress && matches!(entity, Entity::Host | Entity::Health);
        if !always_allowed && !all_addresses {
            return Err((
                Code::EntityNotExpressible,
                format!("NetworkPolicy has no selector for `{}`", entity.name()),
                "name its addresses with a `cidr` peer instead (for the API server, the endpoints of `kubernetes.default`), or build for `--target cilium`, which has entities",
            ));
        }
    }
    let mut list = Vec::new();
    for term in &remote.pods.terms {
        for ns in label_selectors(&term.namespace) {
            for pod in label_selectors(&term.pod) {
                list.push(NetworkPolicyPeer {
                    namespace_selector: Some(ns.clone()),
                    pod_selector: (pod != LabelSelector::default()).then_some(pod),
                    ip_block: None,
                });
            }
        }
    }
    for (cidr, except) in remote.ips.to_blocks() {
        list.push(NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: cidr.to_string(),
                except: (!except.is_empty())
                    .then(|| except.iter().map(|e| e.to_string()).collect()),
            }),
            ..Default::default()
        });
    }
    Ok(Peers::Some(list))
}

/// `Ok(None)`: no port at all (nothing to write); `Ok(Some(None))`: every port.
#[allow(clippy::type_complexity)]
fn ports(service: &Service) -> Result<Option<Option<Vec<NetworkPolicyPort>>>, TargetProblem> {
    if !service.l7.is_any() {
        return Err((
            Code::L7NotSupported,
            "NetworkPolicy cannot filter HTTP requests or DNS names".to_string(),
            "build for `--target cilium`, which enforces `http` and `dns` rules, or drop the L7 block",
        ));
    }
    let ports = &service.ports;
    if ports.is_empty() {
        return Ok(None);
    }
    if *ports == PortSet::all() {
        return Ok(Some(None));
    }
    if ports.has_icmp() {
        return Err((
            Code::IcmpNotSupported,
            "NetworkPolicy cannot allow ICMP".to_string(),
            "build for `--target cilium` or `--target calico`, which match ICMP, or drop `icmp`",
        ));
    }
    let mut out = Vec::new();
    for protocol in Protocol::ALL {
        let name = protocol_name(protocol);
        for &(lo, hi) in ports.ranges(protocol).ranges() {
            let every = lo == FIRST_PORT && hi == LAST_PORT;
            out.push(NetworkPolicyPort {
                protocol: Some(name.to_string()),
                port: (!every).then_some(IntOrString::Int(i32::from(lo))),
                end_port: (!every && hi > lo).then_some(i32::from(hi)),
            });
        }
    }
    for (protocol, port_name) in ports.named_ports() {
        out.push(NetworkPolicyPort {
            protocol: Some(protocol_name(*protocol).to_string()),
            port: Some(IntOrString::String(port_name.clone())),
            end_port: None,
        });
    }
    Ok(Some(Some(out)))
}

pub fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

fn policies(
    ir: &Ir,
    direction: Direction,
    groups: BTreeMap<GroupKey, Group>,
    sources: &SourceLines<'_>,
) -> Vec<Resource> {
    let dir = match direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    };
    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    let mut out = Vec::new();
    for group in groups.into_values() {
        let name = policy_name(ir, &group, direction, dir, &used);
        used.insert((group.namespace.clone(), name.clone()));
        let ingress = (direction == Direction::Ingress).then(|| {
            group
                .rules
                .iter()
                .map(|r| NetworkPolicyIngressRule {
                    from: r.peers.clone(),
                    ports: r.ports.clone(),
                })
                .collect()
        });
        let egress = (direction == Direction::Egress).then(|| {
            group
                .rules
                .iter()
                .map(|r| NetworkPolicyEgressRule {
                    to: r.peers.clone(),
                    ports: r.ports.clone(),
                })
                .collect()
        });
        let policy = NetworkPolicy {
            metadata: metadata(
                &name,
                Some(&group.namespace),
                &sources.describe(&if group.spans.is_empty() {
                    super::origin_spans(ir, &group.term, direction)
                } else {
                    group.spans.clone()
                }),
            ),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(label_selector(&group.conjunction)),
                policy_types: Some(vec![if direction == Direction::Ingress {
                    "Ingress".to_string()
                } else {
                    "Egress".to_string()
                }]),
                ingress: ingress.filter(|r: &Vec<NetworkPolicyIngressRule>| !r.is_empty()),
                egress: egress.filter(|r: &Vec<NetworkPolicyEgressRule>| !r.is_empty()),
            }),
        };
        out.push(Resource {
            api_version: "networking.k8s.io/v1".to_string(),
            kind: "NetworkPolicy".to_string(),
            namespace: Some(group.namespace.clone()),
            name,
            document: super::to_json(&policy),
        });
    }
    out
}

/// `ZONE-DIRECTION` when the policy's subject is exactly a zone; otherwise
/// the most specific containing zone plus a hash of the selector (see
/// [`super::names::policy_name`]).
fn policy_name(
    ir: &Ir,
    group: &Group,
    direction: Direction,
    dir: &str,
    used: &BTreeSet<(String, String)>,
) -> String {
    let single_conj = group.term.pod.to_requirements().len() == 1;
    super::names::policy_name(
        super::names::exact_zone(ir, &group.term, direction),
        single_conj,
        dir,
        super::names::most_specific_zone(ir, &group.term, direction),
        &format!("{:?}{:?}", group.term, group.conjunction),
        |name| used.contains(&(group.namespace.clone(), name.to_string())),
    )
}
