//! The language server fed raw bytes: the input is what a client writes to
//! the server's stdin (framed JSON-RPC), after an `initialize` request and an
//! `initialized` notification, so that the fuzzer starts past the handshake.

use std::time::Duration;

/// One `Content-Length` frame around `body`.
pub fn frame(body: &str) -> Vec<u8> {
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// The handshake every run starts with.
pub fn handshake() -> Vec<u8> {
    let mut out =
        frame(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{}}}"#);
    out.extend(frame(
        r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#,
    ));
    out
}

/// Serves `input` (after the handshake) until it ends, answers go nowhere.
/// Work still running when the input ends is given a moment, then dropped
/// with the runtime.
pub fn serve(input: &[u8]) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return;
    };
    let mut bytes = handshake();
    bytes.extend_from_slice(input);
    runtime.block_on(async move {
        let (service, socket) = nplc_lsp::service();
        let server = tower_lsp::Server::new(&bytes[..], tokio::io::sink(), socket).serve(service);
        let _ = tokio::time::timeout(Duration::from_millis(500), server).await;
    });
    runtime.shutdown_timeout(Duration::from_millis(100));
}
