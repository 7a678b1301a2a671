//! The formatter (`nplc_compiler::formatter`) and `nplc fmt`:
//! - snapshots of messy inputs, each formatted once and then stable;
//! - every example and standard-library module is already formatted;
//! - properties, on the examples and on generated programs with their layout
//!   perturbed: formatting is idempotent, keeps every token and comment in
//!   order, and keeps the program's IR (spans aside);
//! - the command: `--check` exit codes, rewriting in place, standard input,
//!   refusal of files with syntax errors.
//!
//! Property cases default to a few hundred; `PROPTEST_CASES` overrides.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nplc_compiler::formatter::{format_source, FormatError};
use nplc_compiler::ir::Ir;
use nplc_compiler::{Database, Program};
use proptest::prelude::*;

use support::{compile, Compiled, GenConfig};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fmt(text: &str) -> String {
    match format_source(text) {
        Ok(out) => out,
        Err(err) => panic!("{err}\n--- input ---\n{text}"),
    }
}

// ---------------------------------------------------------------- helpers

/// The text without whitespace and `;` outside strings and comments (and
/// without `,` too when `drop_commas`), each comment whole on its own line:
/// equal for two texts when they have the same tokens and comments in the
/// same order.
fn squash(text: &str, drop_commas: bool) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                while let Some(s) = chars.next() {
                    out.push(s);
                    if s == '\\' {
                        out.extend(chars.next());
                    } else if s == '"' {
                        break;
                    }
                }
            }
            '#' => {
                let mut comment = String::from('#');
                while let Some(&s) = chars.peek() {
                    if s == '\n' || s == '\r' {
                        break;
                    }
                    comment.push(s);
                    chars.next();
                }
                out.push('\n');
                out.push_str(comment.trim_end());
                out.push('\n');
            }
            ';' => {}
            ',' if drop_commas => {}
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// Two IRs mean the same program: the same zones (pods, isolation), tiers
/// with the same rules (action, peer sets, service, role) in order, and
/// gateways; spans and definition ids aside.
fn same_meaning(a: &Ir, b: &Ir) -> Result<(), String> {
    let zones = |ir: &Ir| {
        ir.zones
            .iter()
            .map(|z| (z.name.clone(), z.pods.clone(), z.isolation))
            .collect::<Vec<_>>()
    };
    if zones(a) != zones(b) {
        return Err(format!("zones differ:\n{:#?}\n{:#?}", zones(a), zones(b)));
    }
    let tiers = |ir: &Ir| {
        ir.tiers
            .iter()
            .map(|t| {
                let rules: Vec<_> = t
                    .rules
                    .iter()
                    .map(|r| {
                        (
                            r.action,
                            r.source.clone(),
                            r.destination.clone(),
                            r.service.clone(),
                            r.role,
                        )
                    })
                    .collect();
                (t.name.clone(), rules)
            })
            .collect::<Vec<_>>()
    };
    if tiers(a) != tiers(b) {
        return Err(format!("tiers differ:\n{:#?}\n{:#?}", tiers(a), tiers(b)));
    }
    let gateways = |ir: &Ir| {
        ir.gateways
            .iter()
            .map(|g| (g.name.clone(), g.pods.clone(), g.port))
            .collect::<Vec<_>>()
    };
    if gateways(a) != gateways(b) {
        return Err("gateways differ".to_string());
    }
    Ok(())
}

/// A program of files with these texts (paths on disk, so relative imports
/// between them and to other files resolve).
fn compile_files(files: &[(PathBuf, String)]) -> Compiled {
    let mut db = Database::default();
    let roots: Vec<_> = files
        .iter()
        .map(|(path, text)| db.set_file(&path.to_string_lossy(), text.clone()))
        .collect();
    let program = Program::new(&db, roots);
    Compiled { db, program }
}

fn ir_of(compiled: &Compiled, what: &str) -> Ir {
    match compiled.ir() {
        Some(ir) => ir,
        None => panic!("{what} has errors:\n{}", compiled.rendered()),
    }
}

/// Layout changes that keep the meaning, driven by `choices`: whitespace
/// runs widened, replaced by tabs, or dropped next to punctuation; and when
/// `vertical`, blank lines, own-line and trailing comments, and CRLF line
/// ends added.
fn perturb(text: &str, choices: &[u8], vertical: bool) -> String {
    const PUNCT: &[char] = &['-', '>', ':', ',', '=', '|', '{', '}', '(', ')', ';', '!'];
    let mut next_choice = {
        let mut i = 0;
        move || {
            let c = choices.get(i % choices.len().max(1)).copied().unwrap_or(0);
            i += 1;
            c
        }
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let (mut in_string, mut in_comment) = (false, false);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(&n) = chars.get(i + 1) {
                    out.push(n);
                    i += 1;
                }
            } else if c == '"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            '\n' => {
                let choice = if vertical { next_choice() % 8 } else { 0 };
                match choice {
                    2 if !in_comment => out.push_str("   # trailing note\n"),
                    3 => out.push_str("\n\n"),
                    4 => out.push_str("\n# own-line note\n"),
                    5 => out.push_str("\r\n"),
                    _ => out.push('\n'),
                }
                in_comment = false;
            }
            _ if in_comment => out.push(c),
            '"' => {
                in_string = true;
                out.push(c);
            }
            '#' => {
                in_comment = true;
                out.push(c);
            }
            ' ' | '\t' => {
                let mut j = i;
                while j < chars.len() && matches!(chars[j], ' ' | '\t') {
                    j += 1;
                }
                let prev = out.chars().last();
                let next = chars.get(j).copied();
                let near_punct = prev.is_some_and(|p| PUNCT.contains(&p))
                    || next.is_some_and(|n| PUNCT.contains(&n));
                match next_choice() % 5 {
                    0 if near_punct => {}
                    1 => out.push_str("  "),
                    2 => out.push('\t'),
                    3 => out.push_str(" \t  "),
                    _ => out.push(' '),
                }
                i = j;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Formats `text` and checks every property: it parses, the result is
/// stable, keeps tokens and comments in order, and keeps the IR of `files`
/// (where `text` replaces the file at `index`).
fn check_properties(
    files: &[(PathBuf, String)],
    index: usize,
    text: &str,
    drop_commas: bool,
) -> String {
    let formatted = fmt(text);
    assert_eq!(fmt(&formatted), formatted, "not idempotent:\n{text}");
    assert_eq!(
        squash(text, drop_commas),
        squash(&formatted, drop_commas),
        "tokens or comments changed:\n--- input ---\n{text}\n--- formatted ---\n{formatted}"
    );
    let mut before = files.to_vec();
    before[index].1 = text.to_string();
    let mut after = files.to_vec();
    after[index].1 = formatted.clone();
    let ir_before = ir_of(&compile_files(&before), "the input");
    let ir_after = ir_of(&compile_files(&after), "the formatted program");
    if let Err(why) = same_meaning(&ir_before, &ir_after) {
        panic!("{why}\n--- input ---\n{text}\n--- formatted ---\n{formatted}");
    }
    formatted
}

/// Every `.npl` file of the examples (grouped by example) and the stdlib.
fn example_programs() -> Vec<Vec<(PathBuf, String)>> {
    let mut programs = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.push(root().join("stdlib/std"));
    for dir in dirs {
        let is_std = dir.ends_with("stdlib/std");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "npl"))
            .collect();
        files.sort();
        let files = files
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).expect("read");
                // Standard modules under their import names: they replace
                // the embedded ones in the program.
                let name = match p.file_stem() {
                    Some(stem) if is_std => PathBuf::from("std").join(stem),
                    _ => p,
                };
                (name, text)
            })
            .collect();
        programs.push(files);
    }
    programs
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------- snapshots

fn snapshot(name: &str, input: &str) {
    let formatted = fmt(input);
    assert_eq!(fmt(&formatted), formatted, "not idempotent");
    assert_eq!(
        squash(input, true),
        squash(&formatted, true),
        "tokens changed"
    );
    insta::with_settings!({
        description => input,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, formatted);
    });
}

#[test]
fn messy_spacing() {
    snapshot(
        "messy_spacing",
        r#"import   "std/k8s"
zone   web{namespace "web";pods app="web" , tier in ("a","b",) ;isolate  none}
zone api {
    namespace "api"
        pods app = "api", track!="canary"; isolate ingress
}
zone   empty   {

}
zone callers=web|api
external   corp=cidr 10.0.0.0/8 except 10.1.0.0/16,10.2.0.0/16
external stripe =   fqdn "api.stripe.com"
allow web->api:8080,tcp/http,udp/53,30000-30099,  icmp
deny   {web,api , {callers}}->  corp
	allow   callers ->stripe :443
"#,
    );
}

#[test]
fn messy_comments() {
    snapshot(
        "messy_comments",
        concat!(
            r#"# A policy with comments in every place a comment can be.



import "std/k8s"                 # aligned trailing comment
import "std/baseline" # unaligned one
# ------------------------------------------------ zones


## The web tier.
## Two lines of doc.
zone web { # after the brace
    # own line, first in the body
  namespace "web"     # trailing, in a column


  # own line, between entries
      pods app = "web"
  # before the closing brace

}
zone api {namespace "api"}   # after a one-line zone
allow web  -> api : 8080          # aligned
deny  api  -> web                 # with the one above
	# indented own-line comment at the top level
tier t { # a tier whose body is empty but for a comment
}
"#,
            "# the end, without a final newline"
        ),
    );
}

#[test]
fn messy_tiers_l7_and_gateways() {
    snapshot(
        "messy_tiers_l7_and_gateways",
        r#"import "std/k8s"
zone app { namespace "app" }
zone api {
  namespace "api"
}
gateway egress = istio {
    port 8443   # the pod port
  zone istio-egressgateway
}
gateway other = istio {zone istio-egressgateway;port 9443}
tier security { deny app -> cidr 169.254.169.254/32; deny api -> cidr 169.254.169.254/32 }
tier platform {
allow prometheus->{app,
      api, # the API too
   }:9090
      allow app -> api : 8080 http {GET "/a/.*" ; POST "/b"
   # any method:
   "/c"
   }
}
allow app -> api : 8080 http {GET}
allow app -> kube-dns : udp/53, tcp/53 dns { "*.app.svc.cluster.local","api.example.com" ; "x.example.com" }
allow app -> kube-dns : udp/53 dns {
  "a.example.com",
  "b.example.com"
}
allow app -> fqdn "api.stripe.com" : 443 via   egress
"#,
    );
}

#[test]
fn messy_separators() {
    snapshot(
        "messy_separators",
        r#"zone a { namespace "a" }; zone b { namespace "b"; isolate none };allow a -> b : 80 ; allow b -> a : 81
;;
tier t {
  allow a -> b : 82; allow b -> a : 83
  deny a -> b : 84
}
zone c {
  namespace "c"; pods x = "y";
  isolate egress;
}
"#,
    );
}

// ---------------------------------------------------------------- the repository's own sources

#[test]
fn examples_and_stdlib_are_formatted() {
    let mut unformatted = Vec::new();
    for program in example_programs() {
        for (path, text) in &program {
            if fmt(text) != *text {
                unformatted.push(path.display().to_string());
            }
        }
    }
    assert!(
        unformatted.is_empty(),
        "not formatted (run `nplc fmt examples stdlib/std`): {unformatted:?}"
    );
}

#[test]
fn examples_keep_their_meaning_when_formatted() {
    for program in example_programs() {
        for index in 0..program.len() {
            let text = program[index].1.clone();
            check_properties(&program, index, &text, false);
        }
    }
}

#[test]
fn syntax_errors_are_refused() {
    let text = "zone a { namespace \"a\" }\nallow a -> : 80\nzone b {\n";
    match format_source(text) {
        Err(FormatError::Syntax(errors)) => {
            assert_eq!(errors.len(), 2, "{errors:#?}");
            assert_eq!(errors[0].line, 2);
            assert!(errors.iter().all(|e| e.code.as_str().starts_with("E01")));
        }
        other => panic!("expected syntax errors, got {other:?}"),
    }
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), ..ProptestConfig::default() })]

    /// The examples and stdlib modules with their layout perturbed.
    #[test]
    fn perturbed_examples(
        which in 0usize..64,
        choices in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let programs = example_programs();
        let program = &programs[which % programs.len()];
        let index = which / programs.len() % program.len();
        let text = perturb(&program[index].1, &choices, true);
        check_properties(program, index, &text, false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    /// Generated programs with their layout perturbed: every property, and
    /// changes of spacing alone format to the same text as the original.
    #[test]
    fn perturbed_generated_programs(
        program in support::program::program_strategy(GenConfig::everything()),
        choices in prop::collection::vec(any::<u8>(), 1..64),
        vertical in any::<bool>(),
    ) {
        let original = program.render();
        let files = vec![(PathBuf::from(program.file_name()), original.clone())];
        let text = perturb(&original, &choices, vertical);
        let formatted = check_properties(&files, 0, &text, false);
        if !vertical {
            prop_assert_eq!(formatted, fmt(&original));
        }
    }

    /// Token soups: formatting never panics; what it formats is stable.
    #[test]
    fn token_soup(tokens in prop::collection::vec(prop::sample::select(vec![
        "zone", "a", "b", "{", "}", "namespace", "\"x\"", "pods", "k", "=", "!=", "in", "(", ")",
        "allow", "deny", "->", ":", "80", "udp/53", ",", ";", "\n", "\n\n", "# c\n", "tier",
        "http", "dns", "GET", "via", "gateway", "istio", "port", "cidr", "10.0.0.0/8", "except",
        "fqdn", "|", "isolate", "none", "external", "import", "has", "not",
    ]), 0..40)) {
        let text = tokens.join(" ");
        if let Ok(formatted) = format_source(&text) {
            prop_assert_eq!(fmt(&formatted), formatted.clone());
            prop_assert_eq!(squash(&text, true), squash(&formatted, true));
            let (a, b) = (compile(&text), compile(&formatted));
            if let (Some(a), Some(b)) = (a.ir(), b.ir()) {
                prop_assert!(same_meaning(&a, &b).is_ok());
            }
        }
    }
}

// ---------------------------------------------------------------- the command

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("nplc-fmt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("dir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn nplc(args: &[&str], dir: &Path, stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nplc"))
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run nplc");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.unwrap_or("").as_bytes());
    }
    child.wait_with_output().expect("nplc output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const MESSY: &str = "zone a {namespace \"a\"}\nallow a->a:80\n";
const TIDY: &str = "zone a { namespace \"a\" }\nallow a -> a : 80\n";
const BROKEN: &str = "zone b {\nallow b -> : 80\n";

#[test]
fn check_lists_unformatted_files_and_writes_nothing() {
    let dir = TempDir::new("check");
    dir.write("tidy.npl", TIDY);
    dir.write("sub/messy.npl", MESSY);
    let out = nplc(&["fmt", "--check", "."], &dir.0, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "sub/messy.npl\n");
    assert!(text(&out.stderr).contains("1 of 2 files would be reformatted"));
    assert_eq!(
        std::fs::read_to_string(dir.0.join("sub/messy.npl")).expect("read"),
        MESSY
    );

    let out = nplc(&["fmt", "--check", "tidy.npl"], &dir.0, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn fmt_rewrites_files_and_refuses_broken_ones() {
    let dir = TempDir::new("write");
    dir.write("messy.npl", MESSY);
    dir.write("broken.npl", BROKEN);
    dir.write("tidy.npl", TIDY);
    let out = nplc(&["fmt", "--color", "never", "."], &dir.0, None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[E0101]"), "{stderr}");
    assert!(
        stderr.contains("not formatting `broken.npl`: fix its syntax errors first"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.0.join("messy.npl")).expect("read"),
        TIDY
    );
    assert_eq!(
        std::fs::read_to_string(dir.0.join("broken.npl")).expect("read"),
        BROKEN
    );
    assert_eq!(
        std::fs::read_to_string(dir.0.join("tidy.npl")).expect("read"),
        TIDY
    );
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(&dir.0)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");

    let out = nplc(&["fmt", "--check", "messy.npl", "tidy.npl"], &dir.0, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn fmt_formats_standard_input_to_standard_output() {
    let dir = TempDir::new("stdin");
    let out = nplc(&["fmt", "-"], &dir.0, Some(MESSY));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), TIDY);

    let out = nplc(&["fmt", "--check", "-"], &dir.0, Some(MESSY));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "<stdin>\n");

    let out = nplc(&["fmt", "-", "--color", "never"], &dir.0, Some(BROKEN));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "",
        "nothing on stdout for a broken input"
    );
    assert!(text(&out.stderr).contains("error[E0101]"));
}

#[test]
fn fmt_on_a_missing_path_is_misuse() {
    let dir = TempDir::new("missing");
    let out = nplc(&["fmt", "nope.npl"], &dir.0, None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read `nope.npl`"));
}

#[test]
fn the_repository_passes_fmt_check() {
    let out = nplc(&["fmt", "--check", "examples", "stdlib/std"], &root(), None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
