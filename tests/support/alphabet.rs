//! The small alphabet that programs and inventories are drawn from, so that
//! selectors, CIDRs, FQDN patterns and ports overlap often.

use std::net::IpAddr;

use nplc_compiler::algebra::ports::Protocol;

/// Namespace names. Zones pin them with `namespace "x"`, inventories put pods
/// in them.
pub const NAMESPACES: &[&str] = &["ns-a", "ns-b", "ns-c", "kube-system", "istio-system"];

/// The label every namespace carries with its own name.
pub const NAME_KEY: &str = "kubernetes.io/metadata.name";

/// Namespace label keys and their values.
pub const NS_LABELS: &[(&str, &[&str])] = &[("env", &["prod", "dev"]), ("team", &["red", "blue"])];

/// Pod label keys and their values. `k8s-app=kube-dns` and
/// `istio=egressgateway` are what the built-in `kube-dns` zone and the
/// generated gateway zone select.
pub const POD_LABELS: &[(&str, &[&str])] = &[
    ("app", &["web", "api", "db"]),
    ("track", &["stable", "canary"]),
    ("app.kubernetes.io/name", &["x", "y"]),
    ("k8s-app", &["kube-dns", "other"]),
    ("istio", &["egressgateway"]),
];

/// Zones and unions, by prefix; these never clash with built-ins.
pub fn zone_name(i: usize) -> String {
    format!("z{i}")
}
pub fn union_name(i: usize) -> String {
    format!("u{i}")
}
pub fn external_name(i: usize) -> String {
    format!("e{i}")
}
pub fn tier_name(i: usize) -> String {
    format!("t{i}")
}
pub const GATEWAY_NAME: &str = "egress";
/// The gateway pods' zone, defined by the generated program itself (`std/k8s`
/// may or may not define `istio-egressgateway`).
pub const GATEWAY_ZONE: &str = "egress-gw";
pub const GATEWAY_NAMESPACE: &str = "istio-system";
pub const GATEWAY_LABEL: (&str, &str) = ("istio", "egressgateway");

/// Built-in peers: zones first, then entities.
pub const BUILTIN_ZONES: &[&str] = &["cluster", "kube-dns"];
pub const BUILTIN_ENTITIES: &[&str] = &["world", "host", "kube-apiserver", "health"];

/// CIDRs: a small hierarchy, so bases contain each other and excepts.
pub const CIDRS_V4: &[&str] = &[
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.1.2.128/25",
    "10.2.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "192.168.1.0/24",
    "169.254.169.254/32",
    "0.0.0.0/0",
];
pub const CIDRS_V6: &[&str] = &[
    "fd00::/8",
    "fd00:1::/32",
    "fd00:1:2::/48",
    "2001:db8::/32",
    "2001:db8:1::/48",
    "::/0",
];

/// Addresses that are not the first, second or last of a pool CIDR.
pub const EXTRA_IPS: &[&str] = &[
    "8.8.8.8",
    "10.1.2.3",
    "10.3.4.5",
    "192.168.7.7",
    "2001:db9::1",
    "fd01::1",
];

/// FQDN patterns for externals and inline peers.
pub const FQDN_NAMES: &[&str] = &[
    "api.example.com",
    "www.example.com",
    "a.b.example.com",
    "example.com",
    "api.example.org",
];
pub const FQDN_WILDCARDS: &[&str] = &["*.example.com", "*.b.example.com", "*.example.org"];

/// External host names for connections: matching and not matching the
/// patterns above, in odd spellings too.
pub const HOSTS: &[&str] = &[
    "api.example.com",
    "www.example.com",
    "a.b.example.com",
    "example.com",
    "api.example.org",
    "x.example.com",
    "c.a.example.com",
    "z.b.example.com",
    "example.org",
    "API.Example.COM.",
    "other.net",
];

/// Port numbers rules name; connections use them too.
pub const PORTS: &[u16] = &[53, 80, 443, 3868, 5432, 8080, 8443, 9090];
/// Port ranges rules name (start < end).
pub const RANGES: &[(u16, u16)] = &[
    (1, 1024),
    (80, 443),
    (5000, 5432),
    (8000, 8999),
    (30000, 32767),
];

/// Container ports: (name, protocol, number). Rules name ports by these names.
pub const CONTAINER_PORTS: &[(&str, Protocol, u16)] = &[
    ("http", Protocol::Tcp, 8080),
    ("http", Protocol::Tcp, 80),
    ("metrics", Protocol::Tcp, 9090),
    ("dns", Protocol::Udp, 53),
    ("dns-tcp", Protocol::Tcp, 53),
    ("grpc", Protocol::Tcp, 8443),
    ("https", Protocol::Tcp, 443),
    ("diameter", Protocol::Sctp, 3868),
    ("postgres", Protocol::Tcp, 5432),
];
/// Names rules use in `tcp/NAME`; `nothing` names no container port.
pub const PORT_NAMES: &[&str] = &[
    "http", "metrics", "dns", "grpc", "https", "diameter", "nothing",
];

/// HTTP rules: methods and path regexes; requests: methods and paths.
pub const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE"];
pub const HTTP_PATHS: &[&str] = &["/a/.*", "/b", "/a/b", "/api/v[0-9]+/.*"];
pub const REQUEST_METHODS: &[&str] = &["GET", "POST", "DELETE", "get"];
pub const REQUEST_PATHS: &[&str] = &["/a/x", "/b", "/a/b", "/api/v1/x", "/c", "/"];

/// DNS rule patterns and queried names.
pub const DNS_PATTERNS: &[&str] = &["*.example.com", "api.example.org", "example.com", "*"];

/// Every address worth asking about: the first, second and last address of
/// every pool CIDR (inside, on the edge, next to an except), and a few more.
pub fn ip_pool() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for cidr in CIDRS_V4.iter().chain(CIDRS_V6) {
        let net = Net::parse(cidr);
        out.push(net.first());
        out.push(net.nth(1));
        out.push(net.last());
        out.push(net.after_last());
    }
    out.extend(EXTRA_IPS.iter().map(|s| s.parse::<IpAddr>().unwrap()));
    out.sort();
    out.dedup();
    out
}

/// A CIDR, parsed without ipnet (the root package does not depend on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    pub v6: bool,
    pub addr: u128,
    pub len: u8,
}

impl Net {
    pub fn parse(text: &str) -> Net {
        let (addr, len) = text.split_once('/').expect("a CIDR");
        let len: u8 = len.parse().expect("a prefix length");
        match addr.parse::<IpAddr>().expect("an address") {
            IpAddr::V4(a) => Net {
                v6: false,
                addr: u32::from(a) as u128,
                len,
            },
            IpAddr::V6(a) => Net {
                v6: true,
                addr: u128::from(a),
                len,
            },
        }
    }

    fn bits(&self) -> u8 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    fn host_mask(&self) -> u128 {
        let host_bits = (self.bits() - self.len) as u32;
        if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        }
    }

    /// Whether `other` lies strictly inside `self` (same family, longer prefix).
    pub fn strictly_contains(&self, other: &Net) -> bool {
        self.v6 == other.v6 && other.len > self.len && (other.addr & !self.host_mask()) == self.addr
    }

    fn ip_at(&self, value: u128) -> IpAddr {
        if self.v6 {
            IpAddr::V6(value.into())
        } else {
            IpAddr::V4((value as u32).into())
        }
    }

    pub fn first(&self) -> IpAddr {
        self.ip_at(self.addr)
    }

    pub fn nth(&self, n: u128) -> IpAddr {
        self.ip_at(self.addr + n.min(self.host_mask()))
    }

    pub fn last(&self) -> IpAddr {
        self.ip_at(self.addr | self.host_mask())
    }

    /// The address just past the network (wrapping at the top of the space).
    pub fn after_last(&self) -> IpAddr {
        let top = if self.v6 { u128::MAX } else { u32::MAX as u128 };
        let last = self.addr | self.host_mask();
        self.ip_at(if last == top { 0 } else { last + 1 })
    }
}

/// The pool CIDRs strictly inside `base`: the excepts it may have.
pub fn excepts_of(base: &str) -> Vec<&'static str> {
    let b = Net::parse(base);
    CIDRS_V4
        .iter()
        .chain(CIDRS_V6)
        .copied()
        .filter(|c| b.strictly_contains(&Net::parse(c)))
        .collect()
}
