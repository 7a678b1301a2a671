//! `nplc build -o DIR`: the output directory. The new output is staged next
//! to DIR and swapped in whole, so DIR holds one complete build at every
//! moment. Files are written on every core; a file whose content is the
//! same as in the DIR being replaced is hard-linked from it instead of
//! written, so a re-build creates (and later frees) inodes only for the
//! files that changed — creating files is most of the cost of `-o`.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nplc_compiler::emit::{yaml, Resource, Target};
use rayon::prelude::*;

use crate::report::Outcome;

/// The file in an output directory that lists what nplc wrote there.
const MANIFEST: &str = ".nplc-manifest";

/// A file of the output directory: its path relative to the directory
/// (`/`-separated) and its content.
struct OutputFile {
    rel: String,
    content: String,
}

/// Every file of the output directory, sorted by path: one per resource and
/// a kustomization per target (in a subdirectory per target when there are
/// several). A path given twice keeps its last content, as writing the
/// files in turn would.
fn output_files(built: Vec<(Target, Vec<Resource>)>) -> Vec<OutputFile> {
    let several = built.len() > 1;
    let mut files = Vec::with_capacity(built.iter().map(|(_, r)| r.len() + 1).sum());
    for (target, resources) in built {
        let prefix = if several {
            format!("{}/", target.as_str())
        } else {
            String::new()
        };
        let mut names = Vec::with_capacity(resources.len());
        for r in resources {
            let kind = r.kind.to_ascii_lowercase();
            let name = match &r.namespace {
                Some(ns) => format!("{kind}.{ns}.{}.yaml", r.name),
                None => format!("{kind}.{}.yaml", r.name),
            };
            files.push(OutputFile {
                rel: format!("{prefix}{name}"),
                content: r.document,
            });
            names.push(name);
        }
        files.push(OutputFile {
            rel: format!("{prefix}kustomization.yaml"),
            content: yaml::kustomization(&names),
        });
    }
    // Stable: of equal paths the last one stays last, and `dedup_by` hands
    // it over to the first, which is kept.
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    files.dedup_by(|later, kept| {
        let same = later.rel == kept.rel;
        if same {
            std::mem::swap(&mut later.content, &mut kept.content);
        }
        same
    });
    files
}

/// Files below `dir` (relative, `/`-separated), the manifest excluded.
fn existing_files(dir: &Path) -> Result<Vec<String>, String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), String> {
        let entries =
            fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
            let path = entry.path();
            // The entry's type comes with the listing; only a symbolic link
            // needs a `stat` to know whether it leads to a directory.
            let is_dir = match entry.file_type() {
                Ok(t) if t.is_symlink() => path.is_dir(),
                Ok(t) => t.is_dir(),
                Err(_) => path.is_dir(),
            };
            if is_dir {
                walk(root, &path, out)?;
            } else if let Ok(rel) = path.strip_prefix(root) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                if rel != MANIFEST {
                    out.push(rel);
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Refuses a directory holding files nplc did not write. `Ok(true)` when
/// `dir` exists (and is nplc's), so its files can be kept.
fn check_ownership(dir: &Path) -> Result<bool, String> {
    if !dir.exists() {
        return Ok(false);
    }
    if !dir.is_dir() {
        return Err(format!("`{}` exists and is not a directory", dir.display()));
    }
    let present = existing_files(dir)?;
    let manifest = fs::read_to_string(dir.join(MANIFEST)).unwrap_or_default();
    let owned: HashSet<&str> = manifest.lines().collect();
    let foreign: Vec<&String> = present
        .iter()
        .filter(|f| !owned.contains(f.as_str()))
        .collect();
    if foreign.is_empty() {
        return Ok(true);
    }
    let list: Vec<String> = foreign.iter().take(10).map(|f| format!("  {f}")).collect();
    Err(format!(
        "`{}` holds files nplc did not write; refusing to replace it:\n{}\nchoose an empty or new directory, or remove those files",
        dir.display(),
        list.join("\n")
    ))
}

/// Writes the whole directory next to `dir`, then swaps it in. On an error
/// the staged directory is removed and `dir` is left as it was.
pub(crate) fn write_dir(dir: &Path, built: Vec<(Target, Vec<Resource>)>) -> Result<(), String> {
    let had_old = check_ownership(dir)?;
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    let staging = parent.join(format!(".{base}.nplc-new-{}", std::process::id()));
    let old = parent.join(format!(".{base}.nplc-old-{}", std::process::id()));
    let files = output_files(built);
    let previous = had_old.then_some(dir);
    let result = stage(&staging, &files, previous).and_then(|()| swap(dir, &staging, &old));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

/// Writes `files` and the manifest into `staging`; a file whose content is
/// the same in `previous` is hard-linked from there.
fn stage(staging: &Path, files: &[OutputFile], previous: Option<&Path>) -> Result<(), String> {
    let fail = |p: &Path, e: std::io::Error| format!("cannot write `{}`: {e}", p.display());
    // A staging directory left by an earlier run with the same process id
    // may hold links to the current output: writing over them would change
    // it, so it goes first.
    if fs::symlink_metadata(staging).is_ok() {
        fs::remove_dir_all(staging).map_err(|e| fail(staging, e))?;
    }
    fs::create_dir_all(staging).map_err(|e| fail(staging, e))?;
    // One directory per target: created once, before the files.
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|f| staging.join(&f.rel).parent().map(Path::to_path_buf))
        .collect();
    for d in &dirs {
        fs::create_dir_all(d).map_err(|e| fail(d, e))?;
    }
    // The error of the first failing file in path order, whichever core
    // meets it first: files after a known failure are skipped, files before
    // it are still tried.
    let first_failed = AtomicUsize::new(usize::MAX);
    let failure = files
        .par_iter()
        .enumerate()
        .filter_map(|(i, file)| {
            if i > first_failed.load(Ordering::Relaxed) {
                return None;
            }
            let path = staging.join(&file.rel);
            let kept = previous.is_some_and(|p| keep(&p.join(&file.rel), &path, &file.content));
            if kept {
                return None;
            }
            let err = fs::write(&path, &file.content).err()?;
            first_failed.fetch_min(i, Ordering::Relaxed);
            Some((i, fail(&path, err)))
        })
        .min_by_key(|(i, _)| *i);
    if let Some((_, message)) = failure {
        return Err(message);
    }
    let manifest: String = files.iter().map(|f| format!("{}\n", f.rel)).collect();
    let path = staging.join(MANIFEST);
    fs::write(&path, manifest).map_err(|e| fail(&path, e))
}

/// Hard-links `old` to `new` when `old` is a regular file holding exactly
/// `content`; false (the caller writes) when it is not or linking fails
/// (another file system, permissions).
fn keep(old: &Path, new: &Path, content: &str) -> bool {
    let Ok(meta) = fs::symlink_metadata(old) else {
        return false;
    };
    if !meta.is_file() || meta.len() != content.len() as u64 {
        return false;
    }
    fs::read(old).is_ok_and(|bytes| bytes == content.as_bytes()) && fs::hard_link(old, new).is_ok()
}

fn swap(dir: &Path, staging: &Path, old: &Path) -> Result<(), String> {
    let had_old = dir.exists();
    if had_old {
        fs::rename(dir, old).map_err(|e| format!("cannot replace `{}`: {e}", dir.display()))?;
    }
    if let Err(e) = fs::rename(staging, dir) {
        if had_old {
            let _ = fs::rename(old, dir);
        }
        return Err(format!("cannot write `{}`: {e}", dir.display()));
    }
    if had_old {
        let _ = fs::remove_dir_all(old);
    }
    Ok(())
}

/// `--check`: exit 1 and list the files when the directory would change.
pub(crate) fn check_dir(dir: &Path, built: Vec<(Target, Vec<Resource>)>) -> Outcome {
    let present = if dir.is_dir() {
        match existing_files(dir) {
            Ok(f) => f,
            Err(message) => return Outcome::Misuse(message),
        }
    } else {
        Vec::new()
    };
    let files = output_files(built);
    // In path order, as `files` is.
    let mut drift: Vec<String> = files
        .par_iter()
        .filter_map(|f| match fs::read_to_string(dir.join(&f.rel)) {
            Ok(current) if current == f.content => None,
            Ok(_) => Some(format!("  changed  {}", f.rel)),
            Err(_) => Some(format!("  missing  {}", f.rel)),
        })
        .collect();
    let expected: HashSet<&str> = files.iter().map(|f| f.rel.as_str()).collect();
    for rel in &present {
        if !expected.contains(rel.as_str()) {
            drift.push(format!("  extra    {rel}"));
        }
    }
    if drift.is_empty() {
        eprintln!("`{}` is up to date", dir.display());
        Outcome::Clean
    } else {
        eprintln!(
            "`{}` differs from what `nplc build` would write:\n{}",
            dir.display(),
            drift.join("\n")
        );
        Outcome::InputErrors
    }
}
