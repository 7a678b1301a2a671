//! `nplc build -o DIR`: the output directory. The new output is staged next
//! to DIR and swapped in whole, so DIR holds one complete build at every
//! moment. A file whose content is the same as in the DIR being replaced is
//! hard-linked from it instead of written (compared and linked on every
//! core), so a re-build creates (and later frees) inodes only for the files
//! that changed: creating files is most of the cost of `-o`.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

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

/// A file below an output directory: its path (relative, `/`-separated) and
/// whether it is a regular file (not a symbolic link or something else).
struct Existing {
    rel: String,
    regular: bool,
}

/// Files below `dir`, sorted by path, the manifest excluded.
fn existing_files(dir: &Path) -> Result<Vec<Existing>, String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<Existing>) -> Result<(), String> {
        let entries =
            fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
            let path = entry.path();
            // The entry's type comes with the listing; only a symbolic link
            // needs a `stat` to know whether it leads to a directory.
            let file_type = entry.file_type().ok();
            let is_dir = match file_type {
                Some(t) if !t.is_symlink() => t.is_dir(),
                _ => path.is_dir(),
            };
            if is_dir {
                walk(root, &path, out)?;
            } else if let Ok(rel) = path.strip_prefix(root) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                if rel != MANIFEST {
                    let regular = file_type.is_some_and(|t| t.is_file());
                    out.push(Existing { rel, regular });
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// Refuses a directory holding files nplc did not write. Otherwise the
/// regular files of `dir` (whose content can be kept), or `None` when there
/// is no `dir`.
fn check_ownership(dir: &Path) -> Result<Option<HashSet<String>>, String> {
    if !dir.exists() {
        return Ok(None);
    }
    if !dir.is_dir() {
        return Err(format!("`{}` exists and is not a directory", dir.display()));
    }
    let present = existing_files(dir)?;
    let manifest = fs::read_to_string(dir.join(MANIFEST)).unwrap_or_default();
    let owned: HashSet<&str> = manifest.lines().collect();
    let foreign: Vec<&str> = present
        .iter()
        .map(|f| f.rel.as_str())
        .filter(|rel| !owned.contains(rel))
        .collect();
    if foreign.is_empty() {
        return Ok(Some(
            present
                .into_iter()
                .filter(|f| f.regular)
                .map(|f| f.rel)
                .collect(),
        ));
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
    let previous = check_ownership(dir)?;
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
    let previous = previous.map(|regular| Previous { dir, regular });
    let result =
        stage(&staging, &files, previous.as_ref()).and_then(|()| swap(dir, &staging, &old));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

/// The output directory being replaced and its regular files.
struct Previous<'a> {
    dir: &'a Path,
    regular: HashSet<String>,
}

/// Writes `files` and the manifest into `staging`; a file whose content is
/// the same in `previous` is hard-linked from there.
fn stage(staging: &Path, files: &[OutputFile], previous: Option<&Previous>) -> Result<(), String> {
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
    // Unchanged files are compared and linked on every core: reading, and
    // links, which allocate no inode. The others are written in turn:
    // creating files from two threads took 1.5-2.5 times as long, with 2-3
    // times the system time (docs/performance.md).
    let kept: Vec<bool> = match previous {
        Some(p) => files
            .par_iter()
            .map(|f| {
                p.regular.contains(&f.rel)
                    && keep(&p.dir.join(&f.rel), &staging.join(&f.rel), &f.content)
            })
            .collect(),
        None => Vec::new(),
    };
    for (i, file) in files.iter().enumerate() {
        if kept.get(i) != Some(&true) {
            let path = staging.join(&file.rel);
            fs::write(&path, &file.content).map_err(|e| fail(&path, e))?;
        }
    }
    let manifest: String = files.iter().map(|f| format!("{}\n", f.rel)).collect();
    let path = staging.join(MANIFEST);
    let old = previous
        .map(|p| p.dir.join(MANIFEST))
        .filter(|m| fs::symlink_metadata(m).is_ok_and(|m| m.is_file()));
    if old.is_some_and(|old| keep(&old, &path, &manifest)) {
        return Ok(());
    }
    fs::write(&path, manifest).map_err(|e| fail(&path, e))
}

/// Hard-links `old` to `new` when it holds exactly `content`. False when
/// it does not, or linking fails (another file system, permissions): the
/// caller writes the file then.
fn keep(old: &Path, new: &Path, content: &str) -> bool {
    same_content(old, content.as_bytes()) && fs::hard_link(old, new).is_ok()
}

/// Whether the file at `path` holds exactly `content`: its length first,
/// then its bytes.
fn same_content(path: &Path, content: &[u8]) -> bool {
    use std::io::Read as _;
    let Ok(mut file) = fs::File::open(path) else {
        return false;
    };
    if !file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() == content.len() as u64)
    {
        return false;
    }
    let mut bytes = vec![0; content.len()];
    file.read_exact(&mut bytes).is_ok() && bytes == content
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
        .filter_map(|f| {
            let path = dir.join(&f.rel);
            if same_content(&path, f.content.as_bytes()) {
                None
            } else if path.is_file() {
                Some(format!("  changed  {}", f.rel))
            } else {
                Some(format!("  missing  {}", f.rel))
            }
        })
        .collect();
    let expected: HashSet<&str> = files.iter().map(|f| f.rel.as_str()).collect();
    for f in &present {
        if !expected.contains(f.rel.as_str()) {
            drift.push(format!("  extra    {}", f.rel));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(kind: &str, name: &str, document: &str) -> Resource {
        Resource {
            api_version: "v1".to_string(),
            kind: kind.to_string(),
            namespace: None,
            name: name.to_string(),
            document: document.to_string(),
        }
    }

    fn listing(dir: &Path) -> Vec<(String, String, u64)> {
        use std::os::unix::fs::MetadataExt as _;
        let mut out: Vec<(String, String, u64)> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                let meta = fs::symlink_metadata(e.path()).unwrap();
                let content = fs::read_to_string(e.path()).unwrap_or_default();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    content,
                    meta.ino(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// A file that cannot be written half-way through (its path is taken
    /// by a directory another file needs): the first such file in path
    /// order is named, nothing is left next to the directory, and the
    /// directory keeps its files and their inodes.
    #[test]
    fn a_write_error_leaves_the_old_directory_and_names_the_first_file() {
        let parent = std::env::temp_dir().join(format!("nplc-stage-{}", std::process::id()));
        let _ = fs::remove_dir_all(&parent);
        fs::create_dir_all(&parent).unwrap();
        let dir = parent.join("deploy");
        let good: Vec<Resource> = (0..200)
            .map(|i| resource("Policy", &format!("p{i:03}"), &format!("n: {i}\n")))
            .collect();
        write_dir(&dir, vec![(Target::Cilium, good.clone())]).unwrap();
        let before = listing(&dir);
        for _ in 0..5 {
            let mut bad = good.clone();
            bad[7].document = "changed\n".to_string();
            // `policy.p050.yaml` and `policy.p150.yaml` are both a file and
            // the directory of another file.
            bad.push(resource("Policy", "p050.yaml/x", "x\n"));
            bad.push(resource("Policy", "p150.yaml/x", "x\n"));
            let err = write_dir(&dir, vec![(Target::Cilium, bad)]).unwrap_err();
            assert!(err.contains("policy.p050.yaml`"), "{err}");
            assert_eq!(listing(&dir), before);
            assert_eq!(fs::read_dir(&parent).unwrap().count(), 1);
        }
        let _ = fs::remove_dir_all(&parent);
    }
}
