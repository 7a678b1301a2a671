//! One program with one inventory, through every target: build with the
//! real `nplc` (a refusal must be a documented E04xx code with exit 1 and
//! nothing on standard output), read each output with its oracle into one
//! connectivity model, compare each with `nplc matrix`, then the targets
//! with each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nplc_compiler::algebra::fqdn::FqdnPattern;
use nplc_compiler::algebra::ipset::IpSet;
use nplc_compiler::eval::{evaluate, rule_matches, Connection, Endpoint, Transport};
use nplc_compiler::inventory::{self, NamedPod};
use nplc_compiler::ir::{Ir, RuleRole};
use nplc_compiler::syntax::ast::Action;
use serde_json::Value;

use crate::cilium_oracle::Oracle;
use crate::connectivity::{connectivity, Cuts};
use crate::evaluator::Calico;
use crate::nca::{self, compare, Connectivity, Difference};
use crate::support::sources::Source;
use crate::support::yaml_documents;

pub const NPLC: &str = env!("CARGO_BIN_EXE_nplc");

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A target with the flags that change what it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flavour {
    /// `--target kubernetes --namespaces NS` (nca).
    Kubernetes,
    /// `--target calico`, tiered (the tier evaluator).
    Calico,
    /// `--target calico --calico-flat` (nca).
    CalicoFlat,
    /// `--target cilium` (the Cilium oracle).
    Cilium,
    /// `--target istio`, for programs with `via` (the istio checks).
    Istio,
}

impl Flavour {
    pub const ALL: [Flavour; 5] = [
        Flavour::Kubernetes,
        Flavour::Calico,
        Flavour::CalicoFlat,
        Flavour::Cilium,
        Flavour::Istio,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flavour::Kubernetes => "kubernetes",
            Flavour::Calico => "calico",
            Flavour::CalicoFlat => "calico-flat",
            Flavour::Cilium => "cilium",
            Flavour::Istio => "istio",
        }
    }

    fn args(self, namespaces: &Path) -> Vec<String> {
        let target = |t: &str| vec!["--target".to_string(), t.to_string()];
        match self {
            Flavour::Kubernetes => {
                let mut a = target("kubernetes");
                a.extend(["--namespaces".to_string(), namespaces.display().to_string()]);
                a
            }
            Flavour::Calico => target("calico"),
            Flavour::CalicoFlat => {
                let mut a = target("calico");
                a.push("--calico-flat".to_string());
                a
            }
            Flavour::Cilium => target("cilium"),
            Flavour::Istio => target("istio"),
        }
    }

    /// The schema of a document kind below `../shared/schemas`; `None` for
    /// the built-in NetworkPolicy of the kubernetes target
    /// (kubernetes-validate checks it).
    pub fn schema(self, kind: &str) -> Result<Option<&'static str>, String> {
        let schema = match (self, kind) {
            (Flavour::Kubernetes, "NetworkPolicy") => return Ok(None),
            (Flavour::Calico | Flavour::CalicoFlat, "Tier") => "projectcalico.org/tier_v3.json",
            (Flavour::Calico | Flavour::CalicoFlat, "NetworkPolicy") => {
                "projectcalico.org/networkpolicy_v3.json"
            }
            (Flavour::Calico | Flavour::CalicoFlat, "GlobalNetworkPolicy") => {
                "projectcalico.org/globalnetworkpolicy_v3.json"
            }
            (Flavour::Calico | Flavour::CalicoFlat, "NetworkSet") => {
                "projectcalico.org/networkset_v3.json"
            }
            (Flavour::Calico | Flavour::CalicoFlat, "GlobalNetworkSet") => {
                "projectcalico.org/globalnetworkset_v3.json"
            }
            (Flavour::Cilium, "CiliumNetworkPolicy") => "cilium.io/ciliumnetworkpolicy_v2.json",
            (Flavour::Cilium, "CiliumClusterwideNetworkPolicy") => {
                "cilium.io/ciliumclusterwidenetworkpolicy_v2.json"
            }
            (Flavour::Istio, "ServiceEntry") => "networking.istio.io/serviceentry_v1.json",
            (Flavour::Istio, "Gateway") => "networking.istio.io/gateway_v1.json",
            (Flavour::Istio, "DestinationRule") => "networking.istio.io/destinationrule_v1.json",
            (Flavour::Istio, "VirtualService") => "networking.istio.io/virtualservice_v1.json",
            _ => return Err(format!("{} wrote a document of kind {kind}", self.name())),
        };
        Ok(Some(schema))
    }
}

/// A program (a directory of `.npl` files) and an inventory.
pub struct Case {
    /// For messages: the example, or the generated program with its seed.
    pub what: String,
    pub dir: PathBuf,
    /// Where the oracles' inputs are written (not `dir`: an example's
    /// directory stays untouched).
    pub work: PathBuf,
    pub files: Vec<(String, String)>,
    pub namespaces: PathBuf,
    pub pods: PathBuf,
    /// Exact host names of the program's `via` rules, when known.
    pub via_hosts: Vec<String>,
}

impl Case {
    pub fn text(&self) -> String {
        self.files
            .iter()
            .map(|(p, t)| format!("--- {p}\n{t}"))
            .collect()
    }
}

/// What a target made of a program.
#[derive(Debug, Clone)]
pub enum Outcome {
    Built(String),
    Refused(BTreeSet<String>),
}

/// A document to validate: where it came from, its target, kind and text.
pub struct Document {
    pub origin: String,
    pub flavour: Flavour,
    pub kind: String,
    pub text: String,
}

/// What one case gave.
#[derive(Default)]
pub struct Report {
    pub outcomes: BTreeMap<Flavour, Outcome>,
    pub documents: Vec<Document>,
    /// Targets whose connectivity was compared with the matrix.
    pub compared: Vec<Flavour>,
    /// Pairs of targets compared with each other.
    pub cross: usize,
    /// Differences explained by a documented narrowing, per target.
    pub narrowed: BTreeMap<Flavour, usize>,
    pub pod_pairs: usize,
    /// Connections to `via` hosts judged by the Cilium oracle.
    pub via_connections: usize,
    /// Time spent per step (`build`, `matrix`, each oracle).
    pub timings: BTreeMap<&'static str, Duration>,
}

fn documented_codes() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("docs/errors.md")).expect("docs/errors.md");
    text.lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter_map(|l| l.split(':').next())
        .map(str::to_string)
        .collect()
}

/// `nplc ARGS` in the repository: exit code, stdout, stderr.
pub fn nplc(args: &[String]) -> (i32, String, String) {
    let output = Command::new(NPLC)
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(root())
        .output()
        .expect("running nplc");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The error codes of `--format json` diagnostics.
pub fn error_codes(json: &str) -> Result<BTreeSet<String>, String> {
    let diags: Value = serde_json::from_str(json)
        .map_err(|e| format!("diagnostics that are not JSON ({e}):\n{json}"))?;
    Ok(diags
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["severity"] == "error")
        .filter_map(|d| d["code"].as_str().map(str::to_string))
        .collect())
}

/// `nplc build` for one flavour: 0 with YAML, or 1 with documented target
/// codes and nothing on standard output; anything else is a failure.
pub fn build(case: &Case, flavour: Flavour) -> Result<Outcome, String> {
    let mut args: Vec<String> = vec!["build".into()];
    args.extend(flavour.args(&case.namespaces));
    args.extend(["--format", "json", "--color", "never"].map(String::from));
    args.push(case.dir.display().to_string());
    let (code, stdout, stderr) = nplc(&args);
    match code {
        0 => Ok(Outcome::Built(stdout)),
        1 => {
            if !stdout.is_empty() {
                return Err(format!(
                    "nplc {args:?} failed but wrote to standard output:\n{stdout}"
                ));
            }
            let codes = error_codes(&stderr)?;
            let documented = documented_codes();
            if codes.is_empty()
                || !codes
                    .iter()
                    .all(|c| c.starts_with("E04") && documented.contains(c))
            {
                return Err(format!(
                    "{} refused with {codes:?}, not only documented target codes (E04xx):\n{stderr}",
                    flavour.name()
                ));
            }
            Ok(Outcome::Refused(codes))
        }
        other => Err(format!(
            "nplc {args:?} exited {other} (only 0 and 1 are expected):\n{stdout}\n{stderr}"
        )),
    }
}

pub fn read_pods(namespaces: &Path, pods: &Path) -> Result<Vec<NamedPod>, String> {
    let ns_text = std::fs::read_to_string(namespaces).map_err(|e| e.to_string())?;
    let pods_text = std::fs::read_to_string(pods).map_err(|e| e.to_string())?;
    let (ns_name, pods_name) = (namespaces.display().to_string(), pods.display().to_string());
    inventory::load(
        inventory::Source {
            name: &ns_name,
            text: &ns_text,
        },
        inventory::Source {
            name: &pods_name,
            text: &pods_text,
        },
    )
    .map(|i| i.pods)
    .map_err(|e| format!("an inventory nplc reads: {e}"))
}

/// A copy of a namespaces file with the label Calico gives every namespace
/// (`projectcalico.org/name`), through which nca learns namespace names
/// from Calico selectors.
fn with_calico_names(namespaces: &Path, dir: &Path) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(namespaces).map_err(|e| e.to_string())?;
    let mut list: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    for item in list["items"].as_sequence_mut().into_iter().flatten() {
        let name = item["metadata"]["name"].clone();
        if let Some(labels) = item["metadata"]["labels"].as_mapping_mut() {
            labels.insert("projectcalico.org/name".into(), name);
        }
    }
    let path = dir.join("calico-namespaces.yaml");
    std::fs::write(
        &path,
        serde_yaml::to_string(&list).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    Ok(path)
}

/// The connectivity one target's output has on the case's inventory,
/// through its oracle.
fn target_connectivity(
    case: &Case,
    flavour: Flavour,
    yaml: &str,
    pods: &[NamedPod],
    out_dir: &Path,
) -> Result<Connectivity, String> {
    let universe: Vec<_> = pods.iter().map(|p| p.pod.clone()).collect();
    match flavour {
        Flavour::Kubernetes | Flavour::CalicoFlat => {
            let file = out_dir.join(format!("{}.yaml", flavour.name()));
            // nca reads neither Calico's Service match nor `http`: both
            // rewritten to what they mean among what is compared.
            let for_nca = if flavour == Flavour::CalicoFlat {
                nca::calico_for_nca(yaml)?
            } else {
                yaml.to_string()
            };
            std::fs::write(&file, for_nca).map_err(|e| e.to_string())?;
            let namespaces = if flavour == Flavour::CalicoFlat {
                with_calico_names(&case.namespaces, out_dir)?
            } else {
                case.namespaces.clone()
            };
            nca::nca_connectivity(&file, &namespaces, &case.pods)
        }
        Flavour::Calico => {
            let calico = Calico::load(yaml, &universe).map_err(|problems| {
                format!(
                    "the tier evaluator refuses the calico output:\n  {}",
                    problems.join("\n  ")
                )
            })?;
            let problems = std::sync::Mutex::new(Vec::new());
            let ask = |conn: &Connection| match calico.verdicts(conn) {
                Some(verdicts) => {
                    let allowed = verdicts.iter().all(|v| v.allowed());
                    if verdicts.iter().any(|v| v.allowed() != allowed) {
                        if let Ok(mut p) = problems.lock() {
                            p.push(format!(
                                "answers differ by address family or ICMP type: {conn:?}"
                            ));
                        }
                    }
                    allowed
                }
                None => {
                    if let Ok(mut p) = problems.lock() {
                        p.push(format!("the tier evaluator cannot place {conn:?}"));
                    }
                    false
                }
            };
            let mut cuts = Cuts::of_yaml(yaml);
            cuts.ports.extend(calico.port_cuts());
            cuts.addresses[0].extend(calico.address_cuts(false));
            cuts.addresses[1].extend(calico.address_cuts(true));
            let seen = connectivity(&ask, pods, &cuts);
            let problems = problems.into_inner().unwrap_or_default();
            match problems.first() {
                Some(first) => Err(format!(
                    "{} problem(s) judging the calico output, the first: {first}",
                    problems.len()
                )),
                None => Ok(seen),
            }
        }
        Flavour::Cilium => {
            let oracle = Oracle::load(yaml, &universe).map_err(|problems| {
                format!(
                    "the Cilium oracle refuses the cilium output:\n  {}",
                    problems.join("\n  ")
                )
            })?;
            Ok(connectivity(
                &|conn: &Connection| oracle.allows(conn),
                pods,
                &Cuts::of_yaml(yaml),
            ))
        }
        Flavour::Istio => Err("istio has no network connectivity".to_string()),
    }
}

/// Cilium's documented narrowing that shows in a connectivity: a named port
/// of an egress rule towards pods not isolated for ingress is not written
/// (Cilium resolves egress named ports cluster-wide), see tests/cilium.rs.
/// The cilium side (`left`) must be within the matrix (`right`), and every
/// port missing from it a container port of the destination that the
/// allowing rules name, and only name.
fn egress_named_port(ir: &Ir, pods: &[NamedPod], d: &Difference) -> bool {
    let find = |name: &str| pods.iter().find(|p| p.qualified_name() == name);
    let (Some(src), Some(dst)) = (find(&d.source), find(&d.destination)) else {
        return false;
    };
    if d.left.icmp != d.right.icmp {
        return false;
    }
    let isolated = ir
        .isolated_ingress()
        .matches(&dst.pod.effective_namespace_labels(), &dst.pod.labels);
    if isolated {
        return false;
    }
    let contains =
        |ranges: &[(u32, u32)], n: u32| ranges.iter().any(|&(lo, hi)| lo <= n && n <= hi);
    for (i, protocol) in nplc_compiler::algebra::ports::Protocol::ALL
        .into_iter()
        .enumerate()
    {
        // Cilium allows nothing the program does not.
        let within =
            |&(lo, hi): &(u32, u32)| d.right.ports[i].iter().any(|&(a, b)| a <= lo && hi <= b);
        if !d.left.ports[i].iter().all(within) {
            return false;
        }
        for n in d.right.ports[i].iter().flat_map(|&(lo, hi)| lo..=hi) {
            if contains(&d.left.ports[i], n) {
                continue;
            }
            let Some(name) = dst
                .pod
                .ports
                .iter()
                .find(|p| p.protocol == protocol && u32::from(p.number) == n)
                .map(|p| p.name.clone())
            else {
                return false;
            };
            let conn = Connection {
                source: Endpoint::Pod(src.pod.clone()),
                destination: Endpoint::Pod(dst.pod.clone()),
                transport: Transport::Port(protocol, n as u16),
                request: None,
            };
            let by_name_only = ir
                .rules()
                .filter(|r| r.action == Action::Allow && rule_matches(r, &conn))
                .all(|r| {
                    r.ports().named_ports().contains(&(protocol, name.clone()))
                        && !r.ports().ranges(protocol).contains(n as u16)
                });
            if !by_name_only {
                return false;
            }
        }
    }
    true
}

/// The host side of `via`, which no matrix has: every pod of the inventory
/// to every `via` host on the ports `via` rules use, judged by the Cilium
/// oracle on the cilium output as by the evaluator (so the direct path is
/// closed exactly when the program closes it, and the gateway's way out
/// open). The one difference accepted is Cilium's documented narrowing of
/// "every name" with only some addresses, enforced by address (see
/// tests/cilium.rs): the oracle denies, and every allow that matches lets
/// every name through but not every address.
fn via_hosts_through_cilium(
    hosts: &[String],
    ir: &Ir,
    yaml: &str,
    pods: &[NamedPod],
) -> Result<usize, String> {
    let mut judged = 0;
    let universe: Vec<_> = pods.iter().map(|p| p.pod.clone()).collect();
    let oracle = Oracle::load(yaml, &universe)
        .map_err(|problems| format!("the Cilium oracle refuses: {}", problems.join("; ")))?;
    let protocol = nplc_compiler::algebra::ports::Protocol::Tcp;
    for p in pods {
        for host in hosts {
            for port in [80, 443] {
                let conn = Connection {
                    source: Endpoint::Pod(p.pod.clone()),
                    destination: Endpoint::Fqdn(host.clone()),
                    transport: Transport::Port(protocol, port),
                    request: None,
                };
                judged += 1;
                let expected = evaluate(ir, &conn).allowed;
                let seen = oracle.allows(&conn);
                if seen == expected {
                    continue;
                }
                let narrowed = expected
                    && ir
                        .rules()
                        .filter(|r| r.action == Action::Allow && rule_matches(r, &conn))
                        .all(|r| r.destination.fqdns.is_all() && r.destination.ips != IpSet::all());
                if !narrowed {
                    return Err(format!(
                        "{} -> {host}:{port}: the evaluator says {}, the Cilium oracle {:?}",
                        p.qualified_name(),
                        if expected { "allowed" } else { "denied" },
                        oracle.verdict(&conn)
                    ));
                }
            }
        }
    }
    Ok(judged)
}

fn show(differences: &[Difference], left: &str, right: &str) -> String {
    differences
        .iter()
        .take(12)
        .map(|d| d.render(left, right))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs one case end to end on `flavours` (istio only when the program has
/// `via`); `Err` is a readable report naming the case.
pub fn run(case: &Case, flavours: &[Flavour]) -> Result<Report, String> {
    let fail = |e: String| format!("{}: {e}\n{}", case.what, case.text());
    let mut report = Report::default();
    let source = Source::files(&case.files);
    let ir = source.lower().ok_or_else(|| {
        fail(format!(
            "the program has errors:\n{}",
            source.render(nplc_compiler::lint::diagnostics(&source.db, source.program))
        ))
    })?;
    let pods = read_pods(&case.namespaces, &case.pods).map_err(&fail)?;
    // What the kubernetes build reads of the cluster (the program's
    // nplc.toml: pod and Service ranges, the API server's endpoints). Only
    // it reads them, so its view and the matrix's are made comparable
    // (`nca::with_cluster`), and no view is compared with another at those
    // addresses: the ranges hold no endpoint outside the pod network, and
    // the endpoints are `kube-apiserver` there, `world` on the other targets.
    let cluster = nca::ClusterInventory::configured(&case.dir).map_err(&fail)?;
    let cluster_cuts = cluster.cuts().map_err(&fail)?;
    // The exact hosts of `via` rules whose source selects some pod: istio
    // must route them. A `via` from no pod has no mesh side.
    let mut routed_hosts = Vec::new();
    for rule in ir.rules().filter(|r| r.role == RuleRole::FromGateway) {
        let has_sources = ir.rules().any(|to| {
            to.role == RuleRole::ToGateway && to.span == rule.span && !to.source.pods.is_empty()
        });
        for pattern in rule.destination.fqdns.patterns() {
            if let (true, FqdnPattern::Name(name)) = (has_sources, pattern) {
                routed_hosts.push(name.clone());
            }
        }
    }
    routed_hosts.sort();
    routed_hosts.dedup();
    // Every `via` host, the generator's too, for the Cilium oracle.
    let mut via_hosts = case.via_hosts.clone();
    via_hosts.extend(routed_hosts.iter().cloned());
    via_hosts.sort();
    via_hosts.dedup();
    report.pod_pairs = pods.len() * pods.len().saturating_sub(1);
    let started = Instant::now();
    let matrix = nca::matrix_connectivity(
        Path::new(NPLC),
        std::slice::from_ref(&case.dir),
        &case.namespaces,
        &case.pods,
    )
    .map_err(&fail)?;
    report.timings.insert("matrix", started.elapsed());
    let out_dir = case.work.clone();
    std::fs::create_dir_all(&out_dir).map_err(|e| fail(e.to_string()))?;
    let mut seen: BTreeMap<Flavour, Connectivity> = BTreeMap::new();
    let mut narrowed_pairs: BTreeMap<Flavour, BTreeSet<(String, String)>> = BTreeMap::new();
    // Istio only routes `via`: a program without it gives no resources.
    let has_via = ir.rules().any(|r| r.role == RuleRole::ToGateway);
    for &flavour in flavours {
        if flavour == Flavour::Istio && !has_via {
            continue;
        }
        let started = Instant::now();
        let outcome = build(case, flavour).map_err(&fail)?;
        *report.timings.entry("build").or_default() += started.elapsed();
        report.outcomes.insert(flavour, outcome.clone());
        let Outcome::Built(yaml) = outcome else {
            continue;
        };
        for text in yaml_documents(&yaml) {
            let kind = serde_yaml::from_str::<serde_yaml::Value>(&text)
                .ok()
                .and_then(|v| v["kind"].as_str().map(str::to_string))
                .unwrap_or_default();
            report.documents.push(Document {
                origin: case.what.clone(),
                flavour,
                kind,
                text,
            });
        }
        if flavour == Flavour::Istio {
            crate::istio_checks::check(&yaml, &routed_hosts).map_err(&fail)?;
            continue;
        }
        if flavour == Flavour::Cilium && !via_hosts.is_empty() {
            report.via_connections += via_hosts_through_cilium(&via_hosts, &ir, &yaml, &pods)
                .map_err(|e| fail(format!("cilium: {e}\n--- emitted ---\n{yaml}")))?;
        }
        let started = Instant::now();
        let mine = target_connectivity(case, flavour, &yaml, &pods, &out_dir)
            .map_err(|e| fail(format!("{}: {e}\n--- emitted ---\n{yaml}", flavour.name())))?;
        report.timings.insert(flavour.name(), started.elapsed());
        let mapped;
        let (mine, against) = if flavour == Flavour::Kubernetes && !cluster.is_empty() {
            let (mine, matrix) =
                nca::with_cluster(&cluster, &ir, &pods, mine, matrix.clone()).map_err(&fail)?;
            mapped = matrix;
            (mine, &mapped)
        } else {
            (mine, &matrix)
        };
        let mut unexplained = Vec::new();
        for d in compare(&mine, against) {
            if flavour == Flavour::Cilium && egress_named_port(&ir, &pods, &d) {
                narrowed_pairs
                    .entry(flavour)
                    .or_default()
                    .insert((d.source.clone(), d.destination.clone()));
                *report.narrowed.entry(flavour).or_default() += 1;
            } else {
                unexplained.push(d);
            }
        }
        if !unexplained.is_empty() {
            return Err(fail(format!(
                "the {} output (through its oracle) and nplc matrix disagree on {} pair(s):\n{}\n\
                 --- emitted ---\n{yaml}",
                flavour.name(),
                unexplained.len(),
                show(&unexplained, flavour.name(), "nplc matrix")
            )));
        }
        report.compared.push(flavour);
        let mine = if cluster_cuts.is_empty() {
            mine
        } else {
            mine.without_addresses(&cluster_cuts)
        };
        seen.insert(flavour, mine);
    }
    // One program, one matrix: the targets agree with each other, up to the
    // pairs a documented narrowing explains.
    let built: Vec<&Flavour> = seen.keys().collect();
    for (i, a) in built.iter().enumerate() {
        for b in &built[i + 1..] {
            let explained = |d: &Difference| {
                let key = (d.source.clone(), d.destination.clone());
                [a, b]
                    .iter()
                    .any(|f| narrowed_pairs.get(f).is_some_and(|s| s.contains(&key)))
            };
            let differences: Vec<Difference> = compare(&seen[a], &seen[b])
                .into_iter()
                .filter(|d| !explained(d))
                .collect();
            if !differences.is_empty() {
                return Err(fail(format!(
                    "the {} and {} outputs disagree on {} pair(s):\n{}",
                    a.name(),
                    b.name(),
                    differences.len(),
                    show(&differences, a.name(), b.name())
                )));
            }
            report.cross += 1;
        }
    }
    Ok(report)
}
