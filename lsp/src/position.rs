//! Byte offsets ↔ LSP positions (line, UTF-16 code unit).
//!
//! The compiler speaks byte offsets; LSP clients speak lines and UTF-16
//! columns. Every conversion clamps: a line past the end is the end of the
//! text, a column past the end of its line is the end of that line (before
//! its line break), a column in the middle of a character (the second half of
//! a surrogate pair) is the start of that character, and an offset inside a
//! character or past the text is moved back to a char boundary. Nothing
//! panics, whatever the client sends.

use std::borrow::Cow;

use tower_lsp::lsp_types::{Position, Range};

pub struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset of the start of every line; the first is 0.
    line_starts: Cow<'t, [usize]>,
}

/// The byte offset of the start of every line of `text`; the first is 0.
pub fn line_starts(text: &str) -> Vec<usize> {
    nplc_compiler::lines::LineIndex::new(text).into_starts()
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> LineIndex<'t> {
        LineIndex {
            text,
            line_starts: Cow::Owned(line_starts(text)),
        }
    }

    /// An index over line starts computed before (and cached: see
    /// `Snapshot::index`), so that converting many spans is linear.
    pub fn with_line_starts(text: &'t str, starts: &'t [usize]) -> LineIndex<'t> {
        LineIndex {
            text,
            line_starts: Cow::Borrowed(starts),
        }
    }

    /// The position of a byte offset.
    pub fn position(&self, offset: usize) -> Position {
        let offset = clamp_to_boundary(self.text, offset);
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let character = self.text[start..offset].encode_utf16().count();
        Position::new(to_u32(line), to_u32(character))
    }

    /// The byte offset of a position, clamped (see the module docs).
    pub fn offset(&self, position: Position) -> usize {
        let line = position.line as usize;
        let Some(&start) = self.line_starts.get(line) else {
            return self.text.len();
        };
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(self.text.len(), |next| next - 1);
        let content = self.text[start..end]
            .strip_suffix('\r')
            .unwrap_or(&self.text[start..end]);
        let wanted = position.character as usize;
        let mut units = 0;
        for (i, c) in content.char_indices() {
            if units >= wanted {
                return start + i;
            }
            units += c.len_utf16();
            if units > wanted {
                // Inside a surrogate pair: the start of the character.
                return start + i;
            }
        }
        start + content.len()
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.position(start), self.position(end.max(start)))
    }

    /// Byte offsets of a range, ordered (a reversed range is read forwards).
    pub fn offsets(&self, range: Range) -> (usize, usize) {
        let a = self.offset(range.start);
        let b = self.offset(range.end);
        (a.min(b), a.max(b))
    }

    /// The line of a byte offset.
    pub fn line(&self, offset: usize) -> u32 {
        self.position(offset).line
    }
}

fn clamp_to_boundary(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_ascii_and_multibyte() {
        let text = "zone a {}\n# é😀x\r\nallow";
        let index = LineIndex::new(text);
        for (offset, _) in text.char_indices() {
            if text[..offset].ends_with('\r') {
                continue; // between `\r` and `\n`: not a position LSP can name
            }
            assert_eq!(
                index.offset(index.position(offset)),
                offset,
                "offset {offset}"
            );
        }
        // `😀` is two UTF-16 units and four bytes.
        let x = text.find('x').unwrap();
        assert_eq!(index.position(x), Position::new(1, 5));
    }

    #[test]
    fn clamps_whatever_it_is_given() {
        let text = "a😀b\nxy";
        let index = LineIndex::new(text);
        // Inside the surrogate pair: the start of the emoji.
        assert_eq!(index.offset(Position::new(0, 2)), 1);
        // Past the end of the line: before its line break.
        assert_eq!(index.offset(Position::new(0, 99)), 6);
        // Past the last line: the end of the text.
        assert_eq!(index.offset(Position::new(9, 0)), text.len());
        // Inside a character, or past the text.
        assert_eq!(index.position(2), Position::new(0, 1));
        assert_eq!(index.position(999), Position::new(1, 2));
    }
}
