//! Exact sets of destination ports: numeric ranges per protocol (TCP, UDP,
//! SCTP; ports 1–65535), named container ports kept by name, and ICMP
//! messages by family, type and code ([`IcmpSet`], always exact).
//!
//! API: [`PortSet::none`], [`PortSet::all`], [`PortSet::icmp`],
//! [`PortSet::icmp_messages`], [`PortSet::all_of`], [`PortSet::port`],
//! [`PortSet::range`], [`PortSet::named`]; `union` (always exact);
//! `intersection` and `difference` (`Err(NotRepresentable)` where a named
//! port meets something only the pods could resolve); `is_empty`,
//! `contains`, `contains_icmp`; accessors `ranges`, `named_ports`,
//! `has_icmp`, `icmp_set`.
//!
//! A connection is (protocol, port number, and the name of the container port
//! it reaches, if any). A named entry `tcp/http` matches connections whose
//! container port is named `http`; its number differs from pod to pod, so the
//! algebra decides only what holds for every pod:
//! - `named − ports` is empty when the ports are all of that protocol, and
//!   unchanged when the other side has nothing of that protocol;
//! - `named − same named` is empty, `named ∩ same named` is the named entry;
//! - a named entry against a partial range, or against another name of the same
//!   protocol (a pod may give one number two names), is not representable, and
//!   so is `ports − named` when ports remain.

use super::icmp::{IcmpMessage, IcmpSet};
use super::intervals::Intervals;
use std::collections::BTreeSet;
use std::fmt;

/// Protocols that carry ports. ICMP has none; its messages are an
/// [`IcmpSet`] of [`PortSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        })
    }
}

/// Port numbers as sorted disjoint inclusive ranges.
pub type RangeSet = Intervals<u16>;

pub const FIRST_PORT: u16 = 1;
pub const LAST_PORT: u16 = 65535;

fn every_port() -> RangeSet {
    RangeSet::range(FIRST_PORT, LAST_PORT)
}

/// A set of connections by protocol and port. Canonical: a named entry is
/// dropped when its protocol's numeric ranges already hold every port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortSet {
    tcp: RangeSet,
    udp: RangeSet,
    sctp: RangeSet,
    named: BTreeSet<(Protocol, String)>,
    icmp: IcmpSet,
}

/// A port operation whose exact result depends on which numbers the pods
/// give a named port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotRepresentable {
    pub protocol: Protocol,
    /// The named port involved.
    pub name: String,
    /// What it met.
    pub against: Against,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Against {
    /// Numeric ports of the same protocol, neither none nor all of them.
    Ports(RangeSet),
    /// Another named port of the same protocol.
    NamedPort(String),
}

impl fmt::Display for NotRepresentable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (protocol, name) = (self.protocol, &self.name);
        write!(f, "named port {protocol}/{name} against ")?;
        match &self.against {
            Against::Ports(ports) => {
                write!(f, "{protocol} ports ")?;
                for (i, &(lo, hi)) in ports.ranges().iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    if lo == hi {
                        write!(f, "{sep}{lo}")?;
                    } else {
                        write!(f, "{sep}{lo}-{hi}")?;
                    }
                }
            }
            Against::NamedPort(other) => write!(f, "named port {protocol}/{other}")?,
        }
        f.write_str(": the number behind a port name is only known per pod")
    }
}

impl std::error::Error for NotRepresentable {}

impl PortSet {
    pub fn none() -> Self {
        PortSet {
            tcp: RangeSet::empty(),
            udp: RangeSet::empty(),
            sctp: RangeSet::empty(),
            named: BTreeSet::new(),
            icmp: IcmpSet::none(),
        }
    }

    /// Every port of every protocol, and ICMP.
    pub fn all() -> Self {
        PortSet {
            tcp: every_port(),
            udp: every_port(),
            sctp: every_port(),
            named: BTreeSet::new(),
            icmp: IcmpSet::all(),
        }
    }

    /// Every ICMP message of both families: NPL's plain `icmp`.
    pub fn icmp() -> Self {
        Self::icmp_messages(IcmpSet::all())
    }

    /// Some ICMP messages (`icmp/8`, `icmpv6/echo-request`, `icmp/3/4`).
    pub fn icmp_messages(icmp: IcmpSet) -> Self {
        PortSet {
            icmp,
            ..Self::none()
        }
    }

    /// Every port of one protocol.
    pub fn all_of(protocol: Protocol) -> Self {
        Self::range(protocol, FIRST_PORT, LAST_PORT)
    }

    pub fn port(protocol: Protocol, port: u16) -> Self {
        Self::range(protocol, port, port)
    }

    /// Ports `lo..=hi` of one protocol; port 0 is not a port and is left out.
    pub fn range(protocol: Protocol, lo: u16, hi: u16) -> Self {
        let mut set = Self::none();
        *set.ranges_mut(protocol) = RangeSet::range(lo.max(FIRST_PORT), hi);
        set
    }

    /// A named container port, e.g. `tcp/http`.
    pub fn named(protocol: Protocol, name: impl Into<String>) -> Self {
        let mut set = Self::none();
        set.named.insert((protocol, name.into()));
        set
    }

    /// The numeric ports of one protocol.
    pub fn ranges(&self, protocol: Protocol) -> &RangeSet {
        match protocol {
            Protocol::Tcp => &self.tcp,
            Protocol::Udp => &self.udp,
            Protocol::Sctp => &self.sctp,
        }
    }

    fn ranges_mut(&mut self, protocol: Protocol) -> &mut RangeSet {
        match protocol {
            Protocol::Tcp => &mut self.tcp,
            Protocol::Udp => &mut self.udp,
            Protocol::Sctp => &mut self.sctp,
        }
    }

    pub fn named_ports(&self) -> &BTreeSet<(Protocol, String)> {
        &self.named
    }

    /// Whether the set holds some ICMP message.
    pub fn has_icmp(&self) -> bool {
        !self.icmp.is_empty()
    }

    /// The ICMP messages of the set.
    pub fn icmp_set(&self) -> &IcmpSet {
        &self.icmp
    }

    pub fn is_empty(&self) -> bool {
        self.icmp.is_empty()
            && self.named.is_empty()
            && Protocol::ALL.iter().all(|&p| self.ranges(p).is_empty())
    }

    /// Whether a connection to `port` over `protocol` is in the set, where
    /// `port_name` is the name of the container port it reaches, if it has one.
    pub fn contains(&self, protocol: Protocol, port: u16, port_name: Option<&str>) -> bool {
        self.ranges(protocol).contains(port)
            || port_name.is_some_and(|n| self.named.contains(&(protocol, n.to_string())))
    }

    pub fn contains_icmp(&self, message: IcmpMessage) -> bool {
        self.icmp.contains(message)
    }

    pub fn union(&self, other: &Self) -> Self {
        let mut out = PortSet {
            tcp: self.tcp.union(&other.tcp),
            udp: self.udp.union(&other.udp),
            sctp: self.sctp.union(&other.sctp),
            named: self.named.union(&other.named).cloned().collect(),
            icmp: self.icmp.union(&other.icmp),
        };
        out.drop_covered_names();
        out
    }

    pub fn intersection(&self, other: &Self) -> Result<Self, NotRepresentable> {
        let mut out = PortSet {
            tcp: self.tcp.intersection(&other.tcp),
            udp: self.udp.intersection(&other.udp),
            sctp: self.sctp.intersection(&other.sctp),
            named: BTreeSet::new(),
            icmp: self.icmp.intersection(&other.icmp),
        };
        for (a, b) in [(self, other), (other, self)] {
            for (protocol, name) in &a.named {
                if b.holds_named(*protocol, name)? {
                    out.named.insert((*protocol, name.clone()));
                }
            }
        }
        out.drop_covered_names();
        Ok(out)
    }

    pub fn difference(&self, other: &Self) -> Result<Self, NotRepresentable> {
        let mut out = PortSet {
            tcp: self.tcp.difference(&other.tcp),
            udp: self.udp.difference(&other.udp),
            sctp: self.sctp.difference(&other.sctp),
            named: BTreeSet::new(),
            icmp: self.icmp.difference(&other.icmp),
        };
        // Numeric ports left over minus a named port: the pods decide.
        for (protocol, name) in &other.named {
            let left = out.ranges(*protocol);
            if !left.is_empty() {
                return Err(NotRepresentable {
                    protocol: *protocol,
                    name: name.clone(),
                    against: Against::Ports(left.clone()),
                });
            }
        }
        for (protocol, name) in &self.named {
            if !other.holds_named(*protocol, name)? {
                out.named.insert((*protocol, name.clone()));
            }
        }
        out.drop_covered_names();
        Ok(out)
    }

    /// Whether the named port lies wholly inside `self` (`true`) or wholly
    /// outside (`false`); `Err` when that depends on the pods.
    fn holds_named(&self, protocol: Protocol, name: &str) -> Result<bool, NotRepresentable> {
        let ranges = self.ranges(protocol);
        if *ranges == every_port() || self.named.contains(&(protocol, name.to_string())) {
            return Ok(true);
        }
        let conflict = |against| NotRepresentable {
            protocol,
            name: name.to_string(),
            against,
        };
        if !ranges.is_empty() {
            return Err(conflict(Against::Ports(ranges.clone())));
        }
        match self.named.iter().find(|(p, _)| *p == protocol) {
            Some((_, other)) => Err(conflict(Against::NamedPort(other.clone()))),
            None => Ok(false),
        }
    }

    fn drop_covered_names(&mut self) {
        let full: Vec<Protocol> = Protocol::ALL
            .into_iter()
            .filter(|&p| *self.ranges(p) == every_port())
            .collect();
        self.named.retain(|(p, _)| !full.contains(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::icmp::IcmpFamily;
    use proptest::prelude::*;

    const EDGES: [u16; 10] = [0, 1, 2, 52, 53, 80, 443, 8080, 65534, 65535];
    const NAMES: [&str; 3] = ["http", "web", "dns"];

    #[derive(Clone, Copy, Debug)]
    enum Conn {
        Port(Protocol, u16, Option<&'static str>),
        Icmp(IcmpMessage),
    }

    fn member(s: &PortSet, c: Conn) -> bool {
        match c {
            Conn::Port(p, port, name) => s.contains(p, port, name),
            Conn::Icmp(m) => s.contains_icmp(m),
        }
    }

    /// Every protocol × edge ports and their neighbours × every name (and
    /// none, and one never used in sets): membership is constant in between.
    /// Port 0 is no connection's port.
    fn probes() -> Vec<Conn> {
        let mut ports: Vec<u16> = EDGES
            .iter()
            .flat_map(|&e| [e.checked_sub(1), Some(e), e.checked_add(1)])
            .flatten()
            .filter(|&port| port >= FIRST_PORT)
            .collect();
        ports.sort();
        ports.dedup();
        let names = [None, Some("http"), Some("web"), Some("dns"), Some("other")];
        let mut out: Vec<Conn> = [
            (IcmpFamily::V4, 8, 0),
            (IcmpFamily::V4, 3, 4),
            (IcmpFamily::V6, 128, 0),
        ]
        .into_iter()
        .map(|(family, icmp_type, code)| {
            Conn::Icmp(IcmpMessage {
                family,
                icmp_type,
                code,
            })
        })
        .collect();
        for p in Protocol::ALL {
            for &port in &ports {
                for name in names {
                    out.push(Conn::Port(p, port, name));
                }
            }
        }
        out
    }

    fn protocol() -> impl Strategy<Value = Protocol> {
        proptest::sample::select(&Protocol::ALL[..])
    }

    fn piece() -> impl Strategy<Value = PortSet> {
        let edge = || proptest::sample::select(&EDGES[..]);
        prop_oneof![
            4 => (protocol(), edge(), edge()).prop_map(|(p, lo, hi)| PortSet::range(p, lo, hi)),
            4 => (protocol(), proptest::sample::select(&NAMES[..]))
                .prop_map(|(p, n)| PortSet::named(p, n)),
            1 => Just(PortSet::icmp()),
            1 => Just(PortSet::icmp_messages(IcmpSet::of_type(IcmpFamily::V4, 8))),
            1 => Just(PortSet::icmp_messages(IcmpSet::of_code(IcmpFamily::V4, 3, 4))),
            2 => protocol().prop_map(PortSet::all_of),
            1 => Just(PortSet::all()),
        ]
    }

    fn port_set() -> impl Strategy<Value = PortSet> {
        proptest::collection::vec(piece(), 0..4)
            .prop_map(|pieces| pieces.iter().fold(PortSet::none(), |acc, p| acc.union(p)))
    }

    fn names_of(s: &PortSet, p: Protocol) -> Vec<&str> {
        s.named_ports()
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, n)| n.as_str())
            .collect()
    }

    fn full(s: &PortSet, p: Protocol) -> bool {
        *s.ranges(p) == every_port()
    }

    /// The documented undecidable cases for `a ∩ b` / `a − b` (named entry of
    /// `a` not wholly inside `b`, and `b` holding something of its protocol).
    fn named_meets_unknown(a: &PortSet, b: &PortSet, p: Protocol) -> bool {
        names_of(a, p).iter().any(|n| {
            !names_of(b, p).contains(n)
                && !full(b, p)
                && (!b.ranges(p).is_empty() || !names_of(b, p).is_empty())
        })
    }

    fn intersection_undecidable(a: &PortSet, b: &PortSet) -> bool {
        Protocol::ALL
            .into_iter()
            .any(|p| named_meets_unknown(a, b, p) || named_meets_unknown(b, a, p))
    }

    fn difference_undecidable(a: &PortSet, b: &PortSet) -> bool {
        Protocol::ALL.into_iter().any(|p| {
            named_meets_unknown(a, b, p)
                || (!a.ranges(p).difference(b.ranges(p)).is_empty() && !names_of(b, p).is_empty())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn union_is_exact(a in port_set(), b in port_set()) {
            let u = a.union(&b);
            for c in probes() {
                prop_assert_eq!(member(&u, c), member(&a, c) || member(&b, c));
            }
        }

        #[test]
        fn intersection_is_exact_or_a_documented_case(a in port_set(), b in port_set()) {
            let result = a.intersection(&b);
            prop_assert_eq!(result.is_err(), intersection_undecidable(&a, &b));
            if let Ok(i) = result {
                for c in probes() {
                    prop_assert_eq!(member(&i, c), member(&a, c) && member(&b, c), "{:?}", c);
                }
            }
        }

        #[test]
        fn difference_is_exact_or_a_documented_case(a in port_set(), b in port_set()) {
            let result = a.difference(&b);
            prop_assert_eq!(result.is_err(), difference_undecidable(&a, &b));
            match result {
                Ok(d) => {
                    for c in probes() {
                        prop_assert_eq!(member(&d, c), member(&a, c) && !member(&b, c), "{:?}", c);
                    }
                    prop_assert_eq!(d.is_empty(), probes().iter().all(|&c| !member(&d, c)));
                }
                Err(e) => {
                    // The error names a named port that really is in play.
                    let key = (e.protocol, e.name.clone());
                    let named = |s: &PortSet| s.named_ports().contains(&key);
                    prop_assert!(named(&a) || named(&b));
                }
            }
        }
    }

    #[test]
    fn documented_cases() {
        let http = PortSet::named(Protocol::Tcp, "http");
        let tcp = PortSet::all_of(Protocol::Tcp);
        assert!(http.difference(&tcp).unwrap().is_empty());
        assert!(http.difference(&http).unwrap().is_empty());
        assert_eq!(http.intersection(&http).unwrap(), http);
        assert_eq!(
            http.difference(&PortSet::all_of(Protocol::Udp)).unwrap(),
            http
        );
        let err = http
            .difference(&PortSet::range(Protocol::Tcp, 80, 90))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "named port tcp/http against tcp ports 80-90: the number behind a port name is only known per pod"
        );
        let err = PortSet::port(Protocol::Tcp, 8080)
            .difference(&http)
            .unwrap_err();
        assert_eq!(err.against, Against::Ports(RangeSet::range(8080, 8080)));
        assert!(http
            .intersection(&PortSet::named(Protocol::Tcp, "web"))
            .is_err());
        // Adding every TCP port absorbs the name.
        assert_eq!(http.union(&tcp), tcp);
    }

    #[test]
    fn port_zero_is_not_a_port() {
        assert!(PortSet::port(Protocol::Tcp, 0).is_empty());
        assert_eq!(
            PortSet::range(Protocol::Udp, 0, 53),
            PortSet::range(Protocol::Udp, 1, 53)
        );
        assert!(!PortSet::all().contains(Protocol::Tcp, 0, None));
    }
}
