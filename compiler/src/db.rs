//! The salsa database and its inputs: source texts (`SourceFile`) and the
//! files a command works on (`Program`). A leaf: the tracked functions live
//! next to what they compute (`syntax::parse`, `names::resolve`,
//! `check::source_diagnostics`, `lint::diagnostics`, `ir::lower`, ...). The
//! CLI and the language server drive the same database.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::lines::LineIndex;
use crate::source::{self, BadText};
use crate::stdlib;

/// One source file. `path` is a filesystem path for user files and
/// `std/NAME` for standard-library modules.
#[salsa::input(debug)]
pub struct SourceFile {
    #[returns(ref)]
    pub path: String,
    #[returns(ref)]
    pub text: String,
}

impl SourceFile {
    pub fn is_std(self, db: &dyn Db) -> bool {
        stdlib::is_std_path(self.path(db))
    }
}

/// The files a command or editor works on; their imports are loaded on demand.
#[salsa::input(debug)]
pub struct Program {
    #[returns(ref)]
    pub roots: Vec<SourceFile>,
}

/// Why an `import` could not be loaded. `BadText`: too large, or not UTF-8
/// (docs/limits.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImportError {
    UnknownStd { known: Vec<&'static str> },
    NotFound { path: String },
    Unreadable { path: String, reason: String },
    BadText { path: String, bad: BadText },
}

#[salsa::db]
pub trait Db: salsa::Database {
    /// The file that `import "spec"` in `from` names, loaded on first use.
    fn load_import(&self, from: SourceFile, spec: &str) -> Result<SourceFile, ImportError>;
}

/// The database used by the CLI and the language server.
#[salsa::db]
#[derive(Clone, Default)]
pub struct Database {
    storage: salsa::Storage<Self>,
    /// Every file input created so far, by its key (canonical path or `std/NAME`),
    /// so that a file imported twice is one input.
    files: Arc<Mutex<HashMap<String, SourceFile>>>,
}

#[salsa::db]
impl salsa::Database for Database {}

impl Database {
    /// Registers (or updates) a file's text, e.g. a command-line argument or an
    /// editor buffer. Later imports of the same path see this input.
    pub fn set_file(&mut self, path: &str, text: String) -> SourceFile {
        use salsa::Setter;
        let key = file_key(Path::new(path));
        let existing = self.lock_files().get(&key).copied();
        match existing {
            Some(file) => {
                if file.text(self) != &text {
                    file.set_text(self).to(text);
                }
                file
            }
            None => {
                let file = SourceFile::new(self, path.to_string(), text);
                self.lock_files().insert(key, file);
                file
            }
        }
    }

    /// Forgets the input registered for `path` (a file deleted on disk), so
    /// that the next import of it looks at the disk again. Returns whether
    /// there was one.
    pub fn forget_file(&mut self, path: &str) -> bool {
        let key = file_key(Path::new(path));
        let mut files = self
            .files
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if files.remove(&key).is_some() {
            return true;
        }
        // Deleted: its canonical key can no longer be computed; match the path.
        let before = files.len();
        files.retain(|_, file| file.path(&*self) != path);
        files.len() != before
    }

    /// The input registered for `path`, if any.
    pub fn file(&self, path: &str) -> Option<SourceFile> {
        self.lock_files().get(&file_key(Path::new(path))).copied()
    }

    fn lock_files(&self) -> std::sync::MutexGuard<'_, HashMap<String, SourceFile>> {
        self.files
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn intern(&self, key: String, path: String, text: impl FnOnce() -> String) -> SourceFile {
        if let Some(file) = self.lock_files().get(&key) {
            return *file;
        }
        let file = SourceFile::new(self, path, text());
        *self.lock_files().entry(key).or_insert(file)
    }
}

#[salsa::db]
impl Db for Database {
    fn load_import(&self, from: SourceFile, spec: &str) -> Result<SourceFile, ImportError> {
        if stdlib::is_std_path(spec) {
            let text = stdlib::source(spec).ok_or_else(|| ImportError::UnknownStd {
                known: stdlib::MODULES.iter().map(|(name, _)| *name).collect(),
            })?;
            return Ok(self.intern(spec.to_string(), spec.to_string(), || text.to_string()));
        }
        let target = resolve_relative(from.path(self), spec);
        let key = file_key(&target);
        if let Some(file) = self.lock_files().get(&key) {
            return Ok(*file);
        }
        let display = target.to_string_lossy().into_owned();
        let text = match source::read_source(&target) {
            Ok(Ok(text)) => text,
            Ok(Err(bad)) => return Err(ImportError::BadText { path: display, bad }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(ImportError::NotFound { path: display })
            }
            Err(err) => {
                return Err(ImportError::Unreadable {
                    path: display,
                    reason: err.to_string(),
                })
            }
        };
        Ok(self.intern(key, display, || text))
    }
}

/// `./x.npl` from `dir/main.npl` is `dir/x.npl`; paths stay as the user wrote
/// them (relative stays relative) so that messages read naturally.
fn resolve_relative(from: &str, spec: &str) -> PathBuf {
    let spec = Path::new(spec);
    if spec.is_absolute() {
        return spec.to_path_buf();
    }
    let base = Path::new(from).parent().unwrap_or(Path::new(""));
    normalize(&base.join(spec))
}

/// Removes `.` and folds `x/..` without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The identity of a file: its canonical path when it exists, so that
/// `./a.npl` and `../x/a.npl` are one file.
fn file_key(path: &Path) -> String {
    let as_str = path.to_string_lossy();
    if stdlib::is_std_path(&as_str) {
        return as_str.into_owned();
    }
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| normalize(path))
        .to_string_lossy()
        .into_owned()
}

/// The line index of a file, computed once per text.
#[salsa::tracked(returns(ref))]
pub fn line_index(db: &dyn Db, file: SourceFile) -> LineIndex {
    LineIndex::new(file.text(db))
}
