//! Exact sets of ICMP messages: per family (ICMP for IPv4, ICMPv6), a set of
//! (type, code) pairs. A pair is the point `type × 256 + code` of 0..=65535,
//! so a whole type is one range and every operation is an interval
//! operation, exact by construction.
//!
//! API: [`IcmpSet::none`], [`IcmpSet::all`], [`IcmpSet::family`],
//! [`IcmpSet::of_type`], [`IcmpSet::of_code`]; `union`, `intersection`,
//! `difference`, `contains`, `is_empty`, `is_all`; [`IcmpSet::parts`]
//! decomposes a family into whole types and single (type, code) pairs, the
//! shape the targets write. [`type_by_name`] and [`type_name`] map the IANA
//! names NPL accepts (`echo-request`) to type numbers and back.

use super::intervals::{Coverage, Intervals};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IcmpFamily {
    /// ICMP for IPv4 (`icmp`).
    V4,
    /// ICMPv6 (`icmpv6`).
    V6,
}

impl IcmpFamily {
    pub const ALL: [IcmpFamily; 2] = [IcmpFamily::V4, IcmpFamily::V6];

    /// The protocol's name in prose: `ICMPv4`, `ICMPv6`.
    pub fn title(self) -> &'static str {
        match self {
            IcmpFamily::V4 => "ICMPv4",
            IcmpFamily::V6 => "ICMPv6",
        }
    }
}

impl fmt::Display for IcmpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IcmpFamily::V4 => "icmp",
            IcmpFamily::V6 => "icmpv6",
        })
    }
}

/// One ICMP message: what a connection of protocol ICMP is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IcmpMessage {
    pub family: IcmpFamily,
    pub icmp_type: u8,
    pub code: u8,
}

impl IcmpMessage {
    /// An IPv4 echo request (ping), the message a question about "ICMP"
    /// means when it names no type.
    pub const PING: IcmpMessage = IcmpMessage {
        family: IcmpFamily::V4,
        icmp_type: 8,
        code: 0,
    };
}

impl IcmpMessage {
    /// The message's type as an NPL port, by name where it has one:
    /// `icmp/echo-request`, `icmpv6/200`.
    pub fn type_port(self) -> String {
        match type_name(self.family, self.icmp_type) {
            Some(name) => format!("{}/{name}", self.family),
            None => format!("{}/{}", self.family, self.icmp_type),
        }
    }
}

impl fmt::Display for IcmpMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.family, self.icmp_type, self.code)
    }
}

/// A part of one family's set as the targets write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IcmpPart {
    /// Every code of a type.
    Type(u8),
    /// One code of a type.
    Code(u8, u8),
}

type Points = Intervals<u16>;

fn point(icmp_type: u8, code: u8) -> u16 {
    u16::from(icmp_type) << 8 | u16::from(code)
}

fn whole_type(icmp_type: u8) -> (u16, u16) {
    (point(icmp_type, 0), point(icmp_type, u8::MAX))
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IcmpSet {
    v4: Points,
    v6: Points,
}

impl IcmpSet {
    pub fn none() -> Self {
        IcmpSet {
            v4: Points::empty(),
            v6: Points::empty(),
        }
    }

    /// Every message of both families: NPL's plain `icmp`.
    pub fn all() -> Self {
        IcmpSet {
            v4: Points::universe(),
            v6: Points::universe(),
        }
    }

    /// Every message of one family.
    pub fn family(family: IcmpFamily) -> Self {
        let mut set = Self::none();
        *set.points_mut(family) = Points::universe();
        set
    }

    /// Every code of one type.
    pub fn of_type(family: IcmpFamily, icmp_type: u8) -> Self {
        let (lo, hi) = whole_type(icmp_type);
        let mut set = Self::none();
        *set.points_mut(family) = Points::range(lo, hi);
        set
    }

    pub fn of_code(family: IcmpFamily, icmp_type: u8, code: u8) -> Self {
        let p = point(icmp_type, code);
        let mut set = Self::none();
        *set.points_mut(family) = Points::range(p, p);
        set
    }

    fn points(&self, family: IcmpFamily) -> &Points {
        match family {
            IcmpFamily::V4 => &self.v4,
            IcmpFamily::V6 => &self.v6,
        }
    }

    fn points_mut(&mut self, family: IcmpFamily) -> &mut Points {
        match family {
            IcmpFamily::V4 => &mut self.v4,
            IcmpFamily::V6 => &mut self.v6,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn is_all(&self) -> bool {
        IcmpFamily::ALL.into_iter().all(|f| self.family_is_all(f))
    }

    pub fn family_is_all(&self, family: IcmpFamily) -> bool {
        *self.points(family) == Points::universe()
    }

    pub fn family_is_empty(&self, family: IcmpFamily) -> bool {
        self.points(family).is_empty()
    }

    pub fn contains(&self, message: IcmpMessage) -> bool {
        self.points(message.family)
            .contains(point(message.icmp_type, message.code))
    }

    pub fn union(&self, other: &Self) -> Self {
        IcmpSet {
            v4: self.v4.union(&other.v4),
            v6: self.v6.union(&other.v6),
        }
    }

    pub fn intersection(&self, other: &Self) -> Self {
        IcmpSet {
            v4: self.v4.intersection(&other.v4),
            v6: self.v6.intersection(&other.v6),
        }
    }

    pub fn difference(&self, other: &Self) -> Self {
        IcmpSet {
            v4: self.v4.difference(&other.v4),
            v6: self.v6.difference(&other.v6),
        }
    }

    /// One family's set as whole types and single codes, in order.
    pub fn parts(&self, family: IcmpFamily) -> Vec<IcmpPart> {
        let points = self.points(family);
        let mut out = Vec::new();
        for icmp_type in 0..=u8::MAX {
            let (lo, hi) = whole_type(icmp_type);
            match points.coverage(lo, hi) {
                Coverage::Empty => {}
                Coverage::Full => out.push(IcmpPart::Type(icmp_type)),
                Coverage::Partial => out.extend(
                    (0..=u8::MAX)
                        .filter(|&code| points.contains(point(icmp_type, code)))
                        .map(|code| IcmpPart::Code(icmp_type, code)),
                ),
            }
        }
        out
    }

    /// The types of one family of which the set holds some codes but not
    /// all: what a target matching whole types only cannot write.
    pub fn partial_types(&self, family: IcmpFamily) -> Vec<u8> {
        let points = self.points(family);
        (0..=u8::MAX)
            .filter(|&t| {
                let (lo, hi) = whole_type(t);
                points.coverage(lo, hi) == Coverage::Partial
            })
            .collect()
    }

    /// Where a verdict can change within one family: the first point of
    /// each range and the one after each range's end, for cutting
    /// 0..=65535 into pieces of constant membership.
    pub fn cuts(&self, family: IcmpFamily) -> Vec<u32> {
        self.points(family)
            .ranges()
            .iter()
            .flat_map(|&(lo, hi)| [u32::from(lo), u32::from(hi) + 1])
            .collect()
    }
}

impl IcmpSet {
    /// The set in NPL's port syntax: `icmp` for everything, else `icmpv6`,
    /// `icmp/echo-request`, `icmp/3/4`, ...
    pub fn to_npl(&self) -> Vec<String> {
        if self.is_all() {
            return vec!["icmp".to_string()];
        }
        let mut out = Vec::new();
        for family in IcmpFamily::ALL {
            if self.family_is_all(family) {
                out.push(match family {
                    IcmpFamily::V4 => "icmpv4".to_string(),
                    IcmpFamily::V6 => "icmpv6".to_string(),
                });
                continue;
            }
            let ty = |t: u8| type_name(family, t).map_or_else(|| t.to_string(), str::to_string);
            for part in self.parts(family) {
                out.push(match part {
                    IcmpPart::Type(t) => format!("{family}/{}", ty(t)),
                    IcmpPart::Code(t, c) => format!("{family}/{}/{c}", ty(t)),
                });
            }
        }
        out
    }
}

/// A port of NPL's syntax as a set: `icmp` (both families), `icmpv4`,
/// `icmpv6`, `FAMILY/TYPE` and `FAMILY/TYPE/CODE`, a type by number or
/// name; `None` for anything else (what [`IcmpSet::to_npl`] writes reads
/// back).
pub fn parse_set(text: &str) -> Option<IcmpSet> {
    let mut parts = text.trim().split('/');
    let family = match parts.next()? {
        "icmp" | "icmpv4" => IcmpFamily::V4,
        "icmpv6" => IcmpFamily::V6,
        _ => return None,
    };
    let Some(t) = parts.next() else {
        return Some(if text.trim() == "icmp" {
            IcmpSet::all()
        } else {
            IcmpSet::family(family)
        });
    };
    let icmp_type = t.parse::<u8>().ok().or_else(|| type_by_name(family, t))?;
    let set = match parts.next() {
        None => IcmpSet::of_type(family, icmp_type),
        Some(c) => IcmpSet::of_code(family, icmp_type, c.parse::<u8>().ok()?),
    };
    parts.next().is_none().then_some(set)
}

/// One message as a question names it: `icmp` (an IPv4 echo request),
/// `icmp/8`, `icmp/echo-request`, `icmp/3/4`, `icmpv6/128`, `icmpv6/echo-request/0`.
/// Without a code, the code is 0; `icmpv6` alone is an ICMPv6 echo request.
pub fn parse_message(text: &str) -> Result<IcmpMessage, String> {
    let lower = text.trim().to_ascii_lowercase();
    let mut parts = lower.split('/');
    let family = match parts.next() {
        Some("icmp" | "icmpv4") => IcmpFamily::V4,
        Some("icmpv6") => IcmpFamily::V6,
        _ => {
            return Err(format!(
                "`{text}` is not an ICMP message (icmp/TYPE[/CODE] or icmpv6/TYPE[/CODE])"
            ))
        }
    };
    let echo = match family {
        IcmpFamily::V4 => 8,
        IcmpFamily::V6 => 128,
    };
    let icmp_type = match parts.next() {
        None => echo,
        Some(t) => match t.parse::<u8>() {
            Ok(n) => n,
            Err(_) => type_by_name(family, t).ok_or_else(|| {
                format!(
                    "`{t}` is not an {family} type (a number 0-255 or a name such as echo-request)"
                )
            })?,
        },
    };
    let code = match parts.next() {
        None => 0,
        Some(c) => c
            .parse::<u8>()
            .map_err(|_| format!("`{c}` is not an ICMP code (0-255)"))?,
    };
    if parts.next().is_some() {
        return Err(format!("`{text}` has more than a type and a code"));
    }
    Ok(IcmpMessage {
        family,
        icmp_type,
        code,
    })
}

/// A point of [`IcmpSet::cuts`] as a message.
pub fn message_at(family: IcmpFamily, cut: u32) -> Option<IcmpMessage> {
    let p = u16::try_from(cut).ok()?;
    let [icmp_type, code] = p.to_be_bytes();
    Some(IcmpMessage {
        family,
        icmp_type,
        code,
    })
}

/// The IANA names NPL accepts for ICMP types, in the lowercase-dash form
/// iptables and nftables use.
const V4_NAMES: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("destination-unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("echo-request", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
    ("address-mask-request", 17),
    ("address-mask-reply", 18),
    ("extended-echo-request", 42),
    ("extended-echo-reply", 43),
];

const V6_NAMES: &[(&str, u8)] = &[
    ("destination-unreachable", 1),
    ("packet-too-big", 2),
    ("time-exceeded", 3),
    ("parameter-problem", 4),
    ("echo-request", 128),
    ("echo-reply", 129),
    ("multicast-listener-query", 130),
    ("multicast-listener-report", 131),
    ("multicast-listener-done", 132),
    ("router-solicitation", 133),
    ("router-advertisement", 134),
    ("neighbor-solicitation", 135),
    ("neighbor-advertisement", 136),
    ("redirect", 137),
    ("router-renumbering", 138),
    ("extended-echo-request", 160),
    ("extended-echo-reply", 161),
];

pub fn type_names(family: IcmpFamily) -> &'static [(&'static str, u8)] {
    match family {
        IcmpFamily::V4 => V4_NAMES,
        IcmpFamily::V6 => V6_NAMES,
    }
}

pub fn type_by_name(family: IcmpFamily, name: &str) -> Option<u8> {
    type_names(family)
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, t)| t)
}

pub fn type_name(family: IcmpFamily, icmp_type: u8) -> Option<&'static str> {
    type_names(family)
        .iter()
        .find(|&&(_, t)| t == icmp_type)
        .map(|&(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TYPES: [u8; 6] = [0, 3, 8, 128, 254, 255];
    const CODES: [u8; 5] = [0, 1, 4, 254, 255];

    fn piece() -> impl Strategy<Value = IcmpSet> {
        let family = proptest::sample::select(&IcmpFamily::ALL[..]);
        let t = proptest::sample::select(&TYPES[..]);
        let c = proptest::sample::select(&CODES[..]);
        prop_oneof![
            (family.clone(), t.clone()).prop_map(|(f, t)| IcmpSet::of_type(f, t)),
            (family.clone(), t, c).prop_map(|(f, t, c)| IcmpSet::of_code(f, t, c)),
            family.prop_map(IcmpSet::family),
            Just(IcmpSet::all()),
        ]
    }

    fn set() -> impl Strategy<Value = IcmpSet> {
        proptest::collection::vec(piece(), 0..4)
            .prop_map(|v| v.iter().fold(IcmpSet::none(), |acc, p| acc.union(p)))
    }

    fn probes() -> Vec<IcmpMessage> {
        let mut out = Vec::new();
        for family in IcmpFamily::ALL {
            for t in [0u8, 1, 2, 3, 4, 7, 8, 9, 127, 128, 129, 253, 254, 255] {
                for code in [0u8, 1, 3, 4, 5, 253, 254, 255] {
                    out.push(IcmpMessage {
                        family,
                        icmp_type: t,
                        code,
                    });
                }
            }
        }
        out
    }

    fn from_parts(set: &IcmpSet) -> IcmpSet {
        let mut out = IcmpSet::none();
        for family in IcmpFamily::ALL {
            for part in set.parts(family) {
                out = out.union(&match part {
                    IcmpPart::Type(t) => IcmpSet::of_type(family, t),
                    IcmpPart::Code(t, c) => IcmpSet::of_code(family, t, c),
                });
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn operations_are_exact(a in set(), b in set()) {
            let (u, i, d) = (a.union(&b), a.intersection(&b), a.difference(&b));
            for m in probes() {
                prop_assert_eq!(u.contains(m), a.contains(m) || b.contains(m));
                prop_assert_eq!(i.contains(m), a.contains(m) && b.contains(m));
                prop_assert_eq!(d.contains(m), a.contains(m) && !b.contains(m));
            }
        }

        #[test]
        fn parts_rebuild_the_set(a in set(), b in set()) {
            let d = a.difference(&b);
            prop_assert_eq!(from_parts(&d), d);
        }
    }

    #[test]
    fn npl_text_reads_back() {
        let sets = [
            IcmpSet::all(),
            IcmpSet::family(IcmpFamily::V4),
            IcmpSet::family(IcmpFamily::V6),
            IcmpSet::of_type(IcmpFamily::V4, 8).union(&IcmpSet::of_code(IcmpFamily::V6, 1, 4)),
            IcmpSet::of_type(IcmpFamily::V4, 200),
        ];
        for set in sets {
            let back = set
                .to_npl()
                .iter()
                .map(|t| parse_set(t).expect("reads back"))
                .fold(IcmpSet::none(), |acc, s| acc.union(&s));
            assert_eq!(back, set);
        }
        assert_eq!(parse_set("icmp/echo-request/x"), None);
    }

    #[test]
    fn questions_name_one_message() {
        let m = |f, t, c| IcmpMessage {
            family: f,
            icmp_type: t,
            code: c,
        };
        assert_eq!(parse_message("icmp"), Ok(m(IcmpFamily::V4, 8, 0)));
        assert_eq!(parse_message("icmp/3/4"), Ok(m(IcmpFamily::V4, 3, 4)));
        assert_eq!(
            parse_message("icmpv6/echo-request"),
            Ok(m(IcmpFamily::V6, 128, 0))
        );
        assert!(parse_message("icmp/256").is_err());
        assert!(parse_message("icmp/1/2/3").is_err());
        assert!(parse_message("icmp/packet-too-big").is_err());
    }

    #[test]
    fn names_round_trip() {
        for family in IcmpFamily::ALL {
            for &(name, t) in type_names(family) {
                assert_eq!(type_by_name(family, name), Some(t));
                assert_eq!(type_name(family, t), Some(name));
            }
        }
        assert_eq!(type_by_name(IcmpFamily::V6, "echo-request"), Some(128));
        assert_eq!(type_by_name(IcmpFamily::V4, "packet-too-big"), None);
    }

    #[test]
    fn type_minus_code_leaves_the_other_codes() {
        let unreachable = IcmpSet::of_type(IcmpFamily::V4, 3);
        let rest = unreachable.difference(&IcmpSet::of_code(IcmpFamily::V4, 3, 4));
        assert_eq!(rest.parts(IcmpFamily::V4).len(), 255);
        assert_eq!(rest.partial_types(IcmpFamily::V4), vec![3]);
        assert!(IcmpSet::all()
            .difference(&IcmpSet::family(IcmpFamily::V4))
            .family_is_all(IcmpFamily::V6));
    }
}
