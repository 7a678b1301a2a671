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

use std::collections::{BTreeSet, HashMap};

use crate::algebra::ports::PortSet;
use crate::diagnostic::Span;
use crate::eval::{self, Connection, Endpoint};
use crate::ir::{Ir, NotExact, PeerSet, PodSet, PodTerm, Rule, Service, L7};
use crate::syntax::ast::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Ingress,
    Egress,
}

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

    /// (L×R×S) − (L'×R'×S') as disjoint-ish products.
    fn minus(&self, other: &Region) -> Result<Vec<Region>, NotExact> {
        let local_common = self.local.intersection(&other.local);
        if local_common.is_empty() {
            return Ok(vec![self.clone()]);
        }
        let remote_common = self.remote.intersection(&other.remote);
        if remote_common.is_empty() {
            return Ok(vec![self.clone()]);
        }
        let ports_common = self
            .service
            .ports
            .intersection(&other.service.ports)
            .map_err(|e| NotExact(e.to_string()))?;
        if ports_common.is_empty() {
            return Ok(vec![self.clone()]);
        }
        let mut out = vec![
            Region {
                local: self.local.difference(&other.local),
                ..self.clone()
            },
            Region {
                local: local_common.clone(),
                remote: self.remote.difference(&other.remote)?,
                service: self.service.clone(),
            },
            Region {
                local: local_common.clone(),
                remote: remote_common.clone(),
                service: Service {
                    ports: self
                        .service
                        .ports
                        .difference(&other.service.ports)
                        .map_err(|e| NotExact(e.to_string()))?,
                    l7: self.service.l7.clone(),
                },
            },
        ];
        if let Some(l7) = self.service.l7.difference(&other.service.l7)? {
            out.push(Region {
                local: local_common,
                remote: remote_common,
                service: Service {
                    ports: ports_common,
                    l7,
                },
            });
        }
        out.retain(|r| !r.is_empty());
        Ok(out)
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
                    local: piece.local,
                    remote: piece.remote,
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
                })?,
            service: Service {
                ports: PortSet::all(),
                l7: L7::Any,
            },
        };
        for piece in denies.subtract(default, None)? {
            entries.push(Entry {
                local: piece.local,
                remote: piece.remote,
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
        let indices: Vec<usize> = match term.namespace_name() {
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
        };
        indices.into_iter().map(|i| &self.terms[i]).collect()
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
    regions: Vec<(Region, Span)>,
    by_namespace: HashMap<String, Vec<usize>>,
    unpinned: Vec<usize>,
}

impl DenyIndex {
    fn push(&mut self, region: Region, span: Span) {
        if region.is_empty() {
            return;
        }
        let i = self.regions.len();
        let names: Option<BTreeSet<String>> = region
            .local
            .terms
            .iter()
            .map(|t| t.namespace_name().map(str::to_string))
            .collect();
        match names {
            Some(names) => {
                for ns in names {
                    self.by_namespace.entry(ns).or_default().push(i);
                }
            }
            None => self.unpinned.push(i),
        }
        self.regions.push((region, span));
    }

    /// Denies whose local pods may overlap `region`'s, in push order.
    fn candidates(&self, region: &Region) -> Vec<usize> {
        let names: Option<BTreeSet<&str>> = region
            .local
            .terms
            .iter()
            .map(PodTerm::namespace_name)
            .collect();
        let Some(names) = names else {
            return (0..self.regions.len()).collect();
        };
        let mut found: BTreeSet<usize> = self.unpinned.iter().copied().collect();
        for ns in names {
            found.extend(self.by_namespace.get(ns).into_iter().flatten().copied());
        }
        found.into_iter().collect()
    }

    /// `start` minus every deny that overlaps it.
    fn subtract(&self, start: Region, rule: Option<Span>) -> Result<Vec<Region>, AllowError> {
        if start.is_empty() {
            return Ok(Vec::new());
        }
        let candidates = self.candidates(&start);
        let mut pieces = vec![start];
        for i in candidates {
            let (deny, deny_span) = &self.regions[i];
            let mut next = Vec::new();
            for piece in &pieces {
                let parts = piece.minus(deny).map_err(|e| AllowError {
                    rule,
                    deny: Some(*deny_span),
                    message: e.0,
                })?;
                next.extend(parts);
            }
            if next.len() > MAX_PIECES_PER_RULE {
                return Err(AllowError {
                    rule,
                    deny: Some(*deny_span),
                    message: format!(
                        "subtracting the deny rules splits this rule into more than {MAX_PIECES_PER_RULE} pieces"
                    ),
                });
            }
            pieces = next;
        }
        Ok(pieces)
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
