//! Generated resource names: derived from the source, DNS-1123 valid, and
//! truncated with a short stable hash when long.

use sha2::{Digest, Sha256};

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
