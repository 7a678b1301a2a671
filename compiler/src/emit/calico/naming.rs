//! Policy names from the source: the zone a policy selects, its direction,
//! its band and its tier, never a hash of its contents.
//!
//! Names in the default tier:
//!
//! - `ZONE-ingress`, `ZONE-egress`: the allows of a zone in a direction;
//! - `ZONE-ingress-deny`, `ZONE-egress-deny`: its denies;
//! - `ZONE-isolation`: its isolation defaults;
//! - `nplc-unisolated-allow`: every pod's allow-all, last.
//!
//! A declared tier's policies are `TIER.NAME` (the prefix Calico's API
//! wants), and end with `TIER.nplc-pass`; in the flat layout they are
//! `TIER--NAME` in the default tier. These names never meet: a zone name has
//! no `.` and no `--`, does not start with `nplc` (E0209), and no suffix above
//! is the end of another one, so the zone, the suffix and the tier can be
//! read back from every name.

use std::collections::HashMap;

use crate::emit::names::{resource_name, short_hash};
use crate::ir::Direction;
use crate::ir::{Ir, PodTerm};

/// The zone each pod term is named after: the zones whose pods are exactly
/// that term, preferring one that isolates (the reason its pods have
/// policies), then the first declared. Built once, so naming a policy costs a
/// lookup, not a scan of the zones.
pub struct ZoneNames<'a> {
    by_term: HashMap<&'a PodTerm, (&'a str, bool)>,
}

impl<'a> ZoneNames<'a> {
    pub fn new(ir: &'a Ir) -> ZoneNames<'a> {
        let mut by_term: HashMap<&PodTerm, (&str, bool)> = HashMap::new();
        for zone in &ir.zones {
            let [term] = zone.pods.terms.as_slice() else {
                continue;
            };
            let isolates = zone.isolation.ingress || zone.isolation.egress;
            let entry = by_term.entry(term).or_insert((&zone.name, isolates));
            if isolates && !entry.1 {
                *entry = (&zone.name, true);
            }
        }
        ZoneNames { by_term }
    }

    /// The name of the zone whose pods are `term`. Every term a checked
    /// program's rules select is some zone's (a union's terms are its
    /// members'); the fallback keeps the function total, in nplc's own space.
    pub fn of(&self, term: &PodTerm) -> String {
        match self.by_term.get(term) {
            Some((name, _)) => (*name).to_string(),
            None => resource_name(&["nplc-pods", &short_hash(&format!("{term:?}"))]),
        }
    }
}

/// `ZONE-ingress`, `ZONE-egress-deny`, ...
pub fn rules_policy(zone: &str, direction: Direction, deny: bool) -> String {
    let direction = match direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    };
    if deny {
        format!("{zone}-{direction}-deny")
    } else {
        format!("{zone}-{direction}")
    }
}

/// The `log` rules of a zone in one direction: `ZONE-ingress-log`.
pub fn log_policy(zone: &str, direction: Direction) -> String {
    format!("{}-log", rules_policy(zone, direction, false))
}

pub fn isolation_policy(zone: &str) -> String {
    format!("{zone}-isolation")
}

/// The allow-all every pod ends the default tier with.
pub const UNISOLATED_ALLOW: &str = "nplc-unisolated-allow";
/// The end of each declared tier.
pub const TIER_PASS: &str = "nplc-pass";

/// A policy's name in a declared tier: `TIER.NAME`, or `TIER--NAME` in the
/// flat layout (where a `.` would have to name the tier, and older Calico
/// refuses it in the default tier).
pub fn in_tier(tier: &str, name: &str, flat: bool) -> String {
    if flat {
        format!("{tier}--{name}")
    } else {
        format!("{tier}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_to_their_sources() {
        assert_eq!(
            rules_policy("web", Direction::Ingress, false),
            "web-ingress"
        );
        assert_eq!(
            rules_policy("web", Direction::Egress, true),
            "web-egress-deny"
        );
        assert_eq!(isolation_policy("web"), "web-isolation");
        assert_eq!(log_policy("web", Direction::Ingress), "web-ingress-log");
        assert_eq!(log_policy("web", Direction::Egress), "web-egress-log");
        assert_eq!(
            in_tier("security", "web-egress-deny", false),
            "security.web-egress-deny"
        );
        assert_eq!(in_tier("t", "a-b-ingress", true), "t--a-b-ingress");
        // Tier `t` with zone `a-b`, tier `t-a` with zone `b`, and zone
        // `t-a-b` in the default tier stay apart in the flat layout.
        let names = [
            in_tier("t", &rules_policy("a-b", Direction::Ingress, false), true),
            in_tier("t-a", &rules_policy("b", Direction::Ingress, false), true),
            rules_policy("t-a-b", Direction::Ingress, false),
        ];
        assert_eq!(
            names
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            3
        );
    }
}
