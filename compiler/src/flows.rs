//! Recorded flows against the program: `hubble observe -o json` output (one
//! JSON object per line, the JSON form of Cilium's `flow.Flow` protobuf,
//! bare or wrapped as `{"flow": {...}}`) read into the evaluator's
//! connections, then
//! - each flow dropped by policy: the zones of both ends, what decided it
//!   (a deny, or an isolation default) and the smallest change that would
//!   allow it — a label to set on a namespace or a pod when a zone of the
//!   program selects by that label and the flow would then pass (for
//!   std/homelab, the seed's access labels and profiles), else a rule;
//! - each flow forwarded that the program denies: the cluster is not
//!   enforcing what the source says.
//!
//! Findings are grouped by cause, so a thousand drops of one cause are one
//! finding with a count.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

use crate::algebra::icmp::{IcmpFamily, IcmpMessage};
use crate::algebra::labels::{KeySet, ValueSet};
use crate::algebra::ports::Protocol;
use crate::diagnostic::Span;
use crate::eval::{self, Connection, Decision, Endpoint, Pod, Request, Transport};
use crate::ir::{Ir, Zone, NAMESPACE_NAME_LABEL};
use crate::lint::PLATFORM_NAMESPACES;
use crate::names::Entity;

/// Hubble's verdict, as far as policy is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seen {
    /// `DROPPED` for a policy reason, or `AUDIT` (policy audit mode: it
    /// would have been dropped).
    Dropped,
    Forwarded,
}

/// One flow, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub seen: Seen,
    pub connection: Connection,
    /// `namespace/pod`, an address or an entity, for people.
    pub source_name: String,
    pub destination_name: String,
    /// The line it was read from (1-based).
    pub line: usize,
}

/// What the reader made of the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read {
    pub flows: Vec<Flow>,
    /// Lines that are flows but not about policy (replies, drops for other
    /// reasons, no ports): counted, not judged.
    pub skipped: usize,
}

/// Reads `hubble observe -o json` output; an error names the line.
pub fn read(text: &str) -> Result<Read, String> {
    let mut out = Read::default();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(line).map_err(|e| format!("line {line_no}: not JSON ({e})"))?;
        let flow = value.get("flow").unwrap_or(&value);
        if flow.get("verdict").is_none() {
            return Err(format!(
                "line {line_no}: not a Hubble flow (no `verdict`); give the output of `hubble observe -o json`"
            ));
        }
        match flow_of(flow, line_no) {
            Some(f) => out.flows.push(f),
            None => out.skipped += 1,
        }
    }
    Ok(out)
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn flow_of(flow: &Value, line: usize) -> Option<Flow> {
    let seen = match text(flow, "verdict")? {
        "FORWARDED" => Seen::Forwarded,
        "AUDIT" => Seen::Dropped,
        "DROPPED" => {
            let reason = text(flow, "drop_reason_desc").unwrap_or("POLICY_DENIED");
            if !matches!(reason, "POLICY_DENIED" | "POLICY_DENY" | "AUTH_REQUIRED") {
                return None;
            }
            Seen::Dropped
        }
        _ => return None,
    };
    let reply = flow
        .get("is_reply")
        .and_then(Value::as_bool)
        .or_else(|| flow.get("reply").and_then(Value::as_bool))
        .unwrap_or(false);
    if reply {
        return None;
    }
    let transport = transport(flow.get("l4")?)?;
    let ip = flow.get("IP");
    let address = |key: &str| {
        ip.and_then(|i| text(i, key))
            .and_then(|a| a.parse::<IpAddr>().ok())
    };
    let names = |key: &str| -> Vec<String> {
        flow.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (source, source_name) = endpoint(flow.get("source"), address("source"), &[])?;
    let (destination, destination_name) = endpoint(
        flow.get("destination"),
        address("destination"),
        &names("destination_names"),
    )?;
    let request = flow.get("l7").and_then(request);
    Some(Flow {
        seen,
        connection: Connection {
            source,
            destination,
            transport,
            request,
        },
        source_name,
        destination_name,
        line,
    })
}

fn transport(l4: &Value) -> Option<Transport> {
    for (key, protocol) in [
        ("TCP", Protocol::Tcp),
        ("UDP", Protocol::Udp),
        ("SCTP", Protocol::Sctp),
    ] {
        if let Some(p) = l4.get(key) {
            let port = p.get("destination_port").and_then(Value::as_u64)?;
            return u16::try_from(port)
                .ok()
                .filter(|&n| n > 0)
                .map(|n| Transport::Port(protocol, n));
        }
    }
    for (key, family) in [("ICMPv4", IcmpFamily::V4), ("ICMPv6", IcmpFamily::V6)] {
        if let Some(icmp) = l4.get(key) {
            let byte = |field| {
                icmp.get(field)
                    .and_then(Value::as_u64)
                    .map_or(Some(0), |n| u8::try_from(n).ok())
            };
            return Some(Transport::Icmp(IcmpMessage {
                family,
                icmp_type: byte("type")?,
                code: byte("code")?,
            }));
        }
    }
    None
}

fn request(l7: &Value) -> Option<Request> {
    if let Some(dns) = l7.get("dns") {
        let name = text(dns, "query")?;
        return Some(Request::Dns {
            name: name.trim_end_matches('.').to_string(),
        });
    }
    let http = l7.get("http")?;
    let method = text(http, "method")?.to_string();
    let url = text(http, "url").unwrap_or("/");
    // `http://host:port/path?query` → `/path`
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = match after_scheme.find('/') {
        Some(i) if url.contains("://") => &after_scheme[i..],
        _ => after_scheme,
    };
    let path = path.split(['?', '#']).next().unwrap_or("/");
    Some(Request::Http {
        method,
        path: if path.is_empty() {
            "/".to_string()
        } else {
            path.to_string()
        },
    })
}

/// Cilium's labels of a pod endpoint: `k8s:KEY=VALUE`; the namespace's own
/// labels come as `k8s:io.cilium.k8s.namespace.labels.KEY=VALUE`.
const NAMESPACE_LABELS: &str = "io.cilium.k8s.namespace.labels.";

fn endpoint(
    ep: Option<&Value>,
    ip: Option<IpAddr>,
    names: &[String],
) -> Option<(Endpoint, String)> {
    let ep = ep?;
    let labels: Vec<&str> = ep
        .get("labels")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let reserved = |name: &str| labels.iter().any(|l| *l == format!("reserved:{name}"));
    let namespace = text(ep, "namespace").unwrap_or("");
    if !namespace.is_empty() {
        let mut pod_labels = BTreeMap::new();
        let mut namespace_labels = BTreeMap::new();
        for label in &labels {
            let Some(kv) = label.strip_prefix("k8s:") else {
                continue;
            };
            let Some((key, value)) = kv.split_once('=') else {
                continue;
            };
            if let Some(ns_key) = key.strip_prefix(NAMESPACE_LABELS) {
                namespace_labels.insert(ns_key.to_string(), value.to_string());
            } else if !key.starts_with("io.kubernetes.pod.") && !key.starts_with("io.cilium.k8s.") {
                pod_labels.insert(key.to_string(), value.to_string());
            }
        }
        namespace_labels.remove(NAMESPACE_NAME_LABEL);
        let pod_name = text(ep, "pod_name").unwrap_or("");
        return Some((
            Endpoint::Pod(Pod {
                namespace: namespace.to_string(),
                namespace_labels,
                labels: pod_labels,
                ports: Vec::new(),
            }),
            format!("{namespace}/{pod_name}"),
        ));
    }
    for (name, entity) in [
        ("host", Entity::Host),
        ("remote-node", Entity::Host),
        ("kube-apiserver", Entity::KubeApiserver),
        ("health", Entity::Health),
    ] {
        if reserved(name) {
            return Some((Endpoint::Entity(entity), entity.name().to_string()));
        }
    }
    if let Some(name) = names.first() {
        return Some((
            Endpoint::Fqdn(name.trim_end_matches('.').to_string()),
            name.clone(),
        ));
    }
    match ip {
        Some(ip) => Some((Endpoint::Ip(ip), ip.to_string())),
        None if reserved("world") => Some((Endpoint::Entity(Entity::World), "world".to_string())),
        None => None,
    }
}

/// What decided a flow in the program.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decider {
    /// Rules of a tier, in the words `describe_rule` gave them.
    Rules { tier: String, rules: Vec<String> },
    /// The isolation defaults: zones isolated for egress (source) and
    /// ingress (destination).
    Isolation {
        source: Vec<String>,
        destination: Vec<String>,
    },
}

/// The smallest change that would let a dropped flow through.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fix {
    /// Set a label on the source's or destination's namespace or pod (the
    /// program already selects by it).
    Label {
        on_namespace: bool,
        source_side: bool,
        target: String,
        key: String,
        value: String,
        /// The zone that selects by it.
        zone: String,
    },
    /// Add a rule (NPL text), and the zones it needs (NPL text), in a tier
    /// before `before_tier` when a deny decides.
    Rule {
        text: String,
        new_zones: Vec<String>,
        before_tier: Option<String>,
    },
}

/// A group of flows with one cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub seen: Seen,
    pub decider: Decider,
    pub source_zones: Vec<String>,
    pub destination_zones: Vec<String>,
    /// For drops; `None` for forwarded flows the program denies.
    pub fixes: Vec<Fix>,
    /// The first flow of the group, and how many there are.
    pub example: Flow,
    pub count: usize,
    /// Distinct `source → destination port` texts (at most a few).
    pub samples: Vec<String>,
}

/// Dropped flows the program denies, with their fixes, and forwarded flows
/// it denies; flows that agree with the program (dropped and denied is the
/// question; forwarded and allowed is fine) are counted in `agreeing`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub drops: Vec<Finding>,
    /// Dropped flows the program allows: the cluster does not run this program.
    pub dropped_but_allowed: Vec<Finding>,
    pub forwarded_but_denied: Vec<Finding>,
    pub forwarded_allowed: usize,
}

pub fn analyse(ir: &Ir, flows: &[Flow], describe_rule: impl Fn(Span) -> String) -> Report {
    let mut report = Report::default();
    type Key = (Seen, bool, Decider, Vec<Fix>);
    let mut groups: BTreeMap<Key, Finding> = BTreeMap::new();
    let mut order: Vec<Key> = Vec::new();
    for flow in flows {
        let verdict = eval::evaluate(ir, &flow.connection);
        if flow.seen == Seen::Forwarded && verdict.allowed {
            report.forwarded_allowed += 1;
            continue;
        }
        let decider = match &verdict.decision {
            Decision::Tier { tier, rules } => Decider::Rules {
                tier: tier.clone(),
                rules: rules.iter().map(|s| describe_rule(*s)).collect(),
            },
            Decision::Isolation {
                source_zones,
                destination_zones,
            } => Decider::Isolation {
                source: source_zones.clone(),
                destination: destination_zones.clone(),
            },
        };
        let fixes = if flow.seen == Seen::Dropped && !verdict.allowed {
            fixes(ir, &flow.connection, &verdict.decision)
        } else {
            Vec::new()
        };
        let key = (flow.seen, verdict.allowed, decider.clone(), fixes.clone());
        let sample = format!(
            "{} → {} {}",
            flow.source_name,
            flow.destination_name,
            transport_words(flow.connection.transport)
        );
        match groups.get_mut(&key) {
            Some(f) => {
                f.count += 1;
                if f.samples.len() < 3 && !f.samples.contains(&sample) {
                    f.samples.push(sample);
                }
            }
            None => {
                order.push(key.clone());
                groups.insert(
                    key,
                    Finding {
                        seen: flow.seen,
                        decider,
                        source_zones: zones_holding(ir, &flow.connection.source),
                        destination_zones: zones_holding(ir, &flow.connection.destination),
                        fixes,
                        example: flow.clone(),
                        count: 1,
                        samples: vec![sample],
                    },
                );
            }
        }
    }
    for key in order {
        let Some(finding) = groups.remove(&key) else {
            continue;
        };
        match (key.0, key.1) {
            (Seen::Dropped, false) => report.drops.push(finding),
            (Seen::Dropped, true) => report.dropped_but_allowed.push(finding),
            (Seen::Forwarded, _) => report.forwarded_but_denied.push(finding),
        }
    }
    let by_count = |a: &Finding, b: &Finding| {
        b.count
            .cmp(&a.count)
            .then(a.example.line.cmp(&b.example.line))
    };
    report.drops.sort_by(by_count);
    report.dropped_but_allowed.sort_by(by_count);
    report.forwarded_but_denied.sort_by(by_count);
    report
}

/// `tcp/8080`, `udp/53`, `icmp/8/0`.
pub fn transport_words(t: Transport) -> String {
    match t {
        Transport::Port(p, n) => format!("{p}/{n}"),
        Transport::Icmp(message) => message.to_string(),
    }
}

/// The names of the zones holding an endpoint (user-visible zones only:
/// `cluster` holds every pod and says nothing).
pub fn zones_holding(ir: &Ir, endpoint: &Endpoint) -> Vec<String> {
    let Endpoint::Pod(pod) = endpoint else {
        return Vec::new();
    };
    let ns = pod.effective_namespace_labels();
    ir.zones
        .iter()
        .filter(|z| z.name != "cluster" && z.pods.matches(&ns, &pod.labels))
        .map(|z| z.name.clone())
        .collect()
}

fn allowed(ir: &Ir, conn: &Connection) -> bool {
    eval::evaluate(ir, conn).allowed
}

/// Label changes that let the flow through (exact: the evaluator is asked
/// again with the label set), else the rule to add.
fn fixes(ir: &Ir, conn: &Connection, decision: &Decision) -> Vec<Fix> {
    let mut out = Vec::new();
    for source_side in [true, false] {
        let end = if source_side {
            &conn.source
        } else {
            &conn.destination
        };
        let Endpoint::Pod(pod) = end else {
            continue;
        };
        for (zone, on_namespace, key, value) in label_candidates(ir) {
            let present = if on_namespace {
                pod.effective_namespace_labels().get(&key) == Some(&value)
            } else {
                pod.labels.get(&key) == Some(&value)
            };
            // Seed 000: platform namespaces never get a profile.
            if present
                || (on_namespace
                    && key == crate::lint::PROFILE_LABEL
                    && PLATFORM_NAMESPACES.contains(&pod.namespace.as_str()))
            {
                continue;
            }
            let mut changed = pod.clone();
            if on_namespace {
                changed.namespace_labels.insert(key.clone(), value.clone());
            } else {
                changed.labels.insert(key.clone(), value.clone());
            }
            let mut trial = conn.clone();
            if source_side {
                trial.source = Endpoint::Pod(changed);
            } else {
                trial.destination = Endpoint::Pod(changed);
            }
            if allowed(ir, &trial) {
                let fix = Fix::Label {
                    on_namespace,
                    source_side,
                    target: if on_namespace {
                        pod.namespace.clone()
                    } else {
                        pod_words(pod)
                    },
                    key,
                    value,
                    zone: zone.name.clone(),
                };
                if !out.contains(&fix) {
                    out.push(fix);
                }
            }
        }
    }
    out.truncate(3);
    if out.is_empty() {
        out.push(rule_fix(ir, conn, decision));
    }
    out
}

fn pod_words(pod: &Pod) -> String {
    let labels: Vec<String> = pod.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if labels.is_empty() {
        format!("pods in {}", pod.namespace)
    } else {
        format!("pods {} in {}", labels.join(","), pod.namespace)
    }
}

/// Zones that select by one `key = "value"` on a namespace or pod label
/// (besides a namespace name): setting that label is a change to try.
fn label_candidates(ir: &Ir) -> Vec<(&Zone, bool, String, String)> {
    let mut out = Vec::new();
    for zone in &ir.zones {
        for term in &zone.pods.terms {
            for (on_namespace, label_term) in [(true, &term.namespace), (false, &term.pod)] {
                let Some(keys) = label_term.constraints() else {
                    continue;
                };
                for (key, set) in keys {
                    if key == NAMESPACE_NAME_LABEL {
                        continue;
                    }
                    if let Some(value) = single_value(set) {
                        out.push((zone, on_namespace, key.clone(), value));
                    }
                }
            }
        }
    }
    out
}

fn single_value(set: &KeySet) -> Option<String> {
    match &set.values {
        ValueSet::Only(values) if !set.absent && values.len() == 1 => values.iter().next().cloned(),
        _ => None,
    }
}

/// `allow SRC -> DST : PORT`, naming each end by the most specific zone
/// that holds it, else by its address, name or entity; in a tier before
/// the deny's when a deny decides.
fn rule_fix(ir: &Ir, conn: &Connection, decision: &Decision) -> Fix {
    let port = match conn.transport {
        Transport::Port(Protocol::Tcp, n) => n.to_string(),
        Transport::Port(p, n) => format!("{p}/{n}"),
        // The whole type: what a rule usually names.
        Transport::Icmp(message) => message.type_port(),
    };
    let l7 = match &conn.request {
        Some(Request::Http { method, path }) => format!(" http {{ {method} \"{path}\" }}"),
        Some(Request::Dns { name }) => format!(" dns {{ \"{name}\" }}"),
        None => String::new(),
    };
    let mut new_zones = Vec::new();
    let source = peer_words(ir, &conn.source, true, &mut new_zones);
    let destination = peer_words(ir, &conn.destination, false, &mut new_zones);
    let text = format!("allow {source} -> {destination} : {port}{l7}");
    let before_tier = match decision {
        Decision::Tier { tier, .. } => Some(tier.clone()),
        Decision::Isolation { .. } => None,
    };
    Fix::Rule {
        text,
        new_zones,
        before_tier,
    }
}

/// The most specific zone holding a pod (inside the most of the others),
/// then one that isolates it in this direction (`source`: egress), then one
/// that selects pods; the first declared among equals. `cluster` and zone
/// unions say little and come last.
pub fn most_specific_zone<'i>(ir: &'i Ir, pod: &Pod, source: bool) -> Option<&'i Zone> {
    let ns = pod.effective_namespace_labels();
    let holding: Vec<&Zone> = ir
        .zones
        .iter()
        .filter(|z| z.name != "cluster" && z.pods.matches(&ns, &pod.labels))
        .collect();
    let rank = |z: &Zone| {
        let inside = holding
            .iter()
            .filter(|o| z.pods.difference(&o.pods).is_empty())
            .count();
        let isolates = if source {
            z.isolation.egress
        } else {
            z.isolation.ingress
        };
        let selects_pods = z
            .pods
            .terms
            .iter()
            .all(|t| t.pod.constraints().is_some_and(|c| !c.is_empty()));
        (inside, isolates, selects_pods)
    };
    let mut best: Option<(&Zone, (usize, bool, bool))> = None;
    for z in holding.iter().copied() {
        let r = rank(z);
        if best.is_none_or(|(_, b)| r > b) {
            best = Some((z, r));
        }
    }
    best.map(|(z, _)| z)
}

fn peer_words(ir: &Ir, endpoint: &Endpoint, source: bool, new_zones: &mut Vec<String>) -> String {
    match endpoint {
        Endpoint::Pod(pod) => {
            if let Some(z) = most_specific_zone(ir, pod, source) {
                return z.name.clone();
            }
            let app = ["app.kubernetes.io/name", "app", "k8s-app"]
                .iter()
                .find_map(|k| pod.labels.get(*k).map(|v| (*k, v)));
            let name: String = match app {
                Some((_, v)) => format!("{}-{v}", pod.namespace),
                None => pod.namespace.clone(),
            }
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
            let pods = app
                .map(|(k, v)| format!("; pods {k} = \"{v}\""))
                .unwrap_or_default();
            new_zones.push(format!(
                "zone {name} {{ namespace \"{}\"{pods}; isolate none }}",
                pod.namespace
            ));
            name
        }
        Endpoint::Ip(ip) => {
            let bits = if ip.is_ipv4() { 32 } else { 128 };
            format!("cidr {ip}/{bits}")
        }
        Endpoint::Fqdn(name) => format!("fqdn \"{name}\""),
        Endpoint::Entity(e) => e.name().to_string(),
    }
}
