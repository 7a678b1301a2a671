//! `--target calico`: projectcalico.org/v3 Tiers and (Global)NetworkPolicies.
//!
//! Calico has ordered tiers, ordered policies and Allow/Deny/Pass, so unlike
//! the kubernetes and cilium targets this one is written from the IR's rules,
//! not from the allow table, and the program's tiers stay visible:
//!
//! - Both sides of every rule: an egress rule in a policy selecting the
//!   source's pods, an ingress rule in one selecting the destination's.
//!   Calico decides a connection as egress at the source and ingress at the
//!   destination; each side walks the same rules in the same order, so each
//!   reaches the program's verdict, and a side that is not pods needs none.
//! - One policy per tier, deny or allow band, zone and direction, named from
//!   the source (`ZONE-ingress`, `TIER.ZONE-egress-deny`; [`naming`]), so a
//!   rule's edit changes its source's and its destination's policies only.
//! - Each declared tier is a Calico Tier (declaration order); in it the
//!   policies holding its denies come before those holding its allows (the
//!   first matching rule of a tier decides), and a last policy passes
//!   every pod on to the next tier. Rules outside tiers go to Calico's
//!   `default` tier, which ends with the isolation defaults written out: a
//!   Deny for the pods of isolated zones, then an Allow for every pod. Every
//!   pod is thus decided by these policies, whatever Calico's profiles say.
//! - `--calico-flat` packs the same policies into order bands of the default
//!   tier, without Tiers and Pass: falling through to the next band is the
//!   next tier.
//! - `--staged` writes Staged(Global)NetworkPolicies with the same contents.
//! - HTTP filters: Calico's application layer policy matches requests on
//!   ingress, in Allow rules, so an `http` allow is exact on its ingress side
//!   and written without the filter on its egress side (which then lets
//!   through at least what the program allows; both sides must agree).
//! - `--calico-enterprise`: exact host names become `destination.domains`.
//!
//! What Calico cannot say exactly is a coded error; see docs/targets.md.

mod crd;
mod naming;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use rayon::prelude::*;

use self::crd::{
    Document, EntityRule, HttpMatch, HttpPath, IcmpMatch, PolicySpec, Port, Rule, ServiceMatch,
    TierSpec, API_VERSION,
};
use self::naming::ZoneNames;
use super::common::protocol_name;
use super::dedup_errors;
use super::selectors::pinned_names;
use super::{metadata, target_error, Options, Resource, SourceLines, Target};
use crate::algebra::fqdn::FqdnPattern;
use crate::algebra::icmp::{IcmpFamily, IcmpPart, IcmpSet};
use crate::algebra::ipset::IpSet;
use crate::algebra::labels::{Operator, Requirement, Term};
use crate::algebra::ports::{PortSet, Protocol, FIRST_PORT, LAST_PORT};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::ir::{Action, Direction, Entity};
use crate::ir::{
    Ir, PeerSet, PodSet, PodTerm, Rule as IrRule, RuleRole, Service, L7, NAMESPACE_NAME_LABEL,
};

/// The namespace label Calico gives every namespace with its own name.
pub const CALICO_NAMESPACE_NAME: &str = "projectcalico.org/name";
/// The label Calico gives every pod (workload endpoint) with its namespace.
const CALICO_POD_NAMESPACE: &str = "projectcalico.org/namespace";

/// Calico Tier orders of the declared tiers: 100, 200, ... The `default`
/// tier comes after them (order 1,000,000 since Calico 3.28; last before).
const TIER_ORDER_STEP: u32 = 100;

/// Policy orders inside a tier (or, flat, inside a tier's band).
const LOG_ORDER: u32 = 50;
const DENY_ORDER: u32 = 100;
const ALLOW_ORDER: u32 = 200;
/// The end of a declared tier, and of the default tier.
const PASS_ORDER: u32 = 1000;
const ISOLATION_ORDER: u32 = 900;
const FLAT_BAND: u32 = 1000;

/// The logs of a tier, then its denies, then its allows: a tier's first
/// matching Allow or Deny decides, and a Log rule records the connection and
/// goes on, so the logs first see every connection that reaches the tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Band {
    Log,
    Deny,
    Allow,
}

impl Band {
    fn of(action: Action) -> Band {
        match action {
            Action::Allow => Band::Allow,
            Action::Deny => Band::Deny,
            Action::Log => Band::Log,
        }
    }

    /// The Calico action of its rules.
    fn action(self) -> &'static str {
        match self {
            Band::Log => "Log",
            Band::Deny => "Deny",
            Band::Allow => "Allow",
        }
    }

    fn order(self) -> u32 {
        match self {
            Band::Log => LOG_ORDER,
            Band::Deny => DENY_ORDER,
            Band::Allow => ALLOW_ORDER,
        }
    }
}

/// Where a policy sits: its tier (index), band, selected pod term and
/// direction. One policy per key, named after the key (see [`naming`]).
type PolicyKey = (usize, Band, PodTerm, Direction);

/// The policy of one band of one tier for one selected pod term, in one
/// direction.
#[derive(Default)]
struct Policy {
    /// In the order added, with repeats: sorted and deduplicated (as a set)
    /// when written, on every core.
    rules: Vec<Rule>,
    /// The program's rules it holds.
    spans: Vec<Span>,
    /// A rule matches addresses: the policy must be global, where a rule's
    /// `notSelector` can keep pods out of its `nets` (see [`address_peers`]).
    global: bool,
}

type Problem = (Code, String, &'static str);

/// Rules worked out on every core at a time, and documents rendered.
const RULES_PER_CHUNK: usize = 4096;

pub fn emit(
    ir: &Ir,
    options: &Options,
    sources: &SourceLines<'_>,
) -> Result<Vec<Resource>, Vec<Diagnostic>> {
    // The API server's part of a rule is a rule of its own (its Service
    // match), also where the rule's other peers cover every address.
    let with_listener = crate::ir::listener::with_apiserver_listener(ir);
    let ir: &Ir = &with_listener;
    // Each rule's sides are worked out on every core, in program order;
    // they are gathered into policies on one.
    let rules: Vec<(usize, &IrRule)> = ir
        .tiers
        .iter()
        .enumerate()
        .flat_map(|(index, tier)| tier.logs.iter().chain(&tier.rules).map(move |r| (index, r)))
        .collect();
    let enterprise = options.calico_enterprise;
    let selectors = Selectors::of_zones(ir);
    let gateway_egress = GatewayEgress::of(ir);
    // Gathered by hash (a `PodTerm` hashes once but compares key by key,
    // and this is the one serial step), then sorted on every core.
    let mut policies: HashMap<PolicyKey, Policy> = HashMap::new();
    let mut errors = Vec::new();
    // In chunks, so that only a chunk's sides wait to be gathered.
    for chunk in rules.chunks(RULES_PER_CHUNK) {
        let sides: Vec<Result<Vec<Side>, Problem>> = chunk
            .par_iter()
            .map(|&(tier, rule)| {
                let rule = gateway_side(&gateway_egress, rule, enterprise)?;
                rule_sides(&selectors, tier, &rule, enterprise)
            })
            .collect();
        for ((_, rule), sides) in chunk.iter().zip(sides) {
            match sides {
                Ok(sides) => add_sides(&mut policies, rule, sides),
                Err((code, message, help)) => {
                    errors.push(target_error(code, rule.span, Target::Calico, message, help))
                }
            }
        }
    }
    if !errors.is_empty() {
        dedup_errors(&mut errors);
        return Err(errors);
    }
    let writer = Writer {
        ir,
        default_tier: ir.tiers.len().saturating_sub(1),
        flat: options.calico_flat,
        staged: options.calico_staged,
        sources,
        zones: ZoneNames::new(ir),
    };
    // Names here; the source annotations, the rules' order and the YAML
    // of every document on every core, a chunk at a time so that few
    // documents wait as structs.
    let mut renderer = Renderer {
        sources,
        pending: Vec::new(),
        done: Vec::new(),
    };
    let mut policies: Vec<(PolicyKey, Policy)> = policies.into_iter().collect();
    policies.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    writer.drafts(policies, &mut renderer);
    Ok(renderer.finish())
}

/// Renders drafts on every core, [`RULES_PER_CHUNK`] at a time, in order.
struct Renderer<'a, 'db> {
    sources: &'a SourceLines<'db>,
    pending: Vec<Draft>,
    done: Vec<Resource>,
}

impl Renderer<'_, '_> {
    fn push(&mut self, draft: Draft) {
        self.pending.push(draft);
        if self.pending.len() >= RULES_PER_CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let sources = self.sources;
        self.done
            .par_extend(pending.into_par_iter().map(|d| d.render(sources)));
    }

    fn finish(mut self) -> Vec<Resource> {
        self.flush();
        self.done
    }
}

/// What decides a gateway's own egress, worked out once for every `via`
/// rule: the pods isolated for egress, and the sources of the denies
/// towards addresses or names.
struct GatewayEgress<'a> {
    isolated: PodSet,
    denied: Vec<&'a PodSet>,
}

impl<'a> GatewayEgress<'a> {
    fn of(ir: &'a Ir) -> GatewayEgress<'a> {
        // Only `via` rules ask; the union of isolated pods is not free.
        if !ir.rules().any(|r| r.role == RuleRole::FromGateway) {
            return GatewayEgress {
                isolated: PodSet::none(),
                denied: Vec::new(),
            };
        }
        let denied = ir
            .rules()
            .filter(|r| {
                let dst = &r.destination;
                r.action == Action::Deny
                    && (!dst.ips.is_empty() || !dst.fqdns.is_empty() || !dst.entities.is_empty())
            })
            .map(|r| &r.source.pods)
            .collect();
        GatewayEgress {
            isolated: ir.isolated_egress(),
            denied,
        }
    }
}

/// A `via` rule's gateway side (gateway pods → the host) without the host's
/// names, which Calico open source cannot match, when leaving them out is
/// exact: as on the kubernetes target, the gateway's egress is then decided
/// by what the program says for its pods — open, since no zone isolates
/// their egress and no `deny` names them towards addresses or names — and
/// the policies' last step allows it. Otherwise an error that does not send
/// the user to `via` again. Other rules are returned as they are.
fn gateway_side<'r>(
    egress: &GatewayEgress<'_>,
    rule: &'r IrRule,
    enterprise: bool,
) -> Result<Cow<'r, IrRule>, Problem> {
    let names = &rule.destination.fqdns;
    if rule.role != RuleRole::FromGateway || names.is_empty() || names.is_all() {
        return Ok(Cow::Borrowed(rule));
    }
    let gateway = &rule.source.pods;
    let isolated = !egress.isolated.intersection(gateway).is_empty();
    let denied = egress
        .denied
        .iter()
        .any(|pods| !pods.intersection(gateway).is_empty());
    if (isolated || denied) && enterprise {
        // Calico Enterprise's `domains` say it (`peers`).
        return Ok(Cow::Borrowed(rule));
    }
    if isolated || denied {
        let why = if isolated {
            "its pods are isolated for egress"
        } else {
            "a `deny` names its pods towards addresses or names"
        };
        return Err((
            Code::FqdnNeedsVia,
            format!(
                "Calico (open source) cannot match host names ({}), which the gateway's own egress would need: {why}",
                super::fqdn_list(names)
            ),
            "let the gateway's zone keep open egress (`isolate ingress` or `isolate none`) and deny nothing from it towards addresses, build with `--calico-enterprise` for a Calico Enterprise cluster, or build for `--target cilium`",
        ));
    }
    let mut kept = rule.clone();
    kept.destination.fqdns = crate::algebra::fqdn::FqdnSet::none();
    Ok(Cow::Owned(kept))
}

/// The peer of each zone's pod terms, written once before the rules (on
/// every core): the same zones are the peers of many rules (every zone's
/// rule to kube-dns), and a selector's text costs more than a lookup.
struct Selectors<'a> {
    peers: HashMap<&'a PodTerm, EntityRule>,
}

impl<'a> Selectors<'a> {
    fn of_zones(ir: &'a Ir) -> Selectors<'a> {
        let peers = ir
            .zones
            .par_iter()
            .flat_map_iter(|zone| &zone.pods.terms)
            .map(|term| (term, entity_peer(term)))
            .collect();
        Selectors { peers }
    }

    /// A term no zone has (a narrowed one) is written when it is met.
    fn peer(&self, term: &PodTerm) -> EntityRule {
        match self.peers.get(term) {
            Some(peer) => peer.clone(),
            None => entity_peer(term),
        }
    }
}

fn entity_peer(term: &PodTerm) -> EntityRule {
    EntityRule {
        namespace_selector: Some(namespace_selector(&term.namespace)),
        selector: pod_selector(&term.pod),
        ..EntityRule::default()
    }
}

/// One side of a rule: the Calico rules it adds, in `direction`, to the
/// policy of each term of its local pods.
struct Side {
    tier: usize,
    band: Band,
    direction: Direction,
    rules: Vec<Rule>,
    global: bool,
}

/// Both sides of a rule (a side whose local end is not pods has none).
fn rule_sides(
    selectors: &Selectors<'_>,
    tier: usize,
    rule: &IrRule,
    enterprise: bool,
) -> Result<Vec<Side>, Problem> {
    let band = Band::of(rule.action);
    let variants = service_variants(&rule.service)?;
    let http = http_filter(rule)?;
    let mut out = Vec::new();
    for direction in [Direction::Egress, Direction::Ingress] {
        let (local, remote) = match direction {
            Direction::Egress => (&rule.source, &rule.destination),
            Direction::Ingress => (&rule.destination, &rule.source),
        };
        if local.pods.is_empty() {
            continue;
        }
        let enterprise = enterprise.then_some(rule.role == RuleRole::FromGateway);
        let (peers, global) = peers(selectors, remote, direction, rule.action, enterprise)?;
        let requests: Vec<Option<HttpMatch>> = match (&http, direction) {
            (Some(matches), Direction::Ingress) => matches.iter().cloned().map(Some).collect(),
            // The egress side of an HTTP allow is its L4 form: it lets
            // through at least what the program allows, and the ingress
            // side, exact, decides each request.
            _ => vec![None],
        };
        let mut rules = Vec::new();
        for peer in &peers {
            if peer.services.is_some() && direction == Direction::Egress {
                rules.push(api_server_egress_rule(band.action(), peer, &rule.service)?);
                continue;
            }
            for (protocol, ports, icmp) in &variants {
                for request in &requests {
                    rules.push(calico_rule(
                        band.action(),
                        direction,
                        peer,
                        (*protocol, *icmp),
                        ports,
                        request.clone(),
                    ));
                }
            }
        }
        if rules.is_empty() {
            continue;
        }
        out.push(Side {
            tier,
            band,
            direction,
            rules,
            global,
        });
    }
    Ok(out)
}

/// The sides of `rule` into the policies of its local terms (a gateway
/// side keeps the rule's pods, so they are read from the rule itself).
fn add_sides(policies: &mut HashMap<PolicyKey, Policy>, rule: &IrRule, sides: Vec<Side>) {
    for side in sides {
        let local = match side.direction {
            Direction::Egress => &rule.source.pods.terms,
            Direction::Ingress => &rule.destination.pods.terms,
        };
        let last = local.len().saturating_sub(1);
        let mut rules = Some(side.rules);
        for (i, term) in local.iter().enumerate() {
            let policy = policies
                .entry((side.tier, side.band, term.clone(), side.direction))
                .or_default();
            // The last term takes the rules, the others copies.
            let these = if i == last {
                rules.take().unwrap_or_default()
            } else {
                rules.clone().unwrap_or_default()
            };
            policy.rules.extend(these);
            policy.spans.push(rule.span);
            policy.global |= side.global;
        }
    }
}

fn calico_rule(
    action: &'static str,
    direction: Direction,
    peer: &EntityRule,
    (protocol, icmp): (Option<&'static str>, Option<IcmpMatch>),
    ports: &[Port],
    http: Option<HttpMatch>,
) -> Rule {
    let ports_only = EntityRule {
        ports: ports.to_vec(),
        ..EntityRule::default()
    };
    let some = |e: EntityRule| (!e.is_empty()).then_some(e);
    match direction {
        Direction::Ingress => Rule {
            action,
            protocol,
            icmp,
            http,
            source: some(peer.clone()),
            destination: some(ports_only),
        },
        Direction::Egress => Rule {
            action,
            protocol,
            icmp,
            http: None,
            source: None,
            destination: some(EntityRule {
                ports: ports.to_vec(),
                ..peer.clone()
            }),
        },
    }
}

/// The peers of a rule side as Calico entity rules (an empty one matches
/// everything), and whether one of them matches addresses.
fn peers(
    selectors: &Selectors<'_>,
    remote: &PeerSet,
    direction: Direction,
    action: Action,
    // `Some(through a gateway)` with `--calico-enterprise`.
    enterprise: Option<bool>,
) -> Result<(Vec<EntityRule>, bool), Problem> {
    let all_addresses = remote.ips == IpSet::all();
    let mut api_server = false;
    for entity in &remote.entities {
        // Like every NetworkPolicy implementation, Calico lets a node reach
        // its own pods (kubelet probes): an allow from it needs nothing.
        let always_allowed = direction == Direction::Ingress
            && action == Action::Allow
            && matches!(entity, Entity::Host | Entity::Health);
        if always_allowed || all_addresses {
            continue;
        }
        match entity {
            Entity::KubeApiserver => api_server = true,
            Entity::Host | Entity::Health => {
                return Err((
                    Code::EntityNotExpressible,
                    format!("Calico has no selector for `{}`, the pod's own node", entity.name()),
                    "Calico selects nodes only through host endpoints, all nodes at once; name the nodes' addresses with a `cidr` peer (every node, not only the pod's own), or build for `--target cilium`, which has the `host` entity",
                ))
            }
            Entity::World => {}
        }
    }
    // "Every name" (from `world`) is enforced by address (a narrowing when
    // some addresses are not allowed: docs/targets.md).
    let by_address = remote.fqdns.is_empty() || remote.fqdns.is_all();
    let domains = if by_address {
        Vec::new()
    } else if let Some(through_gateway) = enterprise {
        domains(remote, direction, action, through_gateway)?
    } else {
        return Err((
            Code::FqdnNeedsVia,
            format!(
                "Calico (open source) cannot match host names ({})",
                super::fqdn_list(&remote.fqdns)
            ),
            "route the traffic through an egress gateway with `via` (see `gateway`), build with `--calico-enterprise` for a Calico Enterprise cluster, or build for `--target cilium`, which matches names with toFQDNs",
        ));
    };
    if remote.pods == PodSet::all() && all_addresses {
        return Ok((vec![EntityRule::default()], false));
    }
    let mut out: Vec<EntityRule> = remote
        .pods
        .terms
        .iter()
        .map(|term| selectors.peer(term))
        .collect();
    let addresses = address_peers(remote);
    let global = !addresses.is_empty();
    out.extend(addresses);
    if api_server {
        out.push(api_server_peer());
    }
    if !domains.is_empty() {
        out.push(EntityRule {
            domains,
            ..EntityRule::default()
        });
    }
    Ok((out, global))
}

/// The API server as Calico sees it: the endpoints of Service
/// `default/kubernetes` ("Use service rules in policy").
fn api_server_peer() -> EntityRule {
    EntityRule {
        services: Some(ServiceMatch {
            name: "kubernetes",
            namespace: "default",
        }),
        ..EntityRule::default()
    }
}

/// The ports API servers serve on: 6443 (kubeadm, k3s, kind) and 443
/// (managed clusters).
const API_SERVER_PORTS: [u16; 2] = [6443, 443];

/// A destination Service match takes no `ports`: Calico matches the
/// endpoints' own port. That is the rule's meaning when the rule's ports
/// hold the port the API server serves on, so the rule must name 443 or
/// 6443 over TCP; the match is then written once, TCP only.
fn api_server_egress_rule(
    action: &'static str,
    peer: &EntityRule,
    service: &Service,
) -> Result<Rule, Problem> {
    let serves = API_SERVER_PORTS
        .iter()
        .any(|&p| service.ports.contains(Protocol::Tcp, p, None));
    if !serves {
        return Err((
            Code::EntityNotExpressible,
            "Calico matches `kube-apiserver` (Service default/kubernetes) on the port its endpoints serve, which this rule's ports do not include".to_string(),
            "add the port your API server serves on (`tcp/6443`, or 443 on managed clusters) to the rule, or build for `--target cilium`, which has the `kube-apiserver` entity",
        ));
    }
    Ok(Rule {
        action,
        protocol: Some("TCP"),
        icmp: None,
        http: None,
        source: None,
        destination: Some(peer.clone()),
    })
}

/// Host names as Calico Enterprise `domains`: egress Allow rules only, and
/// exact names only, because Calico Enterprise's `*` stands for one or more
/// labels where the program's stands for exactly one. Calico Enterprise
/// allows the addresses its trusted DNS servers (kube-dns) returned for the
/// names; the lookups themselves are the program's own allows to kube-dns,
/// which every FQDN allow brings with it.
fn domains(
    remote: &PeerSet,
    direction: Direction,
    action: Action,
    through_gateway: bool,
) -> Result<Vec<String>, Problem> {
    let names = super::fqdn_list(&remote.fqdns);
    if direction != Direction::Egress || action != Action::Allow {
        return Err((
            Code::FqdnNeedsVia,
            format!("Calico Enterprise matches host names ({names}) in egress Allow rules only"),
            "deny the names' addresses with a `cidr` peer, or build for `--target cilium`",
        ));
    }
    let mut out = Vec::new();
    for pattern in remote.fqdns.patterns() {
        match pattern {
            FqdnPattern::Name(name) => out.push(name.clone()),
            FqdnPattern::Wildcard(_) => {
                return Err((
                    Code::FqdnNeedsVia,
                    format!("Calico Enterprise's `*` in `{pattern}` matches one or more labels, the program's exactly one"),
                    if through_gateway {
                        "list the names the wildcard stands for, or build for `--target cilium`"
                    } else {
                        "list the names the wildcard stands for, route the traffic through an egress gateway with `via`, or build for `--target cilium`"
                    },
                ))
            }
        }
    }
    Ok(out)
}

/// Calico matches `nets` by address, pods' addresses included; the program's
/// addresses are outside the pod network. `notSelector` keeps every pod out
/// (pods carry `projectcalico.org/namespace`); in a GlobalNetworkPolicy it is
/// not scoped to a namespace, so such rules live in global policies.
fn address_peers(remote: &PeerSet) -> Vec<EntityRule> {
    remote
        .ips
        .to_blocks()
        .into_iter()
        .map(|(cidr, excepts)| EntityRule {
            not_selector: Some(format!("has({CALICO_POD_NAMESPACE})")),
            nets: vec![cidr.to_string()],
            not_nets: excepts.iter().map(|e| e.to_string()).collect(),
            ..EntityRule::default()
        })
        .collect()
}

/// A protocol (`None`: every one) with its destination ports (none: all)
/// and, for ICMP, the type (and code) matched (`None`: every message).
type Variant = (Option<&'static str>, Vec<Port>, Option<IcmpMatch>);

/// A service as (protocol, destination ports) pairs, one Calico rule each;
/// `(None, [])` is every protocol and port.
fn service_variants(service: &Service) -> Result<Vec<Variant>, Problem> {
    let ports = &service.ports;
    if *ports == PortSet::all() {
        return Ok(vec![(None, Vec::new(), None)]);
    }
    let mut out = Vec::new();
    for protocol in Protocol::ALL {
        let ranges = ports.ranges(protocol).ranges();
        let named = ports
            .named_ports()
            .iter()
            .filter(|(p, _)| *p == protocol)
            .map(|(_, name)| Port::Text(name.clone()));
        if ranges == [(FIRST_PORT, LAST_PORT)] {
            out.push((Some(protocol_name(protocol)), Vec::new(), None));
            continue;
        }
        let list: Vec<Port> = ranges
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    Port::Number(lo)
                } else {
                    Port::Text(format!("{lo}:{hi}"))
                }
            })
            .chain(named)
            .collect();
        if !list.is_empty() {
            out.push((Some(protocol_name(protocol)), list, None));
        }
    }
    out.extend(icmp_variants(ports.icmp_set()));
    Ok(out)
}

/// ICMP messages as Calico rules: a whole family is the bare protocol, else
/// one rule per type, or per (type, code) where only some codes are held.
fn icmp_variants(icmp: &IcmpSet) -> Vec<Variant> {
    let mut out = Vec::new();
    for (family, name) in [(IcmpFamily::V4, "ICMP"), (IcmpFamily::V6, "ICMPv6")] {
        if icmp.family_is_all(family) {
            out.push((Some(name), Vec::new(), None));
            continue;
        }
        for part in icmp.parts(family) {
            let (icmp_type, code) = match part {
                IcmpPart::Type(t) => (t, None),
                IcmpPart::Code(t, c) => (t, Some(c)),
            };
            out.push((Some(name), Vec::new(), Some(IcmpMatch { icmp_type, code })));
        }
    }
    out
}

/// A rule's HTTP filter as the Calico matches of its ingress side (one rule
/// each; `None`: no filter). Calico's application layer policy matches
/// requests on ingress, in Allow rules only, by method and by exact or
/// prefix path; the destination must therefore be pods.
fn http_filter(rule: &IrRule) -> Result<Option<Vec<HttpMatch>>, Problem> {
    let requests = match &rule.service.l7 {
        L7::Any => return Ok(None),
        // Every name: what an FQDN allow's lookups are; no filter at all.
        L7::Dns(names) if names.iter().all(|n| n == "*") => return Ok(None),
        L7::Dns(_) => return Err(no_dns_filter()),
        L7::Http(requests) => requests,
    };
    if rule.action == Action::Deny {
        return Err((
            Code::L7NotSupported,
            "Calico matches HTTP requests in Allow rules only, so a `deny` with an `http` block cannot be written".to_string(),
            "allow the requests that remain instead, or build for `--target cilium`, which enforces `http` rules",
        ));
    }
    let destination = &rule.destination;
    if destination.pods.is_empty()
        || !destination.ips.is_empty()
        || !destination.fqdns.is_empty()
        || !destination.entities.is_empty()
    {
        return Err((
            Code::L7NotSupported,
            "Calico matches HTTP requests on ingress to pods only, and this rule's destination is not only pods".to_string(),
            "give the `http` block to a rule towards zones only, or build for `--target cilium`, which enforces `http` rules on egress",
        ));
    }
    // Calico matches one of the methods and one of the paths of a rule:
    // the program's (method, path) pairs are grouped by method, then the
    // methods with the same paths share a rule. `None`: any path.
    let mut by_method: BTreeMap<Option<&String>, Option<BTreeSet<HttpPath>>> = BTreeMap::new();
    for request in requests {
        let path = match &request.path {
            None => None,
            Some(pattern) => match calico_path(pattern) {
                Some(HttpPath::Prefix(p)) if p.is_empty() => None,
                Some(path) => Some(path),
                None => {
                    return Err((
                        Code::L7NotSupported,
                        format!("Calico matches HTTP paths exactly or by prefix, not by the regular expression \"{pattern}\""),
                        "write the path as a literal (`\"/api/v1/orders\"`) or a literal followed by `.*` (`\"/api/.*\"`), or build for `--target cilium`, which matches regular expressions",
                    ))
                }
            },
        };
        let paths = by_method
            .entry(request.method.as_ref())
            .or_insert_with(|| Some(BTreeSet::new()));
        match (paths.as_mut(), path) {
            (Some(paths), Some(path)) => {
                paths.insert(path);
            }
            _ => *paths = None,
        }
    }
    let mut by_paths: BTreeMap<Option<BTreeSet<HttpPath>>, Vec<Option<&String>>> = BTreeMap::new();
    for (method, paths) in by_method {
        by_paths.entry(paths).or_default().push(method);
    }
    let mut out = Vec::new();
    for (paths, methods) in by_paths {
        let methods: Vec<String> = if methods.iter().any(Option::is_none) {
            Vec::new()
        } else {
            methods.into_iter().flatten().cloned().collect()
        };
        let paths: Vec<HttpPath> = paths.into_iter().flatten().collect();
        if methods.is_empty() && paths.is_empty() {
            // Every request: the rule is its L4 form.
            return Ok(None);
        }
        out.push(HttpMatch { methods, paths });
    }
    Ok(Some(out))
}

fn no_dns_filter() -> Problem {
    (
        Code::L7NotSupported,
        "Calico has no filter of DNS queries by name, so a `dns` block cannot be enforced"
            .to_string(),
        "build for `--target cilium`, which enforces `dns` rules, or drop the `dns` block",
    )
}

/// A path regular expression (matched against the whole path) as a Calico
/// path: a literal is `exact`, a literal followed by `.*` a `prefix`;
/// `None` for anything else. `\X` of a punctuation character is `X`.
fn calico_path(pattern: &str) -> Option<HttpPath> {
    let (body, prefix) = match pattern.strip_suffix(".*") {
        Some(body) if !body.ends_with('\\') => (body, true),
        _ => (pattern, false),
    };
    let mut literal = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) if escaped.is_ascii_punctuation() => literal.push(escaped),
                _ => return None,
            },
            '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => {
                return None
            }
            c => literal.push(c),
        }
    }
    Some(if prefix {
        HttpPath::Prefix(literal)
    } else {
        HttpPath::Exact(literal)
    })
}

// ------------------------------------------------------------------ selectors

/// A pod term's labels as a Calico selector; `None` for every pod.
fn pod_selector(term: &Term) -> Option<String> {
    let text = selector(term, false);
    (text != "all()").then_some(text)
}

/// A namespace term as a Calico namespace selector (the namespace's own name
/// through `projectcalico.org/name`).
fn namespace_selector(term: &Term) -> String {
    selector(term, true)
}

fn selector(term: &Term, namespaces: bool) -> String {
    let conjunctions = term.to_requirements();
    match conjunctions.len() {
        // The empty term is removed by the IR; keep the function total.
        0 => "has(nplc.dev/none) && !has(nplc.dev/none)".to_string(),
        1 => conjunction(&conjunctions[0], namespaces),
        _ => conjunctions
            .iter()
            .map(|c| format!("({})", conjunction(c, namespaces)))
            .collect::<Vec<_>>()
            .join(" || "),
    }
}

fn conjunction(requirements: &[Requirement], namespaces: bool) -> String {
    if requirements.is_empty() {
        return "all()".to_string();
    }
    requirements
        .iter()
        .map(|r| {
            let key = if namespaces && r.key == NAMESPACE_NAME_LABEL {
                CALICO_NAMESPACE_NAME
            } else {
                r.key.as_str()
            };
            requirement(key, &r.op)
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

/// Label values are DNS-label-like (checked by nplc), so they never contain a
/// quote. The program's `!=` and `not in` match pods without the key;
/// Calico's selector evaluator does too, but its documentation says the key
/// must be present, so the absent case is written out to be right either way.
fn requirement(key: &str, op: &Operator) -> String {
    let list = |values: &BTreeSet<String>| {
        values
            .iter()
            .map(|v| format!("'{v}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match op {
        Operator::In(values) if values.len() == 1 => format!("{key} == {}", list(values)),
        Operator::In(values) => format!("{key} in {{{}}}", list(values)),
        Operator::NotIn(values) if values.len() == 1 => {
            format!("(!has({key}) || {key} != {})", list(values))
        }
        Operator::NotIn(values) => format!("(!has({key}) || {key} not in {{{}}})", list(values)),
        Operator::Exists => format!("has({key})"),
        Operator::DoesNotExist => format!("!has({key})"),
    }
}

// ------------------------------------------------------------------ documents

struct Writer<'a, 'db> {
    ir: &'a Ir,
    /// The index of the program's `default` tier: the last one.
    default_tier: usize,
    flat: bool,
    staged: bool,
    sources: &'a SourceLines<'db>,
    zones: ZoneNames<'a>,
}

/// Where a policy lives and what it selects.
struct Subject {
    namespace: Option<String>,
    selector: String,
    namespace_selector: Option<String>,
}

impl Writer<'_, '_> {
    /// Every document in output order, to `out` one at a time (so that a
    /// policy's struct is dropped from `policies` as its draft is made).
    /// `policies` sorted by key.
    fn drafts(&self, policies: Vec<(PolicyKey, Policy)>, out: &mut Renderer<'_, '_>) {
        if !self.flat {
            for (index, tier) in self.ir.tiers.iter().enumerate().take(self.default_tier) {
                // Written even without rules (it then only passes), so that
                // removing a tier's last rule changes no other file.
                let order = (index as u32 + 1) * TIER_ORDER_STEP;
                // The line declaring it (`tier NAME {`): what its Tier and
                // Pass policy come from.
                let declared: Vec<Span> = tier.name_span.into_iter().collect();
                let document = Document {
                    api_version: API_VERSION,
                    kind: "Tier",
                    metadata: metadata(&tier.name, None, &self.sources.describe(&declared)),
                    spec: TierSpec { order },
                };
                out.push(Draft::Done(resource("Tier", None, &tier.name, &document)));
                out.push(self.pass_policy(index, &declared));
            }
        }
        for ((tier, band, term, direction), policy) in policies {
            let zone = self.zones.of(&term);
            let name = match band {
                Band::Log => naming::log_policy(&zone, direction),
                Band::Deny | Band::Allow => {
                    naming::rules_policy(&zone, direction, band == Band::Deny)
                }
            };
            let name = self.full_name(tier, &name);
            let subject = subject(&term, policy.global);
            let (ingress, egress) = match direction {
                Direction::Ingress => (policy.rules, Vec::new()),
                Direction::Egress => (Vec::new(), policy.rules),
            };
            let mut draft = self.policy(
                &name,
                tier,
                self.order(tier, band.order()),
                subject,
                ingress,
                egress,
                &policy.spans,
            );
            if let Draft::Policy { sort_rules, .. } = &mut draft {
                *sort_rules = true;
            }
            out.push(draft);
        }
        for draft in self.isolation() {
            out.push(draft);
        }
    }

    /// `TIER.NAME` in a declared tier (the Calico API wants the prefix),
    /// `TIER--NAME` in the flat layout, `NAME` in the default tier.
    fn full_name(&self, tier: usize, name: &str) -> String {
        match self.ir.tiers.get(tier) {
            Some(t) if tier != self.default_tier => naming::in_tier(&t.name, name, self.flat),
            _ => name.to_string(),
        }
    }

    fn order(&self, tier: usize, within: u32) -> u32 {
        if self.flat {
            (tier as u32 + 1) * FLAT_BAND + within
        } else {
            within
        }
    }

    /// The end of a declared tier: what no rule of it matched goes on.
    fn pass_policy(&self, tier: usize, spans: &[Span]) -> Draft {
        self.policy(
            &self.full_name(tier, naming::TIER_PASS),
            tier,
            PASS_ORDER,
            every_pod(),
            vec![bare_rule("Pass")],
            vec![bare_rule("Pass")],
            spans,
        )
    }

    /// The isolation defaults, last in the default tier: Deny for the pods of
    /// isolated zones (one policy per zone, from the zone's definition),
    /// then Allow for every pod.
    fn isolation(&self) -> Vec<Draft> {
        let default_tier = self.default_tier;
        let mut isolated: BTreeMap<&PodTerm, (bool, bool, Vec<Span>)> = BTreeMap::new();
        for zone in &self.ir.zones {
            if !zone.isolation.ingress && !zone.isolation.egress {
                continue;
            }
            for term in &zone.pods.terms {
                let entry = isolated.entry(term).or_default();
                entry.0 |= zone.isolation.ingress;
                entry.1 |= zone.isolation.egress;
                entry.2.extend(zone.span);
            }
        }
        let mut out = Vec::new();
        for (term, (ingress, egress, spans)) in isolated {
            let name = naming::isolation_policy(&self.zones.of(term));
            out.push(self.policy(
                &name,
                default_tier,
                self.order(default_tier, ISOLATION_ORDER),
                subject(term, false),
                ingress.then(|| bare_rule("Deny")).into_iter().collect(),
                egress.then(|| bare_rule("Deny")).into_iter().collect(),
                &spans,
            ));
        }
        // The evaluation's last step (a pod no isolated zone holds is open)
        // for every pod: the prelude's `cluster`, every pod, `isolate none`.
        // Not the isolated zones' lines, which at 10,000 zones would not fit
        // an annotation and would change with every zone added.
        let cluster: Vec<Span> = self
            .ir
            .zone_named("cluster")
            .and_then(|z| z.span)
            .into_iter()
            .collect();
        out.push(self.policy(
            naming::UNISOLATED_ALLOW,
            default_tier,
            self.order(default_tier, PASS_ORDER),
            every_pod(),
            vec![bare_rule("Allow")],
            vec![bare_rule("Allow")],
            &cluster,
        ));
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn policy(
        &self,
        name: &str,
        tier: usize,
        order: u32,
        subject: Subject,
        ingress: Vec<Rule>,
        egress: Vec<Rule>,
        spans: &[Span],
    ) -> Draft {
        let tier_name = (!self.flat && tier != self.default_tier)
            .then(|| self.ir.tiers.get(tier).map(|t| t.name.clone()))
            .flatten();
        let mut types = Vec::new();
        if !ingress.is_empty() {
            types.push("Ingress");
        }
        if !egress.is_empty() {
            types.push("Egress");
        }
        let global = subject.namespace.is_none();
        let kind = match (self.staged, global) {
            (false, false) => "NetworkPolicy",
            (false, true) => "GlobalNetworkPolicy",
            (true, false) => "StagedNetworkPolicy",
            (true, true) => "StagedGlobalNetworkPolicy",
        };
        Draft::Policy {
            kind,
            name: name.to_string(),
            namespace: subject.namespace,
            spans: spans.to_vec(),
            spec: PolicySpec {
                tier: tier_name,
                order,
                selector: subject.selector,
                namespace_selector: subject.namespace_selector,
                types,
                ingress,
                egress,
                staged_action: self.staged.then_some("Set"),
            },
            sort_rules: false,
        }
    }
}

/// A document with its name, to be annotated and rendered (on every core).
enum Draft {
    Done(Resource),
    Policy {
        kind: &'static str,
        name: String,
        namespace: Option<String>,
        /// The program's lines it comes from.
        spans: Vec<Span>,
        spec: PolicySpec,
        /// The rules are a band's, gathered in program order with repeats:
        /// written sorted, each once.
        sort_rules: bool,
    },
}

impl Draft {
    fn render(self, sources: &SourceLines<'_>) -> Resource {
        match self {
            Draft::Done(resource) => resource,
            Draft::Policy {
                kind,
                name,
                namespace,
                spans,
                mut spec,
                sort_rules,
            } => {
                if sort_rules {
                    for rules in [&mut spec.ingress, &mut spec.egress] {
                        rules.sort();
                        rules.dedup_by(|a, b| Ord::cmp(&*a, &*b).is_eq());
                    }
                }
                let document = Document {
                    api_version: API_VERSION,
                    kind,
                    metadata: metadata(&name, namespace.as_deref(), &sources.describe(&spans)),
                    spec,
                };
                resource(kind, namespace.as_deref(), &name, &document)
            }
        }
    }
}

/// A term pinned to one namespace by name is a NetworkPolicy there, unless
/// the policy must be global; anything else a GlobalNetworkPolicy whose
/// `namespaceSelector` states the namespaces (so it selects pods only).
fn subject(term: &PodTerm, global: bool) -> Subject {
    let selector = pod_selector(&term.pod).unwrap_or_else(|| "all()".to_string());
    match pinned_names(&term.namespace).as_deref() {
        Some([namespace]) if !global => Subject {
            namespace: Some(namespace.clone()),
            selector,
            namespace_selector: None,
        },
        _ => Subject {
            namespace: None,
            selector,
            namespace_selector: Some(namespace_selector(&term.namespace)),
        },
    }
}

/// A rule that matches every connection.
fn bare_rule(action: &'static str) -> Rule {
    Rule {
        action,
        protocol: None,
        icmp: None,
        http: None,
        source: None,
        destination: None,
    }
}

fn every_pod() -> Subject {
    Subject {
        namespace: None,
        selector: "all()".to_string(),
        namespace_selector: Some("all()".to_string()),
    }
}

fn resource<S: serde::Serialize>(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    document: &Document<S>,
) -> Resource {
    Resource {
        api_version: API_VERSION.to_string(),
        kind: kind.to_string(),
        namespace: namespace.map(str::to_string),
        name: name.to_string(),
        document: super::to_yaml(document),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_paths_and_literal_prefixes_map_and_nothing_else() {
        let exact = |p: &str| Some(HttpPath::Exact(p.to_string()));
        let prefix = |p: &str| Some(HttpPath::Prefix(p.to_string()));
        assert_eq!(calico_path("/api/v1/orders"), exact("/api/v1/orders"));
        assert_eq!(
            calico_path("/api/v1/products/.*"),
            prefix("/api/v1/products/")
        );
        assert_eq!(calico_path("/v1\\.0/x"), exact("/v1.0/x"));
        assert_eq!(calico_path(".*"), prefix(""));
        for pattern in ["/v1.0", "/a+", "/a/.+", "/(a|b)", "/a\\.*", "^/a$", "/a\\d"] {
            assert_eq!(calico_path(pattern), None, "{pattern}");
        }
    }
}
