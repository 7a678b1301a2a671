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
//!
//! [`load_apiserver`] reads the API server's endpoints (the EndpointSlices
//! or the Endpoints of the `kubernetes` Service), which the kubernetes
//! target writes `kube-apiserver` as.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

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

/// The Kubernetes API server's endpoints: what `kubectl get endpointslice
/// -n default -l kubernetes.io/service-name=kubernetes -o yaml` (a List of
/// EndpointSlice, or one) or `kubectl get endpoints kubernetes -o yaml`
/// prints. Each address with the ports it serves on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiServer {
    pub endpoints: BTreeMap<IpAddr, BTreeSet<ApiPort>>,
}

/// A port the API server's endpoints serve on, as the EndpointSlice or
/// Endpoints object lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiPort {
    pub protocol: Protocol,
    pub number: u16,
    pub name: Option<String>,
}

/// The port of the `kubernetes` Service: clients reach the API server at
/// the Service address on TCP 443, which kube-proxy (or the CNI) rewrites
/// to an endpoint port before NetworkPolicy sees the packet.
pub const APISERVER_SERVICE_PORT: u16 = 443;
/// The name of that Service port, which the endpoint port it targets shares.
pub const APISERVER_PORT_NAME: &str = "https";

impl ApiServer {
    /// Whether `port` is the one the Service's port 443 is rewritten to: the
    /// endpoint port named `https`, or the only port when there is one.
    pub fn is_service_target(&self, port: &ApiPort) -> bool {
        if port.protocol != Protocol::Tcp {
            return false;
        }
        if port.name.as_deref() == Some(APISERVER_PORT_NAME) {
            return true;
        }
        let mut all = self.endpoints.values().flatten().collect::<BTreeSet<_>>();
        all.retain(|p| p.protocol == Protocol::Tcp);
        all.len() == 1
    }
}

/// Reads the API server's endpoints from one file.
pub fn load_apiserver(source: Source<'_>) -> Result<ApiServer, InventoryError> {
    let error = |message: String| InventoryError {
        file: source.name.to_string(),
        message,
    };
    let mut out = ApiServer::default();
    for (place, object) in objects(source.text).map_err(error)? {
        let at = |m: String| error(format!("{place}: {m}"));
        let kind = match field(&object, "kind").map_err(at)? {
            Some(Value::String(k)) => k.clone(),
            None | Some(Value::Null) if field(&object, "subsets").ok().flatten().is_some() => {
                "Endpoints".to_string()
            }
            None | Some(Value::Null) => "EndpointSlice".to_string(),
            Some(other) => {
                return Err(at(format!(
                    "`kind` should be a string, found {}",
                    describe(other)
                )))
            }
        };
        match kind.as_str() {
            "EndpointSlice" => {
                check_owner(&object, true).map_err(at)?;
                let ports = api_ports(&object, "ports").map_err(at)?;
                for (e, endpoint) in list(&object, "endpoints", "endpoints").map_err(at)?.iter().enumerate() {
                    let place = format!("endpoints[{e}].addresses");
                    for address in list(endpoint, "addresses", &place).map_err(at)? {
                        let ip = address_value(address).map_err(|m| at(format!("{place}: {m}")))?;
                        out.endpoints.entry(ip).or_default().extend(ports.iter().cloned());
                    }
                }
            }
            "Endpoints" => {
                check_owner(&object, false).map_err(at)?;
                for (s, subset) in list(&object, "subsets", "subsets").map_err(at)?.iter().enumerate() {
                    let ports = api_ports(subset, "ports").map_err(|m| at(format!("subsets[{s}]: {m}")))?;
                    for key in ["addresses", "notReadyAddresses"] {
                        let place = format!("subsets[{s}].{key}");
                        for address in list(subset, key, &place).map_err(at)? {
                            let ip = field(address, "ip")
                                .map_err(|m| at(format!("{place}: {m}")))?
                                .ok_or_else(|| at(format!("{place}: an address without `ip`")))
                                .and_then(|v| address_value(v).map_err(|m| at(format!("{place}: {m}"))))?;
                            out.endpoints.entry(ip).or_default().extend(ports.iter().cloned());
                        }
                    }
                }
            }
            other => {
                return Err(at(format!(
                    "an object of kind `{other}`; the API server's endpoints are read from EndpointSlice or Endpoints objects \
                     (`kubectl get endpointslice -n default -l kubernetes.io/service-name=kubernetes -o yaml`), not from the Service, \
                     whose address NetworkPolicy does not see"
                )))
            }
        }
    }
    if out.endpoints.is_empty() {
        return Err(error("lists no API server address (expected the EndpointSlices of the `kubernetes` Service in `default`)".to_string()));
    }
    if let Some((ip, _)) = out.endpoints.iter().find(|(_, ports)| ports.is_empty()) {
        return Err(error(format!("address {ip} comes with no port")));
    }
    Ok(out)
}

/// An object that names another Service (label or name) is not the API
/// server's: refused rather than read as if it were.
fn check_owner(object: &Value, slice: bool) -> Result<(), String> {
    let Some(metadata) = field(object, "metadata")? else {
        return Ok(());
    };
    let owner = if slice {
        labels(metadata)?.get("kubernetes.io/service-name").cloned()
    } else {
        match field(metadata, "name")? {
            Some(Value::String(n)) => Some(n.clone()),
            _ => None,
        }
    };
    if let Some(owner) = owner.filter(|o| o != "kubernetes") {
        return Err(format!(
            "these are the endpoints of Service `{owner}`, not of `kubernetes` (the API server's)"
        ));
    }
    match field(metadata, "namespace")? {
        Some(Value::String(ns)) if ns != "default" => Err(format!(
            "these endpoints are in namespace `{ns}`; the API server's are in `default`"
        )),
        _ => Ok(()),
    }
}

fn api_ports(object: &Value, key: &str) -> Result<Vec<ApiPort>, String> {
    let mut out = Vec::new();
    for (p, port) in list(object, key, key)?.iter().enumerate() {
        let at = |m: String| format!("{key}[{p}]: {m}");
        let number = match field(port, "port").map_err(at)? {
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| at(format!("`port` {n} is not a port (1-65535)")))?,
            None | Some(Value::Null) => {
                return Err(at(
                    "a port without a number (every port); name the API server's ports".to_string(),
                ))
            }
            Some(other) => {
                return Err(at(format!(
                    "`port` should be a number, found {}",
                    describe(other)
                )))
            }
        };
        let protocol = match field(port, "protocol").map_err(at)? {
            None | Some(Value::Null) => Protocol::Tcp,
            Some(Value::String(p)) => match p.to_ascii_uppercase().as_str() {
                "TCP" => Protocol::Tcp,
                "UDP" => Protocol::Udp,
                "SCTP" => Protocol::Sctp,
                _ => return Err(at(format!("unknown protocol `{p}` (TCP, UDP or SCTP)"))),
            },
            Some(other) => {
                return Err(at(format!(
                    "`protocol` should be TCP, UDP or SCTP, found {}",
                    describe(other)
                )))
            }
        };
        let name = match field(port, "name").map_err(at)? {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) if n.is_empty() => None,
            Some(Value::String(n)) => Some(n.clone()),
            Some(other) => {
                return Err(at(format!(
                    "`name` should be a string, found {}",
                    describe(other)
                )))
            }
        };
        out.push(ApiPort {
            protocol,
            number,
            name,
        });
    }
    if out.is_empty() {
        return Err(format!("no `{key}`: the API server's ports are needed"));
    }
    Ok(out)
}

fn address_value(value: &Value) -> Result<IpAddr, String> {
    match value {
        Value::String(text) => text
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("`{text}` is not an IP address")),
        other => Err(format!("expected an IP address, found {}", describe(other))),
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

    const SLICES: &str = "apiVersion: v1\nitems:\n- addressType: IPv4\n  apiVersion: discovery.k8s.io/v1\n  endpoints:\n  - addresses:\n    - 172.18.0.2\n    conditions:\n      ready: true\n  kind: EndpointSlice\n  metadata:\n    labels:\n      kubernetes.io/service-name: kubernetes\n    name: kubernetes\n    namespace: default\n  ports:\n  - name: https\n    port: 6443\n    protocol: TCP\nkind: List\nmetadata:\n  resourceVersion: \"\"\n";

    #[test]
    fn reads_the_api_servers_endpoints() {
        let api = load_apiserver(src("api.yaml", SLICES)).expect("slices");
        let ip: IpAddr = "172.18.0.2".parse().expect("ip");
        let ports = &api.endpoints[&ip];
        assert_eq!(ports.len(), 1);
        let port = ports.iter().next().expect("a port");
        assert_eq!((port.protocol, port.number), (Protocol::Tcp, 6443));
        assert!(api.is_service_target(port));
        let endpoints = "apiVersion: v1\nkind: Endpoints\nmetadata: {name: kubernetes, namespace: default}\nsubsets:\n- addresses: [{ip: 10.0.0.10}, {ip: \"fd00::10\"}]\n  ports: [{name: https, port: 6443, protocol: TCP}]\n";
        let api = load_apiserver(src("ep.yaml", endpoints)).expect("endpoints");
        assert_eq!(api.endpoints.len(), 2);
        let single = "kind: EndpointSlice\naddressType: IPv6\nendpoints: [{addresses: [\"fd00::1\"]}]\nports: [{port: 443}]\n";
        assert_eq!(
            load_apiserver(src("one.yaml", single))
                .expect("one slice")
                .endpoints
                .len(),
            1
        );
    }

    #[test]
    fn api_server_errors_say_what_to_pass() {
        let service = "kind: Service\nmetadata: {name: kubernetes, namespace: default}\nspec: {clusterIP: 10.96.0.1}\n";
        let err = load_apiserver(src("svc.yaml", service)).expect_err("a Service");
        assert!(err.message.contains("kubectl get endpointslice"), "{err}");
        let other = SLICES.replace("service-name: kubernetes", "service-name: web");
        let err = load_apiserver(src("web.yaml", &other)).expect_err("another service");
        assert!(err.message.contains("Service `web`"), "{err}");
        let err = load_apiserver(src("e.yaml", "kind: List\nitems: []\n")).expect_err("empty");
        assert!(err.message.contains("no API server address"), "{err}");
        let bad = SLICES.replace("172.18.0.2", "not-an-ip");
        let err = load_apiserver(src("bad.yaml", &bad)).expect_err("bad address");
        assert!(err.message.contains("not-an-ip"), "{err}");
        let no_port = SLICES.replace("    port: 6443\n", "");
        let err = load_apiserver(src("np.yaml", &no_port)).expect_err("no port number");
        assert!(err.message.contains("without a number"), "{err}");
    }
}
