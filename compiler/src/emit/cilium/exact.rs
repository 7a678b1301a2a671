//! What Cilium cannot say as written, adjusted exactly or refused with a
//! coded error: host names as sources or in denies, L7 in denies, DNS
//! filters on ingress, named ports in egress rules, L4 and L7 rules meeting
//! on one port, and the DNS lookups `toFQDNs` depends on.

use std::collections::BTreeSet;

use super::sides::{Piece, Side};
use super::TARGET;
use crate::algebra::fqdn::{FqdnPattern, FqdnSet};
use crate::algebra::icmp::IcmpFamily;
use crate::algebra::ipset::IpSet;
use crate::algebra::ports::{PortSet, Protocol};
use crate::diagnostic::{Code, Diagnostic};
use crate::emit::{fqdn_list, target_error};
use crate::ir::term_index::TermIndex;
use crate::ir::Action;
use crate::ir::Direction;
use crate::ir::{Ir, PeerSet, PodSet, L7};

/// The sides after the adjustments Cilium needs; refused ones are dropped
/// with an error.
pub(super) fn adjust(ir: &Ir, sides: Vec<Side>, errors: &mut Vec<Diagnostic>) -> Vec<Side> {
    let isolated_ingress = ir.isolated_ingress();
    let isolated_egress = ir.isolated_egress();
    let mut out = Vec::with_capacity(sides.len());
    for side in sides {
        if side.remote.is_empty() || side.ports.is_empty() || side.local.is_empty() {
            continue;
        }
        let error = |code: Code, message: String, help: &str| {
            target_error(code, side.span, TARGET, message, help)
        };
        if let Some(message) = icmp_codes(&side.ports) {
            errors.push(error(
                Code::IcmpCodeNotSupported,
                message,
                "name whole ICMP types (`icmp/3` rather than `icmp/3/4`), or build for `--target calico`, which matches ICMP codes",
            ));
            continue;
        }
        let fqdns = &side.remote.fqdns;
        if side.direction == Direction::Ingress && !fqdns.is_empty() && !fqdns.is_all() {
            errors.push(error(
                Code::EntityNotExpressible,
                format!(
                    "Cilium cannot select the source of a connection by host name ({})",
                    fqdn_list(fqdns)
                ),
                "host names are destinations: write the sources' addresses with a `cidr` peer",
            ));
            continue;
        }
        if side.action == Action::Deny {
            if let Some(refusal) = deny_refusal(&side) {
                errors.push(error(Code::DenyNotExpressible, refusal.0, refusal.1));
                continue;
            }
            out.extend(deny_ports(side));
            continue;
        }
        match side.direction {
            Direction::Ingress => {
                if let L7::Dns(_) = side.l7 {
                    // Cilium's DNS proxy filters egress only. The names are
                    // still enforced when every client pod's egress is
                    // isolated (its egress rule carries the filter), or when
                    // no pod here is isolated for ingress (the rule is never
                    // what lets a connection in).
                    let pods_only = side.remote.ips.is_empty()
                        && side.remote.fqdns.is_empty()
                        && side.remote.entities.is_empty();
                    let clients_checked =
                        pods_only && side.remote.pods.difference(&isolated_egress).is_empty();
                    let never_decides = side.local.intersection(&isolated_ingress).is_empty();
                    if clients_checked || never_decides {
                        out.push(Side {
                            l7: L7::Any,
                            ..side
                        });
                    } else {
                        errors.push(error(
                            Code::L7NotSupported,
                            "Cilium filters DNS names on egress only, and some of these DNS clients are not isolated for egress, where the filter would be enforced".to_string(),
                            "isolate the zones of the DNS clients for egress (their egress policies then filter the names), or do not isolate the DNS server's zone for ingress",
                        ));
                    }
                    continue;
                }
                out.push(side);
            }
            Direction::Egress => {
                if matches!(side.l7, L7::Dns(_)) && !side.ports.ranges(Protocol::Sctp).is_empty() {
                    errors.push(error(
                        Code::L7NotSupported,
                        "Cilium's DNS proxy reads DNS over UDP and TCP, not SCTP".to_string(),
                        "write the DNS ports as `udp/53, tcp/53`",
                    ));
                    continue;
                }
                out.extend(egress_named_ports(side, &isolated_ingress));
            }
        }
    }
    out
}

/// Why the side's ICMP messages cannot be written, if they cannot: Cilium's
/// `icmps` match a family and a type, every code of it.
fn icmp_codes(ports: &PortSet) -> Option<String> {
    let icmp = ports.icmp_set();
    let partial: Vec<String> = IcmpFamily::ALL
        .into_iter()
        .flat_map(|family| {
            icmp.partial_types(family)
                .into_iter()
                .map(move |t| format!("{family}/{t}"))
        })
        .collect();
    (!partial.is_empty()).then(|| {
        format!(
            "Cilium matches ICMP by type, not by code, and this rule holds some codes but not all of {}",
            partial.join(", ")
        )
    })
}

/// Why a deny side cannot be written, if it cannot: Cilium's deny rules
/// have no `toFQDNs` and no L7 rules.
fn deny_refusal(side: &Side) -> Option<(String, &'static str)> {
    if !side.l7.is_any() {
        return Some((
            "Cilium's deny rules have no L7 part: this `deny` with a filter cannot be written".to_string(),
            "deny the whole port, or allow only the wanted requests and isolate the zone instead of denying the others",
        ));
    }
    let fqdns = &side.remote.fqdns;
    let every_address = side.remote.ips == IpSet::all();
    let every_name_and_address = fqdns.is_all() && every_address;
    if !fqdns.is_empty() && !every_name_and_address {
        return Some(if fqdns.is_all() {
            (
                "Cilium's deny rules match addresses, not host names: this deny covers every name but not every address (`world` minus an earlier tier's allow), and denying the names by address would let through names whose address is allowed".to_string(),
                "deny addresses rather than `world` (for example `cidr 0.0.0.0/0, ::/0`), or write the earlier allow over `world` too",
            )
        } else {
            (
                format!(
                    "Cilium's deny rules cannot match host names ({})",
                    fqdn_list(fqdns)
                ),
                "isolate the zone for egress and allow only the names it may reach, or deny the names' addresses with a `cidr` peer",
            )
        });
    }
    None
}

/// A deny's named ports are ports of the destination pod: the ingress side
/// (always written for pods) denies them exactly; Cilium would resolve them
/// from every pod of the cluster on egress, so the egress side keeps only
/// the numeric ports.
fn deny_ports(side: Side) -> Option<Side> {
    if side.direction == Direction::Ingress || side.ports.named_ports().is_empty() {
        return Some(side);
    }
    let numeric = numeric_part(&side.ports);
    (!numeric.is_empty()).then_some(Side {
        ports: numeric,
        ..side
    })
}

/// Cilium resolves a named port of an egress rule from the ports of every
/// pod of the cluster, not from the destination. Destination pods isolated
/// for ingress check the named port (and any L7 filter) exactly in their
/// ingress policy, so the egress rule allows the whole protocol there; for
/// the others only the numeric ports are written (a narrowing; see
/// docs/targets.md). A named port never matches an address, name or entity.
fn egress_named_ports(side: Side, isolated_ingress: &PodSet) -> Vec<Side> {
    if side.ports.named_ports().is_empty() {
        return vec![side];
    }
    let mut out = Vec::new();
    let numeric = numeric_part(&side.ports);
    let others = PeerSet {
        pods: PodSet::none(),
        ..side.remote.clone()
    };
    if !others.is_empty() && !numeric.is_empty() {
        out.push(Side {
            remote: others,
            ports: numeric.clone(),
            ..side.clone()
        });
    }
    let checked = side.remote.pods.intersection(isolated_ingress);
    let unchecked = side.remote.pods.difference(isolated_ingress);
    if !checked.is_empty() {
        let widened = side
            .ports
            .named_ports()
            .iter()
            .fold(numeric.clone(), |acc, (p, _)| {
                acc.union(&PortSet::all_of(*p))
            });
        out.push(Side {
            remote: PeerSet::pods(checked),
            ports: widened,
            l7: L7::Any,
            ..side.clone()
        });
    }
    if !unchecked.is_empty() && !numeric.is_empty() {
        out.push(Side {
            remote: PeerSet::pods(unchecked),
            ports: numeric,
            ..side
        });
    }
    out
}

/// The numeric ports and ICMP of a set, without its named ports.
fn numeric_part(ports: &PortSet) -> PortSet {
    let mut out = PortSet::icmp_messages(ports.icmp_set().clone());
    for protocol in Protocol::ALL {
        for &(lo, hi) in ports.ranges(protocol).ranges() {
            out = out.union(&PortSet::range(protocol, lo, hi));
        }
    }
    out
}

fn dns_ports() -> PortSet {
    PortSet::port(Protocol::Udp, 53).union(&PortSet::port(Protocol::Tcp, 53))
}

/// Whether two allow sides may judge the same connection on one pod: some
/// local pod, remote peer and port in common.
fn overlap(a: &Side, b: &Side) -> bool {
    let ports = match a.ports.intersection(&b.ports) {
        Ok(common) => !common.is_empty(),
        Err(_) => true,
    };
    a.direction == b.direction
        && ports
        && !a.local.intersection(&b.local).is_empty()
        && !a.remote.intersection(&b.remote).is_empty()
}

/// Cilium cannot keep an L7 filter on traffic that another rule allows
/// without one: it merges them into an L7 wildcard, so the port's traffic
/// goes through the proxy for every such peer. For DNS on egress that is
/// what the program means (every name), and the L4 rule is written as
/// `matchPattern: "*"` on port 53 so the DNS proxy keeps seeing the lookups
/// `toFQDNs` needs. For HTTP it is an error (E0407), as are HTTP and DNS
/// filters on the same port.
///
/// `dns_servers` (the prelude's `kube-dns`): an egress allow of port 53 that
/// reaches them is written that way always, not only when some rule filters
/// names, so adding or removing an FQDN rule changes no other zone's policy.
/// Traffic on port 53 to those peers that is not DNS is not allowed: a
/// narrowing (docs/targets.md).
pub(super) fn resolve_mixed_l7(
    sides: Vec<Side>,
    dns_servers: Option<&PodSet>,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Side> {
    let is_allow = |s: &Side| s.action == Action::Allow;
    let filtered: Vec<usize> = (0..sides.len())
        .filter(|&i| is_allow(&sides[i]) && !sides[i].l7.is_any())
        .collect();
    // Egress allows without a filter that reach the DNS servers on a
    // numeric port 53: proxied as every name whatever other rules say, so
    // the policy depends on the rule alone.
    let servers_of = |s: &Side| -> Option<PodSet> {
        let servers = dns_servers?;
        let lookups = s.ports.intersection(&dns_ports()).ok()?;
        let pods = s.remote.pods.intersection(servers);
        (s.direction == Direction::Egress
            && is_allow(s)
            && s.l7.is_any()
            && !lookups.is_empty()
            && !pods.is_empty())
        .then_some(pods)
    };
    let mut upgrade: BTreeSet<usize> = (0..sides.len())
        .filter(|&i| servers_of(&sides[i]).is_some())
        .collect();
    if filtered.is_empty() && upgrade.is_empty() {
        return sides;
    }
    // The allows whose pods may meet a filtered side's, found by namespace
    // and label value: a filtered rule meets the few sides of its own pods,
    // not every side of the program.
    let mut by_local = TermIndex::default();
    if !filtered.is_empty() {
        for (i, side) in sides.iter().enumerate().filter(|(_, s)| is_allow(s)) {
            for term in &side.local.terms {
                by_local.insert(term, i);
            }
        }
    }
    for &f in &filtered {
        let l7 = &sides[f];
        let mut candidates = BTreeSet::new();
        for term in &l7.local.terms {
            by_local.meeting(term, &mut candidates);
        }
        for i in candidates {
            let other = &sides[i];
            if i == f || !is_allow(other) || !overlap(l7, other) {
                continue;
            }
            match (&l7.l7, &other.l7) {
                (L7::Dns(_), L7::Any) if l7.direction == Direction::Egress => {
                    upgrade.insert(i);
                }
                (L7::Http(_), L7::Any) | (L7::Dns(_), L7::Any) => {
                    errors.push(mixed_error(l7, other));
                }
                (L7::Http(_), L7::Dns(_)) => errors.push(
                    target_error(
                        Code::MixedL4L7,
                        l7.span,
                        TARGET,
                        "an `http` filter and a `dns` filter on the same port and peers: Cilium rejects a policy that mixes L7 protocols on one port".to_string(),
                        "give the HTTP and DNS traffic different ports or peers",
                    )
                    .with_secondary(other.span, "the `dns` filter"),
                ),
                _ => {}
            }
        }
    }
    let mut out = Vec::with_capacity(sides.len() + upgrade.len());
    let dns_filtered: Vec<Side> = filtered
        .iter()
        .map(|&f| &sides[f])
        .filter(|d| matches!(d.l7, L7::Dns(_)))
        .cloned()
        .collect();
    let lookups_of = |side: &Side| -> Vec<Side> {
        dns_filtered
            .iter()
            .filter(|d| overlap(d, side))
            .filter_map(|d| {
                Some(Side {
                    remote: side.remote.intersection(&d.remote),
                    ports: side.ports.intersection(&d.ports).ok()?,
                    l7: L7::Dns(vec!["*".to_string()]),
                    ..side.clone()
                })
            })
            .collect()
    };
    for (i, side) in sides.into_iter().enumerate() {
        if !upgrade.contains(&i) {
            out.push(side);
            continue;
        }
        let side = &side;
        // Every port: keep it, and add its lookups to the DNS peers as
        // every name (the port's traffic to them goes through the proxy).
        if side.ports == PortSet::all() {
            out.push(side.clone());
            match servers_of(side) {
                Some(servers) => out.push(Side {
                    remote: PeerSet::pods(servers),
                    ports: dns_ports(),
                    l7: L7::Dns(vec!["*".to_string()]),
                    ..side.clone()
                }),
                None => out.extend(lookups_of(side)),
            }
            continue;
        }
        // Otherwise its DNS ports become every name through the proxy.
        match (
            side.ports.intersection(&dns_ports()),
            side.ports.difference(&dns_ports()),
        ) {
            (Ok(lookups), Ok(rest)) => {
                if !rest.is_empty() {
                    out.push(Side {
                        ports: rest,
                        ..side.clone()
                    });
                }
                if !lookups.is_empty() {
                    out.push(Side {
                        ports: lookups,
                        l7: L7::Dns(vec!["*".to_string()]),
                        ..side.clone()
                    });
                }
            }
            _ => errors.push(target_error(
                Code::MixedL4L7,
                side.span,
                TARGET,
                "this rule's named ports meet a `dns` filter on port 53, and nplc cannot tell which of them is port 53".to_string(),
                "write DNS as `udp/53, tcp/53` in this rule",
            )),
        }
    }
    out
}

fn mixed_error(l7: &Side, plain: &Side) -> Diagnostic {
    let kind = match l7.l7 {
        L7::Dns(_) => "dns",
        _ => "http",
    };
    target_error(
        Code::MixedL4L7,
        l7.span,
        TARGET,
        format!(
            "this `{kind}` filter meets a rule that allows every request on the same port to the same peers: Cilium would proxy all of that traffic as {} and the filter would have no effect",
            kind.to_uppercase()
        ),
        "the rule without a filter already allows every request there: drop the L7 block, or narrow the ports or peers of one rule so the two do not overlap",
    )
    .with_secondary(plain.span, "allows every request on that port")
}

/// Cilium matches `toFQDNs` against the answers of the DNS lookups its proxy
/// has seen: a pod allowed to reach a name must be allowed to look it up
/// with a `dns` rule (the IR adds one to kube-dns for every FQDN allow).
/// Names whose lookups a deny stops would never be reached: an error.
pub(super) fn check_lookups(
    ir: &Ir,
    sides: &[Side],
    denies: &[Piece],
    errors: &mut Vec<Diagnostic>,
) {
    let isolated_egress = &ir.isolated_egress();
    let egress = |s: &&Side| s.direction == Direction::Egress && s.action == Action::Allow;
    let lookups: Vec<(PodSet, &Vec<String>)> = sides
        .iter()
        .filter(egress)
        .filter_map(|s| match &s.l7 {
            L7::Dns(names) => Some((looked_up(s, denies), names)),
            _ => None,
        })
        .collect();
    for side in sides.iter().filter(egress) {
        let fqdns: &FqdnSet = &side.remote.fqdns;
        if fqdns.is_empty() || fqdns.is_all() {
            continue;
        }
        for pattern in fqdns.patterns() {
            let covering = lookups
                .iter()
                .filter(|(_, names)| names.iter().any(|n| lookup_covers(n, pattern)))
                .fold(PodSet::none(), |acc, (pods, _)| acc.union(pods));
            // Only pods isolated for egress need the rule to reach the name.
            let needing = side.local.intersection(isolated_egress);
            if needing.difference(&covering).is_empty() {
                continue;
            }
            let zone = &ir.zones[side.zone].name;
            errors.push(target_error(
                Code::FqdnNeedsVia,
                side.span,
                TARGET,
                format!(
                    "Cilium matches `{pattern}` by the DNS answers its proxy sees, and no rule lets all of `{zone}` look `{pattern}` up"
                ),
                &format!(
                    "allow the lookup (`allow {zone} -> kube-dns : udp/53, tcp/53`, or remove the deny that stops it); for gateway pods reaching names through `via`, allow the gateway's lookups"
                ),
            ));
        }
    }
}

/// The pods of a DNS rule whose lookups no deny stops altogether (a deny of
/// every DNS server of the rule on every port of it).
fn looked_up(side: &Side, denies: &[Piece]) -> PodSet {
    denies
        .iter()
        .filter(|d| {
            side.remote
                .difference(&d.destination)
                .is_ok_and(|rest| rest.is_empty())
                && side
                    .ports
                    .difference(&d.ports)
                    .is_ok_and(|rest| rest.is_empty())
        })
        .fold(side.local.clone(), |acc, d| acc.difference(&d.source.pods))
}

/// Whether a `dns` rule name covers every name of an FQDN pattern.
fn lookup_covers(rule: &str, pattern: &FqdnPattern) -> bool {
    rule == "*"
        || rule == pattern.to_string()
        || matches!(pattern, FqdnPattern::Name(name) if crate::ir::dns_matches(rule, name))
}
