//! The whole workspace, not only the open files: references and rename
//! reach files that are not open, a file edited on disk refreshes its
//! importers' diagnostics, workspace symbols cover every file, and
//! definitions in the standard library open as real files.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{apply_edits, position, TestServer};
use tower_lsp::lsp_types::Url;

const ZONES: &str = "zone web { namespace \"web\" }\nzone db { namespace \"db\" }\n";
const MAIN: &str = "import \"./zones.npl\"\nallow web -> db : 5432\n";
const OTHER: &str = "import \"./zones.npl\"\nallow web -> web : 80\nallow db -> web : 8080\n";

async fn workspace(files: &[(&str, &str)]) -> TestServer {
    let server = TestServer::start_in_dir(
        json!({
            "capabilities": {"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}}},
            "rootUri": "$DIR"
        }),
        files,
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.inspector.indexed() < files.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "the workspace was not indexed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server
}

fn codes(published: &Value) -> Vec<String> {
    published["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["code"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_from_a_file_whose_importers_are_closed() {
    let files = [
        ("zones.npl", ZONES),
        ("main.npl", MAIN),
        ("other.npl", OTHER),
    ];
    let mut server = workspace(&files).await;
    // The server asked to watch `.npl` files.
    server
        .notification_where(|n| n["method"] == "client/registerCapability")
        .await;
    server.open("zones.npl", ZONES).await;
    let uri = server.uri("zones.npl");
    let at = position(ZONES, ZONES.find("web").unwrap_or(0));
    let references = server
        .call(
            "textDocument/references",
            json!({"textDocument": {"uri": uri}, "position": at,
                   "context": {"includeDeclaration": true}}),
        )
        .await;
    let mut found: Vec<String> = references
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| server.display(l["uri"].as_str().unwrap_or("")))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "main.npl",
            "other.npl",
            "other.npl",
            "other.npl",
            "zones.npl"
        ],
        "{references}"
    );

    let edit = server
        .call(
            "textDocument/rename",
            json!({"textDocument": {"uri": uri}, "position": at, "newName": "frontend"}),
        )
        .await;
    // Apply the edit to every file, as `:wall` would, then check the program.
    let mut db = nplc_compiler::Database::default();
    let mut roots = Vec::new();
    for (name, text) in files {
        let file_uri = server.uri(name);
        let edits = edit["changes"][file_uri.as_str()]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let new_text = apply_edits(text, &edits);
        assert!(
            !new_text.contains("web "),
            "{name} still says web: {new_text}"
        );
        let path = server.dir.join(name);
        std::fs::write(&path, &new_text).expect("write");
        roots.push(db.set_file(&path.to_string_lossy(), new_text));
    }
    for root in roots {
        let program = nplc_compiler::Program::new(&db, vec![root]);
        let diags = nplc_compiler::lint::diagnostics(&db, program);
        assert!(
            !diags.iter().any(nplc_compiler::Diagnostic::is_error),
            "errors after the rename: {diags:?}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_edited_on_disk_refreshes_its_importers() {
    let main = "import \"./zones.npl\"\nallow web -> cache : 6379\n";
    let mut server = workspace(&[("zones.npl", ZONES), ("main.npl", main)]).await;
    server.open("main.npl", main).await;
    let uri = server.uri("main.npl");
    let first = server.diagnostics_for_version(&uri, 1).await;
    assert!(codes(&first).contains(&"E0201".to_string()), "{first}");

    // `cache` appears in the imported file, on disk only.
    let zones = format!("{ZONES}zone cache {{ namespace \"cache\" }}\n");
    server.write("zones.npl", &zones);
    let zones_uri = server.uri("zones.npl");
    server
        .notify(
            "workspace/didChangeWatchedFiles",
            json!({"changes": [{"uri": zones_uri, "type": 2}]}),
        )
        .await;
    server
        .diagnostics_where(&uri, |p| !codes(p).contains(&"E0201".to_string()))
        .await;

    // Deleted: the import is missing now.
    std::fs::remove_file(server.dir.join("zones.npl")).expect("remove");
    server
        .notify(
            "workspace/didChangeWatchedFiles",
            json!({"changes": [{"uri": zones_uri, "type": 3}]}),
        )
        .await;
    let missing = server
        .diagnostics_where(&uri, |p| codes(p).iter().any(|c| c.starts_with("E02")))
        .await;
    assert!(!codes(&missing).is_empty(), "{missing}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_symbols_cover_files_that_are_not_open() {
    let mut server = workspace(&[
        ("zones.npl", ZONES),
        ("sub/more.npl", "zone dbproxy { namespace \"p\" }\n"),
    ])
    .await;
    let symbols = server
        .call("workspace/symbol", json!({"query": "db"}))
        .await;
    let mut names: Vec<String> = symbols
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "{} in {}",
                s["name"].as_str().unwrap_or(""),
                server.display(s["location"]["uri"].as_str().unwrap_or(""))
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["db in zones.npl", "dbproxy in sub/more.npl"],
        "{symbols}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definition_in_the_standard_library_is_a_real_read_only_file() {
    let main =
        "import \"std/k8s\"\nzone web { namespace \"web\" }\nallow prometheus -> web : 9090\n";
    let (mut server, uri, _, _) = TestServer::with_fixture(main).await;
    let at = position(main, main.find("prometheus").unwrap_or(0) + 2);
    let location = server
        .call(
            "textDocument/definition",
            json!({"textDocument": {"uri": uri}, "position": at}),
        )
        .await;
    let std_uri = Url::parse(location["uri"].as_str().unwrap_or("")).expect("a uri");
    assert_eq!(std_uri.scheme(), "file", "{location}");
    let path = std_uri.to_file_path().expect("a path");
    let text = std::fs::read_to_string(&path).expect("the module is on disk");
    assert_eq!(
        Some(text.as_str()),
        nplc_compiler::stdlib::source("std/k8s")
    );
    assert!(std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .readonly());
    let line = location["range"]["start"]["line"]
        .as_u64()
        .unwrap_or(u64::MAX) as usize;
    assert!(
        text.lines()
            .nth(line)
            .is_some_and(|l| l.contains("zone prometheus")),
        "{location}"
    );

    // Opened as the editor does, it answers hover, and edits are ignored.
    server
        .notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": std_uri, "languageId": "npl", "version": 1, "text": text}}),
        )
        .await;
    server
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": std_uri, "version": 2},
                   "contentChanges": [{"text": "garbage"}]}),
        )
        .await;
    let hover = server
        .call(
            "textDocument/hover",
            json!({"textDocument": {"uri": std_uri}, "position": location["range"]["start"]}),
        )
        .await;
    assert!(
        hover["contents"]["value"]
            .as_str()
            .is_some_and(|h| h.contains("prometheus")),
        "{hover}"
    );
    assert_eq!(
        server.inspector.text(&std_uri).as_deref(),
        Some(text.as_str())
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_folders_that_come_and_go() {
    let server = TestServer::start_in_dir(
        json!({"capabilities": {}, "rootUri": "$DIR"}),
        &[("a/zones.npl", ZONES)],
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.inspector.indexed() < 1 {
        assert!(std::time::Instant::now() < deadline, "not indexed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut server = server;
    // A second folder, outside the first root.
    let other = support::fresh_dir();
    std::fs::write(
        other.join("more.npl"),
        "zone cache { namespace \"cache\" }\n",
    )
    .expect("write");
    let other_uri = Url::from_directory_path(&other).expect("url");
    server
        .notify(
            "workspace/didChangeWorkspaceFolders",
            json!({"event": {"added": [{"uri": other_uri, "name": "other"}], "removed": []}}),
        )
        .await;
    while server.inspector.indexed() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new folder was not indexed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let symbols = server
        .call("workspace/symbol", json!({"query": "cache"}))
        .await;
    assert_eq!(symbols.as_array().map(Vec::len), Some(1), "{symbols}");

    let first = Url::from_directory_path(&server.dir).expect("url");
    server
        .notify(
            "workspace/didChangeWorkspaceFolders",
            json!({"event": {"added": [], "removed": [{"uri": first, "name": "first"}]}}),
        )
        .await;
    let symbols = server
        .call("workspace/symbol", json!({"query": "web"}))
        .await;
    assert_eq!(symbols.as_array().map(Vec::len), Some(0), "{symbols}");
    assert_eq!(server.inspector.indexed(), 1);
    let _ = std::fs::remove_dir_all(&other);
    server.shutdown().await;
}
