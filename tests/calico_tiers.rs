//! `--target calico`, tiered output, proved to mean what the program means.
//!
//! A test-side evaluator of Calico's policy semantics (`calico_tiers/`)
//! reads the emitted projectcalico.org/v3 YAML into its own model and
//! computes the connectivity of an inventory; it must equal `nplc matrix`
//! (the reference evaluator) on the same inventory, compared the way
//! `tests/kubernetes.rs` compares nca with it (`tests/nca`): every pair of
//! pods on every TCP/UDP/SCTP port and ICMP, and every pod to and from every
//! IPv4 and IPv6 address. Programs: every example the calico target builds
//! (with its inventory in `tests/nca/inventories/`), the hand-written cases
//! of `tests/nca/cases/`, the tier cases below, and generated programs with
//! generated inventories (`tests/support`). A difference prints the program,
//! the pair, both connectivities and, for one connection in the difference,
//! the deciding Calico tier/policy/rule on each side and the evaluator's
//! decision. The comparison itself is checked: a hand-written translation
//! passes and wrong ones fail, mistakes planted in the emitted
//! `calico-tiers` example are caught, and no policies at all read as no
//! isolation on generated inventories. The evaluator's own rules are unit
//! tested on small YAML (`calico_tiers/unit.rs`).
//!
//! `NPLC_CALICO_TIERS_PROGRAMS` and `NPLC_CALICO_TIERS_SEED` draw more or
//! other generated programs.
//!
//! # The Calico rules modelled (each cited in `calico_tiers/evaluator.rs`)
//!
//! - Tiers by `order` (a missing order last, ties by name); the `default`
//!   tier always exists, at order 1,000,000 (Calico ≥ 3.28) — after every
//!   tier of a smaller order. A tier is skipped for an endpoint when none of
//!   its policies applies to it.
//! - A policy applies to a pod when its `types` include the direction (or,
//!   without `types`, it has rules of that direction; ingress when it has
//!   none), its `selector` matches the pod's labels plus
//!   `projectcalico.org/namespace` and `projectcalico.org/orchestrator`, a
//!   NetworkPolicy is in the pod's namespace, and a GlobalNetworkPolicy's
//!   `namespaceSelector` matches the namespace's labels plus
//!   `projectcalico.org/name`.
//! - Policies of a tier by `order` (missing last), then name; the first
//!   matching rule decides: Allow, Deny, Pass (on to the next tier), Log
//!   (goes on). A tier that applies but matches nothing ends with its
//!   `defaultAction` (Deny when absent; Pass goes on). After the tiers —
//!   none applied, or the last one passed — the namespace profile allows.
//! - Egress is decided at a pod source, ingress at a pod destination; an end
//!   that is not a pod has no policy. A connection is allowed when both are.
//! - Rules: `protocol`, `notProtocol` (names or numbers), `ipVersion`,
//!   `icmp`/`notICMP` type and code, and per side `nets`, `notNets`,
//!   `selector`, `notSelector`, `namespaceSelector` (a NetworkPolicy rule
//!   without one sees its own namespace, even with only a `notSelector`; a
//!   GlobalNetworkPolicy rule every namespace and the non-namespaced
//!   resources; `global()` the non-namespaced ones; `notSelector` itself is
//!   unscoped, as libcalico-go combines them), destination `ports`/`notPorts` (numbers, `"a:b"`,
//!   named ports resolved on the destination pod's container ports, per
//!   protocol), and `http` (methods, exact or prefix paths) on ingress Allow
//!   rules.
//! - `services` (a Service match), alone in its entity rule and without
//!   destination ports, as Calico validates it: the model's only Service
//!   with endpoints is `default/kubernetes`, the API server, serving TCP
//!   6443 at an address no `nets` of nplc's output holds (nplc's addresses
//!   are outside the cluster; the API server is the `kube-apiserver`
//!   entity). Connections between every pod and the API server are judged
//!   by the emitted policies and the evaluator alike (`prove`).
//! - Selectors: the full language (`==`, `!=`, `in`, `not in`, `has`, `!`,
//!   `&&`, `||`, parentheses, `all()`, `global()`, `contains`, `starts
//!   with`, `ends with`, either quote); `!=` and `not in` match resources
//!   without the label, as Calico's selector evaluator does.
//! - Selectors match packets by address: a pod's own address, and every
//!   NetworkSet / GlobalNetworkSet whose `nets` contain the address. Pods
//!   have addresses (IPv4 in 10.244.0.0/16, IPv6 in fc00:10:244::/64), so
//!   `nets` such as 0.0.0.0/0 match pods too, as they do in Calico; a pod
//!   pair is asked over both families and must get one answer; ICMP is asked
//!   for three types.
//!
//! # Deliberately not modelled
//!
//! Host endpoints, `host`/`kube-apiserver`/`health` peers and FQDNs (their
//! connections are not asked), service accounts and `services` matches,
//! source ports, `doNotTrack`/`preDNAT`/`applyOnForward`, Calico
//! Enterprise's `domains`, staged policies (read and set aside: they do not
//! enforce), the admin network policy tiers, and connection tracking (a
//! reply is not a new connection). The evaluator refuses a document that
//! uses what it does not model, so nothing passes by being ignored.
//!
//! A missing tool fails loudly; nothing here skips.

mod nca;
mod support;

#[path = "calico_tiers/evaluator.rs"]
mod evaluator;
#[path = "calico_tiers/selector.rs"]
mod selector;
#[path = "calico_tiers/unit.rs"]
mod unit;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::diagnostic::Span;
use nplc_compiler::emit::{yaml, Target};
use nplc_compiler::eval::{evaluate, Connection, Decision, Endpoint, Transport};
use nplc_compiler::inventory::{self, NamedPod};
use nplc_compiler::ir::Ir;
use nplc_compiler::{ir, render, Diagnostic};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use evaluator::Calico;
use nca::{compare, root, Connectivity, Conns, Family, IcmpProbes, IpRange};
use support::inventory::inventory_strategy;
use support::program::program_strategy;
use support::{sources, GenConfig};

const NPLC: &str = env!("CARGO_BIN_EXE_nplc");

/// The calico target, looked up by name so that this file does not depend
/// on the variant's spelling.
fn calico_target() -> Target {
    Target::ALL
        .into_iter()
        .find(|t| t.as_str() == "calico")
        .unwrap_or_else(|| {
            panic!(
                "nplc_compiler::emit::Target has no `calico` target: these tests prove its tiered output"
            )
        })
}

// ------------------------------------------------------------------ building

/// A program read from disk into a fresh database (the shared
/// `support::sources::Source`), with what `nplc matrix` is given.
struct Source {
    built: sources::Source,
    /// What `nplc matrix` is given: the files or the directory.
    paths: Vec<PathBuf>,
    /// Every file, headed by its path, for failure messages.
    text: String,
}

impl Source {
    fn load(paths: &[PathBuf]) -> Source {
        let mut files = Vec::new();
        for path in paths {
            if path.is_dir() {
                collect_npl(path, &mut files);
            } else {
                files.push(path.clone());
            }
        }
        files.sort();
        let prefix = format!("{}/", root().display());
        let mut text = String::new();
        let mut contents = Vec::new();
        for f in &files {
            let body = std::fs::read_to_string(f).expect("a program file");
            let shown = f.to_string_lossy();
            let shown = shown.strip_prefix(&prefix).unwrap_or(&shown).to_string();
            text.push_str(&format!("--- {shown}\n{body}"));
            contents.push((shown, body));
        }
        Source {
            built: sources::Source::files(&contents),
            paths: paths.to_vec(),
            text,
        }
    }

    fn build(&self) -> Result<String, Vec<Diagnostic>> {
        self.built
            .build(calico_target())
            .map(|resources| yaml::stream(&resources))
    }

    /// The IR, with the text of every rule for explanations.
    fn reference(&self) -> Option<Reference> {
        let db = &self.built.db;
        let ir = ir::lower(db, self.built.program).clone()?;
        let rule_texts = ir
            .rules()
            .map(|r| {
                let text = r.span.file.text(db);
                let slice = text
                    .get(r.span.start as usize..r.span.end as usize)
                    .unwrap_or_default();
                (
                    r.span,
                    slice.split_whitespace().collect::<Vec<_>>().join(" "),
                )
            })
            .collect();
        Some(Reference { ir, rule_texts })
    }

    fn render(&self, diags: &[Diagnostic]) -> String {
        render::human(&self.built.db, diags, false)
    }
}

/// What the reference evaluator needs to judge and explain a connection.
struct Reference {
    ir: Ir,
    rule_texts: Vec<(Span, String)>,
}

impl Reference {
    fn judge(&self, conn: &Connection) -> String {
        let v = evaluate(&self.ir, conn);
        let verdict = if v.allowed { "allowed" } else { "denied" };
        match v.decision {
            Decision::Tier { tier, rules } => {
                let texts: Vec<String> = rules
                    .iter()
                    .map(|span| {
                        self.rule_texts
                            .iter()
                            .find(|(s, _)| s == span)
                            .map_or("?".to_string(), |(_, t)| format!("`{t}`"))
                    })
                    .collect();
                format!("{verdict} by tier {tier}: {}", texts.join(", "))
            }
            Decision::Isolation {
                source_zones,
                destination_zones,
            } => format!(
                "{verdict} by the isolation defaults (source isolated for egress by {source_zones:?}, \
                 destination isolated for ingress by {destination_zones:?})"
            ),
        }
    }
}

fn collect_npl(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_npl(&path, out);
        } else if path.extension().is_some_and(|e| e == "npl") {
            out.push(path);
        }
    }
}

fn error_codes(diags: &[Diagnostic]) -> BTreeSet<&'static str> {
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect()
}

/// A target error (E04xx) is a documented refusal; any other error is not.
fn is_target_rejection(diags: &[Diagnostic]) -> bool {
    let codes = error_codes(diags);
    !codes.is_empty() && codes.iter().all(|c| c.starts_with("E04"))
}

// ------------------------------------------------------------------ the evaluator's connectivity

/// Where a verdict can change on a protocol: the ends of every port range
/// of the emitted rules and the destination's container ports.
fn port_cuts(calico: &Calico, protocol: Protocol, destination: Option<&NamedPod>) -> Vec<u32> {
    let mut cuts = calico.port_cuts();
    if let Some(d) = destination {
        for p in d.pod.ports.iter().filter(|p| p.protocol == protocol) {
            cuts.push(u32::from(p.number));
            cuts.push(u32::from(p.number) + 1);
        }
    }
    cuts.push(1);
    cuts.push(65536);
    cuts.retain(|c| (1..=65536).contains(c));
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// What the evaluator found that is not a plain difference of connectivity.
type Problems = Mutex<Vec<String>>;

/// The connections from `source` to `destination` the emitted policies
/// allow: one question per elementary port interval, and ICMP. A question
/// whose probes (families, ICMP types) disagree is a problem of its own.
fn allowed_conns(
    calico: &Calico,
    source: &Endpoint,
    destination: &Endpoint,
    destination_pod: Option<&NamedPod>,
    problems: &Problems,
) -> Conns {
    let mut conns = Conns::default();
    let ask = |transport: Transport| -> bool {
        let conn = Connection {
            source: source.clone(),
            destination: destination.clone(),
            transport,
            request: None,
        };
        let Some(verdicts) = calico.verdicts(&conn) else {
            problems
                .lock()
                .expect("lock")
                .push(format!("the evaluator cannot place {conn:?}"));
            return false;
        };
        let allowed = verdicts.iter().all(evaluator::Verdict::allowed);
        if verdicts.iter().any(|v| v.allowed() != allowed) {
            let shown: Vec<String> = verdicts.iter().map(|v| format!("  {v}")).collect();
            problems.lock().expect("lock").push(format!(
                "one connection, different answers by address family or ICMP type:\n{}\n{}",
                support::describe_connection(&conn),
                shown.join("\n")
            ));
        }
        allowed
    };
    for (i, protocol) in Protocol::ALL.into_iter().enumerate() {
        let cuts = port_cuts(calico, protocol, destination_pod);
        for w in cuts.windows(2) {
            let (lo, hi) = (w[0], w[1] - 1);
            if ask(Transport::Port(protocol, lo as u16)) {
                conns.ports[i].push((lo, hi));
            }
        }
        // Adjacent intervals merge: `Conns` keeps ranges merged.
        conns = conns.union(&Conns::default());
    }
    conns.icmp = IcmpProbes::from_fn(|m| ask(Transport::Icmp(m)));
    conns
}

fn family_max(family: Family) -> u128 {
    match family {
        Family::V4 => u128::from(u32::MAX),
        Family::V6 => u128::MAX,
    }
}

fn address(family: Family, n: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4((n as u32).into()),
        Family::V6 => IpAddr::V6(n.into()),
    }
}

/// The whole connectivity of an inventory under the emitted policies, in
/// the model `nplc matrix` is parsed into.
fn calico_connectivity(calico: &Calico, pods: &[NamedPod], problems: &Problems) -> Connectivity {
    let mut out = Connectivity::default();
    for s in pods {
        for d in pods {
            if s == d {
                continue;
            }
            let conns = allowed_conns(
                calico,
                &Endpoint::Pod(s.pod.clone()),
                &Endpoint::Pod(d.pod.clone()),
                Some(d),
                problems,
            );
            if !conns.is_empty() {
                out.pods
                    .insert((s.qualified_name(), d.qualified_name()), conns);
            }
        }
    }
    for p in pods {
        let local = Endpoint::Pod(p.pod.clone());
        for egress in [true, false] {
            let mut list = Vec::new();
            for family in [Family::V4, Family::V6] {
                let max = family_max(family);
                let mut starts = calico.address_cuts(family == Family::V6);
                starts.push(0);
                starts.retain(|s| *s <= max);
                starts.sort_unstable();
                starts.dedup();
                for (i, &lo) in starts.iter().enumerate() {
                    let hi = starts.get(i + 1).map_or(max, |next| next - 1);
                    let remote = Endpoint::Ip(address(family, lo));
                    let conns = if egress {
                        allowed_conns(calico, &local, &remote, None, problems)
                    } else {
                        allowed_conns(calico, &remote, &local, Some(p), problems)
                    };
                    if !conns.is_empty() {
                        list.push((IpRange { family, lo, hi }, conns));
                    }
                }
            }
            if !list.is_empty() {
                out.addresses.insert((p.qualified_name(), egress), list);
            }
        }
    }
    out
}

// ------------------------------------------------------------------ explaining a difference

/// One transport in exactly one of two connection sets.
fn first_difference(left: &Conns, right: &Conns) -> Option<Transport> {
    for (i, protocol) in Protocol::ALL.into_iter().enumerate() {
        let contains =
            |ranges: &[(u32, u32)], n: u32| ranges.iter().any(|&(lo, hi)| lo <= n && n <= hi);
        let mut candidates: Vec<u32> = Vec::new();
        for &(lo, hi) in left.ports[i].iter().chain(&right.ports[i]) {
            candidates.extend([lo, hi, hi + 1]);
        }
        for n in candidates.into_iter().filter(|n| (1..=65535).contains(n)) {
            if contains(&left.ports[i], n) != contains(&right.ports[i], n) {
                return Some(Transport::Port(protocol, n as u16));
            }
        }
    }
    left.icmp.first_difference(right.icmp).map(Transport::Icmp)
}

/// One connection of a difference, with what Calico (the model) and the
/// evaluator each say about it and why.
fn explain(
    diff: &nca::Difference,
    pods: &[NamedPod],
    calico: &Calico,
    reference: Option<&Reference>,
) -> String {
    let end = |text: &str| -> Option<Endpoint> {
        if let Some(p) = pods.iter().find(|p| p.qualified_name() == text) {
            return Some(Endpoint::Pod(p.pod.clone()));
        }
        let range = nca::parse_ip_range(text.split(',').next()?)?;
        Some(Endpoint::Ip(address(range.family, range.lo)))
    };
    let (Some(source), Some(destination), Some(transport)) = (
        end(&diff.source),
        end(&diff.destination),
        first_difference(&diff.left, &diff.right),
    ) else {
        return "      (no single connection to show)".to_string();
    };
    let conn = Connection {
        source,
        destination,
        transport,
        request: None,
    };
    let calico_says = match calico.verdicts(&conn) {
        Some(verdicts) => verdicts
            .iter()
            .map(|v| format!("      calico: {v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        None => "      calico: (not placed)".to_string(),
    };
    let evaluator_says = reference.map_or(String::new(), |r| {
        format!("      evaluator: {}", r.judge(&conn))
    });
    format!(
        "    for example {:?}:\n{calico_says}\n{evaluator_says}",
        conn.transport
    )
}

// ------------------------------------------------------------------ proving

#[derive(Default)]
struct Compared {
    pod_pairs: usize,
    allowed_pod_pairs: usize,
    address_lines: usize,
}

/// Compares the evaluator on the emitted YAML with `nplc matrix` on one
/// inventory; `Err` is the readable report of every difference.
fn prove(
    what: &str,
    source_text: &str,
    paths: &[PathBuf],
    yaml_text: &str,
    reference: Option<&Reference>,
    namespaces: &Path,
    pods_file: &Path,
) -> Result<Compared, String> {
    let pods = read_pods(namespaces, pods_file);
    let universe: Vec<_> = pods.iter().map(|p| p.pod.clone()).collect();
    let calico = Calico::load(yaml_text, &universe).map_err(|problems| {
        format!(
            "{what}: the evaluator refuses the emitted policies:\n  {}\n{source_text}\n--- emitted ---\n{yaml_text}",
            problems.join("\n  ")
        )
    })?;
    let problems: Problems = Mutex::new(Vec::new());
    let mine = calico_connectivity(&calico, &pods, &problems);
    let matrix = nca::matrix_connectivity(Path::new(NPLC), paths, namespaces, pods_file)?;
    let differences = compare(&mine, &matrix);
    let problems = problems.into_inner().expect("lock");
    if let Some(reference) = reference {
        let api = api_server_differences(&calico, &pods, &reference.ir);
        if !api.is_empty() {
            return Err(format!(
                "{what}: the emitted Calico policies and the evaluator disagree on {} connection(s) with the API server:\n  {}\n{source_text}\n--- emitted ---\n{yaml_text}",
                api.len(),
                api.iter().take(12).cloned().collect::<Vec<_>>().join("\n  ")
            ));
        }
    }
    if !differences.is_empty() || !problems.is_empty() {
        let shown: Vec<String> = differences
            .iter()
            .take(12)
            .map(|d| {
                format!(
                    "{}\n{}",
                    d.render("calico (emitted YAML)", "nplc matrix (evaluator)"),
                    explain(d, &pods, &calico, reference)
                )
            })
            .collect();
        let problems: Vec<&String> = problems.iter().take(5).collect();
        return Err(format!(
            "{what}: the emitted Calico policies and the evaluator disagree on {} pair(s){}:\n{}\n{}\n\
             {source_text}\n--- inventory: {} {}\n--- emitted ---\n{yaml_text}",
            differences.len(),
            if problems.is_empty() {
                String::new()
            } else {
                format!(", and {} connection(s) depend on the address family or ICMP type", problems.len())
            },
            shown.join("\n"),
            problems.iter().map(|p| p.as_str()).collect::<Vec<_>>().join("\n"),
            namespaces.display(),
            pods_file.display()
        ));
    }
    Ok(Compared {
        pod_pairs: pods.len() * pods.len().saturating_sub(1),
        allowed_pod_pairs: matrix.pods.len(),
        address_lines: matrix.addresses.values().map(Vec::len).sum(),
    })
}

/// Connections with the API server, which Calico matches as Service
/// `default/kubernetes`: every pod to it on the port it serves (the model's
/// endpoint, [`evaluator::API_SERVER_PORT`]; nothing listens on the others),
/// and it to every pod on a few ports, judged by the emitted policies and by
/// the evaluator. The differences, described.
fn api_server_differences(calico: &Calico, pods: &[NamedPod], ir: &Ir) -> Vec<String> {
    let api = Endpoint::Entity(nplc_compiler::names::Entity::KubeApiserver);
    let mut asked: Vec<Connection> = Vec::new();
    for pod in pods {
        let pod = Endpoint::Pod(pod.pod.clone());
        asked.push(Connection {
            source: pod.clone(),
            destination: api.clone(),
            transport: Transport::Port(Protocol::Tcp, evaluator::API_SERVER_PORT),
            request: None,
        });
        let mut transports: Vec<Transport> = [443, 6443, 8080, 9090, 10250]
            .into_iter()
            .map(|p| Transport::Port(Protocol::Tcp, p))
            .collect();
        transports.extend([
            Transport::Port(Protocol::Udp, 53),
            Transport::Icmp(nplc_compiler::algebra::icmp::IcmpMessage::PING),
        ]);
        for transport in transports {
            asked.push(Connection {
                source: api.clone(),
                destination: pod.clone(),
                transport,
                request: None,
            });
        }
    }
    let mut out = Vec::new();
    for conn in asked {
        let expected = evaluate(ir, &conn).allowed;
        let verdicts = calico.verdicts(&conn).unwrap_or_default();
        let got = !verdicts.is_empty() && verdicts.iter().all(evaluator::Verdict::allowed);
        if got != expected {
            let shown: Vec<String> = verdicts.iter().map(|v| format!("{v}")).collect();
            out.push(format!(
                "{}: calico {}, evaluator {} ({})",
                support::describe_connection(&conn),
                if got { "allows" } else { "denies" },
                if expected { "allows" } else { "denies" },
                shown.join("; ")
            ));
        }
    }
    out
}

fn read_pods(namespaces: &Path, pods: &Path) -> Vec<NamedPod> {
    let ns_text = std::fs::read_to_string(namespaces).expect("a namespaces file");
    let pods_text = std::fs::read_to_string(pods).expect("a pods file");
    let ns_name = namespaces.display().to_string();
    let pods_name = pods.display().to_string();
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
    .unwrap_or_else(|e| panic!("an inventory nplc matrix reads: {e}"))
    .pods
}

fn inventory_dir(name: &str) -> PathBuf {
    root().join("tests/nca/inventories").join(name)
}

// ------------------------------------------------------------------ examples and cases

#[test]
fn examples_mean_what_the_program_means() {
    let started = Instant::now();
    let mut compared = Vec::new();
    let mut rejected = Vec::new();
    let dir = root().join("examples");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut failures = Vec::new();
    for path in entries {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let inv = inventory_dir(&name);
        assert!(
            inv.join("namespaces.yaml").is_file(),
            "example `{name}` has no inventory in {}",
            inv.display()
        );
        let source = Source::load(std::slice::from_ref(&path));
        match source.build() {
            Ok(yaml_text) => {
                let reference = source.reference();
                match prove(
                    &format!("example {name}"),
                    &source.text,
                    &source.paths,
                    &yaml_text,
                    reference.as_ref(),
                    &inv.join("namespaces.yaml"),
                    &inv.join("pods.yaml"),
                ) {
                    Ok(_) => compared.push(name),
                    Err(e) => failures.push(e),
                }
            }
            Err(diags) => {
                assert!(
                    is_target_rejection(&diags),
                    "example `{name}` fails with errors that are not target errors:\n{}",
                    source.render(&diags)
                );
                rejected.push(format!("{name} {:?}", error_codes(&diags)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!(
        "examples ({:.1?}): compared {compared:?}; rejected by the target {rejected:?}",
        started.elapsed()
    );
    assert!(
        compared.iter().any(|n| n == "calico-tiers"),
        "examples/calico-tiers, written for Calico, must build for calico"
    );
}

/// Tier semantics the cases of `tests/nca/cases` do not stress: (name,
/// program), all on the `lab` inventory.
const TIER_CASES: &[(&str, &str)] = &[
    (
        "earlier-allow-beats-later-deny",
        r#"
zone shop { namespace "shop" }
zone payments { namespace "payments" }
tier first {
  allow shop -> payments : 8080
}
tier second {
  deny cluster -> payments
}
allow cluster -> payments : 9090
"#,
    ),
    (
        "earlier-deny-beats-later-allow",
        r#"
zone shop { namespace "shop"; isolate none }
zone payments { namespaces team = "blue" }
tier guard {
  deny shop -> payments : 8080-8090
}
allow shop -> payments
allow cluster -> payments : 8085
"#,
    ),
    (
        "overlapping-zones-and-label-namespaces",
        r#"
zone red { namespaces team = "red" }
zone prod { namespaces env = "prod"; isolate egress }
zone not-dev { namespaces env != "dev"; pods has app; isolate none }
tier platform {
  allow cluster -> kube-dns : udp/53, tcp/53
  deny red -> prod : 5432
}
tier apps {
  allow not-dev -> red : 8080
  deny prod -> red
}
allow red -> prod
allow prod -> world : 443
"#,
    ),
    (
        "isolation-directions",
        r#"
zone in-only { namespace "shop"; isolate ingress }
zone out-only { namespace "payments"; isolate egress }
zone both { namespace "batch" }
zone open { namespace "telecom"; isolate none }
tier t1 {
  deny in-only -> out-only : 22
}
allow out-only -> in-only : 8080
allow both -> open : udp/5000-5100
allow open -> both : sctp/3868
allow cidr 10.0.0.0/8 except 10.1.0.0/16 -> in-only : 80
"#,
    ),
    (
        "the-api-server-as-a-service",
        r#"
zone shop { namespace "shop"; isolate both }
zone payments { namespace "payments"; isolate egress }
zone batch { namespace "batch"; isolate none }
tier guard {
  deny batch -> kube-apiserver : 6443
  allow kube-apiserver -> shop : 10250
}
allow shop -> kube-apiserver : 443, 6443
allow payments -> {kube-apiserver, cidr 10.0.0.0/8} : 6443
deny kube-apiserver -> batch : 8080
allow world -> shop : 443
"#,
    ),
    (
        "via-a-gateway-with-open-egress",
        r#"
zone shop { namespace "shop"; isolate egress }
zone gw { namespace "batch"; isolate ingress }
gateway out = istio { zone gw; port 8443 }
tier guard {
  deny shop -> cidr 192.0.2.0/24
}
allow shop -> fqdn "api.stripe.com" : 443 via out
allow shop -> kube-dns : udp/53, tcp/53
allow gw -> cidr 10.0.0.0/8 : 5432
"#,
    ),
    (
        "logs-decide-nothing",
        r#"
zone shop { namespace "shop"; isolate both }
zone payments { namespace "payments"; isolate ingress }
tier watch {
  log cluster -> payments
  log shop -> world : 443
}
tier guard {
  log shop -> payments : 8080
  deny shop -> payments : 8081
}
log cluster -> shop
allow shop -> payments : 8080-8090
allow payments -> shop : 9090
"#,
    ),
];

#[test]
fn hand_written_cases_mean_what_the_program_means() {
    let dir = nca::temp_dir("calico-tier-cases");
    let mut cases: Vec<(String, PathBuf, PathBuf)> = Vec::new();
    let mut case_files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/nca/cases"))
        .expect("tests/nca/cases")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "npl"))
        .collect();
    case_files.sort();
    for file in case_files {
        let text = std::fs::read_to_string(&file).expect("a case");
        let inventory = text
            .lines()
            .find_map(|l| l.strip_prefix("# inventory: "))
            .unwrap_or_else(|| panic!("{}: no `# inventory:` line", file.display()))
            .trim()
            .to_string();
        cases.push((
            format!(
                "case tests/nca/cases/{}",
                file.file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned())
            ),
            file,
            inventory_dir(&inventory),
        ));
    }
    for (name, text) in TIER_CASES {
        let file = dir.join(format!("{name}.npl"));
        std::fs::write(&file, text).expect("writing a case");
        cases.push((format!("tier case {name}"), file, inventory_dir("lab")));
    }
    let mut failures = Vec::new();
    let mut rejected = Vec::new();
    let mut compared = 0;
    for (what, file, inv) in &cases {
        let source = Source::load(std::slice::from_ref(file));
        match source.build() {
            Ok(yaml_text) => {
                let reference = source.reference();
                match prove(
                    what,
                    &source.text,
                    &source.paths,
                    &yaml_text,
                    reference.as_ref(),
                    &inv.join("namespaces.yaml"),
                    &inv.join("pods.yaml"),
                ) {
                    Ok(_) => compared += 1,
                    Err(e) => failures.push(e),
                }
            }
            Err(diags) => {
                assert!(
                    is_target_rejection(&diags),
                    "{what} fails with errors that are not target errors:\n{}",
                    source.render(&diags)
                );
                rejected.push(format!("{what} {:?}", error_codes(&diags)));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!("hand-written: {compared} compared; rejected by the target {rejected:?}");
    // The tier cases are written for Calico: every one must build.
    for (name, _) in TIER_CASES {
        assert!(
            !rejected
                .iter()
                .any(|r| r.starts_with(&format!("tier case {name} "))),
            "tier case {name} does not build for calico: {rejected:?}"
        );
    }
}

// ------------------------------------------------------------------ generated programs

/// Generated programs compared per run; `NPLC_CALICO_TIERS_PROGRAMS`
/// overrides, `NPLC_CALICO_TIERS_SEED` draws another sample (the default is
/// fixed so that a failure reproduces).
fn generated_count() -> usize {
    std::env::var("NPLC_CALICO_TIERS_PROGRAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

fn generated_seed() -> u64 {
    std::env::var("NPLC_CALICO_TIERS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x00ca_11c0)
}

struct Sample {
    index: usize,
    source_text: String,
    file: PathBuf,
    namespaces: PathBuf,
    pods: PathBuf,
    yaml: String,
    reference: Option<Reference>,
}

#[test]
fn generated_programs_mean_what_the_program_means() {
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
        program_strategy(GenConfig::calico_tiers()),
        inventory_strategy(),
    );
    let dir = nca::temp_dir("calico-tiers-generated");
    let mut samples: Vec<Sample> = Vec::new();
    let mut rejected: BTreeMap<String, usize> = BTreeMap::new();
    let mut drawn = 0usize;
    let mut tiers = 0usize;
    while samples.len() < wanted {
        assert!(
            drawn < wanted * 3,
            "too many generated programs rejected by the calico target: {rejected:?}"
        );
        let (program, inventory) = strategy.new_tree(&mut runner).expect("a program").current();
        let case_dir = dir.join(format!("p{drawn:03}"));
        std::fs::create_dir_all(&case_dir).expect("a directory");
        let file = case_dir.join("generated.npl");
        std::fs::write(&file, program.render()).expect("writing the program");
        let (namespaces, pods) = nca::inventory_files(&inventory, &case_dir);
        let source = Source::load(std::slice::from_ref(&file));
        match source.build() {
            Ok(yaml) => {
                tiers += program.tiers.len();
                samples.push(Sample {
                    index: drawn,
                    source_text: source.text.clone(),
                    file,
                    namespaces,
                    pods,
                    yaml,
                    reference: source.reference(),
                });
            }
            Err(diags) => {
                assert!(
                    is_target_rejection(&diags),
                    "a generated program fails with errors that are not target errors:\n{}\n{}",
                    source.render(&diags),
                    source.text
                );
                for c in error_codes(&diags) {
                    *rejected.entry(c.to_string()).or_default() += 1;
                }
            }
        }
        drawn += 1;
    }
    let rejected_programs = drawn - samples.len();
    assert!(
        rejected_programs * 2 <= drawn,
        "{rejected_programs} of {drawn} generated programs rejected by the calico target ({rejected:?}): \
         they should stay a minority"
    );
    let results: Mutex<Vec<Result<Compared, String>>> = Mutex::new(Vec::new());
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
                let Some(s) = samples.get(i) else {
                    break;
                };
                let result = prove(
                    &format!(
                        "generated program #{} (seed {:#x})",
                        s.index,
                        generated_seed()
                    ),
                    &s.source_text,
                    std::slice::from_ref(&s.file),
                    &s.yaml,
                    s.reference.as_ref(),
                    &s.namespaces,
                    &s.pods,
                );
                results.lock().expect("lock").push(result);
            });
        }
    });
    let results = results.into_inner().expect("lock");
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} generated programs differ; the first:\n{}",
        failures.len(),
        results.len(),
        failures.first().map_or("", |s| s.as_str())
    );
    let stats: Vec<&Compared> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    eprintln!(
        "generated (seed {:#x}, {:.1?}): {drawn} drawn, {} compared ({tiers} declared tiers), \
         {rejected_programs} rejected {rejected:?}; {} ordered pod pairs ({} with connections), \
         {} pod/address-range lines",
        generated_seed(),
        started.elapsed(),
        samples.len(),
        stats.iter().map(|s| s.pod_pairs).sum::<usize>(),
        stats.iter().map(|s| s.allowed_pod_pairs).sum::<usize>(),
        stats.iter().map(|s| s.address_lines).sum::<usize>(),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ the comparison itself

/// A small program and a hand-written Calico translation of it.
const PLUMBING_PROGRAM: &str = r#"
zone shop { namespace "shop" }
zone payments { namespace "payments"; isolate ingress }
tier guard {
  deny shop -> payments : 22
}
allow shop -> payments : 8080, 22
"#;

const PLUMBING_CALICO: &str = "apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: guard
spec:
  order: 100
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: guard.shop-egress
  namespace: shop
spec:
  tier: guard
  selector: all()
  types: [Egress]
  egress:
  - action: Deny
    protocol: TCP
    destination:
      namespaceSelector: projectcalico.org/name == 'payments'
      ports: [22]
  - action: Pass
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: guard.payments-ingress
  namespace: payments
spec:
  tier: guard
  selector: all()
  types: [Ingress]
  ingress:
  - action: Deny
    protocol: TCP
    source:
      namespaceSelector: projectcalico.org/name == 'shop'
    destination:
      ports: [22]
  - action: Pass
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: shop
  namespace: shop
spec:
  selector: all()
  types: [Ingress, Egress]
  egress:
  - action: Allow
    protocol: TCP
    destination:
      namespaceSelector: projectcalico.org/name == 'payments'
      ports: [8080, 22]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: payments
  namespace: payments
spec:
  selector: all()
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      namespaceSelector: projectcalico.org/name == 'shop'
    destination:
      ports: [8080, 22]
";

/// The comparison passes a right translation and catches wrong ones: tiers
/// in the wrong order, a missing Pass, `nets` that also match pods.
#[test]
fn the_comparison_catches_what_it_should() {
    let dir = nca::temp_dir("calico-tiers-plumbing");
    let file = dir.join("plumbing.npl");
    std::fs::write(&file, PLUMBING_PROGRAM).expect("writing the program");
    let lab = inventory_dir("lab");
    let source = Source::load(std::slice::from_ref(&file));
    let reference = source.reference();
    let check = |yaml: &str| {
        prove(
            "plumbing",
            &source.text,
            std::slice::from_ref(&file),
            yaml,
            reference.as_ref(),
            &lab.join("namespaces.yaml"),
            &lab.join("pods.yaml"),
        )
    };
    if let Err(e) = check(PLUMBING_CALICO) {
        panic!("the right translation differs:\n{e}");
    }
    let wrong = [
        (
            "the guard tier after the default tier",
            PLUMBING_CALICO.replace("  order: 100\n", "  order: 2000000\n"),
            "TCP 22",
        ),
        (
            "no Pass at the end of the guard tier",
            PLUMBING_CALICO.replace("  - action: Pass\n", ""),
            "nothing",
        ),
        (
            "payments' allow written as every address",
            PLUMBING_CALICO.replace(
                "    source:\n      namespaceSelector: projectcalico.org/name == 'shop'\n    destination:\n      ports: [8080, 22]",
                "    source:\n      nets: [0.0.0.0/0]\n    destination:\n      ports: [8080, 22]",
            ),
            "0.0.0.0",
        ),
    ];
    for (what, yaml, expected) in wrong {
        assert_ne!(yaml, PLUMBING_CALICO, "{what}: the edit did not apply");
        match check(&yaml) {
            Ok(_) => panic!("the comparison accepts {what}"),
            Err(report) => {
                eprintln!(
                    "{what}: caught\n{}",
                    report.lines().take(14).collect::<Vec<_>>().join("\n")
                );
                assert!(
                    report.contains(expected) && report.contains("calico: "),
                    "{what}: the report lacks `{expected}` or the deciding rule:\n{report}"
                )
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// On generated inventories, no policies at all mean what a program that
/// isolates nothing means: every pair and every address on every port.
/// This checks the inventory files, the pod names and the address pieces
/// the generated comparison relies on.
#[test]
fn no_policies_mean_no_isolation_on_generated_inventories() {
    let dir = nca::temp_dir("calico-tiers-open");
    let file = dir.join("open.npl");
    std::fs::write(&file, "zone somewhere { namespace \"x\"; isolate none }\n")
        .expect("writing the program");
    let source = Source::load(std::slice::from_ref(&file));
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7u8; 32]),
    );
    for i in 0..5 {
        let inventory = inventory_strategy()
            .new_tree(&mut runner)
            .expect("an inventory")
            .current();
        let case_dir = dir.join(format!("i{i}"));
        std::fs::create_dir_all(&case_dir).expect("a directory");
        let (namespaces, pods) = nca::inventory_files(&inventory, &case_dir);
        let compared = prove(
            &format!("open program, inventory #{i}"),
            &source.text,
            std::slice::from_ref(&file),
            "",
            source.reference().as_ref(),
            &namespaces,
            &pods,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(compared.allowed_pod_pairs, compared.pod_pairs);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Applies `edit` to every document of a YAML stream.
fn mutate(stream: &str, edit: &dyn Fn(&mut serde_yaml::Value)) -> String {
    stream
        .split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let mut value: serde_yaml::Value = serde_yaml::from_str(d).expect("emitted YAML");
            edit(&mut value);
            serde_yaml::to_string(&value).expect("YAML")
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Every mapping of a document, depth first.
fn each_mapping(value: &mut serde_yaml::Value, f: &dyn Fn(&mut serde_yaml::Mapping)) {
    match value {
        serde_yaml::Value::Mapping(m) => {
            f(m);
            for (_, v) in m.iter_mut() {
                each_mapping(v, f);
            }
        }
        serde_yaml::Value::Sequence(s) => s.iter_mut().for_each(|v| each_mapping(v, f)),
        _ => {}
    }
}

/// The comparison catches plausible emitter mistakes in real output: tiers
/// that do not pass at their end, and `nets` that also match pods.
#[test]
fn mistakes_in_the_emitted_calico_tiers_example_are_caught() {
    let path = root().join("examples/calico-tiers");
    let source = Source::load(std::slice::from_ref(&path));
    let yaml_text = source
        .build()
        .unwrap_or_else(|d| panic!("calico-tiers does not build:\n{}", source.render(&d)));
    let inv = inventory_dir("calico-tiers");
    let check = |yaml: &str| {
        prove(
            "example calico-tiers (mutated)",
            &source.text,
            &source.paths,
            yaml,
            source.reference().as_ref(),
            &inv.join("namespaces.yaml"),
            &inv.join("pods.yaml"),
        )
    };
    let no_pass = mutate(&yaml_text, &|doc| {
        each_mapping(doc, &|m| {
            m.remove("defaultAction");
            for key in ["ingress", "egress"] {
                if let Some(serde_yaml::Value::Sequence(rules)) = m.get_mut(key) {
                    rules.retain(|r| r.get("action").and_then(|a| a.as_str()) != Some("Pass"));
                }
            }
        })
    });
    // nplc keeps pods out of address rules with a notSelector on the
    // endpoints' namespace label; without it 0.0.0.0/0 and ::/0 match pods.
    assert!(
        yaml_text.contains("notSelector"),
        "the emitter no longer excludes pods with notSelector: update this mutation"
    );
    let nets_match_pods = mutate(&yaml_text, &|doc| {
        each_mapping(doc, &|m| {
            if m.contains_key("nets") {
                m.remove("notSelector");
            }
        })
    });
    for (what, yaml) in [
        ("tiers without their final Pass", no_pass),
        ("address rules that match pods", nets_match_pods),
    ] {
        assert_ne!(yaml, yaml_text, "{what}: the mutation changed nothing");
        match check(&yaml) {
            Ok(_) => panic!("the comparison accepts {what}"),
            Err(report) => eprintln!(
                "{what}: caught\n{}",
                report.lines().take(12).collect::<Vec<_>>().join("\n")
            ),
        }
    }
}
