//! A JSON-RPC client for the in-process server: the real tower-lsp `Server`
//! over in-memory pipes, so requests and notifications go through the same
//! framing, dispatch and concurrency as on stdio.
//!
//! Fixtures are rust-analyzer style: `//- /main.npl` starts a file, `$0`
//! marks the cursor (at most once in a fixture). Files are written to a
//! fresh directory; each is opened in the editor unless its header says
//! `(disk)`, in which case it is only on disk.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::{oneshot, Notify};
use tower_lsp::lsp_types::Url;

type Pending = Arc<Mutex<HashMap<i64, oneshot::Sender<Value>>>>;

pub struct TestServer {
    writer: Arc<tokio::sync::Mutex<tokio::io::WriteHalf<DuplexStream>>>,
    pending: Pending,
    notifications: Arc<Mutex<Vec<Value>>>,
    notified: Arc<Notify>,
    next_id: i64,
    pub inspector: nplc_lsp::Inspector,
    pub dir: PathBuf,
}

async fn write_message(writer: &mut tokio::io::WriteHalf<DuplexStream>, value: &Value) {
    let body = serde_json::to_string(value).expect("json");
    let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
    writer.write_all(frame.as_bytes()).await.expect("write");
}

async fn read_message<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            length = n.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).await.ok()?;
    serde_json::from_slice(&body).ok()
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty directory for one test.
pub fn fresh_dir() -> PathBuf {
    let n = DIRS.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("nplc-lsp-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.canonicalize().expect("canonical temp dir")
}

impl TestServer {
    /// Starts a server and initializes it with `options` as `initializationOptions`.
    pub async fn start_with(options: Value) -> TestServer {
        TestServer::start_with_params(json!({"capabilities": {}, "initializationOptions": options}))
            .await
    }

    /// Starts a server and initializes it with these `initialize` params;
    /// a `rootUri` of `"$DIR"` is the test's directory, with `files`
    /// (name, text) written there first.
    pub async fn start_in_dir(mut params: Value, files: &[(&str, &str)]) -> TestServer {
        let dir = fresh_dir();
        for (name, text) in files {
            let path = path_of(&dir, name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("dir");
            }
            std::fs::write(path, text).expect("write");
        }
        if params["rootUri"] == "$DIR" {
            params["rootUri"] = json!(Url::from_directory_path(&dir).expect("dir url"));
        }
        TestServer::start_at(params, dir).await
    }

    /// Starts a server and initializes it with these `initialize` params.
    pub async fn start_with_params(params: Value) -> TestServer {
        TestServer::start_at(params, fresh_dir()).await
    }

    async fn start_at(params: Value, dir: PathBuf) -> TestServer {
        let (client_end, server_end) = tokio::io::duplex(1 << 16);
        let (server_read, server_write) = tokio::io::split(server_end);
        let (client_read, client_write) = tokio::io::split(client_end);
        let (service, socket) = nplc_lsp::service();
        let inspector = service.inner().inspector();
        tokio::spawn(async move {
            tower_lsp::Server::new(server_read, server_write, socket)
                .serve(service)
                .await;
        });
        let writer = Arc::new(tokio::sync::Mutex::new(client_write));
        let pending: Pending = Arc::default();
        let notifications = Arc::new(Mutex::new(Vec::new()));
        let notified = Arc::new(Notify::new());
        {
            let writer = writer.clone();
            let pending = pending.clone();
            let notifications = notifications.clone();
            let notified = notified.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(client_read);
                while let Some(message) = read_message(&mut reader).await {
                    let id = message.get("id").and_then(Value::as_i64);
                    let method = message.get("method").and_then(Value::as_str);
                    match (id, method) {
                        (Some(id), None) => {
                            if let Some(tx) = pending.lock().unwrap().remove(&id) {
                                let _ = tx.send(message);
                            }
                        }
                        (Some(id), Some(_)) => {
                            // A request from the server: record it, answer it with null.
                            notifications.lock().unwrap().push(message.clone());
                            notified.notify_waiters();
                            let reply = json!({"jsonrpc": "2.0", "id": id, "result": null});
                            write_message(&mut *writer.lock().await, &reply).await;
                        }
                        _ => {
                            notifications.lock().unwrap().push(message);
                            notified.notify_waiters();
                        }
                    }
                }
            });
        }
        let mut server = TestServer {
            writer,
            pending,
            notifications,
            notified,
            next_id: 0,
            inspector,
            dir,
        };
        let init = server.request("initialize", params).await;
        assert!(init.get("result").is_some(), "initialize failed: {init}");
        server.notify("initialized", json!({})).await;
        server
    }

    pub async fn start() -> TestServer {
        TestServer::start_with(Value::Null).await
    }

    /// Sends a request and waits for its response (the whole message).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        write_message(&mut *self.writer.lock().await, &message).await;
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .unwrap_or_else(|_| panic!("no response to {method}"))
            .expect("response")
    }

    /// The `result` of a request; panics on an error response.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let response = self.request(method, params).await;
        match response.get("result") {
            Some(result) => result.clone(),
            None => panic!("{method} failed: {response}"),
        }
    }

    pub async fn notify(&mut self, method: &str, params: Value) {
        let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
        write_message(&mut *self.writer.lock().await, &message).await;
    }

    pub fn uri(&self, name: &str) -> Url {
        Url::from_file_path(self.dir.join(name.trim_start_matches('/'))).expect("file url")
    }

    /// Writes a file to the test directory (not opened).
    pub fn write(&self, name: &str, text: &str) {
        let path = self.dir.join(name.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("dir");
        }
        std::fs::write(path, text).expect("write");
    }

    pub async fn open(&mut self, name: &str, text: &str) {
        let uri = self.uri(name);
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "npl", "version": 1, "text": text}}),
        )
        .await;
    }

    /// Waits until `uri` has published diagnostics that satisfy `accept`
    /// (the latest publication for it); returns them.
    pub async fn diagnostics_where(&self, uri: &Url, accept: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let waiter = self.notified.notified();
            if let Some(latest) = self.latest_diagnostics(uri) {
                if accept(&latest) {
                    return latest;
                }
            }
            if tokio::time::timeout_at(deadline, waiter).await.is_err() {
                panic!(
                    "no matching diagnostics for {uri}; latest: {:?}",
                    self.latest_diagnostics(uri)
                );
            }
        }
    }

    /// Every notification received so far with this method, in order.
    pub fn notifications(&self, method: &str) -> Vec<Value> {
        self.notifications
            .lock()
            .unwrap()
            .iter()
            .filter(|n| n["method"] == method)
            .map(|n| n["params"].clone())
            .collect()
    }

    /// Waits until a notification satisfies `accept`; returns it.
    pub async fn notification_where(&self, accept: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let waiter = self.notified.notified();
            if let Some(found) = self
                .notifications
                .lock()
                .unwrap()
                .iter()
                .find(|n| accept(n))
            {
                return found.clone();
            }
            if tokio::time::timeout_at(deadline, waiter).await.is_err() {
                panic!("no matching notification");
            }
        }
    }

    /// The latest `publishDiagnostics` params for `uri`, if any.
    pub fn latest_diagnostics(&self, uri: &Url) -> Option<Value> {
        self.notifications
            .lock()
            .unwrap()
            .iter()
            .rev()
            .filter(|n| n["method"] == "textDocument/publishDiagnostics")
            .map(|n| n["params"].clone())
            .find(|p| p["uri"] == uri.as_str())
    }

    /// Waits for the diagnostics of document version `version`.
    pub async fn diagnostics_for_version(&self, uri: &Url, version: i64) -> Value {
        self.diagnostics_where(uri, |p| p["version"].as_i64() == Some(version))
            .await
    }

    pub async fn shutdown(mut self) {
        self.next_id += 1;
        let id = self.next_id;
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": "shutdown"});
        write_message(&mut *self.writer.lock().await, &message).await;
        let response = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("shutdown answered")
            .expect("response");
        assert!(
            response.get("error").is_none(),
            "shutdown failed: {response}"
        );
        let exit = json!({"jsonrpc": "2.0", "method": "exit"});
        write_message(&mut *self.writer.lock().await, &exit).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A parsed fixture: files (name, text, opened?) and the cursor.
pub struct Fixture {
    pub files: Vec<(String, String, bool)>,
    /// (file name, byte offset)
    pub cursor: Option<(String, usize)>,
}

pub fn parse_fixture(fixture: &str) -> Fixture {
    let fixture = fixture.trim_start_matches('\n');
    let mut files: Vec<(String, String, bool)> = Vec::new();
    if !fixture.starts_with("//- ") {
        files.push(("/main.npl".to_string(), String::new(), true));
    }
    for line in fixture.split_inclusive('\n') {
        if let Some(header) = line.strip_prefix("//- ") {
            let header = header.trim();
            let (name, opened) = match header.strip_suffix("(disk)") {
                Some(name) => (name.trim().to_string(), false),
                None => (header.to_string(), true),
            };
            files.push((name, String::new(), opened));
        } else if let Some(last) = files.last_mut() {
            last.1.push_str(line);
        }
    }
    let mut cursor = None;
    for (name, text, _) in &mut files {
        if let Some(at) = text.find("$0") {
            text.replace_range(at..at + 2, "");
            cursor = Some((name.clone(), at));
        }
    }
    Fixture { files, cursor }
}

/// LSP position (UTF-16) of a byte offset.
pub fn position(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let character = before[line_start..].encode_utf16().count();
    json!({"line": line, "character": character})
}

impl TestServer {
    /// Starts a server with the fixture's files written and opened (in
    /// order, waiting for no diagnostics); returns the server, the cursor's
    /// document URI and LSP position.
    pub async fn with_fixture(fixture: &str) -> (TestServer, Url, Value, Fixture) {
        let server = TestServer::start().await;
        server.load_fixture(fixture).await
    }

    pub async fn load_fixture(mut self, fixture: &str) -> (TestServer, Url, Value, Fixture) {
        let parsed = parse_fixture(fixture);
        for (name, text, _) in &parsed.files {
            self.write(name, text);
        }
        for (name, text, opened) in &parsed.files {
            if *opened {
                self.open(name, text).await;
            }
        }
        let (name, offset) = parsed
            .cursor
            .clone()
            .unwrap_or_else(|| (parsed.files[0].0.clone(), 0));
        let text = &parsed
            .files
            .iter()
            .find(|(n, _, _)| *n == name)
            .expect("cursor file")
            .1;
        let uri = self.uri(&name);
        let pos = position(text, offset);
        (self, uri, pos, parsed)
    }

    /// A file's name relative to the test directory (`main.npl`), or the URI
    /// itself for other schemes.
    /// The standard library's cached files show as `<std>/std/k8s.npl`.
    pub fn display(&self, uri: &str) -> String {
        let prefix = Url::from_directory_path(&self.dir)
            .map(|u| u.to_string())
            .unwrap_or_default();
        if let Some(std_dir) = nplc_lsp::stdlib_files::dir() {
            let std_prefix = Url::from_directory_path(std_dir)
                .map(|u| u.to_string())
                .unwrap_or_default();
            if let Some(rest) = uri.strip_prefix(&std_prefix) {
                return format!("<std>/{rest}");
            }
        }
        uri.strip_prefix(&prefix).unwrap_or(uri).to_string()
    }

    /// The text of a URI: the fixture's, the disk's, or the standard library's.
    pub fn text_of(&self, uri: &str, fixture: &Fixture) -> String {
        let name = format!("/{}", self.display(uri));
        if let Some((_, text, _)) = fixture.files.iter().find(|(n, _, _)| *n == name) {
            return text.clone();
        }
        if let Some(module) = uri.strip_prefix("nplc-std:/") {
            let module = module.trim_end_matches(".npl");
            return nplc_compiler::stdlib::source(module)
                .unwrap_or("")
                .to_string();
        }
        if let Some(path) = Url::parse(uri).ok().and_then(|u| u.to_file_path().ok()) {
            return std::fs::read_to_string(path).unwrap_or_default();
        }
        std::fs::read_to_string(self.dir.join(self.display(uri))).unwrap_or_default()
    }

    /// `file:line` then the line, with `^` under the range (one-line ranges).
    pub fn show_location(&self, location: &Value, fixture: &Fixture) -> String {
        let uri = location["uri"].as_str().unwrap_or("");
        let text = self.text_of(uri, fixture);
        show_range(&self.display(uri), &text, &location["range"])
    }
}

pub fn show_range(name: &str, text: &str, range: &Value) -> String {
    let line = range["start"]["line"].as_u64().unwrap_or(0) as usize;
    let start = range["start"]["character"].as_u64().unwrap_or(0) as usize;
    let end_line = range["end"]["line"].as_u64().unwrap_or(0) as usize;
    let end = if end_line == line {
        range["end"]["character"].as_u64().unwrap_or(0) as usize
    } else {
        text.lines()
            .nth(line)
            .map_or(0, |l| l.encode_utf16().count())
    };
    let content = text.lines().nth(line).unwrap_or("");
    format!(
        "{name}:{}\n{content}\n{}{}{}",
        line + 1,
        " ".repeat(start),
        "^".repeat(end.saturating_sub(start).max(1)),
        if end_line != line {
            format!(" (to line {})", end_line + 1)
        } else {
            String::new()
        }
    )
}

/// Applies LSP text edits (UTF-16 ranges) to a text.
pub fn apply_edits(text: &str, edits: &[Value]) -> String {
    let offset = |pos: &Value| -> usize {
        let line = pos["line"].as_u64().unwrap_or(0) as usize;
        let character = pos["character"].as_u64().unwrap_or(0) as usize;
        let mut at = 0;
        for (i, l) in text.split_inclusive('\n').enumerate() {
            if i == line {
                let mut units = 0;
                for (j, c) in l.char_indices() {
                    if units >= character {
                        return at + j;
                    }
                    units += c.len_utf16();
                }
                return at + l.trim_end_matches('\n').len();
            }
            at += l.len();
        }
        text.len()
    };
    let mut edits: Vec<(usize, usize, String)> = edits
        .iter()
        .map(|e| {
            (
                offset(&e["range"]["start"]),
                offset(&e["range"]["end"]),
                e["newText"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (start, end, new) in edits {
        out.replace_range(start..end, &new);
    }
    out
}

pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(name.trim_start_matches('/'))
}
