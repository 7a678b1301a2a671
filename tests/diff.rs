//! `nplc diff` is exact: on generated pairs of programs and inventories,
//! a connection is in the diff's opened (closed) regions exactly when the
//! reference evaluator allows it in the new (old) version and denies it in
//! the other — the brute-force comparison of two `nplc matrix` runs, asked
//! connection by connection. A program compared with itself changes
//! nothing. End to end, `nplc diff` on two files prints, exits 1 when it
//! opens something, and agrees with `nplc matrix` run on both.
//!
//! And the same against `nplc matrix` itself: on generated pairs and
//! inventories, both versions' matrices are computed by the binary, and for
//! every pair of pods and every port where a matrix can change, the diff
//! opens (closes) the connection exactly when the new (old) matrix has it
//! and the other does not.
//!
//! Cases default to 300 per property (30 for the one that runs the binary);
//! `PROPTEST_CASES` overrides.

#[path = "support/cli.rs"]
mod cli;
mod nca;
mod support;

use cli::nplc_in as nplc;

use std::path::Path;

use nplc_compiler::diff::diff;
use nplc_compiler::eval::{evaluate, Connection, Request};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use support::inventory::{connection_strategy_for, inventory_strategy};
use support::program::program_strategy;
use support::{compile, GenConfig, GenProgram};

const CONNECTIONS: usize = 64;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn lower(program: &GenProgram) -> Result<nplc_compiler::ir::Ir, TestCaseError> {
    let text = program.render();
    let compiled = compile(&text);
    compiled.ir().ok_or_else(|| {
        TestCaseError::fail(format!(
            "generated program has errors:\n{}\n{text}",
            compiled.rendered()
        ))
    })
}

fn run(cfg: GenConfig) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (programs, too_large, changed) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let strategy = (program_strategy(cfg), program_strategy(cfg)).prop_flat_map(|(old, new)| {
        let mut transports = old.mentioned_transports();
        transports.extend(new.mentioned_transports());
        let conns = prop::collection::vec(connection_strategy_for(transports), CONNECTIONS);
        (Just(old), Just(new), inventory_strategy(), conns)
    });
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |(old, new, inventory, specs)| {
        let (old_ir, new_ir) = (lower(&old)?, lower(&new)?);
        programs.fetch_add(1, Ordering::Relaxed);
        let Ok(changes) = diff(&old_ir, &new_ir) else {
            too_large.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let Ok(same) = diff(&new_ir, &new_ir) else {
            return Ok(());
        };
        prop_assert!(
            same.opened.is_empty() && same.closed.is_empty(),
            "a program compared with itself changes something:\n{}",
            new.render()
        );
        for spec in &specs {
            // At L4 (as `nplc matrix`), and for a request no L7 filter of the
            // generator matches (no rule names PATCH or the path `/zz`).
            let conn = Connection {
                request: None,
                ..inventory.connection(spec)
            };
            let unmatched = Connection {
                request: Some(Request::Http {
                    method: "PATCH".to_string(),
                    path: "/zz".to_string(),
                }),
                ..conn.clone()
            };
            let verdicts = |c: &Connection| {
                (
                    evaluate(&old_ir, c).allowed,
                    evaluate(&new_ir, c).allowed,
                )
            };
            let (before, after) = verdicts(&conn);
            let (before_u, after_u) = verdicts(&unmatched);
            let (opens, closes) = (changes.opens(&conn), changes.closes(&conn));
            if opens || closes {
                changed.fetch_add(1, Ordering::Relaxed);
            }
            let should_open = (after && !before) || (after_u && !before_u);
            let should_close = (before && !after) || (before_u && !after_u);
            prop_assert!(
                opens == should_open && closes == should_close,
                "diff says opens {opens} closes {closes}; evaluator says before {before} after {after} (L4), before {before_u} after {after_u} (a request no filter matches)\n{}\n--- old ---\n{}\n--- new ---\n{}",
                support::describe_connection(&conn),
                old.render(),
                new.render()
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let n = |c: &AtomicUsize| c.load(Ordering::Relaxed);
    eprintln!(
        "{} pairs, {} too large to compare, {} changed connections",
        n(&programs),
        n(&too_large),
        n(&changed)
    );
    assert!(
        n(&too_large) * 20 <= n(&programs),
        "too many pairs too large"
    );
    assert!(n(&changed) > 0, "no generated pair changes a connection");
}

#[test]
fn diff_agrees_with_evaluator() {
    run(GenConfig::default());
}

#[test]
fn diff_agrees_with_evaluator_on_exact_constructs() {
    run(GenConfig::exact());
}

#[test]
fn diff_agrees_with_evaluator_on_l7_filters() {
    run(GenConfig::l7_focus());
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Lines of `nplc matrix` for a version.
fn matrix(dir: &Path, file: &str) -> Vec<String> {
    let (code, out, err) = nplc(
        &[
            "matrix",
            file,
            "--namespaces",
            "ns.yaml",
            "--pods",
            "pods.yaml",
        ],
        dir,
    );
    assert_eq!(code, 0, "{err}");
    out.lines().map(str::to_string).collect()
}

#[test]
fn end_to_end_against_matrix() {
    let dir = root().join("tests/diff");
    let old = matrix(&dir, "old.npl");
    let new = matrix(&dir, "new.npl");
    assert_ne!(old, new, "the two versions differ on the inventory");
    let (code, out, err) = nplc(&["diff", "old.npl", "new.npl", "--color", "never"], &dir);
    assert_eq!(code, 1, "opening something exits 1\n{out}\n{err}");
    insta::assert_snapshot!("diff_human", out);
    let (_, json, _) = nplc(&["diff", "old.npl", "new.npl", "--format", "json"], &dir);
    insta::assert_snapshot!("diff_json", json);
    let (_, markdown, _) = nplc(
        &["diff", "old.npl", "new.npl", "--format", "markdown"],
        &dir,
    );
    insta::assert_snapshot!("diff_markdown", markdown);
    // Every matrix line that appears is opened, every one that goes is closed.
    let value: serde_json::Value = serde_json::from_str(&json).expect("diff JSON");
    let count = |key: &str| value[key].as_array().map_or(0, Vec::len);
    let gained = new.iter().filter(|l| !old.contains(l)).count();
    let lost = old.iter().filter(|l| !new.contains(l)).count();
    assert_eq!(gained > 0, count("opened") > 0, "{out}");
    assert_eq!(lost > 0, count("closed") > 0, "{out}");
    // Reversed, opened and closed swap and nothing opens when only closing.
    let (code, _, _) = nplc(&["diff", "new.npl", "new.npl"], &dir);
    assert_eq!(code, 0, "an unchanged program exits 0");
}

/// `nplc diff REV..REV PATH` reads both versions from git, imports included.
#[test]
fn revisions_from_git() {
    let dir = std::env::temp_dir().join(format!("nplc-diff-git-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("policy")).expect("temp dir");
    let git = |args: &[&str]| cli::git(&dir, args);
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
    git(&["init", "-q", "-b", "main"]);
    write(
        "policy/zones.npl",
        "zone web { namespace \"web\" }\nzone api { namespace \"api\" }\n",
    );
    write(
        "policy/main.npl",
        "import \"./zones.npl\"\nallow web -> api : 8080\n",
    );
    git(&["add", "."]);
    git(&["commit", "-qm", "one"]);
    // The change is in the imported file: api is no longer isolated for
    // ingress, so everyone may reach it.
    write(
        "policy/zones.npl",
        "zone web { namespace \"web\" }\nzone api { namespace \"api\"; isolate egress }\n",
    );
    git(&["commit", "-qam", "two"]);
    let (code, out, err) = nplc(
        &["diff", "main~1..main", "policy/", "--color", "never"],
        &dir,
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("main~1 → main: opens"), "{out}");
    assert!(out.contains("-> `api` : all ports"), "{out}");
    // An empty right side is the working tree, here the same as main.
    let (code, out, _) = nplc(&["diff", "main..", "policy/"], &dir);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("opens 0 connection groups, closes 0"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether a matrix entry holds a connection.
fn holds(conns: Option<&nca::Conns>, transport: nplc_compiler::eval::Transport) -> bool {
    use nplc_compiler::algebra::ports::Protocol;
    use nplc_compiler::eval::Transport;
    let Some(c) = conns else { return false };
    match transport {
        Transport::Icmp(m) => c.icmp.contains(m),
        Transport::Port(protocol, port) => {
            let i = match protocol {
                Protocol::Tcp => 0,
                Protocol::Udp => 1,
                Protocol::Sctp => 2,
            };
            c.ports[i]
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&u32::from(port)))
        }
    }
}

/// Ports where either matrix can change, for one pair.
fn probes(
    old: Option<&nca::Conns>,
    new: Option<&nca::Conns>,
) -> Vec<nplc_compiler::eval::Transport> {
    use nplc_compiler::algebra::ports::Protocol;
    use nplc_compiler::eval::Transport;
    let mut out: Vec<Transport> = nca::IcmpProbes::messages().map(Transport::Icmp).collect();
    for (i, protocol) in Protocol::ALL.into_iter().enumerate() {
        let mut ports: Vec<u32> = support::inventory::interesting_ports()
            .into_iter()
            .map(u32::from)
            .collect();
        for c in [old, new].into_iter().flatten() {
            for &(lo, hi) in &c.ports[i] {
                ports.extend([lo.saturating_sub(1), lo, hi, hi + 1]);
            }
        }
        ports.sort_unstable();
        ports.dedup();
        out.extend(
            ports
                .into_iter()
                .filter_map(|p| u16::try_from(p).ok().filter(|&p| p > 0))
                .map(|p| Transport::Port(protocol, p)),
        );
    }
    out
}

#[test]
fn diff_agrees_with_nplc_matrix() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(30, |n| n.div_ceil(10));
    let cfg = GenConfig::exact();
    let strategy = (
        program_strategy(cfg),
        program_strategy(cfg),
        inventory_strategy(),
    );
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let dir = nca::temp_dir("diff-matrix");
    let bin = Path::new(env!("CARGO_BIN_EXE_nplc"));
    let changed = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&strategy, |(old, new, inventory)| {
        let (old_ir, new_ir) = (lower(&old)?, lower(&new)?);
        let Ok(changes) = diff(&old_ir, &new_ir) else {
            return Ok(());
        };
        let (old_file, new_file) = (dir.join("old.npl"), dir.join("new.npl"));
        std::fs::write(&old_file, old.render()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        std::fs::write(&new_file, new.render()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (ns, pods) = nca::inventory_files(&inventory, &dir);
        let before = nca::matrix_connectivity(bin, &[old_file], &ns, &pods).map_err(TestCaseError::fail)?;
        let after = nca::matrix_connectivity(bin, &[new_file], &ns, &pods).map_err(TestCaseError::fail)?;
        let name = |i: usize| {
            let p = &inventory.pods[i];
            format!(
                "{}/{}-{i}",
                inventory.namespaces[p.namespace].name,
                p.labels.get("app").map_or("pod", String::as_str)
            )
        };
        for s in 0..inventory.pods.len() {
            for d in (0..inventory.pods.len()).filter(|&d| d != s) {
                let key = (name(s), name(d));
                let (was, now) = (before.pods.get(&key), after.pods.get(&key));
                for transport in probes(was, now) {
                    let conn = Connection {
                        source: nplc_compiler::eval::Endpoint::Pod(inventory.pod(s)),
                        destination: nplc_compiler::eval::Endpoint::Pod(inventory.pod(d)),
                        transport,
                        request: None,
                    };
                    let (b, a) = (holds(was, transport), holds(now, transport));
                    if a != b {
                        changed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    prop_assert!(
                        changes.opens(&conn) == (a && !b) && changes.closes(&conn) == (b && !a),
                        "{} -> {} {transport:?}: matrix before {b} after {a}, diff opens {} closes {}\n--- old ---\n{}\n--- new ---\n{}",
                        key.0,
                        key.1,
                        changes.opens(&conn),
                        changes.closes(&conn),
                        old.render(),
                        new.render()
                    );
                }
            }
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        panic!("{e}");
    }
    let changed = changed.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{changed} (pair, port) facts differ between the matrices");
    assert!(changed > 0, "no generated pair changes the matrix");
}

/// Removing a deny that an HTTP allow of an earlier tier overrides only for
/// its requests opens the others: `nplc diff` lists it and exits 1.
#[test]
fn a_deny_removed_behind_an_http_allow_opens_the_requests_it_decided() {
    let dir = std::env::temp_dir().join(format!("nplc-diff-l7-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let head = "zone a { namespace \"a\"; isolate none }\n\
                zone b { namespace \"b\"; isolate none }\n\
                tier t {\n  allow a -> b : 80 http { GET \"/health\" }\n}\n";
    std::fs::write(dir.join("old.npl"), format!("{head}deny a -> b : 80\n")).expect("write");
    std::fs::write(dir.join("new.npl"), head).expect("write");
    let (code, out, err) = nplc(&["diff", "old.npl", "new.npl"], &dir);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("tcp 80"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
