//! `nplc lsp`: the NPL language server.
//!
//! The only crate of the workspace that knows LSP. It keeps one salsa
//! database per session ([`session`]), answers requests with the compiler's
//! IDE layer (`nplc_compiler::ide`) on snapshots of it ([`handlers`]), and
//! publishes diagnostics for every open document after every change
//! ([`diagnostics`]). [`server`] explains the ordering and cancellation
//! rules; [`position`] converts byte offsets to LSP's UTF-16 positions.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod checks;
pub mod commands;
pub mod diagnostics;
pub mod handlers;
pub mod position;
pub mod server;
pub mod session;
pub mod stdlib_files;
pub mod transport;
pub mod workspace;

pub use server::{Backend, Inspector};

use tower_lsp::{ClientSocket, LspService};

/// The service, for running over any transport (and for tests).
pub fn service() -> (LspService<Backend>, ClientSocket) {
    LspService::build(Backend::new)
        .custom_method("nplc/stdlibSource", Backend::stdlib_source)
        .finish()
}

/// Serves LSP on stdin/stdout until the client exits, then ends the
/// process with the status LSP prescribes: 0 after `shutdown`, 1 otherwise
/// (see [`transport`]).
pub fn run_stdio() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_time()
        .build()?;
    let code = runtime.block_on(transport::serve(tokio::io::stdin(), tokio::io::stdout()));
    // Blocking threads (a long request) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
