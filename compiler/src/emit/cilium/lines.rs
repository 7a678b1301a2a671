//! `file:line` ranges for the source annotation, with each file's line
//! starts indexed once: the same text as `SourceLines::describe`, without
//! counting newlines from the start of the file for every span (a private
//! copy; a build writes one annotation per policy).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::db::SourceFile;
use crate::diagnostic::Span;
use crate::emit::SourceLines;

pub(super) struct LineIndex<'a> {
    sources: &'a SourceLines<'a>,
    files: RefCell<HashMap<SourceFile, IndexedFile>>,
}

/// A file's path, length and the offsets where its lines start.
type IndexedFile = (String, usize, Vec<usize>);

impl<'a> LineIndex<'a> {
    pub fn new(sources: &'a SourceLines<'a>) -> LineIndex<'a> {
        LineIndex {
            sources,
            files: RefCell::new(HashMap::new()),
        }
    }

    /// `a.npl:3, a.npl:7-9, std/baseline:12`, sorted and deduplicated.
    pub fn describe(&self, spans: &[Span]) -> String {
        let mut by_file: BTreeMap<String, BTreeSet<(usize, usize)>> = BTreeMap::new();
        let mut files = self.files.borrow_mut();
        for span in spans {
            let db = self.sources.db;
            let (path, len, starts) = files.entry(span.file).or_insert_with(|| {
                let text = span.file.text(db);
                let starts = std::iter::once(0)
                    .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                    .collect();
                (span.file.path(db).clone(), text.len(), starts)
            });
            let len = *len;
            // The line of `offset`: 1 + the newlines before it.
            let line = |offset: u32| {
                let offset = (offset as usize).min(len);
                starts.partition_point(|&s| s <= offset).max(1)
            };
            by_file.entry(path.clone()).or_default().insert((
                line(span.start),
                line(span.end.saturating_sub(1).max(span.start)),
            ));
        }
        let mut parts = Vec::new();
        for (file, lines) in by_file {
            for (a, b) in lines {
                parts.push(if a == b {
                    format!("{file}:{a}")
                } else {
                    format!("{file}:{a}-{b}")
                });
            }
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Database;

    #[test]
    fn the_same_text_as_source_lines() {
        let mut db = Database::default();
        let text = "zone a {}\n\nallow a -> a : 80\nallow a -> a :\n  81\n";
        let file = db.set_file("a.npl", text.to_string());
        let other = db.set_file("b.npl", "x\ny".to_string());
        let sources = SourceLines::new(&db);
        let index = LineIndex::new(&sources);
        let len = text.len();
        let cases: Vec<Vec<Span>> = vec![
            vec![],
            vec![Span::new(file, 0, 9)],
            vec![Span::new(file, 11, 28), Span::new(file, 29, len)],
            vec![
                Span::new(other, 2, 3),
                Span::new(file, 0, 0),
                Span::new(file, len, len + 5),
            ],
            vec![Span::new(file, 10, 11), Span::new(other, 0, 3)],
        ];
        for spans in cases {
            assert_eq!(
                index.describe(&spans),
                sources.describe(&spans),
                "{spans:?}"
            );
        }
    }
}
