//! Every emitted document against its schema, in batches (each tool run
//! costs a Python start): kubernetes-validate `--strict` for the
//! NetworkPolicy of the kubernetes target, check-jsonschema with
//! `../shared/schemas` (`tests/support/schemas.rs`) for the CRDs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::harness::Document;
use crate::nca;
use crate::support::schemas::check_files;

/// The Kubernetes versions NetworkPolicy is validated for (as tests/kubernetes.rs).
const K8S_VERSIONS: &[&str] = &["1.33.0", "1.37.0"];

/// Panics with the tools' report when a document does not validate.
pub fn all(documents: &[Document]) {
    if documents.is_empty() {
        return;
    }
    let dir = nca::temp_dir("conformance-validate");
    let mut network_policies: Vec<PathBuf> = Vec::new();
    let mut by_schema: BTreeMap<&'static str, Vec<PathBuf>> = BTreeMap::new();
    for (i, doc) in documents.iter().enumerate() {
        let schema = doc
            .flavour
            .schema(&doc.kind)
            .unwrap_or_else(|e| panic!("{}: {e}", doc.origin));
        let file = dir.join(format!("{i:06}-{}.yaml", doc.flavour.name()));
        let origin = doc.origin.lines().next().unwrap_or_default();
        std::fs::write(&file, format!("# {origin}\n{}", doc.text)).expect("writing a document");
        match schema {
            None => network_policies.push(file),
            Some(schema) => by_schema.entry(schema).or_default().push(file),
        }
    }
    if !network_policies.is_empty() {
        for version in K8S_VERSIONS {
            nca::kubernetes_validate(&network_policies, version);
        }
    }
    check_files(&by_schema);
    let _ = std::fs::remove_dir_all(&dir);
}
