//! `--target cilium`: cilium.io/v2 CiliumNetworkPolicy and
//! CiliumClusterwideNetworkPolicy, emitted from the allow table.
//!
//! Like the kubernetes backend, this writes only allows: tiers, denies and
//! isolation defaults are already resolved in the table, so no `ingressDeny`
//! or `egressDeny` is needed, and deny-beats-allow never comes into play.
//!
//! - One policy per (direction, selected pod selector). A local term pinned to
//!   namespace names gives a CiliumNetworkPolicy per name; any other namespace
//!   part gives a CiliumClusterwideNetworkPolicy whose selector states the
//!   namespace (`io.kubernetes.pod.namespace`,
//!   `io.cilium.k8s.namespace.labels.KEY`).
//! - Every pod selector of a peer states the namespace too (`Exists` for
//!   "every namespace"), so nothing depends on Cilium's per-version defaults
//!   for selectors without one (confined to the policy's namespace in a CNP;
//!   cluster pods only, or everything, in a CCNP).
//! - Every policy sets `enableDefaultDeny` for its direction and has at least
//!   one rule (`fromEntities: [none]` when it allows nothing): Cilium rejects a
//!   policy without rules, which would leave the pods open.
//! - Each rule has one kind of peer (Cilium rejects mixing `toEndpoints`,
//!   `toCIDRSet`, `toEntities`, `toFQDNs` in one rule) and either `toPorts`
//!   (at most 40 ports per entry) or `icmps` (at most 40 types per entry).
//!
//! What Cilium cannot say exactly is a coded error; see docs/targets.md.

mod crd;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use self::crd::{
    CidrRule, DefaultDeny, EgressRule, Entity as CEntity, HttpRule, IcmpFamily, IcmpField,
    IcmpRule, IngressRule, Kind, L4Proto, L7Rules, NameMatch, Policy, PortProtocol, PortRule, Spec,
    API_VERSION, MAX_ICMP_FIELDS, MAX_PORTS,
};
use super::kubernetes::dedup_errors;
use super::selectors::label_selector;
use super::{metadata, target_error, Resource, SourceLines, Target};
use crate::algebra::fqdn::FqdnPattern;
use crate::algebra::ipset::IpSet;
use crate::algebra::labels::{Operator, Requirement, Term, ValueSet};
use crate::algebra::ports::{PortSet, Protocol};
use crate::allow::{AllowTable, Direction, DirectionTable};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::ir::{Ir, PeerSet, PodSet, PodTerm, L7, NAMESPACE_NAME_LABEL};
use crate::names::Entity;

const TARGET: Target = Target::Cilium;

/// The label Cilium gives every pod with its namespace's name.
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// The prefix of the labels Cilium copies from a pod's namespace.
pub const NAMESPACE_LABELS_PREFIX: &str = "io.cilium.k8s.namespace.labels.";

pub fn emit(
    ir: &Ir,
    table: &AllowTable,
    sources: &SourceLines<'_>,
) -> Result<Vec<Resource>, Vec<Diagnostic>> {
    // Every error points at a rule or zone; the prelude's zones always exist.
    let fallback = ir
        .rules()
        .next()
        .map(|r| r.span)
        .or_else(|| ir.zones.iter().find_map(|z| z.span));
    let Some(fallback) = fallback else {
        return Ok(Vec::new());
    };
    let mut errors = Vec::new();
    let mut resources = Vec::new();
    for (direction, here, there) in [
        (Direction::Ingress, &table.ingress, &table.egress),
        (Direction::Egress, &table.egress, &table.ingress),
    ] {
        let pieces = prepare(direction, here, there, fallback, &mut errors);
        let pieces = resolve_mixed_l7(direction, pieces, fallback, &mut errors);
        if direction == Direction::Egress {
            check_lookups(ir, &pieces, fallback, &mut errors);
        }
        let groups = group_policies(here, &pieces);
        resources.extend(policies(ir, direction, groups, sources));
    }
    if errors.is_empty() {
        Ok(resources)
    } else {
        dedup_errors(&mut errors);
        Err(errors)
    }
}

// ------------------------------------------------------------------ pieces

/// An allow-table entry on its way to rules, after the adjustments Cilium
/// needs (see [`prepare`]).
#[derive(Debug, Clone)]
struct Piece {
    local: PodSet,
    remote: PeerSet,
    ports: PortSet,
    l7: L7,
    /// The allow rules it comes from; empty for the isolation default.
    rules: Vec<Span>,
}

impl Piece {
    fn anchor(&self, fallback: Span) -> Span {
        self.rules.first().copied().unwrap_or(fallback)
    }
}

/// The table's entries of one direction as pieces. `there` is the other
/// direction's table: a filter Cilium cannot apply on this side may be left
/// to the other side when every remote pod has a policy there (see
/// `docs/targets.md`, "Filters enforced on one side").
fn prepare(
    direction: Direction,
    here: &DirectionTable,
    there: &DirectionTable,
    fallback: Span,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Piece> {
    let mut out = Vec::new();
    for entry in &here.entries {
        if entry.local.is_empty() || entry.remote.is_empty() || entry.service.ports.is_empty() {
            continue;
        }
        let piece = Piece {
            local: entry.local.clone(),
            remote: entry.remote.clone(),
            ports: entry.service.ports.clone(),
            l7: entry.service.l7.clone(),
            rules: entry.rules.clone(),
        };
        let anchor = piece.anchor(fallback);
        let error = |code: Code, message: String, help: &str| {
            target_error(code, anchor, TARGET, message, help)
        };
        let remote_pods_only = piece.remote.ips.is_empty()
            && piece.remote.fqdns.is_empty()
            && piece.remote.entities.is_empty();
        let enforced_there = |pods: &PodSet| pods.difference(&there.selected).is_empty();
        match direction {
            Direction::Ingress => {
                let fqdns = &piece.remote.fqdns;
                if !fqdns.is_empty() && !fqdns.is_all() {
                    errors.push(error(
                        Code::EntityNotExpressible,
                        format!(
                            "Cilium cannot select the source of a connection by host name ({})",
                            patterns(fqdns.patterns())
                        ),
                        "host names are destinations: write the sources' addresses with a `cidr` peer",
                    ));
                    continue;
                }
                if let L7::Dns(_) = piece.l7 {
                    // Cilium's DNS proxy filters egress only. The names are
                    // still enforced when every source pod has an egress
                    // policy: its rule for this traffic carries the filter.
                    if remote_pods_only && enforced_there(&piece.remote.pods) {
                        out.push(Piece {
                            l7: L7::Any,
                            ..piece
                        });
                    } else {
                        errors.push(error(
                            Code::L7NotSupported,
                            "Cilium filters DNS names on egress only, and some of these DNS clients have no egress policy to carry the filter".to_string(),
                            "isolate the zones of the DNS clients for egress (their egress policies then filter the names), or do not isolate the DNS server's zone for ingress",
                        ));
                    }
                    continue;
                }
                out.push(piece);
            }
            Direction::Egress => {
                if matches!(piece.l7, L7::Dns(_)) && !piece.ports.ranges(Protocol::Sctp).is_empty()
                {
                    errors.push(error(
                        Code::L7NotSupported,
                        "Cilium's DNS proxy reads DNS over UDP and TCP, not SCTP".to_string(),
                        "write the DNS ports as `udp/53, tcp/53`",
                    ));
                    continue;
                }
                if piece.ports.named_ports().is_empty() {
                    out.push(piece);
                    continue;
                }
                // A named port is a port of the destination pod: it never
                // matches an address, a name or an entity.
                let others = PeerSet {
                    pods: PodSet::none(),
                    ..piece.remote.clone()
                };
                let numeric = numeric_part(&piece.ports);
                if !others.is_empty() && !numeric.is_empty() {
                    out.push(Piece {
                        remote: others,
                        ports: numeric.clone(),
                        ..piece.clone()
                    });
                }
                // Cilium resolves a named port of an egress rule from the
                // ports of every pod of the cluster, not from the destination.
                // Destination pods with an ingress policy: that policy checks
                // the named port (and any L7 filter) exactly, so the egress
                // rule allows the whole protocol. Destination pods without
                // one: only the numeric ports are allowed (a narrowing; see
                // docs/targets.md).
                let checked = piece.remote.pods.intersection(&there.selected);
                let unchecked = piece.remote.pods.difference(&there.selected);
                if !checked.is_empty() {
                    let widened = piece
                        .ports
                        .named_ports()
                        .iter()
                        .fold(numeric.clone(), |acc, (p, _)| {
                            acc.union(&PortSet::all_of(*p))
                        });
                    out.push(Piece {
                        remote: PeerSet::pods(checked),
                        ports: widened,
                        l7: L7::Any,
                        ..piece.clone()
                    });
                }
                if !unchecked.is_empty() && !numeric.is_empty() {
                    out.push(Piece {
                        remote: PeerSet::pods(unchecked),
                        ports: numeric,
                        ..piece
                    });
                }
            }
        }
    }
    out
}

/// The numeric ports and ICMP of a set, without its named ports.
fn numeric_part(ports: &PortSet) -> PortSet {
    let mut out = if ports.has_icmp() {
        PortSet::icmp()
    } else {
        PortSet::none()
    };
    for protocol in Protocol::ALL {
        for &(lo, hi) in ports.ranges(protocol).ranges() {
            out = out.union(&PortSet::range(protocol, lo, hi));
        }
    }
    out
}

fn dns_ports() -> PortSet {
    PortSet::port(Protocol::Udp, 53).union(&PortSet::port(Protocol::Tcp, 53))
}

/// Whether two pieces may judge the same connection: some local pod, remote
/// peer and port in common (a port overlap the algebra cannot decide counts).
fn overlap(a: &Piece, b: &Piece) -> bool {
    let ports = match a.ports.intersection(&b.ports) {
        Ok(common) => !common.is_empty(),
        Err(_) => true,
    };
    ports
        && !a.local.intersection(&b.local).is_empty()
        && !a.remote.intersection(&b.remote).is_empty()
}

/// Cilium cannot keep an L7 filter on traffic that another rule allows
/// without one: it merges them into an L7 wildcard, so the port's traffic goes
/// through the proxy for every such peer. For DNS that is what the program
/// means (every name), and the L4 rule is written as `matchPattern: "*"` on
/// port 53 so the DNS proxy keeps seeing the lookups toFQDNs needs. For HTTP
/// it is an error (E0407), as are HTTP and DNS filters on the same port.
fn resolve_mixed_l7(
    direction: Direction,
    pieces: Vec<Piece>,
    fallback: Span,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Piece> {
    let filtered: Vec<usize> = (0..pieces.len())
        .filter(|&i| !pieces[i].l7.is_any())
        .collect();
    if filtered.is_empty() {
        return pieces;
    }
    let mut upgrade: BTreeSet<usize> = BTreeSet::new();
    for &f in &filtered {
        let l7 = &pieces[f];
        for (i, other) in pieces.iter().enumerate() {
            if i == f || !overlap(l7, other) {
                continue;
            }
            match (&l7.l7, &other.l7) {
                (L7::Dns(_), L7::Any) if direction == Direction::Egress => {
                    upgrade.insert(i);
                }
                (L7::Http(_), L7::Any) | (L7::Dns(_), L7::Any) => {
                    errors.push(mixed_error(l7, other, fallback));
                }
                (L7::Http(_), L7::Dns(_)) => {
                    errors.push(
                        target_error(
                            Code::MixedL4L7,
                            l7.anchor(fallback),
                            TARGET,
                            "an `http` filter and a `dns` filter on the same port and peers: Cilium rejects a policy that mixes L7 protocols on one port".to_string(),
                            "give the HTTP and DNS traffic different ports or peers",
                        )
                        .with_secondary(other.anchor(fallback), "the `dns` filter"),
                    );
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::with_capacity(pieces.len() + upgrade.len());
    let lookups_of = |piece: &Piece| -> Vec<Piece> {
        filtered
            .iter()
            .map(|&f| &pieces[f])
            .filter(|d| matches!(d.l7, L7::Dns(_)) && overlap(d, piece))
            .filter_map(|d| {
                Some(Piece {
                    local: piece.local.intersection(&d.local),
                    remote: piece.remote.intersection(&d.remote),
                    ports: piece.ports.intersection(&d.ports).ok()?,
                    l7: L7::Dns(vec!["*".to_string()]),
                    rules: piece.rules.clone(),
                })
            })
            .collect()
    };
    for (i, piece) in pieces.iter().enumerate() {
        if !upgrade.contains(&i) {
            out.push(piece.clone());
            continue;
        }
        // Every port (the isolation default): keep it, and add its lookups
        // to the DNS peers as every name.
        if piece.ports == PortSet::all() {
            out.push(piece.clone());
            out.extend(lookups_of(piece));
            continue;
        }
        // Otherwise its DNS ports become every name through the proxy.
        match (
            piece.ports.intersection(&dns_ports()),
            piece.ports.difference(&dns_ports()),
        ) {
            (Ok(lookups), Ok(rest)) => {
                if !rest.is_empty() {
                    out.push(Piece {
                        ports: rest,
                        ..piece.clone()
                    });
                }
                if !lookups.is_empty() {
                    out.push(Piece {
                        ports: lookups,
                        l7: L7::Dns(vec!["*".to_string()]),
                        ..piece.clone()
                    });
                }
            }
            _ => errors.push(target_error(
                Code::MixedL4L7,
                piece.anchor(fallback),
                TARGET,
                "this rule's named ports meet a `dns` filter on port 53, and nplc cannot tell which of them is port 53".to_string(),
                "write DNS as `udp/53, tcp/53` in this rule",
            )),
        }
    }
    out
}

/// Cilium matches `toFQDNs` against the answers of the DNS lookups its proxy
/// has seen: a pod allowed to reach a name must be allowed to look it up with
/// a `dns` rule (the IR adds one to kube-dns for every FQDN allow). Names
/// whose lookups the program denies would never be reached: an error.
fn check_lookups(ir: &Ir, pieces: &[Piece], fallback: Span, errors: &mut Vec<Diagnostic>) {
    let lookups: Vec<(&Piece, &Vec<String>)> = pieces
        .iter()
        .filter_map(|p| match &p.l7 {
            L7::Dns(names) => Some((p, names)),
            _ => None,
        })
        .collect();
    for piece in pieces {
        let fqdns = &piece.remote.fqdns;
        if fqdns.is_empty() || fqdns.is_all() {
            continue;
        }
        for pattern in fqdns.patterns() {
            let covering = lookups
                .iter()
                .filter(|(_, names)| names.iter().any(|n| lookup_covers(n, pattern)))
                .fold(PodSet::none(), |acc, (p, _)| acc.union(&p.local));
            let blind = piece.local.difference(&covering);
            if blind.is_empty() {
                continue;
            }
            let zone = blind.terms.first().map_or("these pods", |t| {
                super::names::most_specific_zone(ir, t, Direction::Egress)
            });
            errors.push(target_error(
                Code::FqdnNeedsVia,
                piece.anchor(fallback),
                TARGET,
                format!(
                    "Cilium matches `{pattern}` by the DNS answers its proxy sees, and no rule lets `{zone}` look `{pattern}` up"
                ),
                &format!(
                    "allow the lookup (`allow {zone} -> kube-dns : udp/53, tcp/53`, or remove the deny that stops it); for gateway pods reaching names through `via`, allow the gateway's lookups"
                ),
            ));
        }
    }
}

/// Whether a `dns` rule name covers every name of an FQDN pattern.
fn lookup_covers(rule: &str, pattern: &FqdnPattern) -> bool {
    rule == "*"
        || rule == pattern.to_string()
        || matches!(pattern, FqdnPattern::Name(name) if crate::eval::dns_matches(rule, name))
}

fn mixed_error(l7: &Piece, plain: &Piece, fallback: Span) -> Diagnostic {
    let kind = match l7.l7 {
        L7::Dns(_) => "dns",
        _ => "http",
    };
    let diag = target_error(
        Code::MixedL4L7,
        l7.anchor(fallback),
        TARGET,
        format!(
            "this `{kind}` filter meets a rule that allows every request on the same port to the same peers: Cilium would proxy all of that traffic as {} and the filter would have no effect",
            kind.to_uppercase()
        ),
        "the rule without a filter already allows every request there: drop the L7 block, or narrow the ports or peers of one rule so the two do not overlap",
    );
    match plain.rules.first() {
        Some(span) => diag.with_secondary(*span, "allows every request on that port"),
        None => diag.with_secondary(
            l7.anchor(fallback),
            "the isolation default of a zone that is not isolated in this direction allows every request on that port",
        ),
    }
}

// ------------------------------------------------------------------ rules

/// What a rule's peers are: one kind per rule (Cilium rejects mixed kinds).
#[derive(Debug, Clone, PartialEq)]
enum Peers {
    Endpoints(Vec<LabelSelector>),
    Cidrs(Vec<CidrRule>),
    Entities(Vec<CEntity>),
    Fqdns(Vec<NameMatch>),
}

impl Peers {
    fn kind(&self) -> u8 {
        match self {
            Peers::Endpoints(_) => 0,
            Peers::Cidrs(_) => 1,
            Peers::Entities(_) => 2,
            Peers::Fqdns(_) => 3,
        }
    }

    /// Adds the other's peers (same kind) that are not there yet.
    fn absorb(&mut self, other: &Peers) {
        fn extend<T: PartialEq + Clone>(into: &mut Vec<T>, from: &[T]) {
            for x in from {
                if !into.contains(x) {
                    into.push(x.clone());
                }
            }
        }
        match (self, other) {
            (Peers::Endpoints(a), Peers::Endpoints(b)) => extend(a, b),
            (Peers::Cidrs(a), Peers::Cidrs(b)) => extend(a, b),
            (Peers::Entities(a), Peers::Entities(b)) => extend(a, b),
            (Peers::Fqdns(a), Peers::Fqdns(b)) => extend(a, b),
            _ => {}
        }
    }
}

/// What a rule allows of the traffic to its peers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Service {
    /// Everything: no `toPorts`, no `icmps`.
    All,
    Ports(Vec<PortRule>),
    Icmps(Vec<IcmpRule>),
}

#[derive(Debug, Clone, PartialEq)]
struct Item {
    peers: Peers,
    service: Service,
}

fn piece_items(piece: &Piece) -> Vec<Item> {
    let services = services(&piece.ports, &piece.l7);
    let mut out = Vec::new();
    for peers in peers(&piece.remote) {
        for service in &services {
            out.push(Item {
                peers: peers.clone(),
                service: service.clone(),
            });
        }
    }
    out
}

fn peers(remote: &PeerSet) -> Vec<Peers> {
    if *remote == PeerSet::all() {
        return vec![Peers::Entities(vec![CEntity::All])];
    }
    let mut out = Vec::new();
    let selectors: Vec<LabelSelector> = remote.pods.terms.iter().flat_map(peer_selectors).collect();
    if !selectors.is_empty() {
        out.push(Peers::Endpoints(selectors));
    }
    let mut entities = Vec::new();
    if remote.ips == IpSet::all() && remote.fqdns.is_all() {
        entities.push(CEntity::World);
    } else {
        let blocks: Vec<CidrRule> = remote
            .ips
            .to_blocks()
            .into_iter()
            .map(|(cidr, except)| CidrRule {
                cidr: cidr.to_string(),
                except: (!except.is_empty())
                    .then(|| except.iter().map(ToString::to_string).collect()),
            })
            .collect();
        if !blocks.is_empty() {
            out.push(Peers::Cidrs(blocks));
        }
        // "Every name" without every address is enforced by address: names
        // resolve to addresses, and the addresses allowed here are what the
        // program allows. This can only narrow. Ingress pieces with names
        // were refused in `prepare`.
        if !remote.fqdns.is_all() && !remote.fqdns.is_empty() {
            out.push(Peers::Fqdns(
                remote.fqdns.patterns().iter().map(fqdn_selector).collect(),
            ));
        }
    }
    for entity in &remote.entities {
        entities.push(match entity {
            Entity::World => CEntity::World,
            Entity::Host => CEntity::Host,
            Entity::KubeApiserver => CEntity::KubeApiserver,
            Entity::Health => CEntity::Health,
        });
    }
    entities.sort();
    entities.dedup();
    if !entities.is_empty() {
        out.push(Peers::Entities(entities));
    }
    out
}

fn fqdn_selector(pattern: &FqdnPattern) -> NameMatch {
    match pattern {
        FqdnPattern::Name(name) => NameMatch {
            match_name: Some(name.clone()),
            match_pattern: None,
        },
        FqdnPattern::Wildcard(_) => NameMatch {
            match_name: None,
            match_pattern: Some(pattern.to_string()),
        },
    }
}

fn patterns(set: &BTreeSet<FqdnPattern>) -> String {
    set.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn services(ports: &PortSet, l7: &L7) -> Vec<Service> {
    if *ports == PortSet::all() && l7.is_any() {
        return vec![Service::All];
    }
    let rules = l7_rules(l7);
    let mut list = Vec::new();
    for protocol in Protocol::ALL {
        for &(lo, hi) in ports.ranges(protocol).ranges() {
            list.push(PortProtocol {
                port: lo.to_string(),
                end_port: (hi > lo).then_some(i32::from(hi)),
                protocol: l4_proto(protocol),
            });
        }
    }
    for (protocol, name) in ports.named_ports() {
        list.push(PortProtocol {
            port: name.clone(),
            end_port: None,
            protocol: l4_proto(*protocol),
        });
    }
    let mut out = Vec::new();
    if !list.is_empty() {
        out.push(Service::Ports(
            list.chunks(MAX_PORTS)
                .map(|chunk| PortRule {
                    ports: chunk.to_vec(),
                    rules: rules.clone(),
                })
                .collect(),
        ));
    }
    if ports.has_icmp() {
        out.push(Service::Icmps(every_icmp_type()));
    }
    out
}

/// NPL's `icmp` is every ICMP type of both families; Cilium matches ICMP by
/// type, so every type is listed.
fn every_icmp_type() -> Vec<IcmpRule> {
    let mut out = Vec::new();
    for family in [IcmpFamily::IPv4, IcmpFamily::IPv6] {
        let fields: Vec<IcmpField> = (0..=u8::MAX)
            .map(|icmp_type| IcmpField { family, icmp_type })
            .collect();
        out.extend(fields.chunks(MAX_ICMP_FIELDS).map(|chunk| IcmpRule {
            fields: chunk.to_vec(),
        }));
    }
    out
}

fn l4_proto(protocol: Protocol) -> L4Proto {
    match protocol {
        Protocol::Tcp => L4Proto::Tcp,
        Protocol::Udp => L4Proto::Udp,
        Protocol::Sctp => L4Proto::Sctp,
    }
}

fn l7_rules(l7: &L7) -> Option<L7Rules> {
    match l7 {
        L7::Any => None,
        L7::Http(matches) => Some(L7Rules {
            http: Some(
                matches
                    .iter()
                    .map(|m| HttpRule {
                        method: m.method.clone(),
                        path: m.path.clone(),
                    })
                    .collect(),
            ),
            dns: None,
        }),
        L7::Dns(names) => Some(L7Rules {
            http: None,
            dns: Some(
                names
                    .iter()
                    .map(|n| {
                        if n.starts_with('*') {
                            NameMatch {
                                match_name: None,
                                match_pattern: Some(n.clone()),
                            }
                        } else {
                            NameMatch {
                                match_name: Some(n.clone()),
                                match_pattern: None,
                            }
                        }
                    })
                    .collect(),
            ),
        }),
    }
}

// ------------------------------------------------------------------ selectors

/// Where a policy lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// A CiliumClusterwideNetworkPolicy.
    Cluster,
    /// A CiliumNetworkPolicy in this namespace.
    Namespace(String),
}

/// A namespace-label requirement as a requirement on the pod's Cilium labels.
fn namespace_requirement(req: &Requirement) -> Requirement {
    let key = if req.key == NAMESPACE_NAME_LABEL {
        POD_NAMESPACE_LABEL.to_string()
    } else {
        format!("{NAMESPACE_LABELS_PREFIX}{}", req.key)
    };
    Requirement {
        key,
        op: req.op.clone(),
    }
}

/// Namespace requirements as Cilium requirements that name the namespace
/// key: `Exists` is added unless an `In` pins it. `None` for a conjunction
/// that asks for a namespace without a name, which no pod is in.
fn stated_namespace(conj: &[Requirement]) -> Option<Vec<Requirement>> {
    let mut out: Vec<Requirement> = conj.iter().map(namespace_requirement).collect();
    let on_name = out.iter().filter(|r| r.key == POD_NAMESPACE_LABEL);
    let mut pinned = false;
    for r in on_name {
        match r.op {
            Operator::DoesNotExist => return None,
            Operator::In(_) | Operator::Exists => pinned = true,
            Operator::NotIn(_) => {}
        }
    }
    if !pinned {
        out.insert(
            0,
            Requirement {
                key: POD_NAMESPACE_LABEL.to_string(),
                op: Operator::Exists,
            },
        );
    }
    Some(out)
}

/// Selectors for the pods of a peer term, each stating the namespace.
fn peer_selectors(term: &PodTerm) -> Vec<LabelSelector> {
    let mut out = Vec::new();
    for ns in term.namespace.to_requirements() {
        let Some(ns) = stated_namespace(&ns) else {
            continue;
        };
        for pod in term.pod.to_requirements() {
            let conj: Vec<Requirement> = ns.iter().chain(&pod).cloned().collect();
            out.push(label_selector(&conj));
        }
    }
    out
}

/// The policies (scope and subject selector requirements) that select the
/// pods of a local term.
fn subjects(term: &PodTerm) -> Vec<(Scope, Vec<Requirement>)> {
    let mut out = Vec::new();
    let names = term.namespace.constraint(NAMESPACE_NAME_LABEL);
    let pods = term.pod.to_requirements();
    match (&names.values, names.absent) {
        (ValueSet::Only(names), false) if !names.is_empty() => {
            // Pinned to names: a CNP per name, selecting with the rest of
            // the namespace's constraints (its labels are the pods' labels).
            let rest = Term::from_constraints(
                term.namespace
                    .constraints()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| k.as_str() != NAMESPACE_NAME_LABEL)
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            for name in names {
                for ns in rest.to_requirements() {
                    let ns: Vec<Requirement> = ns.iter().map(namespace_requirement).collect();
                    for pod in &pods {
                        out.push((
                            Scope::Namespace(name.clone()),
                            ns.iter().chain(pod).cloned().collect(),
                        ));
                    }
                }
            }
        }
        _ => {
            for ns in term.namespace.to_requirements() {
                let Some(ns) = stated_namespace(&ns) else {
                    continue;
                };
                for pod in &pods {
                    out.push((Scope::Cluster, ns.iter().chain(pod).cloned().collect()));
                }
            }
        }
    }
    out
}

// ------------------------------------------------------------------ policies

/// A policy in the making.
struct Group {
    scope: Scope,
    term: PodTerm,
    requirements: Vec<Requirement>,
    items: Vec<Item>,
    spans: Vec<Span>,
}

impl Group {
    /// Adds a rule, merged into one with the same kind of peers and the same
    /// service (peers × service is a product: the peer lists unite).
    fn add(&mut self, item: &Item) {
        let same = self
            .items
            .iter_mut()
            .find(|i| i.peers.kind() == item.peers.kind() && i.service == item.service);
        match same {
            Some(existing) => existing.peers.absorb(&item.peers),
            None => self.items.push(item.clone()),
        }
    }

    /// The rules, those with the same peers and ports merged into one with
    /// all their `toPorts` entries (a rule allows the union of its entries).
    fn rules(&self) -> Vec<Item> {
        let mut out: Vec<Item> = Vec::new();
        for item in &self.items {
            let same = out.iter_mut().find(|i| {
                i.peers == item.peers
                    && matches!(i.service, Service::Ports(_))
                    && matches!(item.service, Service::Ports(_))
            });
            match (same, &item.service) {
                (Some(existing), Service::Ports(more)) => {
                    if let Service::Ports(list) = &mut existing.service {
                        for rule in more {
                            if !list.contains(rule) {
                                list.push(rule.clone());
                            }
                        }
                    }
                }
                _ => out.push(item.clone()),
            }
        }
        out
    }
}

type GroupKey = (Scope, Vec<Requirement>);

fn group_policies(table: &DirectionTable, pieces: &[Piece]) -> BTreeMap<GroupKey, Group> {
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    let mut add = |term: &PodTerm, items: &[Item], spans: &[Span]| {
        for (scope, requirements) in subjects(term) {
            let group = groups
                .entry((scope.clone(), requirements.clone()))
                .or_insert_with(|| Group {
                    scope,
                    term: term.clone(),
                    requirements,
                    items: Vec::new(),
                    spans: Vec::new(),
                });
            for item in items {
                group.add(item);
            }
            group.spans.extend_from_slice(spans);
        }
    };
    for term in &table.selected.terms {
        add(term, &[], &[]);
    }
    for piece in pieces {
        let items = piece_items(piece);
        if items.is_empty() {
            continue;
        }
        for term in &piece.local.terms {
            add(term, &items, &piece.rules);
        }
    }
    groups
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
    let mut used: BTreeSet<(Scope, String)> = BTreeSet::new();
    let mut out = Vec::new();
    for group in groups.into_values() {
        let single_selector =
            group.term.pod.to_requirements().len() == 1 && namespace_conjunctions(&group) == 1;
        let name = super::names::policy_name(
            super::names::exact_zone(ir, &group.term, direction),
            single_selector,
            dir,
            super::names::most_specific_zone(ir, &group.term, direction),
            &format!("{:?}{:?}{:?}", group.scope, group.term, group.requirements),
            |name| used.contains(&(group.scope.clone(), name.to_string())),
        );
        used.insert((group.scope.clone(), name.clone()));
        let (kind, namespace) = match &group.scope {
            Scope::Cluster => (Kind::CiliumClusterwideNetworkPolicy, None),
            Scope::Namespace(ns) => (Kind::CiliumNetworkPolicy, Some(ns.clone())),
        };
        let mut items = group.rules();
        if items.is_empty() {
            // Allows nothing, and makes the policy a valid one with rules.
            items.push(Item {
                peers: Peers::Entities(vec![CEntity::None]),
                service: Service::All,
            });
        }
        let (ingress, egress) = match direction {
            Direction::Ingress => (Some(items.iter().map(ingress_rule).collect()), None),
            Direction::Egress => (None, Some(items.iter().map(egress_rule).collect())),
        };
        let policy = Policy {
            api_version: API_VERSION,
            kind: kind.as_str(),
            metadata: metadata(
                &name,
                namespace.as_deref(),
                &sources.describe(&if group.spans.is_empty() {
                    super::origin_spans(ir, &group.term, direction)
                } else {
                    group.spans.clone()
                }),
            ),
            spec: Spec {
                endpoint_selector: label_selector(&group.requirements),
                enable_default_deny: Some(DefaultDeny {
                    ingress: (direction == Direction::Ingress).then_some(true),
                    egress: (direction == Direction::Egress).then_some(true),
                }),
                ingress,
                egress,
            },
        };
        out.push(Resource {
            api_version: API_VERSION.to_string(),
            kind: kind.as_str().to_string(),
            namespace,
            name,
            document: super::to_json(&policy),
        });
    }
    out
}

/// How many selectors the namespace part of the group's term takes.
fn namespace_conjunctions(group: &Group) -> usize {
    match &group.scope {
        Scope::Cluster => group.term.namespace.to_requirements().len(),
        Scope::Namespace(_) => {
            let rest = Term::from_constraints(
                group
                    .term
                    .namespace
                    .constraints()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| k.as_str() != NAMESPACE_NAME_LABEL)
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            rest.to_requirements().len()
        }
    }
}

fn ingress_rule(item: &Item) -> IngressRule {
    let mut rule = IngressRule {
        from_endpoints: None,
        from_cidr_set: None,
        from_entities: None,
        to_ports: None,
        icmps: None,
    };
    match &item.peers {
        Peers::Endpoints(s) => rule.from_endpoints = Some(s.clone()),
        Peers::Cidrs(c) => rule.from_cidr_set = Some(c.clone()),
        Peers::Entities(e) => rule.from_entities = Some(e.clone()),
        // Refused in `prepare`: sources are never names.
        Peers::Fqdns(_) => rule.from_entities = Some(vec![CEntity::None]),
    }
    match &item.service {
        Service::All => {}
        Service::Ports(p) => rule.to_ports = Some(p.clone()),
        Service::Icmps(i) => rule.icmps = Some(i.clone()),
    }
    rule
}

fn egress_rule(item: &Item) -> EgressRule {
    let mut rule = EgressRule {
        to_endpoints: None,
        to_cidr_set: None,
        to_entities: None,
        to_fqdns: None,
        to_ports: None,
        icmps: None,
    };
    match &item.peers {
        Peers::Endpoints(s) => rule.to_endpoints = Some(s.clone()),
        Peers::Cidrs(c) => rule.to_cidr_set = Some(c.clone()),
        Peers::Entities(e) => rule.to_entities = Some(e.clone()),
        Peers::Fqdns(f) => rule.to_fqdns = Some(f.clone()),
    }
    match &item.service {
        Service::All => {}
        Service::Ports(p) => rule.to_ports = Some(p.clone()),
        Service::Icmps(i) => rule.icmps = Some(i.clone()),
    }
    rule
}
