//! Turning command-line paths into source files: files as given, directories
//! searched recursively for `*.npl`, `-` for standard input.

use std::io::Read;
use std::path::{Path, PathBuf};

use nplc_compiler::source::{self, BadText};
use nplc_compiler::{Database, Diagnostic, Program, SourceFile};

/// Why paths could not be loaded.
pub enum LoadError {
    /// A path is missing or unreadable: misuse of the command line (exit 2).
    Misuse(String),
    /// Files were read but are not source text (too large, not UTF-8): errors
    /// in the input (exit 1), reported as diagnostics.
    BadFiles(Vec<BadFile>),
}

/// A file whose bytes are not a source text.
pub struct BadFile {
    pub name: String,
    pub bad: BadText,
}

impl BadFile {
    /// Registers what can be shown of the file and returns its E0106/E0107.
    pub fn diagnostic(&self, db: &mut Database) -> (SourceFile, Diagnostic) {
        let file = db.set_file(&self.name, self.bad.shown_text());
        (file, self.bad.diagnostic(file, &self.name))
    }
}

impl From<String> for LoadError {
    fn from(message: String) -> LoadError {
        LoadError::Misuse(message)
    }
}

/// Loads every path into the database and returns the program of them all.
pub fn load(db: &mut Database, paths: &[PathBuf]) -> Result<Program, LoadError> {
    let paths: Vec<PathBuf> = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut roots: Vec<SourceFile> = Vec::new();
    let mut bad_files = Vec::new();
    for path in &paths {
        match read_path(path) {
            Ok(found) => {
                for (name, text) in found {
                    let file = db.set_file(&name, text);
                    if !roots.contains(&file) {
                        roots.push(file);
                    }
                }
            }
            Err(LoadError::BadFiles(bad)) => bad_files.extend(bad),
            Err(misuse) => return Err(misuse),
        }
    }
    if !bad_files.is_empty() {
        return Err(LoadError::BadFiles(bad_files));
    }
    Ok(Program::new(db, roots))
}

/// The `(name, text)` of a file, of every `*.npl` file below a directory
/// (sorted), or of standard input (`-`, named `<stdin>`). Every file is read;
/// those that are not source text are returned together as `BadFiles`.
pub fn read_path(path: &Path) -> Result<Vec<(String, String)>, LoadError> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(source::MAX_SOURCE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        let name = "<stdin>".to_string();
        return match source::source_text(bytes) {
            Ok(text) => Ok(vec![(name, text)]),
            Err(bad) => Err(LoadError::BadFiles(vec![BadFile { name, bad }])),
        };
    }
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let files = if meta.is_dir() {
        let mut found = Vec::new();
        collect_npl(path, &mut found)?;
        if found.is_empty() {
            return Err(format!("no `.npl` files in `{}`", path.display()).into());
        }
        found.sort();
        found
    } else {
        vec![path.to_path_buf()]
    };
    let mut texts = Vec::new();
    let mut bad_files = Vec::new();
    for file in &files {
        let name = display(file);
        match source::read_source(file) {
            Ok(Ok(text)) => texts.push((name, text)),
            Ok(Err(bad)) => bad_files.push(BadFile { name, bad }),
            Err(e) => return Err(format!("cannot read `{}`: {e}", file.display()).into()),
        }
    }
    if bad_files.is_empty() {
        Ok(texts)
    } else {
        Err(LoadError::BadFiles(bad_files))
    }
}

/// Paths print as the user wrote them, without a leading `./`.
fn display(path: &Path) -> String {
    let s = path.to_string_lossy();
    s.strip_prefix("./").unwrap_or(&s).to_string()
}

fn collect_npl(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let hidden = name.to_string_lossy().starts_with('.');
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        if kind.is_dir() && !hidden && name != "target" && name != "node_modules" {
            collect_npl(&path, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "npl") {
            out.push(path);
        }
    }
    Ok(())
}
