//! `nplc matrix`: the connectivity of a concrete inventory
//! (`answers::connectivity`), printed in the shape of `nca --connectivity
//! --output_format txt_no_fw_rules`, so the two can be compared as sets, or
//! as JSON, dot or mermaid.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use nplc_compiler::answers::connectivity::{graph_rows, rows};
use nplc_compiler::inventory::{self, Inventory, Source};
use nplc_compiler::ir;
use serde_json::{json, Value};

use crate::nca::{json_connections, nca_connections};
use crate::program;
use crate::report::{print_stdout, Color, Outcome, OutputArgs};

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
