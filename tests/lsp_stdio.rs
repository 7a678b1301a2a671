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
        let mut child = Command::new(env!("CARGO_BIN_EXE_nplc"))
            .arg("lsp")
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
