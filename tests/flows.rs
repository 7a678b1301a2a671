//! `nplc explain --flows` on recorded Hubble captures (tests/flows/*.json,
//! in the JSON form of Cilium's flow.Flow protobuf, wrapped as
//! `hubble observe -o json` prints it or bare): the outputs are snapshots,
//! and every fix is checked — the suggested label or rule, applied to the
//! program or the flow, lets the flow through the reference evaluator.

use std::path::{Path, PathBuf};
use std::process::Command;

use nplc_compiler::eval::{evaluate, Endpoint};
use nplc_compiler::flows::{self, Fix, Seen};
use nplc_compiler::{ir, Database, Program};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn nplc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nplc"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("nplc runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn homelab_drops() {
    let (code, out, err) = nplc(&[
        "explain",
        "examples/homelab",
        "--flows",
        "tests/flows/homelab-drops.json",
    ]);
    assert_eq!(code, 0, "{err}");
    // The seed's table: a missing access label, a profile without HTTPS
    // egress, a profile without gateway ingress.
    assert!(
        out.contains("access.network-policy.homelab/postgres=true"),
        "{out}"
    );
    assert!(
        out.contains("access.network-policy.homelab/dragonfly=true"),
        "{out}"
    );
    assert!(
        out.contains("network-policy.homelab/profile=internal-egress"),
        "{out}"
    );
    assert!(
        out.contains("network-policy.homelab/profile=internal"),
        "{out}"
    );
    assert!(
        out.contains("[1] 5 flows"),
        "five drops of one cause print once: {out}"
    );
    insta::assert_snapshot!("homelab_drops", out);
    let (_, json, _) = nplc(&[
        "explain",
        "examples/homelab",
        "--flows",
        "tests/flows/homelab-drops.json",
        "--format",
        "json",
    ]);
    insta::assert_snapshot!("homelab_drops_json", json);
}

#[test]
fn forwarded_flows_the_program_denies() {
    let (code, out, err) = nplc(&[
        "explain",
        "examples/homelab",
        "--flows",
        "tests/flows/homelab-forwarded.json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Forwarded flows the program denies"), "{out}");
    insta::assert_snapshot!("homelab_forwarded", out);
}

#[test]
fn three_tier_drops() {
    let (code, out, err) = nplc(&[
        "explain",
        "examples/three-tier",
        "--flows",
        "tests/flows/three-tier.json",
    ]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("three_tier", out);
}

#[test]
fn malformed_captures_are_misuse() {
    let dir = std::env::temp_dir().join(format!("nplc-flows-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"flow\": {\"verdict\": \"DROPPED\"}}\nnot json\n").expect("write");
    let (code, _, err) = nplc(&[
        "explain",
        "examples/three-tier",
        "--flows",
        bad.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 2: not JSON"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The example's files, plus `extra` appended to its main file.
fn program(example: &str, extra: &str) -> (Database, Program) {
    let dir = root().join("examples").join(example);
    let mut db = Database::default();
    let mut roots = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("example dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "npl"))
        .collect();
    files.sort();
    for path in files {
        let mut text = std::fs::read_to_string(&path).expect("read");
        if path.file_name().is_some_and(|n| n == "main.npl") {
            text.push_str(extra);
        }
        roots.push(db.set_file(&path.to_string_lossy(), text));
    }
    let program = Program::new(&db, roots);
    (db, program)
}

/// Every fix of every drop, applied, lets the flow through.
fn fixes_work(example: &str, capture: &str) {
    let (db, prog) = program(example, "");
    let ir = ir::lower(&db, prog)
        .clone()
        .expect("the example has no errors");
    let text = std::fs::read_to_string(root().join("tests/flows").join(capture)).expect("capture");
    let read = flows::read(&text).expect("capture reads");
    let report = flows::analyse(&ir, &read.flows, |_| String::new());
    assert!(!report.drops.is_empty());
    for finding in &report.drops {
        assert_eq!(finding.seen, Seen::Dropped);
        let conn = &finding.example.connection;
        for fix in &finding.fixes {
            let passes = match fix {
                Fix::Label {
                    on_namespace,
                    source_side,
                    key,
                    value,
                    ..
                } => {
                    let mut trial = conn.clone();
                    let end = if *source_side {
                        &mut trial.source
                    } else {
                        &mut trial.destination
                    };
                    if let Endpoint::Pod(pod) = end {
                        if *on_namespace {
                            pod.namespace_labels.insert(key.clone(), value.clone());
                        } else {
                            pod.labels.insert(key.clone(), value.clone());
                        }
                    }
                    evaluate(&ir, &trial).allowed
                }
                Fix::Rule {
                    text, new_zones, ..
                } => {
                    // A tier declared last still decides before `default`.
                    let extra = format!(
                        "\n{}\ntier flows-fix {{\n  {text}\n}}\n",
                        new_zones.join("\n")
                    );
                    let (db, prog) = program(example, &extra);
                    let fixed = ir::lower(&db, prog)
                        .clone()
                        .unwrap_or_else(|| panic!("the fix has errors:\n{extra}"));
                    evaluate(&fixed, conn).allowed
                }
            };
            assert!(
                passes,
                "fix {fix:?} does not let {:?} through",
                finding.example
            );
        }
    }
}

#[test]
fn fixes_let_the_flows_through() {
    fixes_work("homelab", "homelab-drops.json");
    fixes_work("three-tier", "three-tier.json");
}
