//! The one module that writes YAML (serde_yaml). Output is deterministic:
//! JSON objects are ordered maps, so keys come out sorted.

use super::Resource;

/// One document.
pub fn document(resource: &Resource) -> String {
    serde_yaml::to_string(&resource.document)
        .unwrap_or_else(|e| format!("# nplc could not serialise this resource: {e}\n"))
}

/// All resources as one stream, `---` between documents.
pub fn stream(resources: &[Resource]) -> String {
    resources
        .iter()
        .map(document)
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A `kustomization.yaml` listing `files`, so `kubectl apply -k`, Argo CD and
/// Flux take the directory as is.
pub fn kustomization(files: &[String]) -> String {
    let value = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "metadata": { "annotations": { "config.kubernetes.io/local-config": "true" } },
        "resources": files,
    });
    serde_yaml::to_string(&value).unwrap_or_default()
}
