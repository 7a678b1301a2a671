//! Where the lines of a text start: the one offset → line (and column)
//! converter of nplc. `db::line_index` keeps one per file.

/// Where every line of a file starts, so that a byte offset finds its line
/// in `O(log lines)` instead of counting newlines from the start of the file.
/// The one line index of nplc: source annotations, JSON diagnostics and the
/// language server's UTF-16 positions (`lsp/src/position.rs`) all read it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineIndex {
    /// Byte offset of the start of every line; the first is 0.
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// The 1-based line of a byte offset; an offset past the end of the text
    /// is on the last line.
    pub fn line(&self, offset: u32) -> usize {
        self.starts
            .partition_point(|&start| start <= offset as usize)
    }

    /// Byte offset of the start of every line; the first is 0.
    pub fn starts(&self) -> &[usize] {
        &self.starts
    }

    pub fn into_starts(self) -> Vec<usize> {
        self.starts
    }

    /// The 1-based line and column (in characters) of a byte offset in
    /// `text`, the text this index was made of.
    pub fn line_column(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self.line(u32::try_from(offset).unwrap_or(u32::MAX));
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let end = offset.min(text.len());
        let column = text.get(start..end).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    /// The line of an offset is one more than the newlines before it.
    #[test]
    fn line_index_counts_the_newlines_before_an_offset() {
        let text = "zone a {}\n\n# é\r\nallow a -> a : 80\n";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() + 3 {
            let before = &text.as_bytes()[..offset.min(text.len())];
            let expected = before.iter().filter(|&&b| b == b'\n').count() + 1;
            assert_eq!(index.line(offset as u32), expected, "offset {offset}");
        }
        assert_eq!(LineIndex::new("").line(0), 1);
    }

    #[test]
    fn line_column_counts_characters() {
        let text = "ab\né x";
        let index = LineIndex::new(text);
        assert_eq!(index.line_column(text, 0), (1, 1));
        assert_eq!(index.line_column(text, 3), (2, 1));
        assert_eq!(index.line_column(text, 6), (2, 3));
    }
}
