//! The editing aids beyond navigation: document highlight, document links
//! on imports, inlay hints, semantic tokens of a range, and the build
//! command (`workspace/executeCommand`).

mod support;

use serde_json::{json, Value};
use support::{position, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn highlight_marks_the_definition_and_every_use_in_the_file() {
    let text = "zone web { namespace \"web\" }\nallow web -> web : 80\nallow world -> web : 443\n";
    let (mut server, uri, _, _) = TestServer::with_fixture(text).await;
    let highlights = server
        .call(
            "textDocument/documentHighlight",
            json!({"textDocument": {"uri": uri}, "position": position(text, text.find("web -> web").unwrap_or(0))}),
        )
        .await;
    let found: Vec<(u64, u64, u64)> = highlights
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            (
                h["range"]["start"]["line"].as_u64().unwrap_or(99),
                h["range"]["start"]["character"].as_u64().unwrap_or(99),
                h["kind"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    // kind 3 = write (the definition), 2 = read.
    assert_eq!(
        found,
        [(0, 5, 3), (1, 6, 2), (1, 13, 2), (2, 15, 2)],
        "{highlights}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_paths_link_to_their_files() {
    let fixture = "//- /main.npl\nimport \"./zones.npl\"\nimport \"std/k8s\"\nimport \"./missing.npl\"\nallow web -> prometheus : 80\n//- /zones.npl (disk)\nzone web { namespace \"web\" }\n";
    let (mut server, uri, _, _) = TestServer::with_fixture(fixture).await;
    let links = server
        .call(
            "textDocument/documentLink",
            json!({"textDocument": {"uri": uri}}),
        )
        .await;
    let targets: Vec<(u64, String)> = links
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["range"]["start"]["line"].as_u64().unwrap_or(99),
                server.display(l["target"].as_str().unwrap_or("")),
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            (0, "zones.npl".to_string()),
            (1, "<std>/std/k8s.npl".to_string())
        ],
        "{links}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inlay_hints_show_pinned_namespaces_and_gateway_ports() {
    let text = "import \"std/k8s\"\nzone api { namespace \"backend\" }\nzone web { namespace \"web\" }\ngateway egress = istio {\n  zone istio-egressgateway\n}\nallow web -> api : 80\nallow web -> fqdn \"api.stripe.com\" : 443 via egress\n";
    let (mut server, uri, _, _) = TestServer::with_fixture(text).await;
    let hints = server
        .call(
            "textDocument/inlayHint",
            json!({"textDocument": {"uri": uri},
                   "range": {"start": {"line": 0, "character": 0}, "end": {"line": 99, "character": 0}}}),
        )
        .await;
    let shown: Vec<(u64, u64, String)> = hints
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            (
                h["position"]["line"].as_u64().unwrap_or(99),
                h["position"]["character"].as_u64().unwrap_or(99),
                h["label"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    // `web` pins its own name: no hint; `istio-egressgateway` pins istio-system.
    assert_eq!(
        shown,
        [
            (4, 26, "ns istio-system".to_string()),
            (6, 16, "ns backend".to_string()),
            (7, 51, "port 8443".to_string()),
        ],
        "{hints}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_tokens_of_a_range_are_those_of_its_lines() {
    let text = "zone web { namespace \"web\" }\nallow web -> web : 80\nallow world -> web : 443\n";
    let (mut server, uri, _, _) = TestServer::with_fixture(text).await;
    let full = server
        .call(
            "textDocument/semanticTokens/full",
            json!({"textDocument": {"uri": uri}}),
        )
        .await;
    let range = server
        .call(
            "textDocument/semanticTokens/range",
            json!({"textDocument": {"uri": uri},
                   "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 99}}}),
        )
        .await;
    let decode = |tokens: &Value| -> Vec<(u64, u64, u64, u64)> {
        let data: Vec<u64> = tokens["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        let (mut line, mut col) = (0, 0);
        data.chunks(5)
            .map(|t| {
                if t[0] > 0 {
                    col = 0;
                }
                line += t[0];
                col += t[1];
                (line, col, t[2], t[3])
            })
            .collect()
    };
    let expected: Vec<_> = decode(&full).into_iter().filter(|t| t.0 == 1).collect();
    assert!(!expected.is_empty());
    assert_eq!(decode(&range), expected);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_build_command_returns_the_resources_of_the_open_buffers() {
    let text = "zone web { namespace \"web\" }\nallow world -> web : 443\n";
    let (mut server, uri, _, _) = TestServer::with_fixture(text).await;
    let built = server
        .call(
            "workspace/executeCommand",
            json!({"command": "nplc.build", "arguments": [uri, "kubernetes"]}),
        )
        .await;
    assert_eq!(built[0]["target"], "kubernetes", "{built}");
    assert!(
        built[0]["yaml"]
            .as_str()
            .is_some_and(|y| y.contains("kind: NetworkPolicy")),
        "{built}"
    );
    let unknown = server
        .request(
            "workspace/executeCommand",
            json!({"command": "nplc.build", "arguments": [uri, "bogus"]}),
        )
        .await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    server.shutdown().await;
}
