//! Deterministic large programs for benchmarks: one zone per namespace,
//! rules between zone pairs, denies in a security tier, platform allows in a
//! second tier, the rest in the default tier.

use std::fmt::Write as _;

/// A tiny deterministic generator (no dependency on `rand`).
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

const PORTS: &[&str] = &[
    "80",
    "443",
    "8080",
    "9090",
    "5432",
    "tcp/6379",
    "udp/514",
    "tcp/8000-8999",
];

/// A program with `zones` zones and about `rules` rules.
///
/// - `zone zN { namespace "ns-N"; pods app = "aN" }`; every 10th zone is
///   `isolate ingress`, every 25th `isolate none`, the rest default (both).
/// - tier `security`: 1 % of the rules are denies between zone pairs, and
///   a few denies to the cloud metadata address.
/// - tier `platform`: DNS for the whole cluster, and 4 % allows.
/// - default tier: the rest, allows between zone pairs (some to CIDRs).
pub fn large_program(zones: usize, rules: usize) -> String {
    assert!(zones >= 2);
    let mut rng = Lcg::new((zones as u64) << 32 | rules as u64);
    let mut out = String::with_capacity(rules * 40 + zones * 60);
    for i in 0..zones {
        let isolate = if i % 25 == 0 {
            "; isolate none"
        } else if i % 10 == 0 {
            "; isolate ingress"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "zone z{i} {{ namespace \"ns-{i}\"; pods app = \"a{i}\"{isolate} }}"
        );
    }
    out.push_str("external metadata = cidr 169.254.169.254/32\n");
    out.push_str("external corp = cidr 10.0.0.0/8 except 10.1.0.0/16\n");

    let denies = rules / 100;
    let platform = rules / 25;
    let pair = |rng: &mut Lcg| {
        let a = rng.below(zones);
        let mut b = rng.below(zones);
        if a == b {
            b = (b + 1) % zones;
        }
        (a, b)
    };
    let port = |rng: &mut Lcg| PORTS[rng.below(PORTS.len())];

    out.push_str("tier security {\n");
    for k in 0..denies {
        if k % 20 == 0 {
            let a = rng.below(zones);
            let _ = writeln!(out, "  deny z{a} -> metadata");
        } else {
            let (a, b) = pair(&mut rng);
            let _ = writeln!(out, "  deny z{a} -> z{b} : {}", port(&mut rng));
        }
    }
    out.push_str("}\n");

    out.push_str("tier platform {\n");
    out.push_str("  allow cluster -> kube-dns : udp/53, tcp/53\n");
    for _ in 0..platform {
        let (a, b) = pair(&mut rng);
        let _ = writeln!(out, "  allow z{a} -> z{b} : {}", port(&mut rng));
    }
    out.push_str("}\n");

    let rest = rules.saturating_sub(denies + platform + 1);
    for k in 0..rest {
        if k % 50 == 0 {
            let a = rng.below(zones);
            let _ = writeln!(out, "allow z{a} -> corp : 443");
        } else {
            let (a, b) = pair(&mut rng);
            let _ = writeln!(out, "allow z{a} -> z{b} : {}", port(&mut rng));
        }
    }
    out
}
