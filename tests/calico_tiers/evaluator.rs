//! A test-side model of Calico's policy evaluation, read from emitted YAML.
//!
//! It parses the projectcalico.org/v3 documents into its own small model (on
//! purpose independent of the compiler's CRD structs, so that it checks
//! them) and decides a connection as Calico does. Every rule below names the
//! Calico page it follows (docs.tigera.io/calico/latest/…, "Calico OSS
//! docs" for short); where a page is silent, the libcalico-go code that
//! enforces it.
//!
//! What it refuses (an `Err` from [`Calico::load`]) is either something
//! Calico rejects or something this model does not decide; refusing keeps a
//! comparison from passing by accident.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use nplc_compiler::algebra::icmp::IcmpFamily;
use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::eval::{Connection, Endpoint, Pod, Request, Transport, WORLD_ADDRESS};
use nplc_compiler::names::Entity;
use serde_yaml::Value;

use super::selector::{Scope, Selector};

/// Calico's automatic namespace label (Calico OSS docs
/// /network-policy/get-started/calico-policy/calico-labels): every namespace
/// carries `projectcalico.org/name: <name>` for namespace selectors.
pub const NAMESPACE_NAME: &str = "projectcalico.org/name";
/// Calico's label on every workload endpoint: its namespace (same page; and
/// /reference/resources/globalnetworkpolicy: "Select a namespace … using
/// projectcalico.org/namespace").
pub const ENDPOINT_NAMESPACE: &str = "projectcalico.org/namespace";
/// Calico's label on every workload endpoint: the orchestrator.
pub const ENDPOINT_ORCHESTRATOR: (&str, &str) = ("projectcalico.org/orchestrator", "k8s");
/// The `default` tier exists in every cluster; since Calico 3.28 it is a
/// Tier resource with order 1,000,000 (Calico OSS docs
/// /network-policy/policy-tiers/tiered-policy, "default tier"); older
/// versions treat it as last (nil order). Both put it after every tier with
/// a smaller order.
pub const DEFAULT_TIER: &str = "default";
pub const DEFAULT_TIER_ORDER: f64 = 1_000_000.0;

// ------------------------------------------------------------------ model

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
    Pass,
    Log,
}

#[derive(Debug, Clone)]
struct Net {
    v6: bool,
    addr: u128,
    len: u8,
}

impl Net {
    fn parse(text: &str) -> Result<Net, String> {
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| format!("bad CIDR `{text}`"))?;
        let (v6, bits, value) = match ip {
            IpAddr::V4(a) => (false, 32u8, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, 128u8, u128::from(a)),
        };
        let len = match len {
            Some(l) => l.parse::<u8>().map_err(|_| format!("bad CIDR `{text}`"))?,
            None => bits,
        };
        if len > bits {
            return Err(format!("bad CIDR `{text}`"));
        }
        // Calico masks the address (libcalico-go `normalizeIPNet`).
        let host = if bits - len >= 128 {
            u128::MAX
        } else {
            (1u128 << (bits - len)) - 1
        };
        Ok(Net {
            v6,
            addr: value & !host,
            len,
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (v6, bits, value) = match ip {
            IpAddr::V4(a) => (false, 32u8, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, 128u8, u128::from(a)),
        };
        if v6 != self.v6 {
            return false;
        }
        let host = if bits - self.len >= 128 {
            u128::MAX
        } else {
            (1u128 << (bits - self.len)) - 1
        };
        value & !host == self.addr
    }
}

#[derive(Debug, Clone)]
enum PortMatch {
    Range(u16, u16),
    Named(String),
}

#[derive(Debug, Clone, Default)]
struct EntityRule {
    selector: Option<Selector>,
    not_selector: Option<Selector>,
    namespace_selector: Option<Selector>,
    nets: Vec<Net>,
    not_nets: Vec<Net>,
    ports: Vec<PortMatch>,
    not_ports: Vec<PortMatch>,
    /// A Service match: (namespace, name).
    services: Option<(String, String)>,
}

/// The one Service the model has endpoints for: `default/kubernetes`, whose
/// endpoint is the API server at [`API_SERVER_ADDRESS`], serving TCP
/// [`API_SERVER_PORT`]. Connections with the `kube-apiserver` entity are
/// placed there; a Service match matches nothing else (Calico OSS docs
/// /reference/resources/networkpolicy, ServiceMatch: "only traffic that
/// originates from or terminates at endpoints within the selected
/// service(s) … and only to/from each endpoint's port").
pub const API_SERVER_ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));
pub const API_SERVER_PORT: u16 = 6443;

#[derive(Debug, Clone)]
struct HttpMatch {
    methods: Vec<String>,
    /// (exact?, path)
    paths: Vec<(bool, String)>,
}

/// An ICMP type and code criterion; `None` matches any.
type IcmpMatch = (Option<u8>, Option<u8>);

#[derive(Debug, Clone)]
struct Rule {
    action: Action,
    protocol: Option<u8>,
    not_protocol: Option<u8>,
    ip_version: Option<u8>,
    icmp: Option<IcmpMatch>,
    not_icmp: Option<IcmpMatch>,
    source: EntityRule,
    destination: EntityRule,
    http: Option<HttpMatch>,
}

#[derive(Debug, Clone)]
struct Policy {
    kind: String,
    name: String,
    /// `None`: a GlobalNetworkPolicy.
    namespace: Option<String>,
    tier: String,
    order: Option<f64>,
    selector: Selector,
    namespace_selector: Option<Selector>,
    ingress_type: bool,
    egress_type: bool,
    ingress: Vec<Rule>,
    egress: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Tier {
    name: String,
    order: Option<f64>,
    default_action: Action,
    policies: Vec<Policy>,
}

#[derive(Debug, Clone)]
struct NetworkSet {
    /// `None`: a GlobalNetworkSet.
    namespace: Option<String>,
    labels: BTreeMap<String, String>,
    nets: Vec<Net>,
}

/// One thing that can hold an address: a pod of the universe or a network
/// set, with the labels Calico's selectors see. Selectors match these;
/// rules match packets by their addresses.
struct Holder {
    namespace: Option<String>,
    namespace_labels: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
}

/// The emitted policies, ready to judge connections between `pods`.
pub struct Calico {
    tiers: Vec<Tier>,
    network_sets: Vec<(NetworkSet, Holder)>,
    pods: Vec<Pod>,
    pod_indexes: std::collections::HashMap<Pod, usize>,
    /// Per pod of `pods`: its holder, and per direction (ingress, egress)
    /// and tier the indexes of the policies that apply to it.
    pod_holders: Vec<Holder>,
    applying: Vec<[Vec<Vec<usize>>; 2]>,
    /// Staged policies read and set aside: they do not enforce.
    pub staged: usize,
}

// ------------------------------------------------------------------ verdicts

/// Which part of the policies decided one side of a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Decider {
    /// `tier/policy` rule number `rule` (0-based) of the direction.
    Rule {
        tier: String,
        policy: String,
        rule: usize,
        action: Action,
    },
    /// The tier selected the endpoint but took no action: its defaultAction.
    EndOfTier { tier: String, action: Action },
    /// No tier selected the endpoint, or the last one passed: the
    /// namespace's profile (`kns.<namespace>`), which allows everything.
    Profile { passed: bool },
    /// The end is not a pod: Calico enforces nothing there.
    NotAPod,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub allowed: bool,
    pub decider: Decider,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.allowed { "allow" } else { "deny" };
        match &self.decider {
            Decider::Rule {
                tier,
                policy,
                rule,
                action,
            } => write!(
                f,
                "{verdict}: tier {tier}, policy {policy}, rule #{rule} ({action:?})"
            ),
            Decider::EndOfTier { tier, action } => {
                write!(
                    f,
                    "{verdict}: end of tier {tier} (defaultAction {action:?})"
                )
            }
            Decider::Profile { passed: true } => {
                write!(
                    f,
                    "{verdict}: the last tier passed; the namespace profile allows"
                )
            }
            Decider::Profile { passed: false } => {
                write!(
                    f,
                    "{verdict}: no tier selects the endpoint; the namespace profile allows"
                )
            }
            Decider::NotAPod => write!(f, "{verdict}: not a pod, nothing enforced"),
        }
    }
}

/// Both sides of one packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// What the probe was: family and ICMP type when relevant.
    pub probe: String,
    pub egress: Side,
    pub ingress: Side,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.egress.allowed && self.ingress.allowed
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})\n    egress at the source:       {}\n    ingress at the destination: {}",
            if self.allowed() { "allowed" } else { "denied" },
            self.probe,
            self.egress,
            self.ingress
        )
    }
}

// ------------------------------------------------------------------ packets

/// IPv4 and IPv6 pod addresses: Calico matches `nets` by address, pods
/// included, so pods need addresses. They lie in networks no program of the
/// tests names (10.244.0.0/16 as in the kubectl inventories of
/// `tests/nca`, and fc00:10:244::/64), except through supernets such as
/// 0.0.0.0/0 or 10.0.0.0/8 — which in Calico do match pods.
fn pod_address(index: usize, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(std::net::Ipv6Addr::new(
            0xfc00,
            0x10,
            0x244,
            0,
            0,
            0,
            0,
            index as u16 + 10,
        ))
    } else {
        IpAddr::V4(std::net::Ipv4Addr::new(
            10,
            244,
            (index / 200) as u8,
            (index % 200 + 10) as u8,
        ))
    }
}

/// A packet's protocol number, port or ICMP type/code, and how to name it.
type Shape = (u8, Option<u16>, Option<(u8, u8)>, String);

/// One end of a packet: its address, and the pod when it is one.
#[derive(Clone, Copy)]
struct End<'a> {
    ip: IpAddr,
    /// The API server (the endpoint of Service `default/kubernetes`).
    api_server: bool,
    /// The pod's index in the universe.
    pod: Option<(usize, &'a Pod)>,
}

/// A concrete packet: ends, IP protocol number, destination port or ICMP
/// type/code, and the HTTP request when asked about one.
struct Packet<'a> {
    source: End<'a>,
    destination: End<'a>,
    protocol: u8,
    port: Option<u16>,
    icmp: Option<(u8, u8)>,
    request: Option<&'a Request>,
}

const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const UDPLITE: u8 = 136;

/// Calico's protocol names (Calico OSS docs /reference/resources/networkpolicy,
/// Rule: `protocol` "TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255").
fn protocol_number(value: &Value) -> Result<u8, String> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .filter(|n| (1..=255).contains(n))
            .map(|n| n as u8)
            .ok_or_else(|| format!("bad protocol {n}")),
        Value::String(s) => match s.as_str() {
            "TCP" => Ok(TCP),
            "UDP" => Ok(UDP),
            "ICMP" => Ok(ICMP),
            "ICMPv6" => Ok(ICMPV6),
            "SCTP" => Ok(SCTP),
            "UDPLite" => Ok(UDPLITE),
            other => other
                .parse::<u8>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("bad protocol `{other}`")),
        },
        other => Err(format!("bad protocol {other:?}")),
    }
}

// ------------------------------------------------------------------ loading

fn field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.get(key).filter(|v| !v.is_null())
}

fn str_field(value: &Value, key: &str) -> Result<Option<String>, String> {
    match field(value, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("`{key}` is not a string: {other:?}")),
    }
}

fn only_keys(value: &Value, what: &str, allowed: &[&str]) -> Result<(), String> {
    let Some(map) = value.as_mapping() else {
        return Err(format!("{what} is not a mapping"));
    };
    for key in map.keys() {
        let key = key.as_str().unwrap_or_default();
        if !allowed.contains(&key) {
            return Err(format!("{what}: `{key}` is not modelled (or not Calico)"));
        }
    }
    Ok(())
}

fn labels_of(value: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    if let Some(map) = value.and_then(Value::as_mapping) {
        for (k, v) in map {
            match (k.as_str(), v.as_str()) {
                (Some(k), Some(v)) => {
                    out.insert(k.to_string(), v.to_string());
                }
                _ => return Err(format!("a label is not a string pair: {k:?}: {v:?}")),
            }
        }
    }
    Ok(out)
}

fn selector_field(value: &Value, key: &str) -> Result<Option<Selector>, String> {
    Ok(match str_field(value, key)? {
        Some(s) if !s.trim().is_empty() => Some(Selector::parse(&s)?),
        _ => None,
    })
}

fn nets(value: &Value, key: &str) -> Result<Vec<Net>, String> {
    match field(value, key) {
        None => Ok(Vec::new()),
        Some(Value::Sequence(list)) => list
            .iter()
            .map(|n| {
                n.as_str()
                    .ok_or("a net is not a string")
                    .map_err(String::from)
                    .and_then(Net::parse)
            })
            .collect(),
        Some(other) => Err(format!("`{key}` is not a list: {other:?}")),
    }
}

/// Ports (Calico OSS docs /reference/resources/networkpolicy, Ports): a
/// number, `"a:b"` (inclusive), or a named port.
fn ports(value: &Value, key: &str) -> Result<Vec<PortMatch>, String> {
    let Some(list) = field(value, key) else {
        return Ok(Vec::new());
    };
    let list = list.as_sequence().ok_or(format!("`{key}` is not a list"))?;
    let number = |s: &str| -> Result<u16, String> {
        s.parse::<u16>().map_err(|_| format!("bad port `{s}`"))
    };
    list.iter()
        .map(|p| match p {
            Value::Number(n) => n
                .as_u64()
                .filter(|n| *n <= 65535)
                .map(|n| PortMatch::Range(n as u16, n as u16))
                .ok_or_else(|| format!("bad port {n}")),
            Value::String(s) => match s.split_once(':') {
                Some((a, b)) => {
                    let (lo, hi) = (number(a)?, number(b)?);
                    if lo > hi {
                        return Err(format!("bad port range `{s}`"));
                    }
                    Ok(PortMatch::Range(lo, hi))
                }
                None if s.chars().all(|c| c.is_ascii_digit()) => {
                    let n = number(s)?;
                    Ok(PortMatch::Range(n, n))
                }
                None => Ok(PortMatch::Named(s.clone())),
            },
            other => Err(format!("bad port {other:?}")),
        })
        .collect()
}

fn entity_rule(value: Option<&Value>, what: &str) -> Result<EntityRule, String> {
    let Some(value) = value else {
        return Ok(EntityRule::default());
    };
    // serviceAccounts (and Enterprise `domains`) are not modelled.
    only_keys(
        value,
        what,
        &[
            "selector",
            "notSelector",
            "namespaceSelector",
            "nets",
            "notNets",
            "ports",
            "notPorts",
            "services",
        ],
    )?;
    let services = match field(value, "services") {
        None => None,
        Some(s) => {
            only_keys(s, &format!("{what}.services"), &["name", "namespace"])?;
            let name = str_field(s, "name")?.ok_or(format!("{what}.services: no name"))?;
            // An empty namespace is the policy's own; nplc always names it.
            let namespace =
                str_field(s, "namespace")?.ok_or(format!("{what}.services: no namespace"))?;
            // ServiceMatch: "Services cannot be specified on the same rule as
            // Selector, NotSelector, NamespaceSelector, Nets, NotNets or
            // ServiceAccounts" (Calico rejects it).
            let others = [
                "selector",
                "notSelector",
                "namespaceSelector",
                "nets",
                "notNets",
            ];
            if others.iter().any(|k| field(value, k).is_some()) {
                return Err(format!("{what}: services beside a selector or nets"));
            }
            Some((namespace, name))
        }
    };
    let rule = EntityRule {
        selector: selector_field(value, "selector")?,
        not_selector: selector_field(value, "notSelector")?,
        namespace_selector: selector_field(value, "namespaceSelector")?,
        nets: nets(value, "nets")?,
        not_nets: nets(value, "notNets")?,
        ports: ports(value, "ports")?,
        not_ports: ports(value, "notPorts")?,
        services,
    };
    for s in [&rule.selector, &rule.not_selector].into_iter().flatten() {
        if s.uses_global() {
            return Err(format!("{what}: global() outside a namespaceSelector"));
        }
    }
    Ok(rule)
}

fn icmp_field(value: &Value, key: &str) -> Result<Option<IcmpMatch>, String> {
    let Some(v) = field(value, key) else {
        return Ok(None);
    };
    only_keys(v, key, &["type", "code"])?;
    let n = |k: &str| -> Result<Option<u8>, String> {
        match field(v, k) {
            None => Ok(None),
            Some(x) => x
                .as_u64()
                .filter(|n| *n <= 255)
                .map(|n| Some(n as u8))
                .ok_or_else(|| format!("bad {key}.{k}")),
        }
    };
    Ok(Some((n("type")?, n("code")?)))
}

fn rule(value: &Value, what: &str, ingress: bool) -> Result<Rule, String> {
    only_keys(
        value,
        what,
        &[
            "action",
            "protocol",
            "notProtocol",
            "ipVersion",
            "icmp",
            "notICMP",
            "source",
            "destination",
            "http",
            "metadata",
        ],
    )?;
    let action = match str_field(value, "action")?.as_deref() {
        Some("Allow") => Action::Allow,
        Some("Deny") => Action::Deny,
        Some("Pass") => Action::Pass,
        Some("Log") => Action::Log,
        other => return Err(format!("{what}: bad action {other:?}")),
    };
    let protocol = field(value, "protocol").map(protocol_number).transpose()?;
    let not_protocol = field(value, "notProtocol")
        .map(protocol_number)
        .transpose()?;
    let ip_version = match field(value, "ipVersion") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n == 4 || *n == 6)
                .ok_or(format!("{what}: bad ipVersion"))? as u8,
        ),
    };
    let source = entity_rule(field(value, "source"), &format!("{what}.source"))?;
    let destination = entity_rule(field(value, "destination"), &format!("{what}.destination"))?;
    // Ports need a protocol that has them (Calico OSS docs
    // /reference/resources/networkpolicy, Rule: "ports … only valid with
    // protocol TCP, UDP, SCTP or UDPLite"); source ports are not modelled
    // (connections have none).
    if !source.ports.is_empty() || !source.not_ports.is_empty() {
        return Err(format!("{what}: source ports are not modelled"));
    }
    // libcalico-go's validator: "cannot specify ports with a service
    // selector" on the destination (its endpoints' ports apply).
    if destination.services.is_some()
        && (!destination.ports.is_empty() || !destination.not_ports.is_empty())
    {
        return Err(format!(
            "{what}: destination services with ports (Calico rejects it)"
        ));
    }
    if (!destination.ports.is_empty() || !destination.not_ports.is_empty())
        && !matches!(protocol, Some(TCP | UDP | SCTP | UDPLITE))
    {
        return Err(format!(
            "{what}: destination ports without protocol TCP, UDP, SCTP or UDPLite (Calico rejects it)"
        ));
    }
    let icmp = icmp_field(value, "icmp")?;
    let not_icmp = icmp_field(value, "notICMP")?;
    if (icmp.is_some() || not_icmp.is_some()) && !matches!(protocol, Some(ICMP | ICMPV6)) {
        return Err(format!(
            "{what}: icmp without protocol ICMP or ICMPv6 (Calico rejects it)"
        ));
    }
    let http = match field(value, "http") {
        None => None,
        Some(h) => {
            // Application layer policy (Calico OSS docs
            // /reference/resources/networkpolicy, "Application layer policy"):
            // ingress only, Allow only.
            if !ingress || action != Action::Allow {
                return Err(format!(
                    "{what}: http match outside an ingress Allow rule (Calico rejects it)"
                ));
            }
            only_keys(h, &format!("{what}.http"), &["methods", "paths"])?;
            let methods = field(h, "methods")
                .and_then(Value::as_sequence)
                .map(|l| {
                    l.iter()
                        .filter_map(|m| m.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let mut paths = Vec::new();
            for p in field(h, "paths")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                only_keys(p, &format!("{what}.http.paths"), &["exact", "prefix"])?;
                match (str_field(p, "exact")?, str_field(p, "prefix")?) {
                    (Some(e), None) => paths.push((true, e)),
                    (None, Some(x)) => paths.push((false, x)),
                    _ => return Err(format!("{what}: a path needs exactly one of exact, prefix")),
                }
            }
            Some(HttpMatch { methods, paths })
        }
    };
    Ok(Rule {
        action,
        protocol,
        not_protocol,
        ip_version,
        icmp,
        not_icmp,
        source,
        destination,
        http,
    })
}

fn order(spec: &Value, what: &str) -> Result<Option<f64>, String> {
    match field(spec, "order") {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("{what}: order is not a number")),
    }
}

fn policy(doc: &Value, kind: &str) -> Result<Policy, String> {
    let meta = field(doc, "metadata").ok_or(format!("a {kind} without metadata"))?;
    let name = str_field(meta, "name")?.ok_or(format!("a {kind} without a name"))?;
    let global = kind == "GlobalNetworkPolicy";
    let namespace = str_field(meta, "namespace")?;
    let what = format!("{kind} {name}");
    match (global, &namespace) {
        (true, Some(_)) => return Err(format!("{what}: a GlobalNetworkPolicy has no namespace")),
        // Calico's default is `default`; the emitter must say which.
        (false, None) => {
            return Err(format!(
                "{what}: a NetworkPolicy without metadata.namespace"
            ))
        }
        _ => {}
    }
    let empty = Value::Mapping(Default::default());
    let spec = field(doc, "spec").unwrap_or(&empty);
    // doNotTrack / preDNAT / applyOnForward / serviceAccountSelector /
    // performanceHints are not modelled.
    let mut allowed = vec!["order", "tier", "selector", "types", "ingress", "egress"];
    if global {
        allowed.push("namespaceSelector");
    }
    only_keys(spec, &what, &allowed)?;
    let tier = str_field(spec, "tier")?.unwrap_or_else(|| DEFAULT_TIER.to_string());
    // A policy in a tier other than default is named `<tier>.<name>`
    // (Calico OSS docs /network-policy/policy-tiers/tiered-policy; the API
    // rejects other names before Calico 3.30).
    if tier != DEFAULT_TIER && !name.starts_with(&format!("{tier}.")) {
        return Err(format!(
            "{what}: in tier {tier} but not named `{tier}.<name>`"
        ));
    }
    let selector = selector_field(spec, "selector")?.unwrap_or(Selector::All);
    let namespace_selector = selector_field(spec, "namespaceSelector")?;
    if selector.uses_global() {
        return Err(format!("{what}: global() in the policy's selector"));
    }
    let rules = |key: &str, ingress: bool| -> Result<Vec<Rule>, String> {
        match field(spec, key) {
            None => Ok(Vec::new()),
            Some(Value::Sequence(list)) => list
                .iter()
                .enumerate()
                .map(|(i, r)| rule(r, &format!("{what} {key}[{i}]"), ingress))
                .collect(),
            Some(other) => Err(format!("{what}: `{key}` is not a list: {other:?}")),
        }
    };
    let ingress = rules("ingress", true)?;
    let egress = rules("egress", false)?;
    // `types` defaults from the rules present (Calico OSS docs
    // /reference/resources/networkpolicy, Spec, `types` footnote): none or
    // ingress only → Ingress; egress only → Egress; both → both.
    let (ingress_type, egress_type) = match field(spec, "types") {
        Some(Value::Sequence(list)) => {
            let mut t = (false, false);
            for v in list {
                match v.as_str() {
                    Some("Ingress") => t.0 = true,
                    Some("Egress") => t.1 = true,
                    other => return Err(format!("{what}: bad type {other:?}")),
                }
            }
            t
        }
        Some(other) => return Err(format!("{what}: `types` is not a list: {other:?}")),
        None => match (ingress.is_empty(), egress.is_empty()) {
            (_, true) => (true, false),
            (true, false) => (false, true),
            (false, false) => (true, true),
        },
    };
    if !ingress_type && !ingress.is_empty() || !egress_type && !egress.is_empty() {
        return Err(format!(
            "{what}: rules for a direction not in `types` (Calico rejects it)"
        ));
    }
    Ok(Policy {
        kind: kind.to_string(),
        order: order(spec, &what)?,
        name,
        namespace,
        tier,
        selector,
        namespace_selector,
        ingress_type,
        egress_type,
        ingress,
        egress,
    })
}

/// Calico's policy and tier order: by `order`, a missing order last, then
/// by name (Calico OSS docs /reference/resources/tier: "No value indicates
/// highest order"; /reference/resources/networkpolicy `order`: "lowest value
/// first"; Felix breaks ties by name).
fn by_order(a: (Option<f64>, &str), b: (Option<f64>, &str)) -> std::cmp::Ordering {
    let key = |o: Option<f64>| o.unwrap_or(f64::INFINITY);
    key(a.0).total_cmp(&key(b.0)).then_with(|| a.1.cmp(b.1))
}

impl Calico {
    /// Reads a YAML stream of projectcalico.org/v3 documents. `pods` is the
    /// universe: a pod's addresses are given by its position.
    pub fn load(yaml_text: &str, pods: &[Pod]) -> Result<Calico, Vec<String>> {
        let mut problems = Vec::new();
        let mut tiers: BTreeMap<String, Tier> = BTreeMap::new();
        let mut policies = Vec::new();
        let mut network_sets = Vec::new();
        let mut staged = 0;
        for text in crate::support::yaml_documents(yaml_text) {
            let doc = match serde_yaml::from_str::<Value>(&text) {
                Ok(Value::Null) => continue,
                Ok(d) => d,
                Err(e) => {
                    problems.push(format!("not YAML: {e}"));
                    continue;
                }
            };
            if let Err(p) = load_document(
                &doc,
                &mut tiers,
                &mut policies,
                &mut network_sets,
                &mut staged,
            ) {
                problems.push(p);
            }
        }
        // The default tier always exists.
        tiers
            .entry(DEFAULT_TIER.to_string())
            .or_insert_with(|| Tier {
                name: DEFAULT_TIER.to_string(),
                order: Some(DEFAULT_TIER_ORDER),
                default_action: Action::Deny,
                policies: Vec::new(),
            });
        for p in policies {
            match tiers.get_mut(&p.tier) {
                Some(t) => t.policies.push(p),
                // Calico rejects a policy whose tier does not exist.
                None => problems.push(format!(
                    "{} {}: tier {} does not exist",
                    p.kind, p.name, p.tier
                )),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut tiers: Vec<Tier> = tiers.into_values().collect();
        tiers.sort_by(|a, b| by_order((a.order, &a.name), (b.order, &b.name)));
        for t in &mut tiers {
            t.policies
                .sort_by(|a, b| by_order((a.order, &a.name), (b.order, &b.name)));
        }
        let pod_holders: Vec<Holder> = pods
            .iter()
            .map(|pod| Holder {
                namespace: Some(pod.namespace.clone()),
                namespace_labels: namespace_labels(pod),
                labels: pod_labels(pod),
            })
            .collect();
        let applying = pod_holders
            .iter()
            .map(|holder| {
                [false, true].map(|egress| {
                    tiers
                        .iter()
                        .map(|t| {
                            (0..t.policies.len())
                                .filter(|&i| {
                                    let p = &t.policies[i];
                                    (if egress {
                                        p.egress_type
                                    } else {
                                        p.ingress_type
                                    }) && applies(p, holder)
                                })
                                .collect()
                        })
                        .collect()
                })
            })
            .collect();
        let network_sets = network_sets
            .into_iter()
            .map(|set| {
                let holder = set_holder(&set, pods);
                (set, holder)
            })
            .collect();
        Ok(Calico {
            tiers,
            network_sets,
            pods: pods.to_vec(),
            pod_indexes: pods
                .iter()
                .enumerate()
                .map(|(i, p)| (p.clone(), i))
                .rev()
                .collect(),
            pod_holders,
            applying,
            staged,
        })
    }
}

fn load_document(
    doc: &Value,
    tiers: &mut BTreeMap<String, Tier>,
    policies: &mut Vec<Policy>,
    network_sets: &mut Vec<NetworkSet>,
    staged: &mut usize,
) -> Result<(), String> {
    let api = str_field(doc, "apiVersion")?.unwrap_or_default();
    let kind = str_field(doc, "kind")?.unwrap_or_default();
    if api != "projectcalico.org/v3" {
        return Err(format!(
            "{kind}: apiVersion {api}, not projectcalico.org/v3"
        ));
    }
    let meta = field(doc, "metadata").ok_or(format!("a {kind} without metadata"))?;
    let name = str_field(meta, "name")?.ok_or(format!("a {kind} without a name"))?;
    let empty = Value::Mapping(Default::default());
    let spec = field(doc, "spec").unwrap_or(&empty);
    match kind.as_str() {
        "Tier" => {
            only_keys(spec, &format!("Tier {name}"), &["order", "defaultAction"])?;
            // defaultAction: Deny (the default) or Pass (Calico OSS docs
            // /reference/resources/tier).
            let default_action = match str_field(spec, "defaultAction")?.as_deref() {
                None | Some("Deny") => Action::Deny,
                Some("Pass") => Action::Pass,
                Some(other) => return Err(format!("Tier {name}: bad defaultAction {other}")),
            };
            let tier = Tier {
                order: order(spec, &format!("Tier {name}"))?,
                name: name.clone(),
                default_action,
                policies: Vec::new(),
            };
            if tiers.insert(name.clone(), tier).is_some() {
                return Err(format!("Tier {name} twice"));
            }
        }
        "NetworkPolicy" | "GlobalNetworkPolicy" => policies.push(policy(doc, &kind)?),
        // Staged policies preview and do not enforce (Calico OSS docs
        // /reference/resources/stagednetworkpolicy); they are read and set aside.
        "StagedNetworkPolicy" | "StagedGlobalNetworkPolicy" => *staged += 1,
        "NetworkSet" | "GlobalNetworkSet" => {
            let global = kind == "GlobalNetworkSet";
            let namespace = str_field(meta, "namespace")?;
            if global == namespace.is_some() {
                return Err(format!("{kind} {name}: namespace {namespace:?}"));
            }
            only_keys(spec, &format!("{kind} {name}"), &["nets"])?;
            network_sets.push(NetworkSet {
                namespace,
                labels: labels_of(field(meta, "labels"))?,
                nets: nets(spec, "nets")?,
            });
        }
        other => return Err(format!("kind {other} is not modelled")),
    }
    Ok(())
}

// ------------------------------------------------------------------ judging

fn pod_labels(pod: &Pod) -> BTreeMap<String, String> {
    let mut labels = pod.labels.clone();
    labels.insert(ENDPOINT_NAMESPACE.to_string(), pod.namespace.clone());
    labels.insert(
        ENDPOINT_ORCHESTRATOR.0.to_string(),
        ENDPOINT_ORCHESTRATOR.1.to_string(),
    );
    labels
}

/// A namespace's labels as Calico's selectors see them: its own, the
/// Kubernetes name label, and Calico's `projectcalico.org/name`.
fn namespace_labels(pod: &Pod) -> BTreeMap<String, String> {
    let mut labels = pod.effective_namespace_labels();
    labels.insert(NAMESPACE_NAME.to_string(), pod.namespace.clone());
    labels
}

/// Whether a policy applies to a pod (Calico OSS docs
/// /reference/resources/networkpolicy: a NetworkPolicy "only applies to
/// workload endpoint resources in that namespace"; /globalnetworkpolicy:
/// `namespaceSelector` "Selects the namespace(s) to which this policy
/// applies", default all()).
fn applies(policy: &Policy, pod: &Holder) -> bool {
    if policy.namespace.is_some() && policy.namespace != pod.namespace {
        return false;
    }
    if let Some(ns_sel) = &policy.namespace_selector {
        if !ns_sel.matches(&pod.namespace_labels, Scope::Namespace) {
            return false;
        }
    }
    policy.selector.matches(&pod.labels, Scope::Labels)
}

/// A network set's labels as selectors see them; a namespaced one's
/// namespace labels are those of its namespace (taken from a pod of the
/// universe there, or just the name labels).
fn set_holder(set: &NetworkSet, pods: &[Pod]) -> Holder {
    match &set.namespace {
        Some(ns) => {
            let mut ns_labels = pods
                .iter()
                .find(|p| p.namespace == *ns)
                .map(namespace_labels)
                .unwrap_or_default();
            ns_labels.insert(NAMESPACE_NAME.to_string(), ns.clone());
            ns_labels.insert("kubernetes.io/metadata.name".to_string(), ns.clone());
            let mut labels = set.labels.clone();
            labels.insert(ENDPOINT_NAMESPACE.to_string(), ns.clone());
            Holder {
                namespace: Some(ns.clone()),
                namespace_labels: ns_labels,
                labels,
            }
        }
        None => Holder {
            namespace: None,
            namespace_labels: BTreeMap::new(),
            labels: set.labels.clone(),
        },
    }
}

impl Calico {
    /// Everything that holds `ip`: the pod with that address, and every
    /// network set whose nets contain it (Calico OSS docs
    /// /reference/resources/networkpolicy, EntityRule: selectors match
    /// workload endpoints and network sets; packets match by address).
    fn holders(&self, end: &End<'_>) -> Vec<&Holder> {
        let mut out = Vec::new();
        if let Some((i, _)) = end.pod {
            out.push(&self.pod_holders[i]);
        }
        for (set, holder) in &self.network_sets {
            if set.nets.iter().any(|n| n.contains(end.ip)) {
                out.push(holder);
            }
        }
        out
    }

    /// The namespace part of an entity rule against a holder, `None` when
    /// the rule has none. Calico OSS docs /reference/resources/networkpolicy,
    /// EntityRule `namespaceSelector`: "Defines the scope that selectors will
    /// apply to, if not defined then selectors apply to the NetworkPolicy's
    /// namespace"; a GlobalNetworkPolicy without one has no namespace part
    /// (/network-policy/get-started/calico-policy/calico-labels: "resources
    /// in any namespace and non-namespaced resources").
    fn namespace_part(policy: &Policy, entity: &EntityRule, holder: &Holder) -> Option<bool> {
        match (&entity.namespace_selector, holder.namespace.as_deref()) {
            (Some(sel), Some(_)) => Some(sel.matches(&holder.namespace_labels, Scope::Namespace)),
            (Some(sel), None) => Some(sel.matches(&BTreeMap::new(), Scope::NonNamespaced)),
            (None, ns) => policy
                .namespace
                .as_ref()
                .map(|own| ns == Some(own.as_str())),
        }
    }

    /// An entity rule against one end of the packet; `ports` apply to the
    /// destination only. All criteria must match (Calico OSS docs
    /// /reference/resources/networkpolicy, EntityRule).
    fn entity_matches(
        &self,
        policy: &Policy,
        entity: &EntityRule,
        end: &End<'_>,
        packet: &Packet<'_>,
        is_destination: bool,
    ) -> bool {
        if let Some((namespace, name)) = &entity.services {
            let kubernetes = namespace == "default" && name == "kubernetes";
            let on_its_port =
                !is_destination || (packet.protocol == TCP && packet.port == Some(API_SERVER_PORT));
            return kubernetes && end.api_server && on_its_port;
        }
        // The program's addresses are outside the cluster and the API server
        // is not one of them (it is the `kube-apiserver` entity, as on
        // cilium): no `nets` of nplc's output holds it.
        if !entity.nets.is_empty()
            && (end.api_server || !entity.nets.iter().any(|n| n.contains(end.ip)))
        {
            return false;
        }
        if entity.not_nets.iter().any(|n| n.contains(end.ip)) {
            return false;
        }
        // Selectors match the packet's address when it belongs to a selected
        // holder. How the fields combine is libcalico-go's
        // (`updateprocessors/rules.go`, `getEndpointSelector`): the namespace
        // part is and-ed with `selector` as soon as any of `selector`,
        // `notSelector`, `namespaceSelector` is set — a namespaceSelector
        // alone selects everything in its namespaces, and in a NetworkPolicy
        // a lone `notSelector` still confines the rule to its namespace —
        // while `notSelector` itself is evaluated unscoped.
        let holders = self.holders(end);
        let any_selector = entity.selector.is_some()
            || entity.not_selector.is_some()
            || entity.namespace_selector.is_some();
        if any_selector {
            let positive = holders.iter().any(|h| {
                let ns_part = Self::namespace_part(policy, entity, h);
                let sel_part = entity
                    .selector
                    .as_ref()
                    .map(|sel| sel.matches(&h.labels, Scope::Labels));
                match (ns_part, sel_part) {
                    (None, None) => true,
                    (Some(a), None) | (None, Some(a)) => a,
                    (Some(a), Some(b)) => a && b,
                }
            });
            // Without a namespace part and a selector (a GlobalNetworkPolicy
            // with only notSelector) there is no positive match to make.
            let needs_positive = entity.selector.is_some()
                || entity.namespace_selector.is_some()
                || policy.namespace.is_some();
            if needs_positive && !positive {
                return false;
            }
        }
        if let Some(not) = &entity.not_selector {
            if holders
                .iter()
                .any(|h| not.matches(&h.labels, Scope::Labels))
            {
                return false;
            }
        }
        if is_destination {
            if !entity.ports.is_empty() && !entity.ports.iter().any(|p| port_matches(p, packet)) {
                return false;
            }
            if entity.not_ports.iter().any(|p| port_matches(p, packet)) {
                return false;
            }
        }
        true
    }

    fn rule_matches(&self, policy: &Policy, rule: &Rule, packet: &Packet<'_>) -> bool {
        if rule.protocol.is_some_and(|p| p != packet.protocol) {
            return false;
        }
        if rule.not_protocol == Some(packet.protocol) {
            return false;
        }
        let v6 = packet.source.ip.is_ipv6();
        if let Some(version) = rule.ip_version {
            if (version == 6) != v6 {
                return false;
            }
        }
        let icmp_hit = |m: &IcmpMatch| match packet.icmp {
            Some((t, c)) => m.0.is_none_or(|x| x == t) && m.1.is_none_or(|x| x == c),
            None => false,
        };
        if rule.icmp.as_ref().is_some_and(|m| !icmp_hit(m)) {
            return false;
        }
        if rule.not_icmp.as_ref().is_some_and(icmp_hit) {
            return false;
        }
        if !self.entity_matches(policy, &rule.source, &packet.source, packet, false) {
            return false;
        }
        if !self.entity_matches(policy, &rule.destination, &packet.destination, packet, true) {
            return false;
        }
        match (&rule.http, packet.request) {
            (None, _) => true,
            // Judged at L4, an HTTP allow lets some requests through.
            (Some(_), None) => true,
            (Some(m), Some(Request::Http { method, path })) => {
                (m.methods.is_empty() || m.methods.iter().any(|x| x == method))
                    && (m.paths.is_empty()
                        || m.paths.iter().any(|(exact, p)| {
                            if *exact {
                                path == p
                            } else {
                                path.starts_with(p.as_str())
                            }
                        }))
            }
            (Some(_), Some(Request::Dns { .. })) => false,
        }
    }

    /// One direction at one pod: tiers in order, the policies of a tier
    /// that apply, first matching rule (Calico OSS docs
    /// /reference/resources/tier, "How Policy Is Evaluated").
    fn side(&self, pod: usize, egress: bool, packet: &Packet<'_>) -> Side {
        let mut passed = false;
        for (t, tier) in self.tiers.iter().enumerate() {
            let applying = &self.applying[pod][usize::from(egress)][t];
            // A tier with no policy for the endpoint is skipped.
            if applying.is_empty() {
                continue;
            }
            let mut tier_passed = false;
            'policies: for policy in applying.iter().map(|&i| &tier.policies[i]) {
                let rules = if egress {
                    &policy.egress
                } else {
                    &policy.ingress
                };
                for (i, rule) in rules.iter().enumerate() {
                    if !self.rule_matches(policy, rule, packet) {
                        continue;
                    }
                    let decider = Decider::Rule {
                        tier: tier.name.clone(),
                        policy: policy.name.clone(),
                        rule: i,
                        action: rule.action,
                    };
                    match rule.action {
                        Action::Allow => {
                            return Side {
                                allowed: true,
                                decider,
                            }
                        }
                        Action::Deny => {
                            return Side {
                                allowed: false,
                                decider,
                            }
                        }
                        // Pass skips the rest of the tier.
                        Action::Pass => {
                            tier_passed = true;
                            break 'policies;
                        }
                        // Log records and goes on.
                        Action::Log => {}
                    }
                }
            }
            if tier_passed {
                passed = true;
                continue;
            }
            // The tier applies but took no action: its defaultAction
            // (Deny unless the Tier says Pass).
            match tier.default_action {
                Action::Pass => passed = true,
                action => {
                    return Side {
                        allowed: false,
                        decider: Decider::EndOfTier {
                            tier: tier.name.clone(),
                            action,
                        },
                    }
                }
            }
        }
        // Nothing decided: the endpoint's profiles. Kubernetes namespaces
        // become profiles `kns.<namespace>` that allow all (Calico OSS docs
        // /reference/resources/profile; /reference/resources/tier: "If the
        // last Tier applying to the endpoint Passes the packet, that
        // endpoint's Profiles are evaluated").
        Side {
            allowed: true,
            decider: Decider::Profile { passed },
        }
    }

    /// Every port where a rule's `ports` or `notPorts` start or stop
    /// (range ends plus one), whatever the protocol.
    pub fn port_cuts(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for rule in self.rules() {
            for p in rule
                .destination
                .ports
                .iter()
                .chain(&rule.destination.not_ports)
            {
                if let PortMatch::Range(lo, hi) = p {
                    out.push(u32::from(*lo));
                    out.push(u32::from(*hi) + 1);
                }
            }
        }
        out
    }

    /// Every address (as a number of its family) where a rule's nets or a
    /// network set's start or stop (last address plus one).
    pub fn address_cuts(&self, v6: bool) -> Vec<u128> {
        let mut nets: Vec<&Net> = Vec::new();
        for rule in self.rules() {
            for side in [&rule.source, &rule.destination] {
                nets.extend(side.nets.iter().chain(&side.not_nets));
            }
        }
        for (set, _) in &self.network_sets {
            nets.extend(&set.nets);
        }
        let mut out = Vec::new();
        for net in nets.into_iter().filter(|n| n.v6 == v6) {
            let bits = if v6 { 128 } else { 32 };
            let host = if bits - net.len >= 128 {
                u128::MAX
            } else {
                (1u128 << (bits - net.len)) - 1
            };
            out.push(net.addr);
            let last = net.addr | host;
            let max = if v6 { u128::MAX } else { u128::from(u32::MAX) };
            if last < max {
                out.push(last + 1);
            }
        }
        out
    }

    fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.tiers
            .iter()
            .flat_map(|t| &t.policies)
            .flat_map(|p| p.ingress.iter().chain(&p.egress))
    }

    fn pod_index(&self, pod: &Pod) -> Option<usize> {
        self.pod_indexes.get(pod).copied()
    }

    /// The packets that stand for a connection: one per address family its
    /// ends can use (an ICMP message keeps its own protocol number whatever
    /// the addresses, as NPL's evaluator reads it). `None`: an end this model
    /// cannot place (an FQDN, or an entity other than `world` and
    /// `kube-apiserver`), or a pod outside the universe.
    pub fn verdicts(&self, conn: &Connection) -> Option<Vec<Verdict>> {
        let end_ips = |e: &Endpoint| -> Option<Vec<IpAddr>> {
            match e {
                Endpoint::Pod(p) => {
                    let i = self.pod_index(p)?;
                    Some(vec![pod_address(i, false), pod_address(i, true)])
                }
                Endpoint::Ip(ip) => Some(vec![*ip]),
                Endpoint::Entity(Entity::World) => Some(vec![WORLD_ADDRESS]),
                Endpoint::Entity(Entity::KubeApiserver) => Some(vec![API_SERVER_ADDRESS]),
                _ => None,
            }
        };
        let (sources, destinations) = (end_ips(&conn.source)?, end_ips(&conn.destination)?);
        let mut out = Vec::new();
        for v6 in [false, true] {
            let (Some(&s), Some(&d)) = (
                sources.iter().find(|ip| ip.is_ipv6() == v6),
                destinations.iter().find(|ip| ip.is_ipv6() == v6),
            ) else {
                continue;
            };
            let end = |e: &'_ Endpoint, ip: IpAddr| -> End<'_> {
                let pod = match e {
                    Endpoint::Pod(p) => self.pod_index(p).map(|i| (i, &self.pods[i])),
                    _ => None,
                };
                let api_server = *e == Endpoint::Entity(Entity::KubeApiserver);
                End {
                    ip,
                    pod,
                    api_server,
                }
            };
            let (source, destination) = (end(&conn.source, s), end(&conn.destination, d));
            let shapes: Vec<Shape> = match conn.transport {
                Transport::Port(protocol, port) => {
                    let number = match protocol {
                        Protocol::Tcp => TCP,
                        Protocol::Udp => UDP,
                        Protocol::Sctp => SCTP,
                    };
                    vec![(number, Some(port), None, String::new())]
                }
                Transport::Icmp(m) => {
                    let number = match m.family {
                        IcmpFamily::V4 => ICMP,
                        IcmpFamily::V6 => ICMPV6,
                    };
                    vec![(number, None, Some((m.icmp_type, m.code)), format!(", {m}"))]
                }
            };
            for (protocol, port, icmp, what) in shapes {
                let packet = Packet {
                    source,
                    destination,
                    protocol,
                    port,
                    icmp,
                    request: conn.request.as_ref(),
                };
                let egress = match source.pod {
                    Some((i, _)) => self.side(i, true, &packet),
                    None => Side {
                        allowed: true,
                        decider: Decider::NotAPod,
                    },
                };
                let ingress = match destination.pod {
                    Some((i, _)) => self.side(i, false, &packet),
                    None => Side {
                        allowed: true,
                        decider: Decider::NotAPod,
                    },
                };
                out.push(Verdict {
                    probe: format!("{s} -> {d}{what}"),
                    egress,
                    ingress,
                });
            }
        }
        Some(out)
    }
}

/// A destination port criterion against the packet. A named port matches
/// the destination pod's container port of that name and the packet's
/// protocol (Calico OSS docs /reference/resources/networkpolicy, Ports:
/// "named ports … resolved on the destination workload"); an address that
/// is not a pod has no named ports.
fn port_matches(port: &PortMatch, packet: &Packet<'_>) -> bool {
    let Some(number) = packet.port else {
        return false;
    };
    match port {
        PortMatch::Range(lo, hi) => (*lo..=*hi).contains(&number),
        PortMatch::Named(name) => packet.destination.pod.is_some_and(|(_, pod)| {
            pod.ports.iter().any(|p| {
                p.name == *name
                    && p.number == number
                    && match p.protocol {
                        Protocol::Tcp => packet.protocol == TCP,
                        Protocol::Udp => packet.protocol == UDP,
                        Protocol::Sctp => packet.protocol == SCTP,
                    }
            })
        }),
    }
}
