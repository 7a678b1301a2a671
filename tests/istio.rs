//! `--target istio`, proved:
//! - every example under `examples/` builds; those that use `via` are
//!   snapshotted (insta), the others give no resources; output is
//!   byte-identical across two builds;
//! - every emitted document validates against the networking.istio.io
//!   schemas of `../shared/schemas` with `check-jsonschema`;
//! - the routing is scoped: source-side resources live in the source
//!   namespaces and are exported there only, the Gateway selects the gateway
//!   zone's pods, the gateway-side routes send the host out;
//! - the network-layer target built alongside forbids the direct path:
//!   source → host is denied while source → gateway pods on the gateway
//!   port and gateway → host are allowed, by the reference evaluator, by the
//!   Cilium oracle reading the cilium output, and by nca reading the
//!   kubernetes output;
//! - what Istio cannot route is a coded error (E0420..E0425, snapshotted),
//!   and `nplc build` without `--target istio` warns (W0005) on `via`.

mod cilium_oracle;
mod nca;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::emit::{yaml, Resource, Target};
use nplc_compiler::eval::{evaluate, Connection, ContainerPort, Endpoint, Pod, Transport};
use nplc_compiler::{names, render};

use cilium_oracle::Oracle;
use nca::{PodYaml, PROTOCOLS};

const NPLC: &str = env!("CARGO_BIN_EXE_nplc");

use support::sources::{examples, Source};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn uses_via(source: &Source) -> bool {
    names::resolve(&source.db, source.program)
        .rules
        .iter()
        .any(|r| r.via.is_some())
}

fn istio_schema(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "ServiceEntry" => "networking.istio.io/serviceentry_v1.json",
        "Gateway" => "networking.istio.io/gateway_v1.json",
        "DestinationRule" => "networking.istio.io/destinationrule_v1.json",
        "VirtualService" => "networking.istio.io/virtualservice_v1.json",
        _ => return None,
    })
}

fn validate(origin: &str, resources: &[Resource]) {
    support::schemas::validate_from(origin, resources, istio_schema);
}

// ------------------------------------------------------------------ examples

#[test]
fn examples_build_and_validate() {
    let mut with_via = 0;
    for (name, files) in examples() {
        let first = Source::files(&files).built(Target::Istio);
        let second = Source::files(&files).built(Target::Istio);
        let text = yaml::stream(&first);
        assert_eq!(text, yaml::stream(&second), "{name}: not byte-stable");
        if uses_via(&Source::files(&files)) {
            with_via += 1;
            assert!(!first.is_empty(), "{name} uses `via` and builds nothing");
            validate(&name, &first);
            // The bytes are examples/NAME/expected/istio (tests/golden.rs).
        } else {
            assert!(first.is_empty(), "{name} has no `via` and builds {text}");
        }
    }
    assert!(with_via > 0, "no example uses `via`");
}

// ------------------------------------------------------------------ routing

const TLS: &str = r#"import "std/k8s"

## The web app, in its own namespace.
zone web { namespace "web"; pods app = "web" }
## Reports, two namespaces.
zone reports { namespaces kubernetes.io/metadata.name in ("reports", "audit") }

gateway egress = istio { zone istio-egressgateway }

allow web -> kube-dns : udp/53, tcp/53
allow web -> fqdn "api.stripe.com" : 443 via egress
allow {web, reports} -> fqdn "uploads.example.com" : 443 via egress
"#;

const HTTP: &str = r#"import "std/k8s"

zone web { namespace "web"; pods app = "web" }
zone batch { namespace "web"; pods app = "batch" }

## Plain HTTP through the chart's HTTP port (Service port 80).
gateway egress-http = istio { zone istio-egressgateway; port 8080 }

allow web -> fqdn "edition.cnn.com" : 80 http { GET "/politics/.*"; POST "/api" } via egress-http
allow batch -> fqdn "edition.cnn.com" : 80 http { GET "/world/.*" } via egress-http
"#;

/// TLS and plain HTTP through the same gateway pods: two gateways, one
/// DestinationRule for their Service.
const TLS_AND_HTTP: &str = r#"import "std/k8s"

zone web { namespace "web" }

gateway egress = istio { zone istio-egressgateway }
gateway egress-http = istio { zone istio-egressgateway; port 8080 }
allow web -> fqdn "api.example.com" : 443 via egress
allow web -> fqdn "status.example.com" : 80 via egress-http
"#;

/// A custom gateway zone: its Service is named after the zone.
const CUSTOM_GATEWAY: &str = r#"zone app { namespace "shop" }
zone egress-gw { namespace "egress"; pods app = "egress-gw", tier = "edge"; isolate none }

gateway out = istio { zone egress-gw; port 8443 }
allow app -> fqdn "pay.example.com" : 8443 via out
"#;

fn by_key(resources: &[Resource]) -> BTreeMap<(String, String, String), &Resource> {
    resources
        .iter()
        .map(|r| {
            (
                (
                    r.kind.clone(),
                    r.namespace.clone().unwrap_or_default(),
                    r.name.clone(),
                ),
                r,
            )
        })
        .collect()
}

#[test]
fn hand_written_programs_build_validate_and_are_snapshotted() {
    for (name, text) in [
        ("tls", TLS),
        ("http", HTTP),
        ("tls_and_http", TLS_AND_HTTP),
        ("custom_gateway", CUSTOM_GATEWAY),
    ] {
        let resources = Source::text(text).built(Target::Istio);
        validate(name, &resources);
        insta::assert_snapshot!(format!("program_{name}"), yaml::stream(&resources));
    }
}

#[test]
fn routing_applies_to_the_source_namespaces_only() {
    let resources = Source::text(TLS).built(Target::Istio);
    let keys = by_key(&resources);
    let sources = ["web", "reports", "audit"];
    for r in &resources {
        let ns = r.namespace.as_deref().unwrap_or_default();
        let document = r.value();
        let spec = &document["spec"];
        if r.kind != "Gateway" {
            assert_eq!(
                spec["exportTo"],
                serde_json::json!(["."]),
                "{}/{}",
                ns,
                r.name
            );
        }
        match r.kind.as_str() {
            "Gateway" => {
                assert_eq!(ns, "istio-system");
                assert_eq!(
                    spec["selector"],
                    serde_json::json!({"istio": "egressgateway"})
                );
            }
            "DestinationRule" => {
                assert!(sources.contains(&ns), "{ns}");
                assert_eq!(
                    spec["host"],
                    "istio-egressgateway.istio-system.svc.cluster.local"
                );
            }
            "VirtualService" if spec["gateways"] == serde_json::json!(["mesh"]) => {
                assert!(sources.contains(&ns), "{ns}");
                let route = &spec["tls"][0]["route"][0]["destination"];
                assert_eq!(
                    route["host"],
                    "istio-egressgateway.istio-system.svc.cluster.local"
                );
                assert_eq!(route["port"]["number"], 443);
            }
            "VirtualService" => assert_eq!(ns, "istio-system"),
            _ => {}
        }
    }
    // Stripe is routed from `web` only, and only for the web pods.
    let stripe = keys
        .get(&(
            "VirtualService".to_string(),
            "web".to_string(),
            "egress-api-stripe-com".to_string(),
        ))
        .expect("the web namespace's route to api.stripe.com");
    assert_eq!(
        stripe.value()["spec"]["tls"][0]["match"][0]["sourceLabels"],
        serde_json::json!({"app": "web"})
    );
    for ns in ["reports", "audit"] {
        assert!(!keys.contains_key(&(
            "VirtualService".to_string(),
            ns.to_string(),
            "egress-api-stripe-com".to_string()
        )));
        assert!(keys.contains_key(&(
            "VirtualService".to_string(),
            ns.to_string(),
            "egress-uploads-example-com".to_string()
        )));
    }
    // One DestinationRule per source namespace, a subset per host.
    let web_rule = keys
        .get(&(
            "DestinationRule".to_string(),
            "web".to_string(),
            "istio-egressgateway".to_string(),
        ))
        .expect("the web namespace's DestinationRule");
    assert_eq!(
        web_rule.value()["spec"]["subsets"],
        serde_json::json!([{"name": "api-stripe-com"}, {"name": "uploads-example-com"}])
    );
    // The gateway side: out to the host on its port.
    let out = keys
        .get(&(
            "VirtualService".to_string(),
            "istio-system".to_string(),
            "egress-api-stripe-com-gateway".to_string(),
        ))
        .expect("the gateway's route to api.stripe.com");
    assert_eq!(
        out.value()["spec"]["tls"][0]["route"][0]["destination"],
        serde_json::json!({"host": "api.stripe.com", "port": {"number": 443}})
    );
}

#[test]
fn a_program_without_via_builds_nothing() {
    let resources = Source::text("zone web { namespace \"web\" }\nallow web -> web : 80\n")
        .built(Target::Istio);
    assert!(resources.is_empty());
}

// ------------------------------------------------------------------ errors

#[test]
fn what_istio_cannot_route_fails_with_its_code() {
    let gateway = "import \"std/k8s\"\nzone web { namespace \"web\" }\ngateway egress = istio { zone istio-egressgateway }\n";
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "E0420",
            "gateway_zone_without_namespace",
            "zone web { namespace \"web\" }\nzone gw { pods istio = \"egressgateway\"; isolate none }\ngateway egress = istio { zone gw }\nallow web -> fqdn \"api.example.com\" : 443 via egress\n".to_string(),
        ),
        (
            "E0420",
            "gateway_zone_without_labels",
            "zone web { namespace \"web\" }\nzone gw { namespace \"istio-system\"; isolate none }\ngateway egress = istio { zone gw }\nallow web -> fqdn \"api.example.com\" : 443 via egress\n".to_string(),
        ),
        (
            "E0420",
            "gateway_zone_by_operator",
            "zone web { namespace \"web\" }\nzone gw { namespace \"istio-system\"; pods istio != \"ingressgateway\"; isolate none }\ngateway egress = istio { zone gw }\nallow web -> fqdn \"api.example.com\" : 443 via egress\n".to_string(),
        ),

        (
            "E0421",
            "wildcard_host",
            format!("{gateway}allow web -> fqdn \"*.example.com\" : 443 via egress\n"),
        ),
        (
            "E0422",
            "source_namespaces_by_label",
            "import \"std/k8s\"\nzone web { namespaces team = \"web\" }\ngateway egress = istio { zone istio-egressgateway }\nallow web -> fqdn \"api.example.com\" : 443 via egress\n".to_string(),
        ),
        (
            "E0422",
            "source_pods_by_operator",
            "import \"std/k8s\"\nzone web { namespace \"web\"; pods app != \"db\" }\ngateway egress = istio { zone istio-egressgateway }\nallow web -> fqdn \"api.example.com\" : 443 via egress\n".to_string(),
        ),
        (
            "E0423",
            "plain_http_through_tls",
            format!("{gateway}allow web -> fqdn \"api.example.com\" : 80 via egress\n"),
        ),
        (
            "E0423",
            "several_ports",
            format!("{gateway}allow web -> fqdn \"api.example.com\" : 443, 8443 via egress\n"),
        ),
        (
            "E0424",
            "http_filter_through_tls",
            format!("{gateway}allow web -> fqdn \"api.example.com\" : 443 http {{ GET \"/v1/.*\" }} via egress\n"),
        ),
        (
            "E0425",
            "two_ports_for_one_host",
            format!("{gateway}allow web -> fqdn \"api.example.com\" : 443 via egress\nallow web -> fqdn \"api.example.com\" : 9443 via egress\n"),
        ),
        (
            "E0425",
            "two_gateways_for_one_host",
            format!("{gateway}gateway other = istio {{ zone istio-egressgateway; port 9443 }}\nallow web -> fqdn \"api.example.com\" : 443 via egress\nallow web -> fqdn \"api.example.com\" : 443 via other\n"),
        ),
        (
            "E0425",
            "two_gateways_on_one_listener",
            format!("{gateway}zone jobs {{ namespace \"jobs\" }}\ngateway other = istio {{ zone istio-egressgateway }}\nallow web -> fqdn \"api.example.com\" : 443 via egress\nallow jobs -> fqdn \"api.example.com\" : 9443 via other\n"),
        ),
    ];
    for (code, name, text) in cases {
        let source = Source::text(&text);
        let Err(diags) = source.build(Target::Istio) else {
            panic!("{name}: built, expected {code}");
        };
        let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
        assert!(
            codes.contains(&code),
            "{name}: expected {code}, got {codes:?}"
        );
        insta::assert_snapshot!(
            format!("error_{code}_{name}"),
            format!("{text}\n{}", render::human(&source.db, &diags, false))
        );
    }
}

// ------------------------------------------------------------------ the warning

fn nplc(args: &[&str]) -> std::process::Output {
    Command::new(NPLC)
        .args(args)
        .current_dir(root())
        .output()
        .expect("running nplc")
}

#[test]
fn via_without_the_istio_target_warns() {
    let dir = nca::temp_dir("istio-warning");
    let program = dir.join("policy.npl");
    std::fs::write(
        &program,
        "import \"std/k8s\"\nzone web { namespace \"web\" }\ngateway egress = istio { zone istio-egressgateway }\nallow web -> fqdn \"api.example.com\" : 443 via egress\n",
    )
    .expect("writing");
    let path = program.to_string_lossy().to_string();
    let without = nplc(&["build", &path, "--target", "kubernetes", "--color", "never"]);
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(without.status.success(), "{stderr}");
    assert!(stderr.contains("warning[W0005]"), "{stderr}");
    for targets in [
        vec!["istio"],
        vec!["kubernetes", "istio"],
        vec!["cilium", "istio"],
    ] {
        let mut args = vec!["build", path.as_str(), "--color", "never"];
        for t in &targets {
            args.extend(["--target", t]);
        }
        let with = nplc(&args);
        let stderr = String::from_utf8_lossy(&with.stderr);
        assert!(with.status.success(), "{targets:?}: {stderr}");
        assert!(!stderr.contains("W0005"), "{targets:?}: {stderr}");
    }
    // A program without `via`: nothing to route, exit 0, zero resources.
    std::fs::write(
        &program,
        "zone web { namespace \"web\" }\nallow web -> web : 80\n",
    )
    .expect("writing");
    let empty = nplc(&["build", &path, "--target", "istio", "--color", "never"]);
    assert!(empty.status.success());
    assert!(empty.stdout.is_empty());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("built 0 resources"));
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ the direct path

/// The focused case: web may reach api.stripe.com on 443 only through the
/// egress gateway.
const FOCUSED: &str = r#"import "std/k8s"

zone web { namespace "web"; pods app = "web" }
gateway egress = istio { zone istio-egressgateway }

allow web -> kube-dns : udp/53, tcp/53
allow web -> fqdn "api.stripe.com" : 443 via egress
"#;

fn pod(namespace: &str, labels: &[(&str, &str)], ports: &[u16]) -> Pod {
    Pod {
        namespace: namespace.to_string(),
        namespace_labels: BTreeMap::new(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ports: ports
            .iter()
            .map(|&n| ContainerPort {
                name: format!("p{n}"),
                protocol: Protocol::Tcp,
                number: n,
            })
            .collect(),
    }
}

fn gateway_pod() -> Pod {
    pod("istio-system", &[("istio", "egressgateway")], &[8443, 8080])
}

fn connection(source: Endpoint, destination: Endpoint, port: u16) -> Connection {
    Connection {
        source,
        destination,
        transport: Transport::Port(Protocol::Tcp, port),
        request: None,
    }
}

/// What a connection is, the connection, and whether it must be allowed.
type Expected = (String, Connection, bool);

/// The four paths of a `via`: for a source pod, its host and port.
fn paths(source: &Pod, host: &str, port: u16) -> Vec<Expected> {
    let fqdn = || Endpoint::Fqdn(host.to_string());
    vec![
        (
            format!("source -> {host}:{port} directly"),
            connection(Endpoint::Pod(source.clone()), fqdn(), port),
            false,
        ),
        (
            "source -> gateway pods on 8443".to_string(),
            connection(
                Endpoint::Pod(source.clone()),
                Endpoint::Pod(gateway_pod()),
                8443,
            ),
            true,
        ),
        (
            format!("source -> gateway pods on {port} (the Service port)"),
            connection(
                Endpoint::Pod(source.clone()),
                Endpoint::Pod(gateway_pod()),
                443,
            ),
            false,
        ),
        (
            format!("gateway -> {host}:{port}"),
            connection(Endpoint::Pod(gateway_pod()), fqdn(), port),
            true,
        ),
    ]
}

/// The `via` cases of the fqdn-egress-gateway example and the focused case.
fn direct_path_cases() -> Vec<(String, Source, Vec<Expected>)> {
    let example = examples()
        .into_iter()
        .find(|(name, _)| name == "fqdn-egress-gateway")
        .expect("examples/fqdn-egress-gateway");
    let mut example_paths = paths(&pod("demo-istio", &[], &[]), "google.com", 443);
    example_paths.extend(paths(&pod("payments", &[], &[]), "api.stripe.com", 443));
    vec![
        (
            "fqdn-egress-gateway".to_string(),
            Source::files(&example.1),
            example_paths,
        ),
        (
            "focused".to_string(),
            Source::text(FOCUSED),
            paths(&pod("web", &[("app", "web")], &[]), "api.stripe.com", 443),
        ),
    ]
}

#[test]
fn the_evaluator_and_the_cilium_output_forbid_the_direct_path() {
    for (name, source, cases) in direct_path_cases() {
        let ir = source.ir();
        // Built alongside istio: both succeed.
        source.built(Target::Istio);
        let cilium = yaml::stream(&source.built(Target::Cilium));
        let pods = [gateway_pod()];
        let oracle = match Oracle::load(&cilium, &pods) {
            Ok(o) => o,
            Err(problems) => panic!("{name}: the cilium output is refused: {problems:?}"),
        };
        for (what, conn, expected) in &cases {
            assert_eq!(
                evaluate(&ir, conn).allowed,
                *expected,
                "{name}: the evaluator on {what}"
            );
            assert_eq!(
                oracle.allows(conn),
                *expected,
                "{name}: the cilium output on {what}: {:?}",
                oracle.verdict(conn)
            );
        }
    }
}

#[test]
fn the_kubernetes_output_forbids_the_direct_path() {
    let source = Source::text(FOCUSED);
    source.built(Target::Istio);
    let policies = yaml::stream(&source.built(Target::Kubernetes));
    let dir = nca::temp_dir("istio-direct");
    let policy_file = dir.join("policies.yaml");
    std::fs::write(&policy_file, &policies).expect("writing");
    let namespaces: Vec<(String, BTreeMap<String, String>)> =
        ["web", "istio-system", "kube-system"]
            .iter()
            .map(|n| (n.to_string(), BTreeMap::new()))
            .collect();
    let namespaces_file = dir.join("namespaces.yaml");
    std::fs::write(&namespaces_file, nca::namespaces_yaml(&namespaces)).expect("writing");
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let pods = [
        PodYaml {
            namespace: "web".to_string(),
            name: "web-0".to_string(),
            labels: labels(&[("app", "web")]),
            ports: vec![],
        },
        PodYaml {
            namespace: "istio-system".to_string(),
            name: "gw-0".to_string(),
            labels: labels(&[("istio", "egressgateway")]),
            ports: vec![("https".to_string(), "TCP".to_string(), 8443)],
        },
        PodYaml {
            namespace: "kube-system".to_string(),
            name: "dns-0".to_string(),
            labels: labels(&[("k8s-app", "kube-dns")]),
            ports: vec![],
        },
    ];
    let pods_file = dir.join("pods.yaml");
    std::fs::write(&pods_file, nca::pods_yaml(&pods)).expect("writing");
    let view = match nca::nca_connectivity(&policy_file, &namespaces_file, &pods_file) {
        Ok(v) => v,
        Err(e) => panic!("nca: {e}\n{policies}"),
    };
    let tcp = PROTOCOLS
        .iter()
        .position(|p| *p == "TCP")
        .expect("TCP is a protocol");
    let has = |conns: &nca::Conns, port: u32| {
        conns.ports[tcp]
            .iter()
            .any(|&(lo, hi)| lo <= port && port <= hi)
    };
    let web = "web/web-0".to_string();
    let gateway = "istio-system/gw-0".to_string();
    // The direct path: web reaches no address outside the cluster.
    let web_out = view.addresses.get(&(web.clone(), true));
    assert!(
        web_out.is_none_or(|ranges| ranges.iter().all(|(_, c)| c.is_empty())),
        "web reaches addresses directly: {web_out:?}\n{policies}"
    );
    // To the gateway on its pod port, not on the Service port.
    let to_gateway = view
        .pods
        .get(&(web.clone(), gateway.clone()))
        .cloned()
        .unwrap_or_default();
    assert!(
        has(&to_gateway, 8443),
        "web cannot reach the gateway on 8443\n{policies}"
    );
    assert!(
        !has(&to_gateway, 443),
        "web reaches the gateway on 443\n{policies}"
    );
    // The gateway reaches the host (every address on 443, as far as
    // NetworkPolicy can tell).
    let gateway_out = view.addresses.get(&(gateway, true));
    assert!(
        gateway_out.is_some_and(|ranges| ranges.iter().any(|(_, c)| has(c, 443))),
        "the gateway cannot reach addresses on 443: {gateway_out:?}\n{policies}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
