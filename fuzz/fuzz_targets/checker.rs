//! Any text through the checker (names, validation), the renderers and the
//! formatter.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(text) = nplc_fuzz::text(data) {
        nplc_fuzz::check(text);
    }
});
