//! `--target cilium`, proved:
//! - every example under `examples/` builds (or fails with the code listed in
//!   [`EXAMPLES_THAT_FAIL`]), and so do the hand-written programs below;
//! - the YAML is byte-identical across two builds and snapshotted (insta for
//!   the cases, the examples' golden outputs for the examples, tests/golden.rs);
//! - every emitted document validates against the Cilium CRD schemas with
//!   `check-jsonschema` (from `.venv`, see `scripts/test`);
//! - a test-side evaluator of Cilium's semantics (`tests/cilium_oracle/`),
//!   reading the emitted YAML, agrees with the reference evaluator on every
//!   connection of the examples, the hand-written programs and generated
//!   programs with generated inventories. The only differences allowed are
//!   the documented narrowings (see [`Narrowing`]); they are counted and
//!   printed.

mod cilium_oracle;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nplc_compiler::algebra::icmp::{self, IcmpFamily, IcmpMessage};
use nplc_compiler::algebra::ipset::IpSet;
use nplc_compiler::algebra::labels::{KeySet, Term, ValueSet};
use nplc_compiler::algebra::ports::{Protocol, FIRST_PORT, LAST_PORT};
use nplc_compiler::emit::{yaml, Resource, Target};
use nplc_compiler::eval::{
    evaluate, rule_matches, Connection, ContainerPort, Endpoint, Pod, Request, Transport,
};
use nplc_compiler::ir::{Ir, NAMESPACE_NAME_LABEL};
use nplc_compiler::names::Entity;
use nplc_compiler::syntax::ast::Action;
use nplc_compiler::{lint, Code, Diagnostic};
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

use cilium_oracle::Oracle;
use support::sources::Source;
use support::{scenario, GenConfig, GenProgram};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ------------------------------------------------------------------ building

fn codes(diags: &[Diagnostic]) -> BTreeSet<&'static str> {
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect()
}

// ------------------------------------------------------------------ schemas

/// Validates every document against the Cilium CRD schema of its kind.
fn validate_schemas(resources: &[(String, Resource)]) {
    support::schemas::validate(resources, |kind| match kind {
        "CiliumNetworkPolicy" => Some("cilium.io/ciliumnetworkpolicy_v2.json"),
        "CiliumClusterwideNetworkPolicy" => {
            Some("cilium.io/ciliumclusterwidenetworkpolicy_v2.json")
        }
        _ => None,
    });
}

// ------------------------------------------------------------------ comparing

/// The documented ways the cilium output allows less than the program; each
/// is counted when it explains a difference, never more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Narrowing {
    /// "Every name" with only some addresses is enforced by address: a
    /// connection to (or from) a host name is judged by its address, which
    /// the oracle does not know.
    NamesByAddress,
    /// A named port in an egress rule towards pods not isolated for ingress
    /// is not written (Cilium resolves egress named ports cluster-wide).
    EgressNamedPort,
    /// HTTP methods: the evaluator compares them ignoring case, Cilium
    /// (Envoy) exactly; a lowercase method is not a valid HTTP request.
    MethodCase,
    /// An allow without filter on port 53 that meets a `dns` filter for the
    /// same peers goes through Cilium's DNS proxy (every name): what is not
    /// DNS on that port is dropped.
    DnsProxiedPort,
}

#[derive(Default)]
struct Stats {
    programs: AtomicUsize,
    compared_programs: AtomicUsize,
    connections: AtomicUsize,
    allowed: AtomicUsize,
    narrowings: [AtomicUsize; 4],
    target_errors: std::sync::Mutex<BTreeMap<String, usize>>,
}

impl Stats {
    fn report(&self, name: &str) -> String {
        let n = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        format!(
            "{name}: {} programs, {} built and compared, {} connections ({} allowed); \
             narrowings: names by address {}, egress named port {}, method case {}, DNS-proxied port {}; \
             target errors {:?}",
            n(&self.programs),
            n(&self.compared_programs),
            n(&self.connections),
            n(&self.allowed),
            n(&self.narrowings[0]),
            n(&self.narrowings[1]),
            n(&self.narrowings[2]),
            n(&self.narrowings[3]),
            self.target_errors.lock().map(|m| m.clone()).unwrap_or_default(),
        )
    }
}

/// Which documented narrowing explains "the program allows it, Cilium does
/// not", if one does.
fn narrowing(
    ir: &Ir,
    oracle: &Oracle,
    conn: &Connection,
    failing_egress: bool,
) -> Option<Narrowing> {
    // Method case: the same request with the method in capitals passes.
    if let Some(Request::Http { method, path }) = &conn.request {
        if *method != method.to_ascii_uppercase() {
            let mut upper = conn.clone();
            upper.request = Some(Request::Http {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
            });
            if oracle.allows(&upper) {
                return Some(Narrowing::MethodCase);
            }
        }
    }
    // Not DNS on port 53, through the DNS proxy: the same connection judged
    // at L4 passes.
    if let (Some(Request::Http { .. }), Transport::Port(_, 53)) = (&conn.request, conn.transport) {
        let mut l4 = conn.clone();
        l4.request = None;
        if oracle.allows(&l4) {
            return Some(Narrowing::DnsProxiedPort);
        }
    }
    // The allows that let the connection through in the program.
    let allows: Vec<_> = ir
        .rules()
        .filter(|r| r.action == Action::Allow && rule_matches(r, conn))
        .collect();
    if allows.is_empty() {
        return None;
    }
    if matches!(conn.destination, Endpoint::Fqdn(_))
        && allows
            .iter()
            .all(|r| r.destination.fqdns.is_all() && r.destination.ips != IpSet::all())
    {
        return Some(Narrowing::NamesByAddress);
    }
    if let (true, Endpoint::Pod(dst), Transport::Port(protocol, number)) =
        (failing_egress, &conn.destination, conn.transport)
    {
        let name = dst
            .ports
            .iter()
            .find(|p| p.protocol == protocol && p.number == number)
            .map(|p| p.name.clone());
        let unchecked = !ir
            .isolated_ingress()
            .matches(&dst.effective_namespace_labels(), &dst.labels);
        if let (Some(name), true) = (name, unchecked) {
            let by_name_only = allows.iter().all(|r| {
                r.ports().named_ports().contains(&(protocol, name.clone()))
                    && !r.ports().ranges(protocol).contains(number)
            });
            if by_name_only {
                return Some(Narrowing::EgressNamedPort);
            }
        }
    }
    None
}

/// Compares the oracle on the emitted YAML with the evaluator on every
/// connection; `Err` describes the first unexplained difference.
fn compare(
    ir: &Ir,
    yaml_text: &str,
    pods: &[Pod],
    connections: &[Connection],
    program_text: &str,
    stats: &Stats,
) -> Result<(), String> {
    let oracle = Oracle::load(yaml_text, pods).map_err(|problems| {
        format!(
            "the oracle refuses the emitted policies:\n  {}\n--- program ---\n{program_text}\n--- yaml ---\n{yaml_text}",
            problems.join("\n  ")
        )
    })?;
    for conn in connections {
        let expected = evaluate(ir, conn);
        let verdict = oracle.verdict(conn);
        stats.connections.fetch_add(1, Ordering::Relaxed);
        if expected.allowed {
            stats.allowed.fetch_add(1, Ordering::Relaxed);
        }
        if verdict.allowed() == expected.allowed {
            continue;
        }
        if expected.allowed {
            let failing_egress = !verdict.egress.ok();
            if let Some(kind) = narrowing(ir, &oracle, conn, failing_egress) {
                stats.narrowings[kind as usize].fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        return Err(format!(
            "cilium (oracle) says {}, the evaluator says {} ({:?})\n  oracle egress: {:?}\n  oracle ingress: {:?}\n--- connection ---\n{}\n--- program ---\n{program_text}\n--- yaml ---\n{yaml_text}",
            verdict.allowed(),
            expected.allowed,
            expected.decision,
            verdict.egress,
            verdict.ingress,
            support::describe_connection(conn)
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------ universes

/// A value a key set allows, preferring a present one; `None`: absent.
fn pick(set: &KeySet, salt: &str) -> Option<String> {
    match &set.values {
        ValueSet::Only(values) => values.iter().next().cloned(),
        ValueSet::AllExcept(values) => {
            let mut candidate = format!("other-{salt}");
            while values.contains(&candidate) {
                candidate.push('x');
            }
            Some(candidate)
        }
    }
}

fn labels_for(term: &Term, salt: &str) -> Option<BTreeMap<String, String>> {
    let constraints = term.constraints()?;
    let mut out = BTreeMap::new();
    for (key, set) in constraints {
        match pick(set, salt) {
            Some(v) => {
                out.insert(key.clone(), v);
            }
            None if set.absent => {}
            None => return None,
        }
    }
    Some(out)
}

/// Pods for a program: one in every term of every zone, one in no zone,
/// with container ports named as the rules name them.
fn universe_pods(ir: &Ir) -> Vec<Pod> {
    let mut names: BTreeSet<(Protocol, String)> = BTreeSet::new();
    for rule in ir.rules() {
        names.extend(rule.ports().named_ports().iter().cloned());
    }
    let ports: Vec<ContainerPort> = names
        .iter()
        .enumerate()
        .map(|(i, (protocol, name))| ContainerPort {
            name: name.clone(),
            protocol: *protocol,
            number: 9000 + i as u16,
        })
        .collect();
    let mut pods = Vec::new();
    for zone in &ir.zones {
        for (i, term) in zone.pods.terms.iter().enumerate() {
            let salt = format!("{}{i}", zone.name);
            let (Some(mut ns_labels), Some(labels)) = (
                labels_for(&term.namespace, &salt),
                labels_for(&term.pod, &salt),
            ) else {
                continue;
            };
            let namespace = ns_labels
                .remove(NAMESPACE_NAME_LABEL)
                .unwrap_or_else(|| format!("ns-{salt}"));
            // Every other pod gets the named ports, so both cases are asked.
            let with_ports = pods.len() % 2 == 0;
            pods.push(Pod {
                namespace,
                namespace_labels: ns_labels,
                labels,
                ports: if with_ports {
                    ports.clone()
                } else {
                    Vec::new()
                },
            });
        }
    }
    pods.push(Pod {
        namespace: "elsewhere".to_string(),
        namespace_labels: BTreeMap::new(),
        labels: [("app".to_string(), "stranger".to_string())]
            .into_iter()
            .collect(),
        ports: ports.clone(),
    });
    pods.sort();
    pods.dedup();
    pods
}

fn universe_ips() -> Vec<IpAddr> {
    [
        "8.8.8.8",
        "10.0.0.1",
        "10.1.2.3",
        "10.100.0.7",
        "169.254.169.254",
        "169.254.1.1",
        "192.168.1.1",
        "2001:db8::1",
        "fd00::1",
    ]
    .iter()
    .map(|s| s.parse().expect("an address"))
    .collect()
}

const HOSTS: &[&str] = &[
    "api.stripe.com",
    "www.google.com",
    "api.example.com",
    "example.com",
    "other.net",
];

/// Port numbers worth asking about: every range edge of every rule, and
/// its neighbours, and the universe's named ports.
fn universe_transports(ir: &Ir, pods: &[Pod]) -> Vec<Transport> {
    let mut numbers: BTreeSet<(Protocol, u16)> = BTreeSet::new();
    for rule in ir.rules() {
        for protocol in Protocol::ALL {
            for &(lo, hi) in rule.ports().ranges(protocol).ranges() {
                for n in [lo, hi, lo.saturating_sub(1), hi.saturating_add(1)] {
                    if (FIRST_PORT..=LAST_PORT).contains(&n) {
                        numbers.insert((protocol, n));
                    }
                }
            }
        }
    }
    for pod in pods {
        for p in &pod.ports {
            numbers.insert((p.protocol, p.number));
        }
    }
    numbers.extend([
        (Protocol::Tcp, 53),
        (Protocol::Udp, 53),
        (Protocol::Tcp, 443),
        (Protocol::Tcp, 1234),
        (Protocol::Sctp, 3868),
    ]);
    let mut out: Vec<Transport> = numbers
        .into_iter()
        .map(|(p, n)| Transport::Port(p, n))
        .collect();
    // ICMP: where the rules' ICMP sets start and end, and echo requests.
    let mut icmp = BTreeSet::from([
        IcmpMessage::PING,
        IcmpMessage {
            family: IcmpFamily::V6,
            icmp_type: 128,
            code: 0,
        },
    ]);
    for rule in ir.rules() {
        for family in IcmpFamily::ALL {
            icmp.extend(
                rule.ports()
                    .icmp_set()
                    .cuts(family)
                    .into_iter()
                    .filter_map(|cut| icmp::message_at(family, cut)),
            );
        }
    }
    out.extend(icmp.into_iter().map(Transport::Icmp));
    out
}

fn requests_for(transport: Transport) -> Vec<Option<Request>> {
    let mut out = vec![None];
    if let Transport::Port(Protocol::Tcp, _) = transport {
        for (m, p) in [
            ("GET", "/api/v1/products/7"),
            ("POST", "/api/v1/orders"),
            ("DELETE", "/admin"),
            ("get", "/api/v1/products/7"),
        ] {
            out.push(Some(Request::Http {
                method: m.to_string(),
                path: p.to_string(),
            }));
        }
    }
    if let Transport::Port(_, 53) = transport {
        for name in ["api.stripe.com", "www.google.com", "other.net"] {
            out.push(Some(Request::Dns {
                name: name.to_string(),
            }));
        }
    }
    out
}

/// Every connection with a pod end between the universe's endpoints.
fn universe_connections(ir: &Ir, pods: &[Pod]) -> Vec<Connection> {
    let mut ends: Vec<Endpoint> = pods.iter().cloned().map(Endpoint::Pod).collect();
    ends.extend(universe_ips().into_iter().map(Endpoint::Ip));
    ends.extend(HOSTS.iter().map(|h| Endpoint::Fqdn(h.to_string())));
    ends.extend(
        [
            Entity::World,
            Entity::Host,
            Entity::Health,
            Entity::KubeApiserver,
        ]
        .map(Endpoint::Entity),
    );
    let transports = universe_transports(ir, pods);
    let mut out = Vec::new();
    for source in &ends {
        for destination in &ends {
            if !matches!(source, Endpoint::Pod(_)) && !matches!(destination, Endpoint::Pod(_)) {
                continue;
            }
            for &transport in &transports {
                for request in requests_for(transport) {
                    out.push(Connection {
                        source: source.clone(),
                        destination: destination.clone(),
                        transport,
                        request,
                    });
                }
            }
        }
    }
    out
}

/// At most this many connections per program: larger universes are sampled
/// evenly (deterministically).
const MAX_CONNECTIONS: usize = 120_000;

fn sample(connections: Vec<Connection>, max: usize) -> Vec<Connection> {
    let step = connections.len().div_ceil(max).max(1);
    connections.into_iter().step_by(step).collect()
}

/// Builds, checks determinism, and compares with the oracle on the
/// universe of the program.
fn prove(
    name: &str,
    source: &Source,
    text: &str,
    stats: &Stats,
) -> Result<Vec<Resource>, Vec<Diagnostic>> {
    stats.programs.fetch_add(1, Ordering::Relaxed);
    let resources = source.build(Target::Cilium)?;
    let yaml_text = yaml::stream(&resources);
    let ir = source.lower().expect("a program that builds has an IR");
    let pods = universe_pods(&ir);
    let connections = sample(universe_connections(&ir, &pods), MAX_CONNECTIONS);
    if let Err(e) = compare(&ir, &yaml_text, &pods, &connections, text, stats) {
        panic!("{name}: {e}");
    }
    stats.compared_programs.fetch_add(1, Ordering::Relaxed);
    Ok(resources)
}

// ------------------------------------------------------------------ examples

/// Examples that cannot be built for cilium, with the code they must fail
/// with and why.
const EXAMPLES_THAT_FAIL: &[(&str, &str, &str)] = &[];

/// Every example: `examples/NAME.npl`, or `examples/NAME/` with its `.npl`
/// files (as `nplc build examples/NAME` reads it).
fn examples() -> Vec<(String, Vec<(String, String)>)> {
    let dir = root().join("examples");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return out;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() {
            let mut files = Vec::new();
            collect_npl(&path, &mut files);
            files.sort();
            if !files.is_empty() {
                let sources = files
                    .iter()
                    .map(|f| {
                        (
                            f.to_string_lossy().into_owned(),
                            std::fs::read_to_string(f).expect("an example"),
                        )
                    })
                    .collect();
                out.push((name, sources));
            }
        } else if path.extension().is_some_and(|e| e == "npl") {
            let text = std::fs::read_to_string(&path).expect("an example");
            out.push((name, vec![(path.to_string_lossy().into_owned(), text)]));
        }
    }
    out
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

/// Snapshot-friendly paths: relative to the repository.
fn relative(files: &[(String, String)]) -> Vec<(String, String)> {
    let prefix = format!("{}/", root().display());
    files
        .iter()
        .map(|(p, t)| (p.strip_prefix(&prefix).unwrap_or(p).to_string(), t.clone()))
        .collect()
}

#[test]
fn examples_build_and_agree_with_the_evaluator() {
    let stats = Stats::default();
    let examples = examples();
    for (name, _, _) in EXAMPLES_THAT_FAIL {
        assert!(
            examples.iter().any(|(n, _)| n == name),
            "EXAMPLES_THAT_FAIL lists `{name}`, which is not in examples/"
        );
    }
    let mut documents = Vec::new();
    for (name, files) in &examples {
        let files = relative(files);
        let text = files
            .iter()
            .map(|(p, t)| format!("# {p}\n{t}"))
            .collect::<String>();
        let source = Source::files(&files);
        let expected_failure = EXAMPLES_THAT_FAIL.iter().find(|(n, _, _)| n == name);
        match (prove(name, &source, &text, &stats), expected_failure) {
            (Ok(resources), None) => {
                let yaml_text = yaml::stream(&resources);
                assert_eq!(
                    yaml_text,
                    yaml::stream(
                        &Source::files(&files)
                            .build(Target::Cilium)
                            .expect("builds twice")
                    ),
                    "{name}: two builds differ"
                );
                // The bytes are examples/NAME/expected/cilium (tests/golden.rs).
                documents.extend(
                    resources
                        .into_iter()
                        .map(|r| (format!("examples/{name}"), r)),
                );
            }
            (Ok(_), Some((_, code, why))) => {
                panic!("example `{name}` builds for cilium, but EXAMPLES_THAT_FAIL expects {code} ({why})")
            }
            (Err(diags), Some((_, code, _))) => assert_eq!(
                codes(&diags),
                BTreeSet::from([*code]),
                "example `{name}` fails with other codes:\n{}",
                source.render(&diags)
            ),
            (Err(diags), None) => panic!(
                "example `{name}` does not build for cilium:\n{}",
                source.render(&diags)
            ),
        }
    }
    eprintln!("{}", stats.report("examples"));
    if !documents.is_empty() {
        validate_schemas(&documents);
    }
}

// ------------------------------------------------------------------ hand-written

/// Programs written to exercise each part of the backend: (name, source).
const CASES: &[(&str, &str)] = &[
    (
        "three_tier",
        r#"
import "std/baseline"
import "std/k8s"

zone frontend { namespace "frontend" }
zone backend {
  namespace "backend"
  pods app = "api"
}
zone db {
  namespaces tier = "data", env = "prod"
  pods app = "postgres"
}
external stripe = fqdn "api.stripe.com"

allow ingress-nginx -> frontend : 8080
allow frontend -> backend : 8080
allow backend  -> db      : 5432
allow backend  -> stripe  : 443
deny  frontend -> db
"#,
    ),
    (
        "fqdn_egress",
        r#"
zone payments { namespace "payments" }
external stripe = fqdn "api.stripe.com"
external google = fqdn "*.google.com"
allow payments -> {stripe, google} : 443
"#,
    ),
    (
        "fqdn_with_baseline_dns",
        r#"
import "std/baseline"
zone payments { namespace "payments"; isolate egress }
allow payments -> fqdn "api.stripe.com" : 443
"#,
    ),
    (
        "l7_http",
        r#"
zone web { namespace "web" }
zone api { namespace "api"; pods app = "api" }
allow web -> api : 8080 http { GET "/api/v1/products/.*"; POST "/api/v1/orders" }
allow web -> api : 9090
"#,
    ),
    (
        "l7_dns",
        r#"
zone app { namespace "app"; isolate egress }
allow app -> kube-dns : udp/53, tcp/53 dns { "*.stripe.com"; "www.google.com" }
"#,
    ),
    (
        "icmp_and_protocols",
        r#"
zone web { namespace "web" }
zone api { namespace "api" }
allow web -> api : icmp, udp/5000-5100, sctp/3868, tcp/30000-32767
"#,
    ),
    (
        "icmp_types",
        r#"
zone web { namespace "web" }
zone api { namespace "api" }
zone mon { namespace "mon" }
allow web -> api : icmp/echo-request, icmpv6/echo-request, icmp/3
deny web -> api : icmp/3
allow mon -> api : icmpv6
allow mon -> web : icmpv4, 8080
"#,
    ),
    (
        "deny_narrowed_by_a_named_port",
        r#"
zone app { namespace "app" }
zone mon { namespace "mon" }
tier platform {
  allow mon -> app : tcp/metrics
}
deny mon -> app
allow mon -> app : 8080, udp/53
"#,
    ),
    (
        "deny_on_a_range_narrowed_by_a_named_port",
        r#"
zone app { namespace "app" }
zone app-api { namespace "app"; pods role = "api"; isolate none }
zone mon { namespace "mon" }
tier platform {
  allow mon -> app : tcp/metrics, 9090
}
deny mon -> app : 8000-9000
allow mon -> app : 8000-8100, 22
allow mon -> app-api : 8500, udp/8500
"#,
    ),
    (
        "icmp_deny_narrowed_by_an_earlier_tier",
        r#"
zone web { namespace "web" }
zone api { namespace "api" }
tier platform {
  allow web -> api : icmp/echo-request, icmpv6/128
}
deny web -> api : icmp
"#,
    ),
    (
        "entities_and_cidrs",
        r#"
zone app { namespace "app" }
external corp = cidr 10.0.0.0/8 except 10.1.0.0/16, 10.2.0.0/16
external v6 = cidr fd00::/8 except fd00:1::/32
allow app -> kube-apiserver : 6443
allow app -> host : 10250
allow health -> app
allow app -> {corp, v6} : 443
allow world -> app : 80
"#,
    ),
    (
        "world_minus_metadata",
        r#"
zone app { namespace "app" }
tier security {
  deny cluster -> cidr 169.254.169.254/32
}
allow app -> world : 443
"#,
    ),
    (
        "namespaces_by_label",
        r#"
zone data { namespaces tier = "data", env != "dev"; pods has app }
zone clients { namespaces team in ("red", "blue") }
allow clients -> data : 5432
"#,
    ),
    (
        "many_ports",
        r#"
zone web { namespace "web" }
zone api { namespace "api" }
allow web -> api : 8001, 8003, 8005, 8007, 8009, 8011, 8013, 8015, 8017, 8019, 8021, 8023, 8025, 8027, 8029, 8031, 8033, 8035, 8037, 8039, 8041, 8043, 8045, 8047, 8049, 8051, 8053, 8055, 8057, 8059, 8061, 8063, 8065, 8067, 8069, 8071, 8073, 8075, 8077, 8079, 8081, 8083, 8085
"#,
    ),
    (
        "named_ports",
        r#"
zone web { namespace "web" }
zone api { namespace "api" }
zone open { namespace "open"; isolate none }
allow web -> api : tcp/http, udp/dns
allow web -> open : tcp/http, 8080
"#,
    ),
    (
        "tiers_and_isolation",
        r#"
zone web { namespace "web"; isolate ingress }
zone api { namespace "api"; isolate egress }
zone db { namespace "db" }
tier platform {
  allow api -> db : 5432
  deny cluster -> db : 22
}
deny web -> api : 9090
allow web -> db : 5432
"#,
    ),
    (
        "union_and_everything",
        r#"
zone a { namespace "a" }
zone b { namespace "b"; pods tier in ("x", "y"), not has legacy }
zone ab = a | b
zone everything {}
allow ab -> ab : 8080
allow cluster -> kube-dns : udp/53
"#,
    ),
    (
        "tier_allows_override_a_deny",
        r#"
zone web { namespace "web" }
zone api { namespace "api" }
zone ops { namespace "ops"; pods role = "admin"; isolate none }
tier break-glass {
  allow ops -> api : 22
  allow web -> api : 8080
}
deny cluster -> api
allow web -> api : 8080, 9090
"#,
    ),
    (
        "open_zones_receive_allows",
        r#"
zone client { namespace "client" }
zone open { namespace "open"; isolate none }
zone half { namespace "half"; isolate ingress }
allow client -> open : 80
allow client -> half : 443
allow open -> half : 443
allow open -> client : 8080
"#,
    ),
    (
        "overlapping_zones",
        r#"
zone shop { namespace "shop" }
zone web { namespace "shop"; pods role = "web"; isolate none }
zone team-web { namespaces team = "shop"; pods role = "web"; isolate egress }
allow web -> team-web : 8080
deny team-web -> web : 9090
allow shop -> web : 8080-9100
allow team-web -> shop : 5432
"#,
    ),
    (
        "deny_addresses_under_a_tier",
        r#"
zone app { namespace "app"; isolate egress }
tier corp {
  allow cidr 10.0.0.0/8 -> app : 443
  allow app -> cidr 10.20.0.0/16 : 5432
}
deny {cidr 0.0.0.0/0, cidr ::/0} -> app
deny app -> {cidr 0.0.0.0/0, cidr ::/0} : 5432
allow app -> world : 443, 5432
"#,
    ),
    (
        // Found by the generator: a deny from a zone no namespace can hold
        // (every namespace has `kubernetes.io/metadata.name`), narrowed by an
        // earlier tier, left specs without rules, which Cilium rejects.
        "deny_from_an_empty_zone_under_an_earlier_allow",
        r#"
import "std/k8s"
zone z0 {
  namespaces has env
}
zone z1 {
  namespaces env in ("prod"), not has kubernetes.io/metadata.name
  isolate ingress
}
tier t1 {
  deny z1 -> z0 : 80
  allow {z1, host} -> z1 : tcp/80
}
tier t2 {
  deny z1 -> z0 : tcp/1-1024
  allow {z0, health} -> z1
  deny z1 -> z0
}
allow z1 -> z1 : 5432, icmp
"#,
    ),
];

/// Programs that must fail on cilium: (name, source, code).
const FAILING_CASES: &[(&str, &str, &str)] = &[
    (
        "mixed_l4_l7",
        r#"
zone web { namespace "web" }
zone api { namespace "api" }
allow web -> api : 8080
allow web -> api : 8080 http { GET "/api/.*" }
"#,
        "E0407",
    ),
    (
        "fqdn_source",
        r#"
zone api { namespace "api" }
allow fqdn "partner.example.com" -> api : 443
"#,
        "E0405",
    ),
    (
        "dns_filter_on_ingress_only",
        r#"
zone dns { namespace "kube-system"; pods k8s-app = "kube-dns"; isolate ingress }
zone app { namespace "app"; isolate ingress }
allow app -> dns : udp/53 dns { "*.example.com" }
"#,
        "E0403",
    ),
    (
        "gateway_lookups_not_allowed",
        r#"
zone payments { namespace "payments" }
zone egress-pods { namespace "istio-system"; pods istio = "egressgateway"; isolate egress }
gateway egress = istio { zone egress-pods }
allow payments -> fqdn "api.stripe.com" : 443 via egress
"#,
        "E0402",
    ),
    (
        "deny_of_a_name",
        r#"
zone app { namespace "app" }
allow app -> fqdn "*.example.com" : 443
deny app -> fqdn "api.example.com"
"#,
        "E0408",
    ),
    (
        "deny_of_world_narrowed_by_addresses",
        r#"
zone app { namespace "app" }
tier corp {
  allow cidr 10.0.0.0/8 -> app : 443
}
deny world -> app
"#,
        "E0408",
    ),
    (
        "deny_with_a_filter",
        r#"
zone web { namespace "web" }
zone api { namespace "api" }
deny web -> api : 8080 http { POST "/admin/.*" }
"#,
        "E0408",
    ),
    (
        "icmp_code",
        r#"
zone web { namespace "web" }
zone api { namespace "api" }
allow web -> api : icmp/3/4
"#,
        "E0435",
    ),
    (
        "icmp_deny_narrowed_to_some_codes",
        r#"
zone web { namespace "web" }
zone api { namespace "api" }
tier platform {
  allow web -> api : icmp/destination-unreachable/4
}
deny web -> api : icmp/3
"#,
        "E0435",
    ),
    (
        "deny_narrowed_by_a_named_port_to_open_pods",
        r#"
zone app { namespace "app"; isolate egress }
zone mon { namespace "mon" }
tier platform {
  allow mon -> app : tcp/metrics
}
deny mon -> app
"#,
        "E0401",
    ),
    (
        "deny_narrowed_by_a_named_port_over_part_of_a_zone",
        r#"
zone app { namespace "app" }
zone app-api { namespace "app"; pods role = "api"; isolate none }
zone mon { namespace "mon" }
tier platform {
  allow mon -> app-api : tcp/metrics
}
deny mon -> app-api : 8000-9000
allow mon -> app : 8080
"#,
        "E0401",
    ),
];

#[test]
fn hand_written_programs_build_and_agree_with_the_evaluator() {
    let stats = Stats::default();
    let mut documents = Vec::new();
    for (name, text) in CASES {
        let source = Source::named(name, text);
        let resources = match prove(name, &source, text, &stats) {
            Ok(r) => r,
            Err(diags) => panic!("{name} does not build:\n{}", source.render(&diags)),
        };
        let yaml_text = yaml::stream(&resources);
        let again = yaml::stream(
            &Source::named(name, text)
                .build(Target::Cilium)
                .expect("builds twice"),
        );
        assert_eq!(yaml_text, again, "{name}: two builds differ");
        insta::assert_snapshot!(format!("case_{name}"), yaml_text);
        documents.extend(resources.into_iter().map(|r| (format!("case {name}"), r)));
    }
    eprintln!("{}", stats.report("hand-written"));
    validate_schemas(&documents);
}

#[test]
fn programs_cilium_cannot_express_fail_with_their_code() {
    for (name, text, code) in FAILING_CASES {
        let source = Source::named(name, text);
        assert!(
            source.lower().is_some(),
            "{name} has errors before building:\n{}",
            source.render(lint::diagnostics(&source.db, source.program))
        );
        match source.build(Target::Cilium) {
            Ok(resources) => panic!("{name} builds for cilium:\n{}", yaml::stream(&resources)),
            Err(diags) => {
                assert_eq!(
                    codes(&diags),
                    BTreeSet::from([*code]),
                    "{name}:\n{}",
                    source.render(&diags)
                );
                insta::assert_snapshot!(format!("error_{name}"), source.render(&diags));
            }
        }
    }
}

// ------------------------------------------------------------------ the oracle itself

fn policy_yaml(kind: &str, namespace: Option<&str>, spec: &str) -> String {
    let ns = namespace.map_or(String::new(), |n| format!("\n  namespace: {n}"));
    format!("apiVersion: cilium.io/v2\nkind: {kind}\nmetadata:\n  name: p{ns}\nspec:\n{spec}")
}

#[test]
fn the_oracle_refuses_what_cilium_rejects_or_reads_differently() {
    let refused = [
        ("no rules", policy_yaml("CiliumNetworkPolicy", Some("a"), "  endpointSelector: {}\n  enableDefaultDeny:\n    ingress: true\n")),
        (
            "two kinds of peers",
            policy_yaml("CiliumNetworkPolicy", Some("a"), "  endpointSelector: {}\n  egress:\n  - toEntities: [world]\n    toCIDRSet:\n    - cidr: 10.0.0.0/8\n"),
        ),
        (
            "toPorts and icmps",
            policy_yaml("CiliumNetworkPolicy", Some("a"), "  endpointSelector: {}\n  egress:\n  - toEntities: [world]\n    toPorts:\n    - ports:\n      - port: '80'\n        protocol: TCP\n    icmps:\n    - fields:\n      - type: 8\n"),
        ),
        (
            "dns on ingress",
            policy_yaml("CiliumNetworkPolicy", Some("a"), "  endpointSelector: {}\n  ingress:\n  - fromEntities: [world]\n    toPorts:\n    - ports:\n      - port: '53'\n        protocol: UDP\n      rules:\n        dns:\n        - matchPattern: '*'\n"),
        ),
        (
            "cluster-wide peer without namespace",
            policy_yaml("CiliumClusterwideNetworkPolicy", None, "  endpointSelector: {}\n  egress:\n  - toEndpoints:\n    - matchLabels:\n        app: x\n"),
        ),
        (
            "namespace labels without the namespace key in a CNP",
            policy_yaml("CiliumNetworkPolicy", Some("a"), "  endpointSelector: {}\n  egress:\n  - toEndpoints:\n    - matchLabels:\n        io.cilium.k8s.namespace.labels.team: red\n"),
        ),
        (
            "41 ports",
            policy_yaml(
                "CiliumNetworkPolicy",
                Some("a"),
                &format!(
                    "  endpointSelector: {{}}\n  egress:\n  - toEntities: [world]\n    toPorts:\n    - ports:\n{}",
                    (1..=41).map(|p| format!("      - port: '{p}'\n        protocol: TCP\n")).collect::<String>()
                ),
            ),
        ),
    ];
    for (what, yaml_text) in refused {
        assert!(
            Oracle::load(&yaml_text, &[]).is_err(),
            "the oracle accepts {what}:\n{yaml_text}"
        );
    }
}

#[test]
fn the_oracle_reads_cilium_semantics() {
    let pod = |ns: &str, app: &str| {
        Endpoint::Pod(Pod {
            namespace: ns.to_string(),
            namespace_labels: BTreeMap::new(),
            labels: [("app".to_string(), app.to_string())].into_iter().collect(),
            ports: Vec::new(),
        })
    };
    let tcp = |source: &Endpoint, destination: &Endpoint, port: u16| Connection {
        source: source.clone(),
        destination: destination.clone(),
        transport: Transport::Port(Protocol::Tcp, port),
        request: None,
    };
    // A CNP peer without the namespace key is confined to the policy's
    // namespace; ports are per protocol; deny wins.
    let yaml_text = policy_yaml(
        "CiliumNetworkPolicy",
        Some("a"),
        "  endpointSelector:\n    matchLabels:\n      app: db\n  ingress:\n  - fromEndpoints:\n    - matchLabels:\n        app: web\n    toPorts:\n    - ports:\n      - port: '5432'\n        protocol: TCP\n  ingressDeny:\n  - fromEndpoints:\n    - matchLabels:\n        app: web\n        io.kubernetes.pod.namespace: a\n    toPorts:\n    - ports:\n      - port: '5433'\n        protocol: TCP\n",
    );
    let oracle = Oracle::load(&yaml_text, &[]).expect("a valid policy");
    let (db, web, web_b) = (pod("a", "db"), pod("a", "web"), pod("b", "web"));
    assert!(oracle.allows(&tcp(&web, &db, 5432)));
    assert!(
        !oracle.allows(&tcp(&web_b, &db, 5432)),
        "confined to the policy's namespace"
    );
    assert!(!oracle.allows(&tcp(&web, &db, 5433)), "denied");
    assert!(!oracle.allows(&tcp(&web, &db, 80)), "default deny");
    assert!(oracle.allows(&tcp(&db, &web, 80)), "no egress policy");
    assert!(
        oracle.allows(&tcp(&web, &pod("b", "db"), 80)),
        "another namespace's pods are not selected"
    );
    // toFQDNs needs the pod's own DNS rule to see the lookup.
    let fqdn = |dns: bool| {
        let lookup = "  - toEndpoints:\n    - matchLabels:\n        io.kubernetes.pod.namespace: kube-system\n    toPorts:\n    - ports:\n      - port: '53'\n        protocol: UDP\n      rules:\n        dns:\n        - matchPattern: '*.example.com'\n";
        policy_yaml(
            "CiliumNetworkPolicy",
            Some("a"),
            &format!(
                "  endpointSelector: {{}}\n  egress:\n  - toFQDNs:\n    - matchPattern: '*.example.com'\n    toPorts:\n    - ports:\n      - port: '443'\n        protocol: TCP\n{}",
                if dns { lookup } else { "" }
            ),
        )
    };
    let host = Endpoint::Fqdn("API.example.com.".to_string());
    let with = Oracle::load(&fqdn(true), &[]).expect("valid");
    let without = Oracle::load(&fqdn(false), &[]).expect("valid");
    assert!(with.allows(&tcp(&web, &host, 443)));
    assert!(
        !with.allows(&tcp(
            &web,
            &Endpoint::Fqdn("a.b.example.com".to_string()),
            443
        )),
        "one label"
    );
    assert!(
        !without.allows(&tcp(&web, &host, 443)),
        "no lookup, no address"
    );
    // enableDefaultDeny: false allows without isolating; a policy with only
    // deny rules and no flag isolates; `specs` entries are policies of their
    // own.
    let open = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: open\n  namespace: a\nspecs:\n- endpointSelector:\n    matchLabels:\n      app: db\n  enableDefaultDeny:\n    ingress: false\n  ingress:\n  - fromEndpoints:\n    - matchLabels:\n        app: web\n        io.kubernetes.pod.namespace: a\n    toPorts:\n    - ports:\n      - port: '5432'\n        protocol: TCP\n- endpointSelector:\n    matchLabels:\n      app: cache\n  enableDefaultDeny:\n    ingress: true\n  ingress:\n  - fromEntities:\n    - none\n";
    let deny_only = policy_yaml(
        "CiliumNetworkPolicy",
        Some("a"),
        "  endpointSelector:\n    matchLabels:\n      app: db\n  ingressDeny:\n  - fromEntities:\n    - world\n",
    );
    let only_open = Oracle::load(open, &[]).expect("valid");
    assert!(only_open.allows(&tcp(&web, &db, 80)), "not isolated");
    assert!(
        !only_open.allows(&tcp(&web, &pod("a", "cache"), 80)),
        "the second entry isolates its own pods"
    );
    let both = Oracle::load(&format!("{open}---\n{deny_only}"), &[]).expect("valid");
    assert!(
        !both.allows(&tcp(&web, &db, 80)),
        "deny-only policies isolate"
    );
    assert!(
        both.allows(&tcp(&web, &db, 5432)),
        "the open policy's allow applies once isolated"
    );
}

// ------------------------------------------------------------------ generated

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

/// Codes a generated program may legitimately fail with on cilium.
const EXPECTED_TARGET_CODES: &[Code] = &[
    Code::NotExact,
    Code::FqdnNeedsVia,
    Code::L7NotSupported,
    Code::EntityNotExpressible,
    Code::MixedL4L7,
    Code::DenyNotExpressible,
];

fn check_generated(
    program: &GenProgram,
    pods: &[Pod],
    connections: &[Connection],
    stats: &Stats,
    documents: &std::sync::Mutex<Vec<(String, Resource)>>,
) -> Result<(), TestCaseError> {
    let text = program.render();
    let source = Source::named("generated", &text);
    let Some(ir) = source.lower() else {
        return Err(TestCaseError::fail(format!(
            "generated program has errors:\n{}\n--- program ---\n{text}",
            source.render(lint::diagnostics(&source.db, source.program))
        )));
    };
    stats.programs.fetch_add(1, Ordering::Relaxed);
    let resources = match source.build(Target::Cilium) {
        Ok(r) => r,
        Err(diags) => {
            for d in &diags {
                if !EXPECTED_TARGET_CODES.contains(&d.code) {
                    return Err(TestCaseError::fail(format!(
                        "unexpected error:\n{}\n--- program ---\n{text}",
                        source.render(&diags)
                    )));
                }
                if let Ok(mut m) = stats.target_errors.lock() {
                    *m.entry(d.code.as_str().to_string()).or_default() += 1;
                }
            }
            return Ok(());
        }
    };
    let yaml_text = yaml::stream(&resources);
    let again = yaml::stream(
        &Source::named("generated", &text)
            .build(Target::Cilium)
            .map_err(|_| TestCaseError::fail("second build failed"))?,
    );
    if again != yaml_text {
        return Err(TestCaseError::fail(format!(
            "two builds differ\n--- program ---\n{text}"
        )));
    }
    // The generated inventory, plus the universe of the program's zones.
    let mut all_pods = pods.to_vec();
    all_pods.extend(universe_pods(&ir));
    let mut conns = connections.to_vec();
    let universe = universe_connections(&ir, &universe_pods(&ir));
    // A sample of the universe keeps generated cases quick.
    conns.extend(sample(universe, 2_500));
    compare(&ir, &yaml_text, &all_pods, &conns, &text, stats).map_err(TestCaseError::fail)?;
    stats.compared_programs.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut docs) = documents.lock() {
        if docs.len() < 2000 {
            docs.extend(resources.into_iter().map(|r| ("generated".to_string(), r)));
        }
    }
    Ok(())
}

/// Generated programs and inventories: the oracle agrees with the evaluator
/// on every program that builds; the rest fail with a documented code.
/// Returns the stats' report; panics with the program on a difference.
fn run_generated(
    name: &str,
    cfg: GenConfig,
    cases: u32,
    min_compared: usize,
    max_failing_percent: usize,
) {
    let stats = Stats::default();
    let documents = std::sync::Mutex::new(Vec::new());
    let mut runner = TestRunner::new(Config {
        cases,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..Config::default()
    });
    let result = runner.run(&scenario(cfg, 48), |(program, inventory, specs)| {
        let connections: Vec<Connection> = specs.iter().map(|s| inventory.connection(s)).collect();
        check_generated(
            &program,
            &inventory.all_pods(),
            &connections,
            &stats,
            &documents,
        )
    });
    let report = stats.report(name);
    eprintln!("{report}");
    if let Err(e) = result {
        panic!("{e}\n{report}");
    }
    let programs = stats.programs.load(Ordering::Relaxed).max(1);
    let compared = stats.compared_programs.load(Ordering::Relaxed);
    assert!(
        compared >= min_compared,
        "only {compared} generated programs built and compared (at least {min_compared} expected): {report}"
    );
    let failing = (programs - compared) * 100 / programs;
    assert!(
        failing <= max_failing_percent,
        "{failing}% of generated programs do not build for cilium (at most {max_failing_percent}% expected): {report}"
    );
    let documents = documents.into_inner().unwrap_or_default();
    validate_schemas(&documents);
}

#[test]
fn generated_programs_agree_with_the_evaluator() {
    // Every construct, FQDN sources and gateways included: some programs
    // cannot be written for cilium (each with a documented code).
    let cases = cases();
    run_generated(
        "generated (all constructs)",
        GenConfig::default(),
        cases,
        (cases as usize / 4).max(30),
        75,
    );
}

#[test]
fn generated_programs_without_names_l7_or_named_ports_always_build() {
    // No FQDNs, named ports, L7 or gateways: every program builds, except
    // a `deny` of `world` that an earlier tier's allow of addresses narrows
    // (E0408: Cilium's deny rules cannot match the names that remain).
    // Half as many: these programs are the largest to compare.
    let cases = (cases() / 2).max(30);
    run_generated(
        "generated (exact constructs)",
        GenConfig::exact(),
        cases,
        cases as usize * 4 / 5,
        20,
    );
}

// ------------------------------------------------------------------ locality

/// The zone names a rule line mentions (peers and `via` aside from literals).
fn zones_named(rule: &str, zones: &BTreeSet<String>) -> BTreeSet<String> {
    let head = rule.split(" : ").next().unwrap_or(rule);
    head.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| zones.contains(*w))
        .map(str::to_string)
        .collect()
}

/// Changing one rule's ports changes only the policies of the zones that
/// rule names (both directions, and kube-dns's for the lookups of an FQDN
/// allow); a tier's allow may also change the policies of the zones named
/// by the denies it narrows.
#[test]
fn changing_one_rule_changes_only_the_policies_of_its_zones() {
    let mut checked = 0;
    for (name, files) in examples() {
        if EXAMPLES_THAT_FAIL.iter().any(|(n, _, _)| *n == name) {
            continue;
        }
        let files = relative(&files);
        let source = Source::files(&files);
        let Some(ir) = source.lower() else { continue };
        let zones: BTreeSet<String> = ir.zones.iter().map(|z| z.name.clone()).collect();
        let Ok(base) = source.build(Target::Cilium) else {
            continue;
        };
        let documents = |resources: &[Resource]| -> BTreeMap<String, serde_json::Value> {
            resources
                .iter()
                .map(|r| (r.name.clone(), r.value()))
                .collect()
        };
        let before = documents(&base);
        let deny_zones: BTreeSet<String> = files
            .iter()
            .flat_map(|(_, text)| text.lines())
            .filter(|l| l.trim_start().starts_with("deny "))
            .flat_map(|l| zones_named(l, &zones))
            .collect();
        for (index, (path, text)) in files.iter().enumerate() {
            let mut in_tier = false;
            for (line_no, line) in text.lines().enumerate() {
                let code = line.split('#').next().unwrap_or("").trim_end();
                let trimmed = code.trim_start();
                if trimmed.starts_with("tier ") {
                    in_tier = true;
                } else if trimmed == "}" {
                    in_tier = false;
                }
                let is_rule = trimmed.starts_with("allow ") || trimmed.starts_with("deny ");
                if !is_rule || !trimmed.contains(" : ") || trimmed.contains('{') {
                    continue;
                }
                if trimmed.contains(" via ") {
                    continue;
                }
                let mut changed = files.clone();
                let lines: Vec<String> = text
                    .lines()
                    .enumerate()
                    .map(|(i, l)| {
                        if i == line_no {
                            format!("{code}, 65001")
                        } else {
                            l.to_string()
                        }
                    })
                    .collect();
                changed[index].1 = lines.join("\n") + "\n";
                let Ok(after) = Source::files(&changed).build(Target::Cilium) else {
                    continue;
                };
                let after = documents(&after);
                let mut allowed = BTreeSet::new();
                let mut named = zones_named(trimmed, &zones);
                if trimmed.contains("fqdn") || trimmed.contains("stripe") {
                    named.insert("kube-dns".to_string());
                }
                if in_tier && trimmed.starts_with("allow ") {
                    named.extend(deny_zones.iter().cloned());
                }
                for zone in &named {
                    allowed.insert(zone.clone());
                }
                let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
                let touched: Vec<&String> = names
                    .into_iter()
                    .filter(|n| before.get(*n) != after.get(*n))
                    .collect();
                let stray: Vec<&&String> =
                    touched.iter().filter(|n| !allowed.contains(**n)).collect();
                assert!(
                    stray.is_empty(),
                    "{name}: changing `{trimmed}` ({path}:{}) changed {stray:?}, which are not the policies of {named:?}",
                    line_no + 1
                );
                assert!(
                    touched.len() <= allowed.len(),
                    "{name}: `{trimmed}` touched {touched:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} rules were changed");
    eprintln!("locality: {checked} one-rule edits checked");
}
