//! What pipelines run: the pre-commit hooks (.pre-commit-hooks.yaml) against
//! the shipped examples, the worked GitHub Actions workflow
//! (docs/ci/github-actions.yml) against a git repository of its own, and
//! the Dockerfile's binary stage.
//!
//! The binary stage's own `cargo build --release` and `docker build` are
//! heavy; they run when `NPLC_TEST_IMAGE_BUILD=1` (docker only when a daemon
//! answers). By default the test checks the stage's command and that
//! Cargo.lock satisfies its `--locked`.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/cli.rs"]
mod cli;

use cli::git;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn nplc() -> &'static str {
    env!("CARGO_BIN_EXE_nplc")
}

fn yaml(path: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(root().join(path)).expect("read");
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

fn examples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("main.npl").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn npl_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "npl"))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    files.sort();
    files
}

/// Runs a hook's `entry` (its first word `nplc` replaced by the binary
/// under test) with extra arguments in `dir`.
fn run_entry(entry: &str, args: &[String], dir: &Path) -> (i32, String) {
    let mut words = entry.split_whitespace();
    assert_eq!(words.next(), Some("nplc"), "hook entries run nplc: {entry}");
    let out = Command::new(nplc())
        .args(words)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("nplc runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn hooks_pass_on_the_examples() {
    let hooks = yaml(".pre-commit-hooks.yaml");
    let hooks = hooks.as_sequence().expect("a list of hooks");
    let ids: Vec<&str> = hooks.iter().filter_map(|h| h["id"].as_str()).collect();
    assert_eq!(ids, ["nplc-fmt", "nplc-check", "nplc-build-check"]);
    for hook in hooks {
        let id = hook["id"].as_str().unwrap_or("");
        let entry = hook["entry"].as_str().expect("entry");
        assert_eq!(hook["language"].as_str(), Some("rust"), "{id}");
        let files = regex::Regex::new(hook["files"].as_str().expect("files")).expect("files regex");
        assert!(
            files.is_match("policy/main.npl"),
            "{id} runs on .npl changes"
        );
        let pass_filenames = hook["pass_filenames"].as_bool().unwrap_or(true);
        for dir in examples() {
            let runs: Vec<Vec<String>> = match id {
                "nplc-build-check" => {
                    // As a repository configures it: the program and one
                    // output directory per target (the golden outputs, built
                    // from the repository root as tests/golden.rs builds them).
                    let name = dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let expected = dir.join("expected");
                    let mut targets: Vec<String> = std::fs::read_dir(&expected)
                        .expect("expected")
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.is_dir())
                        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .collect();
                    targets.sort();
                    targets
                        .into_iter()
                        .map(|t| {
                            let mut args = vec![
                                format!("examples/{name}"),
                                "--target".to_string(),
                                t.clone(),
                                "--output".to_string(),
                                format!("examples/{name}/expected/{t}"),
                            ];
                            let namespaces =
                                format!("tests/nca/inventories/{name}/namespaces.yaml");
                            if t == "kubernetes" && root().join(&namespaces).is_file() {
                                args.extend(["--namespaces".to_string(), namespaces]);
                            }
                            args
                        })
                        .collect()
                }
                _ if pass_filenames => vec![npl_files(&dir)],
                _ => vec![Vec::new()],
            };
            let cwd = if id == "nplc-build-check" {
                root()
            } else {
                dir.as_path()
            };
            for args in runs {
                let (code, text) = run_entry(entry, &args, cwd);
                assert_eq!(
                    code,
                    0,
                    "hook {id} fails on {} {args:?}:\n{text}",
                    dir.display()
                );
            }
        }
    }
}

#[test]
fn hooks_fail_on_problems() {
    let dir = temp_dir("hooks");
    std::fs::write(
        dir.join("main.npl"),
        "zone web {namespace \"web\"}\nallow web -> web : 99999\n",
    )
    .expect("write");
    let hooks = yaml(".pre-commit-hooks.yaml");
    let entry = |id: &str| {
        hooks
            .as_sequence()
            .and_then(|l| l.iter().find(|h| h["id"].as_str() == Some(id)))
            .and_then(|h| h["entry"].as_str())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        run_entry(&entry("nplc-fmt"), &["main.npl".to_string()], &dir).0,
        1
    );
    assert_eq!(run_entry(&entry("nplc-check"), &[], &dir).0, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nplc-pipeline-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The workflow's own `run:` scripts that call nplc (not those that install
/// it or talk to GitHub), run in a repository laid out as it expects, with
/// `nplc` on the PATH.
#[test]
fn github_workflow_runs_on_a_policy_repository() {
    let workflow = yaml("docs/ci/github-actions.yml");
    let steps = workflow["jobs"]["nplc"]["steps"]
        .as_sequence()
        .expect("steps");
    let dir = temp_dir("workflow");
    let bin = dir.join(".bin");
    std::fs::create_dir_all(&bin).expect("bin");
    #[cfg(unix)]
    std::os::unix::fs::symlink(nplc(), bin.join("nplc")).expect("symlink");
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("policy")).expect("policy");
    let main =
        std::fs::read_to_string(root().join("examples/three-tier/main.npl")).expect("example");
    std::fs::write(repo.join("policy/main.npl"), &main).expect("write");
    let build = |repo: &Path| {
        let out = Command::new(nplc())
            .args([
                "build",
                "policy/",
                "--target",
                "cilium",
                "--output",
                "deploy/netpol",
            ])
            .current_dir(repo)
            .output()
            .expect("nplc build");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    build(&repo);
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "base"]);
    git(&repo, &["checkout", "-qb", "change"]);
    // The change: the frontend may reach the backend's metrics port.
    std::fs::write(
        repo.join("policy/main.npl"),
        format!("{main}\nallow frontend -> backend : 9090\n"),
    )
    .expect("write");
    build(&repo);
    git(
        &repo,
        &["commit", "-qam", "frontend reaches the backend on 9090"],
    );

    let output = dir.join("github_output");
    std::fs::write(&output, "").expect("output file");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = Vec::new();
    for step in steps {
        let Some(script) = step["run"].as_str() else {
            continue;
        };
        if !script.contains("nplc ") || script.contains("docker") || script.contains("gh pr") {
            continue;
        }
        let name = step["name"].as_str().unwrap_or("").to_string();
        let out = Command::new("sh")
            .args(["-e", "-c", script])
            .current_dir(&repo)
            .env("PATH", &path)
            .env("BASE", "main")
            .env("GITHUB_OUTPUT", &output)
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "step `{name}` fails:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran.push(name);
    }
    assert_eq!(
        ran,
        [
            "Format",
            "Check",
            "No drift between policy/ and deploy/netpol",
            "What the change opens and closes"
        ]
    );
    let outputs = std::fs::read_to_string(&output).expect("outputs");
    assert!(outputs.contains("opens=true"), "{outputs}");
    let comment = std::fs::read_to_string(repo.join("nplc-diff.md")).expect("comment");
    assert!(
        comment.contains("#### Opened") && comment.contains("allow frontend -> backend : 9090"),
        "{comment}"
    );
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("nplc.sarif")).expect("sarif"))
            .expect("SARIF JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Dockerfile's binary stage builds nplc with `cargo build --release
/// --locked --bin nplc`; the lock file must satisfy `--locked`.
#[test]
fn dockerfile_binary_stage() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let command = text
        .lines()
        .find_map(|l| l.strip_prefix("RUN cargo build"))
        .map(|rest| format!("cargo build{rest}"))
        .expect("a `RUN cargo build` line");
    assert_eq!(command, "cargo build --release --locked --bin nplc");
    assert!(
        text.contains("FROM scratch AS static"),
        "the default image is the binary alone"
    );
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).expect(".dockerignore");
    assert!(
        ignore.lines().any(|l| l == "target/"),
        "the build context leaves target/ out"
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(&cargo)
        .args([
            "metadata",
            "--locked",
            "--offline",
            "--format-version",
            "1",
            "--no-deps",
        ])
        .current_dir(root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "Cargo.lock does not satisfy --locked: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if std::env::var("NPLC_TEST_IMAGE_BUILD").as_deref() != Ok("1") {
        return;
    }
    let target = root().join("target/image-stage");
    let mut words = command.split_whitespace();
    let out = Command::new(&cargo)
        .args(words.by_ref().skip(1))
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = target.join("release/nplc");
    let version = Command::new(&built)
        .arg("--version")
        .output()
        .expect("the built nplc runs");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("nplc "));
    let daemon = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if daemon {
        let out = Command::new("docker")
            .args(["build", "--target", "static", "-t", "nplc:test", "."])
            .current_dir(root())
            .output()
            .expect("docker runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
