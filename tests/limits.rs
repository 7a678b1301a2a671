//! The resource limits of docs/limits.md, end to end through the `nplc`
//! binary: every hard input gets a coded error with exit status 1, or
//! completes, in bounded time; none crashes. Inputs are generated here, in
//! the test's own directory under CARGO_TARGET_TMPDIR, never committed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Generous for a debug build on a loaded machine; the point is "bounded".
const BOUND: Duration = Duration::from_secs(50);

struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("limits")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("cannot create the test directory");
    dir
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::write(path, bytes).expect("cannot write an input");
}

fn nplc(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nplc"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run nplc");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.unwrap_or_default());
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("cannot wait for nplc");
    let run = Run {
        status: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        took: start.elapsed(),
    };
    assert!(
        run.status.is_some(),
        "nplc {args:?} was killed by a signal: {}",
        tail(&run.stderr)
    );
    assert!(run.took < BOUND, "nplc {args:?} took {:?}", run.took);
    run
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(2000);
    let start = (start..=text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    &text[start..]
}

/// Exit status 1 and `code` among the errors.
#[track_caller]
fn assert_error(run: &Run, code: &str) {
    assert_eq!(run.status, Some(1), "{}", tail(&run.stderr));
    let shown = format!("error[{code}]");
    assert!(
        run.stderr.contains(&shown) || run.stdout.contains(&format!("\"{code}\"")),
        "no {code} in: {}",
        tail(&run.stderr)
    );
}

const ZONES: &str = "zone web { namespace \"web\" }\nzone api { namespace \"api\" }\n";

#[test]
fn twenty_thousand_open_braces_are_e0105() {
    let dir = dir("open_braces");
    write(
        &dir.join("deep.npl"),
        format!("{ZONES}allow web -> {}\n", "{".repeat(20_000)),
    );
    for args in [
        &["check", "deep.npl"][..],
        &["build", "--target", "kubernetes", "deep.npl"],
        &["fmt", "--check", "deep.npl"],
    ] {
        let run = nplc(&dir, args, None);
        assert_error(&run, "E0105");
    }
}

#[test]
fn deeply_nested_sets_are_e0105_and_the_rest_is_checked() {
    let dir = dir("nested_sets");
    let n = 5_000;
    write(
        &dir.join("deep.npl"),
        format!(
            "{ZONES}allow web -> {}api{} : 80\nallow web -> nowhere : 80\n",
            "{".repeat(n),
            "}".repeat(n)
        ),
    );
    let run = nplc(&dir, &["check", "deep.npl"], None);
    assert_error(&run, "E0105");
    // The next line is still checked.
    assert_error(&run, "E0201");
    // 64 levels are fine.
    write(
        &dir.join("ok.npl"),
        format!(
            "{ZONES}allow web -> {}api{} : 80\n",
            "{".repeat(64),
            "}".repeat(64)
        ),
    );
    let run = nplc(&dir, &["build", "--target", "cilium", "ok.npl"], None);
    assert_eq!(run.status, Some(0), "{}", tail(&run.stderr));
}

#[test]
fn braces_in_a_line_that_does_not_parse_are_e0105() {
    let dir = dir("junk_braces");
    for (name, line) in [
        ("comment.npl", format!("junk # {}", "{".repeat(20_000))),
        ("string.npl", format!("junk \"{}\"", "{".repeat(20_000))),
    ] {
        write(&dir.join(name), format!("{ZONES}{line}\n"));
        let run = nplc(&dir, &["check", name], None);
        assert_error(&run, "E0105");
    }
}

#[test]
fn a_file_that_is_not_utf8_is_e0106_with_its_position() {
    let dir = dir("not_utf8");
    let bytes =
        b"zone web { namespace \"web\" }\n# caf\xc3\xa9 ok\nzone api { namespace \"ap\xffi\" }\n";
    write(&dir.join("latin.npl"), bytes);
    let expected = "`latin.npl` is not UTF-8 text: byte 0xff at line 3, column 25 (offset 64)";
    for args in [
        &["check", "latin.npl"][..],
        &["build", "--target", "calico", "latin.npl"],
        &["fmt", "latin.npl"],
        &[
            "query",
            "latin.npl",
            "--from",
            "ns=web",
            "--to",
            "ns=api",
            "--port",
            "80",
        ],
    ] {
        let run = nplc(&dir, args, None);
        assert_error(&run, "E0106");
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    // fmt wrote nothing.
    assert_eq!(
        std::fs::read(dir.join("latin.npl")).ok().as_deref(),
        Some(&bytes[..])
    );
    // Standard input, and JSON output.
    let run = nplc(&dir, &["check", "-", "--format", "json"], Some(bytes));
    assert_error(&run, "E0106");
    assert!(run.stdout.contains("<stdin>"), "{}", run.stdout);
    // A directory with one bad file among good ones reports the bad one.
    write(
        &dir.join("good.npl"),
        "zone other { namespace \"other\" }\n",
    );
    let run = nplc(&dir, &["check", "."], None);
    assert_error(&run, "E0106");
    // A missing path is still misuse.
    let run = nplc(&dir, &["check", "missing.npl"], None);
    assert_eq!(run.status, Some(2));
}

#[test]
fn a_100_mb_file_is_e0107_without_reading_it_all() {
    let dir = dir("huge");
    let line = "allow web -> api : 80\n";
    let mut text = String::from(ZONES);
    text.push_str(&line.repeat(100 * 1024 * 1024 / line.len()));
    write(&dir.join("huge.npl"), &text);
    drop(text);
    let run = nplc(&dir, &["check", "huge.npl"], None);
    assert_error(&run, "E0107");
    let run = nplc(&dir, &["build", "--target", "kubernetes", "huge.npl"], None);
    assert_error(&run, "E0107");
}

#[test]
fn a_million_lines_complete() {
    let dir = dir("million_lines");
    let text = format!("{ZONES}{}allow web -> api : 80\n", "#\n".repeat(1_000_000));
    write(&dir.join("lines.npl"), text);
    let run = nplc(&dir, &["check", "lines.npl"], None);
    assert_eq!(run.status, Some(0), "{}", tail(&run.stderr));
}

#[test]
fn a_one_megabyte_line_completes() {
    let dir = dir("long_line");
    let members = vec!["api"; 1024 * 1024 / 5].join(", ");
    write(
        &dir.join("line.npl"),
        format!("{ZONES}allow web -> {{{members}}} : 80\n"),
    );
    let run = nplc(&dir, &["check", "line.npl"], None);
    assert_eq!(run.status, Some(0), "{}", tail(&run.stderr));
    let run = nplc(&dir, &["build", "--target", "kubernetes", "line.npl"], None);
    assert_eq!(run.status, Some(0), "{}", tail(&run.stderr));
    assert!(run.stdout.contains("kind: NetworkPolicy"));
}

#[test]
fn a_hundred_thousand_imports_of_one_file_complete() {
    let dir = dir("many_imports");
    write(&dir.join("zones.npl"), ZONES);
    let text = format!(
        "{}allow web -> api : 80\n",
        "import \"./zones.npl\"\n".repeat(100_000)
    );
    write(&dir.join("main.npl"), text);
    // Warnings (W0004, one per repeated import), no error.
    let run = nplc(&dir, &["check", "main.npl", "--format", "json"], None);
    assert_eq!(run.status, Some(0), "{}", tail(&run.stderr));
}

#[test]
fn a_list_of_65535_ports_builds_for_every_target() {
    let dir = dir("ports");
    let ports: Vec<String> = (1..=65_535).map(|p| p.to_string()).collect();
    write(
        &dir.join("ports.npl"),
        format!("{ZONES}allow web -> api : {}\n", ports.join(", ")),
    );
    let run = nplc(&dir, &["check", "ports.npl"], None);
    assert_eq!(run.status, Some(0), "{}", tail(&run.stderr));
    for target in ["kubernetes", "cilium", "calico"] {
        let run = nplc(&dir, &["build", "--target", target, "ports.npl"], None);
        assert_eq!(run.status, Some(0), "{target}: {}", tail(&run.stderr));
    }
}

#[test]
fn a_10000_deep_import_chain_is_e0108() {
    let dir = dir("import_chain");
    let n = 10_000;
    for i in 0..n {
        let text = if i + 1 < n {
            format!("import \"./{}.npl\"\n", i + 1)
        } else {
            ZONES.to_string()
        };
        write(&dir.join(format!("{i}.npl")), text);
    }
    write(
        &dir.join("main.npl"),
        "import \"./0.npl\"\nallow web -> api : 80\n",
    );
    let run = nplc(&dir, &["check", "main.npl"], None);
    assert_error(&run, "E0108");
}

#[test]
fn a_10000_deep_union_chain_is_e0109() {
    let dir = dir("union_chain");
    let mut text = String::from(ZONES);
    text.push_str("zone u0 = web\n");
    for i in 1..10_000 {
        text.push_str(&format!("zone u{i} = u{} | api\n", i - 1));
    }
    text.push_str("allow u9999 -> api : 80\n");
    // And a cycle of 10,000 unions.
    for i in 0..10_000 {
        text.push_str(&format!("zone c{i} = c{}\n", (i + 1) % 10_000));
    }
    write(&dir.join("unions.npl"), text);
    let run = nplc(&dir, &["check", "unions.npl"], None);
    assert_error(&run, "E0109");
}

#[test]
fn a_diamond_of_unions_checks_in_linear_time() {
    let dir = dir("union_diamond");
    let mut text = String::from("zone a0 { namespace \"a\" }\nzone b0 { namespace \"b\" }\n");
    for i in 1..=60 {
        let p = i - 1;
        text.push_str(&format!(
            "zone a{i} = a{p} | b{p}\nzone b{i} = a{p} | b{p}\n"
        ));
    }
    text.push_str("allow a60 -> b60 : 80\n");
    write(&dir.join("diamond.npl"), text);
    let run = nplc(&dir, &["build", "--target", "cilium", "diamond.npl"], None);
    assert_eq!(run.status, Some(0), "{}", tail(&run.stderr));
}
