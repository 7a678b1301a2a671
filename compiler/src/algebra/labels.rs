//! Exact algebra of Kubernetes label selectors.
//!
//! - [`KeySet`]: what one key may be — absent and/or a finite or cofinite set
//!   of values; closed under `union`, `intersection`, `complement`. Builders
//!   for the six source constraints: `eq`, `not_eq`, `in_`, `not_in`, `has`,
//!   `not_has` (with Kubernetes' meaning: `!=` and `not in` match an absent
//!   key).
//! - [`Term`]: a conjunction of per-key constraints, canonical (no full key
//!   sets; one representation of the empty term). `from_constraints`,
//!   `matches`, `is_empty`, `intersection`, `difference`, `complement`,
//!   `subset`, `to_requirements`.
//! - [`Dnf`]: a union of terms. `all`, `none`, `from_terms`, `union`,
//!   `intersection`, `difference`, `complement`, `is_empty`, `matches`,
//!   `subset`, `equivalent`, `simplify`, `to_requirements`. Results of the
//!   operations are simplified.
//! - [`Requirement`]: one Kubernetes `matchExpressions` entry, with `matches`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The labels of one object.
pub type Labels = BTreeMap<String, String>;

/// A set of label values (strings): finite, or all strings but finitely many.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValueSet {
    Only(BTreeSet<String>),
    AllExcept(BTreeSet<String>),
}

impl ValueSet {
    pub fn contains(&self, value: &str) -> bool {
        match self {
            ValueSet::Only(s) => s.contains(value),
            ValueSet::AllExcept(s) => !s.contains(value),
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, ValueSet::Only(s) if s.is_empty())
    }

    pub fn is_all(&self) -> bool {
        matches!(self, ValueSet::AllExcept(s) if s.is_empty())
    }

    pub fn complement(&self) -> Self {
        match self {
            ValueSet::Only(s) => ValueSet::AllExcept(s.clone()),
            ValueSet::AllExcept(s) => ValueSet::Only(s.clone()),
        }
    }

    pub fn union(&self, other: &Self) -> Self {
        use ValueSet::{AllExcept, Only};
        match (self, other) {
            (Only(a), Only(b)) => Only(a.union(b).cloned().collect()),
            (Only(a), AllExcept(b)) | (AllExcept(b), Only(a)) => {
                AllExcept(b.difference(a).cloned().collect())
            }
            (AllExcept(a), AllExcept(b)) => AllExcept(a.intersection(b).cloned().collect()),
        }
    }

    pub fn intersection(&self, other: &Self) -> Self {
        use ValueSet::{AllExcept, Only};
        // Directly, not by De Morgan: this is hot in naming and the allow table.
        match (self, other) {
            (Only(a), Only(b)) => Only(a.intersection(b).cloned().collect()),
            (Only(a), AllExcept(b)) | (AllExcept(b), Only(a)) => {
                Only(a.difference(b).cloned().collect())
            }
            (AllExcept(a), AllExcept(b)) => AllExcept(a.union(b).cloned().collect()),
        }
    }

    /// Whether every value of `self` is in `other`, without building a set.
    pub fn subset(&self, other: &Self) -> bool {
        use ValueSet::{AllExcept, Only};
        match (self, other) {
            (Only(a), Only(b)) => a.is_subset(b),
            (Only(a), AllExcept(b)) => a.is_disjoint(b),
            // Values are unbounded: a cofinite set is in no finite one.
            (AllExcept(_), Only(_)) => false,
            (AllExcept(a), AllExcept(b)) => b.is_subset(a),
        }
    }

    /// Whether no value is in both, without building a set.
    pub fn disjoint(&self, other: &Self) -> bool {
        use ValueSet::{AllExcept, Only};
        match (self, other) {
            (Only(a), Only(b)) => a.is_disjoint(b),
            (Only(a), AllExcept(b)) | (AllExcept(b), Only(a)) => a.is_subset(b),
            (AllExcept(_), AllExcept(_)) => false,
        }
    }
}

/// What one key may be in a matching object: absent (if `absent`) or present
/// with a value in `values`. Every field combination is a distinct set, so
/// `==` is set equality.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeySet {
    pub absent: bool,
    pub values: ValueSet,
}

fn strings<I, S>(values: I) -> BTreeSet<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    values.into_iter().map(Into::into).collect()
}

impl KeySet {
    /// No constraint: absent or any value.
    pub fn all() -> Self {
        KeySet {
            absent: true,
            values: ValueSet::AllExcept(BTreeSet::new()),
        }
    }

    /// Matches nothing.
    pub fn none() -> Self {
        KeySet {
            absent: false,
            values: ValueSet::Only(BTreeSet::new()),
        }
    }

    /// `key = "v"`: present with value v.
    pub fn eq(value: impl Into<String>) -> Self {
        Self::in_([value])
    }

    /// `key != "v"`: absent, or present with another value.
    pub fn not_eq(value: impl Into<String>) -> Self {
        Self::not_in([value])
    }

    /// `key in (..)`: present with one of the values.
    pub fn in_<I: IntoIterator<Item = S>, S: Into<String>>(values: I) -> Self {
        KeySet {
            absent: false,
            values: ValueSet::Only(strings(values)),
        }
    }

    /// `key not in (..)`: absent, or present with none of the values.
    pub fn not_in<I: IntoIterator<Item = S>, S: Into<String>>(values: I) -> Self {
        KeySet {
            absent: true,
            values: ValueSet::AllExcept(strings(values)),
        }
    }

    /// `has key`: present, any value.
    pub fn has() -> Self {
        KeySet {
            absent: false,
            values: ValueSet::AllExcept(BTreeSet::new()),
        }
    }

    /// `not has key`: absent.
    pub fn not_has() -> Self {
        KeySet {
            absent: true,
            values: ValueSet::Only(BTreeSet::new()),
        }
    }

    /// Whether a key with this value (`None`: absent) is allowed.
    pub fn contains(&self, value: Option<&str>) -> bool {
        match value {
            None => self.absent,
            Some(v) => self.values.contains(v),
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.absent && self.values.is_empty()
    }

    pub fn is_all(&self) -> bool {
        self.absent && self.values.is_all()
    }

    pub fn complement(&self) -> Self {
        KeySet {
            absent: !self.absent,
            values: self.values.complement(),
        }
    }

    pub fn union(&self, other: &Self) -> Self {
        KeySet {
            absent: self.absent || other.absent,
            values: self.values.union(&other.values),
        }
    }

    pub fn intersection(&self, other: &Self) -> Self {
        KeySet {
            absent: self.absent && other.absent,
            values: self.values.intersection(&other.values),
        }
    }

    pub fn subset(&self, other: &Self) -> bool {
        (!self.absent || other.absent) && self.values.subset(&other.values)
    }

    /// Whether no state is in both, without building their intersection.
    pub fn disjoint(&self, other: &Self) -> bool {
        !(self.absent && other.absent) && self.values.disjoint(&other.values)
    }

    /// Alternatives (a union) of conjunctions of requirements on `key`
    /// equivalent to this set: none for the empty set, one empty conjunction
    /// for the full set, two alternatives for "absent or one of these values".
    pub fn to_requirements(&self, key: &str) -> Vec<Vec<Requirement>> {
        let req = |op| Requirement {
            key: key.to_string(),
            op,
        };
        match (self.absent, &self.values) {
            (false, ValueSet::Only(s)) if s.is_empty() => vec![],
            (false, ValueSet::Only(s)) => vec![vec![req(Operator::In(s.clone()))]],
            (false, ValueSet::AllExcept(s)) if s.is_empty() => vec![vec![req(Operator::Exists)]],
            (false, ValueSet::AllExcept(s)) => {
                vec![vec![req(Operator::Exists), req(Operator::NotIn(s.clone()))]]
            }
            (true, ValueSet::Only(s)) if s.is_empty() => vec![vec![req(Operator::DoesNotExist)]],
            (true, ValueSet::Only(s)) => vec![
                vec![req(Operator::DoesNotExist)],
                vec![req(Operator::In(s.clone()))],
            ],
            (true, ValueSet::AllExcept(s)) if s.is_empty() => vec![vec![]],
            (true, ValueSet::AllExcept(s)) => vec![vec![req(Operator::NotIn(s.clone()))]],
        }
    }
}

/// One Kubernetes label selector requirement (`matchExpressions` entry).
/// `In`/`NotIn` sets produced here are never empty.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requirement {
    pub key: String,
    pub op: Operator,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    DoesNotExist,
}

impl Requirement {
    /// Kubernetes' rule; note `NotIn` matches when the key is absent.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match &self.op {
            Operator::In(s) => value.is_some_and(|v| s.contains(v)),
            Operator::NotIn(s) => value.is_none_or(|v| !s.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// A conjunction of per-key constraints; a key not mentioned is
/// unconstrained. Canonical, so `==` is set equality.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term {
    /// `None`: the empty term (matches nothing). Otherwise no key set in the
    /// map is empty or full. Shared: terms are copied into every rule and
    /// table entry that names them, and a copy is then one count.
    keys: Option<Arc<BTreeMap<String, KeySet>>>,
}

impl Term {
    /// Matches every object.
    pub fn all() -> Self {
        Term {
            keys: Some(Arc::new(BTreeMap::new())),
        }
    }

    /// Matches nothing.
    pub fn none() -> Self {
        Term { keys: None }
    }

    /// The conjunction of constraints; repeated keys intersect (`app = "a"`
    /// and `app = "b"` give the empty term).
    pub fn from_constraints<K: Into<String>>(
        constraints: impl IntoIterator<Item = (K, KeySet)>,
    ) -> Self {
        constraints
            .into_iter()
            .fold(Self::all(), |term, (key, set)| {
                term.restrict(&key.into(), &set)
            })
    }

    /// The per-key constraints, or `None` for the empty term.
    pub fn constraints(&self) -> Option<&BTreeMap<String, KeySet>> {
        self.keys.as_deref()
    }

    /// The constraint on one key (full when the key is not mentioned).
    pub fn constraint(&self, key: &str) -> KeySet {
        match &self.keys {
            None => KeySet::none(),
            Some(keys) => keys.get(key).cloned().unwrap_or_else(KeySet::all),
        }
    }

    /// This term with `key` further limited to `set`.
    fn restrict(&self, key: &str, set: &KeySet) -> Self {
        let Some(keys) = &self.keys else {
            return Self::none();
        };
        let current = keys.get(key);
        let narrowed = match current {
            Some(current) => current.intersection(set),
            None => set.clone(),
        };
        if narrowed.is_empty() {
            return Self::none();
        }
        if current.map_or(narrowed.is_all(), |c| *c == narrowed) {
            return self.clone();
        }
        let mut keys = BTreeMap::clone(keys);
        if narrowed.is_all() {
            keys.remove(key);
        } else {
            keys.insert(key.to_string(), narrowed);
        }
        Term {
            keys: Some(Arc::new(keys)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_none()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.keys.as_ref().is_some_and(|keys| {
            keys.iter()
                .all(|(k, set)| set.contains(labels.get(k).map(String::as_str)))
        })
    }

    pub fn intersection(&self, other: &Self) -> Self {
        let (Some(mine), Some(theirs)) = (&self.keys, &other.keys) else {
            return Self::none();
        };
        // The common answers without copying a map: one term inside the
        // other (a zone and a piece of it), or no common object (two zones
        // of one namespace).
        if Arc::ptr_eq(mine, theirs) || self.subset(other) {
            return self.clone();
        }
        if other.subset(self) {
            return other.clone();
        }
        if theirs
            .iter()
            .any(|(k, set)| mine.get(k).is_some_and(|m| m.disjoint(set)))
        {
            return Self::none();
        }
        let mut keys = BTreeMap::clone(mine);
        for (k, set) in theirs.iter() {
            let narrowed = match keys.get(k) {
                Some(current) => current.intersection(set),
                None => set.clone(),
            };
            if narrowed.is_empty() {
                return Self::none();
            }
            if narrowed.is_all() {
                keys.remove(k);
            } else {
                keys.insert(k.clone(), narrowed);
            }
        }
        Term {
            keys: Some(Arc::new(keys)),
        }
    }

    /// `self − other` as disjoint terms: for other = b1 ∧ … ∧ bn, the union
    /// over i of self ∧ b1 ∧ … ∧ b(i−1) ∧ ¬bi.
    pub fn difference(&self, other: &Self) -> Dnf {
        let Some(keys) = &other.keys else {
            return Dnf::from_terms([self.clone()]).simplify();
        };
        let mut prefix = self.clone();
        let mut pieces = Vec::new();
        for (k, set) in keys.iter() {
            if prefix.is_empty() {
                break;
            }
            pieces.push(prefix.restrict(k, &set.complement()));
            prefix = prefix.restrict(k, set);
        }
        Dnf::from_terms(pieces).simplify()
    }

    pub fn complement(&self) -> Dnf {
        Term::all().difference(self)
    }

    /// Whether every object this term matches, `other` matches too (exact:
    /// a term is a product of independent per-key sets).
    pub fn subset(&self, other: &Self) -> bool {
        match (&self.keys, &other.keys) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) if Arc::ptr_eq(mine, theirs) => true,
            (Some(mine), Some(theirs)) => theirs
                .iter()
                .all(|(k, set)| mine.get(k).is_some_and(|m| m.subset(set))),
        }
    }

    /// Kubernetes requirements equivalent to this term, as a union of
    /// conjunctions: none for the empty term, one empty conjunction for the
    /// full term. A key that is "absent or one of these values" doubles the
    /// number of conjunctions.
    pub fn to_requirements(&self) -> Vec<Vec<Requirement>> {
        let Some(keys) = &self.keys else {
            return Vec::new();
        };
        let mut out: Vec<Vec<Requirement>> = vec![Vec::new()];
        for (k, set) in keys.iter() {
            let alternatives = set.to_requirements(k);
            out = out
                .iter()
                .flat_map(|conj| {
                    alternatives
                        .iter()
                        .map(move |alt| conj.iter().chain(alt).cloned().collect())
                })
                .collect();
        }
        out
    }

    /// The union of two terms when it is one term: equal except on one key.
    fn merge(&self, other: &Self) -> Option<Self> {
        let (Some(a), Some(b)) = (&self.keys, &other.keys) else {
            return None;
        };
        let mut differing = a
            .keys()
            .chain(b.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|k| a.get(*k) != b.get(*k));
        let key = differing.next()?;
        if differing.next().is_some() {
            return None;
        }
        let merged = self.constraint(key).union(&other.constraint(key));
        let mut keys = BTreeMap::clone(a);
        if merged.is_all() {
            keys.remove(key);
        } else {
            keys.insert(key.clone(), merged);
        }
        Some(Term {
            keys: Some(Arc::new(keys)),
        })
    }
}

/// A union of terms.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dnf {
    terms: Vec<Term>,
}

impl From<Term> for Dnf {
    fn from(term: Term) -> Self {
        Dnf::from_terms([term]).simplify()
    }
}

impl Dnf {
    pub fn all() -> Self {
        Dnf {
            terms: vec![Term::all()],
        }
    }

    pub fn none() -> Self {
        Dnf { terms: Vec::new() }
    }

    /// The union of these terms, as given (call [`Dnf::simplify`] to tidy).
    pub fn from_terms(terms: impl IntoIterator<Item = Term>) -> Self {
        Dnf {
            terms: terms.into_iter().collect(),
        }
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.terms.iter().any(|t| t.matches(labels))
    }

    /// Exact: a term is empty only through an empty key set.
    pub fn is_empty(&self) -> bool {
        self.terms.iter().all(Term::is_empty)
    }

    pub fn union(&self, other: &Self) -> Self {
        Dnf::from_terms(self.terms.iter().chain(&other.terms).cloned()).simplify()
    }

    pub fn intersection(&self, other: &Self) -> Self {
        let pairs = self
            .terms
            .iter()
            .flat_map(|a| other.terms.iter().map(move |b| a.intersection(b)));
        Dnf::from_terms(pairs).simplify()
    }

    /// `self ∧ ¬other`, one term of `other` at a time (disjoint pieces).
    pub fn difference(&self, other: &Self) -> Self {
        other.terms.iter().fold(self.simplify(), |acc, b| {
            Dnf::from_terms(acc.terms.iter().flat_map(|a| a.difference(b).terms)).simplify()
        })
    }

    pub fn complement(&self) -> Self {
        Dnf::all().difference(self)
    }

    /// Whether every object `self` matches, `other` matches too.
    pub fn subset(&self, other: &Self) -> bool {
        self.difference(other).is_empty()
    }

    /// Whether both match the same objects.
    pub fn equivalent(&self, other: &Self) -> bool {
        self.subset(other) && other.subset(self)
    }

    /// The same set, tidied: empty terms and terms inside another dropped,
    /// terms differing in one key merged, sorted and deduplicated.
    pub fn simplify(&self) -> Self {
        let mut terms: Vec<Term> = self
            .terms
            .iter()
            .filter(|t| !t.is_empty())
            .cloned()
            .collect();
        loop {
            terms.sort();
            terms.dedup();
            // After dedup no two terms are equal sets, so `⊆` between
            // different terms is strict and a maximal term is never dropped.
            let inside_another: Vec<bool> = (0..terms.len())
                .map(|i| (0..terms.len()).any(|j| i != j && terms[i].subset(&terms[j])))
                .collect();
            let mut flags = inside_another.into_iter();
            terms.retain(|_| !flags.next().unwrap_or(false));

            let merge = (0..terms.len()).find_map(|i| {
                (i + 1..terms.len()).find_map(|j| terms[i].merge(&terms[j]).map(|m| (i, j, m)))
            });
            match merge {
                Some((i, j, merged)) => {
                    terms.swap_remove(j);
                    terms[i] = merged;
                }
                None => return Dnf { terms },
            }
        }
    }

    /// Kubernetes requirements equivalent to the union: the terms'
    /// conjunctions, concatenated (one selector per conjunction).
    pub fn to_requirements(&self) -> Vec<Vec<Requirement>> {
        self.terms.iter().flat_map(Term::to_requirements).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEYS: [&str; 3] = ["a", "b", "c"];
    const VALUES: [&str; 3] = ["x", "y", "z"];

    /// Every label map over the keys, each key absent or one of the values or
    /// `w`, a value no constraint names: 5³ maps, enough to tell any two
    /// sets built from these keys and values apart.
    fn universe() -> Vec<Labels> {
        let states = [None, Some("x"), Some("y"), Some("z"), Some("w")];
        let mut out = vec![Labels::new()];
        for key in KEYS {
            out = out
                .iter()
                .flat_map(|m| {
                    states.iter().map(move |s| {
                        let mut m = m.clone();
                        if let Some(v) = s {
                            m.insert(key.to_string(), v.to_string());
                        }
                        m
                    })
                })
                .collect();
        }
        out
    }

    fn values() -> impl Strategy<Value = Vec<&'static str>> {
        proptest::sample::subsequence(&VALUES[..], 1..=3)
    }

    /// One of the six source constraint forms.
    fn source_constraint() -> impl Strategy<Value = KeySet> {
        let value = || proptest::sample::select(&VALUES[..]);
        prop_oneof![
            value().prop_map(KeySet::eq),
            value().prop_map(KeySet::not_eq),
            values().prop_map(KeySet::in_),
            values().prop_map(KeySet::not_in),
            Just(KeySet::has()),
            Just(KeySet::not_has()),
        ]
    }

    fn key_set() -> impl Strategy<Value = KeySet> {
        let vals = proptest::sample::subsequence(&VALUES[..], 0..=3).prop_map(strings);
        (any::<bool>(), any::<bool>(), vals).prop_map(|(absent, cofinite, s)| KeySet {
            absent,
            values: if cofinite {
                ValueSet::AllExcept(s)
            } else {
                ValueSet::Only(s)
            },
        })
    }

    fn key() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(&KEYS[..])
    }

    fn term() -> impl Strategy<Value = Term> {
        proptest::collection::vec((key(), source_constraint()), 0..4)
            .prop_map(Term::from_constraints)
    }

    fn dnf() -> impl Strategy<Value = Dnf> {
        proptest::collection::vec(term(), 0..4).prop_map(Dnf::from_terms)
    }

    fn requirements_match(alternatives: &[Vec<Requirement>], labels: &Labels) -> bool {
        alternatives
            .iter()
            .any(|conj| conj.iter().all(|r| r.matches(labels)))
    }

    fn valid_requirements(alternatives: &[Vec<Requirement>]) -> bool {
        alternatives.iter().flatten().all(|r| match &r.op {
            Operator::In(s) | Operator::NotIn(s) => !s.is_empty(),
            _ => true,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn key_set_operations_are_exact(a in key_set(), b in key_set()) {
            let (u, i, c) = (a.union(&b), a.intersection(&b), a.complement());
            let states = [None, Some("x"), Some("y"), Some("z"), Some("w")];
            for v in states {
                prop_assert_eq!(u.contains(v), a.contains(v) || b.contains(v));
                prop_assert_eq!(i.contains(v), a.contains(v) && b.contains(v));
                prop_assert_eq!(c.contains(v), !a.contains(v));
            }
            prop_assert_eq!(a.subset(&b), states.iter().all(|&v| !a.contains(v) || b.contains(v)));
            prop_assert_eq!(a.disjoint(&b), states.iter().all(|&v| !a.contains(v) || !b.contains(v)));
            prop_assert_eq!(a.is_empty(), states.iter().all(|&v| !a.contains(v)));
            prop_assert_eq!(a.is_all(), states.iter().all(|&v| a.contains(v)));
            let reqs = a.to_requirements("a");
            prop_assert!(valid_requirements(&reqs));
            for m in universe() {
                let expected = a.contains(m.get("a").map(String::as_str));
                prop_assert_eq!(requirements_match(&reqs, &m), expected);
            }
        }

        #[test]
        fn term_operations_are_exact(
            constraints in proptest::collection::vec((key(), source_constraint()), 0..4),
            b in term(),
        ) {
            let a = Term::from_constraints(constraints.clone());
            let (i, d, c) = (a.intersection(&b), a.difference(&b), a.complement());
            let all = universe();
            for m in &all {
                let by_hand = constraints
                    .iter()
                    .all(|(k, s)| s.contains(m.get(*k).map(String::as_str)));
                prop_assert_eq!(a.matches(m), by_hand);
                prop_assert_eq!(i.matches(m), a.matches(m) && b.matches(m));
                prop_assert_eq!(d.matches(m), a.matches(m) && !b.matches(m));
                prop_assert_eq!(c.matches(m), !a.matches(m));
            }
            prop_assert_eq!(a.is_empty(), all.iter().all(|m| !a.matches(m)));
            prop_assert_eq!(a.subset(&b), all.iter().all(|m| !a.matches(m) || b.matches(m)));
            // The same canonical term as narrowing `a` key by key.
            let narrowed = b.constraints().map_or(Term::none(), |keys| {
                keys.iter().fold(a.clone(), |t, (k, s)| t.restrict(k, s))
            });
            prop_assert_eq!(&i, &narrowed);
            // Canonical: no empty or full key sets kept.
            if let Some(keys) = a.constraints() {
                prop_assert!(keys.values().all(|s| !s.is_empty() && !s.is_all()));
            }
        }

        #[test]
        fn dnf_operations_are_exact(a in dnf(), b in dnf()) {
            let (u, i, d, c) = (a.union(&b), a.intersection(&b), a.difference(&b), a.complement());
            let all = universe();
            for m in &all {
                prop_assert_eq!(u.matches(m), a.matches(m) || b.matches(m));
                prop_assert_eq!(i.matches(m), a.matches(m) && b.matches(m));
                prop_assert_eq!(d.matches(m), a.matches(m) && !b.matches(m));
                prop_assert_eq!(c.matches(m), !a.matches(m));
            }
            prop_assert_eq!(a.is_empty(), all.iter().all(|m| !a.matches(m)));
            prop_assert_eq!(a.subset(&b), all.iter().all(|m| !a.matches(m) || b.matches(m)));
            prop_assert_eq!(a.equivalent(&b), all.iter().all(|m| a.matches(m) == b.matches(m)));
        }

        #[test]
        fn simplify_keeps_the_set_and_tidies(a in dnf()) {
            let s = a.simplify();
            for m in universe() {
                prop_assert_eq!(s.matches(&m), a.matches(&m));
            }
            let t = s.terms();
            prop_assert!(t.iter().all(|x| !x.is_empty()));
            prop_assert!(t.windows(2).all(|w| w[0] < w[1]));
            for (i, x) in t.iter().enumerate() {
                for (j, y) in t.iter().enumerate() {
                    prop_assert!(i == j || !x.subset(y), "{:?} inside {:?}", x, y);
                    prop_assert!(i == j || x.merge(y).is_none());
                }
            }
            prop_assert_eq!(s.simplify(), s);
        }

        #[test]
        fn requirements_select_the_same_objects(a in dnf()) {
            let reqs = a.to_requirements();
            prop_assert!(valid_requirements(&reqs));
            for m in universe() {
                prop_assert_eq!(requirements_match(&reqs, &m), a.matches(&m));
            }
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn contradictory_equalities_are_empty() {
        let t = Term::from_constraints([("app", KeySet::eq("a")), ("app", KeySet::eq("b"))]);
        assert_eq!(t, Term::none());
        assert!(t.is_empty());
    }

    #[test]
    fn not_equal_matches_an_absent_key() {
        let t = Term::from_constraints([("track", KeySet::not_eq("canary"))]);
        assert!(t.matches(&labels(&[])));
        assert!(t.matches(&labels(&[("track", "stable")])));
        assert!(!t.matches(&labels(&[("track", "canary")])));
    }

    #[test]
    fn zone_minus_canary_pods() {
        let web = Dnf::from(Term::from_constraints([("app", KeySet::eq("web"))]));
        let canary = Dnf::from(Term::from_constraints([("track", KeySet::eq("canary"))]));
        let left = web.difference(&canary);
        let expected = Term::from_constraints([
            ("app", KeySet::eq("web")),
            ("track", KeySet::not_eq("canary")),
        ]);
        assert_eq!(left.terms(), &[expected]);
        assert_eq!(
            left.to_requirements(),
            vec![vec![
                Requirement {
                    key: "app".into(),
                    op: Operator::In(strings(["web"]))
                },
                Requirement {
                    key: "track".into(),
                    op: Operator::NotIn(strings(["canary"]))
                },
            ]]
        );
    }

    #[test]
    fn requirement_shapes() {
        let absent_or_a = KeySet::not_has().union(&KeySet::eq("a"));
        assert_eq!(
            absent_or_a.to_requirements("k"),
            vec![
                vec![Requirement {
                    key: "k".into(),
                    op: Operator::DoesNotExist
                }],
                vec![Requirement {
                    key: "k".into(),
                    op: Operator::In(strings(["a"]))
                }],
            ]
        );
        let present_not_a = KeySet::has().intersection(&KeySet::not_eq("a"));
        assert_eq!(
            present_not_a.to_requirements("k"),
            vec![vec![
                Requirement {
                    key: "k".into(),
                    op: Operator::Exists
                },
                Requirement {
                    key: "k".into(),
                    op: Operator::NotIn(strings(["a"]))
                },
            ]]
        );
        assert_eq!(
            Dnf::all().to_requirements(),
            vec![Vec::<Requirement>::new()]
        );
        assert!(Dnf::none().to_requirements().is_empty());
    }

    #[test]
    fn terms_differing_in_one_key_merge() {
        let a = Term::from_constraints([("app", KeySet::eq("web")), ("env", KeySet::eq("prod"))]);
        let b = Term::from_constraints([("app", KeySet::eq("api")), ("env", KeySet::eq("prod"))]);
        let merged = Dnf::from_terms([a, b]).simplify();
        let expected = Term::from_constraints([
            ("app", KeySet::in_(["api", "web"])),
            ("env", KeySet::eq("prod")),
        ]);
        assert_eq!(merged.terms(), &[expected]);
        let everything = Dnf::from_terms([
            Term::from_constraints([("k", KeySet::has())]),
            Term::from_constraints([("k", KeySet::not_has())]),
        ]);
        assert_eq!(everything.simplify(), Dnf::all());
    }
}
