//! Document synchronisation: edits apply in order however fast they come,
//! diagnostics follow the last edit, and a change in one file re-checks the
//! open files that import it.

mod support;

use serde_json::{json, Value};
use support::{apply_edits, position, TestServer};

/// A tiny deterministic generator, so the burst is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % below.max(1)
    }
}

/// A char boundary of `text` near `at`.
fn boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn codes(published: &Value) -> Vec<(String, Value)> {
    published["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or("").to_string(),
                d["range"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_incremental_edits_ends_in_the_clients_text() {
    let mut server = TestServer::start().await;
    let uri = server.uri("/main.npl");
    let mut text = String::from(
        "zone web { namespace \"web\" }\nzone db { namespace \"db\" }\nallow web -> db : 5432\n",
    );
    server.open("/main.npl", &text).await;
    let inserts = [
        "a",
        "é",
        "😀",
        " ",
        "\n",
        "allow web -> dbx : 80\n",
        "zone z { pods app = \"z\" }\n",
        "#",
        "->",
    ];
    let mut rng = Lcg(7);
    for version in 2..=201 {
        // Either an insertion or a deletion, at char boundaries of the
        // client's text (the client is always right about its own text).
        let start = boundary(&text, rng.next(text.len() + 1));
        let (end, new_text) = if rng.next(3) == 0 && start < text.len() {
            (
                boundary(&text, start + 1 + rng.next(6)).max(start),
                String::new(),
            )
        } else {
            (start, inserts[rng.next(inserts.len())].to_string())
        };
        let edit = json!({
            "range": {"start": position(&text, start), "end": position(&text, end)},
            "text": new_text,
        });
        text = apply_edits(
            &text,
            &[json!({"range": edit["range"], "newText": new_text})],
        );
        // Sent without waiting for anything.
        server
            .notify(
                "textDocument/didChange",
                json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [edit]}),
            )
            .await;
    }
    let published = server.diagnostics_for_version(&uri, 201).await;
    assert_eq!(server.inspector.text(&uri).as_deref(), Some(text.as_str()));

    // The diagnostics are those of the final text, as a fresh server sees it.
    let mut fresh = TestServer::start().await;
    let fresh_uri = fresh.uri("/main.npl");
    fresh.open("/main.npl", &text).await;
    let expected = fresh.diagnostics_for_version(&fresh_uri, 1).await;
    assert_eq!(codes(&published), codes(&expected));
    assert!(
        !codes(&published).is_empty(),
        "the burst was meant to leave some errors"
    );
    fresh.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_in_an_imported_file_rechecks_its_importers() {
    let mut server = TestServer::start().await;
    let zones = "zone web { namespace \"web\" }\nzone db { namespace \"db\" }\n";
    server.write("/zones.npl", zones);
    let main = "import \"./zones.npl\"\nallow web -> db : 5432\n";
    server.write("/main.npl", main);
    server.open("/main.npl", main).await;
    server.open("/zones.npl", zones).await;
    let main_uri = server.uri("/main.npl");
    let zones_uri = server.uri("/zones.npl");
    let clean = server.diagnostics_for_version(&main_uri, 1).await;
    assert!(codes(&clean).is_empty(), "{clean}");

    // Rename `db` in the buffer (not saved): main.npl now names nothing.
    let end = position(zones, zones.len());
    server
        .notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": zones_uri, "version": 2}, "contentChanges": [
                {"range": {"start": {"line": 0, "character": 0}, "end": end},
                 "text": "zone web { namespace \"web\" }\nzone database { namespace \"db\" }\n"}
            ]}),
        )
        .await;
    let broken = server
        .diagnostics_where(&main_uri, |p| !codes(p).is_empty())
        .await;
    let messages: Vec<&str> = broken["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["message"].as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("unknown peer `db`")),
        "{broken}"
    );

    // Closing the buffer goes back to the disk's text, where `db` exists.
    server
        .notify(
            "textDocument/didClose",
            json!({"textDocument": {"uri": zones_uri}}),
        )
        .await;
    server
        .diagnostics_where(&main_uri, |p| codes(p).is_empty())
        .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_of_an_unsaved_buffer_resolves_once_it_is_open() {
    let mut server = TestServer::start().await;
    let main = "import \"./new.npl\"\nallow web -> web : 80\n";
    server.write("/main.npl", main);
    server.open("/main.npl", main).await;
    let main_uri = server.uri("/main.npl");
    let missing = server.diagnostics_for_version(&main_uri, 1).await;
    assert!(
        codes(&missing).iter().any(|(c, _)| c == "E0204"),
        "{missing}"
    );
    // new.npl exists only in the editor.
    server
        .open("/new.npl", "zone web { namespace \"web\" }\n")
        .await;
    server
        .diagnostics_where(&main_uri, |p| codes(p).is_empty())
        .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_document_clears_its_diagnostics() {
    let mut server = TestServer::start().await;
    let uri = server.uri("/main.npl");
    server
        .open("/main.npl", "allow nowhere -> web : 80\n")
        .await;
    let first = server.diagnostics_for_version(&uri, 1).await;
    assert!(!codes(&first).is_empty());
    server
        .notify(
            "textDocument/didClose",
            json!({"textDocument": {"uri": uri}}),
        )
        .await;
    server
        .diagnostics_where(&uri, |p| codes(p).is_empty())
        .await;
    server.shutdown().await;
}
