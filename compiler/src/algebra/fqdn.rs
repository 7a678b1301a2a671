//! Exact sets of DNS names written as FQDN patterns: an exact name
//! (`api.stripe.com`) or `*.suffix`, where `*` is exactly one label
//! (`*.google.com` matches `a.google.com`, not `google.com` nor
//! `a.b.google.com`). Names compare case-insensitively, one trailing dot
//! ignored.
//!
//! API: [`FqdnPattern::parse`], [`FqdnPattern::matches`]; [`FqdnSet::none`],
//! [`FqdnSet::all`] (every name, for `world`), [`FqdnSet::from_patterns`];
//! `matches`, `union`, `intersection` (both exact), `difference`
//! (`Err(NotRepresentable)` when a wildcard would lose some of its names, or
//! every name would lose some), `is_empty`, `is_all`, `subset`, `patterns`.

use std::collections::BTreeSet;
use std::fmt;

/// One pattern, normalised: lowercase, no trailing dot.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FqdnPattern {
    /// Exactly this name.
    Name(String),
    /// `*.suffix`: the suffix (without `*.`) preceded by exactly one label.
    Wildcard(String),
}

/// A pattern that is not a name: empty, an empty label, or a `*` other than
/// a whole leading label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidFqdn {
    pub text: String,
    pub reason: &'static str,
}

impl fmt::Display for InvalidFqdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid FQDN pattern {:?}: {}", self.text, self.reason)
    }
}

impl std::error::Error for InvalidFqdn {}

/// Lowercase, without one trailing dot.
fn normalise(name: &str) -> String {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.to_ascii_lowercase()
}

impl FqdnPattern {
    pub fn parse(text: &str) -> Result<Self, InvalidFqdn> {
        let invalid = |reason| InvalidFqdn {
            text: text.to_string(),
            reason,
        };
        let name = normalise(text);
        let (pattern, rest) = match name.strip_prefix("*.") {
            Some(suffix) => (FqdnPattern::Wildcard(suffix.to_string()), suffix),
            None => (FqdnPattern::Name(name.clone()), name.as_str()),
        };
        if rest.is_empty() {
            return Err(invalid("no name"));
        }
        if rest.split('.').any(str::is_empty) {
            return Err(invalid("empty label"));
        }
        if rest.contains('*') {
            return Err(invalid("`*` may only be the whole first label"));
        }
        Ok(pattern)
    }

    /// Whether the name (any case, optional trailing dot) fits the pattern.
    pub fn matches(&self, name: &str) -> bool {
        self.matches_normalised(&normalise(name))
    }

    fn matches_normalised(&self, name: &str) -> bool {
        match self {
            FqdnPattern::Name(n) => n == name,
            FqdnPattern::Wildcard(suffix) => name
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        }
    }
}

impl fmt::Display for FqdnPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FqdnPattern::Name(n) => f.write_str(n),
            FqdnPattern::Wildcard(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

/// A set of names: every name, or a finite list of patterns. Canonical: with
/// `all` there are no patterns, and no exact name is matched by a wildcard
/// of the set.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FqdnSet {
    all: bool,
    patterns: BTreeSet<FqdnPattern>,
}

/// A difference that FQDN patterns cannot write: a wildcard (or every name)
/// with some of its names cut out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotRepresentable {
    /// The pattern that would lose part of itself (`*` for every name).
    pub from: String,
    /// The pattern taken out of it.
    pub removed: String,
}

impl fmt::Display for NotRepresentable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` minus `{}` cannot be written as FQDN patterns",
            self.from, self.removed
        )
    }
}

impl std::error::Error for NotRepresentable {}

impl FqdnSet {
    pub fn none() -> Self {
        FqdnSet {
            all: false,
            patterns: BTreeSet::new(),
        }
    }

    /// Every name.
    pub fn all() -> Self {
        FqdnSet {
            all: true,
            patterns: BTreeSet::new(),
        }
    }

    pub fn from_patterns(patterns: impl IntoIterator<Item = FqdnPattern>) -> Self {
        Self::canonical(patterns.into_iter().collect())
    }

    /// The patterns (empty when the set is every name).
    pub fn patterns(&self) -> &BTreeSet<FqdnPattern> {
        &self.patterns
    }

    pub fn is_all(&self) -> bool {
        self.all
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.patterns.is_empty()
    }

    pub fn matches(&self, name: &str) -> bool {
        self.matches_normalised(&normalise(name))
    }

    fn matches_normalised(&self, name: &str) -> bool {
        self.all || self.patterns.iter().any(|p| p.matches_normalised(name))
    }

    /// Drops exact names that a wildcard of the set already matches.
    fn canonical(patterns: BTreeSet<FqdnPattern>) -> Self {
        let wildcards: Vec<&FqdnPattern> = patterns
            .iter()
            .filter(|p| matches!(p, FqdnPattern::Wildcard(_)))
            .collect();
        let kept = patterns
            .iter()
            .filter(|p| match p {
                FqdnPattern::Name(n) => !wildcards.iter().any(|w| w.matches_normalised(n)),
                FqdnPattern::Wildcard(_) => true,
            })
            .cloned()
            .collect();
        FqdnSet {
            all: false,
            patterns: kept,
        }
    }

    pub fn union(&self, other: &Self) -> Self {
        if self.all || other.all {
            return Self::all();
        }
        Self::canonical(self.patterns.union(&other.patterns).cloned().collect())
    }

    pub fn intersection(&self, other: &Self) -> Self {
        if self.all {
            return other.clone();
        }
        if other.all {
            return self.clone();
        }
        let mut out = BTreeSet::new();
        for p in &self.patterns {
            for q in &other.patterns {
                if let Some(common) = pattern_intersection(p, q) {
                    out.insert(common.clone());
                }
            }
        }
        Self::canonical(out)
    }

    /// Exact when every pattern of `self` is either wholly inside `other`
    /// (dropped) or wholly outside it (kept).
    pub fn difference(&self, other: &Self) -> Result<Self, NotRepresentable> {
        if other.all {
            return Ok(Self::none());
        }
        if self.all {
            return match other.patterns.first() {
                None => Ok(Self::all()),
                Some(removed) => Err(NotRepresentable {
                    from: "*".to_string(),
                    removed: removed.to_string(),
                }),
            };
        }
        let mut kept = BTreeSet::new();
        for p in &self.patterns {
            match p {
                FqdnPattern::Name(n) => {
                    if !other.matches_normalised(n) {
                        kept.insert(p.clone());
                    }
                }
                FqdnPattern::Wildcard(_) => {
                    if other.patterns.contains(p) {
                        continue;
                    }
                    // Other wildcards are disjoint from this one; exact names
                    // inside it would punch a hole.
                    if let Some(hole) = other.patterns.iter().find(|q| match q {
                        FqdnPattern::Name(n) => p.matches_normalised(n),
                        FqdnPattern::Wildcard(_) => false,
                    }) {
                        return Err(NotRepresentable {
                            from: p.to_string(),
                            removed: hole.to_string(),
                        });
                    }
                    kept.insert(p.clone());
                }
            }
        }
        Ok(Self::canonical(kept))
    }

    /// Whether every name of `self` is in `other`.
    pub fn subset(&self, other: &Self) -> bool {
        if other.all {
            return true;
        }
        if self.all {
            return false;
        }
        self.patterns.iter().all(|p| match p {
            FqdnPattern::Name(n) => other.matches_normalised(n),
            // Finitely many names cannot cover a wildcard, and two different
            // wildcards share no name.
            FqdnPattern::Wildcard(_) => other.patterns.contains(p),
        })
    }
}

/// The names two patterns share, as a pattern (always one or none).
fn pattern_intersection<'a>(p: &'a FqdnPattern, q: &'a FqdnPattern) -> Option<&'a FqdnPattern> {
    match (p, q) {
        (FqdnPattern::Name(n), _) => q.matches_normalised(n).then_some(p),
        (_, FqdnPattern::Name(n)) => p.matches_normalised(n).then_some(q),
        // `*.x` and `*.y` share a name only when x = y: a name's suffix after
        // its first label is unique.
        _ => (p == q).then_some(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LABELS: [&str; 3] = ["a", "b", "c"];

    fn name(max_labels: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(&LABELS[..]), 1..=max_labels)
            .prop_map(|labels| labels.join("."))
    }

    fn pattern() -> impl Strategy<Value = FqdnPattern> {
        prop_oneof![
            name(3).prop_map(FqdnPattern::Name),
            name(3).prop_map(FqdnPattern::Wildcard),
        ]
    }

    fn fqdn_set() -> impl Strategy<Value = FqdnSet> {
        prop_oneof![
            10 => proptest::collection::vec(pattern(), 0..4).prop_map(FqdnSet::from_patterns),
            1 => Just(FqdnSet::all()),
        ]
    }

    /// Every name of 1–4 labels over the pattern alphabet plus `d`, a label no
    /// pattern uses: covers every way a name can meet patterns of ≤ 3 labels.
    fn probes() -> Vec<String> {
        let mut names = vec![String::new()];
        let mut out = Vec::new();
        for _ in 0..4 {
            names = names
                .iter()
                .flat_map(|n| {
                    ["a", "b", "c", "d"].iter().map(move |l| {
                        if n.is_empty() {
                            l.to_string()
                        } else {
                            format!("{l}.{n}")
                        }
                    })
                })
                .collect();
            out.extend(names.iter().cloned());
        }
        out
    }

    fn wildcards(s: &FqdnSet) -> impl Iterator<Item = &FqdnPattern> {
        s.patterns()
            .iter()
            .filter(|p| matches!(p, FqdnPattern::Wildcard(_)))
    }

    /// The documented cases: every name minus something (not everything), or
    /// a wildcard minus an exact name it matches (and not minus itself).
    fn difference_undecidable(a: &FqdnSet, b: &FqdnSet) -> bool {
        if b.is_all() {
            return false;
        }
        (a.is_all() && !b.is_empty())
            || wildcards(a).any(|w| {
                !b.patterns().contains(w)
                    && b.patterns()
                        .iter()
                        .any(|q| matches!(q, FqdnPattern::Name(n) if w.matches(n)))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn union_and_intersection_are_exact(a in fqdn_set(), b in fqdn_set()) {
            let (u, i) = (a.union(&b), a.intersection(&b));
            for n in probes() {
                prop_assert_eq!(u.matches(&n), a.matches(&n) || b.matches(&n));
                prop_assert_eq!(i.matches(&n), a.matches(&n) && b.matches(&n), "{}", n);
            }
            prop_assert_eq!(a.is_empty(), probes().iter().all(|n| !a.matches(n)));
        }

        #[test]
        fn difference_is_exact_or_a_documented_case(a in fqdn_set(), b in fqdn_set()) {
            let result = a.difference(&b);
            prop_assert_eq!(result.is_err(), difference_undecidable(&a, &b));
            if let Ok(d) = result {
                for n in probes() {
                    prop_assert_eq!(d.matches(&n), a.matches(&n) && !b.matches(&n), "{}", n);
                }
            }
        }

        #[test]
        fn subset_matches_membership(a in fqdn_set(), b in fqdn_set()) {
            let expected = probes().iter().all(|n| !a.matches(n) || b.matches(n));
            prop_assert_eq!(a.subset(&b), expected);
        }
    }

    fn p(s: &str) -> FqdnPattern {
        FqdnPattern::parse(s).unwrap()
    }

    #[test]
    fn one_label_wildcard() {
        let google = p("*.google.com");
        assert!(google.matches("a.google.com"));
        assert!(google.matches("MAPS.Google.COM."));
        assert!(!google.matches("google.com"));
        assert!(!google.matches("a.b.google.com"));
        assert!(!google.matches("agoogle.com"));
        assert_eq!(
            p("API.Stripe.com."),
            FqdnPattern::Name("api.stripe.com".into())
        );
    }

    #[test]
    fn invalid_patterns() {
        for bad in ["", ".", "*", "*.", "a..b", "a.*.b", "**.a", "a*.b"] {
            assert!(FqdnPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn documented_differences() {
        let set = |ps: &[&str]| FqdnSet::from_patterns(ps.iter().map(|s| p(s)));
        let google = set(&["*.google.com"]);
        let err = google.difference(&set(&["a.google.com"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`*.google.com` minus `a.google.com` cannot be written as FQDN patterns"
        );
        assert!(google.difference(&google).unwrap().is_empty());
        assert_eq!(
            google
                .difference(&set(&["*.a.google.com", "google.com"]))
                .unwrap(),
            google
        );
        assert!(FqdnSet::all().difference(&google).is_err());
        assert_eq!(
            set(&["a.google.com", "api.stripe.com"])
                .difference(&google)
                .unwrap(),
            set(&["api.stripe.com"])
        );
        // A wildcard absorbs the names it matches.
        assert_eq!(set(&["a.google.com", "*.google.com"]), google);
    }
}
