//! Running the real `nplc` binary and `git` from tests. Include with
//! `#[path = "support/cli.rs"] mod cli;` (it needs none of the generators).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// `nplc ARGS` in `dir`: exit status, standard output, standard error.
pub fn nplc_in(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nplc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("nplc runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `git ARGS` in `dir` with a fixed identity; fails the test when git does.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "ci")
        .env("GIT_AUTHOR_EMAIL", "ci@example.com")
        .env("GIT_COMMITTER_NAME", "ci")
        .env("GIT_COMMITTER_EMAIL", "ci@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
