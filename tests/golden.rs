//! The examples' golden outputs: `examples/NAME/expected/TARGET/` is what
//! `nplc build examples/NAME --target TARGET -o DIR` writes (checked with
//! `--check`, so the directory is compared file by file, kustomization and
//! manifest included), and `examples/NAME/expected/TARGET.errors.txt` what
//! the build prints when the target cannot express the example. A target
//! with nothing to write for an example (`istio` without `via`) has neither.
//! The kubernetes build is given the example's inventories, as a user would
//! give them: `--namespaces` from `examples/NAME/inventory/namespaces.yaml`
//! (else `tests/nca/inventories/NAME/namespaces.yaml`),
//! `--apiserver-endpoints examples/NAME/inventory/apiserver.yaml` and the
//! `--cluster-cidr` / `--service-cidr` lines of
//! `examples/NAME/inventory/ranges.txt` (`cluster-cidr 10.244.0.0/16`),
//! each when the file exists.
//!
//! After a deliberate change, `NPLC_BLESS=1 cargo test --test golden`
//! rewrites them; review the diff like any snapshot.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NPLC: &str = env!("CARGO_BIN_EXE_nplc");
const TARGETS: [&str; 4] = ["kubernetes", "cilium", "calico", "istio"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn nplc(args: &[&str]) -> Output {
    Command::new(NPLC)
        .args(args)
        .args(["--color", "never"])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("running nplc")
}

fn examples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The kubernetes build's inventory flags for example `name`.
fn inventory_flags(name: &str) -> Vec<String> {
    let dir = format!("examples/{name}/inventory");
    let mut flags = Vec::new();
    let namespaces = [
        format!("{dir}/namespaces.yaml"),
        format!("tests/nca/inventories/{name}/namespaces.yaml"),
    ]
    .into_iter()
    .find(|f| root().join(f).is_file());
    if let Some(file) = namespaces {
        flags.extend(["--namespaces".to_string(), file]);
    }
    let apiserver = format!("{dir}/apiserver.yaml");
    if root().join(&apiserver).is_file() {
        flags.extend(["--apiserver-endpoints".to_string(), apiserver]);
    }
    if let Ok(text) = std::fs::read_to_string(root().join(&dir).join("ranges.txt")) {
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, cidr) = line
                .split_once(' ')
                .unwrap_or_else(|| panic!("{dir}/ranges.txt: `{line}` is not `KEY CIDR`"));
            assert!(
                key == "cluster-cidr" || key == "service-cidr",
                "{dir}/ranges.txt: `{key}` is neither cluster-cidr nor service-cidr"
            );
            flags.extend([format!("--{key}"), cidr.trim().to_string()]);
        }
    }
    flags
}

fn bless() -> bool {
    std::env::var_os("NPLC_BLESS").is_some()
}

#[test]
fn examples_build_to_their_golden_outputs() {
    let mut problems = Vec::new();
    for name in examples() {
        let example = format!("examples/{name}");
        let expected = root().join(&example).join("expected");
        for target in TARGETS {
            let dir: PathBuf = expected.join(target);
            let errors_file = expected.join(format!("{target}.errors.txt"));
            let dir_arg = format!("{example}/expected/{target}");
            let inventory = if target == "kubernetes" {
                inventory_flags(&name)
            } else {
                Vec::new()
            };
            let mut args = vec!["build", example.as_str(), "--target", target];
            args.extend(inventory.iter().map(String::as_str));
            let stream = nplc(&args);
            let build_to = |extra: &[&str]| nplc(&[&args[..], &["-o", &dir_arg], extra].concat());
            match stream.status.code() {
                Some(0) if stream.stdout.is_empty() => {
                    if bless() {
                        let _ = std::fs::remove_dir_all(&dir);
                        let _ = std::fs::remove_file(&errors_file);
                    } else if dir.exists() || errors_file.exists() {
                        problems.push(format!(
                            "{example} has nothing for {target}: delete {dir_arg}(.errors.txt)"
                        ));
                    }
                }
                Some(0) if bless() => {
                    let _ = std::fs::remove_file(&errors_file);
                    let wrote = build_to(&[]);
                    assert!(wrote.status.success(), "{example} {target}: {wrote:?}");
                }
                Some(0) => {
                    let checked = build_to(&["--check"]);
                    if !checked.status.success() {
                        problems.push(format!(
                            "{example} --target {target} differs from {dir_arg}:\n{}",
                            String::from_utf8_lossy(&checked.stderr)
                        ));
                    }
                    if errors_file.exists() {
                        problems.push(format!(
                            "{example} now builds for {target}: delete {}",
                            errors_file.display()
                        ));
                    }
                }
                Some(1) => {
                    let printed = String::from_utf8_lossy(&stream.stderr).into_owned();
                    assert!(
                        stream.stdout.is_empty(),
                        "{example} {target}: output on errors"
                    );
                    if bless() {
                        let _ = std::fs::remove_dir_all(&dir);
                        std::fs::create_dir_all(&expected).expect("a directory");
                        std::fs::write(&errors_file, &printed).expect("writing");
                        continue;
                    }
                    let want = std::fs::read_to_string(&errors_file).unwrap_or_default();
                    if want != printed {
                        problems.push(format!(
                            "{example} --target {target} fails, and not as {} says:\n{printed}",
                            errors_file.display()
                        ));
                    }
                    if dir.exists() {
                        problems.push(format!(
                            "{example} no longer builds for {target}: delete {}",
                            dir.display()
                        ));
                    }
                }
                _ => panic!("{example} --target {target}: {stream:?}"),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\n(after a deliberate change: NPLC_BLESS=1 cargo test --test golden)",
        problems.join("\n\n")
    );
}
