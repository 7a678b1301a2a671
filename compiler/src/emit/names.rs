//! Generated resource names: derived from the source, DNS-1123 valid, and
//! truncated with a short stable hash when long.

use sha2::{Digest, Sha256};

use crate::allow::Direction;
use crate::ir::{Ir, PodTerm, Zone};

/// Kubernetes object names are DNS subdomains (≤ 253), but many tools show or
/// label them; keep them to a DNS label's 63 characters.
pub const MAX_NAME: usize = 63;

/// Joins parts with `-`, lowercases, replaces anything else with `-`, and
/// truncates with a hash of the full name when too long.
pub fn resource_name(parts: &[&str]) -> String {
    let joined = parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("-");
    let mut name: String = joined
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_matches(|c| c == '-' || c == '.').to_string();
    if name.is_empty() {
        return format!("nplc-{}", short_hash(&joined));
    }
    if name.len() <= MAX_NAME {
        return name;
    }
    let hash = short_hash(&joined);
    let keep = MAX_NAME - hash.len() - 1;
    let head = name[..keep].trim_end_matches(['-', '.']);
    format!("{head}-{hash}")
}

/// A policy's name, shared by the backends: `ZONE-DIRECTION` when the
/// policy's subject is exactly the zone `exact` written as one selector
/// (`single_selector`) and that name is not `taken` yet; otherwise `base` (a
/// zone containing the subject), the direction and a hash of `identity` (what
/// the policy selects), so a name depends only on what the policy selects,
/// never on unrelated rules.
pub fn policy_name(
    exact: Option<&str>,
    single_selector: bool,
    dir: &str,
    base: &str,
    identity: &str,
    taken: impl Fn(&str) -> bool,
) -> String {
    if let (Some(zone), true) = (exact, single_selector) {
        let name = resource_name(&[zone, dir]);
        if !taken(&name) {
            return name;
        }
    }
    resource_name(&[base, dir, &short_hash(identity)])
}

/// The zone whose pods are exactly the subject, preferring one isolated in
/// the policy's direction (`zone everything {}` over the prelude's
/// `cluster`), then the first declared.
pub fn exact_zone<'a>(ir: &'a Ir, term: &PodTerm, direction: Direction) -> Option<&'a str> {
    let exact = |z: &&Zone| z.pods.terms.len() == 1 && z.pods.terms[0] == *term;
    ir.zones
        .iter()
        .filter(exact)
        .find(|z| direction.isolates(z))
        .or_else(|| ir.zones.iter().find(exact))
        .map(|z| z.name.as_str())
}

/// The zone to name a policy after when its subject is not exactly a zone:
/// of the zones containing the subject, preferably one isolated in the
/// policy's direction (the reason the pods have a policy), then one
/// containing no other, then the last declared (a program's own zones come
/// after the library's, unions after their members).
pub fn most_specific_zone<'a>(ir: &'a Ir, term: &PodTerm, direction: Direction) -> &'a str {
    let containing: Vec<(&Zone, &PodTerm)> = ir
        .zones
        .iter()
        .filter_map(|z| z.pods.terms.iter().find(|t| term.subset(t)).map(|t| (z, t)))
        .collect();
    let isolated = |z: &Zone| direction.isolates(z);
    let minimal = |t: &PodTerm| !containing.iter().any(|(_, u)| *u != t && u.subset(t));
    let pick = |pred: &dyn Fn(&Zone, &PodTerm) -> bool| {
        containing
            .iter()
            .rev()
            .find(|(z, t)| pred(z, t))
            .map(|(z, _)| z.name.as_str())
    };
    pick(&|z, t| isolated(z) && minimal(t))
        .or_else(|| pick(&|z, _| isolated(z)))
        .or_else(|| pick(&|z, t| minimal(t) && z.pods.terms.len() == 1))
        .or_else(|| pick(&|_, t| minimal(t)))
        .unwrap_or("pods")
}

/// Eight hex digits of SHA-256: stable across runs and platforms.
pub fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(resource_name(&["backend", "ingress"]), "backend-ingress");
        assert_eq!(resource_name(&["Web_App", "", "egress"]), "web-app-egress");
        let long = "a".repeat(100);
        let name = resource_name(&[&long, "ingress"]);
        assert_eq!(name.len(), MAX_NAME);
        assert_eq!(name, resource_name(&[&long, "ingress"]));
        assert_ne!(name, resource_name(&[&long, "egress"]));
    }
}
