//! The allow table: the program's meaning as allow-only entries per
//! direction, after tiers, denies and isolation defaults are resolved. This is
//! what order-less targets (Kubernetes NetworkPolicy) emit directly.
//!
//! Per direction, `selected` are the pods that get a policy in that direction
//! and `entries` say exactly which connections of those pods are allowed. A
//! connection is allowed iff, for each pod end, that end is not selected in
//! its direction or an entry of that direction matches. Selecting a pod
//! isolates it on every real target, so a pod is selected only when it must
//! be: when a zone isolates it in that direction, or when a `deny` names it
//! (as destination; as source only for non-pod destinations). Every other pod
//! stays unselected and keeps the platform's allow-all, which is exactly
//! what the program says for it. See ARCHITECTURE.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::algebra::ports::PortSet;
use crate::diagnostic::Span;
use crate::eval::{self, Connection, Endpoint};
use crate::ir::sets::SUBSUMPTION_LIMIT;
use crate::ir::term_index::TermIndex;
use crate::ir::{Ir, NotExact, PeerSet, PodSet, PodTerm, Rule, Service, L7};
use crate::syntax::ast::Action;

mod zoned;
pub use zoned::{zone_table, zoned_allow_table, Subject, ZoneEntry, ZoneTable};

/// Owned by the IR; re-exported where the allow table's users look.
pub use crate::ir::Direction;

/// Allowed connections of `local` pods with `remote` peers on `service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub local: PodSet,
    pub remote: PeerSet,
    pub service: Service,
    /// The allow rules this entry comes from; empty for the isolation default.
    pub rules: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectionTable {
    pub selected: PodSet,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowTable {
    pub ingress: DirectionTable,
    pub egress: DirectionTable,
}

/// Why the table cannot be written exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowError {
    /// The allow rule being reduced; `None` for the isolation default.
    pub rule: Option<Span>,
    /// The deny rule that could not be subtracted from it, if one.
    pub deny: Option<Span>,
    pub message: String,
    /// The result would be too large ([`MAX_PIECES_PER_RULE`]), not inexact.
    pub too_large: bool,
}

/// Past this many pieces for one rule, a subtraction is refused rather than
/// left to grow: the error names the rules so the user can simplify them.
pub const MAX_PIECES_PER_RULE: usize = 4096;

/// A product region of connections seen from one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Region {
    local: PodSet,
    remote: PeerSet,
    service: Service,
}

impl Region {
    fn is_empty(&self) -> bool {
        self.local.is_empty() || self.remote.is_empty() || self.service.ports.is_empty()
    }
}

/// A region being cut by denies, one after the other. Its pods are kept
/// bucketed by namespace ([`Pods`]) so that a deny in one namespace costs
/// nothing for the rest of a region that spans thousands of them.
#[derive(Debug, Clone)]
struct Piece {
    local: Pods,
    remote: Peers,
    service: Service,
}

impl Piece {
    fn new(region: Region) -> Piece {
        Piece {
            local: Pods::new(region.local),
            remote: Peers::new(region.remote),
            service: region.service,
        }
    }

    fn is_empty(&self) -> bool {
        self.local.is_empty() || self.remote.is_empty() || self.service.ports.is_empty()
    }

    /// (L×R×S) − (L'×R'×S') as disjoint-ish products; `Err(self)` inside
    /// `Ok` when they do not meet. With `keep_local`, the pieces keep the local pods
    /// whole where they can — (L×(R−R')×S), (L×(R∩R')×(S−S')) and only
    /// ((L−L')×(R∩R')×(S∩S')) narrower — so that a deny changes the
    /// peers and ports of a zone's policy before it changes whom it selects.
    fn minus_as(
        self,
        other: &Region,
        keep_local: bool,
    ) -> Result<Result<Vec<Piece>, Piece>, NotExact> {
        let local_common = self.local.intersection(&other.local);
        if local_common.is_empty() {
            return Ok(Err(self));
        }
        let remote_common = self.remote.intersection(&other.remote);
        if remote_common.is_empty() {
            return Ok(Err(self));
        }
        let ports_common = self
            .service
            .ports
            .intersection(&other.service.ports)
            .map_err(|e| NotExact(e.to_string()))?;
        if ports_common.is_empty() {
            return Ok(Err(self));
        }
        let mut remote_rest = self.remote.clone();
        remote_rest.subtract(&other.remote)?;
        let ports_rest = self
            .service
            .ports
            .difference(&other.service.ports)
            .map_err(|e| NotExact(e.to_string()))?;
        let l7_rest = self.service.l7.difference(&other.service.l7)?;
        if keep_local {
            let mut local_rest = self.local.clone();
            local_rest.subtract(&other.local);
            let mut out = vec![
                Piece {
                    local: self.local.clone(),
                    remote: remote_rest,
                    service: self.service.clone(),
                },
                Piece {
                    local: self.local.clone(),
                    remote: remote_common.clone(),
                    service: Service {
                        ports: ports_rest,
                        l7: self.service.l7.clone(),
                    },
                },
                Piece {
                    local: local_rest,
                    remote: remote_common.clone(),
                    service: Service {
                        ports: ports_common.clone(),
                        l7: self.service.l7.clone(),
                    },
                },
            ];
            if let Some(l7) = l7_rest {
                out.push(Piece {
                    local: self.local,
                    remote: remote_common,
                    service: Service {
                        ports: ports_common,
                        l7,
                    },
                });
            }
            out.retain(|r| !r.is_empty());
            return Ok(Ok(out));
        }
        let mut local_rest = self.local;
        local_rest.subtract(&other.local);
        let mut out = vec![
            Piece {
                local: local_rest,
                remote: self.remote,
                service: self.service.clone(),
            },
            Piece {
                local: local_common.clone(),
                remote: remote_rest,
                service: self.service.clone(),
            },
            Piece {
                local: local_common.clone(),
                remote: remote_common.clone(),
                service: Service {
                    ports: ports_rest,
                    l7: self.service.l7,
                },
            },
        ];
        if let Some(l7) = l7_rest {
            out.push(Piece {
                local: local_common,
                remote: remote_common,
                service: Service {
                    ports: ports_common,
                    l7,
                },
            });
        }
        out.retain(|r| !r.is_empty());
        Ok(Ok(out))
    }
}

/// A pod set that meets and loses many deny sets in turn. It holds exactly
/// the terms the plain [`PodSet`] operations would give; only the cost
/// differs. Small sets stay plain; big ones (a rule from `cluster`, the
/// isolation default's remote side) are bucketed, so that a deny in a few
/// namespaces only looks at those.
#[derive(Debug, Clone)]
enum Pods {
    Plain(PodSet),
    Bucketed(Buckets),
}

impl Pods {
    fn new(set: PodSet) -> Pods {
        if set.terms.len() <= SUBSUMPTION_LIMIT {
            return Pods::Plain(set);
        }
        let mut buckets = Buckets::default();
        buckets.extend(set.terms);
        Pods::Bucketed(buckets)
    }

    fn is_empty(&self) -> bool {
        match self {
            Pods::Plain(set) => set.is_empty(),
            Pods::Bucketed(buckets) => buckets.len == 0,
        }
    }

    fn into_set(self) -> PodSet {
        match self {
            Pods::Plain(set) => set,
            Pods::Bucketed(buckets) => buckets.into_set(),
        }
    }

    /// `self ∩ other`, as [`PodSet::intersection`] gives it.
    fn intersection(&self, other: &PodSet) -> Pods {
        let mut terms = Vec::new();
        match self {
            Pods::Plain(set) => {
                for a in &set.terms {
                    let ns = a.namespace_name();
                    for b in &other.terms {
                        if let (Some(x), Some(y)) = (ns, b.namespace_name()) {
                            if x != y {
                                continue;
                            }
                        }
                        let t = a.intersection(b);
                        if !t.is_empty() {
                            terms.push(t);
                        }
                    }
                }
            }
            Pods::Bucketed(buckets) => {
                for b in &other.terms {
                    terms.extend(
                        buckets
                            .meeting(b)
                            .map(|a| a.intersection(b))
                            .filter(|t| !t.is_empty()),
                    );
                }
            }
        }
        Pods::new(PodSet::from_terms(terms))
    }

    /// `self − other`, as [`PodSet::difference`] gives it.
    fn subtract(&mut self, other: &PodSet) {
        match self {
            Pods::Plain(set) => *set = set.difference(other),
            Pods::Bucketed(buckets) => {
                buckets.subtract(other);
                if buckets.len <= SUBSUMPTION_LIMIT {
                    *self = Pods::new(std::mem::take(buckets).into_set());
                }
            }
        }
    }
}

/// Pod terms bucketed by the namespace each pins (see
/// [`PodTerm::namespace_name`]); each bucket sorted, without duplicates.
#[derive(Debug, Clone, Default)]
struct Buckets {
    pinned: BTreeMap<String, Vec<PodTerm>>,
    unpinned: Vec<PodTerm>,
    len: usize,
}

impl Buckets {
    fn extend(&mut self, terms: impl IntoIterator<Item = PodTerm>) {
        for term in terms {
            match term.namespace_name() {
                Some(ns) => match self.pinned.get_mut(ns) {
                    Some(bucket) => bucket.push(term),
                    None => {
                        self.pinned.insert(ns.to_string(), vec![term]);
                    }
                },
                None => self.unpinned.push(term),
            }
            self.len += 1;
        }
    }

    fn into_set(self) -> PodSet {
        PodSet::from_terms(self.pinned.into_values().flatten().chain(self.unpinned))
    }

    /// The terms that may meet `term`.
    fn meeting<'a>(&'a self, term: &PodTerm) -> Box<dyn Iterator<Item = &'a PodTerm> + 'a> {
        match term.namespace_name() {
            Some(ns) => Box::new(
                self.pinned
                    .get(ns)
                    .into_iter()
                    .flatten()
                    .chain(&self.unpinned),
            ),
            None => Box::new(self.pinned.values().flatten().chain(&self.unpinned)),
        }
    }

    /// Takes `other` out of the buckets it can meet, leaving the rest as
    /// they are. The caller prunes the result if it gets small.
    fn subtract(&mut self, other: &PodSet) {
        let names: Option<BTreeSet<&str>> =
            other.terms.iter().map(PodTerm::namespace_name).collect();
        let mut touched: Vec<PodTerm> = std::mem::take(&mut self.unpinned);
        match &names {
            Some(names) => {
                for ns in names {
                    touched.extend(self.pinned.remove(*ns).into_iter().flatten());
                }
            }
            None => touched.extend(std::mem::take(&mut self.pinned).into_values().flatten()),
        }
        self.len -= touched.len();
        let mut rest = Buckets::default();
        rest.extend(PodSet::difference_terms(touched, other));
        // Only the buckets that got pieces need what PodSet's normalising
        // does; the others are unchanged.
        for (ns, bucket) in rest.pinned {
            let mut merged = self.pinned.remove(&ns).unwrap_or_default();
            self.len -= merged.len();
            merged.extend(bucket);
            tidy(&mut merged);
            self.len += merged.len();
            if !merged.is_empty() {
                self.pinned.insert(ns, merged);
            }
        }
        tidy(&mut rest.unpinned);
        self.len += rest.unpinned.len();
        self.unpinned = rest.unpinned;
    }
}

/// Sorted, without empty or duplicate terms.
fn tidy(terms: &mut Vec<PodTerm>) {
    terms.retain(|t| !t.is_empty());
    terms.sort();
    terms.dedup();
}

/// A peer set with its pods bucketed as [`Pods`]; `rest` has no pods.
#[derive(Debug, Clone)]
struct Peers {
    pods: Pods,
    rest: PeerSet,
}

impl Peers {
    fn new(set: PeerSet) -> Peers {
        let PeerSet {
            pods,
            ips,
            fqdns,
            entities,
        } = set;
        Peers {
            pods: Pods::new(pods),
            rest: PeerSet {
                pods: PodSet::none(),
                ips,
                fqdns,
                entities,
            },
        }
    }

    fn into_set(self) -> PeerSet {
        PeerSet {
            pods: self.pods.into_set(),
            ..self.rest
        }
    }

    fn is_empty(&self) -> bool {
        self.pods.is_empty() && self.rest.is_empty()
    }

    fn intersection(&self, other: &PeerSet) -> Peers {
        Peers {
            pods: self.pods.intersection(&other.pods),
            rest: self.rest.intersection(&without_pods(other)),
        }
    }

    fn subtract(&mut self, other: &PeerSet) -> Result<(), NotExact> {
        self.rest = self.rest.difference(&without_pods(other))?;
        self.pods.subtract(&other.pods);
        Ok(())
    }
}

fn without_pods(set: &PeerSet) -> PeerSet {
    PeerSet {
        pods: PodSet::none(),
        ips: set.ips.clone(),
        fqdns: set.fqdns.clone(),
        entities: set.entities.clone(),
    }
}

/// The rule's connections seen from `direction`, its local pods restricted
/// to `selected`.
fn region(rule: &Rule, direction: Direction, selected: &PodIndex) -> Region {
    let (local, remote) = match direction {
        Direction::Ingress => (&rule.destination, &rule.source),
        Direction::Egress => (&rule.source, &rule.destination),
    };
    Region {
        local: selected.intersect(&local.pods),
        remote: remote.clone(),
        service: rule.service.clone(),
    }
}

pub fn allow_table(ir: &Ir) -> Result<AllowTable, AllowError> {
    Ok(AllowTable {
        ingress: direction_table(ir, Direction::Ingress)?,
        egress: direction_table(ir, Direction::Egress)?,
    })
}

/// Pods that need a policy in `direction` (see the module docs).
pub fn selected(ir: &Ir, direction: Direction) -> PodSet {
    let isolated = match direction {
        Direction::Ingress => ir.isolated_ingress(),
        Direction::Egress => ir.isolated_egress(),
    };
    let named = ir
        .rules()
        .filter(|r| r.action == Action::Deny)
        .flat_map(|rule| {
            let pods = match direction {
                Direction::Ingress => &rule.destination.pods,
                Direction::Egress => {
                    let dst = &rule.destination;
                    let beyond_pods =
                        !dst.ips.is_empty() || !dst.fqdns.is_empty() || !dst.entities.is_empty();
                    if beyond_pods {
                        &rule.source.pods
                    } else {
                        return Vec::new();
                    }
                }
            };
            pods.terms.clone()
        });
    PodSet::from_terms(isolated.terms.into_iter().chain(named))
}

fn direction_table(ir: &Ir, direction: Direction) -> Result<DirectionTable, AllowError> {
    let selected = selected(ir, direction);
    let selected_index = PodIndex::new(selected.terms.clone());
    let mut entries = Vec::new();
    let mut denies = DenyIndex::default();
    for tier in &ir.tiers {
        // Denies of this tier beat its allows, and every later tier's.
        for rule in tier.rules.iter().filter(|r| r.action == Action::Deny) {
            denies.push(region(rule, direction, &selected_index), rule.span);
        }
        for rule in tier.rules.iter().filter(|r| r.action == Action::Allow) {
            let start = region(rule, direction, &selected_index);
            for piece in denies.subtract(start, Some(rule.span))? {
                entries.push(Entry {
                    local: piece.local.into_set(),
                    remote: piece.remote.into_set(),
                    service: piece.service,
                    rules: vec![rule.span],
                });
            }
        }
    }
    // No rule matched: allowed unless isolated. Selected pods that are not
    // isolated in this direction keep that default, minus every deny, and
    // minus remote pods that are isolated the other way.
    let (isolated_here, isolated_there) = match direction {
        Direction::Ingress => (ir.isolated_ingress(), ir.isolated_egress()),
        Direction::Egress => (ir.isolated_egress(), ir.isolated_ingress()),
    };
    let local = PodIndex::new(isolated_here.terms).subtract(&selected);
    if !local.is_empty() {
        let default = Region {
            local,
            remote: PeerSet::all()
                .difference(&PeerSet::pods(isolated_there))
                .map_err(|e| AllowError {
                    rule: None,
                    deny: None,
                    message: e.0,
                    too_large: false,
                })?,
            service: Service {
                ports: PortSet::all(),
                l7: L7::Any,
            },
        };
        for piece in denies.subtract(default, None)? {
            entries.push(Entry {
                local: piece.local.into_set(),
                remote: piece.remote.into_set(),
                service: piece.service,
                rules: Vec::new(),
            });
        }
    }
    Ok(DirectionTable { selected, entries })
}

/// Pod terms bucketed by the namespace they pin, so that overlap tests look
/// only at terms that can share pods. Programs with thousands of zones are
/// mostly one zone per namespace; this keeps their tables near-linear.
struct PodIndex {
    terms: Vec<PodTerm>,
    by_namespace: HashMap<String, Vec<usize>>,
    unpinned: Vec<usize>,
}

impl PodIndex {
    fn new(terms: Vec<PodTerm>) -> PodIndex {
        let mut by_namespace: HashMap<String, Vec<usize>> = HashMap::new();
        let mut unpinned = Vec::new();
        for (i, t) in terms.iter().enumerate() {
            match t.namespace_name() {
                Some(ns) => by_namespace.entry(ns.to_string()).or_default().push(i),
                None => unpinned.push(i),
            }
        }
        PodIndex {
            terms,
            by_namespace,
            unpinned,
        }
    }

    /// Terms that may overlap `term`, in index order.
    fn candidates(&self, term: &PodTerm) -> Vec<&PodTerm> {
        self.candidate_indices(term)
            .into_iter()
            .map(|i| &self.terms[i])
            .collect()
    }

    /// The positions of the terms that may overlap `term`, in order.
    fn candidate_indices(&self, term: &PodTerm) -> Vec<usize> {
        match term.namespace_name() {
            Some(ns) => {
                let mut v: Vec<usize> = self
                    .by_namespace
                    .get(ns)
                    .into_iter()
                    .flatten()
                    .chain(self.unpinned.iter())
                    .copied()
                    .collect();
                v.sort_unstable();
                v
            }
            None => (0..self.terms.len()).collect(),
        }
    }

    /// `set ∩ (union of the indexed terms)`.
    fn intersect(&self, set: &PodSet) -> PodSet {
        let mut out = Vec::new();
        for term in &set.terms {
            let candidates = self.candidates(term);
            if candidates.iter().any(|c| term.subset(c)) {
                out.push(term.clone());
                continue;
            }
            out.extend(
                candidates
                    .iter()
                    .map(|c| term.intersection(c))
                    .filter(|t| !t.is_empty()),
            );
        }
        PodSet::from_terms(out)
    }

    /// `set − (union of the indexed terms)`.
    fn subtract(&self, set: &PodSet) -> PodSet {
        let mut out = Vec::new();
        for term in &set.terms {
            let overlapping: Vec<PodTerm> = self
                .candidates(term)
                .into_iter()
                .filter(|c| !term.intersection(c).is_empty())
                .cloned()
                .collect();
            if overlapping.is_empty() {
                out.push(term.clone());
            } else {
                let rest =
                    PodSet::from_terms([term.clone()]).difference(&PodSet::from_terms(overlapping));
                out.extend(rest.terms);
            }
        }
        PodSet::from_terms(out)
    }
}

/// Deny regions seen so far, bucketed like [`PodIndex`] by local namespace.
#[derive(Default)]
struct DenyIndex {
    /// Cut with [`Piece::minus_as`]'s `keep_local`.
    keep_local: bool,
    regions: Vec<(Region, Span)>,
    /// The denies by the namespace and pod label value their local terms pin.
    index: TermIndex,
}

impl DenyIndex {
    fn push(&mut self, region: Region, span: Span) {
        if region.is_empty() {
            return;
        }
        let i = self.regions.len();
        for term in &region.local.terms {
            self.index.insert(term, i);
        }
        self.regions.push((region, span));
    }

    /// Denies whose local pods may overlap `local`, in push order: a superset
    /// of those that do.
    fn candidates(&self, local: &Pods) -> Vec<usize> {
        let mut found = BTreeSet::new();
        match local {
            Pods::Plain(set) => {
                for term in &set.terms {
                    self.index.meeting(term, &mut found);
                }
            }
            Pods::Bucketed(buckets) => {
                if !buckets.unpinned.is_empty() {
                    return self.index.all().to_vec();
                }
                for ns in buckets.pinned.keys() {
                    self.index.in_namespace(ns, &mut found);
                }
            }
        }
        found.into_iter().collect()
    }

    /// `start` minus every deny that overlaps it.
    fn subtract(&self, start: Region, rule: Option<Span>) -> Result<Vec<Piece>, AllowError> {
        Ok(self.subtract_noting(start, rule)?.0)
    }

    /// [`DenyIndex::subtract`], with the spans of the denies that cut it.
    fn subtract_noting(
        &self,
        start: Region,
        rule: Option<Span>,
    ) -> Result<(Vec<Piece>, Vec<Span>), AllowError> {
        if start.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let start = Piece::new(start);
        let candidates = self.candidates(&start.local);
        let mut pieces = vec![start];
        let mut cut_by = Vec::new();
        for i in candidates {
            let (deny, deny_span) = &self.regions[i];
            let mut next = Vec::new();
            let mut met = false;
            for piece in pieces {
                let parts = piece
                    .minus_as(deny, self.keep_local)
                    .map_err(|e| AllowError {
                        rule,
                        deny: Some(*deny_span),
                        message: e.0,
                        too_large: false,
                    })?;
                match parts {
                    Ok(parts) => {
                        met = true;
                        next.extend(parts);
                    }
                    Err(whole) => next.push(whole),
                }
            }
            if met {
                cut_by.push(*deny_span);
            }
            if next.len() > MAX_PIECES_PER_RULE {
                return Err(AllowError {
                    rule,
                    deny: Some(*deny_span),
                    message: format!(
                        "subtracting the deny rules splits this rule into more than {MAX_PIECES_PER_RULE} pieces"
                    ),
                    too_large: true,
                });
            }
            pieces = next;
        }
        Ok((pieces, cut_by))
    }
}

impl Entry {
    /// Does this entry allow `conn`, seen from `direction`?
    pub fn matches(&self, direction: Direction, conn: &Connection) -> bool {
        let (local, remote) = match direction {
            Direction::Ingress => (&conn.destination, &conn.source),
            Direction::Egress => (&conn.source, &conn.destination),
        };
        let Endpoint::Pod(pod) = local else {
            return false;
        };
        self.local
            .matches(&pod.effective_namespace_labels(), &pod.labels)
            && eval::peer_contains(&self.remote, remote)
            && eval::service_matches(&self.service, Action::Allow, conn)
    }
}

impl AllowTable {
    /// The table's answer for a connection, as an allow-only target reads it.
    pub fn allows(&self, conn: &Connection) -> bool {
        let side_ok = |direction: Direction, table: &DirectionTable, end: &Endpoint| match end {
            Endpoint::Pod(pod) => {
                !table
                    .selected
                    .matches(&pod.effective_namespace_labels(), &pod.labels)
                    || table.entries.iter().any(|e| e.matches(direction, conn))
            }
            _ => true,
        };
        side_ok(Direction::Egress, &self.egress, &conn.source)
            && side_ok(Direction::Ingress, &self.ingress, &conn.destination)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::labels::{KeySet, Term};
    use crate::ir::sets::tests::pod_set;
    use crate::ir::{lower_text as ir_of, NAMESPACE_NAME_LABEL};
    use proptest::prelude::*;

    /// Big sets too, past the size where normalising stops pruning.
    fn any_pod_set() -> impl Strategy<Value = PodSet> {
        let filler = proptest::collection::vec((0..40usize, 0..4usize), 0..120).prop_map(|pairs| {
            PodSet::from_terms(pairs.into_iter().map(|(ns, app)| {
                let name = ["a", "b", "c"]
                    .get(ns)
                    .map_or(format!("ns-{ns}"), |n| n.to_string());
                PodTerm {
                    namespace: Term::from_constraints([(NAMESPACE_NAME_LABEL, KeySet::eq(name))]),
                    pod: Term::from_constraints([("app", KeySet::eq(format!("a{app}")))]),
                }
            }))
        });
        (pod_set(6), filler).prop_map(|(a, b)| a.union(&b))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Bucketed pods hold exactly the terms the plain operations give.
        #[test]
        fn pods_agree_with_pod_sets(start in any_pod_set(), steps in proptest::collection::vec(any_pod_set(), 1..5)) {
            let mut plain = start.clone();
            let mut pods = Pods::new(start);
            for other in &steps {
                prop_assert_eq!(pods.intersection(other).into_set(), plain.intersection(other));
                plain = plain.difference(other);
                pods.subtract(other);
                prop_assert_eq!(pods.clone().into_set(), plain.clone());
            }
        }
    }

    #[test]
    fn a_rule_split_into_too_many_pieces_is_refused() {
        // Each deny cuts every piece of the allow in three (outside its
        // sources; its sources to other destinations; the rest of the
        // ports), so eight denies make 3^8 pieces.
        let mut text = String::from("zone a { namespace \"a\" }\nzone b { namespace \"b\" }\n");
        for i in 0..8 {
            text.push_str(&format!(
                "zone s{i} {{ namespace \"a\"; pods k{i} = \"1\" }}\nzone d{i} {{ namespace \"b\"; pods k{i} = \"1\" }}\n"
            ));
        }
        text.push_str("tier first {\n");
        for i in 0..8 {
            text.push_str(&format!("  deny s{i} -> d{i} : {}\n", 100 + i));
        }
        text.push_str("}\nallow a -> b : 1-1000\n");
        let err = match allow_table(&ir_of(&text)) {
            Ok(_) => panic!("expected the piece limit"),
            Err(err) => err,
        };
        assert!(err.message.contains("more than 4096 pieces"), "{err:?}");
        assert!(err.rule.is_some() && err.deny.is_some(), "{err:?}");
    }
}
