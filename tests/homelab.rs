//! The homelab example against seed 000's tables: which profile reaches
//! what. One row per namespace set-up (the four profiles, no profile label,
//! a misspelt one, the escape hatch, the access labels), one column per
//! connection of the seed's "choose a profile" and "classify the drop"
//! tables. Every cell is checked with the reference evaluator and with each
//! target's output read by that target's test-side oracle
//! (`tests/cilium_oracle`, the Calico tier evaluator of `tests/calico_tiers`
//! for tiered and `--calico-flat` output, nca for NetworkPolicy), so the
//! table holds for the program and for what a cluster enforces. The example
//! is judged on every target ([`BUILDS`]), and so is the example without its
//! `kube-apiserver` rules, the scheme alone.
//!
//! Also: the escape hatch's alerts (examples/homelab/alerts.yaml) validate
//! against the PrometheusRule schema and watch the label std/homelab reads.

mod cilium_oracle;
mod nca;
mod support;

#[path = "calico_tiers/evaluator.rs"]
#[allow(dead_code)]
mod evaluator;
#[path = "calico_tiers/selector.rs"]
#[allow(dead_code)]
mod selector;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;

use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::emit::{yaml, Options, Target};
use nplc_compiler::eval::{evaluate, Connection, ContainerPort, Endpoint, Pod, Transport};
use nplc_compiler::inventory::Namespace;
use nplc_compiler::names::Entity;

use support::sources::{self, Source};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ------------------------------------------------------------------ the table

const PROFILE: &str = "network-policy.homelab/profile";
const ENFORCEMENT: &str = "network-policy.homelab/enforcement";

/// The rows: a namespace of one app pod, with these namespace labels.
const ROWS: &[(&str, &[(&str, &str)])] = &[
    ("isolated", &[(PROFILE, "isolated")]),
    ("internal", &[(PROFILE, "internal")]),
    ("internal-egress", &[(PROFILE, "internal-egress")]),
    ("standard", &[(PROFILE, "standard")]),
    ("no profile label", &[]),
    ("misspelt profile", &[(PROFILE, "standrad")]),
    (
        "escape hatch, standard",
        &[(PROFILE, "standard"), (ENFORCEMENT, "disabled")],
    ),
    ("escape hatch, no profile", &[(ENFORCEMENT, "disabled")]),
    (
        "isolated + postgres access",
        &[
            (PROFILE, "isolated"),
            ("access.network-policy.homelab/postgres", "true"),
        ],
    ),
    (
        "isolated + kube-api access",
        &[
            (PROFILE, "isolated"),
            ("access.network-policy.homelab/kube-api", "true"),
        ],
    ),
];

/// The columns, in the order of [`TABLE`]'s cells.
const COLUMNS: [&str; 7] = [
    "internal gateway -> app:8080",
    "external gateway -> app:8080",
    "app -> internet:443",
    "app -> DNS udp/53",
    "app -> postgres:5432",
    "app -> unlabelled namespace:8080",
    "app -> kube-api:6443",
];

/// Seed 000's tables, as the example means them: `A` allowed, `D` denied.
/// The escape hatch lifts the namespace's own isolation only: what it
/// sends still has to be accepted by the (enforced) receiver, and the
/// gateways' egress still goes only to namespaces with a gateway profile.
const TABLE: &str = "
                             igw ext 443 dns  pg unl api
isolated                   |  D   D   D   A   D   D   D
internal                   |  A   D   D   A   D   D   D
internal-egress            |  A   D   A   A   D   D   D
standard                   |  A   A   A   A   D   D   D
no profile label           |  D   D   D   A   D   D   D
misspelt profile           |  D   D   D   A   D   D   D
escape hatch, standard     |  A   A   A   A   D   D   A
escape hatch, no profile   |  D   D   A   A   D   D   A
isolated + postgres access |  D   D   D   A   A   D   D
isolated + kube-api access |  D   D   D   A   D   D   A
";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn pod(namespace: &str, namespace_labels: &[(&str, &str)], pod_labels: &[(&str, &str)]) -> Pod {
    Pod {
        namespace: namespace.to_string(),
        namespace_labels: labels(namespace_labels),
        labels: labels(pod_labels),
        ports: vec![ContainerPort {
            name: "http".to_string(),
            protocol: Protocol::Tcp,
            number: 8080,
        }],
    }
}

/// The pods the columns name, besides the app pods.
struct Peers {
    internal_gateway: Pod,
    external_gateway: Pod,
    dns: Pod,
    postgres: Pod,
    unlabelled: Pod,
}

fn peers() -> Peers {
    const GATEWAY: &str = "gateway.networking.k8s.io/gateway-name";
    Peers {
        internal_gateway: pod("istio-gateway", &[], &[(GATEWAY, "internal")]),
        external_gateway: pod("istio-gateway", &[], &[(GATEWAY, "external")]),
        dns: pod("kube-system", &[], &[("k8s-app", "kube-dns")]),
        postgres: pod("database", &[], &[("cnpg.io/cluster", "immich-db")]),
        unlabelled: pod("scratch", &[], &[("app", "toolbox")]),
    }
}

/// The app pod of row `i`: namespace `app-<i>`.
fn app(i: usize) -> Pod {
    pod(&format!("app-{i}"), ROWS[i].1, &[("app", "web")])
}

fn universe() -> Vec<Pod> {
    let p = peers();
    let mut out = vec![
        p.internal_gateway,
        p.external_gateway,
        p.dns,
        p.postgres,
        p.unlabelled,
    ];
    out.extend((0..ROWS.len()).map(app));
    out
}

fn tcp(port: u16) -> Transport {
    Transport::Port(Protocol::Tcp, port)
}

/// The connections of row `i`, in the order of [`COLUMNS`].
fn row_connections(i: usize) -> [Connection; 7] {
    let p = peers();
    let app = Endpoint::Pod(app(i));
    let conn = |source: Endpoint, destination: Endpoint, transport| Connection {
        source,
        destination,
        transport,
        request: None,
    };
    [
        conn(Endpoint::Pod(p.internal_gateway), app.clone(), tcp(8080)),
        conn(Endpoint::Pod(p.external_gateway), app.clone(), tcp(8080)),
        conn(
            app.clone(),
            Endpoint::Ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10))),
            tcp(443),
        ),
        conn(
            app.clone(),
            Endpoint::Pod(p.dns),
            Transport::Port(Protocol::Udp, 53),
        ),
        conn(app.clone(), Endpoint::Pod(p.postgres), tcp(5432)),
        conn(app.clone(), Endpoint::Pod(p.unlabelled), tcp(8080)),
        conn(app, Endpoint::Entity(Entity::KubeApiserver), tcp(6443)),
    ]
}

/// `TABLE` as booleans, checked against `ROWS` and `COLUMNS`.
fn expected() -> Vec<[bool; 7]> {
    let lines: Vec<(&str, &str)> = TABLE
        .lines()
        .filter_map(|line| line.split_once('|'))
        .collect();
    assert_eq!(lines.len(), ROWS.len(), "one table line per row");
    lines
        .iter()
        .zip(ROWS)
        .map(|((name, cells), (row, _))| {
            let name = name.trim();
            assert_eq!(name, *row, "table lines in the order of ROWS");
            let cells: Vec<bool> = cells
                .split_whitespace()
                .map(|c| match c {
                    "A" => true,
                    "D" => false,
                    other => panic!("row `{name}`: cell `{other}` is neither A nor D"),
                })
                .collect();
            cells
                .try_into()
                .unwrap_or_else(|c: Vec<bool>| panic!("row `{name}`: {} cells, not 7", c.len()))
        })
        .collect()
}

fn homelab() -> Source {
    let (_, files) = sources::examples()
        .into_iter()
        .find(|(name, _)| name == "homelab")
        .expect("examples/homelab");
    Source::files(&files)
}

/// Compares one judge with the table; returns the differing cells.
fn differences(judge: &dyn Fn(&Connection) -> Option<bool>) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut judged = 0;
    for (i, expected_row) in expected().iter().enumerate() {
        for (c, conn) in row_connections(i).iter().enumerate() {
            let Some(allowed) = judge(conn) else {
                continue;
            };
            judged += 1;
            if allowed != expected_row[c] {
                out.push(format!(
                    "row `{}`, column `{}`: {} (the table says {})",
                    ROWS[i].0,
                    COLUMNS[c],
                    if allowed { "allowed" } else { "denied" },
                    if expected_row[c] { "allowed" } else { "denied" },
                ));
            }
        }
    }
    (out, judged)
}

#[test]
fn the_evaluator_gives_the_seeds_table() {
    let ir = homelab().ir();
    let (diffs, judged) = differences(&|conn| Some(evaluate(&ir, conn).allowed));
    assert_eq!(judged, ROWS.len() * COLUMNS.len());
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

// ------------------------------------------------------------------ targets

/// A target's answer for one connection: `None` when its oracle cannot
/// place an end.
type Judge = Box<dyn Fn(&Connection) -> Option<bool>>;

/// A build whose output is judged against the table.
#[derive(Debug, Clone, Copy)]
enum Build {
    Cilium,
    CalicoTiered,
    CalicoFlat,
    /// With the namespaces of the universe (`--namespaces`).
    Kubernetes,
}

/// The builds the homelab example has: every target, kubernetes with the
/// namespaces, the API server's endpoints and the cluster's ranges of the
/// example's nplc.toml. Calico writes `kube-apiserver` as a Service match and
/// its tier evaluator reads it; nca has no API server, so that column is
/// unjudged on kubernetes.
const BUILDS: &[Build] = &[
    Build::Cilium,
    Build::CalicoTiered,
    Build::CalicoFlat,
    Build::Kubernetes,
];

/// Every build the judges below can read, whether the example builds for it
/// or not: each judge is exercised on a small program by
/// `each_judge_reads_its_target`.
const JUDGES: &[Build] = &[
    Build::Cilium,
    Build::CalicoTiered,
    Build::CalicoFlat,
    Build::Kubernetes,
];

fn build_yaml(source: &Source, build: Build, pods: &[Pod]) -> Result<String, String> {
    let (target, options) = match build {
        Build::Kubernetes => (
            Target::Kubernetes,
            Options {
                namespaces: Some(
                    namespaces(pods)
                        .into_iter()
                        .map(|(name, labels)| Namespace { name, labels })
                        .collect(),
                ),
                apiserver: Some(apiserver()),
                cluster_ranges: ["10.244.0.0/16", "10.96.0.0/12"]
                    .iter()
                    .filter_map(|r| r.parse().ok())
                    .collect(),
                ..Options::default()
            },
        ),
        Build::Cilium => (Target::Cilium, Options::default()),
        Build::CalicoTiered => (Target::Calico, Options::default()),
        Build::CalicoFlat => (
            Target::Calico,
            Options {
                calico_flat: true,
                ..Options::default()
            },
        ),
    };
    source
        .build_with(target, &options)
        .map(|resources| yaml::stream(&resources))
        .map_err(|diags| format!("{build:?} does not build:\n{}", source.render(&diags)))
}

/// The API server's endpoints the example's nplc.toml names.
fn apiserver() -> nplc_compiler::inventory::ApiServer {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab/inventory/apiserver.yaml");
    let text = std::fs::read_to_string(&path).expect("examples/homelab/inventory/apiserver.yaml");
    nplc_compiler::inventory::load_apiserver(nplc_compiler::inventory::Source {
        name: "apiserver.yaml",
        text: &text,
    })
    .expect("the example's API server endpoints")
}

/// The namespaces of the pods, with their labels.
fn namespaces(pods: &[Pod]) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for p in pods {
        out.insert(p.namespace.clone(), p.namespace_labels.clone());
    }
    out.into_iter().collect()
}

/// nca's connectivity of the NetworkPolicies on the pods (named `p<i>`).
fn nca_judge(yaml_text: &str, pods: &[Pod]) -> Judge {
    let dir = nca::temp_dir("homelab");
    let policies = dir.join("policies.yaml");
    let namespaces_file = dir.join("namespaces.yaml");
    let pods_file = dir.join("pods.yaml");
    let listed: Vec<nca::PodYaml> = pods
        .iter()
        .enumerate()
        .map(|(i, p)| nca::PodYaml {
            namespace: p.namespace.clone(),
            name: format!("p{i}"),
            labels: p.labels.clone(),
            ports: p
                .ports
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        c.protocol.to_string().to_uppercase(),
                        c.number,
                    )
                })
                .collect(),
        })
        .collect();
    std::fs::write(&policies, yaml_text).expect("writing the policies");
    std::fs::write(&namespaces_file, nca::namespaces_yaml(&namespaces(pods))).expect("writing");
    std::fs::write(&pods_file, nca::pods_yaml(&listed)).expect("writing");
    let seen = nca::nca_connectivity(&policies, &namespaces_file, &pods_file)
        .unwrap_or_else(|e| panic!("nca: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let pods = pods.to_vec();
    Box::new(move |conn| {
        let name = |p: &Pod| {
            let i = pods
                .iter()
                .position(|q| q == p)
                .expect("a pod of the universe");
            format!("{}/p{i}", p.namespace)
        };
        let Transport::Port(protocol, port) = conn.transport else {
            return None;
        };
        let index = nca::PROTOCOLS
            .iter()
            .position(|p| p.eq_ignore_ascii_case(&protocol.to_string()))?;
        let has = |c: &nca::Conns| {
            c.ports[index]
                .iter()
                .any(|&(lo, hi)| lo <= u32::from(port) && u32::from(port) <= hi)
        };
        let in_range = |r: &nca::IpRange, ip: &IpAddr| {
            let (family, n) = match ip {
                IpAddr::V4(a) => (nca::Family::V4, u128::from(u32::from(*a))),
                IpAddr::V6(a) => (nca::Family::V6, u128::from(*a)),
            };
            r.family == family && r.lo <= n && n <= r.hi
        };
        let by_address = |pod: &Pod, egress: bool, ip: &IpAddr| {
            seen.addresses
                .get(&(name(pod), egress))
                .is_some_and(|list| list.iter().any(|(r, c)| in_range(r, ip) && has(c)))
        };
        match (&conn.source, &conn.destination) {
            (Endpoint::Pod(s), Endpoint::Pod(d)) => {
                Some(seen.pods.get(&(name(s), name(d))).is_some_and(has))
            }
            (Endpoint::Pod(s), Endpoint::Ip(ip)) => Some(by_address(s, true, ip)),
            (Endpoint::Ip(ip), Endpoint::Pod(d)) => Some(by_address(d, false, ip)),
            _ => None,
        }
    })
}

/// The target's oracle over the emitted YAML: `Some(allowed)`, or `None`
/// for a connection the oracle cannot place (the Calico model and nca have
/// no `kube-apiserver`).
fn judge(build: Build, yaml_text: &str, pods: &[Pod]) -> Judge {
    match build {
        Build::Kubernetes => nca_judge(yaml_text, pods),
        Build::Cilium => {
            let oracle = cilium_oracle::Oracle::load(yaml_text, pods).unwrap_or_else(|p| {
                panic!("the Cilium oracle refuses the output:\n{}", p.join("\n"))
            });
            Box::new(move |conn| Some(oracle.allows(conn)))
        }
        Build::CalicoTiered | Build::CalicoFlat => {
            let calico = evaluator::Calico::load(yaml_text, pods).unwrap_or_else(|p| {
                panic!("the Calico evaluator refuses the output:\n{}", p.join("\n"))
            });
            Box::new(move |conn| {
                let verdicts = calico.verdicts(conn)?;
                let allowed = verdicts.iter().all(|v| v.allowed());
                assert!(
                    verdicts.iter().all(|v| v.allowed() == allowed),
                    "the address families disagree: {verdicts:?}"
                );
                Some(allowed)
            })
        }
    }
}

#[test]
fn every_target_enforces_the_seeds_table() {
    let source = homelab();
    let pods = universe();
    for &build in BUILDS {
        let yaml_text = build_yaml(&source, build, &pods).unwrap_or_else(|e| panic!("{e}"));
        let judge = judge(build, &yaml_text, &pods);
        let (diffs, judged) = differences(&*judge);
        assert!(
            judged >= ROWS.len() * (COLUMNS.len() - 1),
            "{build:?}: only {judged} cells judged"
        );
        assert!(diffs.is_empty(), "{build:?}:\n{}", diffs.join("\n"));
    }
}

/// The example with every rule that names `kube-apiserver` left out (the
/// library's kube-api access rule too, from a copy of std/homelab): the
/// scheme alone, which needs no inventory of the API server. It is judged
/// on every target, without the kube-api column.
fn homelab_without_the_api_server() -> Source {
    let (_, files) = sources::examples()
        .into_iter()
        .find(|(name, _)| name == "homelab")
        .expect("examples/homelab");
    let drop_api_server = |text: &str| -> String {
        text.lines()
            .filter(|l| !(l.starts_with("allow") && l.contains("kube-apiserver")))
            .map(|l| l.replace("import \"std/homelab\"", "import \"./homelab-lib.npl\""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut files: Vec<(String, String)> = files
        .iter()
        .map(|(path, text)| (path.clone(), drop_api_server(text)))
        .collect();
    let library =
        std::fs::read_to_string(root().join("stdlib/std/homelab.npl")).expect("std/homelab");
    files.push((
        "examples/homelab/homelab-lib.npl".to_string(),
        drop_api_server(&library),
    ));
    Source::files(&files)
}

/// `judge`, not asked about connections to the API server.
fn without_api_server(
    judge: &dyn Fn(&Connection) -> Option<bool>,
    conn: &Connection,
) -> Option<bool> {
    match conn.destination {
        Endpoint::Entity(Entity::KubeApiserver) => None,
        _ => judge(conn),
    }
}

#[test]
fn every_target_enforces_the_table_without_the_api_server() {
    let source = homelab_without_the_api_server();
    let pods = universe();
    let ir = source.ir();
    let api_server = COLUMNS.len() - 1;
    let reference = |conn: &Connection| Some(evaluate(&ir, conn).allowed);
    let (diffs, judged) = differences(&|c| without_api_server(&reference, c));
    assert_eq!(judged, ROWS.len() * api_server);
    assert!(diffs.is_empty(), "evaluator:\n{}", diffs.join("\n"));
    for &build in JUDGES {
        let yaml_text = build_yaml(&source, build, &pods).unwrap_or_else(|e| panic!("{e}"));
        let judge = judge(build, &yaml_text, &pods);
        let (diffs, judged) = differences(&|c| without_api_server(&*judge, c));
        assert_eq!(judged, ROWS.len() * api_server, "{build:?}");
        assert!(diffs.is_empty(), "{build:?}:\n{}", diffs.join("\n"));
    }
}

/// A program every judged target builds, with a known answer, so that each
/// judge is proven to read its target before the example builds there.
#[test]
fn each_judge_reads_its_target() {
    let source = Source::text(
        r#"
zone web { namespace "web" }
zone db { namespace "db"; isolate ingress }
allow web -> db : 5432
allow web -> world : 443
"#,
    );
    let web = pod("web", &[], &[("app", "web")]);
    let db = pod("db", &[], &[("app", "db")]);
    let other = pod("other", &[], &[]);
    let pods = vec![web.clone(), db.clone(), other.clone()];
    let internet = Endpoint::Ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)));
    let cases = [
        (
            Endpoint::Pod(web.clone()),
            Endpoint::Pod(db.clone()),
            5432,
            true,
        ),
        (
            Endpoint::Pod(web.clone()),
            Endpoint::Pod(db.clone()),
            22,
            false,
        ),
        (Endpoint::Pod(other.clone()), Endpoint::Pod(db), 5432, false),
        (Endpoint::Pod(web.clone()), internet.clone(), 443, true),
        (Endpoint::Pod(web), internet.clone(), 80, false),
        (Endpoint::Pod(other), internet, 80, true),
    ];
    for &build in JUDGES {
        let yaml_text = build_yaml(&source, build, &pods).unwrap_or_else(|e| panic!("{e}"));
        let judge = judge(build, &yaml_text, &pods);
        for (source_end, destination, port, allowed) in &cases {
            let conn = Connection {
                source: source_end.clone(),
                destination: destination.clone(),
                transport: tcp(*port),
                request: None,
            };
            assert_eq!(
                judge(&conn),
                Some(*allowed),
                "{build:?}: {}",
                support::describe_connection(&conn)
            );
        }
    }
}

// ------------------------------------------------------------------ alerts

/// The escape-hatch label as kube-state-metrics names it on
/// `kube_namespace_labels`: `label_` and the key with every character
/// outside `[a-zA-Z0-9_]` replaced by `_`.
fn kube_state_metrics_label(key: &str) -> String {
    let sanitized: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("label_{sanitized}")
}

#[test]
fn the_alerts_watch_the_label_std_homelab_reads() {
    let text = std::fs::read_to_string(root().join("examples/homelab/alerts.yaml"))
        .expect("examples/homelab/alerts.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    let rules = doc["spec"]["groups"][0]["rules"]
        .as_sequence()
        .expect("spec.groups[0].rules");
    let alerts: Vec<(&str, &str, &str, &str)> = rules
        .iter()
        .map(|r| {
            (
                r["alert"].as_str().expect("alert"),
                r["for"].as_str().expect("for"),
                r["labels"]["severity"].as_str().expect("severity"),
                r["expr"].as_str().expect("expr"),
            )
        })
        .collect();
    // Seed 000: a warning after 5 minutes, a critical alert after 24 hours.
    let names: Vec<_> = alerts.iter().map(|a| (a.0, a.1, a.2)).collect();
    assert_eq!(
        names,
        [
            ("NetworkPolicyEnforcementDisabled", "5m", "warning"),
            ("NetworkPolicyEnforcementDisabledLong", "24h", "critical"),
        ]
    );
    // The label and value that take a namespace out of std/homelab's
    // isolating zone are the ones the alerts watch.
    let ir = homelab().ir();
    let enforced = ir
        .zones
        .iter()
        .find(|z| z.name == "enforced")
        .expect("std/homelab's zone `enforced`");
    let term = &enforced.pods.terms[0];
    let lifted = term.namespace.constraint(ENFORCEMENT);
    assert!(
        lifted.contains(None)
            && lifted.contains(Some("enabled"))
            && !lifted.contains(Some("disabled"))
    );
    let selector = format!("{}=\"disabled\"", kube_state_metrics_label(ENFORCEMENT));
    assert_eq!(
        selector,
        "label_network_policy_homelab_enforcement=\"disabled\""
    );
    for (name, _, _, expr) in &alerts {
        assert!(
            expr.contains(&format!("kube_namespace_labels{{{selector}}}")),
            "{name}: `{expr}` does not select kube_namespace_labels{{{selector}}}"
        );
    }
}

/// The PrometheusRule schema of `../shared/schemas`, made readable by
/// check-jsonschema: its `partial_response_strategy` pattern `^(?i)(abort|warn)?$`
/// (Go's inline flag) is rejected by the ECMAScript and Python regex
/// engines alike, so it is spelt out case by case. Nothing else changes.
fn prometheus_rule_schema(dir: &Path) -> std::path::PathBuf {
    let shared =
        support::schemas::shared_schemas().join("monitoring.coreos.com/prometheusrule_v1.json");
    let text =
        std::fs::read_to_string(&shared).unwrap_or_else(|e| panic!("{}: {e}", shared.display()));
    let text = text.replace(
        r#""^(?i)(abort|warn)?$""#,
        r#""^([Aa][Bb][Oo][Rr][Tt]|[Ww][Aa][Rr][Nn])?$""#,
    );
    let path = dir.join("prometheusrule_v1.json");
    std::fs::write(&path, text).expect("writing the schema");
    path
}

fn check_jsonschema(schema: &Path, document: &Path) -> (bool, String) {
    let output = Command::new(support::schemas::check_jsonschema())
        .arg("--schemafile")
        .arg(schema)
        .arg(document)
        .output()
        .expect("running check-jsonschema");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn the_alerts_validate_against_the_prometheus_rule_schema() {
    let dir = std::env::temp_dir().join(format!("nplc-homelab-alerts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let schema = prometheus_rule_schema(&dir);
    let alerts = root().join("examples/homelab/alerts.yaml");
    let (ok, said) = check_jsonschema(&schema, &alerts);
    assert!(ok, "examples/homelab/alerts.yaml:\n{said}");
    // The schema is live: a misspelt field and a wrong type fail.
    let text = std::fs::read_to_string(&alerts).expect("alerts.yaml");
    for (what, broken) in [
        ("`for` as a number", text.replacen("for: 5m", "for: 5", 1)),
        ("`groups` misspelt", text.replacen("groups:", "grups:", 1)),
        (
            "a rule without a name",
            text.replacen("- name: network-policy-escape-hatch", "- interval: 1m", 1),
        ),
    ] {
        assert_ne!(broken, text, "{what}: the edit applies");
        let file = dir.join("broken.yaml");
        std::fs::write(&file, &broken).expect("writing");
        let (ok, _) = check_jsonschema(&schema, &file);
        assert!(!ok, "{what}: the schema accepts it");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
