//! The sets the IR is made of: pods (a union of namespace-labels × pod-labels
//! terms), peers (pods, addresses, names, entities), services (ports × L7).
//! Every operation is exact or says it cannot be.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::algebra::fqdn::FqdnSet;
use crate::algebra::ipset::IpSet;
use crate::algebra::labels::{KeySet, Term, ValueSet};
use crate::algebra::ports::PortSet;
use crate::names::Entity;

/// The namespace label every namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Above this many terms a union keeps contained terms: pruning them is
/// quadratic and only saves output size, never changes meaning.
pub(crate) const SUBSUMPTION_LIMIT: usize = 64;

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

    /// (N×P) − (N'×P') = (N−N')×P ∪ (N∩N')×(P−P'), term by term. The
    /// result is the same as taking every term of `other` out of every piece
    /// in turn, but pieces are bucketed by the namespace they pin (see
    /// [`Remainder`]), so subtracting thousands of pinned terms stays linear.
    pub fn difference(&self, other: &PodSet) -> PodSet {
        PodSet::from_terms(PodSet::difference_terms(self.terms.clone(), other))
    }

    /// `terms − other` as [`PodSet::difference`] computes it, before
    /// normalising: for callers that keep the terms in their own buckets.
    pub(crate) fn difference_terms(terms: Vec<PodTerm>, other: &PodSet) -> Vec<PodTerm> {
        let mut rest = Remainder::default();
        for a in terms {
            rest.insert(a);
        }
        for b in &other.terms {
            rest.subtract(b);
        }
        rest.into_terms()
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

/// `a − b` as pieces, appended to `out`: `a` itself when they are disjoint,
/// else (N−N')×P and (N∩N')×(P−P').
fn term_minus(a: PodTerm, b: &PodTerm, out: &mut Vec<PodTerm>) {
    let ns_common = a.namespace.intersection(&b.namespace);
    if ns_common.is_empty() || a.pod.intersection(&b.pod).is_empty() {
        out.push(a);
        return;
    }
    for ns in a.namespace.difference(&b.namespace).terms() {
        out.push(PodTerm {
            namespace: ns.clone(),
            pod: a.pod.clone(),
        });
    }
    for pod in a.pod.difference(&b.pod).terms() {
        out.push(PodTerm {
            namespace: ns_common.clone(),
            pod: pod.clone(),
        });
    }
}

/// The pieces of a running [`PodSet::difference`], bucketed so that a
/// subtracted term only meets pieces it can intersect: a piece pinned to
/// namespace `a` never meets a term pinned to `b`. Unpinned pieces meet
/// every term; subtracting a term that is exactly "namespace `n`" from one
/// only records `n` in `excluded` instead of rewriting its namespace
/// constraint, which would copy an ever longer list of names each time.
#[derive(Default)]
struct Remainder {
    pinned: HashMap<String, Vec<PodTerm>>,
    unpinned: Vec<Unpinned>,
}

/// `term` with its namespace further limited to names not in `excluded`.
struct Unpinned {
    term: PodTerm,
    excluded: BTreeSet<String>,
}

impl Unpinned {
    /// The term itself; equal to what subtracting each excluded namespace in
    /// turn gives, since label constraints are canonical.
    fn into_term(self) -> PodTerm {
        if self.excluded.is_empty() {
            return self.term;
        }
        let outside =
            Term::from_constraints([(NAMESPACE_NAME_LABEL, KeySet::not_in(self.excluded))]);
        PodTerm {
            namespace: self.term.namespace.intersection(&outside),
            pod: self.term.pod,
        }
    }

    /// Whether namespace `name` is in this term's namespaces.
    fn admits(&self, name: &str) -> bool {
        if self.excluded.contains(name) {
            return false;
        }
        match self.term.namespace.constraints() {
            None => false,
            Some(keys) => keys
                .get(NAMESPACE_NAME_LABEL)
                .is_none_or(|set| set.contains(Some(name))),
        }
    }
}

impl Remainder {
    fn insert(&mut self, term: PodTerm) {
        if term.is_empty() {
            return;
        }
        match term.namespace_name() {
            Some(ns) => self.pinned.entry(ns.to_string()).or_default().push(term),
            None => self.unpinned.push(Unpinned {
                term,
                excluded: BTreeSet::new(),
            }),
        }
    }

    fn subtract(&mut self, b: &PodTerm) {
        let Some(name) = b.namespace_name() else {
            // Unpinned: it may meet every piece.
            let pinned: Vec<PodTerm> = std::mem::take(&mut self.pinned)
                .into_values()
                .flatten()
                .collect();
            let unpinned = std::mem::take(&mut self.unpinned);
            self.subtract_from(pinned.into_iter(), b);
            self.subtract_from(unpinned.into_iter().map(Unpinned::into_term), b);
            return;
        };
        if let Some(bucket) = self.pinned.remove(name) {
            self.subtract_from(bucket.into_iter(), b);
        }
        if self.unpinned.is_empty() {
            return;
        }
        if !only_namespace_name(&b.namespace) {
            let unpinned = std::mem::take(&mut self.unpinned);
            self.subtract_from(unpinned.into_iter().map(Unpinned::into_term), b);
            return;
        }
        // b is exactly "namespace `name`" × P': an unpinned piece N×P that
        // admits `name` splits into (N − name)×P, kept lazily, and
        // (N ∩ name)×(P − P'), which is pinned to `name`.
        let mut pieces = Vec::new();
        for u in &mut self.unpinned {
            if !u.admits(name) || u.term.pod.intersection(&b.pod).is_empty() {
                continue;
            }
            let ns_common = u.term.namespace.intersection(&b.namespace);
            for pod in u.term.pod.difference(&b.pod).terms() {
                pieces.push(PodTerm {
                    namespace: ns_common.clone(),
                    pod: pod.clone(),
                });
            }
            u.excluded.insert(name.to_string());
        }
        for piece in pieces {
            self.insert(piece);
        }
    }

    fn subtract_from(&mut self, terms: impl Iterator<Item = PodTerm>, b: &PodTerm) {
        let mut pieces = Vec::new();
        for a in terms {
            term_minus(a, b, &mut pieces);
        }
        for piece in pieces {
            self.insert(piece);
        }
    }

    fn into_terms(self) -> Vec<PodTerm> {
        let mut terms: Vec<PodTerm> = self.pinned.into_values().flatten().collect();
        terms.extend(self.unpinned.into_iter().map(Unpinned::into_term));
        terms
    }
}

/// Whether this namespace term constrains the namespace's name only.
fn only_namespace_name(namespace: &Term) -> bool {
    namespace
        .constraints()
        .is_some_and(|keys| keys.len() == 1 && keys.contains_key(NAMESPACE_NAME_LABEL))
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

/// Whether a `dns` filter's name pattern matches a name: `*` alone matches
/// every name; `*.x` one label before `x`.
pub fn dns_matches(pattern: &str, name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .strip_suffix(suffix)
            .and_then(|head| head.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        None => name == pattern.trim_end_matches('.'),
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Namespace terms: pinned by name, pinned with more keys, several
    /// names, excluded names, other labels, everything.
    pub(crate) fn namespace_term() -> impl Strategy<Value = Term> {
        let name = || proptest::sample::select(&["a", "b", "c"][..]);
        prop_oneof![
            Just(Term::all()),
            name().prop_map(|n| Term::from_constraints([(NAMESPACE_NAME_LABEL, KeySet::eq(n))])),
            name().prop_map(|n| Term::from_constraints([(NAMESPACE_NAME_LABEL, KeySet::eq(n))])),
            name().prop_map(|n| Term::from_constraints([
                (NAMESPACE_NAME_LABEL, KeySet::eq(n)),
                ("env", KeySet::eq("prod")),
            ])),
            Just(Term::from_constraints([(
                NAMESPACE_NAME_LABEL,
                KeySet::in_(["a", "b"])
            )])),
            name()
                .prop_map(|n| Term::from_constraints([(NAMESPACE_NAME_LABEL, KeySet::not_eq(n))])),
            Just(Term::from_constraints([("env", KeySet::eq("prod"))])),
        ]
    }

    pub(crate) fn pod_term() -> impl Strategy<Value = Term> {
        prop_oneof![
            Just(Term::all()),
            proptest::sample::select(&["x", "y"][..])
                .prop_map(|v| Term::from_constraints([("app", KeySet::eq(v))])),
            Just(Term::from_constraints([("app", KeySet::not_eq("x"))])),
            Just(Term::from_constraints([("tier", KeySet::has())])),
        ]
    }

    pub(crate) fn pod_set(max: usize) -> impl Strategy<Value = PodSet> {
        proptest::collection::vec((namespace_term(), pod_term()), 0..max).prop_map(|terms| {
            PodSet::from_terms(
                terms
                    .into_iter()
                    .map(|(namespace, pod)| PodTerm { namespace, pod }),
            )
        })
    }

    /// The plain difference: every term of `other` out of every piece.
    fn difference_one_by_one(a: &PodSet, b: &PodSet) -> PodSet {
        let mut current = a.terms.clone();
        for t in &b.terms {
            let mut next = Vec::new();
            for piece in current {
                term_minus(piece, t, &mut next);
            }
            current = next;
        }
        PodSet::from_terms(current)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Bucketing and lazily excluded names change the cost, not the
        /// terms.
        #[test]
        fn difference_gives_the_same_terms_as_one_by_one(a in pod_set(6), b in pod_set(8)) {
            prop_assert_eq!(a.difference(&b), difference_one_by_one(&a, &b));
        }
    }

    #[test]
    fn subtracting_many_namespaces_from_everything() {
        let pinned = |i: usize| PodTerm {
            namespace: Term::from_constraints([(
                NAMESPACE_NAME_LABEL,
                KeySet::eq(format!("ns-{i}")),
            )]),
            pod: Term::from_constraints([("app", KeySet::eq(format!("a{i}")))]),
        };
        let isolated = PodSet::from_terms((0..200).map(pinned));
        let rest = PodSet::all().difference(&isolated);
        assert_eq!(rest, difference_one_by_one(&PodSet::all(), &isolated));
        // Everything outside the 200 namespaces, and the other pods in each.
        assert_eq!(rest.terms.len(), 201);
    }
}
