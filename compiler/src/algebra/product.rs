//! Exact algebra of products of sets, such as (namespace labels × pod labels)
//! for a zone, or (peers × ports) for a rule.
//!
//! API: the [`ExactSet`] trait (implemented for [`Dnf`], [`IpSet`],
//! [`PortSet`], [`FqdnSet`]); [`intersection`], [`difference`] of two
//! products and [`difference_all`] of two unions of products. Pieces with an
//! empty factor are dropped. To mix factors with different errors, the
//! result error must convert from both (`From<Infallible>` is provided for
//! the port and FQDN errors).

use super::fqdn::{self, FqdnSet};
use super::ipset::IpSet;
use super::labels::Dnf;
use super::ports::{self, PortSet};
use std::convert::Infallible;

/// A set type whose intersection and difference are exact or an error.
pub trait ExactSet: Sized {
    type Error;
    fn intersection(&self, other: &Self) -> Result<Self, Self::Error>;
    fn difference(&self, other: &Self) -> Result<Self, Self::Error>;
    fn is_empty(&self) -> bool;
}

impl ExactSet for Dnf {
    type Error = Infallible;
    fn intersection(&self, other: &Self) -> Result<Self, Infallible> {
        Ok(Dnf::intersection(self, other))
    }
    fn difference(&self, other: &Self) -> Result<Self, Infallible> {
        Ok(Dnf::difference(self, other))
    }
    fn is_empty(&self) -> bool {
        Dnf::is_empty(self)
    }
}

impl ExactSet for IpSet {
    type Error = Infallible;
    fn intersection(&self, other: &Self) -> Result<Self, Infallible> {
        Ok(IpSet::intersection(self, other))
    }
    fn difference(&self, other: &Self) -> Result<Self, Infallible> {
        Ok(IpSet::difference(self, other))
    }
    fn is_empty(&self) -> bool {
        IpSet::is_empty(self)
    }
}

impl ExactSet for PortSet {
    type Error = ports::NotRepresentable;
    fn intersection(&self, other: &Self) -> Result<Self, Self::Error> {
        PortSet::intersection(self, other)
    }
    fn difference(&self, other: &Self) -> Result<Self, Self::Error> {
        PortSet::difference(self, other)
    }
    fn is_empty(&self) -> bool {
        PortSet::is_empty(self)
    }
}

impl ExactSet for FqdnSet {
    type Error = fqdn::NotRepresentable;
    fn intersection(&self, other: &Self) -> Result<Self, Self::Error> {
        Ok(FqdnSet::intersection(self, other))
    }
    fn difference(&self, other: &Self) -> Result<Self, Self::Error> {
        FqdnSet::difference(self, other)
    }
    fn is_empty(&self) -> bool {
        FqdnSet::is_empty(self)
    }
}

impl From<Infallible> for ports::NotRepresentable {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

impl From<Infallible> for fqdn::NotRepresentable {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

/// `(a1 × a2) ∩ (b1 × b2) = (a1 ∩ b1) × (a2 ∩ b2)`; `None` when empty.
pub fn intersection<X, Y, E>(a: &(X, Y), b: &(X, Y)) -> Result<Option<(X, Y)>, E>
where
    X: ExactSet,
    Y: ExactSet,
    E: From<X::Error> + From<Y::Error>,
{
    let first = a.0.intersection(&b.0)?;
    if first.is_empty() {
        return Ok(None);
    }
    let second = a.1.intersection(&b.1)?;
    Ok((!second.is_empty()).then_some((first, second)))
}

/// `(a1 × a2) − (b1 × b2) = (a1 − b1) × a2  ∪  (a1 ∩ b1) × (a2 − b2)`, two
/// disjoint pieces. `a2 − b2` is only computed when `a1 ∩ b1` is not empty.
pub fn difference<X, Y, E>(a: &(X, Y), b: &(X, Y)) -> Result<Vec<(X, Y)>, E>
where
    X: Clone + ExactSet,
    Y: Clone + ExactSet,
    E: From<X::Error> + From<Y::Error>,
{
    if a.0.is_empty() || a.1.is_empty() {
        return Ok(Vec::new());
    }
    let mut pieces = Vec::new();
    let outside = a.0.difference(&b.0)?;
    if !outside.is_empty() {
        pieces.push((outside, a.1.clone()));
    }
    let common = a.0.intersection(&b.0)?;
    if !common.is_empty() {
        let rest = a.1.difference(&b.1)?;
        if !rest.is_empty() {
            pieces.push((common, rest));
        }
    }
    Ok(pieces)
}

/// `(∪ a) − (∪ b)`: every product of `b` taken out of every piece of `a`.
pub fn difference_all<X, Y, E>(a: &[(X, Y)], b: &[(X, Y)]) -> Result<Vec<(X, Y)>, E>
where
    X: Clone + ExactSet,
    Y: Clone + ExactSet,
    E: From<X::Error> + From<Y::Error>,
{
    let mut pieces: Vec<(X, Y)> = a
        .iter()
        .filter(|(x, y)| !x.is_empty() && !y.is_empty())
        .cloned()
        .collect();
    for removed in b {
        let mut next = Vec::new();
        for piece in &pieces {
            next.extend(difference::<X, Y, E>(piece, removed)?);
        }
        pieces = next;
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::labels::{KeySet, Labels, Term};
    use crate::algebra::ports::Protocol;
    use proptest::prelude::*;

    const VALUES: [&str; 3] = ["x", "y", "z"];

    /// A selector on one key `k`, from the six source forms (or everything).
    fn selector() -> impl Strategy<Value = Dnf> {
        let value = || proptest::sample::select(&VALUES[..]);
        let set = prop_oneof![
            value().prop_map(KeySet::eq),
            value().prop_map(KeySet::not_eq),
            Just(KeySet::has()),
            Just(KeySet::not_has()),
            Just(KeySet::all()),
        ];
        proptest::collection::vec(set, 1..3)
            .prop_map(|sets| Dnf::from(Term::from_constraints(sets.into_iter().map(|s| ("k", s)))))
    }

    fn objects() -> Vec<Labels> {
        let mut out = vec![Labels::new()];
        for v in ["x", "y", "z", "w"] {
            out.push([("k".to_string(), v.to_string())].into());
        }
        out
    }

    fn ports() -> impl Strategy<Value = PortSet> {
        prop_oneof![
            (1u16..5, 1u16..5).prop_map(|(lo, hi)| PortSet::range(Protocol::Tcp, lo, hi)),
            Just(PortSet::named(Protocol::Tcp, "http")),
            Just(PortSet::all_of(Protocol::Tcp)),
            Just(PortSet::icmp()),
        ]
    }

    type Zone = (Dnf, Dnf);

    fn exact<T>(result: Result<T, Infallible>) -> T {
        result.unwrap_or_else(|never| match never {})
    }

    fn in_zones(zones: &[Zone], ns: &Labels, pod: &Labels) -> bool {
        zones.iter().any(|(n, p)| n.matches(ns) && p.matches(pod))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn zone_differences_are_exact(
            a in proptest::collection::vec((selector(), selector()), 0..3),
            b in proptest::collection::vec((selector(), selector()), 0..3),
        ) {
            let d = exact(difference_all(&a, &b));
            let objs = objects();
            for ns in &objs {
                for pod in &objs {
                    let expected = in_zones(&a, ns, pod) && !in_zones(&b, ns, pod);
                    prop_assert_eq!(in_zones(&d, ns, pod), expected);
                }
            }
            prop_assert!(d.iter().all(|(n, p)| !n.is_empty() && !p.is_empty()));
            if let (Some(x), Some(y)) = (a.first(), b.first()) {
                let i: Vec<Zone> = exact(intersection(x, y)).into_iter().collect();
                let (x, y) = (std::slice::from_ref(x), std::slice::from_ref(y));
                for ns in &objs {
                    for pod in &objs {
                        let expected = in_zones(x, ns, pod) && in_zones(y, ns, pod);
                        prop_assert_eq!(in_zones(&i, ns, pod), expected);
                    }
                }
            }
        }

        #[test]
        fn peer_port_differences_are_exact_when_ok(
            a in (selector(), ports()),
            b in (selector(), ports()),
        ) {
            let Ok(d) = difference::<Dnf, PortSet, ports::NotRepresentable>(&a, &b) else {
                return Ok(());
            };
            let member = |(peers, ports): &(Dnf, PortSet), obj: &Labels, port, name| {
                peers.matches(obj) && ports.contains(Protocol::Tcp, port, name)
            };
            for obj in objects() {
                for port in 1..7u16 {
                    for name in [None, Some("http"), Some("web")] {
                        let inside = d.iter().any(|piece| member(piece, &obj, port, name));
                        let expected = member(&a, &obj, port, name) && !member(&b, &obj, port, name);
                        prop_assert_eq!(inside, expected);
                    }
                }
            }
        }
    }

    #[test]
    fn disjoint_peers_never_touch_the_ports() {
        // tcp/http minus tcp 80 is undecidable, but only matters where the
        // peers overlap.
        let web = Dnf::from(Term::from_constraints([("app", KeySet::eq("web"))]));
        let db = Dnf::from(Term::from_constraints([("app", KeySet::eq("db"))]));
        let a = (web.clone(), PortSet::named(Protocol::Tcp, "http"));
        let b = (db, PortSet::port(Protocol::Tcp, 80));
        assert_eq!(
            difference::<_, _, ports::NotRepresentable>(&a, &b),
            Ok(vec![a.clone()])
        );
        let b = (web, PortSet::port(Protocol::Tcp, 80));
        assert!(difference::<_, _, ports::NotRepresentable>(&a, &b).is_err());
    }
}
