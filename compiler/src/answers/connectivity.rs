//! The connectivity of a concrete inventory (namespaces and pods as kubectl
//! prints them), computed with the reference evaluator: what `nplc matrix`
//! prints.
//!
//! Ports are enumerated smartly: only the boundaries of the port ranges in
//! the rules that can match a pair (and the destination's named container
//! ports) can change a verdict, so one port per elementary interval is asked
//! and adjacent intervals with the same verdict are merged. Addresses are
//! enumerated the same way for the `world` lines: the IPv4 and IPv6 spaces
//! are cut at the CIDR boundaries of the rules that can match, one address
//! per piece is asked, and adjacent pieces with the same connections are
//! merged.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::algebra::icmp::{self, IcmpFamily, IcmpMessage, IcmpSet};
use crate::algebra::ports::Protocol;
use crate::eval::{self, Connection, Endpoint, Transport};
use crate::inventory::{Inventory, NamedPod};
use crate::ir::{self, Ir, PeerSet, Tier};

/// The allowed connections between two endpoints: port ranges per protocol
/// (in [`Protocol::ALL`] order) and ICMP.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Conns {
    pub ports: [Vec<(u16, u16)>; 3],
    /// Every ICMP message of both families.
    pub icmp: bool,
    /// Some ICMP messages but not all, in NPL's syntax (`icmp/echo-request`).
    pub icmp_some: Vec<String>,
}

impl Conns {
    pub fn is_empty(&self) -> bool {
        !self.icmp && self.icmp_some.is_empty() && self.ports.iter().all(Vec::is_empty)
    }

    pub fn is_all(&self) -> bool {
        self.icmp && self.ports.iter().all(|r| r.as_slice() == [(1, 65535)])
    }
}

/// Source, destination (nca's names) and what is allowed between them.
pub type Row = (String, String, Conns);

/// Every non-empty row: ordered pairs of distinct pods, then each pod to and
/// from pieces of the IPv4 space.
pub fn rows(ir: &Ir, inventory: &Inventory) -> Vec<Row> {
    let mut out = Vec::new();
    for src in &inventory.pods {
        for dst in &inventory.pods {
            if src == dst {
                continue;
            }
            let conns = connections(ir, &pod(src), &pod(dst));
            if !conns.is_empty() {
                out.push((pod_name(src), pod_name(dst), conns));
            }
        }
    }
    for p in &inventory.pods {
        for (range, conns) in world(ir, p, true) {
            out.push((pod_name(p), range, conns));
        }
        for (range, conns) in world(ir, p, false) {
            out.push((range, pod_name(p), conns));
        }
    }
    out
}

/// One end of a graph row: a pod of the inventory, or addresses outside
/// the cluster.
pub enum End<'a> {
    Pod(&'a NamedPod),
    World,
}

/// The rows of [`rows`] with their ends kept as pods, for the graph.
pub fn graph_rows<'a>(ir: &Ir, inventory: &'a Inventory) -> Vec<(End<'a>, End<'a>, Conns)> {
    let mut out = Vec::new();
    for src in &inventory.pods {
        for dst in &inventory.pods {
            if src != dst {
                let conns = connections(ir, &pod(src), &pod(dst));
                if !conns.is_empty() {
                    out.push((End::Pod(src), End::Pod(dst), conns));
                }
            }
        }
        for (_, conns) in world(ir, src, true) {
            out.push((End::Pod(src), End::World, conns));
        }
        for (_, conns) in world(ir, src, false) {
            out.push((End::World, End::Pod(src), conns));
        }
    }
    out
}

impl Conns {
    /// Both sets of connections.
    pub fn union(&self, other: &Conns) -> Conns {
        let mut some: Vec<String> = self
            .icmp_some
            .iter()
            .chain(&other.icmp_some)
            .cloned()
            .collect();
        some.sort();
        some.dedup();
        let icmp = self.icmp || other.icmp;
        let mut out = Conns {
            icmp,
            icmp_some: if icmp { Vec::new() } else { some },
            ..Conns::default()
        };
        for i in 0..3 {
            let mut all: Vec<(u16, u16)> = self.ports[i]
                .iter()
                .chain(&other.ports[i])
                .copied()
                .collect();
            all.sort_unstable();
            for (lo, hi) in all {
                match out.ports[i].last_mut() {
                    Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
                    _ => out.ports[i].push((lo, hi)),
                }
            }
        }
        out
    }
}

fn pod(p: &NamedPod) -> Endpoint {
    Endpoint::Pod(p.pod.clone())
}

/// nca's name of a pod: `namespace/name[Pod]`.
fn pod_name(p: &NamedPod) -> String {
    format!("{}[Pod]", p.qualified_name())
}

/// The program cut down to what can decide connections from `src` to `dst`:
/// the rules whose peers hold both, and the zones holding either. Evaluating
/// this is evaluating the whole program, faster.
fn reduce(ir: &Ir, src: &Endpoint, dst: &Endpoint) -> Ir {
    let tiers = ir
        .tiers
        .iter()
        .map(|t| Tier {
            def: t.def,
            name: t.name.clone(),
            name_span: t.name_span,
            rules: t
                .rules
                .iter()
                .filter(|r| {
                    eval::peer_contains(&r.source, src) && eval::peer_contains(&r.destination, dst)
                })
                .cloned()
                .collect(),
            logs: Vec::new(),
        })
        .collect();
    let holds =
        |zone: &ir::Zone, e: &Endpoint| eval::peer_contains(&PeerSet::pods(zone.pods.clone()), e);
    Ir {
        zones: ir
            .zones
            .iter()
            .filter(|z| holds(z, src) || holds(z, dst))
            .cloned()
            .collect(),
        tiers,
        gateways: Vec::new(),
        vias: Vec::new(),
    }
}

/// Allowed connections from `src` to `dst`, over every port of every protocol.
fn connections(ir: &Ir, src: &Endpoint, dst: &Endpoint) -> Conns {
    let reduced = reduce(ir, src, dst);
    let allowed = |transport| {
        eval::evaluate(
            &reduced,
            &Connection {
                source: src.clone(),
                destination: dst.clone(),
                transport,
                request: None,
            },
        )
        .allowed
    };
    let mut conns = Conns::default();
    for (i, protocol) in Protocol::ALL.into_iter().enumerate() {
        let cuts = port_cuts(&reduced, protocol, dst);
        for w in cuts.windows(2) {
            let (lo, hi) = (w[0], w[1] - 1);
            let (Ok(lo), Ok(hi)) = (u16::try_from(lo), u16::try_from(hi)) else {
                continue;
            };
            if allowed(Transport::Port(protocol, lo)) {
                push_range(&mut conns.ports[i], lo, hi);
            }
        }
    }
    let icmp = icmp_allowed(&reduced, |m| allowed(Transport::Icmp(m)));
    conns.icmp = icmp.is_all();
    if !conns.icmp && !icmp.is_empty() {
        conns.icmp_some = icmp.to_npl();
    }
    conns
}

/// The ICMP messages allowed, asked once per piece of constant verdict
/// (pieces cut at the ends of the rules' ICMP sets).
fn icmp_allowed(ir: &Ir, allowed: impl Fn(IcmpMessage) -> bool) -> IcmpSet {
    let mut out = IcmpSet::none();
    for family in IcmpFamily::ALL {
        let mut cuts = vec![0u32, 65536];
        for rule in ir.rules() {
            cuts.extend(rule.ports().icmp_set().cuts(family));
        }
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            let (Some(lo), Some(hi)) = (
                icmp::message_at(family, w[0]),
                icmp::message_at(family, w[1] - 1),
            ) else {
                continue;
            };
            if allowed(lo) {
                out = out.union(&icmp_between(lo, hi));
            }
        }
    }
    out
}

/// Every message from `lo` to `hi` of one family, in (type, code) order.
fn icmp_between(lo: IcmpMessage, hi: IcmpMessage) -> IcmpSet {
    let family = lo.family;
    let mut out = IcmpSet::none();
    for t in lo.icmp_type..=hi.icmp_type {
        let first = if t == lo.icmp_type { lo.code } else { 0 };
        let last = if t == hi.icmp_type { hi.code } else { u8::MAX };
        out = if (first, last) == (0, u8::MAX) {
            out.union(&IcmpSet::of_type(family, t))
        } else {
            (first..=last).fold(out, |acc, c| acc.union(&IcmpSet::of_code(family, t, c)))
        };
    }
    out
}

/// Where a verdict can change on `protocol`: the ends of the rules' port
/// ranges and the destination's container ports, within 1..=65535.
fn port_cuts(ir: &Ir, protocol: Protocol, dst: &Endpoint) -> Vec<u32> {
    let mut cuts = vec![1u32, 65536];
    for rule in ir.rules() {
        for &(lo, hi) in rule.ports().ranges(protocol).ranges() {
            cuts.push(u32::from(lo));
            cuts.push(u32::from(hi) + 1);
        }
    }
    if let Endpoint::Pod(pod) = dst {
        for port in pod.ports.iter().filter(|p| p.protocol == protocol) {
            cuts.push(u32::from(port.number));
            cuts.push(u32::from(port.number) + 1);
        }
    }
    cuts.retain(|c| (1..=65536).contains(c));
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

fn push_range<T: Copy + PartialEq + std::ops::Add<Output = T> + From<u8>>(
    ranges: &mut Vec<(T, T)>,
    lo: T,
    hi: T,
) {
    if let Some(last) = ranges.last_mut() {
        if last.1 + T::from(1) == lo {
            last.1 = hi;
            return;
        }
    }
    ranges.push((lo, hi));
}

/// A pod's connections to (`egress`) or from the addresses outside the
/// cluster, IPv4 then IPv6, as merged address ranges in nca's
/// `a.b.c.d-e.f.g.h` notation.
fn world(ir: &Ir, p: &NamedPod, egress: bool) -> Vec<(String, Conns)> {
    let mut out = family(ir, p, egress, Family::V4);
    out.extend(family(ir, p, egress, Family::V6));
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn max(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }

    fn address(self, n: u128) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX))),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(n)),
        }
    }

    /// An address of this family as a number.
    fn number(self, ip: IpAddr) -> Option<u128> {
        match (self, ip) {
            (Family::V4, IpAddr::V4(a)) => Some(u128::from(u32::from(a))),
            (Family::V6, IpAddr::V6(a)) => Some(u128::from(a)),
            _ => None,
        }
    }
}

fn family(ir: &Ir, p: &NamedPod, egress: bool, fam: Family) -> Vec<(String, Conns)> {
    let local = pod(p);
    // Where pieces start: 0, and every CIDR end of the rules that can match.
    let mut starts: Vec<u128> = vec![0];
    for rule in ir.rules() {
        let (mine, remote) = if egress {
            (&rule.source, &rule.destination)
        } else {
            (&rule.destination, &rule.source)
        };
        if remote.ips.is_empty() || !eval::peer_contains(mine, &local) {
            continue;
        }
        for net in remote.ips.to_prefixes() {
            if let (Some(lo), Some(hi)) = (fam.number(net.network()), fam.number(net.broadcast())) {
                starts.push(lo);
                if hi < fam.max() {
                    starts.push(hi + 1);
                }
            }
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let mut pieces: Vec<((u128, u128), Conns)> = Vec::new();
    for (i, &lo) in starts.iter().enumerate() {
        let hi = starts.get(i + 1).map_or(fam.max(), |next| next - 1);
        let address = Endpoint::Ip(fam.address(lo));
        let conns = if egress {
            connections(ir, &local, &address)
        } else {
            connections(ir, &address, &local)
        };
        match pieces.last_mut() {
            Some((range, last)) if *last == conns => range.1 = hi,
            _ => pieces.push(((lo, hi), conns)),
        }
    }
    pieces
        .into_iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|((lo, hi), c)| {
            let name = if lo == hi {
                fam.address(lo).to_string()
            } else {
                format!("{}-{}", fam.address(lo), fam.address(hi))
            };
            (name, c)
        })
        .collect()
}
