//! Framed JSON-RPC bytes into the language server.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nplc_fuzz::lsp::serve(data);
});
