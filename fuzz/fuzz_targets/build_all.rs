//! Any text built for every target; output that is built must pass
//! `nplc_fuzz::check_output`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(text) = nplc_fuzz::text(data) {
        let (database, program) = nplc_fuzz::program(text);
        nplc_fuzz::build_all(&database, program);
    }
});
