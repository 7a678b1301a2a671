//! One side of a rule as Cilium rules: peers by kind (Cilium rejects mixing
//! `toEndpoints`, `toCIDRSet`, `toEntities`, `toFQDNs` in one rule), and
//! either `toPorts` (at most 40 ports per entry) or `icmps`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::crd::{
    CidrRule, EgressRule, Entity as CEntity, HttpRule, IcmpFamily, IcmpField, IcmpRule,
    IngressRule, L4Proto, L7Rules, NameMatch, PortProtocol, PortRule, MAX_ICMP_FIELDS, MAX_PORTS,
};
use super::selectors::peer_selectors;
use crate::algebra::fqdn::FqdnPattern;
use crate::algebra::icmp::{IcmpFamily as NplFamily, IcmpPart, IcmpSet};
use crate::algebra::ipset::IpSet;
use crate::algebra::ports::{PortSet, Protocol};
use crate::ir::Entity;
use crate::ir::{PeerSet, L7};

/// What a rule's peers are: one kind per rule.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Peers {
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

/// What a rule allows (or denies) of the traffic to its peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Service {
    /// Everything: no `toPorts`, no `icmps`.
    All,
    Ports(Vec<PortRule>),
    Icmps(Vec<IcmpRule>),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Item {
    pub peers: Peers,
    pub service: Service,
}

impl Item {
    /// A rule that matches nothing: what a policy that allows nothing holds,
    /// since Cilium rejects a policy without rules.
    pub fn nothing() -> Item {
        Item {
            peers: Peers::Entities(vec![CEntity::None]),
            service: Service::All,
        }
    }
}

/// The items of one side: remote peers × ports × L7.
pub(super) fn items(remote: &PeerSet, ports: &PortSet, l7: &L7) -> Vec<Item> {
    let services = services(ports, l7);
    let mut out = Vec::new();
    for peers in peers(remote) {
        for service in &services {
            out.push(Item {
                peers: peers.clone(),
                service: service.clone(),
            });
        }
    }
    out
}

/// Items collected for one list of a spec, in first-seen order.
#[derive(Debug, Clone, Default)]
pub(super) struct ItemList {
    items: Vec<Item>,
}

impl ItemList {
    /// Adds a rule, merged into one with the same kind of peers and the same
    /// service (peers × service is a product: the peer lists unite).
    pub fn add(&mut self, item: &Item) {
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
    pub fn rules(&self) -> Vec<Item> {
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
        // "Every name" without every address is enforced by address (allows
        // only: denies of names are refused before): names resolve to
        // addresses, and the addresses allowed here are what the program
        // allows. This can only narrow. Sources are never names (refused).
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
        out.push(Service::Icmps(icmp_types(ports.icmp_set())));
    }
    out
}

/// Cilium matches ICMP by family and type (whole types: codes are refused
/// before, E0435), one field each; every type of a family is listed, since
/// `toPorts` cannot name ICMP (docs/targets.md).
fn icmp_types(set: &IcmpSet) -> Vec<IcmpRule> {
    let mut fields = Vec::new();
    for (family, cilium_family) in [
        (NplFamily::V4, None),
        (NplFamily::V6, Some(IcmpFamily::IPv6)),
    ] {
        fields.extend(set.parts(family).into_iter().filter_map(|part| match part {
            IcmpPart::Type(icmp_type) => Some(IcmpField {
                family: cilium_family,
                icmp_type,
            }),
            IcmpPart::Code(..) => None,
        }));
    }
    fields
        .chunks(MAX_ICMP_FIELDS)
        .map(|chunk| IcmpRule {
            fields: chunk.to_vec(),
        })
        .collect()
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

pub(super) fn ingress_rule(item: &Item) -> IngressRule {
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
        // Refused before: sources are never names.
        Peers::Fqdns(_) => rule.from_entities = Some(vec![CEntity::None]),
    }
    match &item.service {
        Service::All => {}
        Service::Ports(p) => rule.to_ports = Some(p.clone()),
        Service::Icmps(i) => rule.icmps = Some(i.clone()),
    }
    rule
}

pub(super) fn egress_rule(item: &Item) -> EgressRule {
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
