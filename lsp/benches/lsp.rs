//! Keystroke latency: a 5,000-line program is open; one keystroke-sized
//! edit (a port digit changes) is applied to the session, and the time is
//! measured until the diagnostics of every open document are computed and
//! converted for LSP (what the server publishes after an edit).
//!
//! Two shapes: the whole program in one file (every keystroke re-parses
//! 5,000 lines), and the same program in ten files of 500 lines, all open
//! (a keystroke re-parses one file; the other nine programs are reused).
//!
//! Then the goals of the language server in daily use:
//! - `keystroke_to_target_diagnostics`: the same keystroke with all four
//!   targets configured, until the target checker ([`nplc_lsp::checks`])
//!   has built every target and reported (goal < 500 ms; the fast
//!   diagnostics above stay the keystroke path, goal < 50 ms);
//! - `document_symbols`: an edit, then the outline of files of 2,500 to
//!   40,000 lines (it was quadratic: 13 s at 40k lines).
//!
//! `cargo bench -p nplc-lsp --bench lsp`; numbers go in docs/performance.md.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use nplc_compiler::emit::Target;
use nplc_lsp::checks::{self, Checker, Report};
use nplc_lsp::diagnostics;
use nplc_lsp::handlers;
use nplc_lsp::session::Session;
use tower_lsp::lsp_types::{Position, Range, TextDocumentContentChangeEvent, Url};

/// Zones of four lines and rules between them, `lines` lines in all.
fn program(prefix: &str, lines: usize) -> String {
    let zones = lines / 10;
    let mut text = String::new();
    for z in 0..zones {
        text.push_str(&format!(
            "zone {prefix}z{z} {{\n  namespace \"{prefix}ns{z}\"\n  pods app = \"app{z}\"\n}}\n"
        ));
    }
    let mut r = 0;
    while text.lines().count() < lines {
        let (a, b) = (r % zones, (r * 7 + 3) % zones);
        text.push_str(&format!(
            "allow {prefix}z{a} -> {prefix}z{b} : {}\n",
            8000 + (r % 1000)
        ));
        r += 1;
    }
    text
}

fn uri(name: &str) -> Url {
    Url::parse(&format!("file:///bench/{name}")).expect("url")
}

/// The edit of one digit on the last line of the first document: `8xyz`
/// becomes `9xyz` and back.
fn keystroke(text: &str, to: &str) -> TextDocumentContentChangeEvent {
    let line = text.lines().count() - 1;
    let last = text.lines().last().unwrap_or("");
    let at = last.rfind(": ").map_or(0, |i| i + 2) as u32;
    TextDocumentContentChangeEvent {
        range: Some(Range::new(
            Position::new(line as u32, at),
            Position::new(line as u32, at + 1),
        )),
        range_length: None,
        text: to.to_string(),
    }
}

fn bench_shape(c: &mut Criterion, name: &str, files: Vec<(Url, String)>) {
    let mut session = Session::default();
    for (uri, text) in &files {
        session.open(uri.clone(), text.clone(), 1);
    }
    let (first_uri, first_text) = &files[0];
    let snapshot = session.snapshot();
    let errors = diagnostics::to_publish(&snapshot, &[]);
    assert!(
        errors.values().all(|(_, d)| d.is_empty()),
        "the bench program checks clean"
    );
    drop(snapshot);
    let mut version = 1;
    let mut digit = ["9", "8"].iter().cycle();
    c.bench_function(name, |b| {
        b.iter(|| {
            version += 1;
            let change = keystroke(first_text, digit.next().unwrap_or(&"8"));
            session.change(first_uri, version, vec![change]);
            let snapshot = session.snapshot();
            let published = diagnostics::to_publish(&snapshot, &[]);
            drop(snapshot);
            published
        })
    });
}

/// An edit, the fast diagnostics, then the target checks of all four
/// targets until the checker reports them.
fn bench_targets(c: &mut Criterion) {
    let text = program("", 5_000);
    let uri = uri("targets.npl");
    let mut session = Session::default();
    session.config_mut().targets = Target::ALL.to_vec();
    session.open(uri.clone(), text.clone(), 1);
    let (tx, rx) = std::sync::mpsc::channel();
    let checker = Checker::start(move |report| {
        let _ = tx.send(report);
    });
    let run = |session: &mut Session| {
        let snapshot = session.snapshot();
        let published = diagnostics::to_publish(&snapshot, &[]);
        let job = checks::job(&snapshot);
        drop(snapshot);
        checker.submit(job);
        let mut all = Vec::new();
        loop {
            match rx.recv() {
                Ok(Report::Found { found, .. }) => all.extend(found),
                Ok(Report::Finished { .. }) => return (published, all),
                Ok(_) => continue,
                Err(_) => panic!("the checker stopped"),
            }
        }
    };
    let (_, found) = run(&mut session);
    assert!(
        found.is_empty(),
        "the bench program builds for every target: {found:?}"
    );
    let mut version = 1;
    let mut digit = ["9", "8"].iter().cycle();
    c.bench_function(
        "keystroke_to_target_diagnostics/1x5000_lines_4_targets",
        |b| {
            b.iter(|| {
                version += 1;
                let change = keystroke(&text, digit.next().unwrap_or(&"8"));
                session.change(&uri, version, vec![change]);
                run(&mut session)
            })
        },
    );
}

/// Each target alone, single-threaded: an edit, then `targets::diagnostics`
/// (where the time of the target checks goes).
fn bench_each_target(c: &mut Criterion) {
    let text = program("", 5_000);
    let edited = text.replacen(": 8000\n", ": 9000\n", 1);
    for target in Target::ALL {
        let mut db = nplc_compiler::Database::default();
        let file = db.set_file("/bench/each.npl", text.clone());
        let program = nplc_compiler::Program::new(&db, vec![file]);
        let mut flip = false;
        c.bench_function(
            &format!("edit_then_target_build/1x5000_lines_{}", target.as_str()),
            |b| {
                b.iter(|| {
                    flip = !flip;
                    let now = if flip { &edited } else { &text };
                    db.set_file("/bench/each.npl", now.clone());
                    nplc_compiler::targets::diagnostics(&db, program, target).len()
                })
            },
        );
    }
}

fn bench_document_symbols(c: &mut Criterion) {
    for lines in [2_500, 10_000, 40_000] {
        let text = program("", lines);
        let uri = uri(&format!("outline{lines}.npl"));
        let mut session = Session::default();
        session.open(uri.clone(), text.clone(), 1);
        let mut version = 1;
        let mut digit = ["9", "8"].iter().cycle();
        c.bench_function(&format!("edit_then_document_symbols/{lines}_lines"), |b| {
            b.iter(|| {
                version += 1;
                let change = keystroke(&text, digit.next().unwrap_or(&"8"));
                session.change(&uri, version, vec![change]);
                let snapshot = session.snapshot();
                let symbols = handlers::document_symbols(&snapshot, &uri);
                assert!(symbols.len() >= lines / 10);
                symbols
            })
        });
    }
}

fn bench(c: &mut Criterion) {
    let one = program("", 5_000);
    assert_eq!(one.lines().count(), 5_000);
    bench_shape(
        c,
        "keystroke_to_diagnostics/1x5000_lines",
        vec![(uri("main.npl"), one)],
    );

    let ten: Vec<(Url, String)> = (0..10)
        .map(|i| (uri(&format!("f{i}.npl")), program(&format!("f{i}"), 500)))
        .collect();
    bench_shape(c, "keystroke_to_diagnostics/10x500_lines", ten);
    bench_document_symbols(c);
    bench_targets(c);
    bench_each_target(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
