//! Test-side helpers for `tests/kubernetes.rs`: the Python tools of `.venv`
//! (network-config-analyzer, kubernetes-validate), generated inventories as
//! kubectl YAML, and connectivity — as `nca --connectivity --output_format
//! txt_no_fw_rules` prints it and as `nplc matrix --format json` prints it —
//! parsed into one exact model and compared.
//!
//! The model is what both can say about a pair of endpoints: per protocol
//! (TCP, UDP, SCTP) a set of destination ports, and ICMP. nca knows 256 IP
//! protocols; it is projected onto these four, which is exact for everything
//! a NetworkPolicy can allow (ports of TCP/UDP/SCTP, or every protocol).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use nplc_compiler::algebra::icmp::{self, IcmpFamily, IcmpMessage, IcmpSet};
use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::eval::{self, Connection, Endpoint, Transport};
use nplc_compiler::inventory::{ApiServer, NamedPod, APISERVER_SERVICE_PORT};
use nplc_compiler::ir::Ir;
use nplc_compiler::names::Entity;
use serde_json::{json, Value};

use crate::support::inventory::Inventory;
use crate::support::{GenConfig, GenProgram};

// ------------------------------------------------------------------ tools

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool of `.venv/bin`, or a loud failure: these tests never skip.
pub fn venv_tool(name: &str) -> PathBuf {
    let path = root().join(".venv/bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: tests/kubernetes.rs checks the emitted NetworkPolicies with `{name}`. \
         run scripts/test (it creates .venv and installs the pinned tools of \
         scripts/requirements.txt, then runs cargo test) instead of plain `cargo test`.",
        path.display()
    );
    path
}

/// A fresh directory under the system temp dir, unique per process and call.
pub fn temp_dir(label: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nplc-k8s-{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a temporary directory");
    dir
}

/// `kubernetes-validate --strict` for Kubernetes `version` on `files`;
/// panics with the tool's report when one does not validate.
pub fn kubernetes_validate(files: &[PathBuf], version: &str) {
    let tool = venv_tool("kubernetes-validate");
    for chunk in files.chunks(200) {
        let output = Command::new(&tool)
            .args(["--strict", "--quiet", "-k", version])
            .args(chunk)
            .output()
            .expect("running kubernetes-validate");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && !stdout.contains("ERROR") && !stderr.contains("ERROR"),
            "kubernetes-validate --strict -k {version} rejects emitted documents:\n{stdout}\n{stderr}"
        );
    }
}

/// nca's command line, run by the venv's Python with three corrections
/// (network-config-analyzer 2.1.0):
///
/// - "Live simulation" off. When a policy's `matchLabels` selects no pod of
///   the inventory (say `k8s-app: kube-dns` together with a label no pod
///   has), nca adds pods of its own (`kube-system/kube-dns-livesim`, ingress
///   controllers, Istio gateways) *and replaces* the inventory's
///   `kube-system` namespace with its own, labels and all: the connectivity
///   is then that of another cluster.
/// - `Exists` / `DoesNotExist` in a peer's `podSelector` see every
///   namespace. nca evaluates them among the pods of the *policy's own*
///   namespace only (`get_peers_with_key(self.namespace, ...)`), so `to:
///   [{namespaceSelector: {}, podSelector: {matchExpressions: [{key: app,
///   operator: Exists}]}}]` reaches no pod outside it, where Kubernetes
///   reaches every pod with an `app` label. `In` / `NotIn` look at every
///   namespace, and both callers intersect the result with the right
///   namespaces afterwards, so looking everywhere is exact.
/// - ICMP type 0 and code 0 in Calico rules are numbers. nca's
///   `CalicoPolicyYamlParser._parse_icmp` tests them for truth (`if
///   icmp_type:`), so `icmp: {type: 0}` (echo reply) reads as every ICMP
///   message and `{type: 3, code: 0}` as every code of type 3; the values
///   are handed to it as an `int` that is always true.
const NCA_CORRECTED: &str = concat!(
    "import sys\n",
    "from nca.NetworkConfig.ResourcesHandler import ResourcesHandler\n",
    "ResourcesHandler.analyze_livesim = staticmethod(lambda policy_finder: [])\n",
    "from nca.Parsers.K8sPolicyYamlParser import K8sPolicyYamlParser\n",
    "_requirement = K8sPolicyYamlParser.parse_label_selector_requirement\n",
    "def requirement_in_every_namespace(self, requirement, namespace_selector):\n",
    "    saved = self.namespace\n",
    "    self.namespace = None\n",
    "    try:\n",
    "        return _requirement(self, requirement, namespace_selector)\n",
    "    finally:\n",
    "        self.namespace = saved\n",
    "K8sPolicyYamlParser.parse_label_selector_requirement = requirement_in_every_namespace\n",
    "from nca.Parsers.CalicoPolicyYamlParser import CalicoPolicyYamlParser\n",
    "class _Number(int):\n",
    "    def __bool__(self):\n",
    "        return True\n",
    "def _numbers(data):\n",
    "    if not isinstance(data, dict):\n",
    "        return data\n",
    "    return {k: _Number(v) if type(v) is int else v for k, v in data.items()}\n",
    "_icmp = CalicoPolicyYamlParser._parse_icmp\n",
    "def icmp_zero_is_a_number(self, icmp_data, not_icmp_data, *rest):\n",
    "    return _icmp(self, _numbers(icmp_data), _numbers(not_icmp_data), *rest)\n",
    "CalicoPolicyYamlParser._parse_icmp = icmp_zero_is_a_number\n",
    "from nca.nca_cli import nca_main\n",
    "sys.exit(nca_main(sys.argv[1:]))\n",
);

/// Runs nca's connectivity query on `policies` (a file or directory) with an
/// inventory. nca reports a policy it cannot read as an `Error:` line (exit
/// 7) but a YAML file it cannot parse only as a message (exit 0, as if there
/// were no policies), so any `Error` in its output fails.
pub fn nca_connectivity(
    policies: &Path,
    namespaces: &Path,
    pods: &Path,
) -> Result<Connectivity, String> {
    venv_tool("nca");
    let out_dir = temp_dir("nca-out");
    let out = out_dir.join("connectivity.txt");
    let output = Command::new(venv_tool("python"))
        .args(["-c", NCA_CORRECTED])
        .arg("--connectivity")
        .arg(policies)
        .arg("--ns_list")
        .arg(namespaces)
        .arg("--pod_list")
        .arg(pods)
        .args([
            "--output_format",
            "txt_no_fw_rules",
            "--output_endpoints",
            "pods",
            "--print_ipv6",
            "--file_out",
        ])
        .arg(&out)
        .output()
        .map_err(|e| format!("running nca: {e}"))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() || said.contains("Error") {
        return Err(format!("nca failed ({}):\n{said}", output.status));
    }
    let text =
        std::fs::read_to_string(&out).map_err(|e| format!("nca wrote no output: {e}\n{said}"))?;
    let _ = std::fs::remove_dir_all(&out_dir);
    parse_nca(&text)
}

/// `nplc matrix --format json` on the same inventory.
pub fn matrix_connectivity(
    nplc: &Path,
    program: &[PathBuf],
    namespaces: &Path,
    pods: &Path,
) -> Result<Connectivity, String> {
    let output = Command::new(nplc)
        .arg("matrix")
        .args(program)
        .arg("--namespaces")
        .arg(namespaces)
        .arg("--pods")
        .arg(pods)
        .args(["--format", "json", "--color", "never"])
        .output()
        .map_err(|e| format!("running nplc matrix: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "nplc matrix failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse_matrix_json(&String::from_utf8_lossy(&output.stdout))
}

// ------------------------------------------------------------------ Calico for nca

/// A label no pod carries: what a Calico Service match becomes for nca.
pub const NO_POD: &str = "has(nplc.dev/kube-apiserver)";

/// Calico output (flat: nca reads no tiers) as network-config-analyzer
/// 2.1.0 can read it, meaning the same on everything nca and `nplc matrix`
/// compare. Two constructs nca refuses (exit 7) are rewritten:
///
/// - `services` (a Service match; "services is not a valid entry in the
///   specification of network policy peer"). The only one nplc writes is
///   `default/kubernetes`, the API server (`kube-apiserver`), which is not
///   a pod and not one of the addresses compared (the program's addresses
///   are outside the cluster; the API server is the entity): among what is
///   compared it matches nothing, and so does a `selector` no pod satisfies
///   ([`NO_POD`]). The API server's own connections are proved by the tier
///   evaluator (`tests/calico_tiers.rs`, the conformance suite's calico
///   flavour), which reads `services`.
/// - `http` ("http is not yet supported inside ingress/egress rule"). The
///   matrix judges at L4, where an L7-filtered allow allows (some requests
///   pass), and Calico writes `http` only on Allow rules: without it the
///   rule is that L4 answer. An `http` match on any other action is an
///   error here. The requests themselves are proved by the tier evaluator.
///
/// Documents without either are kept as they are (line numbers in nca's
/// errors stay those of the output).
pub fn calico_for_nca(yaml: &str) -> Result<String, String> {
    let mut out = String::new();
    for text in crate::support::yaml_documents(yaml) {
        let mut doc: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| format!("calico YAML: {e}"))?;
        let mut changed = false;
        for direction in ["ingress", "egress"] {
            // `get_mut`: indexing would insert a null `egress`.
            let rules = doc
                .get_mut("spec")
                .and_then(|spec| spec.get_mut(direction))
                .and_then(|rules| rules.as_sequence_mut());
            for rule in rules.into_iter().flatten() {
                let Some(map) = rule.as_mapping_mut() else {
                    continue;
                };
                if map.contains_key("http") {
                    if map.get("action").and_then(|a| a.as_str()) != Some("Allow") {
                        return Err(format!(
                            "an `http` match on a rule that is not Allow:\n{text}"
                        ));
                    }
                    map.remove("http");
                    changed = true;
                }
                for side in ["source", "destination"] {
                    let Some(entity) = map.get_mut(side).and_then(|e| e.as_mapping_mut()) else {
                        continue;
                    };
                    if entity.remove("services").is_some() {
                        entity.insert("selector".into(), NO_POD.into());
                        changed = true;
                    }
                }
            }
        }
        if !out.is_empty() {
            out.push_str("---\n");
        }
        if changed {
            out.push_str(&serde_yaml::to_string(&doc).map_err(|e| e.to_string())?);
        } else {
            out.push_str(&text);
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------ model

pub const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];
const ALL_PORTS: (u32, u32) = (1, 65535);

/// Allowed connections between two endpoints, projected on TCP/UDP/SCTP
/// destination ports and ICMP.
#[derive(Debug, Clone, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Conns {
    /// Merged, sorted, disjoint port ranges per protocol of [`PROTOCOLS`].
    pub ports: [Vec<(u32, u32)>; 3],
    pub icmp: IcmpProbes,
}

/// ICMP messages that stand for every other: echo request and reply,
/// destination unreachable (codes 0 and 4), time exceeded, and a type no
/// rule names, in both families. A partial set of ICMP types is compared on
/// these.
pub const ICMP_PROBES: [(IcmpFamily, u8, u8); 12] = [
    (IcmpFamily::V4, 8, 0),
    (IcmpFamily::V4, 0, 0),
    (IcmpFamily::V4, 3, 0),
    (IcmpFamily::V4, 3, 4),
    (IcmpFamily::V4, 11, 0),
    (IcmpFamily::V4, 200, 7),
    (IcmpFamily::V6, 128, 0),
    (IcmpFamily::V6, 129, 0),
    (IcmpFamily::V6, 1, 0),
    (IcmpFamily::V6, 1, 4),
    (IcmpFamily::V6, 3, 0),
    (IcmpFamily::V6, 200, 7),
];

/// Which of [`ICMP_PROBES`] are allowed, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct IcmpProbes(u16);

impl IcmpProbes {
    const MASK: u16 = (1 << ICMP_PROBES.len()) - 1;

    pub fn all() -> IcmpProbes {
        IcmpProbes(Self::MASK)
    }

    pub fn messages() -> impl Iterator<Item = IcmpMessage> {
        ICMP_PROBES
            .into_iter()
            .map(|(family, icmp_type, code)| IcmpMessage {
                family,
                icmp_type,
                code,
            })
    }

    /// The probes for which `allowed` holds.
    pub fn from_fn(mut allowed: impl FnMut(IcmpMessage) -> bool) -> IcmpProbes {
        let bits = Self::messages()
            .enumerate()
            .filter(|&(_, m)| allowed(m))
            .fold(0, |acc, (i, _)| acc | 1 << i);
        IcmpProbes(bits)
    }

    pub fn of(set: &IcmpSet) -> IcmpProbes {
        Self::from_fn(|m| set.contains(m))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn is_all(self) -> bool {
        self.0 == Self::MASK
    }

    pub fn contains(self, message: IcmpMessage) -> bool {
        Self::messages()
            .position(|m| m == message)
            .is_some_and(|i| self.0 & 1 << i != 0)
    }

    pub fn union(self, other: IcmpProbes) -> IcmpProbes {
        IcmpProbes(self.0 | other.0)
    }

    pub fn complement(self) -> IcmpProbes {
        IcmpProbes(!self.0 & Self::MASK)
    }

    /// A probe in exactly one of the two.
    pub fn first_difference(self, other: IcmpProbes) -> Option<IcmpMessage> {
        Self::messages()
            .enumerate()
            .find(|&(i, _)| (self.0 ^ other.0) & 1 << i != 0)
            .map(|(_, m)| m)
    }
}

impl fmt::Display for IcmpProbes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("ICMP");
        }
        let list: Vec<String> = Self::messages()
            .filter(|&m| self.contains(m))
            .map(|m| m.to_string())
            .collect();
        write!(f, "ICMP {}", list.join(","))
    }
}

fn normalize(ranges: &mut Vec<(u32, u32)>) {
    ranges.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges.iter() {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    *ranges = out;
}

fn complement(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut next = ALL_PORTS.0;
    for &(lo, hi) in ranges {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    if next <= ALL_PORTS.1 {
        out.push((next, ALL_PORTS.1));
    }
    out
}

impl Conns {
    pub fn all() -> Conns {
        Conns {
            ports: [vec![ALL_PORTS], vec![ALL_PORTS], vec![ALL_PORTS]],
            icmp: IcmpProbes::all(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.icmp.is_empty() && self.ports.iter().all(Vec::is_empty)
    }

    pub fn union(&self, other: &Conns) -> Conns {
        let mut out = self.clone();
        for (mine, theirs) in out.ports.iter_mut().zip(&other.ports) {
            mine.extend(theirs.iter().copied());
            normalize(mine);
        }
        out.icmp = out.icmp.union(other.icmp);
        out
    }

    pub fn complement(&self) -> Conns {
        Conns {
            ports: [
                complement(&self.ports[0]),
                complement(&self.ports[1]),
                complement(&self.ports[2]),
            ],
            icmp: self.icmp.complement(),
        }
    }
}

impl fmt::Display for Conns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Conns::all() {
            return write!(f, "All connections");
        }
        if self.is_empty() {
            return write!(f, "nothing");
        }
        let mut parts = Vec::new();
        for (name, ranges) in PROTOCOLS.iter().zip(&self.ports) {
            if ranges.is_empty() {
                continue;
            }
            let list: Vec<String> = ranges
                .iter()
                .map(|&(lo, hi)| {
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}-{hi}")
                    }
                })
                .collect();
            parts.push(format!("{name} {}", list.join(",")));
        }
        if !self.icmp.is_empty() {
            parts.push(self.icmp.to_string());
        }
        write!(f, "{}", parts.join("; "))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

/// An inclusive range of addresses of one family, as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpRange {
    pub family: Family,
    pub lo: u128,
    pub hi: u128,
}

fn address_number(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(a) => (Family::V4, u128::from(u32::from(a))),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

fn number_address(family: Family, n: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4((n as u32).into()),
        Family::V6 => IpAddr::V6(n.into()),
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lo, hi) = (
            number_address(self.family, self.lo),
            number_address(self.family, self.hi),
        );
        if self.lo == self.hi {
            write!(f, "{lo}")
        } else {
            write!(f, "{lo}-{hi}")
        }
    }
}

/// `1.2.3.4`, `1.2.3.0-1.2.3.255`, `1.2.3.0/24` (and IPv6), or `None`.
pub fn parse_ip_range(text: &str) -> Option<IpRange> {
    let text = text.trim();
    if let Some((addr, len)) = text.split_once('/') {
        let (family, base) = address_number(addr.parse().ok()?);
        let bits = if family == Family::V4 { 32 } else { 128 };
        let len: u32 = len.parse().ok()?;
        if len > bits {
            return None;
        }
        let host = if bits - len == 128 {
            u128::MAX
        } else {
            (1u128 << (bits - len)) - 1
        };
        return Some(IpRange {
            family,
            lo: base & !host,
            hi: (base & !host) | host,
        });
    }
    if let Some((a, b)) = text.split_once('-') {
        if let (Ok(a), Ok(b)) = (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
            let ((fa, lo), (fb, hi)) = (address_number(a), address_number(b));
            return (fa == fb && lo <= hi).then_some(IpRange { family: fa, lo, hi });
        }
        return None;
    }
    let (family, n) = address_number(text.parse().ok()?);
    Some(IpRange {
        family,
        lo: n,
        hi: n,
    })
}

/// Who talks to whom: pod pairs, and each pod to and from address ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connectivity {
    /// (source pod, destination pod) → connections; pods are `ns/name`.
    pub pods: BTreeMap<(String, String), Conns>,
    /// (pod, egress?) → address ranges and their connections (may overlap:
    /// read as a union).
    pub addresses: BTreeMap<(String, bool), Vec<(IpRange, Conns)>>,
}

enum End {
    Pod(String),
    Ips(Vec<IpRange>),
}

fn end(text: &str) -> End {
    let text = text.trim();
    let ranges: Option<Vec<IpRange>> = text.split(',').map(parse_ip_range).collect();
    match ranges {
        Some(r) if !r.is_empty() => End::Ips(r),
        _ => End::Pod(text.trim_end_matches("[Pod]").to_string()),
    }
}

impl Connectivity {
    fn add(&mut self, source: &str, destination: &str, conns: Conns) -> Result<(), String> {
        match (end(source), end(destination)) {
            (End::Pod(s), End::Pod(d)) => {
                let slot = self.pods.entry((s, d)).or_default();
                *slot = slot.union(&conns);
            }
            (End::Pod(p), End::Ips(r)) => {
                let list = self.addresses.entry((p, true)).or_default();
                list.extend(r.into_iter().map(|r| (r, conns.clone())));
            }
            (End::Ips(r), End::Pod(p)) => {
                let list = self.addresses.entry((p, false)).or_default();
                list.extend(r.into_iter().map(|r| (r, conns.clone())));
            }
            (End::Ips(_), End::Ips(_)) => {
                return Err(format!(
                    "a line between two address ranges: {source} => {destination}"
                ))
            }
        }
        Ok(())
    }

    /// Drops empty entries, so that "no line" and "nothing" read the same.
    fn tidy(mut self) -> Connectivity {
        self.pods.retain(|_, c| !c.is_empty());
        for list in self.addresses.values_mut() {
            list.retain(|(_, c)| !c.is_empty());
        }
        self.addresses.retain(|_, l| !l.is_empty());
        self
    }

    pub fn pod_names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (s, d) in self.pods.keys() {
            out.insert(s.clone());
            out.insert(d.clone());
        }
        for (p, _) in self.addresses.keys() {
            out.insert(p.clone());
        }
        out
    }

    /// Number of (pair, protocol) facts, for statistics.
    pub fn pair_count(&self) -> usize {
        self.pods.len() + self.addresses.values().map(Vec::len).sum::<usize>()
    }
}

// ------------------------------------------------------------------ parsing

/// A protocol list as nca prints it: `TCP, UDP`, `all but ICMP, TCP`, or a
/// number. Returns which of TCP/UDP/SCTP and of ICMP (IPv4) and ICMPv6 it
/// holds.
fn parse_protocols(text: &str) -> Result<([bool; 3], [bool; 2]), String> {
    let text = text.trim();
    let (negated, list) = match text.strip_prefix("all but ") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if list == "*" {
        return Ok(([true; 3], [true; 2]));
    }
    if let Some(bad) = names.iter().find(|n| {
        !n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    }) {
        return Err(format!("not a protocol: `{bad}` in `{text}`"));
    }
    let has = |name: &str, number: &str| {
        names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name) || *n == number)
    };
    let mut ports = [has("TCP", "6"), has("UDP", "17"), has("SCTP", "132")];
    let mut icmp = [has("ICMP", "1"), has("ICMPv6", "58")];
    if negated {
        for p in ports.iter_mut().chain(icmp.iter_mut()) {
            *p = !*p;
        }
    }
    Ok((ports, icmp))
}

fn parse_ports(text: &str) -> Result<Vec<(u32, u32)>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: u32 = lo.parse().map_err(|_| format!("not a port: `{part}`"))?;
        let hi: u32 = hi.parse().map_err(|_| format!("not a port: `{part}`"))?;
        out.push((lo, hi));
    }
    normalize(&mut out);
    Ok(out)
}

/// One `{protocols:...,dst_ports:...}` cube; ICMP ones may carry
/// `icmp_type` and `icmp_code` (nca's domains: types 0-254, codes 0-255).
fn parse_cube(cube: &str) -> Result<Conns, String> {
    let inner = cube
        .trim()
        .strip_prefix('{')
        .and_then(|c| c.strip_suffix('}'))
        .ok_or_else(|| format!("not a cube: `{cube}`"))?;
    // Values hold commas, keys never do: split at `,key:`.
    const KEYS: [&str; 4] = ["protocols", "dst_ports", "icmp_type", "icmp_code"];
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let key = KEYS
            .iter()
            .find(|k| rest.starts_with(&format!("{k}:")))
            .ok_or_else(|| {
                format!("unexpected dimension in `{cube}` (the parser knows {KEYS:?})")
            })?;
        let value_start = key.len() + 1;
        let next = KEYS
            .iter()
            .filter_map(|k| rest[value_start..].find(&format!(",{k}:")))
            .min()
            .map(|i| i + value_start);
        let (value, tail) = match next {
            Some(i) => (&rest[value_start..i], &rest[i + 1..]),
            None => (&rest[value_start..], ""),
        };
        fields.insert(key, value);
        rest = tail;
    }
    let (protocols, icmp) = match fields.get("protocols") {
        Some(p) => parse_protocols(p)?,
        None => ([true; 3], [true; 2]),
    };
    let ports = match fields.get("dst_ports") {
        Some(p) => parse_ports(p)?,
        None => vec![ALL_PORTS],
    };
    let icmp_fields = fields.contains_key("icmp_type") || fields.contains_key("icmp_code");
    if icmp.contains(&true) && fields.contains_key("dst_ports") {
        return Err(format!("ICMP with destination ports in `{cube}`"));
    }
    if icmp_fields && protocols.contains(&true) {
        return Err(format!(
            "ICMP types with ports of other protocols in `{cube}`"
        ));
    }
    let within = |key: &str, value: u8| -> Result<bool, String> {
        Ok(match fields.get(key) {
            Some(text) => parse_ports_or_zero(text)?
                .iter()
                .any(|&(lo, hi)| lo <= u32::from(value) && u32::from(value) <= hi),
            None => true,
        })
    };
    let mut failed = None;
    let icmp = IcmpProbes::from_fn(|m| {
        let family = match m.family {
            IcmpFamily::V4 => icmp[0],
            IcmpFamily::V6 => icmp[1],
        };
        match (
            within("icmp_type", m.icmp_type),
            within("icmp_code", m.code),
        ) {
            (Ok(t), Ok(c)) => family && t && c,
            (Err(e), _) | (_, Err(e)) => {
                failed = Some(e);
                false
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let mut out = Conns {
        icmp,
        ..Conns::default()
    };
    for (i, on) in protocols.iter().enumerate() {
        if *on {
            out.ports[i] = ports.clone();
        }
    }
    Ok(out)
}

/// Interval lists as nca prints them (`0-2,4,8`), where 0 is a value too.
fn parse_ports_or_zero(text: &str) -> Result<Vec<(u32, u32)>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let number = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("not a number: `{part}`"))
        };
        out.push((number(lo)?, number(hi)?));
    }
    Ok(out)
}

/// `All connections`, `All but {...}`, or `{...},{...}`.
pub fn parse_conns(text: &str) -> Result<Conns, String> {
    let text = text.trim();
    if text == "All connections" {
        return Ok(Conns::all());
    }
    if text == "No connections" {
        return Ok(Conns::default());
    }
    if let Some(rest) = text.strip_prefix("All but ") {
        return Ok(parse_conns(rest)?.complement());
    }
    let mut out = Conns::default();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => {
                if depth == 0 {
                    start = i;
                }
                depth += 1;
            }
            '}' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced `{text}`"))?;
                if depth == 0 {
                    out = out.union(&parse_cube(&text[start..=i])?);
                }
            }
            ',' | ' ' if depth == 0 => {}
            _ if depth == 0 => return Err(format!("unexpected text in `{text}`")),
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced `{text}`"));
    }
    Ok(out)
}

/// nca's `txt_no_fw_rules`: `SRC => DST : CONNECTIONS` lines.
pub fn parse_nca(text: &str) -> Result<Connectivity, String> {
    let mut out = Connectivity::default();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (source, rest) = line
            .split_once(" => ")
            .ok_or_else(|| format!("unexpected nca line: `{line}`"))?;
        let (destination, conns) = rest
            .split_once(" : ")
            .ok_or_else(|| format!("unexpected nca line: `{line}`"))?;
        let conns = parse_conns(conns).map_err(|e| format!("{e} (in nca line `{line}`)"))?;
        out.add(source, destination, conns)?;
    }
    Ok(out.tidy())
}

/// `nplc matrix --format json`.
pub fn parse_matrix_json(text: &str) -> Result<Connectivity, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("matrix JSON: {e}"))?;
    let rows = value.as_array().ok_or("matrix JSON: not a list")?;
    let mut out = Connectivity::default();
    for row in rows {
        let field = |k: &str| {
            row.get(k)
                .ok_or_else(|| format!("matrix JSON: no `{k}` in {row}"))
        };
        let source = field("source")?.as_str().ok_or("matrix JSON: source")?;
        let destination = field("destination")?
            .as_str()
            .ok_or("matrix JSON: destination")?;
        let conns = match field("connections")? {
            Value::String(s) => parse_conns(s)?,
            Value::Array(groups) => {
                let mut conns = Conns::default();
                for g in groups {
                    let names: Vec<&str> = g
                        .get("protocols")
                        .and_then(Value::as_array)
                        .ok_or_else(|| format!("matrix JSON: protocols in {g}"))?
                        .iter()
                        .filter_map(Value::as_str)
                        .collect();
                    let ports: Vec<(u32, u32)> = match g.get("dst_ports") {
                        None | Some(Value::Null) => vec![ALL_PORTS],
                        Some(Value::Array(list)) => list
                            .iter()
                            .map(|r| {
                                let n =
                                    |i: usize| r.get(i).and_then(Value::as_u64).map(|v| v as u32);
                                n(0).zip(n(1))
                                    .ok_or_else(|| format!("matrix JSON: range {r}"))
                            })
                            .collect::<Result<_, _>>()?,
                        Some(other) => return Err(format!("matrix JSON: dst_ports {other}")),
                    };
                    for name in names {
                        match PROTOCOLS.iter().position(|p| *p == name) {
                            Some(i) => {
                                conns.ports[i].extend(ports.iter().copied());
                                normalize(&mut conns.ports[i]);
                            }
                            // `icmp`: the messages allowed, when not all.
                            None if name == "ICMP" => {
                                conns.icmp = match g.get("icmp").and_then(Value::as_array) {
                                    None => IcmpProbes::all(),
                                    Some(texts) => {
                                        let mut set = IcmpSet::none();
                                        for t in texts {
                                            let text = t.as_str().unwrap_or_default();
                                            let one = icmp::parse_set(text).ok_or_else(|| {
                                                format!("matrix JSON: ICMP messages {t}")
                                            })?;
                                            set = set.union(&one);
                                        }
                                        conns.icmp.union(IcmpProbes::of(&set))
                                    }
                                }
                            }
                            None => return Err(format!("matrix JSON: protocol {name}")),
                        }
                    }
                }
                conns
            }
            other => return Err(format!("matrix JSON: connections {other}")),
        };
        out.add(source, destination, conns)?;
    }
    Ok(out.tidy())
}

// ------------------------------------------------------------------ comparing

/// One disagreement, for the failure message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub source: String,
    pub destination: String,
    pub left: Conns,
    pub right: Conns,
}

impl Difference {
    pub fn render(&self, left: &str, right: &str) -> String {
        format!(
            "  {} => {}\n      {left}: {}\n      {right}: {}",
            self.source, self.destination, self.left, self.right
        )
    }
}

/// The union of the connections of `list` over each elementary piece
/// between `cuts` (sorted starts of pieces, per family).
fn pieces(list: &[(IpRange, Conns)], family: Family, cuts: &[u128]) -> Vec<Conns> {
    cuts.iter()
        .map(|&start| {
            list.iter()
                .filter(|(r, _)| r.family == family && r.lo <= start && start <= r.hi)
                .fold(Conns::default(), |acc, (_, c)| acc.union(c))
        })
        .collect()
}

/// Every difference between two connectivities, pod pairs first, then
/// address ranges (cut where either side changes, merged where both agree).
pub fn compare(left: &Connectivity, right: &Connectivity) -> Vec<Difference> {
    let mut out = Vec::new();
    let keys: BTreeSet<&(String, String)> = left.pods.keys().chain(right.pods.keys()).collect();
    for key in keys {
        let l = left.pods.get(key).cloned().unwrap_or_default();
        let r = right.pods.get(key).cloned().unwrap_or_default();
        if l != r {
            out.push(Difference {
                source: key.0.clone(),
                destination: key.1.clone(),
                left: l,
                right: r,
            });
        }
    }
    let keys: BTreeSet<&(String, bool)> = left
        .addresses
        .keys()
        .chain(right.addresses.keys())
        .collect();
    let empty = Vec::new();
    for key in keys {
        let l = left.addresses.get(key).unwrap_or(&empty);
        let r = right.addresses.get(key).unwrap_or(&empty);
        for family in [Family::V4, Family::V6] {
            let max = if family == Family::V4 {
                u128::from(u32::MAX)
            } else {
                u128::MAX
            };
            let mut cuts: Vec<u128> = vec![0];
            for (range, _) in l.iter().chain(r.iter()).filter(|(x, _)| x.family == family) {
                cuts.push(range.lo);
                if range.hi < max {
                    cuts.push(range.hi + 1);
                }
            }
            cuts.sort_unstable();
            cuts.dedup();
            let (lp, rp) = (pieces(l, family, &cuts), pieces(r, family, &cuts));
            let mut i = 0;
            while i < cuts.len() {
                if lp[i] == rp[i] {
                    i += 1;
                    continue;
                }
                let mut j = i;
                while j + 1 < cuts.len() && lp[j + 1] == lp[i] && rp[j + 1] == rp[i] {
                    j += 1;
                }
                let hi = if j + 1 < cuts.len() {
                    cuts[j + 1] - 1
                } else {
                    max
                };
                let range = IpRange {
                    family,
                    lo: cuts[i],
                    hi,
                };
                let (source, destination) = if key.1 {
                    (key.0.clone(), range.to_string())
                } else {
                    (range.to_string(), key.0.clone())
                };
                out.push(Difference {
                    source,
                    destination,
                    left: lp[i].clone(),
                    right: rp[i].clone(),
                });
                i = j + 1;
            }
        }
    }
    out
}

// ------------------------------------------------------------------ inventories of addresses

/// `range` minus `cut`: the pieces left (none, one or two).
fn range_minus(range: IpRange, cut: IpRange) -> Vec<IpRange> {
    if range.family != cut.family || cut.hi < range.lo || range.hi < cut.lo {
        return vec![range];
    }
    let mut out = Vec::new();
    if range.lo < cut.lo {
        out.push(IpRange {
            hi: cut.lo - 1,
            ..range
        });
    }
    if cut.hi < range.hi {
        out.push(IpRange {
            lo: cut.hi + 1,
            ..range
        });
    }
    out
}

impl Connectivity {
    /// The same connectivity with nothing said about the addresses of `cuts`
    /// (the cluster's pod and Service ranges: no endpoint outside the pod
    /// network has them, so the evaluator's `ip:` questions do not apply).
    pub fn without_addresses(mut self, cuts: &[IpRange]) -> Connectivity {
        for list in self.addresses.values_mut() {
            let mut pieces = std::mem::take(list);
            for cut in cuts {
                pieces = pieces
                    .into_iter()
                    .flat_map(|(r, c)| {
                        range_minus(r, *cut)
                            .into_iter()
                            .map(move |r| (r, c.clone()))
                    })
                    .collect();
            }
            *list = pieces;
        }
        self.tidy()
    }

    /// What `pod` may do with address `ip` (egress: towards it).
    pub fn at_address(&self, pod: &str, egress: bool, ip: IpAddr) -> Conns {
        let (family, n) = address_number(ip);
        self.addresses
            .get(&(pod.to_string(), egress))
            .into_iter()
            .flatten()
            .filter(|(r, _)| r.family == family && r.lo <= n && n <= r.hi)
            .fold(Conns::default(), |acc, (_, c)| acc.union(c))
    }

    /// Replaces what is said about `pod` and address `ip` by `conns`.
    pub fn set_address(&mut self, pod: &str, egress: bool, ip: IpAddr, conns: Conns) {
        let (family, n) = address_number(ip);
        let at = IpRange {
            family,
            lo: n,
            hi: n,
        };
        let list = self.addresses.entry((pod.to_string(), egress)).or_default();
        let pieces = std::mem::take(list);
        *list = pieces
            .into_iter()
            .flat_map(|(r, c)| range_minus(r, at).into_iter().map(move |r| (r, c.clone())))
            .collect();
        if !conns.is_empty() {
            list.push((at, conns));
        }
    }
}

impl Conns {
    /// Only the ports of `ports` (per protocol of [`PROTOCOLS`]), no ICMP.
    pub fn restricted_to(&self, ports: &[BTreeSet<u32>; 3]) -> Conns {
        let mut out = Conns::default();
        for (i, wanted) in ports.iter().enumerate() {
            for &p in wanted {
                if self.ports[i].iter().any(|&(lo, hi)| lo <= p && p <= hi) {
                    out.ports[i].push((p, p));
                }
            }
            normalize(&mut out.ports[i]);
        }
        out
    }
}

// ------------------------------------------------------------------ the cluster's inventories

/// What a kubernetes build knows of the cluster beyond its pods
/// (`--cluster-cidr`, `--service-cidr`, `--apiserver-endpoints`, or
/// nplc.toml's `[cluster]`); the other targets read none of it.
#[derive(Debug, Clone, Default)]
pub struct ClusterInventory {
    /// The pod and Service ranges, as CIDR text.
    pub ranges: Vec<String>,
    pub apiserver: Option<ApiServer>,
}

impl ClusterInventory {
    /// What nplc reads for a program in `dir`: the nplc.toml it discovers.
    pub fn configured(dir: &Path) -> Result<ClusterInventory, String> {
        let config = nplc_compiler::config::Config::discover(dir)?;
        let ranges = config
            .cluster
            .pods
            .iter()
            .chain(&config.cluster.services)
            .map(|n| n.to_string())
            .collect();
        let apiserver = config
            .apiserver_endpoints
            .as_deref()
            .map(load_apiserver)
            .transpose()?;
        Ok(ClusterInventory { ranges, apiserver })
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty() && self.apiserver.is_none()
    }

    /// The addresses a build given this inventory does not treat as
    /// addresses outside the cluster: the ranges (no endpoint outside the
    /// pod network has them) and the API server's endpoints (they are
    /// `kube-apiserver`).
    pub fn cuts(&self) -> Result<Vec<IpRange>, String> {
        let mut out: Vec<IpRange> = self
            .ranges
            .iter()
            .map(|cidr| parse_ip_range(cidr).ok_or(format!("range {cidr}")))
            .collect::<Result<_, _>>()?;
        for ip in self.apiserver.iter().flat_map(|a| a.endpoints.keys()) {
            let (family, n) = address_number(*ip);
            out.push(IpRange {
                family,
                lo: n,
                hi: n,
            });
        }
        Ok(out)
    }
}

/// The API server's endpoints from a file, as `--apiserver-endpoints` reads it.
pub fn load_apiserver(file: &Path) -> Result<ApiServer, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let name = file.display().to_string();
    nplc_compiler::inventory::load_apiserver(nplc_compiler::inventory::Source {
        name: &name,
        text: &text,
    })
    .map_err(|e| e.to_string())
}

/// nca's view of a kubernetes build given the cluster's inventory, and the
/// matrix's view, made comparable (what is mapped, and why):
///
/// - The pod and Service ranges hold no endpoint outside the pod network
///   (the build excepts them from every block; the matrix's `world` holds
///   them): neither view is read there.
/// - The API server's endpoint addresses are `kube-apiserver`, not `world`
///   (the build writes the entity as them and excepts them from every other
///   block): the evaluator's verdict for the entity is put at each of them —
///   towards them on the ports they serve on, from them on the ports any
///   rule or pod names — and nca's view is read on those ports only. The
///   endpoints' other ports are their node's (`host`), which the kubernetes
///   target leaves to the platform (W0015), as it does `health`: nothing is
///   written for them, so nothing is compared there.
pub fn with_cluster(
    cluster: &ClusterInventory,
    ir: &Ir,
    pods: &[NamedPod],
    nca_view: Connectivity,
    matrix_view: Connectivity,
) -> Result<(Connectivity, Connectivity), String> {
    if cluster.is_empty() {
        return Ok((nca_view, matrix_view));
    }
    let ranges: Vec<IpRange> = cluster
        .ranges
        .iter()
        .map(|cidr| parse_ip_range(cidr).ok_or(format!("range {cidr}")))
        .collect::<Result<_, _>>()?;
    let mut nca_view = nca_view.without_addresses(&ranges);
    let mut matrix_view = matrix_view.without_addresses(&ranges);
    let Some(api) = &cluster.apiserver else {
        return Ok((nca_view, matrix_view));
    };
    const INDEX: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];
    let index = |p: Protocol| INDEX.iter().position(|x| *x == p).unwrap_or(0);
    // Ports where some rule's verdict may change, and every pod's.
    let mut probes: [BTreeSet<u32>; 3] = Default::default();
    for (i, protocol) in INDEX.iter().enumerate() {
        probes[i].extend([1, 65535]);
        for rule in ir.rules() {
            for &(lo, hi) in rule.service.ports.ranges(*protocol).ranges() {
                let (lo, hi) = (u32::from(lo), u32::from(hi));
                probes[i].extend([lo, hi, lo.saturating_sub(1).max(1), (hi + 1).min(65535)]);
            }
        }
        for pod in pods {
            for port in pod.pod.ports.iter().filter(|p| p.protocol == *protocol) {
                probes[i].insert(u32::from(port.number));
            }
        }
    }
    let allowed = |source: Endpoint, destination: Endpoint, protocol: Protocol, port: u16| {
        let conn = Connection {
            source,
            destination,
            transport: Transport::Port(protocol, port),
            request: None,
        };
        eval::evaluate(ir, &conn).allowed
    };
    let apiserver = || Endpoint::Entity(Entity::KubeApiserver);
    for (ip, served) in &api.endpoints {
        let mut served_ports: [BTreeSet<u32>; 3] = Default::default();
        for p in served {
            served_ports[index(p.protocol)].insert(u32::from(p.number));
        }
        for named in pods {
            let pod = || Endpoint::Pod(named.pod.clone());
            let name = named.qualified_name();
            // Towards the API server. The evaluator answers for the
            // listener (443 and 6443 are one); an `https` endpoint port of
            // another number is the one the Service's 443 is rewritten to.
            let mut towards = Conns::default();
            for p in served {
                let by_service = api.is_service_target(p)
                    && allowed(pod(), apiserver(), Protocol::Tcp, APISERVER_SERVICE_PORT);
                if by_service || allowed(pod(), apiserver(), p.protocol, p.number) {
                    towards.ports[index(p.protocol)]
                        .push((u32::from(p.number), u32::from(p.number)));
                }
            }
            let seen = nca_view
                .at_address(&name, true, *ip)
                .restricted_to(&served_ports);
            nca_view.set_address(&name, true, *ip, seen);
            matrix_view.set_address(&name, true, *ip, towards.restricted_to(&served_ports));
            // From the API server.
            let mut from = Conns::default();
            for (i, protocol) in INDEX.iter().enumerate() {
                for &port in &probes[i] {
                    let Ok(port16) = u16::try_from(port) else {
                        continue;
                    };
                    if allowed(apiserver(), pod(), *protocol, port16) {
                        from.ports[i].push((port, port));
                    }
                }
            }
            let seen = nca_view
                .at_address(&name, false, *ip)
                .restricted_to(&probes);
            nca_view.set_address(&name, false, *ip, seen);
            matrix_view.set_address(&name, false, *ip, from.restricted_to(&probes));
        }
    }
    Ok((nca_view, matrix_view))
}

// ------------------------------------------------------------------ inventories

/// A namespace list as `kubectl get ns -o yaml` prints it.
pub fn namespaces_yaml(namespaces: &[(String, BTreeMap<String, String>)]) -> String {
    let items: Vec<Value> = namespaces
        .iter()
        .map(|(name, labels)| {
            let mut labels = labels.clone();
            labels.insert("kubernetes.io/metadata.name".to_string(), name.clone());
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": labels},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            })
        })
        .collect();
    list_yaml(items)
}

/// A pod for [`pods_yaml`]: namespace, name, labels, container ports
/// (name, protocol, number).
pub struct PodYaml {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<(String, String, u16)>,
}

/// A pod list as `kubectl get pods -A -o yaml` prints it (trimmed).
pub fn pods_yaml(pods: &[PodYaml]) -> String {
    let items: Vec<Value> = pods
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ports: Vec<Value> = p
                .ports
                .iter()
                .map(|(name, protocol, number)| {
                    json!({"containerPort": number, "name": name, "protocol": protocol})
                })
                .collect();
            let mut container = json!({"name": "main", "image": "registry.example/app:1.0"});
            if !ports.is_empty() {
                container["ports"] = Value::Array(ports);
            }
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels},
                "spec": {"containers": [container], "serviceAccountName": "default"},
                "status": {"phase": "Running", "podIP": format!("10.244.{}.{}", i / 200, i % 200 + 10)},
            })
        })
        .collect();
    list_yaml(items)
}

fn list_yaml(items: Vec<Value>) -> String {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}});
    serde_yaml::to_string(&list).expect("YAML of JSON values")
}

// ------------------------------------------------------------------ generated programs

/// Programs for an address-and-selector target: the generator's defaults
/// without the constructs NetworkPolicy has no words for (names, L7,
/// entities) and with named ports rare in denies (a named port minus a
/// number is not exact on any target). ICMP, which the generator draws
/// into port lists, is dropped from allows for the same reason; denies keep
/// it.
pub fn address_target_config() -> GenConfig {
    GenConfig {
        allow_fqdn: 0,
        deny_fqdn: 0,
        allow_l7: 0,
        deny_l7: 0,
        entities: 0,
        deny_named_port: 0,
        allow_named_port: 3,
        via_per_mille: 40,
        isolation: [4, 2, 2, 1, 1],
        builtin_zones: 3,
        ..GenConfig::default()
    }
}

pub fn without_icmp_allows(program: GenProgram) -> GenProgram {
    crate::support::program::without_icmp(program, true)
}

/// A generated inventory as kubectl YAML; pods are named after their `app`
/// label and index.
pub fn inventory_files(inventory: &Inventory, dir: &Path) -> (PathBuf, PathBuf) {
    let namespaces: Vec<(String, BTreeMap<String, String>)> = inventory
        .namespaces
        .iter()
        .map(|n| (n.name.clone(), n.labels.clone()))
        .collect();
    let pods: Vec<PodYaml> = inventory
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| PodYaml {
            namespace: inventory.namespaces[p.namespace].name.clone(),
            name: format!("{}-{i}", p.labels.get("app").map_or("pod", String::as_str)),
            labels: p.labels.clone(),
            ports: p
                .ports
                .iter()
                .map(|c| {
                    let protocol = match c.protocol {
                        nplc_compiler::algebra::ports::Protocol::Tcp => "TCP",
                        nplc_compiler::algebra::ports::Protocol::Udp => "UDP",
                        nplc_compiler::algebra::ports::Protocol::Sctp => "SCTP",
                    };
                    (c.name.clone(), protocol.to_string(), c.number)
                })
                .collect(),
        })
        .collect();
    let (ns_path, pods_path) = (dir.join("namespaces.yaml"), dir.join("pods.yaml"));
    std::fs::write(&ns_path, namespaces_yaml(&namespaces)).expect("writing namespaces");
    std::fs::write(&pods_path, pods_yaml(&pods)).expect("writing pods");
    (ns_path, pods_path)
}
