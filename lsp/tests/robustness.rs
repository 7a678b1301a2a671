//! Random edit sequences — insertions and deletions anywhere, positions in
//! the middle of multi-byte characters, past the end of lines and of the
//! text — never crash the server: it keeps answering, never with an internal
//! error, and its text follows the edits (positions clamped as documented in
//! `nplc_lsp::position`).

mod support;

use nplc_lsp::position::LineIndex;
use proptest::prelude::*;
use serde_json::{json, Value};
use support::TestServer;
use tower_lsp::lsp_types::{Position, Range};

#[derive(Debug, Clone)]
struct Edit {
    start: (u32, u32),
    end: (u32, u32),
    text: String,
    /// A request to send after the edit: (method index, line, character).
    ask: Option<(usize, u32, u32)>,
}

fn edit() -> impl Strategy<Value = Edit> {
    let text = prop_oneof![
        Just(String::new()),
        Just("a".to_string()),
        Just("é".to_string()),
        Just("😀".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("\"".to_string()),
        Just("allow a -> b : 80\n".to_string()),
        Just("zone a { pods k = \"v\" }".to_string()),
        Just(" -> ".to_string()),
        Just("import \"./x.npl\"\n".to_string()),
        "[a-z \\n:{}\"#]{0,8}",
    ];
    (
        (0u32..12, 0u32..40),
        (0u32..3, 0u32..40),
        text,
        proptest::option::of((0usize..METHODS.len(), 0u32..12, 0u32..40)),
    )
        .prop_map(|((l, c), (dl, c2), text, ask)| Edit {
            start: (l, c),
            end: (l + dl, c2),
            text,
            ask,
        })
}

const METHODS: [&str; 13] = [
    "textDocument/hover",
    "textDocument/completion",
    "textDocument/definition",
    "textDocument/references",
    "textDocument/prepareRename",
    "textDocument/semanticTokens/full",
    "textDocument/documentSymbol",
    "textDocument/foldingRange",
    "textDocument/codeAction",
    "textDocument/documentHighlight",
    "textDocument/documentLink",
    "textDocument/inlayHint",
    "textDocument/semanticTokens/range",
];

fn params(method: &str, uri: &str, line: u32, character: u32) -> Value {
    let pos = json!({"line": line, "character": character});
    let doc = json!({"uri": uri});
    match method {
        "textDocument/semanticTokens/full"
        | "textDocument/documentSymbol"
        | "textDocument/foldingRange"
        | "textDocument/documentLink" => json!({"textDocument": doc}),
        "textDocument/inlayHint" | "textDocument/semanticTokens/range" => json!({
            "textDocument": doc,
            "range": {"start": {"line": 0, "character": 0}, "end": pos}
        }),
        "textDocument/codeAction" => json!({
            "textDocument": doc,
            "range": {"start": pos, "end": {"line": line + 1, "character": 0}},
            "context": {"diagnostics": []}
        }),
        "textDocument/references" => json!({
            "textDocument": doc, "position": pos, "context": {"includeDeclaration": true}
        }),
        _ => json!({"textDocument": doc, "position": pos}),
    }
}

const START: &str = "import \"std/k8s\"\n## Dé web 😀\nzone web { namespace \"wéb\" }\nzone db {\n  pods app = \"😀\"\n}\nallow web -> db : 5432\nallow ingress-nginx -> web : 8080\n";

fn run(edits: Vec<Edit>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let mut server = TestServer::start().await;
        let uri = server.uri("/main.npl");
        server.open("/main.npl", START).await;
        let mut model = START.to_string();
        for (i, e) in edits.iter().enumerate() {
            let range = Range::new(
                Position::new(e.start.0, e.start.1),
                Position::new(e.end.0, e.end.1),
            );
            let (a, b) = LineIndex::new(&model).offsets(range);
            model.replace_range(a..b, &e.text);
            server
                .notify(
                    "textDocument/didChange",
                    json!({"textDocument": {"uri": uri, "version": i + 2}, "contentChanges": [
                        {"range": range, "text": e.text}
                    ]}),
                )
                .await;
            if let Some((m, line, character)) = e.ask {
                let method = METHODS[m];
                let response = server
                    .request(method, params(method, uri.as_str(), line, character))
                    .await;
                let code = response["error"]["code"].as_i64();
                prop_assert!(
                    code != Some(-32603),
                    "{method} failed after {} edits: {response}",
                    i + 1
                );
            }
        }
        let version = edits.len() as i64 + 1;
        server.diagnostics_for_version(&uri, version).await;
        prop_assert_eq!(server.inspector.text(&uri), Some(model));
        server.shutdown().await;
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_edits_never_crash_the_server(edits in proptest::collection::vec(edit(), 1..30)) {
        run(edits)?;
    }
}
