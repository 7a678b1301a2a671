//! Programs shaped like real ones, for the build benchmarks and for
//! profiling (`cargo run --release --example gen_program`).
//!
//! Zones live in a handful of shared namespaces and select their pods by an
//! `app` label; one zone in twenty selects its namespaces by labels instead
//! of by name (`Shape::Mixed`). Every zone has ten rules: allows to other
//! zones on a port, some to external CIDRs, a deny in a `security` tier for
//! one zone in ten, platform allows in a `platform` tier, DNS for the whole
//! cluster. The same input always gives the same program.

use std::fmt::Write as _;

/// How zones choose their namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Every zone names one of the shared namespaces.
    Pinned,
    /// As `Pinned`, but one zone in twenty selects namespaces by labels.
    Mixed,
}

impl Shape {
    pub const ALL: [Shape; 2] = [Shape::Pinned, Shape::Mixed];

    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Pinned => "pinned",
            Shape::Mixed => "mixed",
        }
    }

    pub fn parse(text: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The shared namespaces, with the `tier` label that label-selected zones use.
pub const NAMESPACES: [(&str, &str); 8] = [
    ("web", "front"),
    ("api", "back"),
    ("payments", "back"),
    ("search", "back"),
    ("media", "front"),
    ("data", "back"),
    ("batch", "back"),
    ("ops", "front"),
];

/// Rules per zone.
pub const RULES_PER_ZONE: usize = 10;

const PORTS: &[&str] = &[
    "80",
    "443",
    "8080",
    "9090",
    "5432",
    "tcp/6379",
    "udp/514",
    "tcp/8000-8999",
    "8443, 9443",
];

/// A tiny deterministic generator (no dependency on `rand`).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// A program of `zones` zones and `zones * RULES_PER_ZONE + 1` rules.
pub fn program(zones: usize, shape: Shape) -> String {
    let zones = zones.max(2);
    let mut rng = Lcg(zones as u64 ^ 0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(zones * 400);
    let _ = writeln!(
        out,
        "# {zones} zones, {} rules, generated ({} shape)",
        zones * RULES_PER_ZONE + 1,
        shape.as_str()
    );
    out.push_str("external metadata = cidr 169.254.169.254/32\n");
    out.push_str("external corp = cidr 10.0.0.0/8 except 10.1.0.0/16\n\n");
    for i in 0..zones {
        let (namespace, tier) = NAMESPACES[i % NAMESPACES.len()];
        let namespaces = if shape == Shape::Mixed && i % 20 == 19 {
            format!("namespaces tier = \"{tier}\"")
        } else {
            format!("namespace \"{namespace}\"")
        };
        let isolate = if i % 25 == 0 {
            "; isolate none"
        } else if i % 10 == 5 {
            "; isolate ingress"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "zone z{i} {{ {namespaces}; pods app = \"a{i}\"{isolate} }}"
        );
    }

    let mut security = Vec::new();
    let mut platform = vec!["allow cluster -> kube-dns : udp/53, tcp/53".to_string()];
    let mut default = Vec::new();
    for i in 0..zones {
        let peer = |rng: &mut Lcg| {
            let j = rng.below(zones - 1);
            if j >= i {
                j + 1
            } else {
                j
            }
        };
        for k in 0..RULES_PER_ZONE {
            let port = PORTS[rng.below(PORTS.len())];
            let j = peer(&mut rng);
            let rule = match (k, i % 10) {
                (8, 0) => (&mut default, format!("allow z{i} -> corp : 443")),
                (8, 1) => (
                    &mut default,
                    format!("allow z{i} -> cidr 192.168.{}.0/24 : 5432", i % 256),
                ),
                // Into a zone that isolates ingress: a deny into an open zone
                // needs, on kubernetes, a policy allowing the zone everything
                // else, ICMP from the denied peer too, which NetworkPolicy
                // cannot say (E0404).
                (9, 3) => {
                    let j = if j % 25 == 0 { (j + 1) % zones } else { j };
                    (&mut security, format!("deny z{i} -> z{j} : {port}"))
                }
                (9, 4) => (&mut security, format!("deny z{i} -> metadata")),
                (9, 6 | 7) => (&mut platform, format!("allow z{i} -> z{j} : {port}")),
                _ => (&mut default, format!("allow z{i} -> z{j} : {port}")),
            };
            rule.0.push(rule.1);
        }
    }
    for (name, rules) in [("security", &security), ("platform", &platform)] {
        let _ = writeln!(out, "\ntier {name} {{");
        for rule in rules {
            let _ = writeln!(out, "  {rule}");
        }
        out.push_str("}\n");
    }
    out.push('\n');
    for rule in &default {
        let _ = writeln!(out, "{rule}");
    }
    out
}

/// `kubectl get ns -o yaml` for the shared namespaces and `kube-system`,
/// for the kubernetes target's `--namespaces`.
pub fn namespaces_yaml() -> String {
    let mut out = String::from("apiVersion: v1\nkind: List\nitems:\n");
    let system = [("kube-system", None)];
    let shared = NAMESPACES.iter().map(|&(n, t)| (n, Some(t)));
    for (name, tier) in system.into_iter().chain(shared) {
        let _ = writeln!(
            out,
            "- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: {name}\n    labels:\n      kubernetes.io/metadata.name: {name}"
        );
        if let Some(tier) = tier {
            let _ = writeln!(out, "      tier: {tier}");
        }
    }
    out
}
