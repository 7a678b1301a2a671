//! Diagnostics for the editor: every open document's program is checked,
//! and each diagnostic goes to the file it points into, so an error in an
//! imported file shows there too. The target checks (`nplc.targets`) run
//! later, off the keystroke path ([`crate::checks`]); their results are
//! [`Carried`] into every publication while the file they point into keeps
//! the text they were computed on.
//!
//! One file can belong to several open programs. Their diagnostics are
//! merged, except W0001 (unused definition): a definition one program does
//! not use may be used by another, so it is reported only when every open
//! program that contains the file reports it.

use std::collections::{BTreeMap, HashMap};

use nplc_compiler::diagnostic::Severity;
use nplc_compiler::{names, targets, Code, Diagnostic, SourceFile};
use tower_lsp::lsp_types::{self as lsp, Url};

use crate::session::Snapshot;

/// What to publish: per URI, the document version (for open documents) and
/// the diagnostics.
pub type Published = BTreeMap<Url, (Option<i32>, Vec<lsp::Diagnostic>)>;

/// The target diagnostics of the last finished check, per file, with the
/// text of the file they were computed on.
pub type Carried = HashMap<SourceFile, (String, Vec<Diagnostic>)>;

/// The merged diagnostics of every open program, per file, with the carried
/// target diagnostics (one [`Carried`] per target) of files whose text has
/// not changed since.
pub fn by_file(snap: &Snapshot, carried: &[Carried]) -> HashMap<SourceFile, Vec<Diagnostic>> {
    let mut merged: HashMap<SourceFile, Vec<Diagnostic>> = HashMap::new();
    // W0001 reports per file: how many programs contain the file, how many report it.
    let mut containing: HashMap<SourceFile, usize> = HashMap::new();
    let mut unused: HashMap<Diagnostic, usize> = HashMap::new();
    for doc in snap.docs.values().filter(|d| !d.std) {
        let program = doc.program;
        for &file in &names::resolve(&snap.db, program).files {
            *containing.entry(file).or_default() += 1;
        }
        // The project's nplc.toml (lint levels, cluster ranges), as `nplc check` reads it.
        let config = program
            .roots(&snap.db)
            .first()
            .and_then(|f| {
                nplc_compiler::config::Config::discover(std::path::Path::new(f.path(&snap.db))).ok()
            })
            .unwrap_or_default();
        let mut diags = nplc_compiler::config::diagnostics(&snap.db, program, &config);
        // W0005 against the editor's targets, as `nplc check --target` adds
        // it: only to a program without errors.
        if !diags.iter().any(Diagnostic::is_error) {
            diags.extend(targets::missing_routing(
                &snap.db,
                program,
                &snap.config.targets,
            ));
        }
        for diag in diags {
            if diag.span.file.is_std(&snap.db) {
                continue;
            }
            if diag.code == Code::UnusedDefinition {
                *unused.entry(diag).or_default() += 1;
                continue;
            }
            merged.entry(diag.span.file).or_default().push(diag);
        }
    }
    for (diag, count) in unused {
        if containing.get(&diag.span.file) == Some(&count) {
            merged.entry(diag.span.file).or_default().push(diag);
        }
    }
    for (file, (text, diags)) in carried.iter().flatten() {
        if file.text(&snap.db) == text {
            merged
                .entry(*file)
                .or_default()
                .extend(diags.iter().cloned());
        }
    }
    for diags in merged.values_mut() {
        diags.sort_by(|a, b| {
            (a.span.start, a.span.end, a.code, &a.message).cmp(&(
                b.span.start,
                b.span.end,
                b.code,
                &b.message,
            ))
        });
        diags.dedup();
    }
    merged
}

/// Everything to publish: every open (non-library) document, with an empty
/// list when it is clean, and every other file a diagnostic points into.
pub fn to_publish(snap: &Snapshot, carried: &[Carried]) -> Published {
    let mut out = Published::new();
    for (uri, doc) in snap.docs.iter().filter(|(_, d)| !d.std) {
        out.insert(uri.clone(), (Some(doc.version), Vec::new()));
    }
    for (file, diags) in by_file(snap, carried) {
        let Some(uri) = snap.uri(file) else { continue };
        let converted = diags.iter().map(|d| to_lsp(snap, d)).collect();
        let version = snap.docs.get(&uri).map(|d| d.version);
        out.insert(uri, (version, converted));
    }
    out
}

/// One diagnostic for LSP: code with a link to its page, secondary labels as
/// related information, the help in the message, W0001 faded.
pub fn to_lsp(snap: &Snapshot, diag: &Diagnostic) -> lsp::Diagnostic {
    let severity = match diag.severity() {
        Severity::Error => lsp::DiagnosticSeverity::ERROR,
        Severity::Warning => lsp::DiagnosticSeverity::WARNING,
    };
    let mut message = diag.message.clone();
    if let Some(help) = &diag.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let related: Vec<lsp::DiagnosticRelatedInformation> = diag
        .labels
        .iter()
        .filter_map(|l| {
            Some(lsp::DiagnosticRelatedInformation {
                location: snap.location(l.span)?,
                message: l.message.clone(),
            })
        })
        .collect();
    let href = snap
        .config
        .errors_url
        .as_ref()
        .and_then(|url| Url::parse(&format!("{url}#{}", anchor(diag.code))).ok());
    lsp::Diagnostic {
        range: snap.range(diag.span),
        severity: Some(severity),
        code: Some(lsp::NumberOrString::String(diag.code.as_str().to_string())),
        code_description: href.map(|href| lsp::CodeDescription { href }),
        source: Some("nplc".to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: (diag.code == Code::UnusedDefinition).then(|| vec![lsp::DiagnosticTag::UNNECESSARY]),
        data: None,
    }
}

/// The anchor of a code's heading in docs/errors.md, as Markdown renderers
/// make it: `## E0305: CIDR has host bits set` → `e0305-cidr-has-host-bits-set`.
pub fn anchor(code: Code) -> String {
    let heading = format!("{}: {}", code.as_str(), code.title());
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}
