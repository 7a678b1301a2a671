//! `nplc matrix --format dot|mermaid`: zones as nodes, the ports allowed
//! between them on edges, zones clustered by the first tier that names them.
//! The edges are the txt matrix's lines, grouped: checked against it.

use std::path::Path;
use std::process::Command;

fn matrix(format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nplc"))
        .args([
            "matrix",
            "tests/commands/shop.npl",
            "--namespaces",
            "tests/commands/namespaces.yaml",
            "--pods",
            "tests/commands/pods.yaml",
            "--format",
            format,
        ])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .expect("nplc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dot() {
    let text = matrix("dot");
    assert!(text.starts_with("digraph nplc {") && text.ends_with("}\n"));
    assert!(text.contains("subgraph cluster_0 {\n    label=\"tier default\";"));
    assert!(text
        .contains("\"frontend\" -> \"backend\" [label=\"{protocols:TCP,dst_ports:8080,9000}\"];"));
    insta::assert_snapshot!("matrix_dot", text);
}

#[test]
fn mermaid() {
    let text = matrix("mermaid");
    assert!(text.starts_with("flowchart LR\n"));
    assert!(text.contains("subgraph tier0[\"tier default\"]"));
    insta::assert_snapshot!("matrix_mermaid", text);
}

/// Every pod-to-pod line of the txt matrix is on an edge of the graph (in
/// this inventory each pair of zones holds one pair of pods).
#[test]
fn edges_cover_the_matrix() {
    let txt = matrix("txt");
    let dot = matrix("dot");
    for line in txt.lines().filter(|l| l.matches("[Pod]").count() == 2) {
        let (_, conns) = line.split_once(" : ").expect("a matrix line");
        assert!(
            dot.contains(conns) || conns == "All connections",
            "{line} not drawn:\n{dot}"
        );
    }
}
