//! Exact sets of IP addresses, IPv4 and IPv6 kept apart, as sorted disjoint
//! inclusive address intervals.
//!
//! API: [`IpSet::none`], [`IpSet::all`], [`IpSet::all_v4`], [`IpSet::all_v6`],
//! [`IpSet::from_net`], [`IpSet::from_addr`], [`IpSet::from_cidr_except`];
//! `union`, `intersection`, `difference`, `complement`, `is_empty`, `contains`,
//! `subset`; output as [`IpSet::to_prefixes`] (the minimal prefix list) or
//! [`IpSet::to_blocks`] (`ipBlock {cidr, except}` pairs, as few CIDRs as the
//! nested form allows). The representation is canonical: `==` is set equality.
//! An IPv4-mapped IPv6 address is an IPv6 address here, not an IPv4 one.

use super::intervals::{Coverage, Intervals};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpSet {
    v4: Intervals<u32>,
    v6: Intervals<u128>,
}

/// A `cidr` with the `except` prefixes removed from it, as Kubernetes'
/// `ipBlock` and Cilium's `toCIDRSet` take it. Every except lies strictly
/// inside `cidr`.
pub type Block = (IpNet, Vec<IpNet>);

impl IpSet {
    pub fn none() -> Self {
        IpSet {
            v4: Intervals::empty(),
            v6: Intervals::empty(),
        }
    }

    /// Every IPv4 and every IPv6 address.
    pub fn all() -> Self {
        IpSet {
            v4: Intervals::universe(),
            v6: Intervals::universe(),
        }
    }

    pub fn all_v4() -> Self {
        IpSet {
            v4: Intervals::universe(),
            v6: Intervals::empty(),
        }
    }

    pub fn all_v6() -> Self {
        IpSet {
            v4: Intervals::empty(),
            v6: Intervals::universe(),
        }
    }

    /// Every address of the prefix (host bits of `net` are ignored).
    pub fn from_net(net: IpNet) -> Self {
        match net {
            IpNet::V4(n) => IpSet {
                v4: Intervals::range(u32::from(n.network()), u32::from(n.broadcast())),
                v6: Intervals::empty(),
            },
            IpNet::V6(n) => IpSet {
                v4: Intervals::empty(),
                v6: Intervals::range(u128::from(n.network()), u128::from(n.broadcast())),
            },
        }
    }

    pub fn from_addr(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => Self::from_net(IpNet::V4(Ipv4Net::from(a))),
            IpAddr::V6(a) => Self::from_net(IpNet::V6(Ipv6Net::from(a))),
        }
    }

    /// `cidr base except e1, e2, ...`: the base minus every except (excepts
    /// outside the base, or of the other family, simply remove nothing).
    pub fn from_cidr_except(base: IpNet, excepts: &[IpNet]) -> Self {
        let removed = excepts
            .iter()
            .fold(Self::none(), |acc, &e| acc.union(&Self::from_net(e)));
        Self::from_net(base).difference(&removed)
    }

    pub fn union(&self, other: &Self) -> Self {
        IpSet {
            v4: self.v4.union(&other.v4),
            v6: self.v6.union(&other.v6),
        }
    }

    pub fn intersection(&self, other: &Self) -> Self {
        IpSet {
            v4: self.v4.intersection(&other.v4),
            v6: self.v6.intersection(&other.v6),
        }
    }

    pub fn difference(&self, other: &Self) -> Self {
        IpSet {
            v4: self.v4.difference(&other.v4),
            v6: self.v6.difference(&other.v6),
        }
    }

    /// Every address (of both families) not in the set.
    pub fn complement(&self) -> Self {
        Self::all().difference(self)
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.v4.contains(u32::from(a)),
            IpAddr::V6(a) => self.v6.contains(u128::from(a)),
        }
    }

    /// Whether every address of `self` is in `other`.
    pub fn subset(&self, other: &Self) -> bool {
        self.v4.is_subset(&other.v4) && self.v6.is_subset(&other.v6)
    }

    /// The fewest prefixes whose union is exactly the set: disjoint, IPv4
    /// first, each family in address order.
    pub fn to_prefixes(&self) -> Vec<IpNet> {
        let v4 = self
            .v4
            .ranges()
            .iter()
            .flat_map(|&(lo, hi)| range_prefixes(u128::from(lo), u128::from(hi), V4_BITS));
        let v6 = self
            .v6
            .ranges()
            .iter()
            .flat_map(|&(lo, hi)| range_prefixes(lo, hi, V6_BITS));
        let v4 = v4.filter_map(|p| to_net(p, V4_BITS));
        v4.chain(v6.filter_map(|p| to_net(p, V6_BITS))).collect()
    }

    /// Blocks (`cidr` minus `except`s) whose union is exactly the set, sorted
    /// by base, excepts sorted. Chosen to write the fewest CIDRs in all (a
    /// base and each except count one), then the fewest blocks, among the
    /// forms where a block is a prefix minus sub-prefixes and further blocks
    /// may sit inside an except. Never more CIDRs than [`IpSet::to_prefixes`].
    pub fn to_blocks(&self) -> Vec<Block> {
        let v4_coverage = |lo: u128, hi: u128| match (u32::try_from(lo), u32::try_from(hi)) {
            (Ok(lo), Ok(hi)) => self.v4.coverage(lo, hi),
            _ => Coverage::Empty,
        };
        let v4 = best_cover((0, 0), V4_BITS, &v4_coverage);
        let v6 = best_cover((0, 0), V6_BITS, &|lo, hi| self.v6.coverage(lo, hi));
        let mut blocks: Vec<Block> = [(v4.plain, V4_BITS), (v6.plain, V6_BITS)]
            .into_iter()
            .flat_map(|(blocks, bits)| {
                blocks.into_iter().filter_map(move |(base, excepts)| {
                    let base = to_net(base, bits)?;
                    let mut excepts: Vec<IpNet> = excepts
                        .into_iter()
                        .filter_map(|e| to_net(e, bits))
                        .collect();
                    excepts.sort();
                    Some((base, excepts))
                })
            })
            .collect();
        blocks.sort();
        blocks
    }
}

const V4_BITS: u8 = 32;
const V6_BITS: u8 = 128;

/// A prefix in a family of `bits` bits: (first address, prefix length).
type Prefix = (u128, u8);

/// The addresses after the first in a prefix with `host_bits` host bits.
fn host_mask(host_bits: u8) -> u128 {
    match 1u128.checked_shl(u32::from(host_bits)) {
        Some(size) => size - 1,
        None => u128::MAX,
    }
}

fn last_address((first, len): Prefix, bits: u8) -> u128 {
    first | host_mask(bits.saturating_sub(len))
}

/// `None` only for an address or length beyond the family, which the
/// callers never produce.
fn to_net((first, len): Prefix, bits: u8) -> Option<IpNet> {
    if bits == V4_BITS {
        let addr = Ipv4Addr::from(u32::try_from(first).ok()?);
        Ipv4Net::new(addr, len).ok().map(IpNet::V4)
    } else {
        Ipv6Net::new(Ipv6Addr::from(first), len).ok().map(IpNet::V6)
    }
}

/// The minimal prefixes covering exactly `lo..=hi`: from `lo`, repeatedly the
/// largest aligned prefix that still ends by `hi`.
fn range_prefixes(mut lo: u128, hi: u128, bits: u8) -> Vec<Prefix> {
    let mut out = Vec::new();
    if lo > hi {
        return out;
    }
    loop {
        let align = u8::try_from(lo.trailing_zeros()).unwrap_or(u8::MAX);
        let mut host_bits = align.min(bits);
        while lo | host_mask(host_bits) > hi {
            host_bits -= 1;
        }
        out.push((lo, bits - host_bits));
        let last = lo | host_mask(host_bits);
        match last.checked_add(1) {
            Some(next) if last < hi => lo = next,
            _ => return out,
        }
    }
}

/// The two best ways to write the set's part inside one prefix.
struct Cover {
    /// Blocks whose bases lie inside the prefix: the set ∩ prefix on its own.
    plain: Vec<(Prefix, Vec<Prefix>)>,
    /// When an enclosing block's base already covers the prefix: the excepts
    /// to cut out of it, plus blocks re-adding addresses inside those excepts.
    under_base: (Vec<Prefix>, Vec<(Prefix, Vec<Prefix>)>),
}

/// (CIDRs written, blocks) — the cost to minimise, in that order.
fn cost(excepts: &[Prefix], blocks: &[(Prefix, Vec<Prefix>)]) -> (usize, usize) {
    let cidrs = excepts.len() + blocks.iter().map(|(_, e)| 1 + e.len()).sum::<usize>();
    (cidrs, blocks.len())
}

/// Dynamic programme over the prefix tree, visiting only prefixes the set
/// partly covers (at most `bits` per interval end point).
fn best_cover(prefix: Prefix, bits: u8, coverage: &dyn Fn(u128, u128) -> Coverage) -> Cover {
    let (first, len) = prefix;
    match coverage(first, last_address(prefix, bits)) {
        Coverage::Empty => Cover {
            plain: Vec::new(),
            under_base: (vec![prefix], Vec::new()),
        },
        Coverage::Full => Cover {
            plain: vec![(prefix, Vec::new())],
            under_base: (Vec::new(), Vec::new()),
        },
        Coverage::Partial => {
            // A partly covered prefix holds two addresses or more: `len < bits`.
            let half_bits = bits.saturating_sub(len + 1);
            let half = 1u128 << half_bits;
            let left = best_cover((first, len + 1), bits, coverage);
            let right = best_cover((first | half, len + 1), bits, coverage);

            let split: Vec<_> = left.plain.into_iter().chain(right.plain).collect();
            let (l_ex, l_blocks) = left.under_base;
            let (r_ex, r_blocks) = right.under_base;
            let inner_ex: Vec<Prefix> = l_ex.into_iter().chain(r_ex).collect();
            let inner_blocks: Vec<_> = l_blocks.into_iter().chain(r_blocks).collect();

            let mut as_base = vec![(prefix, inner_ex.clone())];
            as_base.extend(inner_blocks.iter().cloned());
            let plain = if cost(&[], &as_base) < cost(&[], &split) {
                as_base
            } else {
                split
            };

            let cut_whole = (vec![prefix], plain.clone());
            let under_base = if cost(&cut_whole.0, &cut_whole.1) < cost(&inner_ex, &inner_blocks) {
                cut_whole
            } else {
                (inner_ex, inner_blocks)
            };
            Cover { plain, under_base }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const POOL: [&str; 22] = [
        "0.0.0.0/0",
        "0.0.0.0/32",
        "0.0.0.0/1",
        "128.0.0.0/1",
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.2.0.0/16",
        "10.1.2.0/24",
        "10.1.2.3/32",
        "10.255.255.255/32",
        "192.168.0.0/16",
        "192.168.1.0/25",
        "255.255.255.255/32",
        "::/0",
        "::/128",
        "::ffff:0:0/96",
        "2001:db8::/32",
        "2001:db8:1::/48",
        "fd00::/8",
        "fd00::/64",
        "fd00::1/128",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
    ];

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn pool_net() -> impl Strategy<Value = IpNet> {
        proptest::sample::select(&POOL[..]).prop_map(net)
    }

    /// A union of up to three `cidr ... except ...` blocks from the pool.
    fn ip_set() -> impl Strategy<Value = IpSet> {
        let block = (pool_net(), proptest::collection::vec(pool_net(), 0..3));
        proptest::collection::vec(block, 0..4).prop_map(|blocks| {
            blocks.iter().fold(IpSet::none(), |acc, (base, ex)| {
                acc.union(&IpSet::from_cidr_except(*base, ex))
            })
        })
    }

    /// Membership only changes at pool prefix edges: probe each edge and its
    /// neighbours.
    fn probes() -> Vec<IpAddr> {
        let mut out = Vec::new();
        for n in POOL.iter().map(|s| net(s)) {
            match n {
                IpNet::V4(n) => {
                    for a in [u32::from(n.network()), u32::from(n.broadcast())] {
                        for b in [a.checked_sub(1), Some(a), a.checked_add(1)]
                            .into_iter()
                            .flatten()
                        {
                            out.push(IpAddr::V4(Ipv4Addr::from(b)));
                        }
                    }
                }
                IpNet::V6(n) => {
                    for a in [u128::from(n.network()), u128::from(n.broadcast())] {
                        for b in [a.checked_sub(1), Some(a), a.checked_add(1)]
                            .into_iter()
                            .flatten()
                        {
                            out.push(IpAddr::V6(Ipv6Addr::from(b)));
                        }
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn union_of_blocks(blocks: &[Block]) -> IpSet {
        blocks.iter().fold(IpSet::none(), |acc, (base, ex)| {
            acc.union(&IpSet::from_cidr_except(*base, ex))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn operations_match_membership(a in ip_set(), b in ip_set()) {
            let (u, i, d, c) = (a.union(&b), a.intersection(&b), a.difference(&b), a.complement());
            let probes = probes();
            for &x in &probes {
                prop_assert_eq!(u.contains(x), a.contains(x) || b.contains(x));
                prop_assert_eq!(i.contains(x), a.contains(x) && b.contains(x));
                prop_assert_eq!(d.contains(x), a.contains(x) && !b.contains(x));
                prop_assert_eq!(c.contains(x), !a.contains(x));
            }
            prop_assert_eq!(a.subset(&b), probes.iter().all(|&x| !a.contains(x) || b.contains(x)));
            prop_assert_eq!(a.is_empty(), probes.iter().all(|&x| !a.contains(x)));
        }

        #[test]
        fn cidr_except_matches_membership(
            base in pool_net(),
            ex in proptest::collection::vec(pool_net(), 0..4),
        ) {
            let s = IpSet::from_cidr_except(base, &ex);
            for x in probes() {
                let expected = base.contains(&x) && !ex.iter().any(|e| e.contains(&x));
                prop_assert_eq!(s.contains(x), expected);
            }
        }

        #[test]
        fn prefixes_are_exact_sorted_and_minimal(a in ip_set()) {
            let prefixes = a.to_prefixes();
            let rebuilt = prefixes
                .iter()
                .fold(IpSet::none(), |acc, p| acc.union(&IpSet::from_net(*p)));
            prop_assert_eq!(&rebuilt, &a);
            prop_assert!(prefixes.windows(2).all(|w| w[0] < w[1]));
            let disjoint = |w: &[IpNet]| !w[0].contains(&w[1]) && !w[1].contains(&w[0]);
            prop_assert!(prefixes.windows(2).all(disjoint));
            // Minimal: no prefix's parent lies wholly inside the set.
            for p in &prefixes {
                if let Some(parent) = p.supernet() {
                    prop_assert!(!IpSet::from_net(parent).subset(&a), "{p} could be {parent}");
                }
            }
        }

        #[test]
        fn blocks_are_exact_and_no_worse_than_prefixes(a in ip_set()) {
            let blocks = a.to_blocks();
            prop_assert_eq!(&union_of_blocks(&blocks), &a);
            for (base, excepts) in &blocks {
                for e in excepts {
                    prop_assert!(base.contains(e) && base != e, "{e} not strictly inside {base}");
                }
            }
            prop_assert!(blocks.windows(2).all(|w| w[0] < w[1]));
            let cidrs: usize = blocks.iter().map(|(_, e)| 1 + e.len()).sum();
            prop_assert!(cidrs <= a.to_prefixes().len());
        }
    }

    #[test]
    fn ten_slash_eight_minus_a_slash_sixteen() {
        let s = IpSet::from_cidr_except(net("10.0.0.0/8"), &[net("10.1.0.0/16")]);
        let expected: Vec<IpNet> = [
            "10.0.0.0/16",
            "10.2.0.0/15",
            "10.4.0.0/14",
            "10.8.0.0/13",
            "10.16.0.0/12",
            "10.32.0.0/11",
            "10.64.0.0/10",
            "10.128.0.0/9",
        ]
        .iter()
        .map(|s| net(s))
        .collect();
        assert_eq!(s.to_prefixes(), expected);
        assert_eq!(
            s.to_blocks(),
            vec![(net("10.0.0.0/8"), vec![net("10.1.0.0/16")])]
        );
    }

    #[test]
    fn blocks_nest_inside_excepts() {
        let s = IpSet::from_cidr_except(net("10.0.0.0/8"), &[net("10.1.0.0/16")])
            .union(&IpSet::from_net(net("10.1.1.0/24")));
        assert_eq!(
            s.to_blocks(),
            vec![
                (net("10.0.0.0/8"), vec![net("10.1.0.0/16")]),
                (net("10.1.1.0/24"), vec![]),
            ]
        );
    }

    #[test]
    fn whole_families_and_edges() {
        assert_eq!(
            IpSet::all().to_prefixes(),
            vec![net("0.0.0.0/0"), net("::/0")]
        );
        assert_eq!(
            IpSet::all().to_blocks(),
            vec![(net("0.0.0.0/0"), vec![]), (net("::/0"), vec![])]
        );
        assert!(IpSet::none().to_blocks().is_empty());
        let edges = IpSet::from_addr("255.255.255.255".parse().unwrap())
            .union(&IpSet::from_addr("::".parse().unwrap()));
        assert_eq!(
            edges.to_prefixes(),
            vec![net("255.255.255.255/32"), net("::/128")]
        );
        let all_but_one = IpSet::all_v6().difference(&IpSet::from_addr("::1".parse().unwrap()));
        assert_eq!(
            all_but_one.to_blocks(),
            vec![(net("::/0"), vec![net("::1/128")])]
        );
        assert_eq!(all_but_one.to_prefixes().len(), 128);
    }

    #[test]
    fn host_bits_of_a_cidr_are_ignored() {
        assert_eq!(
            IpSet::from_net(net("10.1.2.3/8")),
            IpSet::from_net(net("10.0.0.0/8"))
        );
    }
}
