//! Sides grouped into one policy per zone and direction: a
//! CiliumNetworkPolicy when the zone lives in one namespace by name, a
//! CiliumClusterwideNetworkPolicy otherwise, named `ZONE-DIRECTION`. A zone
//! whose pods take several selectors (a union, a `not in` on a namespace)
//! has one `specs` entry per selector, each with the zone's rules.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::crd::{DefaultDeny, Kind, Policy, Spec, API_VERSION};
use super::rules::{egress_rule, ingress_rule, items, Item, ItemList};
use super::selectors::{scope_of, subject_selectors, Scope};
use super::sides::Side;
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
    for side in sides {
        let zone = &ir.zones[side.zone];
        let draft = drafts.entry(key(side.zone, side.direction)).or_default();
        let list = if side.action == Action::Allow {
            &mut draft.allows
        } else if side.local == zone.pods {
            &mut draft.denies
        } else {
            let new = items(&side.remote, &side.ports, &side.l7);
            for term in &side.local.terms {
                let list = draft.partial.entry(term.clone()).or_default();
                for item in &new {
                    list.add(item);
                }
            }
            draft.deny_spans.push(side.span);
            continue;
        };
        for item in items(&side.remote, &side.ports, &side.l7) {
            list.add(&item);
        }
        if side.action == Action::Allow {
            draft.allow_spans.push(side.span);
        } else {
            draft.deny_spans.push(side.span);
        }
    }
    drafts
        .into_iter()
        .filter_map(|((zone, ingress), draft)| {
            let direction = if ingress {
                Direction::Ingress
            } else {
                Direction::Egress
            };
            policy(ir, zone, direction, draft, &isolated, sources)
        })
        .collect()
}

fn key(zone: usize, direction: Direction) -> (usize, bool) {
    (zone, direction == Direction::Ingress)
}

fn policy(
    ir: &Ir,
    index: usize,
    direction: Direction,
    draft: Draft,
    isolated: &(Isolated, Isolated),
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
    let dir = match direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    };
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
    let place = zone
        .span
        .map(|s| format!(" ({})", sources.describe(&[s])))
        .unwrap_or_default();
    let mut allows = draft.allows.rules();
    let denies = draft.denies.rules();
    let main = !allows.is_empty() || !denies.is_empty() || isolates;
    if main && allows.is_empty() && denies.is_empty() {
        // Cilium rejects a policy without rules; this one allows nothing.
        allows.push(Item::nothing());
    }
    let mut seen = HashSet::new();
    let rule_spans: Vec<Span> = draft
        .allow_spans
        .iter()
        .chain(&draft.deny_spans)
        .copied()
        .filter(|s| seen.insert(*s))
        .collect();
    let description = format!(
        "{dir} of zone {}{place}: {}; {}",
        zone.name,
        if isolates {
            "default deny"
        } else {
            "not isolated"
        },
        match rule_spans.len() {
            0 => "no rules".to_string(),
            1 => "1 rule (nplc.dev/source)".to_string(),
            n => format!("{n} rules (nplc.dev/source)"),
        },
    );
    let flags = |isolating: bool| DefaultDeny {
        ingress: (direction == Direction::Ingress).then_some(isolating),
        egress: (direction == Direction::Egress).then_some(isolating),
    };
    let spec = |selector, allows: &[Item], denies: &[Item], isolating: bool, text: &str| {
        let (ingress, ingress_deny, egress, egress_deny) = match direction {
            Direction::Ingress => (
                nonempty(allows).map(|l| l.iter().map(ingress_rule).collect()),
                nonempty(denies).map(|l| l.iter().map(ingress_rule).collect()),
                None,
                None,
            ),
            Direction::Egress => (
                None,
                None,
                nonempty(allows).map(|l| l.iter().map(egress_rule).collect()),
                nonempty(denies).map(|l| l.iter().map(egress_rule).collect()),
            ),
        };
        Spec {
            description: Some(text.to_string()),
            endpoint_selector: selector,
            enable_default_deny: Some(flags(isolating)),
            ingress,
            ingress_deny,
            egress,
            egress_deny,
        }
    };
    let mut specs: Vec<Spec> = selectors
        .into_iter()
        .filter(|_| main)
        .map(|s| spec(s, &allows, &denies, isolates, &description))
        .collect();
    let partial_text = format!(
        "{dir} of zone {}{place}: the part of a deny that no earlier tier's allow overrides",
        zone.name
    );
    for (term, list) in &draft.partial {
        let denies = list.rules();
        // A deny whose peers select nothing (a zone no namespace can hold)
        // leaves no rule; Cilium would reject the empty spec.
        if denies.is_empty() {
            continue;
        }
        for selector in subject_selectors(&scope, term) {
            specs.push(spec(selector, &[], &denies, false, &partial_text));
        }
    }
    let (kind, namespace) = match &scope {
        Scope::Cluster => (Kind::CiliumClusterwideNetworkPolicy, None),
        Scope::Namespace(ns) => (Kind::CiliumNetworkPolicy, Some(ns.clone())),
    };
    let name = resource_name(&[&zone.name, dir]);
    let spans = if rule_spans.is_empty() {
        zone.span.into_iter().collect()
    } else {
        rule_spans
    };
    if specs.is_empty() {
        return None;
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
