//! Sides grouped into one policy per zone, holding its ingress and its
//! egress: a CiliumNetworkPolicy when the zone lives in one namespace by
//! name, a CiliumClusterwideNetworkPolicy otherwise, named after the zone. A
//! zone whose pods take several selectors (a union, a `not in` on a
//! namespace) has one `specs` entry per selector, each with the zone's rules.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::crd::{DefaultDeny, Kind, Policy, Spec, API_VERSION};
use super::rules::{egress_rule, ingress_rule, items, Item, ItemList};
use super::selectors::{scope_of, subject_selectors, Scope};
use super::sides::Side;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use rayon::prelude::*;

use crate::diagnostic::Span;
use crate::emit::{metadata, resource_name, to_yaml, Resource, SourceLines};
use crate::ir::term_index::TermIndex;
use crate::ir::{Action, Direction, Ir, PodSet, PodTerm};

/// One policy in the making.
#[derive(Default)]
struct Draft {
    allows: ItemList,
    denies: ItemList,
    /// Parts of denies that apply to part of the zone only (narrowed by a
    /// higher tier's allow), by the pods they apply to.
    partial: BTreeMap<PodTerm, ItemList>,
    allow_spans: Vec<Span>,
    deny_spans: Vec<Span>,
}

pub(super) fn policies(ir: &Ir, sides: &[Side], sources: &SourceLines<'_>) -> Vec<Resource> {
    let isolated = (
        Isolated::new(ir, Direction::Ingress),
        Isolated::new(ir, Direction::Egress),
    );
    let mut drafts: BTreeMap<(usize, bool), Draft> = BTreeMap::new();
    // A zone isolated in a direction has its policy, rules or not.
    for (i, zone) in ir.zones.iter().enumerate() {
        for direction in [Direction::Ingress, Direction::Egress] {
            if direction.isolates(zone) {
                drafts.entry(key(i, direction)).or_default();
            }
        }
    }
    // The rules of each side, on every core; placed in order below.
    let side_items: Vec<Vec<Item>> = sides
        .par_iter()
        .map(|side| items(&side.remote, &side.ports, &side.l7))
        .collect();
    for (side, new) in sides.iter().zip(side_items) {
        let zone = &ir.zones[side.zone];
        let draft = drafts.entry(key(side.zone, side.direction)).or_default();
        let list = if side.action == Action::Allow {
            &mut draft.allows
        } else if side.local == zone.pods {
            &mut draft.denies
        } else {
            for term in &side.local.terms {
                let list = draft.partial.entry(term.clone()).or_default();
                for item in &new {
                    list.add(item);
                }
            }
            draft.deny_spans.push(side.span);
            continue;
        };
        for item in &new {
            list.add(item);
        }
        if side.action == Action::Allow {
            draft.allow_spans.push(side.span);
        } else {
            draft.deny_spans.push(side.span);
        }
    }
    // One policy per zone: its ingress and its egress side by side.
    let mut by_zone: BTreeMap<usize, [Option<Draft>; 2]> = BTreeMap::new();
    for ((zone, ingress), draft) in drafts {
        by_zone.entry(zone).or_default()[usize::from(!ingress)] = Some(draft);
    }
    // Each zone's policy is its own: written on every core, kept in order.
    let by_zone: Vec<_> = by_zone.into_iter().collect();
    by_zone
        .into_par_iter()
        .filter_map(|(zone, [ingress, egress])| {
            let ingress = ingress.and_then(|d| part(ir, zone, Direction::Ingress, d, &isolated));
            let egress = egress.and_then(|d| part(ir, zone, Direction::Egress, d, &isolated));
            policy(ir, zone, ingress, egress, sources)
        })
        .collect()
}

fn key(zone: usize, direction: Direction) -> (usize, bool) {
    (zone, direction == Direction::Ingress)
}

/// What a zone's policy says in one direction.
struct Part {
    direction: Direction,
    isolates: bool,
    /// The rules for every pod of the zone; `None` when the zone needs none
    /// in this direction (not isolated, and nothing to deny).
    main: Option<(Vec<Item>, Vec<Item>)>,
    /// Denies for part of the zone, by the pods they apply to.
    partial: Vec<(PodTerm, Vec<Item>)>,
    /// The rules written here, each once.
    spans: Vec<Span>,
}

fn part(
    ir: &Ir,
    index: usize,
    direction: Direction,
    draft: Draft,
    isolated: &(Isolated, Isolated),
) -> Option<Part> {
    let zone = &ir.zones[index];
    let isolates = direction.isolates(zone);
    // Allows of an open zone whose pods no zone isolates in this direction
    // never decide anything: such a zone needs a policy only for its denies.
    let never_isolated = || match direction {
        Direction::Ingress => !isolated.0.meets(&zone.pods),
        Direction::Egress => !isolated.1.meets(&zone.pods),
    };
    let draft = if !isolates && never_isolated() {
        Draft {
            allows: ItemList::default(),
            allow_spans: Vec::new(),
            ..draft
        }
    } else {
        draft
    };
    let allows = draft.allows.rules();
    let denies = draft.denies.rules();
    let main = if allows.is_empty() && denies.is_empty() {
        // Cilium rejects a policy without rules; this one allows nothing.
        isolates.then(|| (vec![Item::nothing()], Vec::new()))
    } else {
        Some((allows, denies))
    };
    // A deny whose peers select nothing (a zone no namespace can hold)
    // leaves no rule; Cilium would reject the empty spec.
    let partial: Vec<(PodTerm, Vec<Item>)> = draft
        .partial
        .into_iter()
        .map(|(term, list)| (term, list.rules()))
        .filter(|(_, denies)| !denies.is_empty())
        .collect();
    if main.is_none() && partial.is_empty() {
        return None;
    }
    let mut seen = HashSet::new();
    let spans = draft
        .allow_spans
        .iter()
        .chain(&draft.deny_spans)
        .copied()
        .filter(|s| seen.insert(*s))
        .collect();
    Some(Part {
        direction,
        isolates,
        main,
        partial,
        spans,
    })
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    }
}

/// `ingress default deny, 2 rules`.
fn summary(part: &Part) -> String {
    let rules = match part.spans.len() {
        0 => "no rules".to_string(),
        1 => "1 rule".to_string(),
        n => format!("{n} rules"),
    };
    let isolation = if part.isolates {
        "default deny"
    } else {
        "not isolated"
    };
    format!("{} {isolation}, {rules}", direction_name(part.direction))
}

/// A spec's rules in one direction: `(allows, denies)` in that direction's
/// fields, and its `enableDefaultDeny` flag.
fn fill(spec: &mut Spec, direction: Direction, allows: &[Item], denies: &[Item], isolating: bool) {
    let flags = spec.enable_default_deny.get_or_insert(DefaultDeny {
        ingress: None,
        egress: None,
    });
    match direction {
        Direction::Ingress => {
            flags.ingress = Some(isolating);
            spec.ingress = nonempty(allows).map(|l| l.iter().map(ingress_rule).collect());
            spec.ingress_deny = nonempty(denies).map(|l| l.iter().map(ingress_rule).collect());
        }
        Direction::Egress => {
            flags.egress = Some(isolating);
            spec.egress = nonempty(allows).map(|l| l.iter().map(egress_rule).collect());
            spec.egress_deny = nonempty(denies).map(|l| l.iter().map(egress_rule).collect());
        }
    }
}

fn empty_spec(selector: LabelSelector, description: &str) -> Spec {
    Spec {
        description: Some(description.to_string()),
        endpoint_selector: selector,
        enable_default_deny: None,
        ingress: None,
        ingress_deny: None,
        egress: None,
        egress_deny: None,
    }
}

fn policy(
    ir: &Ir,
    index: usize,
    ingress: Option<Part>,
    egress: Option<Part>,
    sources: &SourceLines<'_>,
) -> Option<Resource> {
    let zone = &ir.zones[index];
    let scope = scope_of(&zone.pods);
    let selectors: Vec<_> = zone
        .pods
        .terms
        .iter()
        .flat_map(|t| subject_selectors(&scope, t))
        .collect();
    // A zone that selects no pod needs no policy.
    if selectors.is_empty() {
        return None;
    }
    let parts: Vec<&Part> = ingress.iter().chain(&egress).collect();
    if parts.is_empty() {
        return None;
    }
    let place = zone
        .span
        .map(|s| format!(" ({})", sources.describe(&[s])))
        .unwrap_or_default();
    let summaries: Vec<String> = parts.iter().map(|p| summary(p)).collect();
    let cited = if parts.iter().any(|p| !p.spans.is_empty()) {
        " (nplc.dev/source)"
    } else {
        ""
    };
    let description = format!("zone {}{place}: {}{cited}", zone.name, summaries.join("; "));
    let mut specs: Vec<Spec> = Vec::new();
    let main: Vec<&Part> = parts.iter().copied().filter(|p| p.main.is_some()).collect();
    if !main.is_empty() {
        for selector in &selectors {
            let mut spec = empty_spec(selector.clone(), &description);
            for part in &main {
                if let Some((allows, denies)) = &part.main {
                    fill(&mut spec, part.direction, allows, denies, part.isolates);
                }
            }
            specs.push(spec);
        }
    }
    for part in &parts {
        let text = format!(
            "zone {}{place}: the part of an {} deny that no earlier tier's allow overrides",
            zone.name,
            direction_name(part.direction)
        );
        for (term, denies) in &part.partial {
            for selector in subject_selectors(&scope, term) {
                let mut spec = empty_spec(selector, &text);
                fill(&mut spec, part.direction, &[], denies, false);
                specs.push(spec);
            }
        }
    }
    if specs.is_empty() {
        return None;
    }
    let (kind, namespace) = match &scope {
        Scope::Cluster => (Kind::CiliumClusterwideNetworkPolicy, None),
        Scope::Namespace(ns) => (Kind::CiliumNetworkPolicy, Some(ns.clone())),
    };
    let name = resource_name(&[&zone.name]);
    let mut seen = HashSet::new();
    let mut spans: Vec<Span> = parts
        .iter()
        .flat_map(|p| p.spans.iter().copied())
        .filter(|s| seen.insert(*s))
        .collect();
    if spans.is_empty() {
        spans = zone.span.into_iter().collect();
    }
    let (spec, specs) = if specs.len() == 1 {
        (specs.pop(), None)
    } else {
        (None, Some(specs))
    };
    let policy = Policy {
        api_version: API_VERSION,
        kind: kind.as_str(),
        metadata: metadata(&name, namespace.as_deref(), &sources.describe(&spans)),
        spec,
        specs,
    };
    Some(Resource {
        api_version: API_VERSION.to_string(),
        kind: kind.as_str().to_string(),
        namespace,
        name,
        document: to_yaml(&policy),
    })
}

fn nonempty(items: &[Item]) -> Option<&[Item]> {
    (!items.is_empty()).then_some(items)
}

/// The pod terms of the zones isolated in one direction, indexed by the
/// namespace and label value they pin, so that asking whether a zone meets
/// them looks only at the terms that can intersect (linear in the program,
/// not quadratic).
struct Isolated {
    terms: Vec<PodTerm>,
    index: TermIndex,
}

impl Isolated {
    fn new(ir: &Ir, direction: Direction) -> Isolated {
        let mut terms = Vec::new();
        let mut index = TermIndex::default();
        for zone in ir.zones.iter().filter(|z| direction.isolates(z)) {
            for term in &zone.pods.terms {
                index.insert(term, terms.len());
                terms.push(term.clone());
            }
        }
        Isolated { terms, index }
    }

    /// Whether some pod of `pods` is in an isolated zone.
    fn meets(&self, pods: &PodSet) -> bool {
        pods.terms.iter().any(|term| {
            let mut found = BTreeSet::new();
            self.index.meeting(term, &mut found);
            found
                .into_iter()
                .any(|i| !term.intersection(&self.terms[i]).is_empty())
        })
    }
}
