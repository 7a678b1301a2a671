//! Structure-aware: a generated program, checked, formatted and built for
//! every target.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nplc_fuzz::generate::GenProgram;

fuzz_target!(|program: GenProgram| {
    let text = program.render();
    nplc_fuzz::check(&text);
    let (database, program) = nplc_fuzz::program(&text);
    nplc_fuzz::build_all(&database, program);
});
