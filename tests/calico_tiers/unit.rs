//! The evaluator itself, on small hand-written YAML: each Calico rule it
//! models, and what it refuses.

use std::collections::BTreeMap;

use nplc_compiler::algebra::icmp::{IcmpFamily, IcmpMessage};
use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::eval::{Connection, ContainerPort, Endpoint, Pod, Request, Transport};

use super::evaluator::{Action, Calico, Decider, Side};
use super::selector::{Scope, Selector};

fn pod(namespace: &str, ns_labels: &[(&str, &str)], labels: &[(&str, &str)]) -> Pod {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    Pod {
        namespace: namespace.to_string(),
        namespace_labels: map(ns_labels),
        labels: map(labels),
        ports: Vec::new(),
    }
}

fn web() -> Pod {
    pod("shop", &[("team", "red")], &[("app", "web")])
}

fn db() -> Pod {
    let mut p = pod("shop", &[("team", "red")], &[("app", "db")]);
    p.ports.push(ContainerPort {
        name: "postgres".to_string(),
        protocol: Protocol::Tcp,
        number: 5432,
    });
    p
}

fn batch() -> Pod {
    pod("batch", &[("team", "blue")], &[("app", "job")])
}

fn universe() -> Vec<Pod> {
    vec![web(), db(), batch()]
}

fn on(source: Endpoint, destination: Endpoint, transport: Transport) -> Connection {
    Connection {
        source,
        destination,
        transport,
        request: None,
    }
}

fn tcp(source: &Pod, destination: &Pod, port: u16) -> Connection {
    on(
        Endpoint::Pod(source.clone()),
        Endpoint::Pod(destination.clone()),
        Transport::Port(Protocol::Tcp, port),
    )
}

fn ip(text: &str) -> Endpoint {
    Endpoint::Ip(text.parse().expect("an address"))
}

fn load(yaml: &str) -> Calico {
    match Calico::load(yaml, &universe()) {
        Ok(c) => c,
        Err(problems) => panic!("refused: {problems:?}\n{yaml}"),
    }
}

/// The verdict, requiring every probe (families, ICMP types) to agree.
fn allowed(calico: &Calico, conn: &Connection) -> bool {
    let verdicts = calico.verdicts(conn).expect("a placeable connection");
    let first = verdicts[0].allowed();
    assert!(
        verdicts.iter().all(|v| v.allowed() == first),
        "probes disagree: {verdicts:#?}"
    );
    first
}

fn ingress_side(calico: &Calico, conn: &Connection) -> Side {
    calico.verdicts(conn).expect("placeable")[0].ingress.clone()
}

fn egress_side(calico: &Calico, conn: &Connection) -> Side {
    calico.verdicts(conn).expect("placeable")[0].egress.clone()
}

const TIERS: &str = "
apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: security
spec:
  order: 100
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: platform
spec:
  order: 200
";

#[test]
fn tiers_in_order_and_pass_goes_to_the_next_tier() {
    let yaml = format!(
        "{TIERS}---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: platform.deny-db
spec:
  tier: platform
  order: 10
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Deny
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: security.pass
spec:
  tier: security
  selector: all()
  namespaceSelector: all()
  types: [Ingress]
  ingress:
  - action: Pass
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-db
  namespace: shop
spec:
  order: 1
  selector: app == 'db'
  ingress:
  - action: Allow
"
    );
    let calico = load(&yaml);
    let conn = tcp(&web(), &db(), 5432);
    // security passes, platform denies; the default tier's allow is never reached.
    assert_eq!(
        ingress_side(&calico, &conn).decider,
        Decider::Rule {
            tier: "platform".into(),
            policy: "platform.deny-db".into(),
            rule: 0,
            action: Action::Deny
        }
    );
    assert!(!allowed(&calico, &conn));
    // web is passed by security and selected by no later tier: its profile.
    assert_eq!(
        ingress_side(&calico, &tcp(&db(), &web(), 80)),
        Side {
            allowed: true,
            decider: Decider::Profile { passed: true }
        }
    );
    // Swap the tiers' order: platform first, and it denies just the same;
    // drop platform's deny: the default tier allows after the pass.
    let calico = load(&yaml.replace("order: 200", "order: 50"));
    assert!(!allowed(&calico, &conn));
    let no_platform = yaml.replace("action: Deny", "action: Pass");
    let calico = load(&no_platform);
    assert_eq!(
        ingress_side(&calico, &conn).decider,
        Decider::Rule {
            tier: "default".into(),
            policy: "allow-db".into(),
            rule: 0,
            action: Action::Allow
        }
    );
}

#[test]
fn a_tier_that_applies_but_matches_nothing_denies_and_unselected_endpoints_are_allowed() {
    let yaml = format!(
        "{TIERS}---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: security.db
  namespace: shop
spec:
  tier: security
  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [5432]
"
    );
    let calico = load(&yaml);
    assert!(allowed(&calico, &tcp(&web(), &db(), 5432)));
    assert_eq!(
        ingress_side(&calico, &tcp(&web(), &db(), 5433)).decider,
        Decider::EndOfTier {
            tier: "security".into(),
            action: Action::Deny
        }
    );
    // web is selected by nothing: its profile allows.
    assert_eq!(
        ingress_side(&calico, &tcp(&db(), &web(), 80)),
        Side {
            allowed: true,
            decider: Decider::Profile { passed: false }
        }
    );
    // Egress at db: the policy has no Egress type.
    assert!(egress_side(&calico, &tcp(&db(), &web(), 80)).allowed);
    // defaultAction: Pass turns the end of the tier into a pass.
    let passing = yaml.replace("  order: 100", "  order: 100\n  defaultAction: Pass");
    let calico = load(&passing);
    assert_eq!(
        ingress_side(&calico, &tcp(&web(), &db(), 5433)),
        Side {
            allowed: true,
            decider: Decider::Profile { passed: true }
        }
    );
}

#[test]
fn policies_by_order_then_name_and_a_missing_order_last() {
    let policy = |name: &str, order: Option<u32>, action: &str| {
        format!(
            "---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: {name}
spec:
  tier: security
{}  selector: app == 'db'
  types: [Ingress]
  ingress:
  - action: {action}
",
            order.map_or(String::new(), |o| format!("  order: {o}\n"))
        )
    };
    let conn = tcp(&web(), &db(), 5432);
    // Same order: by name.
    let calico = load(&format!(
        "{TIERS}{}{}",
        policy("security.b-allow", Some(5), "Allow"),
        policy("security.a-deny", Some(5), "Deny")
    ));
    assert!(!allowed(&calico, &conn));
    // No order comes after any order.
    let calico = load(&format!(
        "{TIERS}{}{}",
        policy("security.a-deny", None, "Deny"),
        policy("security.b-allow", Some(1000), "Allow")
    ));
    assert!(allowed(&calico, &conn));
    // Log goes on to the next rule.
    let calico = load(&format!(
        "{TIERS}{}{}",
        policy("security.a-log", Some(1), "Log"),
        policy("security.b-allow", Some(2), "Allow")
    ));
    assert!(allowed(&calico, &conn));
}

#[test]
fn tiers_by_order_then_name_and_the_default_tier_at_one_million() {
    let tier = |name: &str, order: Option<u32>| {
        format!(
            "---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: {name}\nspec: {}\n",
            order.map_or("{}".to_string(), |o| format!("{{order: {o}}}"))
        )
    };
    let policy = |tier: &str, action: &str| {
        format!(
            "---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: {}
spec:
{}  selector: app == 'db'
  ingress:
  - action: {action}
",
            if tier == "default" {
                format!("p-{action}")
            } else {
                format!("{tier}.p")
            },
            if tier == "default" {
                String::new()
            } else {
                format!("  tier: {tier}\n")
            }
        )
    };
    let conn = tcp(&web(), &db(), 5432);
    // Equal orders: alphabetical, `a` before `b`.
    let calico = load(&format!(
        "{}{}{}{}",
        tier("b", Some(7)),
        tier("a", Some(7)),
        policy("b", "Allow"),
        policy("a", "Deny")
    ));
    assert!(!allowed(&calico, &conn));
    // A tier without order comes after the default tier.
    let calico = load(&format!(
        "{}{}{}",
        tier("late", None),
        policy("late", "Deny"),
        policy("default", "Allow")
    ));
    assert!(allowed(&calico, &conn));
    // A tier ordered after 1,000,000 too; one before it comes first.
    let calico = load(&format!(
        "{}{}{}",
        tier("late", Some(2_000_000)),
        policy("late", "Deny"),
        policy("default", "Allow")
    ));
    assert!(allowed(&calico, &conn));
    let calico = load(&format!(
        "{}{}{}",
        tier("early", Some(999_999)),
        policy("early", "Deny"),
        policy("default", "Allow")
    ));
    assert!(!allowed(&calico, &conn));
}

#[test]
fn types_default_from_the_rules_present() {
    let calico = load(
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: egress-only
spec:
  selector: app == 'web'
  egress:
  - action: Deny
",
    );
    // Egress rules only: the policy is Egress, so web's ingress is open.
    assert!(!allowed(&calico, &tcp(&web(), &db(), 80)));
    assert!(allowed(&calico, &tcp(&db(), &web(), 80)));
    // No rules at all: Ingress, and an empty Ingress policy isolates.
    let calico = load(
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: isolate
spec:
  selector: app == 'web'
",
    );
    assert!(!allowed(&calico, &tcp(&db(), &web(), 80)));
    assert!(allowed(&calico, &tcp(&web(), &db(), 80)));
}

#[test]
fn namespaces_scope_policies_and_rule_selectors() {
    // A NetworkPolicy selects in its namespace; its rule selector without a
    // namespaceSelector sees its namespace only.
    let calico = load(
        "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: p
  namespace: shop
spec:
  selector: all()
  ingress:
  - action: Allow
    source:
      selector: app == 'job' || app == 'web'
",
    );
    assert!(allowed(&calico, &tcp(&web(), &db(), 1)));
    assert!(
        !allowed(&calico, &tcp(&batch(), &db(), 1)),
        "batch/job is in another namespace"
    );
    assert!(
        allowed(&calico, &tcp(&db(), &batch(), 1)),
        "batch is not selected"
    );
    // A GlobalNetworkPolicy rule selector sees every namespace.
    let calico = load(
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  selector: app == 'db'
  ingress:
  - action: Allow
    source:
      selector: app == 'job'
",
    );
    assert!(allowed(&calico, &tcp(&batch(), &db(), 1)));
    assert!(!allowed(&calico, &tcp(&web(), &db(), 1)));
    // namespaceSelector: by Calico's name label, or by namespace labels;
    // alone, it selects everything in those namespaces.
    let calico = load(
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  namespaceSelector: projectcalico.org/name == 'shop'
  selector: all()
  ingress:
  - action: Allow
    source:
      namespaceSelector: team == \"blue\"
",
    );
    assert!(allowed(&calico, &tcp(&batch(), &db(), 1)));
    assert!(!allowed(&calico, &tcp(&web(), &db(), 1)));
    assert!(
        allowed(&calico, &tcp(&web(), &batch(), 1)),
        "batch's namespace is not selected"
    );
    // The endpoint's namespace label and a policy selector on it.
    let calico = load(
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  selector: projectcalico.org/namespace == 'batch' && projectcalico.org/orchestrator == 'k8s'
  ingress:
  - action: Deny
",
    );
    assert!(!allowed(&calico, &tcp(&web(), &batch(), 1)));
    assert!(allowed(&calico, &tcp(&batch(), &web(), 1)));
}

#[test]
fn nets_match_addresses_pods_included() {
    let calico = load(
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
  - action: Allow
    destination:
      nets: [10.0.0.0/8]
      notNets: [10.1.0.0/16]
",
    );
    assert!(allowed(
        &calico,
        &on(
            Endpoint::Pod(web()),
            ip("10.9.9.9"),
            Transport::Icmp(IcmpMessage::PING)
        )
    ));
    assert!(!allowed(
        &calico,
        &on(
            Endpoint::Pod(web()),
            ip("10.1.0.1"),
            Transport::Icmp(IcmpMessage::PING)
        )
    ));
    assert!(!allowed(
        &calico,
        &on(
            Endpoint::Pod(web()),
            ip("fd00::1"),
            Transport::Icmp(IcmpMessage::PING)
        )
    ));
    // A pod's IPv4 address is in 10.0.0.0/8, its IPv6 address is not: the
    // two families disagree, which the comparison reports.
    let verdicts = calico.verdicts(&tcp(&web(), &db(), 80)).expect("placeable");
    assert_eq!(
        verdicts.iter().map(|v| v.allowed()).collect::<Vec<_>>(),
        vec![true, false]
    );
    // Ingress from an address: only the pod side is checked.
    assert!(allowed(
        &calico,
        &on(
            ip("8.8.8.8"),
            Endpoint::Pod(web()),
            Transport::Icmp(IcmpMessage::PING)
        )
    ));
}

#[test]
fn network_sets_are_matched_by_selector_and_scope() {
    let sets = "apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata:
  name: partners
  namespace: shop
  labels:
    nplc.dev/net: partners
spec:
  nets: [198.51.100.0/24]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: blocklist
  labels:
    nplc.dev/net: blocklist
spec:
  nets: [203.0.113.0/24]
";
    let policy = |kind: &str, ns: &str, source: &str| {
        format!(
            "{sets}---
apiVersion: projectcalico.org/v3
kind: {kind}
metadata:
  name: p
{ns}spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    source:
{source}"
        )
    };
    let from = |addr: &str| {
        on(
            ip(addr),
            Endpoint::Pod(web()),
            Transport::Port(Protocol::Tcp, 1),
        )
    };
    // A NetworkPolicy sees its namespace's network sets.
    let calico = load(&policy(
        "NetworkPolicy",
        "  namespace: shop\n",
        "      selector: has(nplc.dev/net)\n",
    ));
    assert!(allowed(&calico, &from("198.51.100.7")));
    assert!(!allowed(&calico, &from("203.0.113.7")));
    // global() reaches the GlobalNetworkSets, and only them.
    let calico = load(&policy(
        "NetworkPolicy",
        "  namespace: shop\n",
        "      selector: has(nplc.dev/net)\n      namespaceSelector: global()\n",
    ));
    assert!(!allowed(&calico, &from("198.51.100.7")));
    assert!(allowed(&calico, &from("203.0.113.7")));
    // A GlobalNetworkPolicy sees both.
    let calico = load(&policy(
        "GlobalNetworkPolicy",
        "",
        "      selector: nplc.dev/net in {'blocklist', 'partners'}\n",
    ));
    assert!(allowed(&calico, &from("198.51.100.7")));
    assert!(allowed(&calico, &from("203.0.113.7")));
    assert!(!allowed(&calico, &from("192.0.2.7")));
    // notSelector: anything but the network set.
    let calico = load(&policy(
        "GlobalNetworkPolicy",
        "",
        "      notSelector: nplc.dev/net == 'blocklist'\n",
    ));
    assert!(allowed(&calico, &from("192.0.2.7")));
    assert!(!allowed(&calico, &from("203.0.113.7")));
    // In a NetworkPolicy a lone notSelector still confines the rule to the
    // policy's namespace: nothing outside it matches.
    let calico = load(&policy(
        "NetworkPolicy",
        "  namespace: shop\n",
        "      notSelector: app == 'web'\n",
    ));
    assert!(allowed(&calico, &tcp(&db(), &web(), 1)));
    assert!(
        !allowed(&calico, &tcp(&batch(), &web(), 1)),
        "another namespace"
    );
    assert!(
        allowed(&calico, &from("198.51.100.7")),
        "the namespace's network set is in scope"
    );
    assert!(
        !allowed(&calico, &from("192.0.2.7")),
        "an address outside every holder"
    );
}

#[test]
fn ports_protocols_and_icmp() {
    let calico = load(
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  selector: has(app)
  ingress:
  - action: Allow
    protocol: TCP
    destination:
      ports: [80, '8000:8099', postgres]
      notPorts: [8050]
  - action: Allow
    protocol: 17
  - action: Allow
    protocol: ICMP
    icmp:
      type: 8
  - action: Allow
    notProtocol: TCP
    protocol: SCTP
",
    );
    let udp = |port| {
        on(
            Endpoint::Pod(web()),
            Endpoint::Pod(db()),
            Transport::Port(Protocol::Udp, port),
        )
    };
    assert!(allowed(&calico, &tcp(&web(), &db(), 80)));
    assert!(allowed(&calico, &tcp(&web(), &db(), 8099)));
    assert!(!allowed(&calico, &tcp(&web(), &db(), 8100)));
    assert!(!allowed(&calico, &tcp(&web(), &db(), 8050)));
    assert!(
        allowed(&calico, &tcp(&web(), &db(), 5432)),
        "named port on db"
    );
    assert!(
        !allowed(&calico, &tcp(&db(), &web(), 5432)),
        "web has no such port"
    );
    assert!(allowed(&calico, &udp(5432)));
    assert!(allowed(
        &calico,
        &on(
            Endpoint::Pod(web()),
            Endpoint::Pod(db()),
            Transport::Port(Protocol::Sctp, 3868)
        )
    ));
    // Only echo requests: each question is one ICMP message.
    let icmp = |family, icmp_type, code| {
        on(
            Endpoint::Pod(web()),
            Endpoint::Pod(db()),
            Transport::Icmp(IcmpMessage {
                family,
                icmp_type,
                code,
            }),
        )
    };
    assert!(allowed(&calico, &icmp(IcmpFamily::V4, 8, 0)));
    assert!(allowed(&calico, &icmp(IcmpFamily::V4, 8, 5)));
    assert!(!allowed(&calico, &icmp(IcmpFamily::V4, 3, 4)));
    assert!(
        !allowed(&calico, &icmp(IcmpFamily::V6, 128, 0)),
        "ICMPv6 is another protocol"
    );
}

#[test]
fn http_matches_on_ingress_allow_rules() {
    let calico = load(
        "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  selector: app == 'db'
  ingress:
  - action: Allow
    protocol: TCP
    http:
      methods: [GET]
      paths:
      - exact: /health
      - prefix: /api/
",
    );
    let mut conn = tcp(&web(), &db(), 80);
    assert!(
        allowed(&calico, &conn),
        "at L4 an HTTP allow lets some requests through"
    );
    let request = |method: &str, path: &str| {
        Some(Request::Http {
            method: method.to_string(),
            path: path.to_string(),
        })
    };
    conn.request = request("GET", "/api/v1");
    assert!(allowed(&calico, &conn));
    conn.request = request("GET", "/health/x");
    assert!(!allowed(&calico, &conn));
    conn.request = request("POST", "/health");
    assert!(!allowed(&calico, &conn));
}

#[test]
fn selectors_follow_calico() {
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let none = labels(&[]);
    let red = labels(&[("team", "red"), ("app.kubernetes.io/name", "web")]);
    let blue = labels(&[("team", "blue")]);
    let cases: &[(&str, &[bool; 3])] = &[
        ("all()", &[true, true, true]),
        ("", &[true, true, true]),
        ("team == 'red'", &[false, true, false]),
        ("team == \"red\"", &[false, true, false]),
        // `!=` and `not in` match a resource without the label.
        ("team != 'red'", &[true, false, true]),
        ("team not in {'red'}", &[true, false, true]),
        ("team in {'red', \"blue\"}", &[false, true, true]),
        ("team in {}", &[false, false, false]),
        ("team not in {}", &[true, true, true]),
        ("has(team)", &[false, true, true]),
        ("!has(team)", &[true, false, false]),
        ("! has( team )", &[true, false, false]),
        ("!(team == 'red')", &[true, false, true]),
        (
            "has(app.kubernetes.io/name) && team == 'red'",
            &[false, true, false],
        ),
        // && binds tighter than ||.
        (
            "team == 'blue' || team == 'red' && has(nope)",
            &[false, false, true],
        ),
        (
            "(team == 'blue' || team == 'red') && !has(nope)",
            &[false, true, true],
        ),
        ("team starts with 're'", &[false, true, false]),
        ("team ends with 'ue'", &[false, false, true]),
        ("team contains 'l'", &[false, false, true]),
    ];
    for (text, expected) in cases {
        let sel = Selector::parse(text).unwrap_or_else(|e| panic!("{e}"));
        let got = [&none, &red, &blue].map(|l| sel.matches(l, Scope::Labels));
        assert_eq!(&got, *expected, "`{text}`");
    }
    // all() and global() in a namespaceSelector: namespaced vs not.
    let all = Selector::parse("all()").expect("valid");
    let global = Selector::parse("global()").expect("valid");
    assert!(all.matches(&none, Scope::Namespace) && !all.matches(&none, Scope::NonNamespaced));
    assert!(
        !global.matches(&none, Scope::Namespace) && global.matches(&none, Scope::NonNamespaced)
    );
    for bad in [
        "team ==",
        "team = 'red'",
        "(team == 'red'",
        "team == 'red",
        "team in {'a' 'b'}",
        "has()",
        "team == 'a' &&",
        "team equals 'a'",
    ] {
        assert!(Selector::parse(bad).is_err(), "`{bad}` parses");
    }
}

#[test]
fn the_evaluator_refuses_what_calico_rejects_or_it_does_not_model() {
    let refused = [
        (
            "a destination Service match with ports",
            "services with ports",
            "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  egress:
  - action: Allow
    protocol: TCP
    destination:
      services: {name: kubernetes, namespace: default}
      ports: [6443]
",
        ),
        (
            "a Service match beside a selector",
            "beside a selector",
            "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  ingress:
  - action: Allow
    source:
      services: {name: kubernetes, namespace: default}
      selector: all()
",
        ),
        (
            "a tier that does not exist",
            "does not exist",
            "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: nowhere.p
spec:
  tier: nowhere
",
        ),
        (
            "a tiered policy without the tier prefix",
            "not named",
            "apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: t
spec:
  order: 1
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  tier: t
",
        ),
        (
            "ports without a protocol",
            "without protocol",
            "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  ingress:
  - action: Allow
    destination:
      ports: [80]
",
        ),
        (
            "service accounts",
            "serviceAccounts",
            "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  ingress:
  - action: Allow
    source:
      serviceAccounts:
        names: [a]
",
        ),
        (
            "Enterprise domains",
            "domains",
            "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  egress:
  - action: Allow
    destination:
      domains: [example.com]
",
        ),
        (
            "http on egress",
            "http match outside",
            "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  egress:
  - action: Allow
    http:
      methods: [GET]
",
        ),
        (
            "a namespaced policy without a namespace",
            "without metadata.namespace",
            "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: p
spec: {}
",
        ),
        (
            "another kind",
            "apiVersion",
            "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: p
spec: {}
",
        ),
        (
            "a bad selector",
            "selector `app = 'x'`",
            "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  selector: app = 'x'
",
        ),
        (
            "rules of a direction outside types",
            "not in `types`",
            "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: p
spec:
  types: [Ingress]
  egress:
  - action: Allow
",
        ),
    ];
    for (what, reason, yaml) in refused {
        match Calico::load(yaml, &universe()) {
            Ok(_) => panic!("the evaluator accepts {what}:\n{yaml}"),
            Err(problems) => assert!(
                problems.iter().any(|p| p.contains(reason)),
                "{what}: refused for another reason: {problems:?}"
            ),
        }
    }
    // Staged policies are read and do not enforce.
    let calico = load(
        "apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata:
  name: p
spec:
  selector: all()
  ingress:
  - action: Deny
",
    );
    assert_eq!(calico.staged, 1);
    assert!(allowed(&calico, &tcp(&web(), &db(), 80)));
}
