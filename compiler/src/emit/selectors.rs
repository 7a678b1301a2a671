//! Label terms as Kubernetes label selectors, shared by the backends.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::algebra::labels::{Operator, Requirement, Term, ValueSet};
use crate::inventory::Namespace;
use crate::ir::{PodTerm, NAMESPACE_NAME_LABEL};

/// A term as alternatives of Kubernetes selectors (most terms give one; a key
/// that may be absent *or* have given values gives two).
pub fn label_selectors(term: &Term) -> Vec<LabelSelector> {
    term.to_requirements()
        .into_iter()
        .map(|conj| label_selector(&conj))
        .collect()
}

/// One conjunction as a selector: single-value `In` as `matchLabels`, the rest
/// as `matchExpressions`; `{}` for no requirement.
pub fn label_selector(conj: &[Requirement]) -> LabelSelector {
    let mut match_labels = BTreeMap::new();
    let mut expressions = Vec::new();
    for req in conj {
        match &req.op {
            Operator::In(values) if values.len() == 1 => {
                if let Some(v) = values.iter().next() {
                    match_labels.insert(req.key.clone(), v.clone());
                }
            }
            op => expressions.push(requirement(&req.key, op)),
        }
    }
    LabelSelector {
        match_labels: (!match_labels.is_empty()).then_some(match_labels),
        match_expressions: (!expressions.is_empty()).then_some(expressions),
    }
}

fn requirement(key: &str, op: &Operator) -> LabelSelectorRequirement {
    let (operator, values) = match op {
        Operator::In(v) => ("In", Some(v.iter().cloned().collect())),
        Operator::NotIn(v) => ("NotIn", Some(v.iter().cloned().collect())),
        Operator::Exists => ("Exists", None),
        Operator::DoesNotExist => ("DoesNotExist", None),
    };
    LabelSelectorRequirement {
        key: key.to_string(),
        operator: operator.to_string(),
        values,
    }
}

/// The namespaces a pod term lives in: the names it pins when it constrains
/// nothing but the name; otherwise the inventory's namespaces that match, or
/// `None` when it would take an inventory to know.
pub fn namespaces_of(term: &PodTerm, inventory: Option<&[Namespace]>) -> Option<Vec<String>> {
    if let Some(names) = pinned_names(&term.namespace) {
        return Some(names);
    }
    let inventory = inventory?;
    let mut names: Vec<String> = inventory
        .iter()
        .filter(|ns| {
            let mut labels = ns.labels.clone();
            labels.insert(NAMESPACE_NAME_LABEL.to_string(), ns.name.clone());
            term.namespace.matches(&labels)
        })
        .map(|ns| ns.name.clone())
        .collect();
    names.sort();
    names.dedup();
    Some(names)
}

/// `Some(names)` when the term is exactly "the namespace is one of these names".
pub fn pinned_names(namespace: &Term) -> Option<Vec<String>> {
    let keys = namespace.constraints()?;
    if keys.len() != 1 {
        return None;
    }
    let set = keys.get(NAMESPACE_NAME_LABEL)?;
    match &set.values {
        ValueSet::Only(names) if !set.absent => Some(names.iter().cloned().collect()),
        _ => None,
    }
}
