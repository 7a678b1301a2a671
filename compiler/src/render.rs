//! Rendering diagnostics at the edge: codespan-reporting for people, a stable
//! JSON shape for machines. The only module that knows codespan-reporting.

use std::collections::HashMap;

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term;
use serde::Serialize;

use crate::db::{Db, SourceFile};
use crate::diagnostic::{Diagnostic, Severity, Span};

/// The files diagnostics point into, registered once per rendering.
struct FileTable {
    files: SimpleFiles<String, String>,
    ids: HashMap<SourceFile, usize>,
}

impl FileTable {
    fn new() -> FileTable {
        FileTable {
            files: SimpleFiles::new(),
            ids: HashMap::new(),
        }
    }

    fn id(&mut self, db: &dyn Db, file: SourceFile) -> usize {
        *self
            .ids
            .entry(file)
            .or_insert_with(|| self.files.add(file.path(db).clone(), file.text(db).clone()))
    }
}

fn to_codespan(db: &dyn Db, table: &mut FileTable, diag: &Diagnostic) -> cs::Diagnostic<usize> {
    let severity = match diag.severity() {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    let mut labels = vec![
        cs::Label::primary(table.id(db, diag.span.file), clamp(db, diag.span))
            .with_message(diag.label.clone()),
    ];
    for l in &diag.labels {
        labels.push(
            cs::Label::secondary(table.id(db, l.span.file), clamp(db, l.span))
                .with_message(l.message.clone()),
        );
    }
    let mut notes = Vec::new();
    if let Some(help) = &diag.help {
        notes.push(format!("help: {help}"));
    }
    cs::Diagnostic::new(severity)
        .with_code(diag.code.as_str())
        .with_message(diag.message.clone())
        .with_labels(labels)
        .with_notes(notes)
}

/// A span cut to the file's text and to char boundaries, so a stale span can
/// never make rendering fail.
fn clamp(db: &dyn Db, span: Span) -> std::ops::Range<usize> {
    let text = span.file.text(db);
    let fix = |mut i: usize| {
        i = i.min(text.len());
        while i > 0 && !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = fix(span.start as usize);
    start..fix(span.end as usize).max(start)
}

/// Renders diagnostics for a terminal; `color` adds ANSI colours.
pub fn human(db: &dyn Db, diags: &[Diagnostic], color: bool) -> String {
    let mut table = FileTable::new();
    let config = term::Config::default();
    let mut out = Vec::new();
    for diag in diags {
        let cs_diag = to_codespan(db, &mut table, diag);
        let result = if color {
            let styles = term::Styles::default();
            let mut buffer = term::termcolor::Buffer::ansi();
            let mut writer = term::StylesWriter::new(&mut buffer, &styles);
            let r = term::emit_to_write_style(&mut writer, &config, &table.files, &cs_diag);
            out.extend_from_slice(buffer.as_slice());
            r
        } else {
            term::emit_to_io_write(&mut out, &config, &table.files, &cs_diag)
        };
        if let Err(err) = result {
            out.extend_from_slice(format!("{}: {} ({err})\n", diag.code, diag.message).as_bytes());
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A position for machines: 1-based line and column (columns count Unicode
/// scalar values), plus the byte offset.
#[derive(Debug, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
    pub offset: usize,
}

#[derive(Debug, Serialize)]
pub struct JsonLabel {
    pub file: String,
    pub start: Position,
    pub end: Position,
    pub message: String,
}

/// The documented JSON shape of a diagnostic (docs/errors.md, "JSON output").
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
    pub file: String,
    pub start: Position,
    pub end: Position,
    pub label: String,
    pub labels: Vec<JsonLabel>,
    pub help: Option<String>,
}

pub fn json_value(db: &dyn Db, diag: &Diagnostic) -> JsonDiagnostic {
    let locate = |span: Span| {
        (
            span.file.path(db).clone(),
            position(db, span.file, span.start as usize),
            position(db, span.file, span.end as usize),
        )
    };
    let (file, start, end) = locate(diag.span);
    JsonDiagnostic {
        code: diag.code.as_str(),
        severity: diag.severity().as_str(),
        message: diag.message.clone(),
        file,
        start,
        end,
        label: diag.label.clone(),
        labels: diag
            .labels
            .iter()
            .map(|l| {
                let (file, start, end) = locate(l.span);
                JsonLabel {
                    file,
                    start,
                    end,
                    message: l.message.clone(),
                }
            })
            .collect(),
        help: diag.help.clone(),
    }
}

/// The line and column of an offset, through the file's line index
/// (`db::line_index`, computed once per text), so that locating many
/// diagnostics in a large file is not quadratic.
pub fn position(db: &dyn Db, file: SourceFile, offset: usize) -> Position {
    let text = file.text(db);
    let offset = offset.min(text.len());
    let index = crate::db::line_index(db, file);
    let line = index.line(u32::try_from(offset).unwrap_or(u32::MAX)).max(1);
    let line_start = index.starts()[line - 1];
    Position {
        line,
        column: text
            .get(line_start..offset)
            .map_or(0, |t| t.chars().count())
            + 1,
        offset,
    }
}

/// All diagnostics as one pretty JSON array.
pub fn json(db: &dyn Db, diags: &[Diagnostic]) -> String {
    let values: Vec<JsonDiagnostic> = diags.iter().map(|d| json_value(db, d)).collect();
    serde_json::to_string_pretty(&values).unwrap_or_else(|_| "[]".to_string())
}

/// Source snippets for people: each `(span, message)` renders as a `note`
/// headed by the message, pointing at the span (used by `nplc query` and
/// `nplc explain` to show the rules behind an answer).
pub fn snippets(db: &dyn Db, notes: &[(Span, String)], color: bool) -> String {
    let mut table = FileTable::new();
    let config = term::Config::default();
    let mut out = Vec::new();
    for (span, message) in notes {
        let file = table.id(db, span.file);
        let note = cs::Diagnostic::note()
            .with_message(message.clone())
            .with_labels(vec![cs::Label::primary(file, clamp(db, *span))]);
        let result = if color {
            let styles = term::Styles::default();
            let mut buffer = term::termcolor::Buffer::ansi();
            let mut writer = term::StylesWriter::new(&mut buffer, &styles);
            let r = term::emit_to_write_style(&mut writer, &config, &table.files, &note);
            out.extend_from_slice(buffer.as_slice());
            r
        } else {
            term::emit_to_io_write(&mut out, &config, &table.files, &note)
        };
        if let Err(err) = result {
            out.extend_from_slice(format!("note: {message} ({err})\n").as_bytes());
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
