//! `--target kubernetes`, proved exact:
//! - every example under `examples/` builds with its inventory's namespaces
//!   (`tests/nca/inventories/<example>/`), or fails with exactly the E04xx
//!   codes listed in [`EXAMPLES_THAT_FAIL`];
//! - every NetworkPolicy emitted for the examples, the hand-written cases
//!   (`tests/nca/cases/*.npl`) and generated programs validates with
//!   `kubernetes-validate --strict` (from `.venv`, see `scripts/test`);
//! - network-config-analyzer's connectivity of the emitted YAML equals `nplc
//!   matrix` (the reference evaluator) on the same inventory: every pair of
//!   pods, every protocol and port, and every pod to and from every IPv4 and
//!   IPv6 address outside the cluster;
//! - output is deterministic, names are stable, and `-o DIR` owns its
//!   directory (manifest, stale files, foreign files, `--check`, errors,
//!   several targets);
//! - the YAML of the cases is snapshotted (the examples' is their golden
//!   output, tests/golden.rs).
//!
//! A missing tool fails loudly ("run scripts/test"): nothing here skips.

mod nca;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Instant;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;

use nca::{compare, root};
use support::inventory::inventory_strategy;
use support::program::program_strategy;

const NPLC: &str = env!("CARGO_BIN_EXE_nplc");

/// Examples that cannot be built for `kubernetes` even with their
/// inventories (namespaces, API server, ranges), and exactly the error
/// codes they fail with.
const EXAMPLES_THAT_FAIL: &[(&str, &[&str])] = &[
    // ICMP for the blackbox exporter.
    ("calico-tiers", &["E0404"]),
    // HTTP filters.
    ("cks-zero-trust", &["E0403"]),
    // toFQDNs without `via`; a `dns { }` filter.
    ("fqdn-egress-gateway", &["E0402", "E0403"]),
    // `allow backend -> stripe : 443` matches a host name.
    ("three-tier", &["E0402"]),
];

/// Kubernetes versions the documents are validated against: the one
/// k8s-openapi is built for (`v1_33`) and kubernetes-validate's newest.
const K8S_VERSIONS: &[&str] = &["1.33.0", "1.37.0"];

// ------------------------------------------------------------------ running nplc

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], cwd: Option<&Path>) -> Run {
    let mut cmd = Command::new(NPLC);
    cmd.args(args).env("NO_COLOR", "1");
    cmd.current_dir(cwd.unwrap_or(root()));
    let output: Output = cmd.output().expect("running nplc");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A path as nplc is given it: relative to the repository (nplc runs
/// there), so that the source annotations in snapshots do not depend on
/// where the repository is checked out.
fn path_str(p: &Path) -> &str {
    p.strip_prefix(root())
        .unwrap_or(p)
        .to_str()
        .expect("a UTF-8 path")
}

/// What `nplc build --target kubernetes` made of a program.
enum Built {
    Yaml(String),
    /// Exit 1 with these error codes (from `--format json`).
    Rejected(BTreeSet<String>, String),
}

fn build_kubernetes(program: &Path, namespaces: Option<&Path>) -> Built {
    build_kubernetes_in(program, namespaces, &Cluster::default())
}

/// The address inventories of a build beyond its namespaces: the API
/// server's endpoints and the cluster's ranges, read from a directory's
/// `apiserver.yaml` and `ranges.txt` (`cluster-cidr 10.244.0.0/16` lines),
/// as tests/golden.rs reads an example's `inventory/`.
#[derive(Default, Clone)]
struct Cluster {
    apiserver: Option<PathBuf>,
    /// (`cluster-cidr` or `service-cidr`, CIDR).
    ranges: Vec<(String, String)>,
    /// What the program's nplc.toml says, which nplc reads itself: compared,
    /// not passed.
    configured: nplc_compiler::config::Config,
}

impl Cluster {
    fn from_dir(dir: &Path) -> Cluster {
        let apiserver = Some(dir.join("apiserver.yaml")).filter(|f| f.is_file());
        let text = std::fs::read_to_string(dir.join("ranges.txt")).unwrap_or_default();
        let ranges = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (key, cidr) = l.split_once(' ').expect("`KEY CIDR` in ranges.txt");
                (key.to_string(), cidr.trim().to_string())
            })
            .collect();
        Cluster {
            apiserver,
            ranges,
            configured: Default::default(),
        }
    }

    /// An example's: its `inventory/` and its nplc.toml.
    fn of_example(example: &Path) -> Cluster {
        let mut cluster = Cluster::from_dir(&example.join("inventory"));
        cluster.configured = nplc_compiler::config::Config::discover(example)
            .unwrap_or_else(|e| panic!("{}: {e}", example.display()));
        cluster
    }

    /// Every range the build knows, as CIDR text.
    fn all_ranges(&self) -> Vec<String> {
        let configured = &self.configured.cluster;
        self.ranges
            .iter()
            .map(|(_, cidr)| cidr.clone())
            .chain(configured.pods.iter().map(|n| n.to_string()))
            .chain(configured.services.iter().map(|n| n.to_string()))
            .collect()
    }

    /// The API server's endpoints file the build reads.
    fn apiserver_file(&self) -> Option<&Path> {
        self.apiserver
            .as_deref()
            .or(self.configured.apiserver_endpoints.as_deref())
    }

    fn flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(file) = &self.apiserver {
            out.extend([
                "--apiserver-endpoints".to_string(),
                path_str(file).to_string(),
            ]);
        }
        for (key, cidr) in &self.ranges {
            out.extend([format!("--{key}"), cidr.clone()]);
        }
        out
    }

    fn is_empty(&self) -> bool {
        self.apiserver_file().is_none() && self.all_ranges().is_empty()
    }
}

fn build_kubernetes_in(program: &Path, namespaces: Option<&Path>, cluster: &Cluster) -> Built {
    let mut args: Vec<&str> = vec!["build", "--target", "kubernetes", "--color", "never"];
    if let Some(ns) = namespaces {
        args.extend(["--namespaces", path_str(ns)]);
    }
    let flags = cluster.flags();
    args.extend(flags.iter().map(String::as_str));
    args.push(path_str(program));
    let out = run(&args, None);
    match out.code {
        0 => Built::Yaml(out.stdout),
        1 => {
            // The codes, from the same run with `--format json`.
            let json_args = [&args[..3], &["--format", "json"], &args[5..]].concat();
            let json = run(&json_args, None);
            assert_eq!(
                json.code, 1,
                "nplc build --format json disagrees with the human run"
            );
            // Standard output belongs to the YAML: diagnostics go to stderr.
            assert_eq!(json.stdout, "", "nplc build printed diagnostics on stdout");
            let diags: Value = serde_json::from_str(&json.stderr).unwrap_or_else(|e| {
                panic!(
                    "nplc build --format json printed no JSON ({e}):\n{}\n{}",
                    json.stdout, json.stderr
                )
            });
            let codes = diags
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["severity"] == "error")
                .filter_map(|d| d["code"].as_str().map(str::to_string))
                .collect();
            Built::Rejected(codes, out.stderr)
        }
        other => panic!(
            "nplc build exited {other} for {}:\n{}\n{}",
            program.display(),
            out.stdout,
            out.stderr
        ),
    }
}

/// Codes documented with a `## Exxxx:` heading in docs/errors.md.
fn documented_codes() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("docs/errors.md")).expect("docs/errors.md");
    text.lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter_map(|l| l.split(':').next())
        .map(str::to_string)
        .collect()
}

/// A rejection that is a documented target limitation: only E04xx codes,
/// each with its page in docs/errors.md.
fn assert_target_rejection(codes: &BTreeSet<String>, what: &str, rendered: &str) {
    let documented = documented_codes();
    assert!(
        !codes.is_empty() && codes.iter().all(|c| c.starts_with("E04") && documented.contains(c)),
        "{what}: rejected with codes {codes:?}, expected only documented E04xx target errors:\n{rendered}"
    );
}

// ------------------------------------------------------------------ documents

/// The documents of a YAML stream.
fn documents(stream: &str) -> Vec<serde_yaml::Value> {
    support::yaml_documents(stream)
        .iter()
        .map(|d| {
            serde_yaml::from_str::<serde_yaml::Value>(d).unwrap_or_else(|e| panic!("{e}:\n{d}"))
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// What kubernetes-validate does not check: kind, names, the managed-by
/// label and the source annotation.
fn check_documents(stream: &str, what: &str) {
    let mut seen = BTreeSet::new();
    for doc in documents(stream) {
        let text = || serde_yaml::to_string(&doc).unwrap_or_default();
        assert_eq!(
            doc["apiVersion"].as_str(),
            Some("networking.k8s.io/v1"),
            "{what}:\n{}",
            text()
        );
        assert_eq!(
            doc["kind"].as_str(),
            Some("NetworkPolicy"),
            "{what}:\n{}",
            text()
        );
        let meta = &doc["metadata"];
        let name = meta["name"].as_str().unwrap_or_default();
        let namespace = meta["namespace"].as_str().unwrap_or_default();
        assert!(
            is_dns_label(name),
            "{what}: name `{name}` is not a DNS-1123 label"
        );
        assert!(
            is_dns_label(namespace),
            "{what}: namespace `{namespace}` of {name}"
        );
        assert!(
            seen.insert((namespace.to_string(), name.to_string())),
            "{what}: two policies named {namespace}/{name}"
        );
        assert_eq!(
            meta["labels"]["app.kubernetes.io/managed-by"].as_str(),
            Some("nplc"),
            "{what}: {name} lacks the managed-by label"
        );
        assert!(
            meta["annotations"]["nplc.dev/source"]
                .as_str()
                .is_some_and(|s| s.contains(':')),
            "{what}: {name} lacks the source annotation"
        );
        let types = doc["spec"]["policyTypes"].as_sequence().map(Vec::len);
        assert_eq!(types, Some(1), "{what}: {name} should have one policy type");
    }
}

// ------------------------------------------------------------------ one scenario

/// A program with an inventory, compared end to end.
struct Scenario<'a> {
    /// For messages: the case, example or generated program.
    what: String,
    /// The program's files (the first is shown in failures).
    paths: Vec<PathBuf>,
    namespaces: &'a Path,
    pods: &'a Path,
    /// The API server's endpoints and the cluster's ranges the build had.
    cluster: Cluster,
}

/// Statistics of a comparison.
#[derive(Default, Debug)]
struct Compared {
    policies: usize,
    pod_pairs: usize,
    allowed_pod_pairs: usize,
    address_lines: usize,
}

/// Writes the stream into `dir` (one file for nca and the validator),
/// compares nca with the matrix, and returns the policy file.
fn compare_scenario(
    s: &Scenario<'_>,
    yaml: &str,
    dir: &Path,
) -> Result<(PathBuf, Compared), String> {
    let policies = dir.join("policies.yaml");
    std::fs::write(&policies, yaml).map_err(|e| e.to_string())?;
    check_documents(yaml, &s.what);
    let nca_view = nca::nca_connectivity(&policies, s.namespaces, s.pods)?;
    let matrix_view = nca::matrix_connectivity(Path::new(NPLC), &s.paths, s.namespaces, s.pods)?;
    let (nca_view, matrix_view) = with_cluster(s, nca_view, matrix_view)?;
    blocks_keep_out_of_the_ranges(s, yaml)?;
    let pods = pod_names(s.pods);
    let differences = compare(&nca_view, &matrix_view);
    if !differences.is_empty() {
        let program: String = s
            .paths
            .iter()
            .map(|p| {
                format!(
                    "--- {}\n{}",
                    p.display(),
                    std::fs::read_to_string(p).unwrap_or_default()
                )
            })
            .collect();
        let shown: Vec<String> = differences
            .iter()
            .take(25)
            .map(|d| d.render("nca (emitted YAML)", "nplc matrix (evaluator)"))
            .collect();
        return Err(format!(
            "{}: network-config-analyzer and the evaluator disagree on {} pair(s):\n{}\n\
             {program}\n--- inventory: {} {}\n--- emitted policies: {}",
            s.what,
            differences.len(),
            shown.join("\n"),
            s.namespaces.display(),
            s.pods.display(),
            policies.display()
        ));
    }
    let stats = Compared {
        policies: documents(yaml).len(),
        pod_pairs: pods.len() * pods.len().saturating_sub(1),
        allowed_pod_pairs: matrix_view.pods.len(),
        address_lines: matrix_view.addresses.values().map(Vec::len).sum(),
    };
    Ok((policies, stats))
}

/// The two views as the cluster's inventories make them comparable
/// ([`nca::with_cluster`]: the ranges are not read, the API server's
/// endpoint addresses are `kube-apiserver`).
fn with_cluster(
    s: &Scenario<'_>,
    nca_view: nca::Connectivity,
    matrix_view: nca::Connectivity,
) -> Result<(nca::Connectivity, nca::Connectivity), String> {
    if s.cluster.is_empty() {
        return Ok((nca_view, matrix_view));
    }
    let cluster = nca::ClusterInventory {
        ranges: s.cluster.all_ranges(),
        apiserver: s
            .cluster
            .apiserver_file()
            .map(nca::load_apiserver)
            .transpose()?,
    };
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let (ns_text, pods_text) = (read(s.namespaces)?, read(s.pods)?);
    use nplc_compiler::inventory::{self, Source};
    let source = |name, text| Source { name, text };
    let inventory = inventory::load(source("namespaces", &ns_text), source("pods", &pods_text))
        .map_err(|e| e.to_string())?;
    let mut db = nplc_compiler::Database::default();
    // A directory is its `.npl` files, as `nplc build DIR` reads it.
    let paths: Vec<PathBuf> = s
        .paths
        .iter()
        .flat_map(|p| {
            if p.is_dir() {
                npl_files(p)
            } else {
                vec![p.clone()]
            }
        })
        .collect();
    let files = paths
        .iter()
        .map(|p| Ok(db.set_file(&p.to_string_lossy(), read(p)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let program = nplc_compiler::Program::new(&db, files);
    let ir = nplc_compiler::ir::lower(&db, program)
        .as_ref()
        .ok_or("the program has errors")?;
    nca::with_cluster(&cluster, ir, &inventory.pods, nca_view, matrix_view)
}

/// Every ipBlock of a build given the cluster's ranges leaves them out:
/// each range is outside the block's `cidr` or inside one of its `except`s.
/// (nca places no pod at an address, so only this says that a CNI whose
/// ipBlocks match pods lets none through.)
fn blocks_keep_out_of_the_ranges(s: &Scenario<'_>, yaml: &str) -> Result<(), String> {
    let ranges: Vec<nca::IpRange> = s
        .cluster
        .all_ranges()
        .iter()
        .filter_map(|cidr| nca::parse_ip_range(cidr))
        .collect();
    if ranges.is_empty() {
        return Ok(());
    }
    let inside =
        |a: &nca::IpRange, b: &nca::IpRange| a.family == b.family && b.lo <= a.lo && a.hi <= b.hi;
    let overlap =
        |a: &nca::IpRange, b: &nca::IpRange| a.family == b.family && a.lo <= b.hi && b.lo <= a.hi;
    for doc in documents(yaml) {
        let rules = ["ingress", "egress"]
            .iter()
            .filter_map(|k| doc["spec"][*k].as_sequence().cloned())
            .flatten();
        for rule in rules {
            let peers = ["from", "to"]
                .iter()
                .filter_map(|k| rule[*k].as_sequence().cloned())
                .flatten();
            for peer in peers {
                let Some(cidr) = peer["ipBlock"]["cidr"].as_str() else {
                    continue;
                };
                let block = nca::parse_ip_range(cidr).ok_or(format!("ipBlock {cidr}"))?;
                let excepts: Vec<nca::IpRange> = peer["ipBlock"]["except"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str().and_then(nca::parse_ip_range))
                    .collect();
                for range in &ranges {
                    if overlap(range, &block) && !excepts.iter().any(|e| inside(range, e)) {
                        return Err(format!(
                            "{}: ipBlock {cidr} (except {excepts:?}) holds addresses of the cluster range {range}",
                            s.what
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// `ns/name` of every pod of a pods file.
fn pod_names(pods: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(pods).expect("a pods file");
    documents(&text)
        .iter()
        .flat_map(|d| d["items"].as_sequence().cloned().unwrap_or_default())
        .map(|p| {
            format!(
                "{}/{}",
                p["metadata"]["namespace"].as_str().unwrap_or("default"),
                p["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

fn inventory_dir(name: &str) -> PathBuf {
    root().join("tests/nca/inventories").join(name)
}

/// The inventory a case names on its `# inventory: NAME` line.
fn case_inventory(text: &str, case: &Path) -> PathBuf {
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("# inventory: "))
        .unwrap_or_else(|| panic!("{}: no `# inventory: NAME` line", case.display()));
    let dir = inventory_dir(name.trim());
    assert!(
        dir.join("namespaces.yaml").is_file(),
        "{}: no inventory {}",
        case.display(),
        dir.display()
    );
    dir
}

fn npl_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "npl"))
        .collect();
    out.sort();
    out
}

fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(true);
    settings.set_snapshot_path(root().join("tests/snapshots"));
    settings
}

// ------------------------------------------------------------------ examples

#[test]
fn examples_build_exactly_or_fail_with_their_documented_codes() {
    let started = Instant::now();
    let dir = nca::temp_dir("examples");
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    examples.sort();
    assert!(!examples.is_empty());
    let mut emitted = Vec::new();
    let mut report = Vec::new();
    for example in &examples {
        let name = example
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a name")
            .to_string();
        let inventory = inventory_dir(&name);
        let namespaces = inventory.join("namespaces.yaml");
        let pods = inventory.join("pods.yaml");
        assert!(
            namespaces.is_file() && pods.is_file(),
            "examples/{name} has no inventory: write tests/nca/inventories/{name}/namespaces.yaml and pods.yaml \
             (`kubectl get ns -o yaml` / `kubectl get pods -A -o yaml` shapes) for the pods it is about"
        );
        let expected = EXAMPLES_THAT_FAIL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c);
        let cluster = Cluster::of_example(example);
        match (build_kubernetes_in(example, Some(&namespaces), &cluster), expected) {
            (Built::Rejected(codes, rendered), Some(expected)) => {
                let expected: BTreeSet<String> = expected.iter().map(|c| c.to_string()).collect();
                assert_eq!(
                    codes, expected,
                    "examples/{name} fails on kubernetes with other codes than EXAMPLES_THAT_FAIL says:\n{rendered}"
                );
                assert_target_rejection(&codes, &format!("examples/{name}"), &rendered);
                report.push(format!("{name}: rejected {codes:?}"));
            }
            (Built::Rejected(codes, rendered), None) => {
                panic!("examples/{name} does not build on kubernetes ({codes:?}):\n{rendered}")
            }
            (Built::Yaml(_), Some(codes)) => panic!(
                "examples/{name} now builds on kubernetes: remove it from EXAMPLES_THAT_FAIL ({codes:?}); \
                 its connectivity is then compared with nca and its YAML snapshotted"
            ),
            (Built::Yaml(yaml), None) => {
                let case_dir = dir.join(&name);
                std::fs::create_dir_all(&case_dir).expect("a directory");
                let scenario = Scenario {
                    what: format!("examples/{name}"),
                    paths: vec![example.clone()],
                    namespaces: &namespaces,
                    pods: &pods,
                    cluster,
                };
                let (file, stats) = compare_scenario(&scenario, &yaml, &case_dir).unwrap_or_else(|e| panic!("{e}"));
                emitted.push(file);
                // The bytes are examples/NAME/expected/kubernetes (tests/golden.rs).
                report.push(format!("{name}: built and compared {stats:?}"));
            }
        }
    }
    for version in K8S_VERSIONS {
        nca::kubernetes_validate(&emitted, version);
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "examples ({:.1?}):\n  {}",
        started.elapsed(),
        report.join("\n  ")
    );
}

// ------------------------------------------------------------------ cases

/// A case's policy file, statistics and YAML, or why it failed.
type CaseResult = Result<(PathBuf, Compared, String), String>;

#[test]
fn hand_written_cases_match_nca_and_validate() {
    let started = Instant::now();
    let cases = npl_files(&root().join("tests/nca/cases"));
    assert!(
        cases.len() >= 8,
        "tests/nca/cases/ should hold the hand-written programs"
    );
    let dir = nca::temp_dir("cases");
    let results: Mutex<Vec<(String, CaseResult)>> = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = {
                    let mut n = next.lock().expect("lock");
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(case) = cases.get(i) else { break };
                let name = case.file_stem().and_then(|s| s.to_str()).expect("a name").to_string();
                let text = std::fs::read_to_string(case).expect("a case");
                let inventory = case_inventory(&text, case);
                let (namespaces, pods) = (inventory.join("namespaces.yaml"), inventory.join("pods.yaml"));
                let cluster = Cluster::from_dir(&inventory);
                let result = match build_kubernetes_in(case, Some(&namespaces), &cluster) {
                    Built::Rejected(codes, rendered) => Err(format!(
                        "tests/nca/cases/{name}.npl does not build on kubernetes ({codes:?}):\n{rendered}"
                    )),
                    Built::Yaml(yaml) => {
                        let case_dir = dir.join(&name);
                        std::fs::create_dir_all(&case_dir).expect("a directory");
                        let scenario = Scenario {
                            what: format!("tests/nca/cases/{name}.npl"),
                            paths: vec![case.clone()],
                            namespaces: &namespaces,
                            pods: &pods,
                            cluster,
                        };
                        compare_scenario(&scenario, &yaml, &case_dir).map(|(f, s)| (f, s, yaml))
                    }
                };
                results.lock().expect("lock").push((name, result));
            });
        }
    });
    let mut results = results.into_inner().expect("lock");
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let failures: Vec<&String> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().err())
        .collect();
    assert!(
        failures.is_empty(),
        "{}",
        failures
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    let mut emitted = Vec::new();
    let mut report = Vec::new();
    for (name, result) in results {
        let (file, stats, yaml) = result.expect("checked above");
        emitted.push(file);
        snapshot_settings().bind(|| insta::assert_snapshot!(format!("case_{name}"), yaml));
        report.push(format!("{name}: {stats:?}"));
    }
    for version in K8S_VERSIONS {
        nca::kubernetes_validate(&emitted, version);
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "cases ({:.1?}):\n  {}",
        started.elapsed(),
        report.join("\n  ")
    );
}

// ------------------------------------------------------------------ generated programs

/// Generated programs compared per run; `NPLC_NCA_PROGRAMS` overrides, and
/// `NPLC_NCA_SEED` draws another sample (the default one is fixed, so that
/// a failure reproduces).
fn generated_count() -> usize {
    std::env::var("NPLC_NCA_PROGRAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

fn generated_seed() -> u64 {
    std::env::var("NPLC_NCA_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6b38_7300)
}

#[test]
fn generated_programs_match_nca() {
    let started = Instant::now();
    let wanted = generated_count();
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &{
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&generated_seed().to_le_bytes());
            seed
        }),
    );
    let strategy = (
        program_strategy(nca::address_target_config()),
        inventory_strategy(),
    );
    let dir = nca::temp_dir("generated");
    // Draw until `wanted` programs built; rejections are counted.
    let mut samples: Vec<(usize, String, PathBuf, PathBuf, PathBuf, String)> = Vec::new();
    let mut rejected: BTreeMap<String, usize> = BTreeMap::new();
    let mut drawn = 0usize;
    while samples.len() < wanted {
        assert!(
            drawn < wanted * 3,
            "too many generated programs rejected: {rejected:?}"
        );
        let (program, inventory) = strategy.new_tree(&mut runner).expect("a program").current();
        let program = nca::without_icmp_allows(program);
        let case_dir = dir.join(format!("p{drawn:03}"));
        std::fs::create_dir_all(&case_dir).expect("a directory");
        let text = program.render();
        let file = case_dir.join("generated.npl");
        std::fs::write(&file, &text).expect("writing the program");
        let (namespaces, pods) = nca::inventory_files(&inventory, &case_dir);
        match build_kubernetes(&file, Some(&namespaces)) {
            Built::Yaml(yaml) => samples.push((drawn, text, file, namespaces, pods, yaml)),
            Built::Rejected(codes, rendered) => {
                assert_target_rejection(&codes, &format!("generated program\n{text}"), &rendered);
                for c in codes {
                    *rejected.entry(c).or_default() += 1;
                }
            }
        }
        drawn += 1;
    }
    let rejected_programs = drawn - samples.len();
    assert!(
        rejected_programs * 5 <= drawn * 2,
        "{rejected_programs} of {drawn} generated programs rejected by the kubernetes target ({rejected:?}): \
         they should stay a minority"
    );
    let results: Mutex<Vec<Result<(PathBuf, Compared), String>>> = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = {
                    let mut n = next.lock().expect("lock");
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some((index, _text, file, namespaces, pods, yaml)) = samples.get(i) else {
                    break;
                };
                let scenario = Scenario {
                    what: format!("generated program #{index} (seed {:#x})", generated_seed()),
                    paths: vec![file.clone()],
                    namespaces,
                    pods,
                    cluster: Cluster::default(),
                };
                let dir = file.parent().expect("a directory");
                let result = compare_scenario(&scenario, yaml, dir);
                results.lock().expect("lock").push(result);
            });
        }
    });
    let results = results.into_inner().expect("lock");
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{}",
        failures
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    let emitted: Vec<PathBuf> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|(f, _)| f.clone())
        .collect();
    for version in K8S_VERSIONS {
        nca::kubernetes_validate(&emitted, version);
    }
    let stats: Vec<&Compared> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|(_, s)| s)
        .collect();
    eprintln!(
        "generated (seed {:#x}, {:.1?}): {drawn} drawn, {} compared, {rejected_programs} rejected {rejected:?}; \
         {} policies, {} ordered pod pairs ({} with connections), {} pod/address-range lines",
        generated_seed(),
        started.elapsed(),
        samples.len(),
        stats.iter().map(|s| s.policies).sum::<usize>(),
        stats.iter().map(|s| s.pod_pairs).sum::<usize>(),
        stats.iter().map(|s| s.allowed_pod_pairs).sum::<usize>(),
        stats.iter().map(|s| s.address_lines).sum::<usize>(),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ the tools themselves

/// The checks are not vacuous: kubernetes-validate rejects what the API
/// server would, the nca runner refuses input nca silently ignores, and the
/// comparison sees a difference.
#[test]
fn the_tools_catch_what_they_should() {
    let dir = nca::temp_dir("tools");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: x\n  namespace: y\n\
         spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress:\n  - ports:\n    - port: 80\n      endport: 90\n",
    )
    .expect("writing");
    let validate = Command::new(nca::venv_tool("kubernetes-validate"))
        .args(["--strict", "--quiet", "-k", K8S_VERSIONS[0]])
        .arg(&bad)
        .output()
        .expect("running kubernetes-validate");
    assert!(
        !validate.status.success(),
        "kubernetes-validate --strict accepted an unknown field"
    );

    let inventory = inventory_dir("lab");
    let (namespaces, pods) = (
        inventory.join("namespaces.yaml"),
        inventory.join("pods.yaml"),
    );
    let garbage = dir.join("garbage.yaml");
    std::fs::write(&garbage, "spec: [\n").expect("writing");
    let err = nca::nca_connectivity(&garbage, &namespaces, &pods).expect_err("nca read garbage");
    assert!(err.contains("Error"), "{err}");

    // The lab's web pods may reach the api pods on 8080 only; nca says so,
    // and the comparison tells it from "all connections".
    let program = dir.join("p.npl");
    std::fs::write(
        &program,
        "zone web { namespace \"shop\"; pods app = \"web\" }\nzone api { namespace \"shop\"; pods app = \"api\" }\nallow web -> api : 8080\n",
    )
    .expect("writing");
    let Built::Yaml(yaml) = build_kubernetes(&program, None) else {
        panic!("p.npl builds")
    };
    let policies = dir.join("policies.yaml");
    std::fs::write(&policies, yaml).expect("writing");
    let seen = nca::nca_connectivity(&policies, &namespaces, &pods).expect("nca runs");
    let pair = (
        "shop/web-7d9c8b6f5-a1b2c".to_string(),
        "shop/api-5b6c7d8e9-g5h6j".to_string(),
    );
    assert_eq!(
        seen.pods.get(&pair).map(|c| c.to_string()).as_deref(),
        Some("TCP 8080")
    );
    let mut other = seen.clone();
    other.pods.insert(pair, nca::Conns::all());
    assert_eq!(compare(&seen, &other).len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// nca's output grammar, as the parser reads it.
#[test]
fn nca_lines_parse_exactly() {
    let text = "\
0.0.0.0-9.255.255.255 => ns/a : All connections
ns/a => ns/b[Pod] : {protocols:TCP, UDP,dst_ports:80,443,8000-8999}
ns/a => ns/b : {protocols:SCTP}
ns/b => fd00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff : All but {protocols:TCP,dst_ports:22}
ns/b => 10.0.0.1 : {protocols:all but TCP, UDP, SCTP, ICMP, ICMPv6}
ns/a => ns/c : {protocols:ICMP,icmp_type:0},{protocols:ICMPv6,icmp_type:1,icmp_code:4-255}
";
    let c = nca::parse_nca(text).expect("parses");
    let ab = &c.pods[&("ns/a".to_string(), "ns/b".to_string())];
    assert_eq!(
        ab.to_string(),
        "TCP 80,443,8000-8999; UDP 80,443,8000-8999; SCTP 1-65535"
    );
    let b_out = &c.addresses[&("ns/b".to_string(), true)];
    assert_eq!(
        b_out[0].1.to_string(),
        "TCP 1-21,23-65535; UDP 1-65535; SCTP 1-65535; ICMP"
    );
    // Every protocol but the five: nothing this model holds.
    assert_eq!(b_out.len(), 1, "{b_out:?}");
    // ICMP per family, by type and code (Calico's ICMP matches).
    let ac = &c.pods[&("ns/a".to_string(), "ns/c".to_string())];
    assert!(ac.ports.iter().all(Vec::is_empty), "{ac}");
    let expected = nca::IcmpProbes::from_fn(|m| match m.family {
        nplc_compiler::algebra::icmp::IcmpFamily::V4 => m.icmp_type == 0,
        nplc_compiler::algebra::icmp::IcmpFamily::V6 => m.icmp_type == 1 && m.code >= 4,
    });
    assert_eq!(ac.icmp, expected, "{ac}");
    assert!(nca::parse_nca("ns/a => ns/b : {protocols:TCP,icmp_type:3}").is_err());
    assert_eq!(
        c.addresses[&("ns/a".to_string(), false)][0].0.to_string(),
        "0.0.0.0-9.255.255.255"
    );
    assert!(nca::parse_nca("ns/a => ns/b : {protocols:TCP,src_ports:80}").is_err());
    assert!(nca::parse_nca("ns/a -> ns/b : All connections").is_err());
}

/// The corrections made to nca (see `tests/nca/mod.rs`) are still needed:
/// when a release fixes them, this fails, and the patch can go.
#[test]
fn nca_corrections_are_still_needed() {
    let dir = nca::temp_dir("nca-bug");
    let inventory = inventory_dir("lab");
    let (namespaces, pods) = (
        inventory.join("namespaces.yaml"),
        inventory.join("pods.yaml"),
    );
    // Egress from the shop's web pods to any pod with an `app.kubernetes.io/name`
    // label, in any namespace: the payments gateway has one.
    let policies = dir.join("policies.yaml");
    std::fs::write(
        &policies,
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web-egress\n  namespace: shop\n\
         spec:\n  podSelector:\n    matchLabels:\n      app: web\n  policyTypes: [Egress]\n  egress:\n  - to:\n\
         \x20   - namespaceSelector: {}\n      podSelector:\n        matchExpressions:\n        - key: app.kubernetes.io/name\n\
         \x20         operator: Exists\n    ports:\n    - port: 8443\n",
    )
    .expect("writing");
    let pair = (
        "shop/web-7d9c8b6f5-a1b2c".to_string(),
        "payments/gateway-6e7f8a9b5-r4s6t".to_string(),
    );
    let corrected = nca::nca_connectivity(&policies, &namespaces, &pods).expect("nca runs");
    assert_eq!(
        corrected.pods.get(&pair).map(|c| c.to_string()).as_deref(),
        Some("TCP 8443")
    );
    let out = dir.join("plain.txt");
    let plain = Command::new(nca::venv_tool("nca"))
        .arg("--connectivity")
        .arg(&policies)
        .arg("-n")
        .arg(&namespaces)
        .arg("-p")
        .arg(&pods)
        .args([
            "--output_format",
            "txt_no_fw_rules",
            "--output_endpoints",
            "pods",
            "-f",
        ])
        .arg(&out)
        .output()
        .expect("running nca");
    assert!(plain.status.success());
    let plain =
        nca::parse_nca(&std::fs::read_to_string(&out).expect("nca output")).expect("parses");
    assert_eq!(
        plain.pods.get(&pair),
        None,
        "nca now sees `Exists` in other namespaces: drop the correction in tests/nca/mod.rs"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ determinism and names

#[test]
fn builds_are_byte_identical() {
    for case in npl_files(&root().join("tests/nca/cases")) {
        let text = std::fs::read_to_string(&case).expect("a case");
        let inventory = case_inventory(&text, &case);
        let namespaces = inventory.join("namespaces.yaml");
        let flags = Cluster::from_dir(&inventory).flags();
        let mut args = vec![
            "build",
            "--target",
            "kubernetes",
            "--namespaces",
            path_str(&namespaces),
        ];
        args.extend(flags.iter().map(String::as_str));
        args.push(path_str(&case));
        let (a, b) = (run(&args, None), run(&args, None));
        assert_eq!(a.code, 0, "{}", a.stderr);
        assert!(
            a.stdout == b.stdout,
            "{}: two builds differ",
            case.display()
        );
    }
}

/// Policy names (and everything in the policies) by (namespace, name).
fn policies_by_name(yaml: &str) -> BTreeMap<(String, String), String> {
    documents(yaml)
        .into_iter()
        .map(|d| {
            let key = (
                d["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            (key, serde_yaml::to_string(&d).expect("YAML"))
        })
        .collect()
}

fn build_text(dir: &Path, name: &str, text: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, text).expect("writing");
    match build_kubernetes(&file, None) {
        Built::Yaml(yaml) => yaml,
        Built::Rejected(codes, rendered) => {
            panic!("{name} does not build ({codes:?}):\n{rendered}\n{text}")
        }
    }
}

#[test]
fn policy_names_do_not_change_with_unrelated_rules() {
    let dir = nca::temp_dir("names");
    // Zone policies, ZONE-DIRECTION; a deny carving a zone's selector gives
    // nplc-ZONE-DIRECTION-N. No name carries a hash of the content.
    let base = "\
zone shop { namespace \"shop\" }
zone web { namespace \"shop\"; pods app = \"web\"; isolate none }
zone canary { namespace \"shop\"; pods track = \"canary\"; isolate none }
zone payments { namespace \"payments\"; isolate ingress }
external corp = cidr 10.0.0.0/8
allow shop -> payments : 8000-9000
deny canary -> payments
deny canary -> cidr 10.1.0.0/16 : 443
allow web -> corp : 443
allow corp -> web : 8080
";
    let before = policies_by_name(&build_text(&dir, "before.npl", base));
    let names: BTreeSet<&str> = before.keys().map(|(_, n)| n.as_str()).collect();
    let zone_names = ["shop", "web", "canary", "payments"];
    for name in &names {
        let plain = zone_names
            .iter()
            .any(|z| *name == format!("{z}-ingress") || *name == format!("{z}-egress"));
        let numbered = name.strip_prefix("nplc-").is_some_and(|rest| {
            rest.rsplit_once('-').is_some_and(|(head, n)| {
                n.parse::<u32>().is_ok()
                    && zone_names
                        .iter()
                        .any(|z| head == format!("{z}-ingress") || head == format!("{z}-egress"))
            })
        });
        assert!(
            plain || numbered,
            "{name} is neither ZONE-DIRECTION nor nplc-ZONE-DIRECTION-N: {names:?}"
        );
    }
    assert!(
        names.contains("shop-egress") && names.contains("payments-ingress"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("nplc-")),
        "the deny on web's egress should carve a policy of its own: {names:?}"
    );
    // Added at the end, so the source lines of the others stay the same.
    let added = format!(
        "{base}zone reports {{ namespace \"reports\"; pods app = \"reporter\" }}\n\
         zone ledger {{ namespace \"ledger\"; isolate egress }}\n\
         allow reports -> cidr 192.168.0.0/16 : 443\n\
         allow ledger -> reports : 9000\n\
         deny reports -> cidr 192.168.1.0/24\n"
    );
    let after = policies_by_name(&build_text(&dir, "after.npl", &added));
    for (key, doc) in &before {
        let new = after.get(key).unwrap_or_else(|| {
            panic!(
                "policy {}/{} is gone after adding unrelated zones and rules: {:?}",
                key.0,
                key.1,
                after.keys()
            )
        });
        assert_eq!(
            doc.replace("before.npl", "X"),
            new.replace("after.npl", "X"),
            "policy {}/{} changed",
            key.0,
            key.1
        );
    }
    assert!(
        after.len() > before.len(),
        "the added rules make policies of their own"
    );
    // Removing a rule keeps the names of the policies it did not feed.
    let removed = base.replace("allow corp -> web : 8080\n", "");
    let fewer = policies_by_name(&build_text(&dir, "removed.npl", &removed));
    for (key, doc) in &before {
        if doc.contains("before.npl:10") {
            continue; // a policy holding the removed rule (the last line)
        }
        let new = fewer
            .get(key)
            .unwrap_or_else(|| panic!("policy {}/{} is gone after removing a rule", key.0, key.1));
        assert_eq!(
            doc.replace("before.npl", "X"),
            new.replace("removed.npl", "X"),
            "{}/{} changed",
            key.0,
            key.1
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ -o DIR

/// Every file under `dir` (relative, `/`-separated) with its content.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("a directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("inside")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read_to_string(&path).expect("a text file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

const DIR_PROGRAM: &str = "\
zone web { namespace \"shop\"; pods app = \"web\" }
zone api { namespace \"shop\"; pods app = \"api\" }
zone db { namespace \"data\"; isolate ingress }
allow web -> api : 8080
allow api -> db : 5432
";

#[test]
fn output_directory_holds_one_file_per_policy_a_kustomization_and_a_manifest() {
    let dir = nca::temp_dir("outdir");
    let program = dir.join("policy.npl");
    std::fs::write(&program, DIR_PROGRAM).expect("writing");
    let out = dir.join("deploy");
    let (p, o) = (path_str(&program), path_str(&out));
    let built = run(&["build", "--target", "kubernetes", "-o", o, p], None);
    assert_eq!(built.code, 0, "{}", built.stderr);
    assert!(
        built.stdout.is_empty(),
        "-o prints nothing on stdout: {}",
        built.stdout
    );
    let files = tree(&out);
    let stream = run(&["build", "--target", "kubernetes", p], None).stdout;
    let policies = policies_by_name(&stream);
    let expected: BTreeSet<String> = policies
        .keys()
        .map(|(ns, name)| format!("networkpolicy.{ns}.{name}.yaml"))
        .chain([
            "kustomization.yaml".to_string(),
            ".nplc-manifest".to_string(),
        ])
        .collect();
    assert_eq!(files.keys().cloned().collect::<BTreeSet<_>>(), expected);
    // Each file is the document of its policy, and the stream is their
    // concatenation.
    let mut joined = Vec::new();
    for ((ns, name), doc) in &policies {
        let file = &files[&format!("networkpolicy.{ns}.{name}.yaml")];
        assert_eq!(&policies_by_name(file)[&(ns.clone(), name.clone())], doc);
        joined.push(file.clone());
    }
    assert_eq!(documents(&joined.join("---\n")), documents(&stream));
    let kustomization =
        serde_yaml::from_str::<serde_yaml::Value>(&files["kustomization.yaml"]).expect("YAML");
    assert_eq!(kustomization["kind"].as_str(), Some("Kustomization"));
    let resources: BTreeSet<&str> = kustomization["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(
        resources,
        expected
            .iter()
            .filter(|f| f.starts_with("networkpolicy."))
            .map(String::as_str)
            .collect()
    );
    let manifest: BTreeSet<&str> = files[".nplc-manifest"].lines().collect();
    assert_eq!(
        manifest,
        expected
            .iter()
            .filter(|f| *f != ".nplc-manifest")
            .map(String::as_str)
            .collect()
    );
    for version in K8S_VERSIONS {
        let yamls: Vec<PathBuf> = expected
            .iter()
            .filter(|f| f.starts_with("networkpolicy."))
            .map(|f| out.join(f))
            .collect();
        nca::kubernetes_validate(&yamls, version);
    }

    // Building again gives the same bytes; `--check` agrees.
    let again = run(&["build", "--target", "kubernetes", "-o", o, p], None);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(tree(&out), files);
    let check = run(
        &["build", "--target", "kubernetes", "-o", o, "--check", p],
        None,
    );
    assert_eq!(
        check.code, 0,
        "--check of an up-to-date directory: {}",
        check.stderr
    );

    // A change: `--check` lists the drift and writes nothing; the rebuild
    // removes the stale file.
    std::fs::write(
        &program,
        DIR_PROGRAM.replace(
            "zone db { namespace \"data\"; isolate ingress }\n",
            "zone db { namespace \"data\"; isolate none }\n",
        ),
    )
    .expect("writing");
    let check = run(
        &["build", "--target", "kubernetes", "-o", o, "--check", p],
        None,
    );
    assert_eq!(
        check.code, 1,
        "--check of a drifted directory: {}",
        check.stderr
    );
    assert!(
        check.stderr.contains("networkpolicy.data.db-ingress.yaml"),
        "{}",
        check.stderr
    );
    assert!(check.stderr.contains("changed"), "{}", check.stderr);
    assert_eq!(tree(&out), files, "--check wrote something");
    let rebuilt = run(&["build", "--target", "kubernetes", "-o", o, p], None);
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.stderr);
    let after = tree(&out);
    assert!(
        !after.contains_key("networkpolicy.data.db-ingress.yaml"),
        "stale file kept: {:?}",
        after.keys()
    );
    assert!(!after[".nplc-manifest"].contains("db-ingress"));
    assert!(!after["kustomization.yaml"].contains("db-ingress"));
    let check = run(
        &["build", "--target", "kubernetes", "-o", o, "--check", p],
        None,
    );
    assert_eq!(check.code, 0, "{}", check.stderr);
    // A file nplc did not write makes `--check` report it too.
    std::fs::write(
        out.join("networkpolicy.data.old.yaml"),
        "kind: NetworkPolicy\n",
    )
    .expect("writing");
    let check = run(
        &["build", "--target", "kubernetes", "-o", o, "--check", p],
        None,
    );
    assert_eq!(check.code, 1);
    assert!(
        check.stderr.contains("networkpolicy.data.old.yaml"),
        "{}",
        check.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn output_directory_with_a_foreign_file_is_refused() {
    let dir = nca::temp_dir("foreign");
    let program = dir.join("policy.npl");
    std::fs::write(&program, DIR_PROGRAM).expect("writing");
    let (p, out) = (path_str(&program).to_string(), dir.join("deploy"));
    let o = path_str(&out).to_string();
    // A directory nplc did not write.
    std::fs::create_dir_all(out.join("sub")).expect("mkdir");
    std::fs::write(out.join("README.md"), "hand-written\n").expect("writing");
    std::fs::write(out.join("sub/extra.yaml"), "kind: ConfigMap\n").expect("writing");
    let before = tree(&out);
    let refused = run(&["build", "--target", "kubernetes", "-o", &o, &p], None);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("README.md"), "{}", refused.stderr);
    assert_eq!(tree(&out), before, "nplc wrote into a directory it refused");
    // Nor next to it.
    let siblings: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(siblings.len(), 2, "left behind: {siblings:?}");

    // A directory nplc wrote, plus a foreign file: refused as well.
    let owned = dir.join("owned");
    let ow = path_str(&owned).to_string();
    assert_eq!(
        run(&["build", "--target", "kubernetes", "-o", &ow, &p], None).code,
        0
    );
    std::fs::write(owned.join("notes.txt"), "mine\n").expect("writing");
    let before = tree(&owned);
    let refused = run(&["build", "--target", "kubernetes", "-o", &ow, &p], None);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert_eq!(tree(&owned), before);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nothing_is_written_when_there_are_errors() {
    let dir = nca::temp_dir("errors");
    let program = dir.join("policy.npl");
    std::fs::write(&program, DIR_PROGRAM).expect("writing");
    let (p, out) = (path_str(&program).to_string(), dir.join("deploy"));
    let o = path_str(&out).to_string();
    assert_eq!(
        run(&["build", "--target", "kubernetes", "-o", &o, &p], None).code,
        0
    );
    let before = tree(&out);
    let entries = |d: &Path| std::fs::read_dir(d).expect("dir").count();
    let siblings = entries(&dir);
    // An error of the input (a syntax error), and one of the target.
    for broken in [
        format!("{DIR_PROGRAM}allow web -> : 80\n"),
        format!("{DIR_PROGRAM}allow web -> fqdn \"api.example.com\" : 443\n"),
    ] {
        std::fs::write(&program, &broken).expect("writing");
        let failed = run(&["build", "--target", "kubernetes", "-o", &o, &p], None);
        assert_eq!(failed.code, 1, "{broken}\n{}", failed.stderr);
        assert_eq!(tree(&out), before, "the directory changed on errors");
        assert_eq!(
            entries(&dir),
            siblings,
            "something was left next to the directory"
        );
        // A directory that does not exist is not created.
        let fresh = dir.join("fresh");
        let failed = run(
            &[
                "build",
                "--target",
                "kubernetes",
                "-o",
                path_str(&fresh),
                &p,
            ],
            None,
        );
        assert_eq!(failed.code, 1);
        assert!(!fresh.exists(), "a directory was created on errors");
        // Several targets, one of which fails: nothing either.
        let failed = run(
            &["build", "-t", "kubernetes", "-t", "cilium", "-o", &o, &p],
            None,
        );
        assert_eq!(failed.code, 1);
        assert_eq!(tree(&out), before);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn several_targets_get_one_subdirectory_each() {
    let dir = nca::temp_dir("targets");
    let program = dir.join("policy.npl");
    std::fs::write(&program, DIR_PROGRAM).expect("writing");
    let out = dir.join("deploy");
    let (p, o) = (path_str(&program), path_str(&out));
    let built = run(
        &["build", "-t", "kubernetes", "-t", "cilium", "-o", o, p],
        None,
    );
    assert_eq!(built.code, 0, "{}", built.stderr);
    let files = tree(&out);
    let alone = dir.join("alone");
    assert_eq!(
        run(
            &["build", "-t", "kubernetes", "-o", path_str(&alone), p],
            None
        )
        .code,
        0
    );
    let kubernetes_alone = tree(&alone);
    for (rel, content) in &kubernetes_alone {
        if rel == ".nplc-manifest" {
            continue;
        }
        assert_eq!(
            files.get(&format!("kubernetes/{rel}")),
            Some(content),
            "kubernetes/{rel}"
        );
    }
    let tops: BTreeSet<&str> = files
        .keys()
        .map(|k| k.split('/').next().unwrap_or_default())
        .collect();
    assert_eq!(
        tops,
        BTreeSet::from([".nplc-manifest", "cilium", "kubernetes"])
    );
    assert!(files.contains_key("cilium/kustomization.yaml"));
    assert!(
        files
            .keys()
            .any(|k| k.starts_with("cilium/ciliumnetworkpolicy.")),
        "{:?}",
        files.keys()
    );
    let manifest: BTreeSet<&str> = files[".nplc-manifest"].lines().collect();
    assert_eq!(
        manifest,
        files
            .keys()
            .filter(|k| *k != ".nplc-manifest")
            .map(String::as_str)
            .collect()
    );
    // Order of --target does not matter.
    let swapped = dir.join("swapped");
    assert_eq!(
        run(
            &[
                "build",
                "-t",
                "cilium",
                "-t",
                "kubernetes",
                "-o",
                path_str(&swapped),
                p
            ],
            None
        )
        .code,
        0
    );
    assert_eq!(tree(&swapped), files);
    let check = run(
        &[
            "build",
            "-t",
            "kubernetes",
            "-t",
            "cilium",
            "-o",
            o,
            "--check",
            p,
        ],
        None,
    );
    assert_eq!(check.code, 0, "{}", check.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_diagnostics_of_a_build_leave_stdout_to_the_yaml() {
    let dir = nca::temp_dir("json-warnings");
    let program = dir.join("policy.npl");
    // `allow` without ports: a warning, and the build succeeds.
    std::fs::write(
        &program,
        "zone web { namespace \"web\" }\nzone api { namespace \"api\" }\nallow web -> api\n",
    )
    .expect("writing");
    let p = path_str(&program).to_string();
    let built = run(
        &["build", "--target", "kubernetes", "--format", "json", &p],
        None,
    );
    assert_eq!(built.code, 0, "{}", built.stderr);
    let docs = documents(&built.stdout);
    assert!(!docs.is_empty(), "no YAML on stdout:\n{}", built.stdout);
    let diags: Value = serde_json::from_str(&built.stderr)
        .unwrap_or_else(|e| panic!("stderr is not JSON ({e}):\n{}", built.stderr));
    let codes: Vec<&str> = diags
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(codes, ["W0002"]);
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ locality

/// The lines of a program's rules that a test can edit in place: one line,
/// ports at the end, no L7 block, no `via`.
fn editable_rules(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start();
            (l.starts_with("allow ") || l.starts_with("deny "))
                && !l.contains(['#', '{', '}'])
                && !l.contains(" via ")
        })
        .map(|(i, _)| i)
        .collect()
}

/// Whether a policy's source annotation lists line `line` (1-based) of `file`.
fn lists_line(doc: &str, file: &str, line: usize) -> bool {
    let Some(sources) = doc
        .lines()
        .find_map(|l| l.trim().strip_prefix("nplc.dev/source: "))
    else {
        return false;
    };
    sources.split(", ").any(|s| {
        let Some(range) = s.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
            return false;
        };
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        matches!((a.parse::<usize>(), b.parse::<usize>()), (Ok(a), Ok(b)) if a <= line && line <= b)
    })
}

/// Changing one rule (its ports, or removing it) changes only the policies
/// that hold it, before or after the edit: the zones it names, and where it
/// is a deny, the policies it cuts or forces.
#[test]
fn a_one_rule_edit_changes_only_the_policies_holding_that_rule() {
    let dir = nca::temp_dir("locality");
    let mut programs: Vec<(PathBuf, PathBuf, Cluster)> = npl_files(&root().join("tests/nca/cases"))
        .into_iter()
        .map(|case| {
            let text = std::fs::read_to_string(&case).expect("a case");
            let inventory = case_inventory(&text, &case);
            (
                case,
                inventory.join("namespaces.yaml"),
                Cluster::from_dir(&inventory),
            )
        })
        .collect();
    programs.push((
        root().join("examples/namespace-isolation/main.npl"),
        inventory_dir("namespace-isolation").join("namespaces.yaml"),
        Cluster::from_dir(&root().join("examples/namespace-isolation/inventory")),
    ));
    let mut report = Vec::new();
    for (program, namespaces, cluster) in &programs {
        let text = std::fs::read_to_string(program).expect("a program");
        let name = program
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a name");
        let build = |label: &str, text: &str| -> (String, BTreeMap<(String, String), String>) {
            let sub = dir.join(label);
            std::fs::create_dir_all(&sub).expect("a directory");
            let file = sub.join(name);
            std::fs::write(&file, text).expect("writing");
            let yaml = match build_kubernetes_in(&file, Some(namespaces), cluster) {
                Built::Yaml(yaml) => yaml,
                Built::Rejected(codes, rendered) => {
                    panic!(
                        "{} does not build ({codes:?}):\n{rendered}",
                        program.display()
                    )
                }
            };
            // The same path in every build's annotations.
            let shown = path_str(&file).to_string();
            (
                shown.clone(),
                policies_by_name(&yaml.replace(&shown, "P.npl")),
            )
        };
        let (_, before) = build("base", &text);
        let mut edits = 0;
        let mut changed_total = 0;
        for line in editable_rules(&text) {
            let original = text.lines().nth(line).expect("the line");
            let mut variants = vec![("removed", format!("# {original}"))];
            if original.contains(" : ") {
                variants.push(("ports", format!("{original}, 65000")));
            }
            for (what, replacement) in variants {
                let edited: String = text
                    .lines()
                    .enumerate()
                    .map(|(i, l)| if i == line { replacement.as_str() } else { l })
                    .collect::<Vec<_>>()
                    .join("\n");
                let (_, after) = build("edited", &edited);
                let keys: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
                for key in keys {
                    let (old, new) = (before.get(key), after.get(key));
                    if old == new {
                        continue;
                    }
                    changed_total += 1;
                    let holds = |doc: Option<&String>| {
                        doc.is_some_and(|d| lists_line(d, "P.npl", line + 1))
                    };
                    assert!(
                        holds(old) || holds(new),
                        "{}: {what} `{}` changed {}/{}, which does not hold it:\n--- before ---\n{}\n--- after ---\n{}",
                        program.display(),
                        original.trim(),
                        key.0,
                        key.1,
                        old.map_or("(none)", |s| s.as_str()),
                        new.map_or("(none)", |s| s.as_str()),
                    );
                }
                edits += 1;
            }
        }
        report.push(format!(
            "{name}: {edits} edits, {changed_total} policies changed"
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("locality:\n  {}", report.join("\n  "));
}

/// E0406 from a deny: a zone in one namespace is cut by a deny over
/// namespaces by label; the error is at that zone and points at the deny.
/// A zone in one namespace that no such deny cuts needs no inventory.
#[test]
fn e0406_from_a_deny_names_the_zone_and_the_deny() {
    let dir = nca::temp_dir("e0406");
    let text = "\
zone all-a { namespace \"a\" }
zone b { namespace \"b\"; isolate none }
zone labelled { namespaces env = \"x\"; pods app = \"y\" }
allow b -> all-a : 80
allow b -> labelled : 80
deny b -> labelled : 80
";
    let file = dir.join("cut.npl");
    std::fs::write(&file, text).expect("writing");
    let out = run(
        &[
            "build",
            "--target",
            "kubernetes",
            "--format",
            "json",
            path_str(&file),
        ],
        None,
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let diags: Value = serde_json::from_str(&out.stderr).expect("JSON diagnostics");
    let messages: Vec<String> = diags
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["code"] == "E0406")
        .map(|d| d.to_string())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("cuts `all-a`'s policy") && m.contains("this deny cuts")),
        "{messages:#?}"
    );
    // Without the deny, `all-a` builds without an inventory; only the label
    // zone needs one.
    let without = text.replace("deny b -> labelled : 80\n", "");
    std::fs::write(&file, &without).expect("writing");
    let out = run(
        &[
            "build",
            "--target",
            "kubernetes",
            "--format",
            "json",
            path_str(&file),
        ],
        None,
    );
    let diags: Value = serde_json::from_str(&out.stderr).expect("JSON diagnostics");
    for d in diags.as_array().into_iter().flatten() {
        assert!(!d.to_string().contains("all-a"), "{d}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A namespace the program names but the `--namespaces` inventory lacks (a
/// stale inventory) keeps its zone's policy: the inventory never removes
/// isolation the program asks for.
#[test]
fn a_stale_inventory_keeps_the_policies_of_named_namespaces() {
    let dir = std::env::temp_dir().join(format!("nplc-k8s-stale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let program = dir.join("main.npl");
    std::fs::write(
        &program,
        "zone pay { namespace \"payments\"; isolate ingress }\n\
         zone web { namespace \"web\" }\n\
         allow web -> pay : 8080\n\
         deny web -> pay : 9090\n",
    )
    .expect("write program");
    let inventory = dir.join("ns.yaml");
    std::fs::write(
        &inventory,
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: web\n",
    )
    .expect("write inventory");
    let names = |built: Built| -> BTreeSet<(String, String)> {
        let Built::Yaml(yaml) = built else {
            panic!("the program builds for kubernetes");
        };
        policies_by_name(&yaml).into_keys().collect()
    };
    let without = names(build_kubernetes(&program, None));
    let stale = names(build_kubernetes(&program, Some(&inventory)));
    assert!(
        without.contains(&("payments".to_string(), "pay-ingress".to_string())),
        "{without:?}"
    );
    assert_eq!(stale, without, "a stale inventory changed the policies");
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ the cluster's inventories

const CLUSTER_PROGRAM: &str = "\
zone web { namespace \"shop\"; pods app = \"web\" }
zone ctl { namespace \"shop\"; pods app = \"ctl\"; isolate egress }
allow world -> web : 80
allow ctl -> kube-apiserver : 443
allow ctl -> host : 10250
";

const CLUSTER_APISERVER: &str = "\
kind: Endpoints
apiVersion: v1
metadata: {name: kubernetes, namespace: default}
subsets:
- addresses: [{ip: 172.18.0.2}]
  ports: [{name: https, port: 6443, protocol: TCP}]
";

/// `--apiserver-endpoints`, `--cluster-cidr`, `--service-cidr` and the same
/// keys in nplc.toml (the file relative to it): without them E0405 and
/// W0014 say which to pass; with them the API server is its endpoint and
/// the ranges are excepted; W0015 names `host` left to the platform.
#[test]
fn the_cluster_inventories_come_from_flags_or_nplc_toml() {
    let dir = nca::temp_dir("cluster");
    std::fs::write(dir.join("main.npl"), CLUSTER_PROGRAM).expect("writing");
    std::fs::create_dir_all(dir.join("inventory")).expect("a directory");
    std::fs::write(dir.join("inventory/api.yaml"), CLUSTER_APISERVER).expect("writing");
    let build = |extra: &[&str]| {
        let mut args = vec![
            "build",
            "main.npl",
            "--target",
            "kubernetes",
            "--color",
            "never",
        ];
        args.extend(extra);
        run(&args, Some(&dir))
    };
    let bare = build(&[]);
    assert_eq!(bare.code, 1, "{}", bare.stderr);
    assert!(bare.stderr.contains("error[E0405]"), "{}", bare.stderr);
    assert!(
        bare.stderr.contains("--apiserver-endpoints FILE"),
        "{}",
        bare.stderr
    );
    assert!(
        bare.stderr.contains("apiserver-endpoints = \"FILE\""),
        "{}",
        bare.stderr
    );

    let with_api = build(&["--apiserver-endpoints", "inventory/api.yaml"]);
    assert_eq!(with_api.code, 0, "{}", with_api.stderr);
    assert!(
        with_api.stdout.contains("cidr: 172.18.0.2/32"),
        "{}",
        with_api.stdout
    );
    assert!(
        with_api.stdout.contains("port: 6443"),
        "{}",
        with_api.stdout
    );
    assert!(
        !with_api.stdout.contains("port: 443\n"),
        "{}",
        with_api.stdout
    );
    assert!(
        with_api.stderr.contains("warning[W0014]"),
        "{}",
        with_api.stderr
    );
    assert!(
        with_api.stderr.contains("allow world -> web : 80"),
        "{}",
        with_api.stderr
    );
    assert!(
        with_api.stderr.contains("warning[W0015]"),
        "{}",
        with_api.stderr
    );

    let flags = [
        "--apiserver-endpoints",
        "inventory/api.yaml",
        "--cluster-cidr",
        "10.244.0.0/16",
        "--service-cidr",
        "10.96.0.0/12",
    ];
    let with_flags = build(&flags);
    assert_eq!(with_flags.code, 0, "{}", with_flags.stderr);
    assert!(
        !with_flags.stderr.contains("W0014"),
        "{}",
        with_flags.stderr
    );
    for except in ["- 10.96.0.0/12", "- 10.244.0.0/16", "- 172.18.0.2/32"] {
        assert!(
            with_flags.stdout.contains(except),
            "{except}:\n{}",
            with_flags.stdout
        );
    }

    // The same from nplc.toml, and `check --target` reads it too.
    std::fs::write(
        dir.join("nplc.toml"),
        "[cluster]\ncluster-cidr = [\"10.244.0.0/16\"]\nservice-cidr = [\"10.96.0.0/12\"]\napiserver-endpoints = \"inventory/api.yaml\"\n",
    )
    .expect("writing");
    let from_toml = build(&[]);
    assert_eq!(from_toml.code, 0, "{}", from_toml.stderr);
    assert_eq!(from_toml.stdout, with_flags.stdout);
    // The file is found relative to nplc.toml, wherever nplc runs.
    let main = dir.join("main.npl");
    let elsewhere = run(
        &[
            "build",
            path_str(&main),
            "--target",
            "kubernetes",
            "--color",
            "never",
        ],
        Some(root()),
    );
    assert_eq!(elsewhere.code, 0, "{}", elsewhere.stderr);
    assert!(
        elsewhere.stdout.contains("- 172.18.0.2/32"),
        "{}",
        elsewhere.stdout
    );
    let check = run(
        &[
            "check",
            "main.npl",
            "--target",
            "kubernetes",
            "--color",
            "never",
        ],
        Some(&dir),
    );
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(!check.stderr.contains("W0014"), "{}", check.stderr);
    assert!(check.stderr.contains("warning[W0015]"), "{}", check.stderr);

    // A Service instead of its endpoints, or a bad range: misuse, nothing built.
    std::fs::write(
        dir.join("inventory/svc.yaml"),
        "kind: Service\nmetadata: {name: kubernetes, namespace: default}\n",
    )
    .expect("writing");
    let service = build(&["--apiserver-endpoints", "inventory/svc.yaml"]);
    assert_eq!(service.code, 2, "{}", service.stderr);
    assert!(service.stdout.is_empty());
    assert!(
        service.stderr.contains("kubectl get endpointslice"),
        "{}",
        service.stderr
    );
    let range = build(&["--cluster-cidr", "10.244.0.0/33"]);
    assert_eq!(range.code, 2, "{}", range.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
