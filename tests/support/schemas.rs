//! Validating emitted documents against the CRD schemas of the design
//! (`../shared/schemas`, beside the repository) with `check-jsonschema` from
//! `.venv`. A missing tool or schema directory fails loudly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use nplc_compiler::emit::Resource;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/schemas`, or a loud failure.
pub fn shared_schemas() -> PathBuf {
    let path = root().join("../shared/schemas");
    assert!(
        path.is_dir(),
        "{} is missing: the schema checks need the shared CRD schemas beside the repository",
        path.display()
    );
    path
}

/// `.venv/bin/check-jsonschema`, or a loud failure.
pub fn check_jsonschema() -> PathBuf {
    let path = root().join(".venv/bin/check-jsonschema");
    assert!(
        path.is_file(),
        "{} is missing: the emitted documents are validated with check-jsonschema. \
         Run `scripts/test` (it creates .venv and installs the pinned tools of scripts/requirements.txt) \
         instead of `cargo test`.",
        path.display()
    );
    path
}

/// Validates every document (`origin` names where it came from) against the
/// schema `schema_of` gives for its kind, a path below `../shared/schemas`;
/// also checks the managed-by label and the source annotation. Panics with
/// check-jsonschema's report.
pub fn validate(
    resources: &[(String, Resource)],
    schema_of: impl Fn(&str) -> Option<&'static str>,
) {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nplc-schemas-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let mut by_schema: BTreeMap<&str, Vec<PathBuf>> = BTreeMap::new();
    for (i, (origin, resource)) in resources.iter().enumerate() {
        let Some(schema) = schema_of(&resource.kind) else {
            panic!("{origin}: no schema for kind {}", resource.kind);
        };
        let document = resource.value();
        let meta = &document["metadata"];
        assert_eq!(
            meta["labels"]["app.kubernetes.io/managed-by"].as_str(),
            Some("nplc"),
            "{origin}: {} lacks the managed-by label",
            resource.name
        );
        assert!(
            meta["annotations"]["nplc.dev/source"]
                .as_str()
                .is_some_and(|s| s.contains(':')),
            "{origin}: {} lacks the source annotation",
            resource.name
        );
        let file = dir.join(format!("{i:05}-{}.yaml", resource.name));
        let text = format!("# {origin}\n{}", resource.document);
        std::fs::write(&file, text).expect("writing a document");
        by_schema.entry(schema).or_default().push(file);
    }
    check_files(&by_schema);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs check-jsonschema on files grouped by schema (a path below
/// `../shared/schemas`), 400 files a run; panics with its report.
pub fn check_files(by_schema: &BTreeMap<&str, Vec<PathBuf>>) {
    let tool = check_jsonschema();
    for (schema, files) in by_schema {
        let schema_path = shared_schemas().join(schema);
        assert!(
            schema_path.is_file(),
            "{} is missing",
            schema_path.display()
        );
        for chunk in files.chunks(400) {
            let output = Command::new(&tool)
                .arg("--regex-variant")
                .arg("nonunicode")
                .arg("--schemafile")
                .arg(&schema_path)
                .args(chunk)
                .output()
                .expect("running check-jsonschema");
            assert!(
                output.status.success(),
                "documents do not validate against {schema}:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

/// [`validate`] for resources of one origin.
pub fn validate_from(
    origin: &str,
    resources: &[Resource],
    schema_of: impl Fn(&str) -> Option<&'static str>,
) {
    let documents: Vec<(String, Resource)> = resources
        .iter()
        .map(|r| (origin.to_string(), r.clone()))
        .collect();
    validate(&documents, schema_of);
}
