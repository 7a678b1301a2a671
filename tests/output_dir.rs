//! `nplc build -o DIR` re-building into its own output: the result is the
//! same tree as a fresh build, files whose content did not change keep
//! their inode (they are hard-linked from the directory being replaced),
//! and a failing build leaves the directory as it was.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A file's content and inode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct File {
    content: String,
    inode: u64,
}

/// Every file under `dir` (relative, `/`-separated).
fn tree(dir: &Path) -> BTreeMap<String, File> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, File>) {
        for entry in std::fs::read_dir(dir).expect("a directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("inside");
                let meta = std::fs::symlink_metadata(&path).expect("metadata");
                assert!(meta.is_file(), "{} is not a regular file", path.display());
                out.insert(
                    rel.to_string_lossy().into_owned(),
                    File {
                        content: std::fs::read_to_string(&path).expect("a text file"),
                        inode: meta.ino(),
                    },
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn contents(tree: &BTreeMap<String, File>) -> BTreeMap<&str, &str> {
    tree.iter()
        .map(|(rel, f)| (rel.as_str(), f.content.as_str()))
        .collect()
}

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nplc-outdir-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a temporary directory");
    dir
}

/// `nplc build` in `cwd`: exit status and standard error.
fn nplc(cwd: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nplc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("nplc runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn build(cwd: &Path, targets: &[&str], out: &str) {
    let mut args = vec!["build", "policy.npl", "-o", out];
    for t in targets {
        args.extend(["-t", t]);
    }
    let (code, stderr) = nplc(cwd, &args);
    assert_eq!(code, 0, "{stderr}");
}

const PROGRAM: &str = "\
zone web { namespace \"shop\"; pods app = \"web\" }
zone api { namespace \"shop\"; pods app = \"api\" }
zone db { namespace \"data\"; pods app = \"db\" }
zone jobs { namespace \"batch\"; pods app = \"jobs\" }
allow web -> api : 8080
allow api -> db : 5432
allow jobs -> db : 5432
";

/// The program with one rule edited: only the policies holding it change.
fn edited() -> String {
    PROGRAM.replace("allow web -> api : 8080", "allow web -> api : 8081")
}

#[test]
fn a_rebuild_is_a_fresh_build_and_keeps_the_inodes_of_unchanged_files() {
    for targets in [
        &["cilium"][..],
        &["calico"],
        &["cilium", "calico", "kubernetes"],
    ] {
        let dir = temp_dir(&format!("rebuild-{}", targets.join("-")));
        std::fs::write(dir.join("policy.npl"), PROGRAM).expect("writing");
        build(&dir, targets, "deploy");
        let first = tree(&dir.join("deploy"));
        assert!(first.len() > 3, "{first:?}");

        // The same program again: every file is the one already there.
        build(&dir, targets, "deploy");
        assert_eq!(tree(&dir.join("deploy")), first, "{targets:?}");

        std::fs::write(dir.join("policy.npl"), edited()).expect("writing");
        build(&dir, targets, "deploy");
        build(&dir, targets, "fresh");
        let rebuilt = tree(&dir.join("deploy"));
        let fresh = tree(&dir.join("fresh"));
        assert_eq!(contents(&rebuilt), contents(&fresh), "{targets:?}");
        let (mut kept, mut changed) = (0, 0);
        for (rel, file) in &rebuilt {
            match first.get(rel) {
                Some(before) if before.content == file.content => {
                    assert_eq!(before.inode, file.inode, "{rel} was written again");
                    kept += 1;
                }
                Some(before) => {
                    assert_ne!(before.inode, file.inode, "{rel} was changed in place");
                    changed += 1;
                }
                None => changed += 1,
            }
        }
        assert!(
            kept > 0 && changed > 0,
            "{targets:?}: {kept} kept, {changed} changed"
        );
        // Nothing is left next to the directory.
        let siblings: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(siblings.len(), 3, "{siblings:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn files_edited_or_replaced_by_hand_are_written_again() {
    let dir = temp_dir("by-hand");
    std::fs::write(dir.join("policy.npl"), PROGRAM).expect("writing");
    build(&dir, &["cilium"], "deploy");
    let first = tree(&dir.join("deploy"));
    let mut names = first
        .iter()
        .filter(|(rel, file)| rel.contains("policy.") && file.content.contains("ingress:"))
        .map(|(rel, _)| rel);
    let (edited, linked) = (
        names.next().expect("a policy").clone(),
        names.next().expect("another policy").clone(),
    );
    let deploy = dir.join("deploy");
    // Same length, other bytes: the comparison reads the content.
    let content = &first[&edited].content;
    let flipped = content.replacen("ingress", "ingresS", 1);
    assert_eq!(flipped.len(), content.len());
    std::fs::write(deploy.join(&edited), flipped).expect("writing");
    // A symbolic link to a file with the right content: not kept as a link.
    let elsewhere = dir.join("elsewhere.yaml");
    std::fs::write(&elsewhere, &first[&linked].content).expect("writing");
    std::fs::remove_file(deploy.join(&linked)).expect("removing");
    std::os::unix::fs::symlink(&elsewhere, deploy.join(&linked)).expect("linking");
    let (code, _) = nplc(
        &dir,
        &[
            "build",
            "policy.npl",
            "-t",
            "cilium",
            "-o",
            "deploy",
            "--check",
        ],
    );
    assert_eq!(code, 1, "--check reports the edit");

    build(&dir, &["cilium"], "deploy");
    let rebuilt = tree(&deploy);
    assert_eq!(contents(&rebuilt), contents(&first));
    assert_ne!(rebuilt[&edited].inode, first[&edited].inode);
    let (code, stderr) = nplc(
        &dir,
        &[
            "build",
            "policy.npl",
            "-t",
            "cilium",
            "-o",
            "deploy",
            "--check",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&elsewhere).expect("reading"),
        first[&linked].content,
        "the file behind the link is untouched"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_build_leaves_the_directory_as_it_was() {
    let dir = temp_dir("failing");
    std::fs::write(dir.join("policy.npl"), PROGRAM).expect("writing");
    build(&dir, &["cilium"], "deploy");
    let before = tree(&dir.join("deploy"));
    std::fs::write(
        dir.join("policy.npl"),
        format!("{}allow web -> : 80\n", edited()),
    )
    .expect("writing");
    let (code, _) = nplc(
        &dir,
        &["build", "policy.npl", "-t", "cilium", "-o", "deploy"],
    );
    assert_eq!(code, 1);
    assert_eq!(tree(&dir.join("deploy")), before, "contents and inodes");
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
