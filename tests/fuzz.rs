//! Random input never panics the parser, the resolver or the checker, and
//! parsing always yields a tree: errors are values. Every input the
//! coverage-guided fuzzers of `fuzz/` found crashing is kept in
//! `tests/fuzz_regressions/` and runs here through check, format and build
//! for every target (docs/testing.md).

use nplc_compiler::emit::{self, Options, Target};
use nplc_compiler::syntax::KEYWORDS;
use nplc_compiler::{formatter, lint, names, Database, Program};
use proptest::prelude::*;

/// What the token soups are made of besides the grammar's keywords
/// (`syntax::KEYWORDS`): fragments, literals good and bad, punctuation.
const FRAGMENTS: &[&str] = &[
    "istio",
    "icmp",
    "tcp/",
    "udp/53",
    "sctp/",
    "80",
    "8080-9090",
    "0",
    "99999999999999999999999",
    "->",
    ":",
    ",",
    ";",
    "=",
    "!=",
    "|",
    "{",
    "}",
    "(",
    ")",
    "\"",
    "\"x\"",
    "\"std/k8s\"",
    "\"./missing.npl\"",
    "\"\\q\"",
    "\n",
    " ",
    "#",
    "## doc\n",
    "a",
    "b",
    "web",
    "cluster",
    "kube-dns",
    "world",
    "app",
    "app.kubernetes.io/name",
    "10.0.0.0/8",
    "10.0.0.1/8",
    "fd00::/8",
    "GET",
    "\"/api/(\"",
    "é",
    "\t",
    "*.",
    "\r\n",
];

fn tokens() -> Vec<&'static str> {
    KEYWORDS.iter().chain(FRAGMENTS).copied().collect()
}

fn check(text: &str) {
    let mut database = Database::default();
    let file = database.set_file("fuzz.npl", text.to_string());
    let program = Program::new(&database, vec![file]);
    let diags = lint::diagnostics(&database, program);
    for d in diags {
        assert!(
            d.span.end as usize <= text.len(),
            "span past the end: {d:?}"
        );
        assert!(
            text.is_char_boundary(d.span.start as usize),
            "span inside a char: {d:?}"
        );
    }
    let resolved = names::resolve(&database, program);
    // The prelude always loads.
    assert!(resolved.files.len() >= 2);
    let _ = nplc_compiler::render::human(&database, diags, false);
}

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(tokens()), 0..60).prop_map(|t| t.join(" "))
}

fn glued_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(tokens()), 0..60).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn token_soups_never_panic(text in token_soup()) {
        check(&text);
    }

    #[test]
    fn glued_token_soups_never_panic(text in glued_soup()) {
        check(&text);
    }
}

/// Each input of `tests/fuzz_regressions/` (bytes, as the fuzzers found it)
/// checks, formats and builds for every target without a panic; the
/// formatter's output formats to itself.
#[test]
fn fuzz_regressions_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("cannot read tests/fuzz_regressions")
        .map(|e| e.expect("cannot read a directory entry").path())
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .collect();
    paths.sort();
    for path in paths {
        let bytes = std::fs::read(&path).expect("cannot read a regression input");
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        check(&text);
        if let Ok(formatted) = formatter::format_source(&text) {
            let again = formatter::format_source(&formatted);
            assert_eq!(again.ok().as_ref(), Some(&formatted), "{}", path.display());
        }
        let mut database = Database::default();
        let file = database.set_file("fuzz.npl", text.clone());
        let program = Program::new(&database, vec![file]);
        for target in Target::ALL {
            let _ = emit::build(&database, program, target, &Options::default());
        }
        let flat = Options {
            calico_flat: true,
            calico_staged: true,
            calico_enterprise: true,
            ..Options::default()
        };
        let _ = emit::build(&database, program, Target::Calico, &flat);
    }
}
