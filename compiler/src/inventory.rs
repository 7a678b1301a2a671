//! Inventories: the namespaces and pods of a real cluster, read from what
//! `kubectl get ns -o yaml` and `kubectl get pods -A -o yaml` print, as
//! [`eval::Pod`] values the reference evaluator can judge.
//!
//! A file is a `kind: List` (or `NamespaceList`, `PodList`: any object with
//! `items`), a single object, or a multi-document stream of them. Objects of
//! kind `Namespace` and `Pod` are read wherever they appear; an object without
//! `kind` takes the kind its file is for. From a namespace: `metadata.name`
//! and `metadata.labels`. From a pod: `metadata.name`, `metadata.namespace`
//! (`default` when absent), `metadata.labels`, and the named ports of
//! `spec.containers[].ports[]` (`name`, `containerPort`, `protocol`, TCP when
//! absent). Every problem is an [`InventoryError`] naming the file and the
//! object; nothing here panics on input.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_yaml::Value;

use crate::algebra::ports::Protocol;
use crate::eval::{ContainerPort, Pod};

/// One input file: its name (for messages) and its text.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// A pod of the inventory: its name and what the evaluator needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPod {
    pub name: String,
    pub pod: Pod,
}

impl NamedPod {
    /// `namespace/name`, as kubectl and nca write a pod.
    pub fn qualified_name(&self) -> String {
        format!("{}/{}", self.pod.namespace, self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    /// Sorted by name.
    pub namespaces: Vec<Namespace>,
    /// Sorted by namespace, then name.
    pub pods: Vec<NamedPod>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryError {
    /// The file the problem is in.
    pub file: String,
    pub message: String,
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for InventoryError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Namespace,
    Pod,
}

/// Reads the namespaces file and the pods file (they may be the same file)
/// into one inventory.
pub fn load(namespaces: Source<'_>, pods: Source<'_>) -> Result<Inventory, InventoryError> {
    let mut found_namespaces: Vec<(String, Namespace)> = Vec::new();
    let mut found_pods: Vec<(String, RawPod)> = Vec::new();
    for (source, default) in [(namespaces, Kind::Namespace), (pods, Kind::Pod)] {
        let error = |message: String| InventoryError {
            file: source.name.to_string(),
            message,
        };
        for (place, object) in objects(source.text).map_err(error)? {
            match kind(&object, default).map_err(|m| error(format!("{place}: {m}")))? {
                Kind::Namespace => {
                    let ns = namespace(&object).map_err(|m| error(format!("{place}: {m}")))?;
                    found_namespaces.push((source.name.to_string(), ns));
                }
                Kind::Pod => {
                    let pod = raw_pod(&object).map_err(|m| error(format!("{place}: {m}")))?;
                    found_pods.push((source.name.to_string(), pod));
                }
            }
        }
    }
    assemble(found_namespaces, found_pods)
}

/// A pod before its namespace's labels are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawPod {
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    ports: Vec<ContainerPort>,
}

fn assemble(
    namespaces: Vec<(String, Namespace)>,
    pods: Vec<(String, RawPod)>,
) -> Result<Inventory, InventoryError> {
    let mut by_name: BTreeMap<String, Namespace> = BTreeMap::new();
    for (file, ns) in namespaces {
        match by_name.get(&ns.name) {
            Some(existing) if existing != &ns => {
                return Err(InventoryError {
                    file,
                    message: format!(
                        "namespace `{}` is listed twice with different labels",
                        ns.name
                    ),
                })
            }
            Some(_) => {}
            None => {
                by_name.insert(ns.name.clone(), ns);
            }
        }
    }
    let mut out: BTreeMap<(String, String), NamedPod> = BTreeMap::new();
    for (file, raw) in pods {
        let Some(ns) = by_name.get(&raw.namespace) else {
            return Err(InventoryError {
                file,
                message: format!(
                    "pod `{}/{}` is in namespace `{}`, which the namespaces file does not list \
                     (its labels decide which zones the pod is in)",
                    raw.namespace, raw.name, raw.namespace
                ),
            });
        };
        let pod = NamedPod {
            name: raw.name.clone(),
            pod: Pod {
                namespace: raw.namespace.clone(),
                namespace_labels: ns.labels.clone(),
                labels: raw.labels,
                ports: raw.ports,
            },
        };
        let key = (raw.namespace, raw.name);
        match out.get(&key) {
            Some(existing) if existing != &pod => {
                return Err(InventoryError {
                    file,
                    message: format!("pod `{}/{}` is listed twice, differently", key.0, key.1),
                })
            }
            Some(_) => {}
            None => {
                out.insert(key, pod);
            }
        }
    }
    Ok(Inventory {
        namespaces: by_name.into_values().collect(),
        pods: out.into_values().collect(),
    })
}

/// Every object of a YAML stream with where it is (`document 2, items[3]`);
/// `items` of a list are flattened, empty documents skipped.
fn objects(text: &str) -> Result<Vec<(String, Value)>, String> {
    let mut documents = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| format!("not valid YAML: {e}"))?;
        documents.push(value);
    }
    let many = documents.len() > 1;
    let mut out = Vec::new();
    for (d, value) in documents.into_iter().enumerate() {
        let doc_place = if many {
            format!("document {}", d + 1)
        } else {
            String::new()
        };
        let join = |inner: &str| match (doc_place.is_empty(), inner.is_empty()) {
            (true, true) => "the document".to_string(),
            (true, false) => inner.to_string(),
            (false, true) => doc_place.clone(),
            (false, false) => format!("{doc_place}, {inner}"),
        };
        match value {
            Value::Null => {}
            Value::Mapping(ref map) => match map.get("items") {
                Some(Value::Sequence(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        out.push((join(&format!("items[{i}]")), item.clone()));
                    }
                }
                Some(Value::Null) => {}
                Some(other) => {
                    return Err(format!(
                        "{}: `items` should be a list, found {}",
                        join(""),
                        describe(other)
                    ))
                }
                None => out.push((join(""), value.clone())),
            },
            other => {
                return Err(format!(
                    "{}: expected a Kubernetes object or a List, found {}",
                    join(""),
                    describe(&other)
                ))
            }
        }
    }
    Ok(out)
}

fn kind(object: &Value, default: Kind) -> Result<Kind, String> {
    let Value::Mapping(map) = object else {
        return Err(format!(
            "expected a Kubernetes object, found {}",
            describe(object)
        ));
    };
    match map.get("kind") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(k)) if k == "Namespace" => Ok(Kind::Namespace),
        Some(Value::String(k)) if k == "Pod" => Ok(Kind::Pod),
        Some(Value::String(k)) => Err(format!(
            "an object of kind `{k}`; only Namespace and Pod objects (or a List of them) are read"
        )),
        Some(other) => Err(format!(
            "`kind` should be a string, found {}",
            describe(other)
        )),
    }
}

fn namespace(object: &Value) -> Result<Namespace, String> {
    let metadata = field(object, "metadata")?.ok_or("no `metadata`")?;
    Ok(Namespace {
        name: name(metadata)?,
        labels: labels(metadata)?,
    })
}

fn raw_pod(object: &Value) -> Result<RawPod, String> {
    let metadata = field(object, "metadata")?.ok_or("no `metadata`")?;
    let name = name(metadata)?;
    let namespace = match field(metadata, "namespace")? {
        None => "default".to_string(),
        Some(Value::String(ns)) if !ns.is_empty() => ns.clone(),
        Some(other) => {
            return Err(format!(
                "pod `{name}`: `metadata.namespace` should be a namespace name, found {}",
                describe(other)
            ))
        }
    };
    let labels = labels(metadata).map_err(|m| format!("pod `{namespace}/{name}`: {m}"))?;
    let ports = container_ports(object).map_err(|m| format!("pod `{namespace}/{name}`: {m}"))?;
    Ok(RawPod {
        name,
        namespace,
        labels,
        ports,
    })
}

fn name(metadata: &Value) -> Result<String, String> {
    match field(metadata, "name")? {
        Some(Value::String(n)) if !n.is_empty() => Ok(n.clone()),
        None | Some(Value::Null) => Err("no `metadata.name`".to_string()),
        Some(other) => Err(format!(
            "`metadata.name` should be a name, found {}",
            describe(other)
        )),
    }
}

fn labels(metadata: &Value) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let map = match field(metadata, "labels")? {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Mapping(map)) => map,
        Some(other) => {
            return Err(format!(
                "`metadata.labels` should be a map, found {}",
                describe(other)
            ))
        }
    };
    for (key, value) in map {
        let Value::String(key) = key else {
            return Err(format!(
                "a label key should be a string, found {}",
                describe(key)
            ));
        };
        out.insert(
            key.clone(),
            scalar(value).ok_or_else(|| {
                format!(
                    "label `{key}` should have a string value, found {}",
                    describe(value)
                )
            })?,
        );
    }
    Ok(out)
}

/// A label value: strings as they are; numbers and booleans as YAML wrote
/// them (a hand-written `version: 2` means the label value "2").
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn container_ports(pod: &Value) -> Result<Vec<ContainerPort>, String> {
    let Some(spec) = field(pod, "spec")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (c, container) in list(spec, "containers", "spec.containers")?
        .iter()
        .enumerate()
    {
        let place = format!("spec.containers[{c}].ports");
        for (p, port) in list(container, "ports", &place)?.iter().enumerate() {
            let at = format!("{place}[{p}]");
            if let Some(port) = container_port(port).map_err(|m| format!("{at}: {m}"))? {
                out.push(port);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A container port; `None` when it has no name (only names matter to rules).
fn container_port(port: &Value) -> Result<Option<ContainerPort>, String> {
    let number = match field(port, "containerPort")? {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("`containerPort` {n} is not a port (1-65535)"))?,
        None => return Err("no `containerPort`".to_string()),
        Some(other) => {
            return Err(format!(
                "`containerPort` should be a number, found {}",
                describe(other)
            ))
        }
    };
    let protocol = match field(port, "protocol")? {
        None | Some(Value::Null) => Protocol::Tcp,
        Some(Value::String(p)) => match p.to_ascii_uppercase().as_str() {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            _ => return Err(format!("unknown protocol `{p}` (TCP, UDP or SCTP)")),
        },
        Some(other) => {
            return Err(format!(
                "`protocol` should be TCP, UDP or SCTP, found {}",
                describe(other)
            ))
        }
    };
    match field(port, "name")? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) => Ok(Some(ContainerPort {
            name: name.clone(),
            protocol,
            number,
        })),
        Some(other) => Err(format!(
            "`name` should be a string, found {}",
            describe(other)
        )),
    }
}

/// A mapping's field; an error when `value` is not a mapping.
fn field<'v>(value: &'v Value, key: &str) -> Result<Option<&'v Value>, String> {
    match value {
        Value::Mapping(map) => Ok(map.get(key)),
        other => Err(format!(
            "expected a map with `{key}`, found {}",
            describe(other)
        )),
    }
}

/// A field that is a list (absent or null: empty).
fn list<'v>(value: &'v Value, key: &str, place: &str) -> Result<&'v [Value], String> {
    match field(value, key)? {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Sequence(items)) => Ok(items),
        Some(other) => Err(format!(
            "`{place}` should be a list, found {}",
            describe(other)
        )),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".to_string(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a map".to_string(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src<'a>(name: &'a str, text: &'a str) -> Source<'a> {
        Source { name, text }
    }

    const NS: &str = "apiVersion: v1\nkind: List\nitems:\n- kind: Namespace\n  metadata:\n    name: shop\n    labels: {env: prod}\n";

    #[test]
    fn reads_lists_streams_and_named_ports() {
        let pods = "kind: Pod\nmetadata: {name: a, namespace: shop, labels: {app: web}}\nspec:\n  containers:\n  - ports:\n    - {containerPort: 8080, name: http}\n    - {containerPort: 53, protocol: UDP, name: dns}\n    - {containerPort: 9000}\n---\nkind: Pod\nmetadata: {name: b, namespace: shop}\n";
        let inv = load(src("ns.yaml", NS), src("pods.yaml", pods)).expect("inventory");
        assert_eq!(inv.namespaces.len(), 1);
        assert_eq!(inv.pods.len(), 2);
        let a = &inv.pods[0];
        assert_eq!(a.qualified_name(), "shop/a");
        assert_eq!(
            a.pod.namespace_labels.get("env").map(String::as_str),
            Some("prod")
        );
        assert_eq!(a.pod.ports.len(), 2);
        assert!(a
            .pod
            .ports
            .iter()
            .any(|p| p.name == "dns" && p.protocol == Protocol::Udp));
    }

    #[test]
    fn errors_name_the_file_and_the_object() {
        let err = load(
            src("ns.yaml", NS),
            src("pods.yaml", "items:\n- metadata: {namespace: shop}\n"),
        )
        .expect_err("no name");
        assert_eq!(err.to_string(), "pods.yaml: items[0]: no `metadata.name`");
        let err = load(src("ns.yaml", "a: [b"), src("pods.yaml", "")).expect_err("bad yaml");
        assert!(
            err.to_string().starts_with("ns.yaml: not valid YAML"),
            "{err}"
        );
        let err = load(
            src("ns.yaml", NS),
            src(
                "p.yaml",
                "kind: Pod\nmetadata: {name: x, namespace: gone}\n",
            ),
        )
        .expect_err("unknown namespace");
        assert!(err.message.contains("namespace `gone`"), "{err}");
        let bad_port = "kind: Pod\nmetadata: {name: x, namespace: shop}\nspec: {containers: [{ports: [{containerPort: 70000}]}]}\n";
        let err = load(src("ns.yaml", NS), src("p.yaml", bad_port)).expect_err("bad port");
        assert!(err.message.contains("70000"), "{err}");
        let err = load(src("ns.yaml", "- 1\n"), src("p.yaml", "")).expect_err("sequence");
        assert!(err.message.contains("found a list"), "{err}");
        let err = load(
            src("ns.yaml", "kind: Service\nmetadata: {name: s}\n"),
            src("p.yaml", ""),
        )
        .expect_err("service");
        assert!(err.message.contains("`Service`"), "{err}");
    }
}
