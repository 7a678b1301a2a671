//! Connections in the words of network-config-analyzer (`nca
//! --connectivity --output_format txt_no_fw_rules`), so that `nplc matrix`
//! and nca can be compared as sets: the matrix lines, their JSON form and
//! the graphs' edge labels.

use std::collections::BTreeMap;

use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::answers::connectivity::Conns;
use nplc_compiler::answers::describe;
use serde_json::{json, Value};

/// nca's words for the connections, on one line (the graphs' edge labels).
pub fn words(conns: &Conns) -> String {
    nca_connections(conns).join(" ")
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
pub fn nca_connections(conns: &Conns) -> Vec<String> {
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
    describe::port_ranges(ranges).join(",")
}

pub fn json_connections(conns: &Conns) -> Value {
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
