//! The framing layer in front of tower-lsp: reads LSP frames from the
//! client, answers every bad one with the JSON-RPC error the spec prescribes
//! and keeps serving, and owns the `shutdown` / `exit` life cycle.
//!
//! Why a layer and not tower-lsp's own transport, nor the maintained fork:
//! tower-lsp 0.20 (its last release) decodes with tokio-util's `FramedRead`,
//! which ends the stream after the first decoding error, so one malformed
//! frame ends the session (status 0, silently); its `serve` does not return
//! on `exit` while stdin stays open (ebkalderon/tower-lsp#399, #424) and
//! says nothing of whether `shutdown` came first, so the exit status cannot
//! follow LSP. The community fork (tower-lsp-community/tower-lsp-server)
//! fixed the `exit` hang (its #12) but keeps the same codec, still without
//! an exit status, and moves to a different API (its own URI type, no
//! `async_trait`). A layer of a few hundred lines that checks every frame
//! before tower-lsp sees it fixes all of it and keeps the server's code as
//! it is.
//!
//! What is a bad frame, and the answer (JSON-RPC 2.0 §5.1; the `id` is null
//! when it cannot be read from the frame):
//! - no `Content-Length`, or one that is not a number: −32700 Parse error;
//!   the reader then skips to the next `Content-Length` header.
//! - a body that is not UTF-8, or not JSON (a lone surrogate `\ud800` in a
//!   string is not JSON): −32700 Parse error.
//! - JSON that is not a request, notification or response (`[]`, a batch,
//!   a bare number, `{"id":1}`, `"jsonrpc":"1.0"`, a non-string `method`,
//!   `params` that is neither an object nor an array): −32600 Invalid Request.
//!
//! Life cycle: `exit` ends the process with status 0 after `shutdown` and 1
//! otherwise (LSP §exit), whether or not stdin stays open; stdin closing
//! ends it the same way. A second `shutdown` is answered −32600 here.

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// The largest header block read before giving up on a frame (bytes).
const MAX_HEADER: usize = 8 * 1024;
/// The largest body accepted (bytes): a bigger `Content-Length` is a bad frame.
const MAX_BODY: usize = 256 * 1024 * 1024;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;

/// One frame read from the client.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A body whose length the headers gave.
    Body(Vec<u8>),
    /// A header block without a usable `Content-Length`; the reader has
    /// skipped to the next header.
    BadHeader(String),
}

/// Reads frames, resynchronising after a bad header block.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    eof: bool,
    /// The last header block was bad: skip to the next `Content-Length`
    /// before reading on (done lazily, so the error is answered at once).
    resync: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: Vec::new(),
            eof: false,
            resync: false,
        }
    }

    /// Reads more bytes; false at the end of the input.
    async fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 16 * 1024];
        match self.inner.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next frame; `None` at the end of the input.
    pub async fn next(&mut self) -> Option<Frame> {
        if std::mem::take(&mut self.resync) {
            self.skip_to_next_header().await;
        }
        loop {
            // Blank lines between frames are tolerated.
            let skip = self
                .buf
                .iter()
                .take_while(|b| **b == b'\r' || **b == b'\n')
                .count();
            self.buf.drain(..skip);
            if let Some((end, headers)) = header_block(&self.buf) {
                return Some(match content_length(&headers) {
                    Ok(length) => {
                        while self.buf.len() < end + length {
                            if !self.fill().await {
                                self.buf.clear();
                                return None; // the body was cut short
                            }
                        }
                        let body = self.buf[end..end + length].to_vec();
                        self.buf.drain(..end + length);
                        Frame::Body(body)
                    }
                    Err(why) => {
                        self.resync = true;
                        Frame::BadHeader(why)
                    }
                });
            }
            if self.buf.len() > MAX_HEADER {
                self.resync = true;
                return Some(Frame::BadHeader(
                    "no end of headers (an empty line) in the first 8 KiB".to_string(),
                ));
            }
            if !self.fill().await {
                if self.buf.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                self.buf.clear();
                return Some(Frame::BadHeader("the input ended inside a header".into()));
            }
        }
    }

    /// Drops bytes up to the next `Content-Length` after the first byte.
    async fn skip_to_next_header(&mut self) {
        const NEEDLE: &[u8] = b"Content-Length";
        loop {
            if let Some(at) = find(&self.buf[1.min(self.buf.len())..], NEEDLE) {
                self.buf.drain(..at + 1);
                return;
            }
            // Keep what could be the start of the needle.
            let keep = self.buf.len().saturating_sub(NEEDLE.len()).max(1);
            self.buf.drain(..keep.min(self.buf.len()));
            if !self.fill().await {
                self.buf.clear();
                return;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The end of the header block (after its empty line) and its lines.
fn header_block(buf: &[u8]) -> Option<(usize, Vec<String>)> {
    let (at, sep) = match (find(buf, b"\r\n\r\n"), find(buf, b"\n\n")) {
        (Some(a), Some(b)) if b < a => (b, 2),
        (Some(a), _) => (a, 4),
        (None, Some(b)) => (b, 2),
        (None, None) => return None,
    };
    let text = String::from_utf8_lossy(&buf[..at]);
    let lines = text.lines().map(|l| l.trim_end().to_string()).collect();
    Some((at + sep, lines))
}

fn content_length(headers: &[String]) -> Result<usize, String> {
    let value = headers.iter().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().to_string())
    });
    let Some(value) = value else {
        return Err("the frame has no Content-Length header".to_string());
    };
    match value.parse::<usize>() {
        Ok(n) if n <= MAX_BODY => Ok(n),
        Ok(n) => Err(format!(
            "Content-Length {n} is over the limit of {MAX_BODY}"
        )),
        Err(_) => Err(format!("Content-Length `{value}` is not a number")),
    }
}

/// What a body is, once checked.
#[derive(Debug, PartialEq)]
pub enum Message {
    /// A request (with an id) or notification to hand to the server.
    Call { id: Option<Value>, method: String },
    /// A response to one of the server's requests.
    Response,
    /// A bad message, with the error response to send.
    Bad(Value),
}

pub fn error_response(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Checks one body against JSON-RPC 2.0.
pub fn classify(body: &[u8]) -> Message {
    let Ok(text) = std::str::from_utf8(body) else {
        return Message::Bad(error_response(
            Value::Null,
            PARSE_ERROR,
            "Parse error: the message is not UTF-8",
        ));
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => {
            return Message::Bad(error_response(
                Value::Null,
                PARSE_ERROR,
                &format!("Parse error: the message is not JSON ({err})"),
            ))
        }
    };
    let invalid = |id: Value, why: &str| {
        Message::Bad(error_response(
            id,
            INVALID_REQUEST,
            &format!("Invalid Request: {why}"),
        ))
    };
    let Value::Object(object) = value else {
        let why = if value.is_array() {
            "batches are not part of LSP; send one message per frame"
        } else {
            "the message is not a JSON object"
        };
        return invalid(Value::Null, why);
    };
    let id = match object.get("id") {
        None => None,
        Some(id @ (Value::Number(_) | Value::String(_))) => Some(id.clone()),
        Some(Value::Null) if !object.contains_key("method") => Some(Value::Null),
        Some(_) => return invalid(Value::Null, "`id` must be a number or a string"),
    };
    let reply_id = id.clone().unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(reply_id, "`jsonrpc` must be \"2.0\"");
    }
    match object.get("method") {
        Some(Value::String(method)) => {
            if let Some(params) = object.get("params") {
                if !params.is_object() && !params.is_array() {
                    return invalid(reply_id, "`params` must be an object or an array");
                }
            }
            Message::Call {
                id,
                method: method.clone(),
            }
        }
        Some(_) => invalid(reply_id, "`method` must be a string"),
        None => {
            let answers = object.contains_key("result") != object.contains_key("error");
            if id.is_some() && answers {
                Message::Response
            } else {
                invalid(
                    reply_id,
                    "a message needs a `method`, or an `id` with a `result` or an `error`",
                )
            }
        }
    }
}

pub fn frame_json(value: &Value) -> Vec<u8> {
    let body = value.to_string();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

fn frame_bytes(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// What the output task writes.
enum Out {
    Frame(Vec<u8>),
    /// Everything before this is written: end the process with this status.
    Exit(i32),
}

/// Serves LSP on `input` / `output` through the framing layer; returns the
/// exit status (0 after `shutdown` then `exit`, 1 otherwise).
pub async fn serve<I, O>(input: I, output: O) -> i32
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Out>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<i32>();
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(item) = out_rx.recv().await {
            match item {
                Out::Frame(bytes) => {
                    if output.write_all(&bytes).await.is_err() {
                        break;
                    }
                    let _ = output.flush().await;
                }
                Out::Exit(code) => {
                    let _ = output.flush().await;
                    let _ = done_tx.send(code);
                    return;
                }
            }
        }
    });

    // tower-lsp talks to the client through an in-memory pipe.
    let (server_side, layer_side) = tokio::io::duplex(1 << 20);
    let (server_read, server_write) = tokio::io::split(server_side);
    let (from_server, mut to_server) = tokio::io::split(layer_side);
    let (service, socket) = crate::service();
    let server = tokio::spawn(async move {
        tower_lsp::Server::new(server_read, server_write, socket)
            .serve(service)
            .await;
    });
    let forwarder = {
        let out_tx = out_tx.clone();
        tokio::spawn(async move {
            let mut frames = FrameReader::new(from_server);
            while let Some(frame) = frames.next().await {
                if let Frame::Body(body) = frame {
                    if out_tx.send(Out::Frame(frame_bytes(&body))).is_err() {
                        return;
                    }
                }
            }
        })
    };

    let mut frames = FrameReader::new(input);
    let mut shut_down = false;
    let mut exit_code = 1;
    while let Some(frame) = frames.next().await {
        let body = match frame {
            Frame::Body(body) => body,
            Frame::BadHeader(why) => {
                let reply =
                    error_response(Value::Null, PARSE_ERROR, &format!("Parse error: {why}"));
                let _ = out_tx.send(Out::Frame(frame_json(&reply)));
                continue;
            }
        };
        match classify(&body) {
            Message::Bad(reply) => {
                let _ = out_tx.send(Out::Frame(frame_json(&reply)));
                continue;
            }
            Message::Call { method, .. } if method == "exit" => {
                exit_code = if shut_down { 0 } else { 1 };
                break;
            }
            Message::Call {
                id: Some(id),
                method,
            } if method == "shutdown" && shut_down => {
                let reply = error_response(id, INVALID_REQUEST, "the server is already shut down");
                let _ = out_tx.send(Out::Frame(frame_json(&reply)));
                continue;
            }
            Message::Call { method, .. } if method == "shutdown" => shut_down = true,
            Message::Call { .. } | Message::Response => {}
        }
        if to_server.write_all(&frame_bytes(&body)).await.is_err() {
            break;
        }
    }
    if exit_code != 0 && shut_down {
        // stdin closed after `shutdown` without `exit`: a clean end too.
        exit_code = 0;
    }
    // Let the server write what it has (the answer to `shutdown`), briefly.
    drop(to_server);
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), forwarder).await;
    server.abort();
    let _ = out_tx.send(Out::Exit(exit_code));
    drop(out_tx);
    let code = done_rx.await.unwrap_or(exit_code);
    let _ = writer.await;
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames_of(input: &[u8]) -> Vec<Frame> {
        let mut reader = FrameReader::new(input);
        let mut out = Vec::new();
        while let Some(frame) = reader.next().await {
            out.push(frame);
        }
        out
    }

    fn code(message: Message) -> i64 {
        match message {
            Message::Bad(reply) => reply["error"]["code"].as_i64().unwrap_or(0),
            other => panic!("not bad: {other:?}"),
        }
    }

    #[tokio::test]
    async fn skips_to_the_next_frame_after_a_bad_header() {
        let input =
            b"Content-Type: x\r\n\r\n{}Content-Length: abc\r\n\r\n{}Content-Length: 2\r\n\r\n{}";
        let frames = frames_of(input).await;
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert!(matches!(frames[0], Frame::BadHeader(_)));
        assert!(matches!(frames[1], Frame::BadHeader(_)));
        assert_eq!(frames[2], Frame::Body(b"{}".to_vec()));
    }

    #[test]
    fn classifies_bad_bodies_as_the_spec_says() {
        assert_eq!(code(classify(b"{not json}")), PARSE_ERROR);
        assert_eq!(code(classify(&[0xff, 0xfe])), PARSE_ERROR);
        assert_eq!(
            code(classify(
                br#"{"jsonrpc":"2.0","method":"x","params":{"t":"\ud800"}}"#
            )),
            PARSE_ERROR
        );
        assert_eq!(code(classify(b"[]")), INVALID_REQUEST);
        assert_eq!(code(classify(b"42")), INVALID_REQUEST);
        assert_eq!(code(classify(br#"{"id":1}"#)), INVALID_REQUEST);
        let old = classify(br#"{"jsonrpc":"1.0","id":7,"method":"x"}"#);
        let Message::Bad(reply) = old else { panic!() };
        assert_eq!(reply["id"], 7);
        assert_eq!(
            classify(br#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#),
            Message::Call {
                id: Some(json!(1)),
                method: "shutdown".into()
            }
        );
        assert_eq!(
            classify(br#"{"jsonrpc":"2.0","id":1,"result":null}"#),
            Message::Response
        );
    }
}
