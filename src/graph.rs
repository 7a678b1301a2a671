//! `nplc matrix --format dot|mermaid`: who may talk to whom, drawn. Each
//! pod of the inventory stands for its most specific zone (pods in no zone
//! for their namespace, `ns/*`), the addresses outside the cluster for one
//! node `world`; an edge carries the ports allowed between two nodes (the
//! union over their pods); zones are grouped in clusters by the first tier
//! whose rules name them (`default` for rules outside any tier).

use std::collections::BTreeMap;

use nplc_compiler::flows::most_specific_zone;
use nplc_compiler::ir::Ir;
use nplc_compiler::names::{PeerRef, Resolved};

use nplc_compiler::answers::connectivity::{Conns, End};

use crate::nca::words;

pub struct Graph {
    /// Cluster name → its nodes, clusters in tier order.
    clusters: Vec<(String, Vec<String>)>,
    /// (from, to) → ports, sorted.
    edges: BTreeMap<(String, String), Conns>,
}

pub fn build(ir: &Ir, resolved: &Resolved, rows: &[(End, End, Conns)]) -> Graph {
    let node = |end: &End, source: bool| -> String {
        match end {
            End::World => "world".to_string(),
            End::Pod(p) => match most_specific_zone(ir, &p.pod, source) {
                Some(z) => z.name.clone(),
                None => format!("{}/*", p.pod.namespace),
            },
        }
    };
    let mut edges: BTreeMap<(String, String), Conns> = BTreeMap::new();
    for (src, dst, conns) in rows {
        let key = (node(src, true), node(dst, false));
        let merged = match edges.get(&key) {
            Some(c) => c.union(conns),
            None => conns.clone(),
        };
        edges.insert(key, merged);
    }
    // Tiers in order, `default` last; each zone in the first that names it.
    let mut tier_names: Vec<String> = resolved
        .tiers
        .iter()
        .map(|t| resolved.def(*t).name.clone())
        .collect();
    tier_names.push("default".to_string());
    let mut first_tier: BTreeMap<String, usize> = BTreeMap::new();
    for rule in &resolved.rules {
        let tier = rule
            .tier
            .and_then(|t| resolved.tiers.iter().position(|x| *x == t))
            .unwrap_or(tier_names.len() - 1);
        for side in [&rule.source, &rule.destination] {
            for leaf in side.leaves() {
                if let PeerRef::Def { def, .. } = leaf {
                    let name = resolved.def(*def).name.clone();
                    let entry = first_tier.entry(name).or_insert(tier);
                    *entry = (*entry).min(tier);
                }
            }
        }
    }
    let mut nodes: Vec<String> = edges
        .keys()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    nodes.sort();
    nodes.dedup();
    let mut clusters: Vec<(String, Vec<String>)> =
        tier_names.iter().map(|t| (t.clone(), Vec::new())).collect();
    let mut loose = Vec::new();
    for n in nodes {
        match first_tier.get(&n) {
            Some(&t) if ir.zone_named(&n).is_some() => clusters[t].1.push(n),
            _ => loose.push(n),
        }
    }
    clusters.retain(|(_, members)| !members.is_empty());
    clusters.push((String::new(), loose));
    Graph { clusters, edges }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn dot(graph: &Graph) -> String {
    let mut out =
        String::from("digraph nplc {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
    for (i, (tier, members)) in graph.clusters.iter().enumerate() {
        if tier.is_empty() {
            for m in members {
                out.push_str(&format!("  {};\n", quoted(m)));
            }
            continue;
        }
        out.push_str(&format!(
            "  subgraph cluster_{i} {{\n    label={};\n",
            quoted(&format!("tier {tier}"))
        ));
        for m in members {
            out.push_str(&format!("    {};\n", quoted(m)));
        }
        out.push_str("  }\n");
    }
    for ((from, to), conns) in &graph.edges {
        out.push_str(&format!(
            "  {} -> {} [label={}];\n",
            quoted(from),
            quoted(to),
            quoted(&words(conns))
        ));
    }
    out.push_str("}\n");
    out
}

pub fn mermaid(graph: &Graph) -> String {
    let mut ids: BTreeMap<&str, String> = BTreeMap::new();
    for (_, members) in &graph.clusters {
        for m in members {
            let id = format!("n{}", ids.len());
            ids.insert(m, id);
        }
    }
    let label = |s: &str| s.replace('"', "#quot;");
    let mut out = String::from("flowchart LR\n");
    for (i, (tier, members)) in graph.clusters.iter().enumerate() {
        let indent = if tier.is_empty() { "  " } else { "    " };
        if !tier.is_empty() {
            out.push_str(&format!("  subgraph tier{i}[\"tier {}\"]\n", label(tier)));
        }
        for m in members {
            out.push_str(&format!("{indent}{}[\"{}\"]\n", ids[m.as_str()], label(m)));
        }
        if !tier.is_empty() {
            out.push_str("  end\n");
        }
    }
    for ((from, to), conns) in &graph.edges {
        let (Some(a), Some(b)) = (ids.get(from.as_str()), ids.get(to.as_str())) else {
            continue;
        };
        out.push_str(&format!("  {a} -->|\"{}\"| {b}\n", label(&words(conns))));
    }
    out
}
