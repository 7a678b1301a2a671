//! `nplc lsp` as an editor runs it: the real binary on stdio. Initialize,
//! open a file with errors, read the published diagnostics, shut down, exit.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Client {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
}

impl Client {
    fn start() -> Client {
        Client::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nplc"))
            .arg("lsp")
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nplc lsp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length: ") {
                        length = n.parse::<usize>().ok();
                    }
                }
                let Some(length) = length else { return };
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                match serde_json::from_slice(&body) {
                    Ok(value) => {
                        if tx.send(value).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        Client {
            child,
            stdin,
            messages,
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        self.stdin.flush().expect("flush");
    }

    /// Sends bytes as they are: a frame of our own making, good or bad.
    fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).expect("write");
        self.stdin.flush().expect("flush");
    }

    /// Waits for the process to end (stdin stays open); its exit code.
    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("nplc lsp did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn initialize(&mut self, id: i64) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {"capabilities": {}}}));
        self.wait_for("initialize", |m| m["id"] == id)
    }

    /// The next message that satisfies `accept`, skipping others.
    fn wait_for(&self, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(message) if accept(&message) => return message,
                Ok(_) => continue,
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }
}

#[test]
fn nplc_lsp_on_stdio_publishes_diagnostics_and_shuts_down() {
    let mut client = Client::start();
    client.send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}),
    );
    let init = client.wait_for("initialize", |m| m["id"] == 1);
    assert_eq!(init["result"]["serverInfo"]["name"], "nplc");
    assert!(init["result"]["capabilities"]["hoverProvider"] == true);
    client.send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));

    let dir = std::env::temp_dir().join(format!("nplc-lsp-stdio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("main.npl");
    let uri = format!("file://{}", path.display());
    let text = "zone web { namespace \"web\" }\nallow web -> dbb : 5432\nexternal corp = cidr 10.1.2.3/16\n";
    client.send(
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": uri, "languageId": "npl", "version": 1, "text": text}
        }}),
    );
    let published = client.wait_for("diagnostics", |m| {
        m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri.as_str()
    });
    let diagnostics = published["params"]["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let summary: Vec<(String, u64, u64)> = diagnostics
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or("").to_string(),
                d["range"]["start"]["line"].as_u64().unwrap_or(99),
                d["range"]["start"]["character"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    // The unknown name (with its did-you-mean) and the CIDR with host bits.
    assert!(
        summary.contains(&("E0201".to_string(), 1, 13)),
        "{published}"
    );
    assert!(
        summary.contains(&("E0305".to_string(), 2, 21)),
        "{published}"
    );
    assert_eq!(published["params"]["version"], 1);

    client.send(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}));
    let shutdown = client.wait_for("shutdown", |m| m["id"] == 2);
    assert!(shutdown.get("error").is_none(), "{shutdown}");
    client.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    drop(client.stdin);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = client.child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = client.child.kill();
            panic!("nplc lsp did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A frame with the given body and a correct `Content-Length`.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Each bad frame is answered with the error JSON-RPC prescribes (id null
/// unless the frame had a readable one), and the server then answers the
/// initialize that follows.
#[test]
fn every_bad_frame_is_answered_and_the_server_keeps_serving() {
    let did_open_surrogate = br#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///x.npl","languageId":"npl","version":1,"text":"\ud800"}}}"#;
    let cases: Vec<(&str, Vec<u8>, i64, Value)> = vec![
        ("not JSON", framed(b"{not json}"), -32700, Value::Null),
        ("an empty batch", framed(b"[]"), -32600, Value::Null),
        (
            "a batch",
            framed(br#"[{"jsonrpc":"2.0","id":5,"method":"shutdown"}]"#),
            -32600,
            Value::Null,
        ),
        ("an id alone", framed(br#"{"id":1}"#), -32600, json!(1)),
        ("a bare number", framed(b"42"), -32600, Value::Null),
        (
            "invalid UTF-8",
            framed(&[b'{', 0xff, 0xfe, b'}']),
            -32700,
            Value::Null,
        ),
        (
            "no Content-Length",
            b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}".to_vec(),
            -32700,
            Value::Null,
        ),
        (
            "a non-numeric Content-Length",
            b"Content-Length: ten\r\n\r\n{not json}".to_vec(),
            -32700,
            Value::Null,
        ),
        (
            "jsonrpc 1.0",
            framed(br#"{"jsonrpc":"1.0","id":3,"method":"initialize","params":{}}"#),
            -32600,
            json!(3),
        ),
        (
            "a lone surrogate",
            framed(did_open_surrogate),
            -32700,
            Value::Null,
        ),
        (
            "a non-string method",
            framed(br#"{"jsonrpc":"2.0","id":4,"method":7}"#),
            -32600,
            json!(4),
        ),
    ];
    for (what, bytes, code, id) in cases {
        let mut client = Client::start();
        client.send_raw(&bytes);
        let error = client.wait_for(what, |m| m.get("error").is_some());
        assert_eq!(error["error"]["code"], code, "{what}: {error}");
        assert_eq!(error["id"], id, "{what}: {error}");
        let init = client.initialize(100);
        assert_eq!(
            init["result"]["serverInfo"]["name"], "nplc",
            "{what}: {init}"
        );
        // And a request after it, on a working session.
        client.send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
        client.send(json!({"jsonrpc": "2.0", "id": 101, "method": "workspace/symbol", "params": {"query": ""}}));
        let symbols = client.wait_for("workspace/symbol", |m| m["id"] == 101);
        assert!(symbols.get("result").is_some(), "{what}: {symbols}");
        client.send(json!({"jsonrpc": "2.0", "method": "exit"}));
        assert_eq!(client.wait_exit(), 1, "{what}: exit without shutdown");
    }
}

/// The issue's reproducer: a bad frame, then initialize, in separate writes.
#[test]
fn initialize_after_a_bad_frame_in_a_separate_write_is_answered() {
    let mut client = Client::start();
    client.send_raw(b"Content-Length: 10\r\n\r\n{not json}");
    std::thread::sleep(Duration::from_millis(200));
    let init = client.initialize(1);
    assert_eq!(init["result"]["serverInfo"]["name"], "nplc", "{init}");
}

#[test]
fn exit_after_shutdown_ends_with_status_0_while_stdin_stays_open() {
    let mut client = Client::start();
    client.initialize(1);
    client.send(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}));
    let first = client.wait_for("shutdown", |m| m["id"] == 2);
    assert!(first.get("error").is_none(), "{first}");
    // A second shutdown is answered (an error), not left pending.
    client.send(json!({"jsonrpc": "2.0", "id": 3, "method": "shutdown"}));
    let second = client.wait_for("second shutdown", |m| m["id"] == 3);
    assert_eq!(second["error"]["code"], -32600, "{second}");
    client.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    assert_eq!(client.wait_exit(), 0);
}

#[test]
fn the_stdio_flag_editor_clients_pass_is_accepted() {
    let mut client = Client::start_with(&["--stdio"]);
    let init = client.initialize(1);
    assert!(init.get("error").is_none(), "{init}");
    client.send(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}));
    client.wait_for("shutdown", |m| m["id"] == 2);
    client.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    assert_eq!(client.wait_exit(), 0);
}

#[test]
fn exit_without_shutdown_ends_with_status_1() {
    let mut client = Client::start();
    client.initialize(1);
    client.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    assert_eq!(client.wait_exit(), 1);
}

#[test]
fn stdin_closing_without_shutdown_ends_with_status_1() {
    let client = Client::start();
    let Client {
        mut child, stdin, ..
    } = client;
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "nplc lsp did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
}

/// `workspace/executeCommand` runs `nplc explain` and `nplc query` (the
/// binary that serves) on the saved file and answers their JSON.
#[test]
fn explain_and_query_commands_answer_json() {
    let dir = std::env::temp_dir().join(format!("nplc-lsp-commands-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("main.npl");
    let text =
        "zone web { namespace \"web\" }\nzone api { namespace \"api\" }\nallow web -> api : 8080\n";
    std::fs::write(&path, text).expect("write");
    let uri = format!("file://{}", path.display());
    let mut client = Client::start();
    client.initialize(1);
    client.send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    client.send(
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": uri, "languageId": "npl", "version": 1, "text": text}
        }}),
    );
    client.send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand",
        "params": {"command": "nplc.explain", "arguments": [uri, "api"]}}),
    );
    let explained = client.wait_for("explain", |m| m["id"] == 2);
    assert!(
        explained["result"].is_object() || explained["result"].is_array(),
        "{explained}"
    );
    assert!(
        explained["result"].to_string().contains("8080"),
        "{explained}"
    );
    client.send(json!({"jsonrpc": "2.0", "id": 3, "method": "workspace/executeCommand",
        "params": {"command": "nplc.query", "arguments": [uri, {"from": "ns=web", "to": "ns=api", "port": "8080"}]}}));
    let queried = client.wait_for("query", |m| m["id"] == 3);
    assert!(queried["result"].is_object(), "{queried}");
    assert_eq!(queried["result"]["allowed"], json!(true), "{queried}");
    assert_eq!(
        queried["result"]["decision"]["rules"][0]["text"],
        json!("allow web -> api : 8080"),
        "{queried}"
    );
    client.send(json!({"jsonrpc": "2.0", "id": 4, "method": "shutdown"}));
    client.wait_for("shutdown", |m| m["id"] == 4);
    client.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    assert_eq!(client.wait_exit(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
