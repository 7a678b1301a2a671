//! `nplc matrix`: the connectivity of a concrete inventory (namespaces and
//! pods as kubectl prints them), computed with the reference evaluator and
//! printed in the shape of `nca --connectivity --output_format
//! txt_no_fw_rules`, so the two can be compared as sets.
//!
//! Ports are enumerated smartly: only the boundaries of the port ranges in
//! the rules that can match a pair (and the destination's named container
//! ports) can change a verdict, so one port per elementary interval is asked
//! and adjacent intervals with the same verdict are merged. Addresses are
//! enumerated the same way for the `world` lines: the IPv4 and IPv6 spaces
//! are cut at the CIDR boundaries of the rules that can match, one address
//! per piece is asked, and adjacent pieces with the same connections are
//! merged.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use nplc_compiler::algebra::icmp::{self, IcmpFamily, IcmpMessage, IcmpSet};
use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::eval::{self, Connection, Endpoint, Transport};
use nplc_compiler::inventory::{self, Inventory, NamedPod, Source};
use nplc_compiler::ir::{self, Ir, PeerSet, Tier};
use serde_json::{json, Value};

use crate::cli::{print_stdout, Color, OutputArgs};
use crate::{program, Outcome};

#[derive(clap::Args)]
#[command(
    after_help = "Output: one line per source, destination and group of connections, sorted, as \
                  `nca --connectivity --output_format txt_no_fw_rules` prints them:\n  \
                  shop/web[Pod] => shop/api[Pod] : {protocols:TCP,dst_ports:8080}\n  \
                  0.0.0.0-255.255.255.255 => shop/web[Pod] : All connections\n\
                  Pairs of distinct pods, and each pod to and from IPv4 and IPv6 addresses outside \
                  the cluster (address ranges merged where the connections are the same; compare \
                  with `nca --print_ipv6`). A connection \
                  an L7-filtered allow lets through counts as allowed. `All connections` is every \
                  TCP, UDP and SCTP port and ICMP.\n\nExit status: 0 printed, 1 errors in the program, \
                  2 misuse (including a malformed inventory).\n\nExamples:\n  \
                  kubectl get ns -o yaml > ns.yaml; kubectl get pods -A -o yaml > pods.yaml\n  \
                  nplc matrix policy/ --namespaces ns.yaml --pods pods.yaml"
)]
pub struct MatrixArgs {
    /// Files, directories (searched recursively for *.npl) or `-` for standard input.
    paths: Vec<PathBuf>,
    /// Namespaces: the output of `kubectl get ns -o yaml` (a List, one object or a stream).
    #[arg(long, value_name = "NS.yaml")]
    namespaces: PathBuf,
    /// Pods: the output of `kubectl get pods -A -o yaml` (a List, one object or a stream).
    #[arg(long, value_name = "PODS.yaml")]
    pods: PathBuf,
    /// `txt` is nca's txt_no_fw_rules shape; `json` the same lines as objects;
    /// `dot` (Graphviz) and `mermaid` draw who may talk to whom: zones as
    /// nodes, ports on edges, tiers as clusters.
    #[arg(long, value_enum, default_value_t = MatrixFormat::Txt)]
    format: MatrixFormat,
    /// Colour in the diagnostics of a program with errors.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Clone, Copy, ValueEnum)]
enum MatrixFormat {
    Txt,
    Json,
    Dot,
    Mermaid,
}

pub fn matrix(args: &MatrixArgs) -> Outcome {
    let inventory = match read_inventory(&args.namespaces, &args.pods) {
        Ok(inv) => inv,
        Err(message) => return Outcome::Misuse(message),
    };
    let (db, program) = match program::load(&args.paths, &OutputArgs::human(args.color)) {
        Ok(loaded) => loaded,
        Err(outcome) => return outcome,
    };
    let Some(ir) = ir::lower(&db, program).as_ref() else {
        return Outcome::InputErrors;
    };
    if let MatrixFormat::Dot | MatrixFormat::Mermaid = args.format {
        let resolved = nplc_compiler::names::resolve(&db, program);
        let graph = crate::graph::build(ir, resolved, &graph_rows(ir, &inventory));
        let text = match args.format {
            MatrixFormat::Dot => crate::graph::dot(&graph),
            _ => crate::graph::mermaid(&graph),
        };
        print_stdout(&text);
        return Outcome::Clean;
    }
    let rows = rows(ir, &inventory);
    match args.format {
        MatrixFormat::Txt => {
            let mut lines: Vec<String> = rows
                .iter()
                .flat_map(|(src, dst, conns)| {
                    nca_connections(conns)
                        .into_iter()
                        .map(move |c| format!("{src} => {dst} : {c}"))
                })
                .collect();
            lines.sort();
            lines.dedup();
            let mut text = lines.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            print_stdout(&text);
        }
        MatrixFormat::Dot | MatrixFormat::Mermaid => {}
        MatrixFormat::Json => {
            let mut values: Vec<(String, String, Value)> = rows
                .iter()
                .map(|(src, dst, conns)| (src.clone(), dst.clone(), json_connections(conns)))
                .collect();
            values.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            let list: Vec<Value> = values
                .into_iter()
                .map(|(s, d, c)| json!({"source": s, "destination": d, "connections": c}))
                .collect();
            let text = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".to_string());
            print_stdout(&format!("{text}\n"));
        }
    }
    Outcome::Clean
}

fn read_inventory(namespaces: &Path, pods: &Path) -> Result<Inventory, String> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
    };
    let (ns_text, pods_text) = (read(namespaces)?, read(pods)?);
    let (ns_name, pods_name) = (namespaces.display().to_string(), pods.display().to_string());
    inventory::load(
        Source {
            name: &ns_name,
            text: &ns_text,
        },
        Source {
            name: &pods_name,
            text: &pods_text,
        },
    )
    .map_err(|e| format!("malformed inventory: {e}"))
}

/// The allowed connections between two endpoints: port ranges per protocol
/// (in [`Protocol::ALL`] order) and ICMP.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Conns {
    ports: [Vec<(u16, u16)>; 3],
    /// Every ICMP message of both families.
    icmp: bool,
    /// Some ICMP messages but not all, in NPL's syntax (`icmp/echo-request`).
    icmp_some: Vec<String>,
}

impl Conns {
    fn is_empty(&self) -> bool {
        !self.icmp && self.icmp_some.is_empty() && self.ports.iter().all(Vec::is_empty)
    }

    fn is_all(&self) -> bool {
        self.icmp && self.ports.iter().all(|r| r.as_slice() == [(1, 65535)])
    }
}

type Row = (String, String, Conns);

/// Every non-empty row: ordered pairs of distinct pods, then each pod to and
/// from pieces of the IPv4 space.
fn rows(ir: &Ir, inventory: &Inventory) -> Vec<Row> {
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
fn graph_rows<'a>(ir: &Ir, inventory: &'a Inventory) -> Vec<(End<'a>, End<'a>, Conns)> {
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

    /// nca's words for the connections, on one line.
    pub fn words(&self) -> String {
        nca_connections(self).join(" ")
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

/// nca's names of the protocols, in protocol-number order with ICMP first.
fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

/// Protocols grouped by identical port ranges (ICMP joins the group with
/// every port, or stands alone): `(protocol names, ranges or None for all)`.
/// Protocol names and their port ranges (`None`: every port, or ICMP).
type Group = (Vec<&'static str>, Option<Vec<(u16, u16)>>);

fn groups(conns: &Conns) -> Vec<Group> {
    let mut by_ranges: BTreeMap<Vec<(u16, u16)>, Vec<&'static str>> = BTreeMap::new();
    let mut order: Vec<Vec<(u16, u16)>> = Vec::new();
    for (i, protocol) in Protocol::ALL.into_iter().enumerate() {
        let ranges = &conns.ports[i];
        if ranges.is_empty() {
            continue;
        }
        if !by_ranges.contains_key(ranges) {
            order.push(ranges.clone());
        }
        by_ranges
            .entry(ranges.clone())
            .or_default()
            .push(protocol_name(protocol));
    }
    let full = vec![(1u16, 65535u16)];
    let mut out: Vec<Group> = Vec::new();
    if !conns.icmp_some.is_empty() {
        out.push((vec!["ICMP"], None));
    }
    if conns.icmp && !by_ranges.contains_key(&full) {
        out.push((vec!["ICMP"], None));
    }
    for ranges in order {
        let mut names = by_ranges.remove(&ranges).unwrap_or_default();
        if ranges == full {
            if conns.icmp {
                names.insert(0, "ICMP");
            }
            out.push((names, None));
        } else {
            out.push((names, Some(ranges)));
        }
    }
    out
}

/// nca's text for the connections, one entry per line it would print.
fn nca_connections(conns: &Conns) -> Vec<String> {
    if conns.is_all() {
        return vec!["All connections".to_string()];
    }
    groups(conns)
        .into_iter()
        .map(|(names, ranges)| match ranges {
            None if names == ["ICMP"] && !conns.icmp_some.is_empty() => {
                format!("{{protocols:ICMP,icmp:{}}}", conns.icmp_some.join(","))
            }
            None => format!("{{protocols:{}}}", names.join(", ")),
            Some(ranges) => format!(
                "{{protocols:{},dst_ports:{}}}",
                names.join(", "),
                ports_text(&ranges)
            ),
        })
        .collect()
}

fn ports_text(ranges: &[(u16, u16)]) -> String {
    crate::describe::port_ranges(ranges).join(",")
}

fn json_connections(conns: &Conns) -> Value {
    if conns.is_all() {
        return json!("All connections");
    }
    let groups: Vec<Value> = groups(conns)
        .into_iter()
        .map(|(names, ranges)| {
            if names == ["ICMP"] && !conns.icmp_some.is_empty() {
                return json!({"protocols": names, "icmp": conns.icmp_some});
            }
            json!({
                "protocols": names,
                "dst_ports": ranges.map(|r| r.iter().map(|&(lo, hi)| json!([lo, hi])).collect::<Vec<_>>()),
            })
        })
        .collect();
    json!(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nca_shapes() {
        let mut c = Conns::default();
        c.ports[0] = vec![(80, 80), (443, 443)];
        c.ports[1] = vec![(80, 80), (443, 443)];
        c.ports[2] = vec![(1, 65535)];
        c.icmp = true;
        assert_eq!(
            nca_connections(&c),
            vec![
                "{protocols:TCP, UDP,dst_ports:80,443}".to_string(),
                "{protocols:ICMP, SCTP}".to_string()
            ]
        );
        c.ports = [vec![(1, 65535)], vec![(1, 65535)], vec![(1, 65535)]];
        assert_eq!(nca_connections(&c), vec!["All connections".to_string()]);
        c.icmp = false;
        assert_eq!(
            nca_connections(&c),
            vec!["{protocols:TCP, UDP, SCTP}".to_string()]
        );
    }
}
