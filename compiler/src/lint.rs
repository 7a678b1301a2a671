//! Lints: warnings about programs that are valid but, by the seeds'
//! operational experience, wrong. They read the whole program's meaning
//! (the IR and [`crate::meaning`]), never a sample of it, and speak only
//! about user files: the standard library's choices are deliberate.
//!
//! - W0006 an egress-isolated zone that cannot reach the cluster DNS, in a
//!   program that allows DNS to other pods;
//! - W0007 an address inside the cluster's pod or service ranges (only
//!   when they are known: `--cluster-cidr`, `--service-cidr`, nplc.toml);
//! - W0008 one private host address (/32, /128) where a zone would do;
//! - W0009 a rule that another rule, deciding first, fully shadows;
//! - W0010 a rule no connection can match (an empty side);
//! - W0011 a deny that changes nothing;
//! - W0012 std/homelab: a profile label on a platform namespace.

use ipnet::IpNet;

use crate::algebra::ports::{PortSet, Protocol};
use crate::db::{Db, Program, SourceFile};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::ir::{self, Ir, PeerSet};
use crate::meaning::{self, Cause, Meaning, Region, Space};
use crate::names::{self, DefKind, Resolved};
use crate::syntax::ast::{Action, Item, Peer, PeerLiteral, Rule as AstRule};
use crate::{check, syntax};

/// Programs with more rules than this are not linted by meaning: the
/// lints must stay cheap next to the edit loop of the language server.
pub const MAX_RULES: usize = 400;

/// The label std/homelab's profiles select namespaces by.
pub const PROFILE_LABEL: &str = "network-policy.homelab/profile";

/// Namespaces seed 000 calls platform namespaces: they get hand-written
/// rules, never a profile.
pub const PLATFORM_NAMESPACES: &[&str] = &[
    "kube-system",
    "monitoring",
    "database",
    "garage",
    "istio-gateway",
    "istio-system",
    "cnpg-system",
];

/// Every diagnostic of a program: [`check::source_diagnostics`], and the
/// lints when it has no errors; sorted by file (program order) and position.
#[salsa::tracked(returns(ref))]
pub fn diagnostics(db: &dyn Db, program: Program) -> Vec<Diagnostic> {
    let mut all = check::source_diagnostics(db, program).clone();
    if !all.iter().any(Diagnostic::is_error) {
        all.extend(lints(db, program).iter().cloned());
        check::sort_program_diagnostics(db, program, &mut all);
    }
    all
}

/// Every lint of a program without errors (the caller checks for errors).
#[salsa::tracked(returns(ref))]
pub fn lints(db: &dyn Db, program: Program) -> Vec<Diagnostic> {
    let resolved = names::resolve(db, program);
    let mut out = Vec::new();
    for &file in &resolved.files {
        if !file.is_std(db) {
            out.extend(host_addresses(db, file));
        }
    }
    if resolved.rules.len() > MAX_RULES {
        return out;
    }
    // Lints run only on programs without errors, which always lower.
    let Some(ir) = ir::lower(db, program) else {
        return out;
    };
    let user = |span: Span| !span.file.is_std(db);
    out.extend(profile_on_platform(db, resolved, ir, &user));
    let space = Space::of([ir]);
    let meaning = meaning::meaning(&space, ir);
    out.extend(no_dns(resolved, ir, &space, &meaning, &user));
    out.extend(rule_lints(ir, &space, &meaning, &user));
    out
}

/// The cluster's own address ranges, when the user gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterRanges {
    pub pods: Vec<IpNet>,
    pub services: Vec<IpNet>,
}

impl ClusterRanges {
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty() && self.services.is_empty()
    }
}

/// W0007: addresses written in user files that fall inside the cluster's
/// pod or service ranges.
pub fn cluster_addresses(db: &dyn Db, program: Program, ranges: &ClusterRanges) -> Vec<Diagnostic> {
    if ranges.is_empty() {
        return Vec::new();
    }
    let resolved = names::resolve(db, program);
    let mut out = Vec::new();
    for &file in resolved.files.iter().filter(|f| !f.is_std(db)) {
        for (net, span, _) in cidrs(db, file) {
            let hit = |list: &[IpNet]| list.iter().find(|r| overlaps(r, &net)).copied();
            let (kind, range, help) = if let Some(r) = hit(&ranges.pods) {
                ("pod", r, "pod addresses change with every restart: name the pods with a zone (`zone db { namespace \"data\"; pods app = \"postgres\" }`) and use it in the rule")
            } else if let Some(r) = hit(&ranges.services) {
                ("service", r, "policies see pod addresses after a Service's address is translated, so a service address matches nothing: use the zone of the Service's pods")
            } else {
                continue;
            };
            out.push(
                Diagnostic::new(
                    Code::ClusterAddress,
                    span,
                    format!("`{net}` is inside the cluster's {kind} range {range}"),
                )
                .with_label(format!("a {kind} address"))
                .with_help(help),
            );
        }
    }
    out
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Every CIDR literal of a file, parsed, and whether it is written in a
/// rule (rather than in an `external`).
fn cidrs(db: &dyn Db, file: SourceFile) -> Vec<(IpNet, Span, bool)> {
    type Out = Vec<(IpNet, Span, bool)>;
    fn peer(p: &Peer, out: &mut Out) {
        match p {
            Peer::Name(_) => {}
            Peer::Literal { value, .. } => literal(value, true, out),
            Peer::Set { members, .. } => members.iter().for_each(|m| peer(m, out)),
        }
    }
    fn literal(value: &PeerLiteral, in_rule: bool, out: &mut Out) {
        if let PeerLiteral::Cidr { base, .. } = value {
            if let Ok(net) = base.text.parse::<IpNet>() {
                out.push((net, base.span, in_rule));
            }
        }
    }
    fn rule(r: &AstRule, out: &mut Out) {
        peer(&r.source, out);
        peer(&r.destination, out);
    }
    let mut out = Vec::new();
    for item in &syntax::parse(db, file).module.items {
        match item {
            Item::External(e) => literal(&e.value, false, &mut out),
            Item::Rule(r) => rule(r, &mut out),
            Item::Tier(t) => t.rules.iter().for_each(|r| rule(r, &mut out)),
            _ => {}
        }
    }
    out
}

/// Where pods, services and nodes usually live: RFC 1918, the shared
/// address space of RFC 6598 (many CNIs' pod range) and IPv6 ULAs.
const PRIVATE: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

/// W0008: a single private address written in a rule (a named `external`
/// is how a fixed machine outside the cluster is meant to be written).
fn host_addresses(db: &dyn Db, file: SourceFile) -> Vec<Diagnostic> {
    let private: Vec<IpNet> = PRIVATE.iter().filter_map(|p| p.parse().ok()).collect();
    cidrs(db, file)
        .into_iter()
        .filter(|(_, _, in_rule)| *in_rule)
        .filter(|(net, _, _)| net.prefix_len() == net.max_prefix_len())
        .filter(|(net, _, _)| private.iter().any(|p| p.contains(&net.network())))
        .map(|(net, span, _)| {
            Diagnostic::new(
                Code::HostAddress,
                span,
                format!("`{net}` hard-codes one private address in a rule"),
            )
            .with_label("one host")
            .with_help(format!("addresses of pods and nodes change: name the pods with a zone, the nodes with `host`, the API server with `kube-apiserver`; for a fixed machine outside the cluster, name it once (`external nas = cidr {net}` with a `##` comment saying what it is)"))
        })
        .collect()
}

fn zone_name_span(resolved: &Resolved, zone: &ir::Zone) -> Option<Span> {
    resolved.def(zone.def).name_span.or(zone.span)
}

/// W0006: an egress-isolated user zone none of whose pods may query the
/// cluster DNS on UDP 53.
fn no_dns(
    resolved: &Resolved,
    ir: &Ir,
    space: &Space,
    meaning: &Meaning,
    user: &dyn Fn(Span) -> bool,
) -> Vec<Diagnostic> {
    let Some(dns) = ir.zone_named("kube-dns") else {
        return Vec::new();
    };
    // A program that writes no DNS rule at all is taken for a fragment (the
    // reference's examples are); one that writes some has chosen to handle
    // DNS, and a zone it leaves out is the mistake seed 003 warns about.
    let dns_ports = PortSet::port(Protocol::Udp, 53);
    let handles_dns = ir.rules().any(|r| {
        r.action == Action::Allow
            && meaning::is_direct(r)
            && !r.destination.pods.intersection(&dns.pods).is_empty()
            && r.ports()
                .intersection(&dns_ports)
                .is_ok_and(|p| !p.is_empty())
    });
    if !handles_dns {
        return Vec::new();
    }
    let mut out = Vec::new();
    for zone in &ir.zones {
        let Some(span) = zone_name_span(resolved, zone) else {
            continue;
        };
        if !zone.isolation.egress || zone.pods.is_empty() || !user(span) {
            continue;
        }
        if matches!(resolved.def(zone.def).kind, DefKind::ZoneUnion(_)) {
            continue;
        }
        let lookups = Region {
            source: space.side(&PeerSet::pods(zone.pods.clone())),
            destination: space.side(&PeerSet::pods(dns.pods.clone())),
            ports: space.ports_of(&dns_ports),
        };
        if lookups.is_empty()
            || meaning
                .allowed_within(&lookups)
                .map_or(true, |a| !a.is_empty())
        {
            continue;
        }
        out.push(
            Diagnostic::new(
                Code::NoDnsEgress,
                span,
                format!("zone `{}` is isolated for egress and cannot reach the cluster DNS", zone.name),
            )
            .with_label("no pod of this zone may query kube-dns on udp/53")
            .with_help(format!(
                "its pods cannot resolve any name; `import \"std/baseline\"` (DNS for every pod), or `allow {} -> kube-dns : udp/53, tcp/53`",
                zone.name
            )),
        );
    }
    out
}

/// W0009, W0010, W0011 for the rules of user files.
fn rule_lints(
    ir: &Ir,
    space: &Space,
    meaning: &Meaning,
    user: &dyn Fn(Span) -> bool,
) -> Vec<Diagnostic> {
    let rules: Vec<&ir::Rule> = ir.rules().collect();
    let tier_of: Vec<usize> = ir
        .tiers
        .iter()
        .enumerate()
        .flat_map(|(t, tier)| std::iter::repeat_n(t, tier.rules.len()))
        .collect();
    let mut out = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if !user(rule.span) || !meaning::is_direct(rule) {
            continue;
        }
        let region = space.rule_region(rule);
        if let Some(d) = matches_nothing(rule, &region) {
            out.push(d);
            continue;
        }
        // An L7-filtered deny acts on requests, which the L4 meaning does not see.
        let Some(decision) = meaning.decisions.iter().find(|d| d.cause == Cause::Rule(i)) else {
            continue;
        };
        let Ok(own) = meaning.parts(decision, None) else {
            continue;
        };
        if own.is_empty() {
            let mut shadows: Vec<usize> = Vec::new();
            for earlier in &meaning.decisions {
                let Cause::Rule(j) = earlier.cause else {
                    continue;
                };
                if j == i {
                    break;
                }
                if earlier
                    .base
                    .iter()
                    .any(|b| b.intersection(&region).is_some())
                    && meaning
                        .parts(earlier, Some(&region))
                        .is_ok_and(|p| !p.is_empty())
                {
                    shadows.push(j);
                }
            }
            // Overlapping rules of one tier and one action are redundant, not
            // wrong. An L7-filtered allow decides at L4 only: requests its
            // filter does not match still reach this rule.
            let filtered_allow =
                |j: usize| rules[j].action == Action::Allow && !rules[j].service.l7.is_any();
            let telling = !shadows.iter().any(|&j| filtered_allow(j))
                && shadows
                    .iter()
                    .any(|&j| rules[j].action != rule.action || tier_of[j] < tier_of[i]);
            if telling {
                out.push(shadowed(
                    rule,
                    &shadows.iter().map(|&j| rules[j]).collect::<Vec<_>>(),
                ));
            }
            continue;
        }
        // The requests an L7-filtered allow of an earlier or the same tier
        // does not match reach this deny, which the L4 meaning cannot tell.
        let behind_a_filter = rules.iter().enumerate().any(|(j, other)| {
            other.action == Action::Allow
                && !other.service.l7.is_any()
                && tier_of[j] <= tier_of[i]
                && space.rule_region(other).intersection(&region).is_some()
        });
        if rule.action == Action::Deny && !behind_a_filter {
            let without = meaning::meaning_without(space, ir, Some(i), meaning::View::L4);
            let mut opens = false;
            for part in &own {
                match without.allowed_within(part) {
                    Ok(allowed) if allowed.is_empty() => {}
                    _ => {
                        opens = true;
                        break;
                    }
                }
            }
            if !opens {
                out.push(
                    Diagnostic::new(
                        Code::UselessDeny,
                        rule.span,
                        "this `deny` changes nothing: nothing it covers would be allowed without it",
                    )
                    .with_label("denies only what is denied anyway")
                    .with_help("what it covers is denied anyway, by isolation (every zone is default-deny unless it says `isolate`) or by other denies; delete it, or check that its peers and ports are the ones you meant"),
                );
            }
        }
    }
    out
}

fn matches_nothing(rule: &ir::Rule, region: &Region) -> Option<Diagnostic> {
    let side = if region.source.is_empty() {
        "source"
    } else if region.destination.is_empty() {
        "destination"
    } else if region.ports.is_empty() {
        "port list"
    } else {
        return None;
    };
    Some(
        Diagnostic::new(
            Code::RuleMatchesNothing,
            rule.span,
            format!("this `{}` matches no connection: its {side} is empty", rule.action.as_str()),
        )
        .with_label(format!("the {side} selects nothing"))
        .with_help("a zone whose constraints contradict each other (`pods app = \"a\", app = \"b\"`) or the intersection of disjoint sets selects nothing; fix the zone, or delete the rule"),
    )
}

fn shadowed(rule: &ir::Rule, by: &[&ir::Rule]) -> Diagnostic {
    let mut d = Diagnostic::new(
        Code::ShadowedRule,
        rule.span,
        format!("this `{}` never decides a connection", rule.action.as_str()),
    )
    .with_label("every connection it matches is decided before it");
    for other in by.iter().take(3) {
        let what = if other.action == Action::Deny {
            "this deny decides first"
        } else {
            "this allow decides first"
        };
        d = d.with_secondary(other.span, what);
    }
    d.with_help("in a tier a matching `deny` beats every `allow`, and earlier tiers decide before later ones; narrow the rule that shadows it, move this rule to an earlier tier, or delete it")
}

/// W0012: with std/homelab, a user zone that selects a platform namespace
/// by its profile label. Platform namespaces get hand-written rules; a
/// profile on them (seed 000: "never use profiles for platform
/// namespaces") replaces those rules by a template.
fn profile_on_platform(
    db: &dyn Db,
    resolved: &Resolved,
    ir: &Ir,
    user: &dyn Fn(Span) -> bool,
) -> Vec<Diagnostic> {
    if !resolved.files.iter().any(|f| f.path(db) == "std/homelab") {
        return Vec::new();
    }
    let mut out = Vec::new();
    for zone in &ir.zones {
        let Some(span) = zone_name_span(resolved, zone) else {
            continue;
        };
        if !user(span) || !matches!(resolved.def(zone.def).kind, DefKind::Zone(_)) {
            continue;
        }
        for term in &zone.pods.terms {
            let Some(namespace) = term.namespace_name() else {
                continue;
            };
            if !PLATFORM_NAMESPACES.contains(&namespace) {
                continue;
            }
            let profile = term.namespace.constraint(PROFILE_LABEL);
            // Only a zone that needs the label present relies on it.
            if profile.contains(None) {
                continue;
            }
            out.push(
                Diagnostic::new(
                    Code::ProfileOnPlatform,
                    span,
                    format!("zone `{}` puts platform namespace `{namespace}` on a homelab profile", zone.name),
                )
                .with_label(format!("selects `{namespace}` by `{PROFILE_LABEL}`"))
                .with_help(format!("platform namespaces ({}) never get a profile label: they need rules of their own; select the namespace by name (`namespace \"{namespace}\"`) and allow what it needs, as examples/homelab/platform.npl does", PLATFORM_NAMESPACES.join(", "))),
            );
            break;
        }
    }
    out
}
