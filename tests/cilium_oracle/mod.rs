//! A small evaluator of Cilium policy semantics, for tests. It reads the
//! emitted YAML (never the IR) and says whether Cilium would let a connection
//! through. Each rule it applies, and the Cilium documentation it follows, is
//! listed in `tests/cilium_oracle/README.md`.
//!
//! It also refuses policies that Cilium would reject or read differently from
//! one version to the next ([`Oracle::load`] returns the problems).
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::IpAddr;

use nplc_compiler::algebra::icmp::IcmpFamily;
use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::eval::{Connection, Endpoint, Pod, Request, Transport, WORLD_ADDRESS};
use nplc_compiler::names::Entity;
use regex::Regex;
use serde_json::Value;

const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
const NAMESPACE_LABELS: &str = "io.cilium.k8s.namespace.labels.";
const NAMESPACE_NAME: &str = "kubernetes.io/metadata.name";
const MAX_PORTS: usize = 40;
const MAX_ICMP_FIELDS: usize = 40;

// ------------------------------------------------------------------ model

#[derive(Debug, Clone)]
struct Policy {
    /// `None` for a CiliumClusterwideNetworkPolicy.
    namespace: Option<String>,
    name: String,
    subject: Selector,
    default_deny_ingress: Option<bool>,
    default_deny_egress: Option<bool>,
    ingress: Vec<Rule>,
    egress: Vec<Rule>,
    ingress_deny: Vec<Rule>,
    egress_deny: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    /// `None`: no peer field, every peer.
    peers: Option<Vec<Peer>>,
    /// `None`: no `toPorts`.
    ports: Option<Vec<PortRule>>,
    /// `None`: no `icmps`.
    icmps: Option<BTreeSet<(Family, u8)>>,
}

#[derive(Debug, Clone)]
enum Peer {
    Endpoints(Selector),
    Cidr { base: Cidr, except: Vec<Cidr> },
    Entity(String),
    Fqdn(NamePattern),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Selector {
    /// (source, key) → operator; the source is `None` for Cilium's `any`.
    requirements: Vec<(Option<String>, String, Op)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone)]
struct PortRule {
    ports: Vec<PortProto>,
    l7: Option<L7>,
}

#[derive(Debug, Clone)]
struct PortProto {
    port: PortSpec,
    /// `None`: any of TCP, UDP, SCTP.
    protocol: Option<Protocol>,
}

#[derive(Debug, Clone)]
enum PortSpec {
    /// First and last port; `(0, 0)` is every port.
    Range(u16, u16),
    Named(String),
}

#[derive(Debug, Clone)]
enum L7 {
    Http(Vec<(Option<Regex>, Option<Regex>)>),
    Dns(Vec<NamePattern>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    v6: bool,
    addr: u128,
    len: u8,
}

/// `matchName` or `matchPattern`, as Cilium reads them.
#[derive(Debug, Clone)]
enum NamePattern {
    Name(String),
    Pattern(Regex),
}

// ------------------------------------------------------------------ loading

pub struct Oracle {
    policies: Vec<Policy>,
    /// Every pod of the cluster: Cilium resolves the named ports of egress
    /// rules from all of them.
    cluster_pods: Vec<Pod>,
}

impl Oracle {
    /// Reads a YAML stream of CiliumNetworkPolicy and
    /// CiliumClusterwideNetworkPolicy documents. `Err` lists what Cilium
    /// would reject, or read differently from one version to the next.
    pub fn load(yaml: &str, cluster_pods: &[Pod]) -> Result<Oracle, Vec<String>> {
        let mut policies = Vec::new();
        let mut problems = Vec::new();
        for document in crate::support::yaml_documents(yaml) {
            let value = match serde_yaml::from_str::<Value>(&document) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("not YAML: {e}"));
                    continue;
                }
            };
            if value.is_null() {
                continue;
            }
            match policy(&value) {
                Ok(p) => policies.extend(p),
                Err(mut e) => {
                    let name = value
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    for m in e.iter_mut() {
                        *m = format!("{name}: {m}");
                    }
                    problems.extend(e);
                }
            }
        }
        if problems.is_empty() {
            Ok(Oracle {
                policies,
                cluster_pods: cluster_pods.to_vec(),
            })
        } else {
            Err(problems)
        }
    }
}

/// The policies of one document: its `spec`, and each entry of `specs`
/// (Cilium reads every entry as a rule of its own, with its own subject).
fn policy(doc: &Value) -> Result<Vec<Policy>, Vec<String>> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    if doc.get("apiVersion").and_then(Value::as_str) != Some("cilium.io/v2") {
        return Err(vec!["apiVersion is not cilium.io/v2".to_string()]);
    }
    let namespace = match kind {
        "CiliumNetworkPolicy" => match doc.pointer("/metadata/namespace").and_then(Value::as_str) {
            Some(ns) => Some(ns.to_string()),
            None => return Err(vec!["a CiliumNetworkPolicy without a namespace".to_string()]),
        },
        "CiliumClusterwideNetworkPolicy" => None,
        other => return Err(vec![format!("unexpected kind {other:?}")]),
    };
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut specs: Vec<&Value> = doc.get("spec").into_iter().collect();
    match doc.get("specs") {
        None => {}
        Some(Value::Array(list)) if !list.is_empty() => specs.extend(list.iter()),
        Some(_) => return Err(vec!["`specs` is not a non-empty list".to_string()]),
    }
    if specs.is_empty() {
        return Err(vec!["no spec".to_string()]);
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, spec) in specs.into_iter().enumerate() {
        match rule_set(spec, namespace.clone(), &name) {
            Ok(p) => out.push(p),
            Err(e) => problems.extend(e.into_iter().map(|m| format!("spec {i}: {m}"))),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// One `spec` (or `specs` entry): a subject and its rules.
fn rule_set(spec: &Value, namespace: Option<String>, name: &str) -> Result<Policy, Vec<String>> {
    let mut problems = Vec::new();
    let name = name.to_string();
    let known = [
        "endpointSelector",
        "enableDefaultDeny",
        "ingress",
        "egress",
        "ingressDeny",
        "egressDeny",
        "description",
    ];
    for key in spec.as_object().into_iter().flat_map(|o| o.keys()) {
        if !known.contains(&key.as_str()) {
            problems.push(format!("spec field {key:?} is not read by this oracle"));
        }
    }
    let subject = match spec.get("endpointSelector") {
        Some(s) => selector(s).unwrap_or_else(|e| {
            problems.push(e);
            Selector {
                requirements: Vec::new(),
            }
        }),
        None => {
            problems.push("no endpointSelector (node policies are not read)".to_string());
            Selector {
                requirements: Vec::new(),
            }
        }
    };
    let deny_flag = |dir: &str| {
        spec.pointer(&format!("/enableDefaultDeny/{dir}"))
            .and_then(Value::as_bool)
    };
    let mut read = |field: &str, ingress: bool, deny: bool| -> Vec<Rule> {
        let Some(list) = spec.get(field) else {
            return Vec::new();
        };
        let Some(list) = list.as_array() else {
            problems.push(format!("{field} is not a list"));
            return Vec::new();
        };
        let mut rules = Vec::new();
        for (i, r) in list.iter().enumerate() {
            match rule(r, ingress, deny, namespace.as_deref()) {
                Ok(r) => rules.push(r),
                Err(e) => problems.extend(e.into_iter().map(|m| format!("{field}[{i}]: {m}"))),
            }
        }
        rules
    };
    let ingress = read("ingress", true, false);
    let egress = read("egress", false, false);
    let ingress_deny = read("ingressDeny", true, true);
    let egress_deny = read("egressDeny", false, true);
    if ingress.is_empty() && egress.is_empty() && ingress_deny.is_empty() && egress_deny.is_empty()
    {
        // Cilium: "rule must have at least one of Ingress, IngressDeny,
        // Egress, EgressDeny" — the policy is not enforced at all.
        problems.push("no rules: Cilium rejects the policy and enforces nothing".to_string());
    }
    if problems.is_empty() {
        Ok(Policy {
            namespace,
            name,
            subject,
            default_deny_ingress: deny_flag("ingress"),
            default_deny_egress: deny_flag("egress"),
            ingress,
            egress,
            ingress_deny,
            egress_deny,
        })
    } else {
        Err(problems)
    }
}

fn rule(
    r: &Value,
    ingress: bool,
    deny: bool,
    namespace: Option<&str>,
) -> Result<Rule, Vec<String>> {
    let mut problems = Vec::new();
    let Some(obj) = r.as_object() else {
        return Err(vec!["a rule is not an object".to_string()]);
    };
    let (endpoints, cidr, cidr_set, entities, fqdns) = if ingress {
        (
            "fromEndpoints",
            "fromCIDR",
            "fromCIDRSet",
            "fromEntities",
            "",
        )
    } else {
        (
            "toEndpoints",
            "toCIDR",
            "toCIDRSet",
            "toEntities",
            "toFQDNs",
        )
    };
    let known = [
        endpoints, cidr, cidr_set, entities, fqdns, "toPorts", "icmps",
    ];
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            problems.push(format!("field {key:?} is not read by this oracle"));
        }
    }
    let peer_fields: Vec<&str> = [endpoints, cidr, cidr_set, entities, fqdns]
        .into_iter()
        .filter(|f| !f.is_empty() && obj.contains_key(*f))
        .collect();
    if peer_fields.len() > 1 {
        // Cilium: "Combining %s and %s is not supported yet".
        problems.push(format!(
            "combines {} in one rule, which Cilium rejects",
            peer_fields.join(" and ")
        ));
    }
    let mut peers: Option<Vec<Peer>> = None;
    for field in &peer_fields {
        let list = obj[*field].as_array().cloned().unwrap_or_default();
        let out = peers.get_or_insert_with(Vec::new);
        for item in &list {
            let parsed = if *field == endpoints {
                selector(item)
                    .and_then(|s| peer_selector(s, namespace))
                    .map(Peer::Endpoints)
            } else if *field == cidr {
                item.as_str()
                    .ok_or_else(|| "a CIDR is not a string".to_string())
                    .and_then(parse_cidr)
                    .map(|base| Peer::Cidr {
                        base,
                        except: Vec::new(),
                    })
            } else if *field == cidr_set {
                cidr_rule(item)
            } else if *field == entities {
                item.as_str()
                    .map(|e| Peer::Entity(e.to_string()))
                    .ok_or_else(|| "an entity is not a string".to_string())
            } else {
                name_pattern(item).map(Peer::Fqdn)
            };
            match parsed {
                Ok(p) => out.push(p),
                Err(e) => problems.push(e),
            }
        }
    }
    let ports = match obj.get("toPorts") {
        None => None,
        Some(list) => {
            let mut out = Vec::new();
            for pr in list.as_array().cloned().unwrap_or_default() {
                match port_rule(&pr, ingress, deny) {
                    Ok(p) => out.push(p),
                    Err(e) => problems.extend(e),
                }
            }
            Some(out)
        }
    };
    let icmps = match obj.get("icmps") {
        None => None,
        Some(list) => {
            let mut out = BTreeSet::new();
            for rule in list.as_array().cloned().unwrap_or_default() {
                let fields = rule
                    .get("fields")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if fields.len() > MAX_ICMP_FIELDS {
                    problems.push(format!(
                        "{} ICMP fields in one entry (Cilium's limit is {MAX_ICMP_FIELDS})",
                        fields.len()
                    ));
                }
                for f in fields {
                    let family = match f.get("family").and_then(Value::as_str).unwrap_or("IPv4") {
                        "IPv4" => Family::V4,
                        "IPv6" => Family::V6,
                        other => {
                            problems.push(format!("ICMP family {other:?}"));
                            continue;
                        }
                    };
                    match f
                        .get("type")
                        .and_then(Value::as_u64)
                        .and_then(|t| u8::try_from(t).ok())
                    {
                        Some(t) => {
                            out.insert((family, t));
                        }
                        None => problems.push(format!(
                            "ICMP type {:?} (only numbers are read)",
                            f.get("type")
                        )),
                    }
                }
            }
            Some(out)
        }
    };
    if ports.is_some() && icmps.is_some() {
        // Cilium: "The ICMPs block may only be present without ToPorts".
        problems.push("toPorts and icmps in one rule, which Cilium rejects".to_string());
    }
    if problems.is_empty() {
        Ok(Rule {
            peers,
            ports,
            icmps,
        })
    } else {
        Err(problems)
    }
}

/// A peer selector as Cilium completes it: in a CiliumNetworkPolicy, one
/// without the namespace key is confined to the policy's namespace. The
/// cases where Cilium versions differ are refused: a CNP selector with
/// namespace labels but no namespace key (confined before 1.15's change,
/// not after), and a CCNP selector without the namespace key (older versions
/// also match non-pod identities with it).
fn peer_selector(mut s: Selector, namespace: Option<&str>) -> Result<Selector, String> {
    let has_reserved = s
        .requirements
        .iter()
        .any(|(src, _, _)| src.as_deref() == Some("reserved"));
    if has_reserved {
        return Ok(s);
    }
    let has_ns = s
        .requirements
        .iter()
        .any(|(src, k, _)| k == POD_NAMESPACE && src.as_deref() != Some("reserved"));
    if has_ns {
        return Ok(s);
    }
    match namespace {
        Some(ns) => {
            if s.requirements.iter().any(|(_, k, _)| k.starts_with(NAMESPACE_LABELS)) {
                return Err(format!(
                    "a peer selector with namespace labels but no {POD_NAMESPACE}: Cilium versions differ on whether it is confined to the policy's namespace"
                ));
            }
            s.requirements.push((
                Some("k8s".to_string()),
                POD_NAMESPACE.to_string(),
                Op::In([ns.to_string()].into_iter().collect()),
            ));
            Ok(s)
        }
        None => Err(format!(
            "a cluster-wide peer selector without {POD_NAMESPACE}: Cilium versions differ on whether it matches non-pod identities"
        )),
    }
}

fn selector(v: &Value) -> Result<Selector, String> {
    let mut requirements = Vec::new();
    if let Some(labels) = v.get("matchLabels") {
        for (k, val) in labels.as_object().cloned().unwrap_or_default() {
            let val = val
                .as_str()
                .ok_or("a label value is not a string")?
                .to_string();
            let (src, key) = split_key(&k);
            requirements.push((src, key, Op::In([val].into_iter().collect())));
        }
    }
    if let Some(exprs) = v.get("matchExpressions") {
        for e in exprs.as_array().cloned().unwrap_or_default() {
            let k = e
                .get("key")
                .and_then(Value::as_str)
                .ok_or("an expression without key")?;
            let values: BTreeSet<String> = e
                .get("values")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
            let op = match e.get("operator").and_then(Value::as_str) {
                Some("In") if !values.is_empty() => Op::In(values),
                Some("NotIn") if !values.is_empty() => Op::NotIn(values),
                Some("Exists") if values.is_empty() => Op::Exists,
                Some("DoesNotExist") if values.is_empty() => Op::DoesNotExist,
                other => {
                    return Err(format!(
                        "invalid expression operator {other:?} with values {values:?}"
                    ))
                }
            };
            let (src, key) = split_key(k);
            requirements.push((src, key, op));
        }
    }
    for key in v
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if key != "matchLabels" && key != "matchExpressions" {
            return Err(format!("selector field {key:?}"));
        }
    }
    Ok(Selector { requirements })
}

/// `k8s:app` → (`k8s`, `app`); `app` → (any, `app`).
fn split_key(k: &str) -> (Option<String>, String) {
    for source in [
        "k8s",
        "any",
        "reserved",
        "cidr",
        "fqdn",
        "unspec",
        "container",
    ] {
        if let Some(rest) = k.strip_prefix(&format!("{source}:")) {
            let src = (source != "any").then(|| source.to_string());
            return (src, rest.to_string());
        }
    }
    (None, k.to_string())
}

fn cidr_rule(v: &Value) -> Result<Peer, String> {
    let base = v
        .get("cidr")
        .and_then(Value::as_str)
        .ok_or("a CIDR rule without `cidr` (groups are not read)")?;
    let base = parse_cidr(base)?;
    let mut except = Vec::new();
    for e in v
        .get("except")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let e = parse_cidr(e.as_str().ok_or("an except is not a string")?)?;
        if e.v6 != base.v6 || e.len < base.len || !base.contains_net(&e) {
            return Err(format!("except {e:?} is not inside {base:?}"));
        }
        except.push(e);
    }
    Ok(Peer::Cidr { base, except })
}

fn parse_cidr(text: &str) -> Result<Cidr, String> {
    let (addr, len) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} has no prefix length"))?;
    let len: u8 = len
        .parse()
        .map_err(|_| format!("bad prefix length in {text:?}"))?;
    let (v6, addr, bits) = match addr
        .parse::<IpAddr>()
        .map_err(|_| format!("bad address in {text:?}"))?
    {
        IpAddr::V4(a) => (false, u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (true, u128::from(a), 128),
    };
    if len > bits {
        return Err(format!("prefix too long in {text:?}"));
    }
    let cidr = Cidr { v6, addr, len };
    if cidr.network() != addr {
        return Err(format!("{text:?} has host bits set"));
    }
    Ok(cidr)
}

impl Cidr {
    fn bits(&self) -> u8 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    fn mask(&self) -> u128 {
        let host = u32::from(self.bits() - self.len);
        let all = if self.v6 {
            u128::MAX
        } else {
            u128::from(u32::MAX)
        };
        if host >= 128 {
            0
        } else {
            all & !((1u128 << host) - 1)
        }
    }

    fn network(&self) -> u128 {
        self.addr & self.mask()
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (v6, a) = match ip {
            IpAddr::V4(a) => (false, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, u128::from(a)),
        };
        v6 == self.v6 && (a & self.mask()) == self.network()
    }

    fn contains_net(&self, other: &Cidr) -> bool {
        other.v6 == self.v6 && other.len >= self.len && (other.addr & self.mask()) == self.network()
    }
}

fn name_pattern(v: &Value) -> Result<NamePattern, String> {
    match (
        v.get("matchName").and_then(Value::as_str),
        v.get("matchPattern").and_then(Value::as_str),
    ) {
        (Some(n), None) => Ok(NamePattern::Name(normalise(n))),
        (None, Some(p)) => pattern_regex(p).map(NamePattern::Pattern),
        _ => Err(format!(
            "a name selector needs exactly one of matchName, matchPattern: {v}"
        )),
    }
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Cilium's matchPattern: `*` alone is every name; `**.` a prefix of any
/// subdomains; otherwise `*` is zero or more DNS characters other than `.`.
fn pattern_regex(p: &str) -> Result<Regex, String> {
    let p = normalise(p);
    if p == "*" {
        return Regex::new("^.*$").map_err(|e| e.to_string());
    }
    let (prefix, rest) = match p.strip_prefix("**.") {
        Some(rest) => ("(?:[-a-z0-9_]+\\.)+", rest.to_string()),
        None => ("", p.clone()),
    };
    let body: String = rest
        .chars()
        .map(|c| match c {
            '*' => "[-a-z0-9_]*".to_string(),
            '.' => "\\.".to_string(),
            c => regex::escape(&c.to_string()),
        })
        .collect();
    Regex::new(&format!("^{prefix}{body}$")).map_err(|e| e.to_string())
}

fn port_rule(v: &Value, ingress: bool, deny: bool) -> Result<PortRule, Vec<String>> {
    let mut problems = Vec::new();
    let list = v
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.len() > MAX_PORTS {
        problems.push(format!(
            "{} ports in one toPorts entry (Cilium's limit is {MAX_PORTS})",
            list.len()
        ));
    }
    let l7 = match v.get("rules") {
        None => None,
        Some(rules) => {
            let http = rules.get("http").and_then(Value::as_array);
            let dns = rules.get("dns").and_then(Value::as_array);
            match (http, dns) {
                (Some(http), None) => {
                    let mut out = Vec::new();
                    for h in http {
                        let re = |field: &str| -> Result<Option<Regex>, String> {
                            match h.get(field).and_then(Value::as_str) {
                                None | Some("") => Ok(None),
                                // Envoy matches the whole value.
                                Some(p) => Regex::new(&format!("^(?:{p})$"))
                                    .map(Some)
                                    .map_err(|e| e.to_string()),
                            }
                        };
                        match (re("method"), re("path")) {
                            (Ok(m), Ok(p)) => out.push((m, p)),
                            (Err(e), _) | (_, Err(e)) => problems.push(e),
                        }
                    }
                    Some(L7::Http(out))
                }
                (None, Some(dns)) => {
                    if ingress {
                        // Cilium: "DNS rules are not allowed on ingress".
                        problems.push("DNS rules on ingress, which Cilium rejects".to_string());
                    }
                    let mut out = Vec::new();
                    for d in dns {
                        match name_pattern(d) {
                            Ok(p) => out.push(p),
                            Err(e) => problems.push(e),
                        }
                    }
                    Some(L7::Dns(out))
                }
                _ => {
                    problems.push(format!(
                        "L7 rules this oracle does not read, or several protocols: {rules}"
                    ));
                    None
                }
            }
        }
    };
    if deny && l7.is_some() {
        problems.push("L7 rules in a deny rule".to_string());
    }
    let mut ports = Vec::new();
    for p in list {
        let protocol = match p.get("protocol").and_then(Value::as_str).unwrap_or("ANY") {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            "ANY" | "" => None,
            other => {
                problems.push(format!("protocol {other:?}"));
                continue;
            }
        };
        let Some(port) = p.get("port").and_then(Value::as_str) else {
            problems.push(format!("a port that is not a string: {p}"));
            continue;
        };
        let end = p.get("endPort").and_then(Value::as_u64);
        let spec = if port.chars().all(|c| c.is_ascii_digit()) {
            let Ok(first) = port.parse::<u16>() else {
                problems.push(format!("port {port:?} out of range"));
                continue;
            };
            let last = match end {
                Some(e) => match u16::try_from(e) {
                    Ok(e) if e >= first => e,
                    _ => {
                        problems.push(format!("endPort {e} before port {first}"));
                        continue;
                    }
                },
                None => first,
            };
            if first == 0 && l7.is_some() {
                problems.push("L7 rules on port 0, which Cilium rejects".to_string());
            }
            if matches!(l7, Some(L7::Dns(_))) && last > first {
                problems.push("DNS rules on a port range, which Cilium rejects".to_string());
            }
            PortSpec::Range(first, last)
        } else {
            PortSpec::Named(port.to_ascii_lowercase())
        };
        if matches!(l7, Some(L7::Http(_))) && protocol != Some(Protocol::Tcp) {
            problems.push("HTTP rules on a port that is not TCP, which Cilium rejects".to_string());
        }
        ports.push(PortProto {
            port: spec,
            protocol,
        });
    }
    if problems.is_empty() {
        Ok(PortRule { ports, l7 })
    } else {
        Err(problems)
    }
}

// ------------------------------------------------------------------ judging

/// Why one side decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// The end is not a pod, or no policy puts it in default deny this way.
    NotEnforced,
    /// Allowed by these policies' rules.
    Allowed(Vec<String>),
    /// Default deny and no rule allows it.
    NoRule(Vec<String>),
    Denied(Vec<String>),
}

impl Side {
    pub fn ok(&self) -> bool {
        matches!(self, Side::NotEnforced | Side::Allowed(_))
    }
}

#[derive(Debug, Clone)]
pub struct Verdict {
    pub egress: Side,
    pub ingress: Side,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.egress.ok() && self.ingress.ok()
    }
}

/// The identity labels of an endpoint: (source, key, value).
fn identity(end: &Endpoint) -> Vec<(String, String, String)> {
    match end {
        Endpoint::Pod(pod) => {
            let mut out: Vec<(String, String, String)> = pod
                .labels
                .iter()
                .map(|(k, v)| ("k8s".to_string(), k.clone(), v.clone()))
                .collect();
            out.push((
                "k8s".to_string(),
                POD_NAMESPACE.to_string(),
                pod.namespace.clone(),
            ));
            let mut ns = pod.namespace_labels.clone();
            ns.insert(NAMESPACE_NAME.to_string(), pod.namespace.clone());
            for (k, v) in ns {
                out.push(("k8s".to_string(), format!("{NAMESPACE_LABELS}{k}"), v));
            }
            out
        }
        Endpoint::Entity(Entity::Host) => vec![("reserved".into(), "host".into(), String::new())],
        Endpoint::Entity(Entity::Health) => {
            vec![("reserved".into(), "health".into(), String::new())]
        }
        Endpoint::Entity(Entity::KubeApiserver) => {
            vec![("reserved".into(), "kube-apiserver".into(), String::new())]
        }
        Endpoint::Entity(Entity::World) | Endpoint::Ip(_) | Endpoint::Fqdn(_) => {
            vec![("reserved".into(), "world".into(), String::new())]
        }
    }
}

impl Selector {
    fn matches(&self, labels: &[(String, String, String)]) -> bool {
        self.requirements.iter().all(|(src, key, op)| {
            let value = labels
                .iter()
                .find(|(s, k, _)| k == key && src.as_ref().is_none_or(|src| src == s))
                .map(|(_, _, v)| v);
            match op {
                Op::In(vs) => value.is_some_and(|v| vs.contains(v)),
                Op::NotIn(vs) => value.is_none_or(|v| !vs.contains(v)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
            }
        })
    }
}

impl NamePattern {
    fn matches(&self, name: &str) -> bool {
        let name = normalise(name);
        match self {
            NamePattern::Name(n) => *n == name,
            NamePattern::Pattern(re) => re.is_match(&name),
        }
    }
}

impl Policy {
    fn selects(&self, pod: &Pod) -> bool {
        if self
            .namespace
            .as_ref()
            .is_some_and(|ns| *ns != pod.namespace)
        {
            return false;
        }
        self.subject.matches(&identity(&Endpoint::Pod(pod.clone())))
    }

    fn default_deny(&self, ingress: bool) -> bool {
        let (flag, rules, denies) = if ingress {
            (self.default_deny_ingress, &self.ingress, &self.ingress_deny)
        } else {
            (self.default_deny_egress, &self.egress, &self.egress_deny)
        };
        flag.unwrap_or(!rules.is_empty() || !denies.is_empty())
    }
}

impl Oracle {
    pub fn allows(&self, conn: &Connection) -> bool {
        self.verdict(conn).allowed()
    }

    pub fn verdict(&self, conn: &Connection) -> Verdict {
        Verdict {
            egress: self.side(conn, false),
            ingress: self.side(conn, true),
        }
    }

    fn side(&self, conn: &Connection, ingress: bool) -> Side {
        let (local, remote) = if ingress {
            (&conn.destination, &conn.source)
        } else {
            (&conn.source, &conn.destination)
        };
        let Endpoint::Pod(pod) = local else {
            return Side::NotEnforced;
        };
        let selecting: Vec<&Policy> = self.policies.iter().filter(|p| p.selects(pod)).collect();
        let matching = |rules: fn(&Policy) -> &Vec<Rule>, deny: bool| -> Vec<String> {
            selecting
                .iter()
                .filter(|p| {
                    rules(p)
                        .iter()
                        .any(|r| self.rule_matches(r, pod, remote, conn, ingress, deny))
                })
                .map(|p| p.name.clone())
                .collect()
        };
        let denies = if ingress {
            matching(|p| &p.ingress_deny, true)
        } else {
            matching(|p| &p.egress_deny, true)
        };
        if !denies.is_empty() {
            return Side::Denied(denies);
        }
        let enforcing: Vec<String> = selecting
            .iter()
            .filter(|p| p.default_deny(ingress))
            .map(|p| p.name.clone())
            .collect();
        if enforcing.is_empty() {
            return Side::NotEnforced;
        }
        let allows = if ingress {
            matching(|p| &p.ingress, false)
        } else {
            matching(|p| &p.egress, false)
        };
        if allows.is_empty() {
            Side::NoRule(enforcing)
        } else {
            Side::Allowed(allows)
        }
    }

    fn rule_matches(
        &self,
        rule: &Rule,
        local: &Pod,
        remote: &Endpoint,
        conn: &Connection,
        ingress: bool,
        deny: bool,
    ) -> bool {
        let peer_ok = match &rule.peers {
            None => true,
            Some(peers) => peers.iter().any(|p| self.peer_matches(p, local, remote)),
        };
        peer_ok && self.service_matches(rule, conn, ingress, deny)
    }

    fn peer_matches(&self, peer: &Peer, local: &Pod, remote: &Endpoint) -> bool {
        match peer {
            Peer::Endpoints(sel) => sel.matches(&identity(remote)),
            // CIDR rules never select pods or Cilium's reserved identities,
            // and a name's address is not known here.
            // `world` as an endpoint is one representative external address.
            Peer::Cidr { base, except } => match remote {
                Endpoint::Ip(ip) => base.contains(*ip) && !except.iter().any(|e| e.contains(*ip)),
                Endpoint::Entity(Entity::World) => {
                    base.contains(WORLD_ADDRESS)
                        && !except.iter().any(|e| e.contains(WORLD_ADDRESS))
                }
                _ => false,
            },
            Peer::Entity(e) => matches!(
                (e.as_str(), remote),
                ("all", _)
                    | (
                        "world",
                        Endpoint::Ip(_) | Endpoint::Fqdn(_) | Endpoint::Entity(Entity::World)
                    )
                    | ("cluster", Endpoint::Pod(_))
                    | (
                        "cluster",
                        Endpoint::Entity(Entity::Host | Entity::Health | Entity::KubeApiserver)
                    )
                    | ("host", Endpoint::Entity(Entity::Host))
                    | ("health", Endpoint::Entity(Entity::Health))
                    | ("kube-apiserver", Endpoint::Entity(Entity::KubeApiserver))
            ),
            // A name is reachable by name only once the DNS proxy has seen
            // its lookup: the pod's egress policy must allow it with a DNS
            // rule.
            Peer::Fqdn(pattern) => match remote {
                Endpoint::Fqdn(name) => pattern.matches(name) && self.lookup_visible(local, name),
                _ => false,
            },
        }
    }

    /// Whether an egress DNS rule of a policy selecting `pod` allows looking
    /// `name` up (so Cilium's DNS proxy learns its addresses).
    fn lookup_visible(&self, pod: &Pod, name: &str) -> bool {
        self.policies.iter().filter(|p| p.selects(pod)).any(|p| {
            p.egress.iter().any(|r| {
                r.ports.iter().flatten().any(|pr| match &pr.l7 {
                    Some(L7::Dns(patterns)) => patterns.iter().any(|pt| pt.matches(name)),
                    _ => false,
                })
            })
        })
    }

    fn service_matches(&self, rule: &Rule, conn: &Connection, ingress: bool, deny: bool) -> bool {
        match conn.transport {
            // Cilium matches ICMP by family and type, every code of it.
            Transport::Icmp(m) => match (&rule.ports, &rule.icmps) {
                (None, None) => true,
                (None, Some(types)) => {
                    let family = match m.family {
                        IcmpFamily::V4 => Family::V4,
                        IcmpFamily::V6 => Family::V6,
                    };
                    types.contains(&(family, m.icmp_type))
                }
                (Some(_), _) => false,
            },
            Transport::Port(protocol, number) => {
                let Some(port_rules) = &rule.ports else {
                    // No toPorts: every port, unless the rule lists ICMP only.
                    return rule.icmps.is_none();
                };
                port_rules.iter().any(|pr| {
                    pr.ports
                        .iter()
                        .any(|pp| self.port_matches(pp, protocol, number, conn, ingress))
                        && (deny || l7_matches(pr.l7.as_ref(), conn.request.as_ref()))
                })
            }
        }
    }

    fn port_matches(
        &self,
        pp: &PortProto,
        protocol: Protocol,
        number: u16,
        conn: &Connection,
        ingress: bool,
    ) -> bool {
        if pp.protocol.is_some_and(|p| p != protocol) {
            return false;
        }
        match &pp.port {
            PortSpec::Range(0, _) => true,
            PortSpec::Range(first, last) => (*first..=*last).contains(&number),
            PortSpec::Named(name) => {
                if ingress {
                    // The selected pod's own container ports.
                    let Endpoint::Pod(pod) = &conn.destination else {
                        return false;
                    };
                    pod.ports
                        .iter()
                        .any(|p| p.name == *name && p.protocol == protocol && p.number == number)
                } else {
                    // Egress: the number the name has on every pod of the
                    // cluster that has it, when they agree; otherwise none.
                    let numbers: BTreeSet<u16> = self
                        .cluster_pods
                        .iter()
                        .flat_map(|p| p.ports.iter())
                        .filter(|p| p.name == *name && p.protocol == protocol)
                        .map(|p| p.number)
                        .collect();
                    numbers.len() == 1 && numbers.contains(&number)
                }
            }
        }
    }
}

fn l7_matches(l7: Option<&L7>, request: Option<&Request>) -> bool {
    match (l7, request) {
        (None, _) => true,
        // Judged at L4: some requests may pass.
        (Some(_), None) => true,
        (Some(L7::Http(rules)), Some(Request::Http { method, path })) => {
            rules.iter().any(|(m, p)| {
                m.as_ref().is_none_or(|m| m.is_match(method))
                    && p.as_ref().is_none_or(|p| p.is_match(path))
            })
        }
        (Some(L7::Dns(patterns)), Some(Request::Dns { name })) => {
            patterns.iter().any(|p| p.matches(name))
        }
        _ => false,
    }
}
