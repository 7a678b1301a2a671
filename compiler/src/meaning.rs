//! A program's meaning as exact regions of the connection space, judged at
//! L4 the way `nplc matrix` judges it: pieces (source × destination × ports),
//! each allowed or denied, each with the rule or the isolation default that
//! decides it. The pieces are disjoint and cover every connection, so two
//! programs can be compared piece by piece (`nplc diff`) and a rule that
//! decides nothing can be found (the lints) without sampling.
//!
//! The IR's sets are exact except where a named port meets a number or a
//! wildcard name loses one name. Both are made exact here by cutting the
//! space into classes the programs cannot tell apart: a connection's port
//! class is the name of the container port it reaches (when some rule names
//! that port), and a name's class is the most specific pattern that matches
//! it (an exact name, the rest of a wildcard, or every other name).

use std::collections::{BTreeMap, BTreeSet};

use crate::algebra::fqdn::{FqdnPattern, FqdnSet};
use crate::algebra::ipset::IpSet;
use crate::algebra::ports::{PortSet, Protocol};
use crate::eval::{Connection, Endpoint, Transport, WORLD_ADDRESS};
use crate::ir::{Ir, PeerSet, PodSet, Rule, RuleRole, L7};
use crate::names::Entity;
use crate::syntax::ast::Action;

/// A class of DNS names no program in the space tells apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NameClass {
    /// Exactly this name.
    Name(String),
    /// The names `*.suffix` matches, except the exact names of the space.
    WildcardRest(String),
    /// Every name no pattern of the space matches.
    Other,
}

/// A class of destination ports: connections to a container port of this
/// name, or to any port whose name no rule uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortClass {
    Unnamed,
    Named(Protocol, String),
}

/// The classes of the programs being compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Space {
    names: BTreeSet<NameClass>,
    ports: BTreeSet<PortClass>,
}

impl Space {
    /// The classes every rule of these programs needs.
    pub fn of<'a>(irs: impl IntoIterator<Item = &'a Ir>) -> Space {
        let mut names = BTreeSet::from([NameClass::Other]);
        let mut ports = BTreeSet::from([PortClass::Unnamed]);
        for ir in irs {
            for rule in ir.rules() {
                for side in [&rule.source, &rule.destination] {
                    for pattern in side.fqdns.patterns() {
                        names.insert(match pattern {
                            FqdnPattern::Name(n) => NameClass::Name(n.clone()),
                            FqdnPattern::Wildcard(s) => NameClass::WildcardRest(s.clone()),
                        });
                    }
                }
                for (protocol, name) in rule.ports().named_ports() {
                    ports.insert(PortClass::Named(*protocol, name.clone()));
                }
            }
        }
        Space { names, ports }
    }

    /// The class of a concrete name.
    pub fn name_class(&self, name: &str) -> NameClass {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let exact = NameClass::Name(name.clone());
        if self.names.contains(&exact) {
            return exact;
        }
        if let Some((_, suffix)) = name.split_once('.') {
            let rest = NameClass::WildcardRest(suffix.to_string());
            if self.names.contains(&rest) {
                return rest;
            }
        }
        NameClass::Other
    }

    fn names_of(&self, set: &FqdnSet) -> BTreeSet<NameClass> {
        if set.is_all() {
            return self.names.clone();
        }
        self.names
            .iter()
            .filter(|class| match class {
                NameClass::Name(n) => set.matches(n),
                NameClass::WildcardRest(s) => {
                    set.patterns().contains(&FqdnPattern::Wildcard(s.clone()))
                }
                NameClass::Other => false,
            })
            .cloned()
            .collect()
    }

    /// A port set as ports per class.
    pub fn ports_of(&self, set: &PortSet) -> PortDim {
        let numeric = numeric_part(set);
        self.ports
            .iter()
            .map(|class| {
                let ports = match class {
                    PortClass::Unnamed => numeric.clone(),
                    PortClass::Named(p, n) => {
                        if set.named_ports().contains(&(*p, n.clone())) {
                            PortSet::all_of(*p)
                        } else {
                            intersect_ports(&numeric, &PortSet::all_of(*p))
                        }
                    }
                };
                (class.clone(), ports)
            })
            .filter(|(_, p)| !p.is_empty())
            .collect()
    }

    fn all_ports(&self) -> PortDim {
        self.ports_of(&PortSet::all())
    }

    pub fn side(&self, set: &PeerSet) -> Side {
        Side {
            pods: set.pods.clone(),
            ips: set.ips.clone(),
            names: self.names_of(&set.fqdns),
            entities: set.entities.clone(),
        }
    }

    pub fn every_side(&self) -> Side {
        self.side(&PeerSet::all())
    }

    /// The region of a rule: its source × destination × ports (L7 aside).
    pub fn rule_region(&self, rule: &Rule) -> Region {
        Region {
            source: self.side(&rule.source),
            destination: self.side(&rule.destination),
            ports: self.ports_of(rule.ports()),
        }
    }

    pub fn everything(&self) -> Region {
        Region {
            source: self.every_side(),
            destination: self.every_side(),
            ports: self.all_ports(),
        }
    }

    /// Whether a connection is in a region (the L7 request, if any, aside).
    pub fn contains(&self, region: &Region, conn: &Connection) -> bool {
        self.side_contains(&region.source, &conn.source)
            && self.side_contains(&region.destination, &conn.destination)
            && self.ports_contain(&region.ports, conn)
    }

    fn side_contains(&self, side: &Side, endpoint: &Endpoint) -> bool {
        match endpoint {
            Endpoint::Pod(pod) => side
                .pods
                .matches(&pod.effective_namespace_labels(), &pod.labels),
            Endpoint::Ip(ip) => side.ips.contains(*ip),
            Endpoint::Fqdn(name) => side.names.contains(&self.name_class(name)),
            Endpoint::Entity(Entity::World) => side.ips.contains(WORLD_ADDRESS),
            Endpoint::Entity(e) => side.entities.contains(e),
        }
    }

    fn ports_contain(&self, ports: &PortDim, conn: &Connection) -> bool {
        match conn.transport {
            Transport::Icmp(message) => ports
                .get(&PortClass::Unnamed)
                .is_some_and(|set| set.contains_icmp(message)),
            Transport::Port(protocol, number) => {
                let name = conn
                    .destination_port_name()
                    .map(|n| PortClass::Named(protocol, n.to_string()));
                let class = name
                    .filter(|c| self.ports.contains(c))
                    .unwrap_or(PortClass::Unnamed);
                ports
                    .get(&class)
                    .is_some_and(|set| set.contains(protocol, number, None))
            }
        }
    }
}

fn numeric_part(set: &PortSet) -> PortSet {
    let mut out = PortSet::icmp_messages(set.icmp_set().clone());
    for protocol in Protocol::ALL {
        for &(lo, hi) in set.ranges(protocol).ranges() {
            out = out.union(&PortSet::range(protocol, lo, hi));
        }
    }
    out
}

/// Numeric port sets never meet a name, so their operations are exact.
fn intersect_ports(a: &PortSet, b: &PortSet) -> PortSet {
    a.intersection(b).unwrap_or_else(|_| PortSet::none())
}

fn subtract_ports(a: &PortSet, b: &PortSet) -> PortSet {
    a.difference(b).unwrap_or_else(|_| a.clone())
}

/// Ports per class; a missing class holds nothing.
pub type PortDim = BTreeMap<PortClass, PortSet>;

/// One end of a connection: pods, addresses, name classes, entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    pub pods: PodSet,
    pub ips: IpSet,
    pub names: BTreeSet<NameClass>,
    pub entities: BTreeSet<Entity>,
}

impl Side {
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
            && self.ips.is_empty()
            && self.names.is_empty()
            && self.entities.is_empty()
    }

    fn intersection(&self, other: &Side) -> Side {
        Side {
            pods: self.pods.intersection(&other.pods),
            ips: self.ips.intersection(&other.ips),
            names: self.names.intersection(&other.names).cloned().collect(),
            entities: self
                .entities
                .intersection(&other.entities)
                .copied()
                .collect(),
        }
    }

    fn difference(&self, other: &Side) -> Side {
        Side {
            pods: self.pods.difference(&other.pods),
            ips: self.ips.difference(&other.ips),
            names: self.names.difference(&other.names).cloned().collect(),
            entities: self.entities.difference(&other.entities).copied().collect(),
        }
    }

    /// The side as an IR peer set, for describing it: a wildcard's rest is
    /// shown as the wildcard, every other name as `world`'s names.
    pub fn to_peer_set(&self) -> PeerSet {
        let fqdns = if self.names.contains(&NameClass::Other) {
            FqdnSet::all()
        } else {
            FqdnSet::from_patterns(self.names.iter().filter_map(|c| match c {
                NameClass::Name(n) => Some(FqdnPattern::Name(n.clone())),
                NameClass::WildcardRest(s) => Some(FqdnPattern::Wildcard(s.clone())),
                NameClass::Other => None,
            }))
        };
        PeerSet {
            pods: self.pods.clone(),
            ips: self.ips.clone(),
            fqdns,
            entities: self.entities.clone(),
        }
    }
}

/// A product of a source side, a destination side and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub source: Side,
    pub destination: Side,
    pub ports: PortDim,
}

impl Region {
    pub fn is_empty(&self) -> bool {
        self.source.is_empty() || self.destination.is_empty() || self.ports.is_empty()
    }

    pub fn intersection(&self, other: &Region) -> Option<Region> {
        let ports = intersect_dims(&self.ports, &other.ports);
        if ports.is_empty() {
            return None;
        }
        let source = self.source.intersection(&other.source);
        if source.is_empty() {
            return None;
        }
        let destination = self.destination.intersection(&other.destination);
        let out = Region {
            source,
            destination,
            ports,
        };
        (!out.is_empty()).then_some(out)
    }

    /// `self − other` as disjoint products:
    /// (S−S')×D×P ∪ (S∩S')×(D−D')×P ∪ (S∩S')×(D∩D')×(P−P').
    pub fn difference(&self, other: &Region) -> Vec<Region> {
        let Some(common) = self.intersection(other) else {
            return vec![self.clone()];
        };
        let pieces = [
            Region {
                source: self.source.difference(&other.source),
                destination: self.destination.clone(),
                ports: self.ports.clone(),
            },
            Region {
                source: common.source.clone(),
                destination: self.destination.difference(&other.destination),
                ports: self.ports.clone(),
            },
            Region {
                source: common.source,
                destination: common.destination,
                ports: subtract_dims(&self.ports, &other.ports),
            },
        ];
        pieces.into_iter().filter(|r| !r.is_empty()).collect()
    }
}

fn intersect_dims(a: &PortDim, b: &PortDim) -> PortDim {
    a.iter()
        .filter_map(|(class, set)| {
            let other = b.get(class)?;
            let both = intersect_ports(set, other);
            (!both.is_empty()).then(|| (class.clone(), both))
        })
        .collect()
}

fn subtract_dims(a: &PortDim, b: &PortDim) -> PortDim {
    a.iter()
        .filter_map(|(class, set)| {
            let left = match b.get(class) {
                Some(other) => subtract_ports(set, other),
                None => set.clone(),
            };
            (!left.is_empty()).then(|| (class.clone(), left))
        })
        .collect()
}

/// `regions − other`, piece by piece.
pub fn subtract(regions: Vec<Region>, other: &Region) -> Vec<Region> {
    regions
        .into_iter()
        .flat_map(|r| r.difference(other))
        .collect()
}

/// What decided a part of the connection space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    /// The rule at this index of [`Ir::rules`].
    Rule(usize),
    /// No rule matched; the isolation defaults decided.
    Isolation,
}

/// One decision: what a rule (or an isolation default) decides is its
/// `base` minus everything decided before it (`decided[..before]` of the
/// [`Meaning`]). Kept unexpanded: cutting every decision into disjoint
/// pieces up front multiplies them, while most questions meet only a few.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub base: Vec<Region>,
    pub before: usize,
    pub allowed: bool,
    pub cause: Cause,
}

/// A program's meaning at L4: its decisions in the order they apply (tiers
/// in order, a tier's denies before its allows, then the isolation
/// defaults). Their parts are disjoint and cover every connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meaning {
    pub decided: Vec<Region>,
    pub decisions: Vec<Decision>,
}

/// Above this many regions in one expansion the work is abandoned (the
/// lints that need it stay quiet; `nplc diff` says so).
pub const MAX_PIECES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge;

impl Meaning {
    /// The part of `within` (everything when `None`) that a decision decides,
    /// as disjoint regions.
    pub fn parts(
        &self,
        decision: &Decision,
        within: Option<&Region>,
    ) -> Result<Vec<Region>, TooLarge> {
        let mut left: Vec<Region> = match within {
            None => decision.base.clone(),
            Some(w) => decision
                .base
                .iter()
                .filter_map(|b| b.intersection(w))
                .collect(),
        };
        for region in &self.decided[..decision.before] {
            if left.is_empty() {
                break;
            }
            left = subtract(left, region);
            if left.len() > MAX_PIECES {
                return Err(TooLarge);
            }
        }
        Ok(left)
    }

    /// The allowed part of a region.
    pub fn allowed_within(&self, region: &Region) -> Result<Vec<Region>, TooLarge> {
        let mut out = Vec::new();
        for d in self.decisions.iter().filter(|d| d.allowed) {
            if d.base.iter().any(|b| b.intersection(region).is_some()) {
                out.extend(self.parts(d, Some(region))?);
            }
        }
        Ok(out)
    }
}

/// Which requests a meaning judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// At L4, as `nplc matrix`: an L7-filtered allow lets some requests
    /// through, so it decides its connections as allowed; an L7-filtered
    /// deny decides nothing.
    L4,
    /// The requests no L7 filter matches: filtered rules decide nothing.
    UnmatchedRequests,
}

/// The meaning of a program, at L4.
pub fn meaning(space: &Space, ir: &Ir) -> Meaning {
    meaning_without(space, ir, None, View::L4)
}

/// The meaning with one rule (an index of [`Ir::rules`]) left out.
pub fn meaning_without(space: &Space, ir: &Ir, skip: Option<usize>, view: View) -> Meaning {
    let rules: Vec<&Rule> = ir.rules().collect();
    let mut decided: Vec<Region> = Vec::new();
    let mut decisions: Vec<Decision> = Vec::new();
    let mut l7_denies: Vec<(&L7, Region)> = Vec::new();
    let mut index = 0;
    for tier in &ir.tiers {
        let first = index;
        index += tier.rules.len();
        let in_tier = first..index;
        let active = |i: &usize| Some(*i) != skip;
        for i in in_tier.clone().filter(active) {
            let rule = rules[i];
            if rule.action == Action::Deny && !rule.service.l7.is_any() {
                l7_denies.push((&rule.service.l7, space.rule_region(rule)));
            }
        }
        for action in [Action::Deny, Action::Allow] {
            for i in in_tier.clone().filter(active) {
                let rule = rules[i];
                // At L4 an L7-filtered deny decides nothing; for the
                // requests no filter matches, no filtered rule does.
                let filtered = !rule.service.l7.is_any();
                let decides = !filtered || (action == Action::Allow && view == View::L4);
                if rule.action != action || !decides {
                    continue;
                }
                // Towards the API server, 443 and 6443 are one listener.
                let mut base: Vec<Region> =
                    match crate::ir::listener::apiserver_listener_parts(rule) {
                        Some(parts) => parts.iter().map(|r| space.rule_region(r)).collect(),
                        None => vec![space.rule_region(rule)],
                    };
                if !rule.service.l7.is_any() {
                    for (_, denied) in l7_denies.iter().filter(|(l7, _)| **l7 == rule.service.l7) {
                        base = subtract(base, denied);
                    }
                }
                base.retain(|r| !r.is_empty());
                decisions.push(Decision {
                    base: base.clone(),
                    before: decided.len(),
                    allowed: action == Action::Allow,
                    cause: Cause::Rule(i),
                });
                decided.extend(base);
            }
        }
    }
    let iso_egress = space.side(&PeerSet::pods(ir.isolated_egress()));
    let iso_ingress = space.side(&PeerSet::pods(ir.isolated_ingress()));
    let every = space.every_side();
    let open_egress = every.difference(&iso_egress);
    let open_ingress = every.difference(&iso_ingress);
    let all_ports = space.all_ports();
    let defaults = [
        (open_egress.clone(), open_ingress, true),
        (iso_egress, every, false),
        (open_egress, iso_ingress, false),
    ];
    for (source, destination, allowed) in defaults {
        let region = Region {
            source,
            destination,
            ports: all_ports.clone(),
        };
        decisions.push(Decision {
            base: if region.is_empty() {
                Vec::new()
            } else {
                vec![region]
            },
            before: decided.len(),
            allowed,
            cause: Cause::Isolation,
        });
    }
    Meaning { decided, decisions }
}

/// Whether a rule is as written (not half of a `via` or the DNS lookups of
/// an FQDN allow).
pub fn is_direct(rule: &Rule) -> bool {
    rule.role == RuleRole::Direct
}
