//! Any bytes through the parser: the CLI's decoding and limits, then parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nplc_compiler::source;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = source::source_text(data.to_vec()) {
        let (database, program) = nplc_fuzz::program(&text);
        let file = program.roots(&database)[0];
        let _ = nplc_compiler::syntax::parse(&database, file);
    }
});
