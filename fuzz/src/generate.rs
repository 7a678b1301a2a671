//! A structure-aware program generator: `arbitrary` chooses the shape, this
//! module writes it as NPL text from a small alphabet, so that names resolve,
//! selectors overlap and programs reach lowering, the allow table and every
//! backend instead of stopping at the parser.

use arbitrary::Arbitrary;

const NAMESPACES: &[&str] = &["ns-a", "ns-b", "kube-system", "istio-system", "default"];
const KEYS: &[&str] = &["app", "tier", "app.kubernetes.io/name", "env"];
const VALUES: &[&str] = &["web", "api", "db", "true", "on", "22:23", "0755", "~", ""];
const CIDRS: &[&str] = &[
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "0.0.0.0/0",
    "192.168.0.0/16",
    "2001:db8::/32",
    "2001:db8:1::/48",
];
const FQDNS: &[&str] = &[
    "api.example.com",
    "*.example.com",
    "example.com",
    "*.svc.cluster.local",
];
const BUILTINS: &[&str] = &[
    "world",
    "cluster",
    "kube-dns",
    "host",
    "kube-apiserver",
    "health",
];
const PATHS: &[&str] = &["/", "/api", "/api/v1/.*", "/health"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE"];
const PORT_NAMES: &[&str] = &["http", "https", "dns"];

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[i as usize % list.len()]
}

#[derive(Debug, Arbitrary)]
pub struct GenProgram {
    zones: Vec<GenZone>,
    unions: Vec<Vec<u8>>,
    externals: Vec<GenExternal>,
    gateway: Option<(u8, u8)>,
    rules: Vec<GenRule>,
    tiers: Vec<Vec<GenRule>>,
}

#[derive(Debug, Arbitrary)]
struct GenZone {
    namespace: Option<u8>,
    namespaces: Vec<GenConstraint>,
    pods: Vec<GenConstraint>,
    isolate: Option<u8>,
}

#[derive(Debug, Arbitrary)]
enum GenConstraint {
    Eq(u8, u8),
    Neq(u8, u8),
    In(u8, Vec<u8>),
    NotIn(u8, Vec<u8>),
    Has(u8),
    NotHas(u8),
}

#[derive(Debug, Arbitrary)]
enum GenExternal {
    Fqdn(u8),
    Cidr(u8, Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct GenRule {
    deny: bool,
    from: GenPeer,
    to: GenPeer,
    ports: Vec<GenPort>,
    l7: Option<GenL7>,
    via: bool,
}

#[derive(Debug, Arbitrary)]
enum GenPeer {
    Zone(u8),
    Union(u8),
    External(u8),
    Builtin(u8),
    Fqdn(u8),
    Cidr(u8, Vec<u8>),
    Set(Vec<GenPeer>),
}

#[derive(Debug, Arbitrary)]
enum GenPort {
    Number(u16),
    Range(u16, u16),
    Tcp(u16),
    Udp(u16),
    Sctp(u16),
    Named(u8),
    Icmp,
}

#[derive(Debug, Arbitrary)]
enum GenL7 {
    Http(Vec<(Option<u8>, Option<u8>)>),
    Dns(Vec<u8>),
}

impl GenProgram {
    /// The program as NPL source.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let zones = self.zones.len().clamp(1, 6);
        for i in 0..zones {
            let zone = self.zones.get(i);
            out.push_str(&format!("zone z{i} {{\n"));
            match zone {
                Some(z) => {
                    if let Some(ns) = z.namespace {
                        out.push_str(&format!("  namespace \"{}\"\n", pick(NAMESPACES, ns)));
                    } else if !z.namespaces.is_empty() {
                        out.push_str(&format!("  namespaces {}\n", constraints(&z.namespaces)));
                    }
                    if !z.pods.is_empty() {
                        out.push_str(&format!("  pods {}\n", constraints(&z.pods)));
                    }
                    if let Some(mode) = z.isolate {
                        let mode = pick(&["ingress", "egress", "both", "none"], mode);
                        out.push_str(&format!("  isolate {mode}\n"));
                    }
                }
                None => out.push_str("  namespace \"ns-a\"\n"),
            }
            out.push_str("}\n");
        }
        for (i, members) in self.unions.iter().take(3).enumerate() {
            let mut names: Vec<String> = members
                .iter()
                .take(4)
                .map(|m| format!("z{}", *m as usize % zones))
                .collect();
            if names.is_empty() {
                names.push("z0".to_string());
            }
            out.push_str(&format!("zone u{i} = {}\n", names.join(" | ")));
        }
        for (i, external) in self.externals.iter().take(4).enumerate() {
            let peer = match external {
                GenExternal::Fqdn(f) => format!("fqdn \"{}\"", pick(FQDNS, *f)),
                GenExternal::Cidr(c, except) => cidr(*c, except),
            };
            out.push_str(&format!("external e{i} = {peer}\n"));
        }
        if let Some((zone, port)) = self.gateway {
            out.push_str(&format!(
                "gateway egress = z{} {{\n  zone z{}\n  port {}\n}}\n",
                zone as usize % zones,
                zone as usize % zones,
                8000 + port as u16
            ));
        }
        let ctx = Context {
            zones,
            unions: self.unions.len().min(3),
            externals: self.externals.len().min(4),
            gateway: self.gateway.is_some(),
        };
        for (i, tier) in self.tiers.iter().take(3).enumerate() {
            out.push_str(&format!("tier t{i} {{\n"));
            for rule in tier.iter().take(6) {
                out.push_str(&format!("  {}\n", ctx.rule(rule)));
            }
            out.push_str("}\n");
        }
        for rule in self.rules.iter().take(12) {
            out.push_str(&ctx.rule(rule));
            out.push('\n');
        }
        out
    }
}

struct Context {
    zones: usize,
    unions: usize,
    externals: usize,
    gateway: bool,
}

impl Context {
    fn rule(&self, rule: &GenRule) -> String {
        let action = if rule.deny { "deny" } else { "allow" };
        let mut out = format!(
            "{action} {} -> {}",
            self.peer(&rule.from, 0),
            self.peer(&rule.to, 0)
        );
        if !rule.ports.is_empty() {
            let ports: Vec<String> = rule.ports.iter().take(4).map(port).collect();
            out.push_str(&format!(" : {}", ports.join(", ")));
        }
        match &rule.l7 {
            Some(GenL7::Http(lines)) => {
                let lines: Vec<String> = lines
                    .iter()
                    .take(3)
                    .map(|(m, p)| match (m, p) {
                        (Some(m), Some(p)) => {
                            format!("{} \"{}\"", pick(METHODS, *m), pick(PATHS, *p))
                        }
                        (Some(m), None) => pick(METHODS, *m).to_string(),
                        (None, p) => format!("\"{}\"", pick(PATHS, p.unwrap_or(0))),
                    })
                    .collect();
                out.push_str(&format!(" http {{ {} }}", lines.join("; ")));
            }
            Some(GenL7::Dns(names)) => {
                let names: Vec<String> = names
                    .iter()
                    .take(3)
                    .map(|n| format!("\"{}\"", pick(FQDNS, *n)))
                    .collect();
                out.push_str(&format!(" dns {{ {} }}", names.join(", ")));
            }
            None => {}
        }
        if rule.via && self.gateway {
            out.push_str(" via egress");
        }
        out
    }

    fn peer(&self, peer: &GenPeer, depth: usize) -> String {
        match peer {
            GenPeer::Zone(i) => format!("z{}", *i as usize % self.zones),
            GenPeer::Union(i) if self.unions > 0 => format!("u{}", *i as usize % self.unions),
            GenPeer::External(i) if self.externals > 0 => {
                format!("e{}", *i as usize % self.externals)
            }
            GenPeer::Builtin(i) => pick(BUILTINS, *i).to_string(),
            GenPeer::Fqdn(i) => format!("fqdn \"{}\"", pick(FQDNS, *i)),
            GenPeer::Cidr(c, except) => cidr(*c, except),
            GenPeer::Set(members) if depth < 3 && !members.is_empty() => {
                let members: Vec<String> = members
                    .iter()
                    .take(4)
                    .map(|m| self.peer(m, depth + 1))
                    .collect();
                format!("{{{}}}", members.join(", "))
            }
            _ => "z0".to_string(),
        }
    }
}

fn constraints(list: &[GenConstraint]) -> String {
    let parts: Vec<String> = list
        .iter()
        .take(3)
        .map(|c| match c {
            GenConstraint::Eq(k, v) => format!("{}=\"{}\"", pick(KEYS, *k), pick(VALUES, *v)),
            GenConstraint::Neq(k, v) => format!("{}!=\"{}\"", pick(KEYS, *k), pick(VALUES, *v)),
            GenConstraint::In(k, vs) => format!("{} in ({})", pick(KEYS, *k), values(vs)),
            GenConstraint::NotIn(k, vs) => format!("{} not in ({})", pick(KEYS, *k), values(vs)),
            GenConstraint::Has(k) => format!("has {}", pick(KEYS, *k)),
            GenConstraint::NotHas(k) => format!("not has {}", pick(KEYS, *k)),
        })
        .collect();
    parts.join(", ")
}

fn values(list: &[u8]) -> String {
    let mut parts: Vec<String> = list
        .iter()
        .take(3)
        .map(|v| format!("\"{}\"", pick(VALUES, *v)))
        .collect();
    if parts.is_empty() {
        parts.push("\"web\"".to_string());
    }
    parts.join(", ")
}

fn cidr(base: u8, except: &[u8]) -> String {
    let mut out = format!("cidr {}", pick(CIDRS, base));
    let except: Vec<&str> = except.iter().take(2).map(|e| pick(CIDRS, *e)).collect();
    if !except.is_empty() {
        out.push_str(&format!(" except {}", except.join(", ")));
    }
    out
}

fn port(port: &GenPort) -> String {
    match port {
        GenPort::Number(p) => p.to_string(),
        GenPort::Range(a, b) => format!("{a}-{b}"),
        GenPort::Tcp(p) => format!("tcp/{p}"),
        GenPort::Udp(p) => format!("udp/{p}"),
        GenPort::Sctp(p) => format!("sctp/{p}"),
        GenPort::Named(n) => format!("tcp/{}", pick(PORT_NAMES, *n)),
        GenPort::Icmp => "icmp".to_string(),
    }
}
