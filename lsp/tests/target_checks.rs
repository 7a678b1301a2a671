//! Target checks off the keystroke path: the fast diagnostics (syntax,
//! names, checks) are published first, the target limits follow under a
//! `$/progress`, and a build in flight neither delays an edit's fast
//! diagnostics nor a hover.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::TestServer;

fn codes(published: &Value) -> Vec<String> {
    published["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["code"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_diagnostics_first_then_target_limits_under_progress() {
    let server = TestServer::start_with_params(json!({
        "capabilities": {"window": {"workDoneProgress": true}},
        "initializationOptions": {"targets": ["kubernetes"]}
    }))
    .await;
    let (mut server, uri, _, _) = server
        .load_fixture(
            "zone app { namespace \"app\" }\nallow app -> fqdn \"api.example.com\" : 443\n",
        )
        .await;
    let first = server.diagnostics_for_version(&uri, 1).await;
    assert!(!codes(&first).contains(&"E0402".to_string()), "{first}");
    let with_targets = server
        .diagnostics_where(&uri, |p| codes(p).contains(&"E0402".to_string()))
        .await;
    assert_eq!(with_targets["version"], 1);
    let progress = server.notifications("$/progress");
    let kinds: Vec<&str> = progress
        .iter()
        .filter_map(|p| p["value"]["kind"].as_str())
        .collect();
    assert!(kinds.starts_with(&["begin"]), "{progress:?}");
    server
        .notification_where(|n| {
            n["method"] == "$/progress" && n["params"]["value"]["kind"] == "end"
        })
        .await;

    // An edit that removes the FQDN: the target diagnostic goes (the
    // carried one was computed on the old text).
    server
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": 2},
                   "contentChanges": [{"text": "zone app { namespace \"app\" }\nallow app -> app : 443\n"}]}),
        )
        .await;
    let fixed = server
        .diagnostics_where(&uri, |p| p["version"] == 2 && codes(p).is_empty())
        .await;
    assert!(codes(&fixed).is_empty(), "{fixed}");
    server.shutdown().await;
}

/// A program whose builds take a while: `zones` zones and a rule per pair.
fn big_program(zones: usize, rules: usize) -> String {
    let mut text = String::new();
    for z in 0..zones {
        text.push_str(&format!(
            "zone z{z} {{\n  namespace \"ns{z}\"\n  pods app = \"app{z}\"\n}}\n"
        ));
    }
    for r in 0..rules {
        let (a, b) = (r % zones, (r * 7 + 3) % zones);
        text.push_str(&format!("allow z{a} -> z{b} : {}\n", 8000 + r % 1000));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_in_flight_delays_neither_edits_nor_hover() {
    let server =
        TestServer::start_with(json!({"targets": ["kubernetes", "cilium", "calico", "istio"]}))
            .await;
    let text = big_program(500, 4500);
    let (mut server, uri, _, _) = server.load_fixture(&text).await;
    server.diagnostics_for_version(&uri, 1).await;
    // The builds of version 1 are running now (seconds in a debug build).
    let edited = text.replace("allow z0 -> z3 : 8000", "allow z0 -> z3 : 8001");
    let started = Instant::now();
    server
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": 2},
                   "contentChanges": [{"text": edited}]}),
        )
        .await;
    server.diagnostics_for_version(&uri, 2).await;
    let fast = started.elapsed();
    let started = Instant::now();
    let hover = server
        .call(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 6}}),
        )
        .await;
    let hovered = started.elapsed();
    assert!(hover.get("contents").is_some(), "{hover}");
    // Generous bounds for a loaded debug build; a blocked edit took seconds.
    assert!(
        fast < Duration::from_secs(3),
        "fast diagnostics after {fast:?}"
    );
    assert!(hovered < Duration::from_secs(2), "hover after {hovered:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_target_reports_and_a_dropped_target_takes_its_diagnostics_along() {
    let server = TestServer::start_with(json!({"targets": ["kubernetes", "cilium"]})).await;
    let (mut server, uri, _, _) = server
        .load_fixture(
            "zone app { namespace \"app\" }\nallow app -> fqdn \"api.example.com\" : 443\n",
        )
        .await;
    // kubernetes cannot express an FQDN; cilium can.
    server
        .diagnostics_where(&uri, |p| codes(p).contains(&"E0402".to_string()))
        .await;
    server
        .notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"nplc": {"targets": []}}}),
        )
        .await;
    let without = server
        .diagnostics_where(&uri, |p| !codes(p).contains(&"E0402".to_string()))
        .await;
    assert!(codes(&without).is_empty(), "{without}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_import_stops_the_target_checks_of_its_importers() {
    let main = "import \"./zones.npl\"\nallow app -> fqdn \"api.example.com\" : 443\n";
    let server = TestServer::start_with_params(json!({
        "capabilities": {},
        "initializationOptions": {"targets": ["kubernetes"]}
    }))
    .await;
    server.write("zones.npl", "zone app { namespace \"app\" }\n");
    let (mut server, uri, _, _) = server.load_fixture(&format!("//- /main.npl\n{main}")).await;
    server
        .diagnostics_where(&uri, |p| codes(p).contains(&"E0402".to_string()))
        .await;
    std::fs::remove_file(server.dir.join("zones.npl")).expect("remove");
    let zones = server.uri("zones.npl");
    server
        .notify(
            "workspace/didChangeWatchedFiles",
            json!({"changes": [{"uri": zones, "type": 3}]}),
        )
        .await;
    // The import is missing now; the program has errors, so no target limits.
    let after = server
        .diagnostics_where(&uri, |p| {
            let codes = codes(p);
            !codes.contains(&"E0402".to_string()) && codes.iter().any(|c| c.starts_with("E02"))
        })
        .await;
    assert!(!codes(&after).contains(&"E0402".to_string()), "{after}");
    server.shutdown().await;
}

/// A file closed and opened again is a new input: the target checks read
/// the reopened text, not the one from before the close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_file_is_target_checked_on_its_new_text() {
    let server = TestServer::start_with(json!({"targets": ["kubernetes"]})).await;
    let (mut server, uri, _, _) = server
        .load_fixture(
            "zone app { namespace \"app\" }\nallow app -> fqdn \"api.example.com\" : 443\n",
        )
        .await;
    server
        .diagnostics_where(&uri, |p| codes(p).contains(&"E0402".to_string()))
        .await;
    server
        .notify(
            "textDocument/didClose",
            json!({"textDocument": {"uri": uri}}),
        )
        .await;
    // The same rule two lines further down.
    let reopened =
        "zone app { namespace \"app\" }\n\n\nallow app -> fqdn \"api.example.com\" : 443\n";
    server
        .notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "npl", "version": 3, "text": reopened}}),
        )
        .await;
    let published = server
        .diagnostics_where(&uri, |p| {
            p["version"] == 3 && codes(p).contains(&"E0402".to_string())
        })
        .await;
    let line = published["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["code"] == "E0402")
        .map(|d| d["range"]["start"]["line"].clone());
    assert_eq!(line, Some(json!(3)), "{published}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_via_without_the_istio_target_warns_until_istio_is_configured() {
    let server = TestServer::start_with(json!({"targets": ["kubernetes"]})).await;
    let (mut server, uri, _, _) = server
        .load_fixture(concat!(
            "zone app { namespace \"app\" }\n",
            "zone edge { namespace \"istio-system\"; pods istio = \"egressgateway\" }\n",
            "gateway egress = istio {\n  zone edge\n}\n",
            "allow app -> fqdn \"api.example.com\" : 443 via egress\n",
        ))
        .await;
    // W0005 is a fast diagnostic: the editor's targets lack istio.
    let warned = server.diagnostics_for_version(&uri, 1).await;
    assert!(codes(&warned).contains(&"W0005".to_string()), "{warned}");
    server
        .notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"nplc": {"targets": ["kubernetes", "istio"]}}}),
        )
        .await;
    let routed = server
        .diagnostics_where(&uri, |p| !codes(p).contains(&"W0005".to_string()))
        .await;
    assert!(!codes(&routed).contains(&"W0005".to_string()), "{routed}");
    server.shutdown().await;
}

/// The project's nplc.toml reaches the target checks as it reaches `nplc
/// build`: with the API server's endpoints named there, `kube-apiserver`
/// builds for kubernetes in the editor too. (The FQDN rule always fails on
/// kubernetes: its E0402 says the target check has run.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_checks_read_the_projects_inventories() {
    let program = "zone app { namespace \"app\" }\nallow app -> kube-apiserver : 443\nallow app -> fqdn \"api.example.com\" : 443\n";
    let checked = |p: &Value| codes(p).contains(&"E0402".to_string());

    let server = TestServer::start_with(json!({"targets": ["kubernetes"]})).await;
    let (server, uri, _, _) = server.load_fixture(program).await;
    let without = server.diagnostics_where(&uri, checked).await;
    assert!(codes(&without).contains(&"E0405".to_string()), "{without}");
    server.shutdown().await;

    let endpoints = concat!(
        "apiVersion: discovery.k8s.io/v1\n",
        "kind: EndpointSlice\n",
        "metadata:\n",
        "  name: kubernetes\n",
        "  namespace: default\n",
        "  labels:\n",
        "    kubernetes.io/service-name: kubernetes\n",
        "addressType: IPv4\n",
        "endpoints:\n",
        "- addresses: [\"10.0.0.10\"]\n",
        "ports:\n",
        "- name: https\n",
        "  port: 6443\n",
        "  protocol: TCP\n",
    );
    let fixture = format!(
        "//- /main.npl\n{program}//- /nplc.toml (disk)\n[cluster]\napiserver-endpoints = \"apiserver.yaml\"\ncluster-cidr = [\"10.244.0.0/16\"]\nservice-cidr = [\"10.96.0.0/12\"]\n//- /apiserver.yaml (disk)\n{endpoints}"
    );
    let server = TestServer::start_with(json!({"targets": ["kubernetes"]})).await;
    let (server, uri, _, _) = server.load_fixture(&fixture).await;
    let with = server.diagnostics_where(&uri, checked).await;
    assert!(!codes(&with).contains(&"E0405".to_string()), "{with}");
    server.shutdown().await;
}
