//! An index of pod terms by what tells zones apart in real programs: the
//! namespace a term pins by name and the value of a pod label it requires
//! (`namespace "web"; pods app = "a17"`). Asking which indexed terms may meet
//! a term then looks at the terms of its own namespace and label value, not
//! at every zone of a shared namespace, so work stays linear in the program.

use std::collections::{BTreeSet, HashMap};

use crate::algebra::labels::ValueSet;
use crate::ir::PodTerm;

/// Ids of pod terms (a caller's own numbering: a rule, a zone's term), found
/// by the namespace and label value their terms pin. Answers are supersets:
/// every id whose term meets the asked term, maybe more.
#[derive(Debug, Default)]
pub struct TermIndex {
    /// Ids with a term that pins no namespace by name (a namespace label
    /// selector, every namespace), by the label value they require.
    unpinned: Bucket,
    namespaces: HashMap<String, Bucket>,
    /// Every id inserted, in order, once.
    all: Vec<usize>,
}

/// The terms of one namespace (or of none by name).
#[derive(Debug, Default)]
struct Bucket {
    /// Ids with a term that requires no single label value.
    unlabelled: Vec<usize>,
    /// Key → value → ids with a term requiring `key = value`.
    by_label: HashMap<String, HashMap<String, Vec<usize>>>,
}

impl Bucket {
    fn insert(&mut self, term: &PodTerm, id: usize) {
        match required_label(term) {
            Some((key, value)) => push_once(
                self.by_label
                    .entry(key.to_string())
                    .or_default()
                    .entry(value.to_string())
                    .or_default(),
                id,
            ),
            None => push_once(&mut self.unlabelled, id),
        }
    }

    fn meeting(&self, term: &PodTerm, found: &mut BTreeSet<usize>) {
        found.extend(self.unlabelled.iter().copied());
        for (key, by_value) in &self.by_label {
            // An indexed term requiring `key = v` meets `term` only if `term` admits v.
            match term.pod.constraint(key).values {
                ValueSet::Only(values) => {
                    for value in &values {
                        found.extend(by_value.get(value).into_iter().flatten().copied());
                    }
                }
                ValueSet::AllExcept(_) => found.extend(by_value.values().flatten().copied()),
            }
        }
    }

    fn every(&self, found: &mut BTreeSet<usize>) {
        found.extend(self.unlabelled.iter().copied());
        found.extend(
            self.by_label
                .values()
                .flat_map(HashMap::values)
                .flatten()
                .copied(),
        );
    }
}

impl TermIndex {
    /// Files `id` under `term`. Ids must come in non-decreasing order (one id
    /// may have several terms), so every list stays sorted and answers come
    /// in insertion order.
    pub fn insert(&mut self, term: &PodTerm, id: usize) {
        push_once(&mut self.all, id);
        match term.namespace_name() {
            Some(ns) => self
                .namespaces
                .entry(ns.to_string())
                .or_default()
                .insert(term, id),
            None => self.unpinned.insert(term, id),
        }
    }

    /// Adds to `found` every id whose term may meet `term`.
    pub fn meeting(&self, term: &PodTerm, found: &mut BTreeSet<usize>) {
        self.unpinned.meeting(term, found);
        match term.namespace_name() {
            Some(ns) => {
                if let Some(bucket) = self.namespaces.get(ns) {
                    bucket.meeting(term, found);
                }
            }
            // A term of no namespace by name may meet any namespace's.
            None => {
                for bucket in self.namespaces.values() {
                    bucket.meeting(term, found);
                }
            }
        }
    }

    /// Adds to `found` every id with a term in namespace `ns` or in no
    /// namespace by name: what any term of `ns` may meet.
    pub fn in_namespace(&self, ns: &str, found: &mut BTreeSet<usize>) {
        self.unpinned.every(found);
        if let Some(bucket) = self.namespaces.get(ns) {
            bucket.every(found);
        }
    }

    /// Every id, in insertion order.
    pub fn all(&self) -> &[usize] {
        &self.all
    }
}

/// The first pod label (in key order) the term requires to have one value.
fn required_label(term: &PodTerm) -> Option<(&str, &str)> {
    term.pod
        .constraints()?
        .iter()
        .find_map(|(key, set)| match &set.values {
            ValueSet::Only(values) if !set.absent && values.len() == 1 => {
                values.iter().next().map(|v| (key.as_str(), v.as_str()))
            }
            _ => None,
        })
}

fn push_once(list: &mut Vec<usize>, id: usize) {
    if list.last() != Some(&id) {
        list.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::labels::{KeySet, Term};

    fn term(ns: Option<&str>, pod: &[(&str, KeySet)]) -> PodTerm {
        let namespace = match ns {
            Some(ns) => {
                Term::from_constraints([(crate::ir::sets::NAMESPACE_NAME_LABEL, KeySet::eq(ns))])
            }
            None => Term::all(),
        };
        PodTerm {
            namespace,
            pod: Term::from_constraints(pod.iter().map(|(k, s)| (*k, s.clone()))),
        }
    }

    #[test]
    fn answers_every_term_that_meets_and_skips_other_label_values() {
        let indexed = [
            term(Some("web"), &[("app", KeySet::eq("a"))]),
            term(Some("web"), &[("app", KeySet::eq("b"))]),
            term(Some("api"), &[("app", KeySet::eq("a"))]),
            term(Some("web"), &[("tier", KeySet::not_in(["x"]))]),
            term(None, &[("app", KeySet::eq("a"))]),
        ];
        let mut index = TermIndex::default();
        for (id, t) in indexed.iter().enumerate() {
            index.insert(t, id);
        }
        let asked = [
            term(Some("web"), &[("app", KeySet::eq("a"))]),
            term(Some("web"), &[("app", KeySet::in_(["a", "b"]))]),
            term(Some("web"), &[("app", KeySet::not_in(["a"]))]),
            term(Some("web"), &[]),
            term(None, &[("app", KeySet::eq("b"))]),
            term(Some("db"), &[]),
        ];
        for a in &asked {
            let mut found = BTreeSet::new();
            index.meeting(a, &mut found);
            for (id, t) in indexed.iter().enumerate() {
                if !a.intersection(t).is_empty() {
                    assert!(found.contains(&id), "{a:?} meets {t:?} but {id} not found");
                }
            }
        }
        let mut found = BTreeSet::new();
        index.meeting(&asked[0], &mut found);
        assert_eq!(
            found,
            BTreeSet::from([0, 3, 4]),
            "app = b and namespace api are skipped"
        );
        // A term of no namespace by name (a namespace label selector) is
        // told apart by its label value too, in every namespace.
        let mut found = BTreeSet::new();
        index.meeting(&asked[4], &mut found);
        assert_eq!(found, BTreeSet::from([1, 3]), "every app = a is skipped");
    }
}
