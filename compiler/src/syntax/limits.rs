//! Limits on what a source file may be, checked before the recursive-descent
//! parser runs, so that no input can exhaust the stack or take unbounded time
//! (docs/limits.md). Also the decoding of file bytes, shared by the CLI and
//! imports, so a file that is not UTF-8 is a coded error wherever it is read.

use crate::db::SourceFile;
use crate::diagnostic::{Code, Diagnostic, Span};

/// The largest source file read, in bytes (4 MiB). Real policies are a few
/// kilobytes; parsing 4 MiB takes seconds in a debug build.
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;

/// The deepest nesting of `{ }` in a file. Real programs nest three or four
/// deep (tier, rule, set); the parser, the formatter and lowering recurse once
/// per level, so this bounds their stack use.
pub const MAX_NESTING: usize = 64;

/// Why a file's bytes are not a source text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BadText {
    /// More than [`MAX_SOURCE_BYTES`]; only that much was read.
    TooLarge,
    NotUtf8(NotUtf8),
}

/// Reads a source file: at most [`MAX_SOURCE_BYTES`] + 1 bytes, so that a
/// huge file or a device (`/dev/zero`) costs bounded time and memory.
pub fn read_source(path: &std::path::Path) -> std::io::Result<Result<String, BadText>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(source_text(bytes))
}

/// The text of a source read whole (standard input, a buffer).
pub fn source_text(bytes: Vec<u8>) -> Result<String, BadText> {
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(BadText::TooLarge);
    }
    decode(bytes).map_err(BadText::NotUtf8)
}

impl BadText {
    /// What of the file can be shown: the valid text before a bad byte.
    pub fn shown_text(&self) -> String {
        match self {
            BadText::TooLarge => String::new(),
            BadText::NotUtf8(problem) => problem.valid.clone(),
        }
    }

    /// E0106 or E0107 in the file itself, whose text is [`Self::shown_text`].
    pub fn diagnostic(&self, file: SourceFile, path: &str) -> Diagnostic {
        match self {
            BadText::TooLarge => too_large(file, path),
            BadText::NotUtf8(problem) => not_utf8(file, path, problem),
        }
    }

    /// The reason, for a message about a file named elsewhere (an import).
    pub fn describe(&self, path: &str) -> String {
        match self {
            BadText::TooLarge => too_large_message(path),
            BadText::NotUtf8(problem) => {
                format!("`{path}` is not UTF-8 text: {}", problem.position())
            }
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

fn too_large_message(path: &str) -> String {
    format!(
        "`{path}` is larger than {} MiB ({MAX_SOURCE_BYTES} bytes), the most a source file may have",
        MAX_SOURCE_BYTES / (1024 * 1024)
    )
}

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

/// Where the first byte that is not UTF-8 is, with the text before it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotUtf8 {
    /// The valid text before the bad byte.
    pub valid: String,
    /// The bad byte itself.
    pub byte: u8,
    /// 1-based line and column (in characters) of the bad byte.
    pub line: usize,
    pub column: usize,
}

impl NotUtf8 {
    /// The bad byte's offset in the file.
    pub fn offset(&self) -> usize {
        self.valid.len()
    }

    /// `byte 0xff at line 3, column 7 (offset 40)`.
    pub fn position(&self) -> String {
        format!(
            "byte 0x{:02x} at line {}, column {} (offset {})",
            self.byte,
            self.line,
            self.column,
            self.offset()
        )
    }
}

/// The file's text, or where its first byte that is not UTF-8 is.
pub fn decode(bytes: Vec<u8>) -> Result<String, NotUtf8> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(err) => {
            let at = err.utf8_error().valid_up_to();
            let mut bytes = err.into_bytes();
            let byte = bytes.get(at).copied().unwrap_or(0);
            bytes.truncate(at);
            let valid = String::from_utf8(bytes).unwrap_or_default();
            let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
            Err(NotUtf8 {
                line: valid.matches('\n').count() + 1,
                column: valid[line_start..].chars().count() + 1,
                valid,
                byte,
            })
        }
    }
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
