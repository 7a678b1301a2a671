//! Cilium's view of pods: a pod's labels, plus `io.kubernetes.pod.namespace`
//! and its namespace's labels as `io.cilium.k8s.namespace.labels.KEY`.
//! Every selector nplc writes states the namespace, so nothing depends on
//! Cilium's per-kind and per-version defaults for selectors without one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::algebra::labels::{Operator, Requirement, Term};
use crate::emit::selectors::label_selector;
use crate::ir::{PodSet, PodTerm, NAMESPACE_NAME_LABEL};

/// The label Cilium gives every pod with its namespace's name.
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// The prefix of the labels Cilium copies from a pod's namespace.
pub const NAMESPACE_LABELS_PREFIX: &str = "io.cilium.k8s.namespace.labels.";

/// Where a policy lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// A CiliumClusterwideNetworkPolicy.
    Cluster,
    /// A CiliumNetworkPolicy in this namespace.
    Namespace(String),
}

/// A CNP when every term of the pods pins the same one namespace by name.
pub fn scope_of(pods: &PodSet) -> Scope {
    let mut names = pods.terms.iter().map(PodTerm::namespace_name);
    match names.next() {
        Some(Some(first)) if names.all(|n| n == Some(first)) => Scope::Namespace(first.to_string()),
        _ => Scope::Cluster,
    }
}

/// The endpoint selectors for the pods of `term` in a policy of `scope`.
pub fn subject_selectors(scope: &Scope, term: &PodTerm) -> Vec<LabelSelector> {
    let pods = term.pod.to_requirements();
    let namespaces: Vec<Vec<Requirement>> = match scope {
        // In a CNP the namespace is the policy's: only its other labels.
        Scope::Namespace(_) if term.namespace_name().is_some() => {
            let rest = Term::from_constraints(
                term.namespace
                    .constraints()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| k.as_str() != NAMESPACE_NAME_LABEL)
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            rest.to_requirements()
                .iter()
                .map(|c| c.iter().map(namespace_requirement).collect())
                .collect()
        }
        _ => term
            .namespace
            .to_requirements()
            .iter()
            .filter_map(|c| stated_namespace(c))
            .collect(),
    };
    let mut out = Vec::new();
    for ns in &namespaces {
        for pod in &pods {
            let conj: Vec<Requirement> = ns.iter().chain(pod).cloned().collect();
            out.push(label_selector(&conj));
        }
    }
    out
}

/// Selectors for the pods of a peer term, each stating the namespace.
pub fn peer_selectors(term: &PodTerm) -> Vec<LabelSelector> {
    subject_selectors(&Scope::Cluster, term)
}

/// A namespace-label requirement as a requirement on the pod's Cilium labels.
fn namespace_requirement(req: &Requirement) -> Requirement {
    let key = if req.key == NAMESPACE_NAME_LABEL {
        POD_NAMESPACE_LABEL.to_string()
    } else {
        format!("{NAMESPACE_LABELS_PREFIX}{}", req.key)
    };
    Requirement {
        key,
        op: req.op.clone(),
    }
}

/// Namespace requirements as Cilium requirements that name the namespace
/// key: `Exists` is added unless an `In` pins it. `None` for a conjunction
/// that asks for a namespace without a name, which no pod is in.
fn stated_namespace(conj: &[Requirement]) -> Option<Vec<Requirement>> {
    let mut out: Vec<Requirement> = conj.iter().map(namespace_requirement).collect();
    let mut pinned = false;
    for r in out.iter().filter(|r| r.key == POD_NAMESPACE_LABEL) {
        match r.op {
            Operator::DoesNotExist => return None,
            Operator::In(_) | Operator::Exists => pinned = true,
            Operator::NotIn(_) => {}
        }
    }
    if !pinned {
        out.insert(
            0,
            Requirement {
                key: POD_NAMESPACE_LABEL.to_string(),
                op: Operator::Exists,
            },
        );
    }
    Some(out)
}
