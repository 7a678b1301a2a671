//! Turning command-line paths into source files: files as given, directories
//! searched recursively for `*.npl`, `-` for standard input.

use std::io::Read;
use std::path::{Path, PathBuf};

use nplc_compiler::{Database, Program, SourceFile};

/// Loads every path into the database and returns the program of them all.
pub fn load(db: &mut Database, paths: &[PathBuf]) -> Result<Program, String> {
    let paths: Vec<PathBuf> = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut roots: Vec<SourceFile> = Vec::new();
    for path in &paths {
        for (name, text) in read_path(path)? {
            let file = db.set_file(&name, text);
            if !roots.contains(&file) {
                roots.push(file);
            }
        }
    }
    Ok(Program::new(db, roots))
}

/// The `(name, text)` of a file, of every `*.npl` file below a directory
/// (sorted), or of standard input (`-`, named `<stdin>`).
pub fn read_path(path: &Path) -> Result<Vec<(String, String)>, String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(vec![("<stdin>".to_string(), text)]);
    }
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if meta.is_dir() {
        let mut found = Vec::new();
        collect_npl(path, &mut found)?;
        if found.is_empty() {
            return Err(format!("no `.npl` files in `{}`", path.display()));
        }
        found.sort();
        return found.iter().map(|p| read_file(p)).collect();
    }
    Ok(vec![read_file(path)?])
}

fn read_file(path: &Path) -> Result<(String, String), String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("`{}` is not UTF-8 text", path.display()))?;
    Ok((display(path), text))
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
