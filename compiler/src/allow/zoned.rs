//! The allow table as a target that checks both ends of a connection
//! (Kubernetes NetworkPolicy) needs it, placed in the policies of zones.
//!
//! Same meaning as [`super::allow_table`]: a connection is allowed iff each
//! pod end is unselected in its direction or matched by an entry. Two things
//! differ, both to keep denies out of rules they do not concern:
//!
//! - Egress does not carve the pod part of a deny. The destination pods of a
//!   deny are always selected for ingress, and their ingress entries are
//!   exact, so the destination refuses the connection whatever the source's
//!   egress says. Egress only carves what no ingress policy sees: addresses,
//!   names and entities. For the same reason the egress isolation default
//!   allows every pod, and the ingress one every pod too: a source isolated
//!   for egress only reaches what an allow names, and that allow's ingress
//!   entry (exact) decides.
//! - Entries are placed: each belongs to the policy of one zone. A rule goes
//!   to the policies of the selected zones inside its local side (the
//!   `subjects`: zones isolated in that direction, and pods a deny names),
//!   or, where its local side is narrower than those, to its own zone's
//!   policy narrowed to the selected pods. A deny that meets the rule cuts
//!   only that rule's entries; a cut that changes which pods an entry is for
//!   leaves `whole` false, and the emitter gives it a policy of its own.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use crate::algebra::labels::{KeySet, Term, ValueSet};
use crate::inventory::Namespace;

use super::{
    region, selected, without_pods, AllowError, DenyIndex, Direction, DirectionTable, Entry,
    PodIndex,
};
use crate::algebra::ports::PortSet;
use crate::diagnostic::Span;
use crate::ir::{Ir, PeerSet, PodSet, PodTerm, Rule, Service, L7, NAMESPACE_NAME_LABEL};
use crate::syntax::ast::Action;

/// Allows placed on every core at a time (a chunk's entries wait to be
/// gathered in program order).
const ALLOWS_PER_CHUNK: usize = 4096;

/// Pods that must be selected in a direction, and the zone they are for.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Index in `Ir::zones`.
    pub zone: usize,
    pub term: PodTerm,
    /// A zone isolated in this direction is exactly these pods.
    pub isolated: bool,
    /// Why they are selected: the isolating zones, or the denies naming them.
    pub origin: Vec<Span>,
    /// Other subjects strictly containing this one (positions in the table).
    pub contained_in: Vec<usize>,
}

/// Allowed connections of `local` pods, held by `zone`'s policy.
#[derive(Debug, Clone)]
pub struct ZoneEntry {
    /// Index in `Ir::zones`.
    pub zone: usize,
    pub local: PodTerm,
    /// `local` is what the zone's policy selects, not a piece a deny cut.
    pub whole: bool,
    pub remote: PeerSet,
    pub service: Service,
    /// The allow rule; `None` for the isolation default.
    pub rule: Option<Span>,
    /// The denies that cut it (for the default, also those that made it).
    /// A rule the denies take whole leaves an entry with no remote peers.
    pub denies: Vec<Span>,
}

/// One direction's placed table.
#[derive(Debug, Clone)]
pub struct ZoneTable {
    pub selected: PodSet,
    pub subjects: Vec<Subject>,
    pub entries: Vec<ZoneEntry>,
}

impl ZoneTable {
    /// The table without placement, for [`super::AllowTable::allows`].
    pub fn to_direction_table(&self) -> DirectionTable {
        DirectionTable {
            selected: self.selected.clone(),
            entries: self
                .entries
                .iter()
                .map(|e| Entry {
                    local: PodSet::from_terms([e.local.clone()]),
                    remote: e.remote.clone(),
                    service: e.service.clone(),
                    rules: e.rule.into_iter().collect(),
                })
                .collect(),
        }
    }
}

/// Where a rule's entries go before denies cut them.
struct Part {
    zone: usize,
    local: PodSet,
}

/// `namespaces`: the cluster's namespaces when known (`--namespaces`); a
/// subject over namespaces by label is then split per namespace, so that a
/// deny in one namespace cuts only that namespace's policy.
pub fn zone_table(
    ir: &Ir,
    direction: Direction,
    namespaces: Option<&[Namespace]>,
) -> Result<ZoneTable, AllowError> {
    let zone_of = ZoneOf::new(ir, direction);
    let subjects = subjects(ir, direction, &zone_of, namespaces);
    let selected = selected(ir, direction);
    let selected_index = PodIndex::new(selected.terms.clone());
    let subject_index = SubjectIndex::new(&subjects);
    let mut entries = Vec::new();
    let mut denies = DenyIndex {
        keep_local: true,
        ..DenyIndex::default()
    };
    for tier in &ir.tiers {
        // Denies of this tier beat its allows, and every later tier's.
        for rule in tier.rules.iter().filter(|r| r.action == Action::Deny) {
            let mut deny = region(rule, direction, &selected_index);
            if direction == Direction::Egress {
                deny.remote = without_pods(&deny.remote);
            }
            denies.push(deny, rule.span);
        }
        // The tier's allows all meet the same denies: each is placed on
        // every core, and their entries are kept in program order (the
        // first error in program order is the one reported).
        let allows: Vec<&Rule> = tier
            .rules
            .iter()
            .filter(|r| r.action == Action::Allow)
            .collect();
        for chunk in allows.chunks(ALLOWS_PER_CHUNK) {
            let placed: Vec<Result<Vec<ZoneEntry>, AllowError>> = chunk
                .par_iter()
                .map(|rule| {
                    let mut out = Vec::new();
                    let (local, remote) = sides(rule, direction);
                    for term in &local.terms {
                        for part in parts(term, &subjects, &subject_index, &zone_of) {
                            place(
                                &denies,
                                part,
                                remote,
                                &rule.service,
                                Some(rule.span),
                                &[],
                                &mut out,
                            )?;
                        }
                    }
                    Ok(out)
                })
                .collect();
            for rule_entries in placed {
                entries.extend(rule_entries?);
            }
        }
    }
    // No rule matched: pods selected only because a deny names them keep
    // their default, minus the denies.
    let isolated = match direction {
        Direction::Ingress => ir.isolated_ingress(),
        Direction::Egress => ir.isolated_egress(),
    };
    let isolated_index = PodIndex::new(isolated.terms);
    let every_service = Service {
        ports: PortSet::all(),
        l7: L7::Any,
    };
    let defaults: Vec<Result<Vec<ZoneEntry>, AllowError>> = subjects
        .par_iter()
        .filter(|s| !s.isolated)
        .map(|subject| {
            let mut out = Vec::new();
            let local = isolated_index.subtract(&PodSet::from_terms([subject.term.clone()]));
            if local.is_empty() {
                return Ok(out);
            }
            let part = Part {
                zone: subject.zone,
                local,
            };
            place(
                &denies,
                part,
                &PeerSet::all(),
                &every_service,
                None,
                &subject.origin,
                &mut out,
            )?;
            Ok(out)
        })
        .collect();
    for subject_entries in defaults {
        entries.extend(subject_entries?);
    }
    Ok(ZoneTable {
        selected,
        subjects,
        entries,
    })
}

/// Both directions, as an [`super::AllowTable`] (for tests), with the
/// cluster's namespaces as `--namespaces` gives them or without.
pub fn zoned_allow_table(
    ir: &Ir,
    namespaces: Option<&[Namespace]>,
) -> Result<super::AllowTable, AllowError> {
    Ok(super::AllowTable {
        ingress: zone_table(ir, Direction::Ingress, namespaces)?.to_direction_table(),
        egress: zone_table(ir, Direction::Egress, namespaces)?.to_direction_table(),
    })
}

fn sides(rule: &Rule, direction: Direction) -> (&PodSet, &PeerSet) {
    match direction {
        Direction::Ingress => (&rule.destination.pods, &rule.source),
        Direction::Egress => (&rule.source.pods, &rule.destination),
    }
}

/// A rule's local term split over the policies that hold it: every subject
/// inside it that is inside no other subject, and the rest of the selected
/// pods it meets, in its own zone's policy (unless the term is a subject).
fn parts(
    term: &PodTerm,
    subjects: &[Subject],
    index: &SubjectIndex,
    zone_of: &ZoneOf<'_>,
) -> Vec<Part> {
    let mut out = Vec::new();
    let mut narrowed = Vec::new();
    let mut is_subject = false;
    for i in index.candidate_indices(term) {
        let subject = &subjects[i];
        if subject.term.subset(term) {
            // A subject inside another is covered by that one's part (the
            // other is inside the term too, or meets it and is narrowed).
            let itself = subject.term == *term;
            if itself || subject.contained_in.is_empty() {
                is_subject |= itself;
                out.push(Part {
                    zone: subject.zone,
                    local: PodSet::from_terms([subject.term.clone()]),
                });
            }
        } else {
            let common = term.intersection(&subject.term);
            if !common.is_empty() {
                narrowed.push(common);
            }
        }
    }
    // When the term is itself a subject, its policy holds the rule already.
    if !narrowed.is_empty() && !is_subject {
        out.push(Part {
            zone: zone_of.get(term),
            local: PodSet::from_terms(narrowed),
        });
    }
    out
}

/// A part minus the denies that meet it, as entries.
fn place(
    denies: &DenyIndex,
    part: Part,
    remote: &PeerSet,
    service: &Service,
    rule: Option<Span>,
    origin: &[Span],
    entries: &mut Vec<ZoneEntry>,
) -> Result<(), AllowError> {
    let planned = part.local.clone();
    let start = super::Region {
        local: part.local,
        remote: remote.clone(),
        service: service.clone(),
    };
    let (pieces, cut_by) = denies.subtract_noting(start, rule)?;
    let mut shaped_by: Vec<Span> = origin.to_vec();
    shaped_by.extend(cut_by);
    if pieces.is_empty() && !shaped_by.is_empty() {
        // Denied whole: an entry that matches nothing keeps the record of
        // the rule and the denies in the zone's policy.
        for local in planned.terms {
            entries.push(ZoneEntry {
                zone: part.zone,
                whole: true,
                local,
                remote: PeerSet::none(),
                service: service.clone(),
                rule,
                denies: shaped_by.clone(),
            });
        }
        return Ok(());
    }
    for piece in pieces {
        let remote = piece.remote.into_set();
        for local in piece.local.into_set().terms {
            entries.push(ZoneEntry {
                zone: part.zone,
                whole: planned.terms.contains(&local),
                local,
                remote: remote.clone(),
                service: piece.service.clone(),
                rule,
                denies: shaped_by.clone(),
            });
        }
    }
    Ok(())
}

/// The selected pods of a direction as subjects, one per distinct term.
fn subjects(
    ir: &Ir,
    direction: Direction,
    zone_of: &ZoneOf<'_>,
    namespaces: Option<&[Namespace]>,
) -> Vec<Subject> {
    let mut by_term: BTreeMap<PodTerm, Subject> = BTreeMap::new();
    // Isolated first: a term both isolated and named by a deny is isolated.
    for zone in ir.zones.iter().filter(|z| direction.isolates(z)) {
        for term in &zone.pods.terms {
            let subject = by_term.entry(term.clone()).or_insert_with(|| Subject {
                zone: zone_of.get(term),
                term: term.clone(),
                isolated: true,
                origin: Vec::new(),
                contained_in: Vec::new(),
            });
            subject.origin.extend(zone.span);
        }
    }
    for rule in ir.rules().filter(|r| r.action == Action::Deny) {
        for term in &denied_locals(rule, direction).terms {
            let subject = by_term.entry(term.clone()).or_insert_with(|| Subject {
                zone: zone_of.get(term),
                term: term.clone(),
                isolated: false,
                origin: Vec::new(),
                contained_in: Vec::new(),
            });
            if !subject.isolated && !subject.origin.contains(&rule.span) {
                subject.origin.push(rule.span);
            }
        }
    }
    if let Some(namespaces) = namespaces {
        by_term = split_per_namespace(by_term, namespaces);
    }
    let mut subjects: Vec<Subject> = by_term.into_values().collect();
    let index = SubjectIndex::new(&subjects);
    for i in 0..subjects.len() {
        let containers: Vec<usize> = index
            .candidate_indices(&subjects[i].term)
            .into_iter()
            .filter(|&j| j != i && subjects[i].term.subset(&subjects[j].term))
            .collect();
        subjects[i].contained_in = containers;
    }
    subjects
}

/// Subjects as one subject per namespace of the inventory they cover, each
/// pinned to that namespace's name and labels (so that a zone in a
/// namespace is seen inside a zone over namespaces with its labels); the
/// zone and origin stay.
fn split_per_namespace(
    by_term: BTreeMap<PodTerm, Subject>,
    namespaces: &[Namespace],
) -> BTreeMap<PodTerm, Subject> {
    let exact: Vec<(Term, BTreeMap<String, String>)> = namespaces
        .iter()
        .map(|ns| {
            let mut labels = ns.labels.clone();
            labels.insert(NAMESPACE_NAME_LABEL.to_string(), ns.name.clone());
            let term = Term::from_constraints(
                labels
                    .iter()
                    .map(|(k, v)| (k.clone(), KeySet::eq(v.clone()))),
            );
            (term, labels)
        })
        .collect();
    let mut out: BTreeMap<PodTerm, Subject> = BTreeMap::new();
    for (term, subject) in by_term {
        let pinned = term.namespace_name();
        // A namespace the program names but the inventory lacks keeps its
        // subject whole (as `selectors::namespaces_of` trusts the name): a
        // stale inventory must never drop a zone's isolation.
        let listed = |name: &str| namespaces.iter().any(|ns| ns.name == name);
        if pinned.is_some_and(|p| !listed(p)) {
            merge(&mut out, Subject { term, ..subject });
            continue;
        }
        for (ns_term, labels) in &exact {
            let name = labels.get(NAMESPACE_NAME_LABEL).map(String::as_str);
            if pinned.is_some_and(|p| Some(p) != name) || !term.namespace.matches(labels) {
                continue;
            }
            let term = PodTerm {
                namespace: term.namespace.intersection(ns_term),
                pod: term.pod.clone(),
            };
            merge(
                &mut out,
                Subject {
                    term,
                    ..subject.clone()
                },
            );
        }
    }
    out
}

/// Adds a subject; one already there for the same pods keeps its zone and
/// gains the origin.
fn merge(out: &mut BTreeMap<PodTerm, Subject>, subject: Subject) {
    match out.get_mut(&subject.term) {
        Some(there) => {
            there.isolated |= subject.isolated;
            for span in subject.origin {
                if !there.origin.contains(&span) {
                    there.origin.push(span);
                }
            }
        }
        None => {
            out.insert(subject.term.clone(), subject);
        }
    }
}

/// The pods a deny makes selected in `direction` (see [`super::selected`]).
fn denied_locals(rule: &Rule, direction: Direction) -> PodSet {
    match direction {
        Direction::Ingress => rule.destination.pods.clone(),
        Direction::Egress => {
            let dst = &rule.destination;
            if dst.ips.is_empty() && dst.fqdns.is_empty() && dst.entities.is_empty() {
                PodSet::none()
            } else {
                rule.source.pods.clone()
            }
        }
    }
}

/// The zone a pod term is named after: a zone that is exactly the term,
/// preferring one isolated in the direction, then one that is only this
/// term (not a union), then the first declared.
struct ZoneOf<'a> {
    ir: &'a Ir,
    by_term: HashMap<&'a PodTerm, (u8, usize)>,
}

impl<'a> ZoneOf<'a> {
    fn new(ir: &'a Ir, direction: Direction) -> ZoneOf<'a> {
        let mut by_term: HashMap<&PodTerm, (u8, usize)> = HashMap::new();
        for (i, zone) in ir.zones.iter().enumerate() {
            let rank = if direction.isolates(zone) {
                0
            } else if zone.pods.terms.len() == 1 {
                1
            } else {
                2
            };
            for term in &zone.pods.terms {
                let best = by_term.entry(term).or_insert((rank, i));
                if rank < best.0 {
                    *best = (rank, i);
                }
            }
        }
        ZoneOf { ir, by_term }
    }

    /// Terms that are no zone's (rare: subjects are zones' terms) go to the
    /// last declared zone containing them.
    fn get(&self, term: &PodTerm) -> usize {
        if let Some(&(_, i)) = self.by_term.get(term) {
            return i;
        }
        self.ir
            .zones
            .iter()
            .enumerate()
            .rev()
            .find(|(_, z)| z.pods.terms.iter().any(|u| term.subset(u)))
            .map_or(0, |(i, _)| i)
    }
}

/// Subjects bucketed by the namespace they pin and by one pod label value
/// they require, so that finding the subjects a rule's term meets looks at
/// few of them: programs put many zones in a few shared namespaces and tell
/// them apart by a label such as `app`.
struct SubjectIndex {
    /// Namespace name (`None`: not pinned) → bucket.
    by_namespace: HashMap<Option<String>, Bucket>,
}

#[derive(Default)]
struct Bucket {
    /// Label key → value → subjects requiring that value.
    by_label: BTreeMap<String, HashMap<String, Vec<usize>>>,
    /// Subjects requiring no single label value.
    rest: Vec<usize>,
}

impl SubjectIndex {
    fn new(subjects: &[Subject]) -> SubjectIndex {
        let mut by_namespace: HashMap<Option<String>, Bucket> = HashMap::new();
        for (i, subject) in subjects.iter().enumerate() {
            let bucket = by_namespace
                .entry(subject.term.namespace_name().map(str::to_string))
                .or_default();
            match required_label(&subject.term.pod) {
                Some((key, value)) => bucket
                    .by_label
                    .entry(key.to_string())
                    .or_default()
                    .entry(value.to_string())
                    .or_default()
                    .push(i),
                None => bucket.rest.push(i),
            }
        }
        SubjectIndex { by_namespace }
    }

    /// Positions of the subjects that may meet `term`, sorted.
    fn candidate_indices(&self, term: &PodTerm) -> Vec<usize> {
        let mut out = Vec::new();
        let mut visit = |bucket: &Bucket| {
            out.extend(&bucket.rest);
            for (key, values) in &bucket.by_label {
                let allowed = term.pod.constraint(key);
                match &allowed.values {
                    ValueSet::Only(wanted) if wanted.len() < values.len() => {
                        for v in wanted {
                            out.extend(values.get(v).into_iter().flatten());
                        }
                    }
                    set => {
                        for (v, found) in values {
                            if set.contains(v) {
                                out.extend(found);
                            }
                        }
                    }
                }
            }
        };
        match term.namespace_name() {
            Some(ns) => {
                for key in [Some(ns.to_string()), None] {
                    if let Some(bucket) = self.by_namespace.get(&key) {
                        visit(bucket);
                    }
                }
            }
            None => self.by_namespace.values().for_each(&mut visit),
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The first label key a pod term requires one value of, with that value.
fn required_label(pod: &Term) -> Option<(&str, &str)> {
    pod.constraints()?
        .iter()
        .find_map(|(key, set)| match &set.values {
            ValueSet::Only(values) if !set.absent && values.len() == 1 => {
                values.iter().next().map(|v| (key.as_str(), v.as_str()))
            }
            _ => None,
        })
}
