//! Limits on what a source file may be, checked before the recursive-descent
//! parser runs, so that no input can exhaust the stack or take unbounded time
//! (docs/limits.md), and the diagnostics of a file that is too large or not
//! UTF-8 (reading it is `crate::source`).

use crate::db::SourceFile;
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::source::{too_large_message, BadText, NotUtf8};

/// The deepest nesting of `{ }` in a file. Real programs nest three or four
/// deep (tier, rule, set); the parser, the formatter and lowering recurse once
/// per level, so this bounds their stack use.
pub const MAX_NESTING: usize = 64;

impl BadText {
    /// E0106 or E0107 in the file itself, whose text is [`Self::shown_text`].
    pub fn diagnostic(&self, file: SourceFile, path: &str) -> Diagnostic {
        match self {
            BadText::TooLarge => too_large(file, path),
            BadText::NotUtf8(problem) => not_utf8(file, path, problem),
        }
    }

    pub fn code(&self) -> Code {
        match self {
            BadText::TooLarge => Code::FileTooLarge,
            BadText::NotUtf8(_) => Code::NotUtf8,
        }
    }

    pub fn help(&self) -> &'static str {
        match self {
            BadText::TooLarge => TOO_LARGE_HELP,
            BadText::NotUtf8(_) => NOT_UTF8_HELP,
        }
    }
}

const TOO_LARGE_HELP: &str = "split the program into files of at most 4 MiB and import them";
const NOT_UTF8_HELP: &str = "save the file as UTF-8 (NPL source is UTF-8 text)";

/// E0107 at the start of `file`: its text is not kept.
pub fn too_large(file: SourceFile, path: &str) -> Diagnostic {
    Diagnostic::new(
        Code::FileTooLarge,
        Span::new(file, 0, 0),
        too_large_message(path),
    )
    .with_label("this file is too large to read")
    .with_help(TOO_LARGE_HELP)
}

/// E0106 in the file itself: `file`'s text is the valid part, the span is the
/// bad byte's offset.
pub fn not_utf8(file: SourceFile, path: &str, problem: &NotUtf8) -> Diagnostic {
    let at = problem.offset();
    Diagnostic::new(
        Code::NotUtf8,
        Span::new(file, at, at),
        format!("`{path}` is not UTF-8 text: {}", problem.position()),
    )
    .with_label(format!("byte 0x{:02x} here is not UTF-8", problem.byte))
    .with_help(NOT_UTF8_HELP)
}

/// The text with every item whose braces nest more than [`MAX_NESTING`]
/// deep blanked out (spaces, line breaks kept, so offsets stay), and an E0105
/// at the first brace past the limit of each. Braces in strings and comments
/// do not count.
pub fn blank_deep_nesting(file: SourceFile, text: &str) -> Option<(String, Vec<Diagnostic>)> {
    let bytes = text.as_bytes();
    let mut blanks: Vec<(usize, usize)> = Vec::new();
    let mut diagnostics = Vec::new();
    let mut depth = 0usize;
    // Where the outermost open brace is, and the first brace past the limit
    // inside it.
    let mut outer = 0usize;
    let mut too_deep: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        // As in the grammar's recovery, an unclosed nest ends before a line
        // that starts a top-level item, so one bad line loses one item.
        if too_deep.is_some() && (i == 0 || bytes[i - 1] == b'\n') && starts_item(&bytes[i..]) {
            if let Some(at) = too_deep.take() {
                blanks.push((line_start(bytes, outer), i));
                diagnostics.push(nesting_diagnostic(file, at));
            }
            depth = 0;
        }
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => {
                depth += 1;
                if depth == 1 {
                    outer = i;
                }
                if depth == MAX_NESTING + 1 && too_deep.is_none() {
                    too_deep = Some(i);
                }
            }
            b'}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    if let Some(at) = too_deep.take() {
                        blanks.push((line_start(bytes, outer), line_end(bytes, i)));
                        diagnostics.push(nesting_diagnostic(file, at));
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    if let Some(at) = too_deep {
        blanks.push((line_start(bytes, outer), bytes.len()));
        diagnostics.push(nesting_diagnostic(file, at));
    }
    if blanks.is_empty() {
        return None;
    }
    let mut out = bytes.to_vec();
    for (start, end) in blanks {
        for b in &mut out[start..end] {
            if !matches!(*b, b'\n' | b'\r') {
                *b = b' ';
            }
        }
    }
    // Only whole lines were replaced by ASCII spaces, so this is still UTF-8.
    Some((String::from_utf8_lossy(&out).into_owned(), diagnostics))
}

fn nesting_diagnostic(file: SourceFile, at: usize) -> Diagnostic {
    Diagnostic::new(
        Code::NestingTooDeep,
        Span::new(file, at, at + 1),
        format!("braces nest more than {MAX_NESTING} deep"),
    )
    .with_label(format!("brace number {} of this nest", MAX_NESTING + 1))
    .with_help("flatten nested sets: `{a, {b, c}}` is `{a, b, c}`; this item is ignored until then")
}

/// Whether a line starts with a keyword that begins a top-level item.
fn starts_item(line: &[u8]) -> bool {
    let line = &line[line
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count()..];
    ["import", "zone", "external", "tier", "gateway"]
        .iter()
        .any(|k| {
            line.starts_with(k.as_bytes())
                && !line.get(k.len()).is_some_and(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') || *b >= 0x80
                })
        })
}

fn line_start(bytes: &[u8], at: usize) -> usize {
    bytes[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1)
}

fn line_end(bytes: &[u8], at: usize) -> usize {
    bytes[at..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |i| at + i)
}
