//! Reading a source file's bytes into text: at most `MAX_SOURCE_BYTES`, and
//! UTF-8, or the reason it is not a source text (docs/limits.md). Shared by
//! the CLI, imports and the language server's workspace index, so a file
//! that is not UTF-8 is the same coded error wherever it is read; the
//! diagnostics themselves are in `syntax::limits`.

use crate::lines::LineIndex;

/// The largest source file read, in bytes (4 MiB). Real policies are a few
/// kilobytes; parsing 4 MiB takes seconds in a debug build.
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;

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

    /// The reason, for a message about a file named elsewhere (an import).
    pub fn describe(&self, path: &str) -> String {
        match self {
            BadText::TooLarge => too_large_message(path),
            BadText::NotUtf8(problem) => {
                format!("`{path}` is not UTF-8 text: {}", problem.position())
            }
        }
    }
}

pub(crate) fn too_large_message(path: &str) -> String {
    format!(
        "`{path}` is larger than {} MiB ({MAX_SOURCE_BYTES} bytes), the most a source file may have",
        MAX_SOURCE_BYTES / (1024 * 1024)
    )
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
            let (line, column) = LineIndex::new(&valid).line_column(&valid, valid.len());
            Err(NotUtf8 {
                line,
                column,
                valid,
                byte,
            })
        }
    }
}
