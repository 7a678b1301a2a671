//! The session: the only writable database, the open documents and the
//! settings. Edits are applied here, in the order they arrive; requests work
//! on a [`Snapshot`] (a clone of the database that salsa cancels when the
//! session's database is written).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nplc_compiler::emit::Target;
use nplc_compiler::{stdlib, Database, Program, SourceFile, Span};
use tower_lsp::lsp_types::{Location, Position, Range, TextDocumentContentChangeEvent, Url};

use crate::position::LineIndex;

/// Where the error pages are by default: `docs/errors.md` of the source tree
/// nplc was built from (`cargo install --path .` keeps it), as a `file:` URL,
/// when it is still there. Otherwise diagnostics carry no link unless the
/// client sets `errorsUrl`.
pub fn default_errors_url() -> Option<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join("errors.md");
    let path = path.canonicalize().ok()?;
    Url::from_file_path(path).ok().map(String::from)
}

#[derive(Debug, Clone)]
pub struct Document {
    pub file: SourceFile,
    /// The program rooted at this document (its imports load from open
    /// buffers first, then from disk).
    pub program: Program,
    pub version: i32,
    /// A standard library module: read-only, no diagnostics published.
    pub std: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `nplc.targets`: build these targets and report their errors.
    pub targets: Vec<Target>,
    /// A diagnostic links to `{errors_url}#e0201-unknown-name`.
    pub errors_url: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            targets: Vec::new(),
            errors_url: default_errors_url(),
        }
    }
}

impl Config {
    /// Reads `{"targets": [...]}` or `{"nplc": {"targets": [...]}}` (also
    /// `errorsUrl`); returns the target names it did not know.
    pub fn update(&mut self, value: &serde_json::Value) -> Vec<String> {
        let section = value.get("nplc").unwrap_or(value);
        let mut unknown = Vec::new();
        if let Some(targets) = section.get("targets").and_then(|t| t.as_array()) {
            self.targets = Vec::new();
            for t in targets.iter().filter_map(|t| t.as_str()) {
                match Target::ALL.iter().find(|k| k.as_str() == t) {
                    Some(k) if !self.targets.contains(k) => self.targets.push(*k),
                    Some(_) => {}
                    None => unknown.push(t.to_string()),
                }
            }
        }
        if let Some(url) = section.get("errorsUrl").and_then(|u| u.as_str()) {
            self.errors_url = Some(url.to_string());
        }
        unknown
    }
}

pub struct Session {
    db: Database,
    docs: Arc<BTreeMap<Url, Document>>,
    /// The workspace's `.npl` files ([`crate::workspace`]), open or not.
    indexed: Arc<BTreeMap<Url, Document>>,
    /// The client's root folders.
    roots: Vec<PathBuf>,
    config: Arc<Config>,
    /// Bumped by every change; a diagnostics run publishes only if no change
    /// came after the snapshot it worked on.
    revision: u64,
}

impl Default for Session {
    fn default() -> Session {
        Session {
            db: Database::default(),
            docs: Arc::new(BTreeMap::new()),
            indexed: Arc::new(BTreeMap::new()),
            roots: Vec::new(),
            config: Arc::new(Config::default()),
            revision: 0,
        }
    }
}

impl Session {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            db: self.db.clone(),
            docs: self.docs.clone(),
            indexed: self.indexed.clone(),
            config: self.config.clone(),
            revision: self.revision,
        }
    }

    pub fn set_roots(&mut self, roots: Vec<PathBuf>) {
        self.roots = roots;
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Workspace folders came and went: the removed ones leave the index
    /// (their files stay loaded for the programs that import them); the
    /// caller scans the added ones and [`Session::index`]es them.
    pub fn change_roots(&mut self, added: &[PathBuf], removed: &[PathBuf]) {
        self.revision += 1;
        self.roots.retain(|r| !removed.contains(r));
        for root in added {
            if !self.roots.contains(root) {
                self.roots.push(root.clone());
            }
        }
        let roots = self.roots.clone();
        Arc::make_mut(&mut self.indexed).retain(|uri, _| crate::workspace::in_roots(&roots, uri));
    }

    /// Adds the workspace's files (read by [`crate::workspace::scan`]) to
    /// the index; an open document keeps its buffer's text.
    pub fn index(&mut self, files: Vec<(PathBuf, String)>) {
        self.revision += 1;
        let mut new_file = false;
        for (path, text) in files {
            let Ok(uri) = Url::from_file_path(&path) else {
                continue;
            };
            let path = path.to_string_lossy().into_owned();
            new_file |= self.db.file(&path).is_none();
            let file = match self.docs.get(&uri) {
                Some(doc) => doc.file,
                None => self.db.set_file(&path, text),
            };
            self.add_indexed(uri, file);
        }
        if new_file {
            self.reload_imports();
        }
    }

    fn add_indexed(&mut self, uri: Url, file: SourceFile) {
        if self.indexed.get(&uri).is_some_and(|d| d.file == file) {
            return;
        }
        let program = match self.docs.get(&uri) {
            Some(doc) if doc.file == file => doc.program,
            _ => Program::new(&self.db, vec![file]),
        };
        Arc::make_mut(&mut self.indexed).insert(
            uri,
            Document {
                file,
                program,
                version: 0,
                std: false,
            },
        );
    }

    /// How many workspace files are indexed.
    pub fn indexed_len(&self) -> usize {
        self.indexed.len()
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn config_mut(&mut self) -> &mut Config {
        self.revision += 1;
        Arc::make_mut(&mut self.config)
    }

    pub fn open(&mut self, uri: Url, text: String, version: i32) {
        self.revision += 1;
        let module = crate::stdlib_files::module(&uri);
        let path = module.clone().unwrap_or_else(|| uri_path(&uri));
        let new_file = self.db.file(&path).is_none();
        let (file, std) = match module {
            Some(module) => match stdlib::source(&module) {
                // The library is embedded: its text is ours, not the editor's.
                Some(source) => (self.db.set_file(&module, source.to_string()), true),
                None => (self.db.set_file(&module, text), true),
            },
            None => (self.db.set_file(&path, text), false),
        };
        if new_file {
            // An import that failed before may find this buffer now.
            self.reload_imports();
        }
        let program = match (self.docs.get(&uri), self.indexed.get(&uri)) {
            (Some(doc), _) | (None, Some(doc)) if doc.file == file => doc.program,
            _ => Program::new(&self.db, vec![file]),
        };
        Arc::make_mut(&mut self.docs).insert(
            uri,
            Document {
                file,
                program,
                version,
                std,
            },
        );
    }

    /// Applies the changes in order: a change without a range replaces the
    /// text, one with a range replaces that range (positions clamped).
    pub fn change(
        &mut self,
        uri: &Url,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) {
        self.revision += 1;
        let Some(doc) = self.docs.get(uri).cloned() else {
            return;
        };
        if doc.std {
            return;
        }
        let mut text = doc.file.text(&self.db).clone();
        for change in changes {
            match change.range {
                None => text = change.text,
                Some(range) => {
                    let (start, end) = LineIndex::new(&text).offsets(range);
                    text.replace_range(start..end, &change.text);
                }
            }
        }
        self.db.set_file(&uri_path(uri), text);
        if let Some(doc) = Arc::make_mut(&mut self.docs).get_mut(uri) {
            doc.version = version;
        }
    }

    /// Closes a document; the file goes back to its saved text on disk, so
    /// the documents that import it see what the disk has.
    pub fn close(&mut self, uri: &Url) {
        self.revision += 1;
        let Some(doc) = Arc::make_mut(&mut self.docs).remove(uri) else {
            return;
        };
        if !doc.std {
            self.reload_from_disk(&uri_path(uri));
        }
    }

    /// A file changed on disk (created, changed or deleted): reload it
    /// unless it is open, and keep the workspace index up to date.
    pub fn file_changed_on_disk(&mut self, uri: &Url) {
        if crate::stdlib_files::module(uri).is_some() {
            return;
        }
        self.revision += 1;
        let path = uri_path(uri);
        let exists = std::path::Path::new(&path).is_file();
        if !exists {
            Arc::make_mut(&mut self.indexed).remove(uri);
            if !self.docs.contains_key(uri) && self.db.forget_file(&path) {
                // Its importers must look at the disk again (and miss it).
                self.reload_imports();
            }
            return;
        }
        if !self.docs.contains_key(uri) {
            self.reload_from_disk(&path);
        }
        if crate::workspace::in_roots(&self.roots, uri) {
            if let Some(file) = self.db.file(&path) {
                self.add_indexed(uri.clone(), file);
            } else if let Some(text) = crate::workspace::read_source(Path::new(&path)) {
                let file = self.db.set_file(&path, text);
                self.add_indexed(uri.clone(), file);
            }
        }
    }

    fn reload_from_disk(&mut self, path: &str) {
        if self.db.file(path).is_none() {
            // A new file: an import that failed before may find it now.
            self.reload_imports();
            return;
        }
        if let Some(text) = crate::workspace::read_source(Path::new(path)) {
            self.db.set_file(path, text);
        }
    }

    /// Makes every open program load its imports again. Which file an
    /// `import` names is looked up outside salsa (in the database's file
    /// table), so a file that appears (opened, or created on disk) changes
    /// nothing salsa can see; setting the programs' roots again does, and
    /// only name resolution re-runs (parsing and checking stay cached).
    fn reload_imports(&mut self) {
        use salsa::Setter;
        for doc in self.docs.values().chain(self.indexed.values()) {
            let roots = doc.program.roots(&self.db).clone();
            doc.program.set_roots(&mut self.db).to(roots);
        }
    }

    /// The text the server has for a document (for tests and checks).
    pub fn text(&self, uri: &Url) -> Option<String> {
        let doc = self.docs.get(uri)?;
        Some(doc.file.text(&self.db).clone())
    }
}

/// A read-only view of the session for one request or diagnostics run.
/// Lives on one blocking thread and is dropped there, never across an `.await`.
pub struct Snapshot {
    pub db: Database,
    pub docs: Arc<BTreeMap<Url, Document>>,
    pub indexed: Arc<BTreeMap<Url, Document>>,
    pub config: Arc<Config>,
    pub revision: u64,
}

impl Snapshot {
    pub fn doc(&self, uri: &Url) -> Option<&Document> {
        self.docs.get(uri)
    }

    /// Every open document's program, then those of the workspace's other
    /// files: what references, rename and workspace symbols search.
    pub fn programs(&self) -> Vec<Program> {
        let mut programs: Vec<Program> = self.docs.values().map(|d| d.program).collect();
        programs.extend(
            self.indexed
                .iter()
                .filter(|(uri, _)| !self.docs.contains_key(*uri))
                .map(|(_, d)| d.program),
        );
        programs
    }

    pub fn text(&self, file: SourceFile) -> &str {
        file.text(&self.db)
    }

    /// The line index of a file, computed once per text (a tracked query):
    /// converting every span of a request costs a binary search each, not
    /// a pass over the file.
    pub fn index(&self, file: SourceFile) -> LineIndex<'_> {
        let starts = nplc_compiler::db::line_index(&self.db, file).starts();
        LineIndex::with_line_starts(self.text(file), starts)
    }

    pub fn offset(&self, file: SourceFile, position: Position) -> usize {
        self.index(file).offset(position)
    }

    pub fn range(&self, span: Span) -> Range {
        self.index(span.file)
            .range(span.start as usize, span.end as usize)
    }

    /// The URI of a file: the open document's, the cached copy of the
    /// standard library's module ([`crate::stdlib_files`]), `file:` for the rest.
    pub fn uri(&self, file: SourceFile) -> Option<Url> {
        if let Some((uri, _)) = self.docs.iter().find(|(_, d)| d.file == file) {
            return Some(uri.clone());
        }
        let path = file.path(&self.db);
        if stdlib::is_std_path(path) {
            return crate::stdlib_files::uri(path);
        }
        let path = PathBuf::from(path);
        let absolute = if path.is_absolute() {
            path
        } else {
            std::env::current_dir().ok()?.join(path)
        };
        Url::from_file_path(absolute).ok()
    }

    pub fn location(&self, span: Span) -> Option<Location> {
        Some(Location::new(self.uri(span.file)?, self.range(span)))
    }
}

/// The path a document is registered under: the file path for `file:` URIs,
/// the URI itself for others (`untitled:` buffers).
pub fn uri_path(uri: &Url) -> String {
    if uri.scheme() == "file" {
        if let Ok(path) = uri.to_file_path() {
            return path.to_string_lossy().into_owned();
        }
    }
    uri.as_str().to_string()
}
