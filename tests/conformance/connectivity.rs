//! The connectivity of an inventory as a per-connection oracle (the Calico
//! tier evaluator, the Cilium oracle) sees it, in the model nca's and
//! `nplc matrix`'s answers are parsed into (`tests/nca`), so that every
//! target is compared the same way: every ordered pair of pods on every
//! TCP/UDP/SCTP port and ICMP, and every pod to and from every IPv4 and
//! IPv6 address.
//!
//! An oracle is asked one connection per elementary interval: its answer
//! can only change where the emitted YAML names a port or an address, or
//! where a destination pod has a container port, so the cuts are read from
//! the YAML itself (every number, every `a:b` range, every address and
//! CIDR), never from the program.

use std::net::IpAddr;

use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::eval::{Connection, Endpoint, Transport};
use nplc_compiler::inventory::NamedPod;
use serde_yaml::Value;

use crate::nca::{Connectivity, Conns, Family, IcmpProbes, IpRange};

/// Where an answer may change: port numbers (a range's start and the port
/// after its end) and address starts per family (v4, v6).
#[derive(Debug, Default, Clone)]
pub struct Cuts {
    pub ports: Vec<u32>,
    pub addresses: [Vec<u128>; 2],
}

fn family_max(family: Family) -> u128 {
    match family {
        Family::V4 => u128::from(u32::MAX),
        Family::V6 => u128::MAX,
    }
}

fn family_index(family: Family) -> usize {
    match family {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

fn address(family: Family, n: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4((n as u32).into()),
        Family::V6 => IpAddr::V6(n.into()),
    }
}

/// `(family, first, last)` of an address or a CIDR.
pub fn parse_net(text: &str) -> Option<(Family, u128, u128)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u32>().ok()?)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let (family, bits, n) = match ip {
        IpAddr::V4(v4) => (Family::V4, 32, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (Family::V6, 128, u128::from(v6)),
    };
    let len = len.unwrap_or(bits);
    if len > bits {
        return None;
    }
    let host_bits = bits - len;
    let host = if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    Some((family, n & !host, (n & !host) | host))
}

impl Cuts {
    /// Every number, port range and address of a YAML stream.
    pub fn of_yaml(stream: &str) -> Cuts {
        let mut cuts = Cuts::default();
        for doc in crate::support::yaml_documents(stream) {
            if let Ok(value) = serde_yaml::from_str::<Value>(&doc) {
                cuts.walk(&value, false);
            }
        }
        cuts
    }

    fn port_range(&mut self, lo: u64, hi: u64) {
        if lo <= 65535 && hi <= 65535 && lo <= hi {
            self.ports.push(lo as u32);
            self.ports.push(hi as u32 + 1);
        }
    }

    /// `port_key`: the value is under a key that holds ports (`port`,
    /// `endPort`, `ports`, `notPorts`); other numbers (orders, ICMP types)
    /// are no cuts.
    fn walk(&mut self, value: &Value, port_key: bool) {
        match value {
            Value::Number(n) if port_key => {
                if let Some(n) = n.as_u64() {
                    self.port_range(n, n);
                }
            }
            Value::Number(_) => {}
            Value::String(s) => {
                if port_key {
                    let range = s.split_once(':').or_else(|| s.split_once('-'));
                    if let Some((a, b)) = range {
                        if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
                            self.port_range(a, b);
                        }
                    }
                    if let Ok(n) = s.parse::<u64>() {
                        self.port_range(n, n);
                    }
                }
                if let Some((family, first, last)) = parse_net(s) {
                    let list = &mut self.addresses[family_index(family)];
                    list.push(first);
                    if last < family_max(family) {
                        list.push(last + 1);
                    }
                }
            }
            Value::Sequence(items) => items.iter().for_each(|v| self.walk(v, port_key)),
            Value::Mapping(map) => map.iter().for_each(|(k, v)| {
                let key = k.as_str().unwrap_or_default();
                self.walk(v, matches!(key, "port" | "endPort" | "ports" | "notPorts"));
            }),
            Value::Tagged(t) => self.walk(&t.value, port_key),
            Value::Null | Value::Bool(_) => {}
        }
    }
}

/// The connections from `source` to `destination` the oracle allows: one
/// question per elementary port interval and protocol, and ICMP.
fn allowed_conns(
    ask: &dyn Fn(&Connection) -> bool,
    cuts: &Cuts,
    source: &Endpoint,
    destination: &Endpoint,
) -> Conns {
    let mut conns = Conns::default();
    let question = |transport: Transport| Connection {
        source: source.clone(),
        destination: destination.clone(),
        transport,
        request: None,
    };
    for (i, protocol) in Protocol::ALL.into_iter().enumerate() {
        let mut points = cuts.ports.clone();
        if let Endpoint::Pod(pod) = destination {
            for p in pod.ports.iter().filter(|p| p.protocol == protocol) {
                points.extend([u32::from(p.number), u32::from(p.number) + 1]);
            }
        }
        points.extend([1, 65536]);
        points.retain(|c| (1..=65536).contains(c));
        points.sort_unstable();
        points.dedup();
        for w in points.windows(2) {
            if ask(&question(Transport::Port(protocol, w[0] as u16))) {
                conns.ports[i].push((w[0], w[1] - 1));
            }
        }
    }
    // `union` merges adjacent ranges.
    conns = conns.union(&Conns::default());
    conns.icmp = IcmpProbes::from_fn(|m| ask(&question(Transport::Icmp(m))));
    conns
}

/// The whole connectivity of `pods` (and addresses) under an oracle.
pub fn connectivity(
    ask: &dyn Fn(&Connection) -> bool,
    pods: &[NamedPod],
    cuts: &Cuts,
) -> Connectivity {
    let mut out = Connectivity::default();
    for s in pods {
        for d in pods {
            if s == d {
                continue;
            }
            let conns = allowed_conns(
                ask,
                cuts,
                &Endpoint::Pod(s.pod.clone()),
                &Endpoint::Pod(d.pod.clone()),
            );
            if !conns.is_empty() {
                out.pods
                    .insert((s.qualified_name(), d.qualified_name()), conns);
            }
        }
    }
    for p in pods {
        let local = Endpoint::Pod(p.pod.clone());
        for egress in [true, false] {
            let mut list = Vec::new();
            for family in [Family::V4, Family::V6] {
                let max = family_max(family);
                let mut starts = cuts.addresses[family_index(family)].clone();
                starts.push(0);
                starts.retain(|s| *s <= max);
                starts.sort_unstable();
                starts.dedup();
                for (i, &lo) in starts.iter().enumerate() {
                    let hi = starts.get(i + 1).map_or(max, |next| next - 1);
                    let remote = Endpoint::Ip(address(family, lo));
                    let conns = if egress {
                        allowed_conns(ask, cuts, &local, &remote)
                    } else {
                        allowed_conns(ask, cuts, &remote, &local)
                    };
                    if !conns.is_empty() {
                        list.push((IpRange { family, lo, hi }, conns));
                    }
                }
            }
            if !list.is_empty() {
                out.addresses.insert((p.qualified_name(), egress), list);
            }
        }
    }
    out
}
