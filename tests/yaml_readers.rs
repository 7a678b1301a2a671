//! Every YAML reader reads nplc's output the same: each golden output
//! (examples/*/expected/**/*.yaml) and the output of a program full of
//! scalars that YAML 1.1 reads otherwise (`on`, `no`, `y`, `0755`, `1_000`,
//! `2001-12-14`, `null`, calico's `22:23`) is read by serde_yaml (YAML 1.2,
//! like Go's sigs.k8s.io/yaml) and by PyYAML's `safe_load_all` (YAML 1.1,
//! from .venv, a dependency of the checkers), and the two readings must be
//! equal.

use std::path::{Path, PathBuf};
use std::process::Command;

use nplc_compiler::emit::{self, yaml, Options, Target};
use nplc_compiler::{Database, Program};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every YAML document of `text` (split at `---` lines) as serde_yaml reads it.
fn serde_reading(text: &str) -> Vec<serde_json::Value> {
    let mut documents = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            documents.push(String::new());
        } else if let Some(last) = documents.last_mut() {
            last.push_str(line);
        }
    }
    documents
        .iter()
        .map(|d| serde_yaml::from_str(d).expect("serde_yaml cannot read the output"))
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect()
}

const PYTHON_READER: &str = r#"
import datetime, json, sys, yaml

def plain(value):
    # What JSON cannot hold is shown with its Python type, so that it differs.
    if isinstance(value, (datetime.date, datetime.datetime)):
        return {"yaml 1.1 read a date": str(value)}
    if isinstance(value, float):
        return {"yaml 1.1 read a float": repr(value)}
    if isinstance(value, dict):
        return {str(k) if isinstance(k, str) else "yaml 1.1 key " + repr(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value

out = {}
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        out[path] = [plain(d) for d in yaml.safe_load_all(f) if d is not None]
json.dump(out, sys.stdout)
"#;

/// Every document of every file as PyYAML reads it, by path.
fn pyyaml_reading(paths: &[PathBuf]) -> serde_json::Map<String, serde_json::Value> {
    let python = root().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `scripts/test` (it creates .venv with the checkers, PyYAML among them)",
        python.display()
    );
    let output = Command::new(python)
        .arg("-c")
        .arg(PYTHON_READER)
        .args(paths)
        .output()
        .expect("cannot run python");
    assert!(
        output.status.success(),
        "PyYAML could not read the output: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the reader prints JSON")
}

/// Both readings of each file are equal.
fn assert_readers_agree(paths: &[PathBuf]) {
    let python = pyyaml_reading(paths);
    let mut differences = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).expect("cannot read a YAML file");
        let ours = serde_json::Value::Array(serde_reading(&text));
        let theirs = python
            .get(path.to_string_lossy().as_ref())
            .cloned()
            .unwrap_or_default();
        if ours != theirs {
            differences.push(format!(
                "{}:\n  serde_yaml: {ours}\n  PyYAML:     {theirs}",
                path.display()
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "YAML 1.1 and 1.2 read differently:\n{}",
        differences.join("\n")
    );
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn golden_outputs_read_the_same_in_yaml_1_1_and_1_2() {
    let mut paths = Vec::new();
    for example in std::fs::read_dir(root().join("examples")).expect("cannot read examples/") {
        let dir = example
            .expect("cannot read examples/")
            .path()
            .join("expected");
        yaml_files(&dir, &mut paths);
    }
    paths.sort();
    assert!(!paths.is_empty(), "no golden outputs found");
    assert_readers_agree(&paths);
}

/// Names, label keys and values, namespaces, port names and ranges that
/// YAML 1.1 reads as booleans, nulls, numbers or dates.
const HOSTILE: &str = r#"
zone on {
  namespace "yes"
  pods app="on", tier="0755", env in ("1_000", "true", "y"), n="NO"
}
zone off {
  namespace "null"
  pods app="2001-12-14", ver="1e3", y="0b101", z="0x1f", w="1.5", v="off"
}
zone y {
  namespace "n"
  pods has on, not has off
}
zone no = on | y
external n = cidr 10.0.0.0/8 except 10.1.0.0/16
external yes = cidr 192.168.0.0/16
tier true {
  deny off -> n : 22-23
}
allow on -> off : 22-23, tcp/yes, udp/on, 1-65535
allow off -> y : 8080, sctp/9-10
allow y -> n : 443
allow no -> yes : 443
allow on -> y : 80
"#;

#[test]
fn hostile_scalars_read_the_same_in_yaml_1_1_and_1_2() {
    let mut database = Database::default();
    let file = database.set_file("hostile.npl", HOSTILE.to_string());
    let program = Program::new(&database, vec![file]);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("yaml_readers");
    std::fs::create_dir_all(&dir).expect("cannot create the output directory");
    let calico_flat = Options {
        calico_flat: true,
        ..Options::default()
    };
    let builds = [
        ("kubernetes", Target::Kubernetes, Options::default()),
        ("cilium", Target::Cilium, Options::default()),
        ("calico", Target::Calico, Options::default()),
        ("calico-flat", Target::Calico, calico_flat),
    ];
    let mut paths = Vec::new();
    for (name, target, options) in builds {
        let resources = match emit::build(&database, program, target, &options) {
            Ok(resources) => resources,
            Err(errors) => {
                let codes: Vec<&str> = errors.iter().map(|d| d.code.as_str()).collect();
                panic!(
                    "{name} refuses the hostile program: {codes:?}: {:?}",
                    errors.iter().map(|d| &d.message).collect::<Vec<_>>()
                );
            }
        };
        assert!(!resources.is_empty(), "{name} wrote nothing");
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, yaml::stream(&resources)).expect("cannot write the output");
        paths.push(path);
    }
    // The hostile scalars are really in the output, quoted.
    let calico = std::fs::read_to_string(&paths[2]).expect("cannot read the calico output");
    assert!(calico.contains("'22:23'"), "{calico}");
    let kubernetes = std::fs::read_to_string(&paths[0]).expect("cannot read the output");
    for quoted in [
        "namespace: 'yes'",
        "namespace: 'null'",
        "app: 'on'",
        "tier: '0755'",
    ] {
        assert!(kubernetes.contains(quoted), "no {quoted} in:\n{kubernetes}");
    }
    let kustomization = dir.join("kustomization.yaml");
    std::fs::write(
        &kustomization,
        yaml::kustomization(&["on.yaml".to_string(), "0755.yaml".to_string()]),
    )
    .expect("cannot write the kustomization");
    paths.push(kustomization);
    assert_readers_agree(&paths);
}
