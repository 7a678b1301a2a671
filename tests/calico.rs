//! `--target calico`: what it writes and that it means what the program means.
//!
//! - every example builds, or fails with the codes [`EXAMPLES_THAT_FAIL`]
//!   lists (the bytes are the examples' golden outputs, `tests/golden.rs`);
//!   the cases below are snapshotted, and every document validates against
//!   `../shared/schemas/projectcalico.org` (check-jsonschema from `.venv`;
//!   Calico Enterprise's `domains`, not in those schemas, is checked apart);
//! - `--calico-flat` output read by network-config-analyzer (`nca
//!   --connectivity`, which reads Calico NetworkPolicy/GlobalNetworkPolicy
//!   with `order` and Allow/Deny/Pass but not tiers) has the connectivity
//!   `nplc matrix` computes, on the examples that build and on generated
//!   programs with generated inventories. nca learns namespace names through
//!   the `projectcalico.org/name` label, which Calico gives every namespace:
//!   the inventories given to nca carry it;
//! - the tiered output is proved the same way by `tests/calico_tiers.rs`.
//!
//! nca's generated programs are those of the kubernetes proof
//! ([`nca::address_target_config`]): no names, L7 or entities, which the
//! calico target refuses or nca does not read.

mod nca;
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use nplc_compiler::emit::{yaml, Options, Resource, Target};
use nplc_compiler::render;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use nca::{compare, root};
use support::inventory::inventory_strategy;
use support::program::program_strategy;
use support::sources::{examples, Source};

const NPLC: &str = env!("CARGO_BIN_EXE_nplc");

/// Examples the calico target refuses, with the codes it gives.
const EXAMPLES_THAT_FAIL: &[(&str, &[&str])] = &[
    // toFQDNs without `via` (E0402; its `via` rules build); a `dns { }`
    // filter, which no Calico has.
    ("fqdn-egress-gateway", &["E0402", "E0403"]),
    // `allow backend -> stripe : 443` matches a host name.
    ("three-tier", &["E0402"]),
];

fn calico_schema(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Tier" => "projectcalico.org/tier_v3.json",
        "NetworkPolicy" => "projectcalico.org/networkpolicy_v3.json",
        "GlobalNetworkPolicy" => "projectcalico.org/globalnetworkpolicy_v3.json",
        "StagedNetworkPolicy" => "projectcalico.org/stagednetworkpolicy_v3.json",
        "StagedGlobalNetworkPolicy" => "projectcalico.org/stagedglobalnetworkpolicy_v3.json",
        _ => return None,
    })
}

fn validate(origin: &str, resources: &[Resource]) {
    support::schemas::validate_from(origin, resources, calico_schema);
}

fn options(flat: bool, staged: bool) -> Options {
    Options {
        calico_flat: flat,
        calico_staged: staged,
        ..Options::default()
    }
}

fn enterprise() -> Options {
    Options {
        calico_enterprise: true,
        ..Options::default()
    }
}

/// The open-source CRD schemas have no `domains` (Calico Enterprise's
/// egress host names): it is checked here, a list of names in egress Allow
/// destinations only, and removed before the schema validation of the rest.
fn validate_enterprise(origin: &str, resources: &[Resource]) -> usize {
    let mut found = 0;
    let mut stripped = resources.to_vec();
    for resource in &mut stripped {
        let mut document = resource.value();
        let spec = &mut document["spec"];
        if let Some(rules) = spec["ingress"].as_array() {
            for rule in rules {
                for side in ["source", "destination"] {
                    assert!(
                        rule[side].get("domains").is_none(),
                        "{origin}: domains on ingress"
                    );
                }
            }
        }
        // `get_mut`, not `[]`, which would add the missing keys as nulls.
        let egress = spec.get_mut("egress").and_then(|e| e.as_array_mut());
        for rule in egress.into_iter().flatten() {
            assert!(
                rule["source"].get("domains").is_none(),
                "{origin}: source domains"
            );
            let action = rule["action"].clone();
            let destination = rule.get_mut("destination").and_then(|d| d.as_object_mut());
            let Some(destination) = destination else {
                continue;
            };
            if let Some(domains) = destination.remove("domains") {
                assert_eq!(action, "Allow", "{origin}: domains on a non-Allow rule");
                let names = domains.as_array().expect("domains is a list");
                assert!(!names.is_empty(), "{origin}: empty domains");
                for name in names {
                    let name = name.as_str().expect("a domain is a string");
                    assert!(!name.contains('*'), "{origin}: wildcard domain {name}");
                }
                found += 1;
            }
        }
        *resource = resource.with_value(&document);
    }
    validate(origin, &stripped);
    found
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(true);
    settings.set_snapshot_path(root().join("tests/snapshots"));
    settings.bind(|| insta::assert_snapshot!(name.to_string(), text));
}

/// Error codes of a failed build, sorted.
fn codes(diags: &[nplc_compiler::Diagnostic]) -> BTreeSet<String> {
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str().to_string())
        .collect()
}

// ------------------------------------------------------------------ examples

#[test]
fn examples_build_and_validate_or_fail_with_their_codes() {
    for (name, files) in examples() {
        let source = Source::files(&files);
        let expected = EXAMPLES_THAT_FAIL.iter().find(|(n, _)| *n == name);
        match (
            source.build_with(Target::Calico, &options(false, false)),
            expected,
        ) {
            (Ok(resources), None) => {
                validate(&format!("examples/{name}"), &resources);
                // The bytes are examples/NAME/expected/calico (tests/golden.rs).
                // The flat and staged layouts validate too.
                for (flat, staged) in [(true, false), (false, true)] {
                    let other = source
                        .build_with(Target::Calico, &options(flat, staged))
                        .unwrap_or_else(|_| {
                            panic!("examples/{name} builds tiered but not flat/staged")
                        });
                    validate(
                        &format!("examples/{name} (flat {flat}, staged {staged})"),
                        &other,
                    );
                }
            }
            (Err(diags), Some((_, want))) => {
                let want: BTreeSet<String> = want.iter().map(|c| c.to_string()).collect();
                assert_eq!(
                    codes(&diags),
                    want,
                    "examples/{name} fails on calico with other codes than EXAMPLES_THAT_FAIL says:\n{}",
                    render::human(&source.db, &diags, false)
                );
            }
            (Ok(_), Some(_)) => {
                panic!("examples/{name} now builds on calico: remove it from EXAMPLES_THAT_FAIL")
            }
            (Err(diags), None) => panic!(
                "examples/{name} does not build on calico:\n{}",
                render::human(&source.db, &diags, false)
            ),
        }
    }
}

// ------------------------------------------------------------------ cases

const TIERS: &str = r#"
zone web { namespace "shop"; pods app = "web" }
zone api { namespace "shop"; pods app = "api", track != "canary" }
zone data { namespaces tier in ("data", "cache") }
zone ops { pods has team, not has temporary; isolate egress }

tier security {
  deny cluster -> cidr 169.254.169.254/32
  deny web -> data
}
tier platform {
  allow ops -> cluster : 22
}
allow web -> api : 8080
allow api -> data : 5432, tcp/6379
deny api -> data : 6379
"#;

const PEERS_AND_PORTS: &str = r#"
zone app { namespace "app" }
external corp = cidr 10.0.0.0/8 except 10.1.0.0/16, 10.2.0.0/16
external v6 = cidr 2001:db8::/32
allow app -> {corp, v6} : 443, udp/5000-5100, sctp/3868, tcp/metrics
allow world -> app : 8443
allow app -> world : icmp
allow health -> app : 8080
"#;

/// HTTP filters on ingress to pods: literal paths are `exact`, literal
/// prefixes `prefix`; the egress side is the rule without its filter.
const HTTP: &str = r#"
zone web { namespace "web" }
zone api { namespace "api"; pods app = "api" }
zone ops { namespaces team = "ops" }
allow web -> api : 8080 http {
  GET "/api/v1/products/.*"
  GET "/api/v1/health"
  POST "/api/v1/orders"
  "/api/v1/cart/.*"
}
allow ops -> api : 8080, 9090 http { GET; HEAD }
allow world -> api : 8443 http { GET "/public/.*" }
"#;

/// `via` without the host's names (the gateway's egress is open), the API
/// server as Service `default/kubernetes` both ways, and `log` rules: Log
/// policies first in their tier.
const VIA_API_SERVER_LOG: &str = r#"
zone app { namespace "app"; isolate egress }
zone gw { namespace "istio-system"; pods istio = "egressgateway"; isolate ingress }
gateway egress = istio { zone gw }
zone monitoring { namespace "monitoring"; isolate both }
tier watch {
  log app -> world : 443
}
allow app -> fqdn "api.stripe.com" : 443 via egress
allow monitoring -> kube-apiserver : 6443
allow kube-apiserver -> monitoring : 10250
log cluster -> monitoring : 9090
allow app -> monitoring : 9090
"#;

/// `--calico-enterprise`: exact host names become `destination.domains`;
/// their DNS lookups are the program's allows to kube-dns.
const ENTERPRISE: &str = r#"
zone app { namespace "app" }
external stripe = fqdn "api.stripe.com"
allow app -> {stripe, fqdn "hooks.slack.com"} : 443
allow app -> cidr 192.0.2.0/24 : 443
"#;

#[test]
fn enterprise_writes_exact_names_as_domains() {
    let source = Source::text(ENTERPRISE);
    let resources = source
        .build_with(Target::Calico, &enterprise())
        .unwrap_or_else(|diags| panic!("{}", render::human(&source.db, &diags, false)));
    assert_eq!(validate_enterprise("enterprise", &resources), 1);
    snapshot("case_enterprise", &yaml::stream(&resources));
    // The three-tier example's `api.stripe.com` too.
    let (_, files) = examples()
        .into_iter()
        .find(|(name, _)| name == "three-tier")
        .expect("examples/three-tier");
    let source = Source::files(&files);
    let resources = source
        .build_with(Target::Calico, &enterprise())
        .unwrap_or_else(|diags| panic!("{}", render::human(&source.db, &diags, false)));
    assert_eq!(validate_enterprise("examples/three-tier", &resources), 1);
    // fqdn-egress-gateway: its `via` rules build on open source already;
    // with Enterprise what is left is its `*.google.com` (Enterprise's `*`
    // is one or more labels, the program's one: E0402) and its `dns { }`
    // filter, which no Calico enforces (E0403).
    let (_, files) = examples()
        .into_iter()
        .find(|(name, _)| name == "fqdn-egress-gateway")
        .expect("examples/fqdn-egress-gateway");
    let source = Source::files(&files);
    let Err(diags) = source.build_with(Target::Calico, &enterprise()) else {
        panic!("fqdn-egress-gateway's dns filter builds on calico");
    };
    assert_eq!(
        codes(&diags),
        BTreeSet::from(["E0402".to_string(), "E0403".to_string()])
    );
    let rendered = render::human(&source.db, &diags, false);
    assert!(
        rendered.contains("matches one or more labels"),
        "{rendered}"
    );
    assert!(!rendered.contains("via egress"), "{rendered}");
    // Without the flag, the same program is E0402.
    let Err(diags) = Source::text(ENTERPRISE).build(Target::Calico) else {
        panic!("FQDN egress builds on Calico open source");
    };
    assert_eq!(codes(&diags), BTreeSet::from(["E0402".to_string()]));
}

#[test]
fn cases_validate_and_are_snapshotted() {
    for (name, text, flat, staged) in [
        ("tiers", TIERS, false, false),
        ("tiers_flat", TIERS, true, false),
        ("tiers_staged", TIERS, false, true),
        ("peers_and_ports", PEERS_AND_PORTS, false, false),
        ("http", HTTP, false, false),
        ("via_api_server_log", VIA_API_SERVER_LOG, false, false),
        ("via_api_server_log_flat", VIA_API_SERVER_LOG, true, false),
    ] {
        let source = Source::text(text);
        let resources = source
            .build_with(Target::Calico, &options(flat, staged))
            .unwrap_or_else(|diags| {
                panic!("{name}:\n{}", render::human(&source.db, &diags, false))
            });
        validate(name, &resources);
        snapshot(&format!("case_{name}"), &yaml::stream(&resources));
    }
}

#[test]
fn what_calico_cannot_say_fails_with_its_code() {
    let base = "zone a { namespace \"a\" }\nzone b { namespace \"b\" }\n";
    for (name, rule, code) in [
        ("fqdn", "allow a -> fqdn \"api.example.com\" : 443", "E0402"),
        (
            "http_regex",
            "allow a -> b : 80 http { GET \"/items/[0-9]+\" }",
            "E0403",
        ),
        (
            "http_deny",
            "deny a -> b : 80 http { POST \"/admin\" }",
            "E0403",
        ),
        (
            "http_to_cidr",
            "allow a -> cidr 10.0.0.0/8 : 80 http { GET \"/\" }",
            "E0403",
        ),
        (
            "dns_filter",
            "allow a -> b : udp/53 dns { \"example.com\" }",
            "E0403",
        ),
        ("apiserver_port", "allow a -> kube-apiserver : 8080", "E0405"),
        ("to_host", "allow a -> host : 9100", "E0405"),
        ("deny_from_host", "deny host -> a", "E0405"),
        (
            "log_to_fqdn",
            "log a -> fqdn \"api.example.com\" : 443",
            "E0402",
        ),
        (
            "via_isolated_gateway",
            "zone gw { namespace \"gw\"; isolate egress }\ngateway out = istio { zone gw }\nallow a -> fqdn \"api.example.com\" : 443 via out",
            "E0402",
        ),
        (
            "enterprise_via_isolated_gateway_wildcard",
            "zone gw { namespace \"gw\"; isolate egress }\ngateway out = istio { zone gw }\nallow a -> fqdn \"*.example.com\" : 443 via out",
            "E0402",
        ),
        (
            "enterprise_wildcard",
            "allow a -> fqdn \"*.example.com\" : 443",
            "E0402",
        ),
        (
            "enterprise_deny_fqdn",
            "deny a -> fqdn \"api.example.com\"",
            "E0402",
        ),
    ] {
        let text = format!("{base}{rule}\nallow a -> b : 1\n");
        let source = Source::text(&text);
        let options = if name.starts_with("enterprise") {
            enterprise()
        } else {
            Options::default()
        };
        let Err(diags) = source.build_with(Target::Calico, &options) else {
            panic!("{name} builds on calico");
        };
        assert_eq!(codes(&diags), BTreeSet::from([code.to_string()]), "{name}");
        snapshot(
            &format!("error_{name}"),
            &format!("{text}\n{}", render::human(&source.db, &diags, false)),
        );
    }
}

#[test]
fn calico_flags_need_the_calico_target() {
    let example = root().join("examples/calico-tiers");
    for flag in ["--calico-flat", "--staged", "--calico-enterprise"] {
        let output = Command::new(NPLC)
            .args(["build", "--target", "kubernetes", flag])
            .arg(&example)
            .output()
            .expect("running nplc");
        assert_eq!(output.status.code(), Some(2), "{flag}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("--target calico"));
    }
}

// ------------------------------------------------------------------ nca, flat

/// A copy of a namespaces file with the label Calico gives every namespace.
fn with_calico_names(namespaces: &Path, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(namespaces).expect("reading namespaces");
    let mut list: serde_yaml::Value = serde_yaml::from_str(&text).expect("namespaces YAML");
    for item in list["items"].as_sequence_mut().into_iter().flatten() {
        let name = item["metadata"]["name"].clone();
        if let Some(labels) = item["metadata"]["labels"].as_mapping_mut() {
            labels.insert("projectcalico.org/name".into(), name);
        }
    }
    let path = dir.join("calico-namespaces.yaml");
    std::fs::write(&path, serde_yaml::to_string(&list).expect("YAML")).expect("writing");
    path
}

#[test]
fn service_matches_and_http_are_rewritten_for_nca_and_nothing_else() {
    let parse = |text: &str| -> Vec<serde_yaml::Value> {
        text.split("\n---\n")
            .map(|doc| serde_yaml::from_str(doc).expect("YAML"))
            .collect()
    };
    // A Service match becomes a selector no pod has; nothing else changes.
    let source = Source::text(VIA_API_SERVER_LOG);
    let resources = source
        .build_with(Target::Calico, &options(true, false))
        .unwrap_or_else(|diags| panic!("{}", render::human(&source.db, &diags, false)));
    let before = yaml::stream(&resources);
    let after = nca::calico_for_nca(&before).unwrap_or_else(|e| panic!("{e}"));
    let service = "services:\n        name: kubernetes\n        namespace: default\n";
    assert_eq!(before.matches(service).count(), 2, "{before}");
    assert!(!after.contains("services:"));
    let selector = format!("selector: {}\n", nca::NO_POD);
    assert_eq!(
        parse(&after),
        parse(&before.replace(service, &selector)),
        "{after}"
    );
    // `http` goes, and only it.
    let source = Source::text(HTTP);
    let resources = source
        .build_with(Target::Calico, &options(true, false))
        .unwrap_or_else(|diags| panic!("{}", render::human(&source.db, &diags, false)));
    let before = yaml::stream(&resources);
    let after = nca::calico_for_nca(&before).unwrap_or_else(|e| panic!("{e}"));
    assert!(before.contains("http:") && !after.contains("http:"));
    let mut expected = parse(&before);
    for doc in &mut expected {
        let rules = doc
            .get_mut("spec")
            .and_then(|spec| spec.get_mut("ingress"))
            .and_then(|rules| rules.as_sequence_mut());
        for rule in rules.into_iter().flatten() {
            if let Some(rule) = rule.as_mapping_mut() {
                rule.remove("http");
            }
        }
    }
    assert_eq!(parse(&after), expected);
    // Calico has `http` on Allow rules only: elsewhere it is an error.
    let deny = before.replacen("action: Allow", "action: Deny", usize::MAX);
    assert!(nca::calico_for_nca(&deny).is_err());
}

/// nca on the flat output equals `nplc matrix`; `Err` with the differences.
fn compare_flat(
    what: &str,
    paths: &[PathBuf],
    resources: &[Resource],
    namespaces: &Path,
    pods: &Path,
    dir: &Path,
) -> Result<(), String> {
    let policies = dir.join("calico-flat.yaml");
    std::fs::write(&policies, nca::calico_for_nca(&yaml::stream(resources))?)
        .map_err(|e| e.to_string())?;
    let calico_namespaces = with_calico_names(namespaces, dir);
    let nca_view = nca::nca_connectivity(&policies, &calico_namespaces, pods)?;
    let matrix_view = nca::matrix_connectivity(Path::new(NPLC), paths, namespaces, pods)?;
    let differences = compare(&nca_view, &matrix_view);
    if differences.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = differences
        .iter()
        .take(25)
        .map(|d| d.render("nca (calico flat)", "nplc matrix"))
        .collect();
    Err(format!(
        "{what}: nca and the evaluator disagree on {} pair(s):\n{}\n--- policies: {}",
        differences.len(),
        shown.join("\n"),
        policies.display()
    ))
}

#[test]
fn flat_output_of_the_examples_matches_nca() {
    let dir = nca::temp_dir("calico-examples");
    let mut compared = 0;
    for (name, files) in examples() {
        let source = Source::files(&files);
        let Ok(resources) = source.build_with(Target::Calico, &options(true, false)) else {
            continue;
        };
        let inventory = root().join("tests/nca/inventories").join(&name);
        let case = dir.join(&name);
        std::fs::create_dir_all(&case).expect("a directory");
        let paths = vec![root().join("examples").join(&name)];
        compare_flat(
            &format!("examples/{name}"),
            &paths,
            &resources,
            &inventory.join("namespaces.yaml"),
            &inventory.join("pods.yaml"),
            &case,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        compared += 1;
    }
    assert!(compared > 0, "no example builds on calico");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `log` rules (nca reads Calico's `Log`: it goes on) and the API server's
/// Service match (rewritten, see [`nca::calico_for_nca`]), flat, on the `lab` inventory.
const LOGS_AND_API_SERVER: &str = r#"
zone shop { namespace "shop"; isolate both }
zone payments { namespace "payments"; isolate ingress }
tier watch {
  log cluster -> payments
  log shop -> world : 443
}
tier guard {
  log shop -> payments : 8080
  deny shop -> payments : 8081
  allow kube-apiserver -> shop : 10250
}
log cluster -> shop
allow shop -> payments : 8080-8090
allow payments -> shop : 9090
allow shop -> kube-apiserver : 6443
"#;

#[test]
fn flat_logs_and_api_server_rules_match_nca() {
    let dir = nca::temp_dir("calico-logs");
    let file = dir.join("logs.npl");
    std::fs::write(&file, LOGS_AND_API_SERVER).expect("writing");
    let source = Source::text(LOGS_AND_API_SERVER);
    let resources = source
        .build_with(Target::Calico, &options(true, false))
        .unwrap_or_else(|diags| panic!("{}", render::human(&source.db, &diags, false)));
    let stream = yaml::stream(&resources);
    assert!(stream.contains("action: Log") && stream.contains("services:"));
    let inventory = root().join("tests/nca/inventories/lab");
    compare_flat(
        "logs and the API server",
        &[file],
        &resources,
        &inventory.join("namespaces.yaml"),
        &inventory.join("pods.yaml"),
        &dir,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flat_output_of_generated_programs_matches_nca() {
    let wanted: usize = std::env::var("NPLC_NCA_PROGRAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[0x2a; 32]),
    );
    let strategy = (
        program_strategy(nca::address_target_config()),
        inventory_strategy(),
    );
    let dir = nca::temp_dir("calico-generated");
    let mut failures = Vec::new();
    let (mut compared, mut drawn) = (0, 0);
    while compared < wanted {
        assert!(drawn < wanted * 3, "too many generated programs rejected");
        drawn += 1;
        let (program, inventory) = strategy.new_tree(&mut runner).expect("a program").current();
        let program = nca::without_icmp_allows(program);
        let text = program.render();
        let source = Source::text(&text);
        let Ok(resources) = source.build_with(Target::Calico, &options(true, false)) else {
            continue;
        };
        let case = dir.join(format!("p{drawn:03}"));
        std::fs::create_dir_all(&case).expect("a directory");
        let file = case.join("generated.npl");
        std::fs::write(&file, &text).expect("writing the program");
        let (namespaces, pods) = nca::inventory_files(&inventory, &case);
        if let Err(e) = compare_flat(
            &format!("generated program #{drawn}\n{text}"),
            &[file],
            &resources,
            &namespaces,
            &pods,
            &case,
        ) {
            failures.push(e);
        }
        compared += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ names

/// The zone a policy is named after (`TIER.ZONE-ingress`, `TIER--ZONE-egress-deny`,
/// `ZONE-isolation`, ...), or `None` for nplc's own (`nplc-…`) and Tiers.
fn zone_of_policy(resource: &Resource) -> Option<String> {
    if resource.kind == "Tier" {
        return None;
    }
    let name = resource.name.as_str();
    let local = match (name.split_once('.'), name.split_once("--")) {
        (Some((_, rest)), _) | (None, Some((_, rest))) => rest,
        (None, None) => name,
    };
    if local.starts_with("nplc-") {
        return None;
    }
    [
        "-ingress-deny",
        "-egress-deny",
        "-ingress-log",
        "-egress-log",
        "-ingress",
        "-egress",
        "-isolation",
    ]
    .iter()
    .find_map(|suffix| local.strip_suffix(suffix))
    .map(str::to_string)
}

/// Every policy name reads back to a zone of the program (or is nplc's
/// own), and no two resources share a kind, namespace and name, in every
/// layout, on the examples and generated programs.
#[test]
fn names_come_from_zones_and_never_collide() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[0x17; 32]),
    );
    let strategy = program_strategy(nca::address_target_config());
    let mut sources: Vec<(String, Source)> = examples()
        .into_iter()
        .map(|(name, files)| (format!("examples/{name}"), Source::files(&files)))
        .collect();
    // `log` rules: `ZONE-ingress-log`, `TIER.ZONE-egress-log`.
    sources.push((
        "via_api_server_log".to_string(),
        Source::text(VIA_API_SERVER_LOG),
    ));
    for i in 0..40 {
        let text = strategy
            .new_tree(&mut runner)
            .expect("a program")
            .current()
            .render();
        sources.push((format!("generated #{i}\n{text}"), Source::text(&text)));
    }
    let mut built = 0;
    for (what, source) in &sources {
        for (flat, staged) in [(false, false), (true, false), (false, true)] {
            let Ok(resources) = source.build_with(Target::Calico, &options(flat, staged)) else {
                continue;
            };
            built += 1;
            let ir = source.ir();
            let mut seen = BTreeSet::new();
            for resource in &resources {
                let identity = (&resource.kind, &resource.namespace, &resource.name);
                assert!(seen.insert(identity), "{what}: {identity:?} twice");
                if resource.kind == "Tier" || resource.name.contains("nplc-") {
                    continue;
                }
                let zone = zone_of_policy(resource)
                    .unwrap_or_else(|| panic!("{what}: `{}` names no zone", resource.name));
                assert!(
                    ir.zone_named(&zone).is_some(),
                    "{what}: `{}` is named after `{zone}`, not a zone",
                    resource.name
                );
            }
        }
    }
    assert!(built > 60, "only {built} builds");
}

/// The two inputs that used to write two policies under one name (issue
/// inputs): a zone named like nplc's catch-all, and `tier default` over a
/// deny of the implicit tier. Both are now coded errors, and nothing is
/// written.
#[test]
fn names_that_would_meet_generated_ones_are_errors() {
    let dir = nca::temp_dir("calico-reserved");
    for (name, text, code) in [
        (
            "reserved-prefix",
            "zone nplc-unisolated { namespace \"legacy\" }\nzone web { namespace \"web\" }\nallow web -> nplc-unisolated : 8080\n",
            "E0209",
        ),
        (
            "tier-default",
            "zone web { namespace \"web\" }\nzone api { namespace \"api\" }\ntier default {\n  allow web -> api : 80\n}\ndeny web -> api\n",
            "E0210",
        ),
    ] {
        let input = dir.join(format!("{name}.npl"));
        std::fs::write(&input, text).expect("writing the program");
        let out = dir.join(format!("{name}-out"));
        let output = Command::new(NPLC)
            .args(["build", "--target", "calico", "-o"])
            .arg(&out)
            .arg(&input)
            .output()
            .expect("running nplc");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(&format!("error[{code}]")), "{name}: {stderr}");
        assert!(!out.exists(), "{name}: a failed build wrote {}", out.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ locality

/// A rule line's edits that keep every other line where it was (line numbers
/// are in the source annotations): its removal (the line blanked), one more
/// port, and a new rule appended at the end of the file.
fn edits(text: &str, line: usize) -> Vec<(&'static str, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let with = |replacement: String| {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        out[line] = replacement;
        out.join("\n") + "\n"
    };
    let rule = lines[line].split('#').next().unwrap_or_default().trim_end();
    let mut out = vec![("removed", with(String::new()))];
    // Ports are after the first `:` unless an IPv6 CIDR has colons too.
    if !rule.contains("cidr") {
        let more = if rule.contains(':') {
            format!("{rule}, 4242")
        } else {
            format!("{rule} : 4242")
        };
        out.push(("one more port", with(more)));
    }
    out
}

/// The zones whose policies an edit of `line` may change: the zones the line
/// names, and the zones with exactly the pods of one of their terms (a
/// union's members; a zone selecting what another one does).
fn zones_named(ir: &nplc_compiler::ir::Ir, line: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let line = line.replace("->", " ");
    let words = line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
    for zone in words.filter_map(|w| ir.zone_named(w)) {
        for term in &zone.pods.terms {
            for same in &ir.zones {
                if same.pods.terms.len() == 1 && same.pods.terms[0] == *term {
                    out.insert(same.name.clone());
                }
            }
        }
    }
    out
}

/// The resources whose identity or contents differ.
fn changed(before: &[Resource], after: &[Resource]) -> Vec<Resource> {
    let index =
        |rs: &[Resource]| -> std::collections::BTreeMap<(String, String, String), Resource> {
            rs.iter().map(|r| (r.sort_key(), r.clone())).collect()
        };
    let (a, b) = (index(before), index(after));
    let mut out = Vec::new();
    for (key, resource) in a.iter().chain(b.iter()) {
        if a.get(key).map(|r| &r.document) != b.get(key).map(|r| &r.document) {
            out.push(resource.clone());
        }
    }
    out
}

/// Checks one edit; `Err` names the resources it should not have changed.
fn check_edit(what: &str, before: &Source, after_text: &str, line: &str) -> Result<bool, String> {
    let Ok(old) = before.build(Target::Calico) else {
        return Ok(false);
    };
    let after = Source::text(after_text);
    let Ok(new) = after.build(Target::Calico) else {
        return Ok(false);
    };
    let allowed = zones_named(&before.ir(), line);
    let mut allowed_after = zones_named(&after.ir(), line);
    allowed_after.extend(allowed);
    // Removing the last rule of a tier removes the tier (a Tier selecting
    // nothing is skipped by Calico, so nplc writes none).
    let tier_emptied = |r: &Resource| {
        (r.kind == "Tier" || r.name.ends_with(".nplc-pass"))
            && !new.iter().any(|n| n.sort_key() == r.sort_key())
    };
    let outside: Vec<String> = changed(&old, &new)
        .iter()
        .filter(|r| !tier_emptied(r))
        .filter(|r| zone_of_policy(r).is_none_or(|z| !allowed_after.contains(&z)))
        .map(|r| format!("{} {}", r.kind, r.name))
        .collect();
    if outside.is_empty() {
        Ok(true)
    } else {
        Err(format!(
            "{what}: editing `{line}` changed {outside:?}, not only the policies of {allowed_after:?}"
        ))
    }
}

/// Locality: removing a rule, giving it one more port or appending a rule
/// changes only the policies of the zones the rule names (its source's and
/// its destination's), never another zone's, a Tier or nplc's own.
#[test]
fn one_rule_edit_changes_only_the_policies_of_its_zones() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[0x33; 32]),
    );
    let strategy = program_strategy(nca::address_target_config());
    let mut texts: Vec<(String, String)> = Vec::new();
    for (name, files) in examples() {
        if let [(_, text)] = files.as_slice() {
            texts.push((format!("examples/{name}"), text.clone()));
        }
    }
    for i in 0..30 {
        let text = strategy
            .new_tree(&mut runner)
            .expect("a program")
            .current()
            .render();
        texts.push((format!("generated #{i}"), text));
    }
    let (mut checked, mut failures) = (0, Vec::new());
    for (what, text) in &texts {
        let before = Source::text(text);
        let Some(ir) = before.lower() else { continue };
        let lines: Vec<&str> = text.lines().collect();
        let rules: Vec<usize> = (0..lines.len())
            .filter(|&i| {
                let l = lines[i].trim_start();
                (l.starts_with("allow ") || l.starts_with("deny "))
                    && !["{", "}", "via", "http", "dns"]
                        .iter()
                        .any(|w| l.contains(w))
            })
            .collect();
        for &i in rules.iter().take(6) {
            for (edit, after) in edits(text, i) {
                match check_edit(&format!("{what} ({edit})"), &before, &after, lines[i]) {
                    Ok(done) => checked += usize::from(done),
                    Err(e) => failures.push(e),
                }
            }
        }
        // A new rule between two zones of the program, at the end.
        let zones: Vec<&str> = ir.zones.iter().map(|z| z.name.as_str()).collect();
        if let (Some(a), Some(b)) = (zones.first(), zones.last()) {
            let rule = format!("allow {a} -> {b} : 4242");
            let after = format!("{text}{rule}\n");
            match check_edit(&format!("{what} (added)"), &before, &after, &rule) {
                Ok(done) => checked += usize::from(done),
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(checked > 50, "only {checked} edits checked");
}
