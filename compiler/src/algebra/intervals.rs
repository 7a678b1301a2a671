//! Sets of integers as sorted, disjoint, non-adjacent inclusive intervals: the
//! representation behind IP address sets (`u32`, `u128`) and port sets (`u16`).
//!
//! API: [`Intervals::empty`], [`Intervals::range`], [`Intervals::universe`],
//! [`Intervals::from_ranges`], `ranges`, `is_empty`, `contains`, `union`,
//! `intersection`, `difference`, `complement`, `is_subset`, `coverage`.
//! Every operation is exact; the representation is canonical, so `==` is set
//! equality.

/// An integer type usable as an interval end point.
pub trait Point: Copy + Ord + std::fmt::Debug {
    const MIN: Self;
    const MAX: Self;
    /// The next value, or `None` at `MAX`.
    fn next(self) -> Option<Self>;
    /// The previous value, or `None` at `MIN`.
    fn prev(self) -> Option<Self>;
}

macro_rules! impl_point {
    ($($t:ty),*) => {$(
        impl Point for $t {
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            fn next(self) -> Option<Self> {
                self.checked_add(1)
            }
            fn prev(self) -> Option<Self> {
                self.checked_sub(1)
            }
        }
    )*};
}
impl_point!(u16, u32, u128);

/// How much of a range a set holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    Empty,
    Partial,
    Full,
}

/// A set of integers: sorted, disjoint, non-adjacent inclusive `(lo, hi)` ranges.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Intervals<T: Point> {
    ranges: Vec<(T, T)>,
}

impl<T: Point> Intervals<T> {
    pub fn empty() -> Self {
        Intervals { ranges: Vec::new() }
    }

    /// Every value of the type.
    pub fn universe() -> Self {
        Self::range(T::MIN, T::MAX)
    }

    /// `lo..=hi`; empty when `lo > hi`.
    pub fn range(lo: T, hi: T) -> Self {
        if lo > hi {
            Self::empty()
        } else {
            Intervals {
                ranges: vec![(lo, hi)],
            }
        }
    }

    /// The union of arbitrary inclusive ranges (overlapping, unsorted, or
    /// reversed ones, which are empty).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (T, T)>) -> Self {
        let mut ranges: Vec<(T, T)> = ranges.into_iter().filter(|(lo, hi)| lo <= hi).collect();
        ranges.sort();
        let mut merged: Vec<(T, T)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                // Overlapping or adjacent: extend the previous range.
                Some(last) if last.1.next().is_none_or(|after| lo <= after) => {
                    last.1 = last.1.max(hi);
                }
                _ => merged.push((lo, hi)),
            }
        }
        Intervals { ranges: merged }
    }

    /// The ranges, sorted, disjoint and non-adjacent.
    pub fn ranges(&self) -> &[(T, T)] {
        &self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn contains(&self, x: T) -> bool {
        let i = self.ranges.partition_point(|&(_, hi)| hi < x);
        self.ranges.get(i).is_some_and(|&(lo, _)| lo <= x)
    }

    /// Whether `lo..=hi` (non-empty) lies outside, partly inside or inside the set.
    pub fn coverage(&self, lo: T, hi: T) -> Coverage {
        let i = self.ranges.partition_point(|&(_, end)| end < lo);
        match self.ranges.get(i) {
            None => Coverage::Empty,
            Some(&(start, _)) if start > hi => Coverage::Empty,
            Some(&(start, end)) if start <= lo && hi <= end => Coverage::Full,
            Some(_) => Coverage::Partial,
        }
    }

    pub fn union(&self, other: &Self) -> Self {
        Self::from_ranges(self.ranges.iter().chain(&other.ranges).copied())
    }

    pub fn intersection(&self, other: &Self) -> Self {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while let (Some(&(a_lo, a_hi)), Some(&(b_lo, b_hi))) =
            (self.ranges.get(i), other.ranges.get(j))
        {
            let (lo, hi) = (a_lo.max(b_lo), a_hi.min(b_hi));
            if lo <= hi {
                out.push((lo, hi));
            }
            if a_hi < b_hi {
                i += 1;
            } else {
                j += 1;
            }
        }
        Intervals { ranges: out }
    }

    /// Every value of the type not in the set.
    pub fn complement(&self) -> Self {
        let mut out = Vec::new();
        let mut start = Some(T::MIN);
        for &(lo, hi) in &self.ranges {
            if let (Some(s), Some(before)) = (start, lo.prev()) {
                if s <= before {
                    out.push((s, before));
                }
            }
            start = hi.next();
        }
        if let Some(s) = start {
            out.push((s, T::MAX));
        }
        Intervals { ranges: out }
    }

    pub fn difference(&self, other: &Self) -> Self {
        self.intersection(&other.complement())
    }

    pub fn is_subset(&self, other: &Self) -> bool {
        self.difference(other).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EDGES: [u16; 10] = [0, 1, 2, 3, 7, 8, 9, 100, 65534, 65535];

    fn set() -> impl Strategy<Value = Intervals<u16>> {
        let point = proptest::sample::select(&EDGES[..]);
        proptest::collection::vec((point.clone(), point), 0..4).prop_map(Intervals::from_ranges)
    }

    fn brute(s: &Intervals<u16>, x: u16) -> bool {
        s.ranges().iter().any(|&(lo, hi)| lo <= x && x <= hi)
    }

    /// Membership only changes at an edge, so edges and their neighbours suffice.
    fn probes() -> Vec<u16> {
        let mut v: Vec<u16> = EDGES
            .iter()
            .flat_map(|&e| [e.checked_sub(1), Some(e), e.checked_add(1)])
            .flatten()
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn canonical(s: &Intervals<u16>) -> bool {
        s.ranges().iter().all(|(lo, hi)| lo <= hi)
            && s.ranges()
                .windows(2)
                .all(|w| w[0].1.checked_add(1).is_some_and(|after| after < w[1].0))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn operations_match_membership(a in set(), b in set()) {
            let (u, i, d, c) = (a.union(&b), a.intersection(&b), a.difference(&b), a.complement());
            for s in [&u, &i, &d, &c] {
                prop_assert!(canonical(s));
            }
            for x in probes() {
                prop_assert_eq!(a.contains(x), brute(&a, x));
                prop_assert_eq!(u.contains(x), a.contains(x) || b.contains(x));
                prop_assert_eq!(i.contains(x), a.contains(x) && b.contains(x));
                prop_assert_eq!(d.contains(x), a.contains(x) && !b.contains(x));
                prop_assert_eq!(c.contains(x), !a.contains(x));
            }
            let expected = probes().iter().all(|&x| !a.contains(x) || b.contains(x));
            prop_assert_eq!(a.is_subset(&b), expected);
        }

        #[test]
        fn coverage_matches_membership(a in set(), lo in 0u16..12, len in 0u16..12) {
            let hi = lo + len;
            let inside = (lo..=hi).filter(|&x| a.contains(x)).count();
            let expected = match inside {
                0 => Coverage::Empty,
                n if n == usize::from(len) + 1 => Coverage::Full,
                _ => Coverage::Partial,
            };
            prop_assert_eq!(a.coverage(lo, hi), expected);
        }
    }

    #[test]
    fn adjacent_ranges_merge() {
        let s = Intervals::from_ranges([(5u16, 9), (1, 4), (20, 10), (65535, 65535)]);
        assert_eq!(s.ranges(), &[(1, 9), (65535, 65535)]);
        assert_eq!(s.complement().ranges(), &[(0, 0), (10, 65534)]);
    }
}
