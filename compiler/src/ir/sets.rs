//! The sets the IR is made of: pods (a union of namespace-labels × pod-labels
//! terms), peers (pods, addresses, names, entities), services (ports × L7).
//! Every operation is exact or says it cannot be.

use std::collections::{BTreeMap, BTreeSet};

use crate::algebra::fqdn::FqdnSet;
use crate::algebra::ipset::IpSet;
use crate::algebra::labels::{Term, ValueSet};
use crate::algebra::ports::PortSet;
use crate::names::Entity;

/// The namespace label every namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Above this many terms a union keeps contained terms: pruning them is
/// quadratic and only saves output size, never changes meaning.
const SUBSUMPTION_LIMIT: usize = 64;

/// One product: pods whose namespace's labels satisfy `namespace` and whose
/// own labels satisfy `pod`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodTerm {
    pub namespace: Term,
    pub pod: Term,
}

/// A union of pod terms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PodSet {
    pub terms: Vec<PodTerm>,
}

impl PodSet {
    pub fn none() -> PodSet {
        PodSet { terms: Vec::new() }
    }

    pub fn all() -> PodSet {
        PodSet::term(Term::all(), Term::all())
    }

    pub fn term(namespace: Term, pod: Term) -> PodSet {
        let mut set = PodSet {
            terms: vec![PodTerm { namespace, pod }],
        };
        set.normalize();
        set
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn matches(
        &self,
        ns_labels: &BTreeMap<String, String>,
        pod_labels: &BTreeMap<String, String>,
    ) -> bool {
        self.terms
            .iter()
            .any(|t| t.namespace.matches(ns_labels) && t.pod.matches(pod_labels))
    }

    pub fn union(&self, other: &PodSet) -> PodSet {
        let mut terms = self.terms.clone();
        terms.extend(other.terms.iter().cloned());
        let mut set = PodSet { terms };
        set.normalize();
        set
    }

    pub fn intersection(&self, other: &PodSet) -> PodSet {
        let mut terms = Vec::new();
        for a in &self.terms {
            for b in &other.terms {
                terms.push(PodTerm {
                    namespace: a.namespace.intersection(&b.namespace),
                    pod: a.pod.intersection(&b.pod),
                });
            }
        }
        let mut set = PodSet { terms };
        set.normalize();
        set
    }

    /// (N×P) − (N'×P') = (N−N')×P ∪ (N∩N')×(P−P'), term by term.
    pub fn difference(&self, other: &PodSet) -> PodSet {
        let mut current = self.terms.clone();
        for b in &other.terms {
            let mut next = Vec::new();
            for a in &current {
                let ns_common = a.namespace.intersection(&b.namespace);
                let pod_common = a.pod.intersection(&b.pod);
                if ns_common.is_empty() || pod_common.is_empty() {
                    next.push(a.clone());
                    continue;
                }
                for ns in a.namespace.difference(&b.namespace).terms() {
                    next.push(PodTerm {
                        namespace: ns.clone(),
                        pod: a.pod.clone(),
                    });
                }
                for pod in a.pod.difference(&b.pod).terms() {
                    next.push(PodTerm {
                        namespace: ns_common.clone(),
                        pod: pod.clone(),
                    });
                }
            }
            current = next;
        }
        let mut set = PodSet { terms: current };
        set.normalize();
        set
    }

    /// A union of terms, as given (empty and duplicate terms dropped).
    pub fn from_terms(terms: impl IntoIterator<Item = PodTerm>) -> PodSet {
        let mut set = PodSet {
            terms: terms.into_iter().collect(),
        };
        set.normalize();
        set
    }

    /// Drops empty and duplicate terms, and — for sets small enough that the
    /// quadratic check is cheap — terms contained in another, so sets stay
    /// small and output stays deterministic.
    fn normalize(&mut self) {
        self.terms.retain(|t| !t.is_empty());
        self.terms.sort();
        self.terms.dedup();
        if self.terms.len() > SUBSUMPTION_LIMIT {
            return;
        }
        let terms = std::mem::take(&mut self.terms);
        let mut kept: Vec<PodTerm> = Vec::with_capacity(terms.len());
        for (i, t) in terms.iter().enumerate() {
            let covered = terms
                .iter()
                .enumerate()
                .any(|(j, u)| j != i && term_subset(t, u) && (!term_subset(u, t) || j < i));
            if !covered {
                kept.push(t.clone());
            }
        }
        self.terms = kept;
    }
}

impl PodTerm {
    /// The one namespace this term is pinned to by name, if it is.
    pub fn namespace_name(&self) -> Option<&str> {
        let keys = self.namespace.constraints()?;
        let set = keys.get(NAMESPACE_NAME_LABEL)?;
        match &set.values {
            ValueSet::Only(names) if !set.absent && names.len() == 1 => {
                names.iter().next().map(String::as_str)
            }
            _ => None,
        }
    }

    pub fn subset(&self, other: &PodTerm) -> bool {
        term_subset(self, other)
    }

    pub fn intersection(&self, other: &PodTerm) -> PodTerm {
        PodTerm {
            namespace: self.namespace.intersection(&other.namespace),
            pod: self.pod.intersection(&other.pod),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.namespace.is_empty() || self.pod.is_empty()
    }
}

fn term_subset(a: &PodTerm, b: &PodTerm) -> bool {
    a.namespace.subset(&b.namespace) && a.pod.subset(&b.pod)
}

/// Everything a rule can name on one side of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerSet {
    pub pods: PodSet,
    /// Addresses outside the pod network.
    pub ips: IpSet,
    pub fqdns: FqdnSet,
    /// `host`, `kube-apiserver`, `health` (`world` is all addresses and names).
    pub entities: BTreeSet<Entity>,
}

impl Default for PeerSet {
    fn default() -> PeerSet {
        PeerSet::none()
    }
}

impl PeerSet {
    pub fn none() -> PeerSet {
        PeerSet {
            pods: PodSet::none(),
            ips: IpSet::none(),
            fqdns: FqdnSet::none(),
            entities: BTreeSet::new(),
        }
    }

    pub fn all() -> PeerSet {
        PeerSet {
            pods: PodSet::all(),
            ips: IpSet::all(),
            fqdns: FqdnSet::all(),
            entities: [Entity::Host, Entity::KubeApiserver, Entity::Health]
                .into_iter()
                .collect(),
        }
    }

    pub fn pods(pods: PodSet) -> PeerSet {
        PeerSet {
            pods,
            ..PeerSet::none()
        }
    }

    pub fn world() -> PeerSet {
        PeerSet {
            ips: IpSet::all(),
            fqdns: FqdnSet::all(),
            ..PeerSet::none()
        }
    }

    pub fn entity(entity: Entity) -> PeerSet {
        if entity == Entity::World {
            return PeerSet::world();
        }
        PeerSet {
            entities: [entity].into_iter().collect(),
            ..PeerSet::none()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
            && self.ips.is_empty()
            && self.fqdns.is_empty()
            && self.entities.is_empty()
    }

    pub fn union(&self, other: &PeerSet) -> PeerSet {
        PeerSet {
            pods: self.pods.union(&other.pods),
            ips: self.ips.union(&other.ips),
            fqdns: self.fqdns.union(&other.fqdns),
            entities: self.entities.union(&other.entities).copied().collect(),
        }
    }

    pub fn intersection(&self, other: &PeerSet) -> PeerSet {
        PeerSet {
            pods: self.pods.intersection(&other.pods),
            ips: self.ips.intersection(&other.ips),
            fqdns: self.fqdns.intersection(&other.fqdns),
            entities: self
                .entities
                .intersection(&other.entities)
                .copied()
                .collect(),
        }
    }

    pub fn difference(&self, other: &PeerSet) -> Result<PeerSet, NotExact> {
        Ok(PeerSet {
            pods: self.pods.difference(&other.pods),
            ips: self.ips.difference(&other.ips),
            fqdns: self
                .fqdns
                .difference(&other.fqdns)
                .map_err(|e| NotExact(e.to_string()))?,
            entities: self.entities.difference(&other.entities).copied().collect(),
        })
    }
}

/// An operation whose exact result the IR cannot write down.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotExact(pub String);

/// An HTTP request filter: method (any when `None`) and a path regex matched
/// against the whole path (any when `None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HttpMatch {
    pub method: Option<String>,
    pub path: Option<String>,
}

/// What a rule says about the application layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L7 {
    /// No filter: every request.
    Any,
    /// Only these HTTP requests.
    Http(Vec<HttpMatch>),
    /// Only DNS queries for these names (`*` alone matches every name).
    Dns(Vec<String>),
}

impl L7 {
    pub fn is_any(&self) -> bool {
        matches!(self, L7::Any)
    }

    /// Intersection; `None` when it is not one filter (two different lists).
    pub fn intersection(&self, other: &L7) -> Result<L7, NotExact> {
        match (self, other) {
            (L7::Any, x) | (x, L7::Any) => Ok(x.clone()),
            (a, b) if a == b => Ok(a.clone()),
            _ => Err(NotExact(
                "two different L7 filters on the same traffic".to_string(),
            )),
        }
    }

    /// Difference; `Ok(None)` when nothing is left.
    pub fn difference(&self, other: &L7) -> Result<Option<L7>, NotExact> {
        match (self, other) {
            (_, L7::Any) => Ok(None),
            (a, b) if a == b => Ok(None),
            _ => Err(NotExact(
                "an L7 filter subtracted from other traffic".to_string(),
            )),
        }
    }
}

/// Ports and the L7 filter on them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Service {
    pub ports: PortSet,
    pub l7: L7,
}
