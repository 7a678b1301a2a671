//! docs/errors.md and the compiler's codes stay in step:
//! - every code has a section `## CODE: title`, in the order of `Code::ALL`;
//! - every code that `nplc check` reports appears in a snapshot of
//!   tests/check (tests/check.rs);
//! - the first ```npl example of each section really yields the code (checked,
//!   or for the target codes `E04xx` built, with the library), and the
//!   section's rendered ```text output shows that code;
//! - every later ```npl block of a section (the fixed program) checks clean.
//!
//! An example that cannot run alone is fenced ```npl,ignore-check and its code
//! listed in `IGNORED`.

use std::path::Path;

use nplc_compiler::emit::{self, Target};
use nplc_compiler::{lint, Code, Database, Diagnostic, Program};

/// Codes whose examples are not run, and why.
const IGNORED: &[(&str, &str)] = &[
    ("E0203", "an import cycle needs two files"),
    (
        "E0106",
        "a file that is not UTF-8 cannot be shown in Markdown",
    ),
    ("E0107", "a file of more than 4 MiB"),
    ("E0108", "a chain of 65 files"),
    ("E0109", "a chain of 65 unions"),
    ("W0005", "reported by `nplc build`; tests/istio.rs runs it"),
    ("W0013", "reported by `nplc build`; tests/commands.rs runs it"),
    ("W0007", "needs the cluster's ranges (--cluster-cidr); tests/check/w0007_cluster_address has them in nplc.toml"),
    ("W0014", "reported by `nplc build --target kubernetes`; tests/kubernetes.rs runs it"),
    ("W0015", "reported by `nplc build --target kubernetes`; tests/kubernetes.rs runs it"),
];

/// Codes of what a target cannot express, W0005 (about the build's
/// targets), W0014 and W0015 (about the kubernetes build's platform):
/// reported by `nplc build` and `nplc check --target`, never by plain `nplc
/// check`, so they have no tests/check case.
fn is_target_code(code: Code) -> bool {
    (code.as_str().starts_with("E04") && code != Code::LogWithFilter)
        || matches!(
            code,
            Code::ViaWithoutIstio
                | Code::UnrangedAddressBlock
                | Code::HostLeftToPlatform
                | Code::LogNotSupported
        )
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct Section {
    heading: String,
    /// Fenced blocks: (info string, text).
    blocks: Vec<(String, String)>,
}

fn sections() -> Vec<Section> {
    let markdown =
        std::fs::read_to_string(root().join("docs/errors.md")).expect("cannot read docs/errors.md");
    let mut sections: Vec<Section> = Vec::new();
    let mut block: Option<(String, String)> = None;
    for line in markdown.lines() {
        if let Some((info, text)) = &mut block {
            if line.starts_with("```") {
                let done = (std::mem::take(info), std::mem::take(text));
                if let Some(section) = sections.last_mut() {
                    section.blocks.push(done);
                }
                block = None;
            } else {
                text.push_str(line);
                text.push('\n');
            }
        } else if let Some(info) = line.strip_prefix("```") {
            block = Some((info.to_string(), String::new()));
        } else if let Some(heading) = line.strip_prefix("## ") {
            sections.push(Section {
                heading: heading.to_string(),
                blocks: Vec::new(),
            });
        }
    }
    sections
}

fn heading(code: Code) -> String {
    format!("{}: {}", code.as_str(), code.title())
}

/// The code's section; a missing one is reported by the first test.
fn section(code: Code) -> Option<Section> {
    sections().into_iter().find(|s| s.heading == heading(code))
}

/// Check diagnostics of `text`, plus for target codes the errors of building
/// it for every target.
fn diagnostics(text: &str, targets: bool) -> Vec<Diagnostic> {
    let mut database = Database::default();
    let file = database.set_file("example.npl", text.to_string());
    let program = Program::new(&database, vec![file]);
    let mut diags = lint::diagnostics(&database, program).clone();
    if targets {
        for target in Target::ALL {
            if let Err(errors) = emit::build(&database, program, target, &Default::default()) {
                diags.extend(errors);
            }
        }
    }
    diags
}

#[test]
fn every_code_has_a_section_in_order() {
    let headings: Vec<String> = sections().into_iter().map(|s| s.heading).collect();
    let expected: Vec<String> = Code::ALL.iter().map(|c| heading(*c)).collect();
    let missing: Vec<&String> = expected.iter().filter(|h| !headings.contains(h)).collect();
    assert!(
        missing.is_empty(),
        "docs/errors.md has no section for {missing:?}"
    );
    let extra: Vec<&String> = headings
        .iter()
        .filter(|h| !expected.contains(h) && h.as_str() != "JSON output")
        .collect();
    assert!(
        extra.is_empty(),
        "docs/errors.md has sections for no code: {extra:?}"
    );
    let documented: Vec<&String> = headings.iter().filter(|h| expected.contains(h)).collect();
    let expected: Vec<&String> = expected.iter().collect();
    assert_eq!(
        documented, expected,
        "sections are not in the order of Code::ALL"
    );
}

#[test]
fn every_check_code_has_a_snapshot() {
    let dir = root().join("tests/check/snapshots");
    let mut snapshots = String::new();
    for entry in std::fs::read_dir(&dir).expect("cannot read tests/check/snapshots") {
        let path = entry.expect("cannot read a directory entry").path();
        snapshots.push_str(&std::fs::read_to_string(path).expect("cannot read a snapshot"));
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !is_target_code(**c))
        .filter(|c| {
            let shown = format!("{}[{}]", c.severity().as_str(), c.as_str());
            !snapshots.contains(&shown)
        })
        .map(|c| c.as_str())
        .collect();
    assert!(missing.is_empty(), "no tests/check case shows {missing:?}");
}

#[test]
fn every_example_yields_its_code() {
    let mut failures = Vec::new();
    for &code in Code::ALL {
        let Some(section) = section(code) else {
            continue;
        };
        let Some((info, example)) = section.blocks.iter().find(|(i, _)| i.starts_with("npl"))
        else {
            failures.push(format!("{code}: no ```npl example"));
            continue;
        };
        let ignored = IGNORED.iter().any(|(c, _)| *c == code.as_str());
        match (info.as_str(), ignored) {
            ("npl", false) => {}
            ("npl,ignore-check", true) => continue,
            _ => {
                failures.push(format!(
                    "{code}: example fenced ```{info}, listed in IGNORED: {ignored}"
                ));
                continue;
            }
        }
        let diags = diagnostics(example, is_target_code(code));
        if !diags.iter().any(|d| d.code == code) {
            let got: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
            failures.push(format!("{code}: the example yields {got:?}"));
        }
        let shown = format!("{}[{}]", code.severity().as_str(), code.as_str());
        let rendered = section.blocks.iter().find(|(i, _)| i == "text");
        if !rendered.is_some_and(|(_, text)| text.contains(&shown)) {
            failures.push(format!("{code}: no ```text block showing {shown}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fix_checks_clean() {
    let mut failures = Vec::new();
    for &code in Code::ALL {
        let Some(section) = section(code) else {
            continue;
        };
        let mut examples = section.blocks.iter().filter(|(i, _)| i.starts_with("npl"));
        examples.next();
        for (info, fix) in examples {
            if info != "npl" {
                continue;
            }
            let diags = diagnostics(fix, false);
            if !diags.is_empty() {
                let got: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
                failures.push(format!("{code}: a fix yields {got:?}:\n{fix}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
