//! Editor features through the real LSP service, one fixture per test: `$0`
//! is the cursor, `//- /name.npl` starts a file. Each snapshot holds the
//! fixture, then what the server answered.

mod support;

use serde_json::{json, Value};
use support::{apply_edits, show_range, TestServer};

fn with_input(fixture: &str, answer: &str) -> String {
    format!("{}\n---\n{answer}", fixture.trim())
}

async fn ask(fixture: &str, method: &str, extra: Value) -> (TestServer, Value, support::Fixture) {
    let (mut server, uri, pos, parsed) = TestServer::with_fixture(fixture).await;
    let mut params = json!({"textDocument": {"uri": uri}, "position": pos});
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let response = server.request(method, params).await;
    (server, response, parsed)
}

#[track_caller]
fn result(response: &Value) -> &Value {
    match response.get("result") {
        Some(r) => r,
        None => panic!("error response: {response}"),
    }
}

async fn hover(fixture: &str) -> String {
    let (server, response, _) = ask(fixture, "textDocument/hover", json!({})).await;
    server.shutdown().await;
    let answer = result(&response)["contents"]["value"]
        .as_str()
        .unwrap_or("(no hover)")
        .to_string();
    with_input(fixture, &answer)
}

async fn definition(fixture: &str) -> String {
    let (server, response, parsed) = ask(fixture, "textDocument/definition", json!({})).await;
    let answer = match result(&response) {
        Value::Null => "(no definition)".to_string(),
        location => server.show_location(location, &parsed),
    };
    server.shutdown().await;
    with_input(fixture, &answer)
}

async fn references(fixture: &str) -> String {
    let (server, response, parsed) = ask(
        fixture,
        "textDocument/references",
        json!({"context": {"includeDeclaration": true}}),
    )
    .await;
    let answer: Vec<String> = result(&response)
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| server.show_location(l, &parsed))
        .collect();
    server.shutdown().await;
    with_input(fixture, &answer.join("\n\n"))
}

async fn completion(fixture: &str) -> String {
    let (server, response, _) = ask(fixture, "textDocument/completion", json!({})).await;
    server.shutdown().await;
    let items: Vec<String> = result(&response)
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let edit = &item["textEdit"];
            format!(
                "{} [{}] {} ⟶ {:?} at {}:{}-{}",
                item["label"].as_str().unwrap_or(""),
                item["kind"],
                item["detail"].as_str().unwrap_or(""),
                edit["newText"].as_str().unwrap_or(""),
                edit["range"]["start"]["line"],
                edit["range"]["start"]["character"],
                edit["range"]["end"]["character"],
            )
        })
        .collect();
    with_input(fixture, &items.join("\n"))
}

/// Every file a workspace edit touches, after the edit.
fn show_workspace_edit(server: &TestServer, edit: &Value, parsed: &support::Fixture) -> String {
    let mut files: Vec<(String, String)> = edit["changes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(uri, edits)| {
            let text = server.text_of(uri, parsed);
            let edits = edits.as_array().cloned().unwrap_or_default();
            (server.display(uri), apply_edits(&text, &edits))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|(name, text)| format!("//- /{name}\n{text}"))
        .collect::<Vec<_>>()
        .join("")
}

async fn rename(fixture: &str, new_name: &str) -> String {
    let (mut server, uri, pos, parsed) = TestServer::with_fixture(fixture).await;
    let at = json!({"textDocument": {"uri": uri}, "position": pos});
    let prepared = server
        .request("textDocument/prepareRename", at.clone())
        .await;
    let answer = match prepared.get("result") {
        Some(range) if !range.is_null() => {
            let text = server.text_of(uri.as_str(), &parsed);
            let mut answer = format!(
                "prepareRename:\n{}\n\n",
                show_range(&server.display(uri.as_str()), &text, range)
            );
            let mut params = at.clone();
            params["newName"] = json!(new_name);
            let renamed = server.request("textDocument/rename", params).await;
            match renamed.get("result") {
                Some(edit) => answer.push_str(&format!(
                    "rename to `{new_name}`:\n{}",
                    show_workspace_edit(&server, edit, &parsed)
                )),
                None => answer.push_str(&format!(
                    "rename to `{new_name}` refused: {}",
                    renamed["error"]["message"].as_str().unwrap_or("")
                )),
            }
            answer
        }
        _ => format!(
            "prepareRename refused: {}",
            prepared["error"]["message"].as_str().unwrap_or("(null)")
        ),
    };
    server.shutdown().await;
    with_input(fixture, &answer)
}

async fn code_actions(fixture: &str) -> String {
    let (mut server, uri, pos, parsed) = TestServer::with_fixture(fixture).await;
    // Diagnostics first, as an editor would have them.
    server.diagnostics_for_version(&uri, 1).await;
    let actions = server
        .call(
            "textDocument/codeAction",
            json!({
                "textDocument": {"uri": uri},
                "range": {"start": pos, "end": pos},
                "context": {"diagnostics": []}
            }),
        )
        .await;
    let answer: Vec<String> = actions
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{} (fixes {}{})\n{}",
                a["title"].as_str().unwrap_or(""),
                a["diagnostics"][0]["code"].as_str().unwrap_or("?"),
                if a["isPreferred"] == true {
                    ", preferred"
                } else {
                    ""
                },
                show_workspace_edit(&server, &a["edit"], &parsed)
            )
        })
        .collect();
    server.shutdown().await;
    with_input(fixture, &answer.join("\n"))
}

// ---------------------------------------------------------------- hover

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hover_zone_shows_selector_isolation_and_doc() {
    insta::assert_snapshot!(
        hover(
            r#"
## The API servers.
zone backend {
  namespace "shop"
  pods app = "api", track != "canary"
}
zone frontend { namespace "web" }
allow frontend -> back$0end : 8080
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hover_rule_shows_both_sides() {
    insta::assert_snapshot!(
        hover(
            r#"
zone frontend { namespace "web" }
zone backend { namespace "api" }
external stripe = fqdn "api.stripe.com"
tier security {
  deny frontend -> backend : 22
}
al$0low frontend -> {backend, stripe} : 8080, udp/53
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hover_rule_in_tier_via_gateway() {
    insta::assert_snapshot!(
        hover(
            r#"
import "std/k8s"
zone payments { namespace "payments" }
gateway egress = istio {
  zone istio-egressgateway
}
tier outbound {
  allow payments -> fqdn "api.stripe.com" : 443 v$0ia egress
}
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hover_external_cidr() {
    insta::assert_snapshot!(
        hover(
            r#"
zone app { namespace "app" }
external corp = cidr 10.0.0.0/8 except 10.1.0.0/16, 10.2.0.0/16
allow app -> co$0rp : 443
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hover_label_key_lists_values_seen() {
    insta::assert_snapshot!(
        hover(
            r#"
zone web { pods app.kubernetes.io/na$0me = "web" }
zone api { pods app.kubernetes.io/name in ("api", "api-v2") }
allow web -> api : 80
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hover_port() {
    insta::assert_snapshot!(
        hover(
            r#"
zone api { namespace "api" }
zone db { namespace "db" }
allow api -> db : tcp/54$032
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hover_standard_library_zone_and_builtin() {
    let std_zone = hover(
        r#"
import "std/k8s"
zone web { namespace "web" }
allow ingress-ng$0inx -> web : 8080
"#,
    )
    .await;
    let builtin = hover(
        r#"
zone web { namespace "web" }
allow web -> wor$0ld : 443
"#,
    )
    .await;
    insta::assert_snapshot!(format!("{std_zone}\n\n========\n\n{builtin}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hover_tier_and_gateway_and_import() {
    let tier = hover(
        r#"
zone a { namespace "a" }
tier first { deny a -> a : 22 }
tier sec$0ond {
  allow a -> a : 80
}
"#,
    )
    .await;
    let import = hover(
        r#"
import "std/base$0line"
zone a { namespace "a" }
"#,
    )
    .await;
    insta::assert_snapshot!(format!("{tier}\n\n========\n\n{import}"));
}

// ---------------------------------------------------------------- definition and references

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definition_in_another_file() {
    insta::assert_snapshot!(
        definition(
            r#"
//- /main.npl
import "./zones.npl"
allow web -> d$0b : 5432
//- /zones.npl
zone web { namespace "web" }
zone db { namespace "db" }
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definition_in_a_file_only_on_disk() {
    insta::assert_snapshot!(
        definition(
            r#"
//- /main.npl
import "./lib/zones.npl"
allow w$0eb -> db : 5432
//- /lib/zones.npl (disk)
zone web { namespace "web" }
zone db { namespace "db" }
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definition_in_the_standard_library() {
    insta::assert_snapshot!(
        definition(
            r#"
import "std/k8s"
zone web { namespace "web" }
allow prome$0theus -> web : 9090
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definition_of_an_import_and_of_a_builtin() {
    let import = definition(
        r#"
//- /main.npl
import "./zo$0nes.npl"
allow web -> web : 80
//- /zones.npl (disk)
zone web { namespace "web" }
"#,
    )
    .await;
    let builtin = definition(
        r#"
zone web { namespace "web" }
allow web -> ho$0st : 80
"#,
    )
    .await;
    insta::assert_snapshot!(format!("{import}\n\n========\n\n{builtin}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_across_open_files() {
    insta::assert_snapshot!(
        references(
            r#"
//- /zones.npl
zone web { namespace "web" }
zone d$0b { namespace "db" }
zone data = db | web
//- /a.npl
import "./zones.npl"
allow web -> db : 5432
//- /b.npl
import "./zones.npl"
deny {web, db} -> db : 22
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_of_a_gateway() {
    insta::assert_snapshot!(
        references(
            r#"
import "std/k8s"
zone pay { namespace "pay" }
gateway eg$0ress = istio { zone istio-egressgateway }
allow pay -> fqdn "a.example.com" : 443 via egress
allow pay -> fqdn "b.example.com" : 443 via egress
"#
        )
        .await
    );
}

// ---------------------------------------------------------------- completion

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_of_items_at_top_level() {
    insta::assert_snapshot!(
        completion(
            r#"
zone web { namespace "web" }
t$0
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_of_peers_in_scope() {
    insta::assert_snapshot!(
        completion(
            r#"
//- /main.npl
import "./zones.npl"
zone web { namespace "web" }
external stripe = fqdn "api.stripe.com"
allow web -> $0
//- /zones.npl (disk)
## The database.
zone db { namespace "db" }
//- /other.npl (disk)
zone not-imported { namespace "x" }
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_of_ports() {
    insta::assert_snapshot!(
        completion(
            r#"
zone web { namespace "web" }
allow web -> web : 80, udp/$0
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_of_label_keys_and_values() {
    let keys = completion(
        r#"
zone web { pods app.kubernetes.io/name = "web", tier = "front" }
zone api {
  pods $0
}
"#,
    )
    .await;
    let values = completion(
        r#"
zone web { pods tier = "front" }
zone api { pods tier = "back" }
zone x {
  pods tier in ("front", "$0
}
"#,
    )
    .await;
    insta::assert_snapshot!(format!("{keys}\n\n========\n\n{values}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_of_import_paths() {
    insta::assert_snapshot!(
        completion(
            r#"
//- /main.npl
import "$0
//- /zones.npl (disk)
zone a { namespace "a" }
//- /lib/more.npl (disk)
zone b { namespace "b" }
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_in_zone_body_and_after_via() {
    let body = completion(
        r#"
zone web {
  namespace "web"
  $0
}
"#,
    )
    .await;
    let isolate = completion(
        r#"
zone web {
  isolate e$0
}
"#,
    )
    .await;
    let via = completion(
        r#"
import "std/k8s"
zone pay { namespace "pay" }
gateway egress = istio { zone istio-egressgateway }
allow pay -> fqdn "a.example.com" : 443 via $0
"#,
    )
    .await;
    insta::assert_snapshot!(format!(
        "{body}\n\n========\n\n{isolate}\n\n========\n\n{via}"
    ));
}

// ---------------------------------------------------------------- rename

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_across_files() {
    insta::assert_snapshot!(
        rename(
            r#"
//- /zones.npl
zone web { namespace "web" }
zone db { namespace "db" }
zone both = web | db
//- /main.npl
import "./zones.npl"
allow w$0eb -> db : 5432
deny {web} -> db : 22
"#,
            "frontend"
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_refuses_builtins_std_names_and_bad_names() {
    let std_name = rename(
        r#"
import "std/k8s"
zone web { namespace "web" }
allow ingress-$0nginx -> web : 80
"#,
        "x",
    )
    .await;
    let builtin = rename(
        r#"
zone web { namespace "web" }
allow web -> wo$0rld : 443
"#,
        "x",
    )
    .await;
    let invalid = rename(
        r#"
zone web { namespace "web" }
allow w$0eb -> world : 443
"#,
        "Web_Server",
    )
    .await;
    let taken = rename(
        r#"
zone web { namespace "web" }
zone api { namespace "api" }
allow w$0eb -> api : 443
"#,
        "api",
    )
    .await;
    let std_taken = rename(
        r#"
zone web { namespace "web" }
allow w$0eb -> world : 443
"#,
        "prometheus",
    )
    .await;
    insta::assert_snapshot!([std_name, builtin, invalid, taken, std_taken].join("\n\n========\n\n"));
}

// ---------------------------------------------------------------- code actions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_action_did_you_mean() {
    insta::assert_snapshot!(
        code_actions(
            r#"
zone frontend { namespace "web" }
zone backend { namespace "api" }
allow frontend -> backe$0dn : 8080
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_action_missing_import() {
    insta::assert_snapshot!(
        code_actions(
            r#"
import "std/baseline"
zone web { namespace "web" }
allow ingress-ng$0inx -> web : 8080
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_action_cidr_prefix() {
    insta::assert_snapshot!(
        code_actions(
            r#"
zone app { namespace "app" }
external corp = cidr 10.1$0.2.3/16
allow app -> corp : 443
"#
        )
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_action_remove_unused_definition() {
    insta::assert_snapshot!(
        code_actions(
            r#"
zone app { namespace "app" }

## Nobody calls it any more.
external leg$0acy = fqdn "old.example.com"

allow app -> app : 80
"#
        )
        .await
    );
}

// ---------------------------------------------------------------- diagnostics

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_have_codes_links_and_related_information() {
    let fixture = r#"
//- /main.npl
import "./zones.npl"
zone web { namespace "web" }
allow web -> db : 5432
allow web -> dbb : 5432
//- /zones.npl
zone web { namespace "also-web" }
zone db { namespace "db" }
"#;
    let (server, uri, _, parsed) = TestServer::with_fixture(fixture).await;
    let published = server.diagnostics_for_version(&uri, 1).await;
    let zones = server.uri("/zones.npl");
    let zones_published = server.diagnostics_for_version(&zones, 1).await;
    let mut out = String::new();
    for (name, p) in [("main.npl", &published), ("zones.npl", &zones_published)] {
        out.push_str(&format!("//- {name}\n"));
        for d in p["diagnostics"].as_array().into_iter().flatten() {
            let text = server.text_of(p["uri"].as_str().unwrap_or(""), &parsed);
            out.push_str(&format!(
                "{} {} (severity {}, source {})\n{}\nlink: {}\n",
                d["code"].as_str().unwrap_or(""),
                d["message"].as_str().unwrap_or(""),
                d["severity"],
                d["source"].as_str().unwrap_or(""),
                show_range(name, &text, &d["range"]),
                d["codeDescription"]["href"]
                    .as_str()
                    .map(|href| href.replace(
                        &nplc_lsp::session::default_errors_url().unwrap_or_default(),
                        "<this checkout's docs/errors.md>"
                    ))
                    .unwrap_or_else(|| "(none)".to_string()),
            ));
            for r in d["relatedInformation"].as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "related: {}\n{}\n",
                    r["message"].as_str().unwrap_or(""),
                    server.show_location(&r["location"], &parsed)
                ));
            }
            out.push('\n');
        }
    }
    server.shutdown().await;
    insta::assert_snapshot!(with_input(fixture, &out));
}

/// Every code's link points at a heading of docs/errors.md.
#[test]
fn diagnostic_links_match_the_error_pages() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/errors.md"),
    )
    .expect("docs/errors.md");
    let anchors: Vec<String> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|heading| {
            heading
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect();
    for code in nplc_compiler::Code::ALL {
        let anchor = nplc_lsp::diagnostics::anchor(*code);
        assert!(anchors.contains(&anchor), "no heading for #{anchor}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_errors_for_configured_targets() {
    let server = TestServer::start_with(json!({"nplc": {"targets": ["kubernetes"]}})).await;
    let (server, uri, _, _) = server
        .load_fixture(
            r#"
zone app { namespace "app" }
allow app -> fqdn "api.example.com" : 443
"#,
        )
        .await;
    // The target checks run after the fast diagnostics and publish again.
    let published = server
        .diagnostics_where(&uri, |p| {
            p["version"] == 1 && p["diagnostics"].to_string().contains("E0402")
        })
        .await;
    assert!(
        published["diagnostics"].to_string().contains("E0402"),
        "{published}"
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------- symbols, folding, tokens

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_symbols_folding_and_semantic_tokens() {
    let fixture = r#"
import "std/k8s"
import "std/baseline"
# A comment
# over two lines.
## Web pods.
zone web {
  namespace "web"
  pods app = "web"
}
external corp = cidr 10.0.0.0/8
tier security {
  deny web -> corp : tcp/22
}
allow ingress-nginx -> web : 8080
"#;
    let (mut server, uri, _, _) = TestServer::with_fixture(fixture).await;
    let doc = json!({"textDocument": {"uri": uri}});
    let symbols = server
        .call("textDocument/documentSymbol", doc.clone())
        .await;
    let folds = server.call("textDocument/foldingRange", doc.clone()).await;
    let tokens = server
        .call("textDocument/semanticTokens/full", doc.clone())
        .await;
    let workspace = server
        .call("workspace/symbol", json!({"query": "ingress"}))
        .await;
    let std_display: Vec<String> = workspace
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| server.display(s["location"]["uri"].as_str().unwrap_or("")))
        .collect();
    server.shutdown().await;

    let mut out = String::from("symbols:\n");
    fn walk(out: &mut String, symbols: &Value, depth: usize) {
        for s in symbols.as_array().into_iter().flatten() {
            out.push_str(&format!(
                "{}{} (kind {}) {}: lines {}-{}\n",
                "  ".repeat(depth + 1),
                s["name"].as_str().unwrap_or(""),
                s["kind"],
                s["detail"].as_str().unwrap_or(""),
                s["range"]["start"]["line"],
                s["range"]["end"]["line"],
            ));
            walk(out, &s["children"], depth + 1);
        }
    }
    walk(&mut out, &symbols, 0);
    out.push_str("folding ranges:\n");
    for f in folds.as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}-{} {}\n",
            f["startLine"],
            f["endLine"],
            f["kind"].as_str().unwrap_or("")
        ));
    }
    out.push_str("workspace symbols for `ingress`:\n");
    for (s, shown) in workspace.as_array().into_iter().flatten().zip(&std_display) {
        out.push_str(&format!(
            "  {} (kind {}) in {}\n",
            s["name"].as_str().unwrap_or(""),
            s["kind"],
            shown
        ));
    }
    // Decode the semantic tokens against the legend.
    let legend = nplc_lsp::handlers::semantic_legend();
    let text = fixture.trim_start_matches('\n');
    let lines: Vec<&str> = text.lines().collect();
    out.push_str("semantic tokens:\n");
    let data: Vec<u64> = tokens["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    let (mut line, mut col) = (0usize, 0usize);
    for chunk in data.chunks(5) {
        let [dl, ds, len, kind, mods] = chunk else {
            continue;
        };
        line += *dl as usize;
        col = if *dl == 0 {
            col + *ds as usize
        } else {
            *ds as usize
        };
        let word: String = lines
            .get(line)
            .map(|l| l.chars().skip(col).take(*len as usize).collect())
            .unwrap_or_default();
        let mod_names: Vec<&str> = nplc_compiler::ide::modifiers::NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| mods & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect();
        out.push_str(&format!(
            "  {}:{} {:?} {}{}\n",
            line + 1,
            col + 1,
            word,
            legend.token_types[*kind as usize].as_str(),
            if mod_names.is_empty() {
                String::new()
            } else {
                format!(" [{}]", mod_names.join(", "))
            }
        ));
    }
    insta::assert_snapshot!(with_input(fixture, &out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdlib_documents_are_served_read_only() {
    let mut server = TestServer::start().await;
    let uri = "nplc-std:/std/k8s.npl";
    let source = server.call("nplc/stdlibSource", json!({"uri": uri})).await;
    assert_eq!(
        source.as_str(),
        nplc_compiler::stdlib::source("std/k8s"),
        "stdlibSource serves the embedded module"
    );
    // Opened (as after go-to-definition), it answers hover; edits are ignored.
    server
        .notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "npl", "version": 1, "text": "whatever"}}),
        )
        .await;
    let text = nplc_compiler::stdlib::source("std/k8s").unwrap_or("");
    let at = text
        .find("zone ingress-nginx")
        .expect("ingress-nginx in std/k8s")
        + 6;
    let hover = server
        .call(
            "textDocument/hover",
            json!({"textDocument": {"uri": uri}, "position": support::position(text, at)}),
        )
        .await;
    assert!(
        hover["contents"]["value"]
            .as_str()
            .is_some_and(|h| h.contains("ingress-nginx")),
        "{hover}"
    );
    let url = tower_lsp::lsp_types::Url::parse(uri).expect("url");
    assert_eq!(server.inspector.text(&url).as_deref(), Some(text));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formatting_when_the_formatter_is_there() {
    let (mut server, uri, _, _) =
        TestServer::with_fixture("zone   web {namespace \"web\"}\nallow web->web:80\n").await;
    let edits = server
        .call(
            "textDocument/formatting",
            json!({"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": true}}),
        )
        .await;
    let text = server.inspector.text(&uri).unwrap_or_default();
    let formatted = apply_edits(&text, edits.as_array().map(Vec::as_slice).unwrap_or(&[]));
    assert_eq!(
        Ok(formatted.clone()),
        nplc_compiler::formatter::format_source(&text).map_err(|e| e.to_string())
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hover_icmp_messages_and_a_log_rule() {
    let by_number = hover(
        r#"
zone api { namespace "api" }
zone db { namespace "db" }
allow api -> db : icmp/3/$04
"#,
    )
    .await;
    let by_name = hover(
        r#"
zone api { namespace "api" }
zone db { namespace "db" }
allow api -> db : icmpv6/echo-re$0quest
"#,
    )
    .await;
    let log = hover(
        r#"
zone api { namespace "api" }
zone db { namespace "db" }
l$0og api -> db : 5432
allow api -> db : 5432
"#,
    )
    .await;
    insta::assert_snapshot!(format!("{by_number}\n---\n{by_name}\n---\n{log}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_of_icmp_types_and_after_log() {
    let types = completion(
        r#"
zone web { namespace "web" }
allow web -> web : icmp/$0
"#,
    )
    .await;
    let peers = completion(
        r#"
zone web { namespace "web" }
log $0
"#,
    )
    .await;
    insta::assert_snapshot!(format!("{types}\n---\n{peers}"));
}
