//! The workspace index: every `.npl` file under the client's root folders,
//! each the root of its own program, so that references, rename and
//! workspace symbols see the files that are not open. Files change on disk
//! through `workspace/didChangeWatchedFiles`, which the server registers for.

use std::path::{Path, PathBuf};

use tower_lsp::lsp_types::{InitializeParams, Url};

/// At most this many files are indexed (a root folder that is a home
/// directory must not stall the server).
pub const MAX_FILES: usize = 10_000;

/// Directories never walked: hidden ones, build outputs, dependencies.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || name == "target" || name == "node_modules"
}

/// The root folders of an `initialize`: the workspace folders, else the
/// root URI, else the root path.
#[allow(deprecated)] // `root_uri` and `root_path` are what older clients send
pub fn roots(params: &InitializeParams) -> Vec<PathBuf> {
    if let Some(folders) = &params.workspace_folders {
        if !folders.is_empty() {
            return folders
                .iter()
                .filter_map(|f| f.uri.to_file_path().ok())
                .collect();
        }
    }
    if let Some(path) = params.root_uri.as_ref().and_then(|u| u.to_file_path().ok()) {
        return vec![path];
    }
    params.root_path.iter().map(PathBuf::from).collect()
}

/// Every `.npl` file under the roots (sorted, at most [`MAX_FILES`]) with
/// its text; files that are not UTF-8 or not readable are skipped.
pub fn scan(roots: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let mut paths = Vec::new();
    for root in roots {
        walk(root, &mut paths);
    }
    paths.sort();
    paths.dedup();
    paths.truncate(MAX_FILES);
    paths
        .into_iter()
        .filter_map(|p| read_source(&p).map(|text| (p, text)))
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    if out.len() >= MAX_FILES {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() && !skipped(&name) {
            walk(&path, out);
        } else if kind.is_file() && is_npl(&path) {
            out.push(path);
        }
    }
}

pub fn is_npl(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "npl")
}

/// Whether a `file:` URI is a `.npl` file under one of the roots.
pub fn in_roots(roots: &[PathBuf], uri: &Url) -> bool {
    let Ok(path) = uri.to_file_path() else {
        return false;
    };
    is_npl(&path) && roots.iter().any(|r| path.starts_with(r))
}

/// A `.npl` file's text as the CLI reads it: bounded (a file past the
/// source limit is not read whole) and only when it is UTF-8; otherwise
/// `None`, and the file stays out of the index until an editor opens it.
pub fn read_source(path: &Path) -> Option<String> {
    nplc_compiler::source::read_source(path).ok()?.ok()
}
