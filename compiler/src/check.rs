//! Validation of one file with Kubernetes' own rules: names, label keys and
//! values, namespaces, CIDRs, ports, FQDNs, HTTP and DNS rules, zone bodies.
//! Everything here needs only the file itself, so it is cached per file.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

use crate::algebra::icmp;
use crate::db::{Db, Program, SourceFile};
use crate::diagnostic::{sort_diagnostics, Code, Diagnostic, Span};
use crate::names;
use crate::syntax;
use crate::syntax::ast::*;

#[salsa::tracked(returns(ref))]
pub fn check_file(db: &dyn Db, file: SourceFile) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for item in &syntax::parse(db, file).module.items {
        check_item(item, &mut out);
    }
    // The standard library is ours: its deliberate choices (such as probes on
    // every port) must not warn in users' builds.
    if file.is_std(db) {
        out.retain(Diagnostic::is_error);
    }
    out
}

fn check_item(item: &Item, out: &mut Vec<Diagnostic>) {
    if let Some(name) = item.defined_name() {
        check_name(name, out);
        check_reserved(item, name, out);
    }
    match item {
        Item::Zone(zone) => check_zone(zone, out),
        Item::ZoneUnion(u) => u.members.iter().for_each(|m| check_name(m, out)),
        Item::External(ext) => check_peer_literal(&ext.value, out),
        Item::Rule(rule) => check_rule(rule, out),
        Item::Tier(tier) => tier.rules.iter().for_each(|r| check_rule(r, out)),
        Item::Gateway(gw) => check_gateway(gw, out),
        Item::Import(_) => {}
    }
}

/// The diagnostics of the source itself: syntax, imports, names, validation;
/// sorted by file (program order) and position. Whether a program has errors
/// is decided here: the lints only ever add warnings, so the commands and
/// the lowering that just need "no errors" do not pay for them.
#[salsa::tracked(returns(ref))]
pub fn source_diagnostics(db: &dyn Db, program: Program) -> Vec<Diagnostic> {
    let resolved = names::resolve(db, program);
    let mut all = resolved.diagnostics.clone();
    for &file in &resolved.files {
        all.extend(syntax::parse(db, file).diagnostics.iter().cloned());
        all.extend(check_file(db, file).iter().cloned());
    }
    sort_program_diagnostics(db, program, &mut all);
    all
}

/// Sorts a program's diagnostics by file (in program order) and position.
pub(crate) fn sort_program_diagnostics(db: &dyn Db, program: Program, all: &mut Vec<Diagnostic>) {
    let order: HashMap<SourceFile, usize> = names::resolve(db, program)
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (*f, i))
        .collect();
    sort_diagnostics(all, |f| order.get(&f).copied().unwrap_or(usize::MAX));
}

/// Names end up in generated resource names: they must be DNS-1123 labels,
/// with room left for the suffixes the backends add.
pub const MAX_NAME_LEN: usize = 48;

/// `[a-z][a-z0-9]*(-[a-z0-9]+)*`: a DNS-1123 label's shape, any length.
pub fn is_name_shaped(n: &str) -> bool {
    n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !n.ends_with('-')
        && !n.contains("--")
}

/// A name E0208 accepts: name-shaped and at most `MAX_NAME_LEN` characters.
pub fn is_valid_name(n: &str) -> bool {
    is_name_shaped(n) && n.len() <= MAX_NAME_LEN
}

fn check_name(name: &Ident, out: &mut Vec<Diagnostic>) {
    let n = &name.name;
    if !is_name_shaped(n) {
        let suggestion = suggest_name(n);
        out.push(
            Diagnostic::new(
                Code::InvalidName,
                name.span,
                format!("`{n}` is not a valid name"),
            )
            .with_label(
                "names are lowercase ASCII letters, digits and single dashes, starting with a letter",
            )
            .with_help(format!(
                "names become parts of Kubernetes resource names; try `{suggestion}`"
            )),
        );
    } else if n.len() > MAX_NAME_LEN {
        out.push(
            Diagnostic::new(
                Code::InvalidName,
                name.span,
                format!(
                    "`{n}` is {} characters long; names are at most {MAX_NAME_LEN}",
                    n.len()
                ),
            )
            .with_label("too long")
            .with_help("generated resource names add suffixes to this name; shorten it"),
        );
    }
}

/// Every resource name nplc makes up itself (not from a zone or tier name)
/// starts with `nplc-`: Calico's `nplc-unisolated-allow` and `TIER.nplc-pass`,
/// Cilium's and the other targets' `nplc-…` policies.
pub const RESERVED_PREFIX: &str = "nplc";

/// Tier names that mean something else: `default` is the implicit tier of
/// the rules outside any tier; the others are the tiers Calico creates itself
/// (open source: `default`, `adminnetworkpolicy`, `baselineadminnetworkpolicy`,
/// since 3.31 `kube-admin`, `kube-baseline`; Calico Enterprise:
/// `allow-tigera`, later `calico-system`). A program's tier is written as a
/// Calico Tier of the same name, so it must not be one of Calico's.
pub const RESERVED_TIERS: &[&str] = &[
    "default",
    "adminnetworkpolicy",
    "baselineadminnetworkpolicy",
    "kube-admin",
    "kube-baseline",
    "allow-tigera",
    "calico-system",
];

/// A defined name may not reach into the names nplc generates or the tiers
/// Calico owns: either would make two resources share a name, and one
/// silently replace the other.
fn check_reserved(item: &Item, name: &Ident, out: &mut Vec<Diagnostic>) {
    let n = &name.name;
    let noun = match item {
        Item::Zone(_) | Item::ZoneUnion(_) => "zone",
        Item::External(_) => "external",
        Item::Tier(_) => "tier",
        Item::Gateway(_) => "gateway",
        Item::Import(_) | Item::Rule(_) => return,
    };
    let reserved = n == RESERVED_PREFIX
        || n.strip_prefix(RESERVED_PREFIX)
            .is_some_and(|rest| rest.starts_with('-'));
    if reserved {
        let rest = n
            .strip_prefix(RESERVED_PREFIX)
            .unwrap_or_default()
            .trim_start_matches('-');
        let suggestion = if rest.is_empty() {
            format!("my-{noun}")
        } else {
            format!("{rest}-{noun}")
        };
        out.push(
            Diagnostic::new(
                Code::ReservedPrefix,
                name.span,
                format!("`{n}` starts with `nplc`, which is reserved for the resources nplc generates"),
            )
            .with_label("reserved prefix")
            .with_help(format!(
                "a resource named after this {noun} could replace one nplc generates (such as Calico's `nplc-unisolated-allow`); rename it, for example to `{suggestion}`"
            )),
        );
    }
    if matches!(item, Item::Tier(_)) && RESERVED_TIERS.contains(&n.as_str()) {
        let help = if n == "default" {
            "rules outside any tier already form the implicit tier `default`, evaluated last: move these rules out of the `tier` block, or give the tier a name of its own (it is then evaluated before `default`)".to_string()
        } else {
            format!("Calico creates a tier named `{n}` itself, and the program's tier would be written over it; give the tier a name of its own")
        };
        out.push(
            Diagnostic::new(
                Code::ReservedTierName,
                name.span,
                format!("`{n}` cannot name a tier"),
            )
            .with_label(if n == "default" {
                "the name of the implicit tier"
            } else {
                "a tier Calico creates itself"
            })
            .with_help(help),
        );
    }
}

fn suggest_name(n: &str) -> String {
    let mut s: String = n
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-').to_string();
    if s.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
        s
    } else {
        format!("z-{s}")
    }
}

fn check_zone(zone: &Zone, out: &mut Vec<Diagnostic>) {
    let mut ns_line: Option<Span> = None;
    let mut pods_line: Option<Span> = None;
    let mut isolate_line: Option<Span> = None;
    for line in &zone.lines {
        let (slot, what) = match line {
            ZoneLine::Namespace { .. } | ZoneLine::Namespaces { .. } => (&mut ns_line, "namespace"),
            ZoneLine::Pods { .. } => (&mut pods_line, "pods"),
            ZoneLine::Isolate { .. } => (&mut isolate_line, "isolate"),
        };
        match slot {
            Some(first) => out.push(
                Diagnostic::new(
                    Code::ConflictingZoneLines,
                    line.span(),
                    format!("zone `{}` has a second {what} line", zone.name.name),
                )
                .with_label("second line")
                .with_secondary(*first, "first line")
                .with_help(match what {
                    "namespace" => "a zone has one `namespace` or one `namespaces` line; for several namespaces write `namespaces kubernetes.io/metadata.name in (\"a\", \"b\")` or a union `zone z = a | b`",
                    "pods" => "put all pod constraints on one `pods` line, separated by commas (they are ANDed)",
                    _ => "keep one `isolate` line",
                }),
            ),
            None => *slot = Some(line.span()),
        }
        match line {
            ZoneLine::Namespace { name, .. } => check_namespace_name(name, out),
            ZoneLine::Namespaces { constraints, .. } | ZoneLine::Pods { constraints, .. } => {
                constraints.iter().for_each(|c| check_constraint(c, out));
                if let Some(diag) = contradiction(zone, constraints) {
                    out.push(diag);
                }
            }
            ZoneLine::Isolate { .. } => {}
        }
    }
}

fn check_constraint(c: &Constraint, out: &mut Vec<Diagnostic>) {
    check_label_key(&c.key, out);
    match &c.op {
        ConstraintOp::Eq(v) | ConstraintOp::NotEq(v) => check_label_value(v, out),
        ConstraintOp::In(vs) | ConstraintOp::NotIn(vs) => {
            if vs.is_empty() {
                out.push(
                    Diagnostic::new(Code::InvalidLabelValue, c.span, "an empty value list")
                        .with_label("`in ()` matches nothing and `not in ()` everything")
                        .with_help("list at least one value"),
                );
            }
            vs.iter().for_each(|v| check_label_value(v, out));
        }
        ConstraintOp::Has | ConstraintOp::NotHas => {}
    }
}

/// Two constraints on one key that no label value satisfies together.
fn contradiction(zone: &Zone, constraints: &[Constraint]) -> Option<Diagnostic> {
    for (i, a) in constraints.iter().enumerate() {
        for b in &constraints[i + 1..] {
            if a.key.key != b.key.key {
                continue;
            }
            let allowed_a = positive_values(&a.op);
            let allowed_b = positive_values(&b.op);
            let empty = match (&a.op, &b.op, allowed_a, allowed_b) {
                (_, _, Some(x), Some(y)) => !x.iter().any(|v| y.contains(v)),
                (ConstraintOp::Has, ConstraintOp::NotHas, ..)
                | (ConstraintOp::NotHas, ConstraintOp::Has, ..) => true,
                (ConstraintOp::NotHas, _, _, Some(_)) | (_, ConstraintOp::NotHas, Some(_), _) => {
                    true
                }
                (_, _, Some(x), None) => x.iter().all(|v| excluded(&b.op, v)),
                (_, _, None, Some(y)) => y.iter().all(|v| excluded(&a.op, v)),
                _ => false,
            };
            if empty {
                return Some(
                    Diagnostic::new(
                        Code::EmptyZone,
                        b.span,
                        format!("zone `{}` selects nothing", zone.name.name),
                    )
                    .with_label("contradicts the earlier constraint")
                    .with_secondary(a.span, "no label value satisfies both")
                    .with_help(if matches!(a.op, ConstraintOp::Has | ConstraintOp::NotHas)
                        || matches!(b.op, ConstraintOp::Has | ConstraintOp::NotHas)
                    {
                        format!("a label cannot be both present and absent; keep one constraint on `{}`", a.key.key)
                    } else {
                        format!(
                            "constraints on one line are ANDed; for either value write `{} in (...)`",
                            a.key.key
                        )
                    }),
                );
            }
        }
    }
    None
}

/// The values a constraint requires the key to have, when it requires one.
fn positive_values(op: &ConstraintOp) -> Option<Vec<&str>> {
    match op {
        ConstraintOp::Eq(v) => Some(vec![v.value.as_str()]),
        ConstraintOp::In(vs) => Some(vs.iter().map(|v| v.value.as_str()).collect()),
        _ => None,
    }
}

fn excluded(op: &ConstraintOp, value: &str) -> bool {
    match op {
        ConstraintOp::NotEq(v) => v.value == value,
        ConstraintOp::NotIn(vs) => vs.iter().any(|v| v.value == value),
        _ => false,
    }
}

fn dns_subdomain_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(dns_label_ok)
}

fn dns_label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A label name or value: ≤ 63, alphanumerics with `-_.` inside.
fn label_name_ok(s: &str, allow_empty: bool) -> bool {
    if s.is_empty() {
        return allow_empty;
    }
    let edge_ok = |c: char| c.is_ascii_alphanumeric();
    s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.chars().next().is_some_and(edge_ok)
        && s.chars().last().is_some_and(edge_ok)
}

fn check_label_key(key: &LabelKey, out: &mut Vec<Diagnostic>) {
    let k = &key.key;
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k.as_str()),
    };
    let problem = if prefix.is_some_and(|p| !dns_subdomain_ok(p)) {
        Some("the prefix before `/` must be a DNS subdomain: lowercase, at most 253 characters, like `app.kubernetes.io`")
    } else if name.len() > 63 {
        Some("the name part of a key is at most 63 characters")
    } else if !label_name_ok(name, false) {
        Some("the name part must start and end with a letter or digit and contain only letters, digits, `-`, `_` and `.`")
    } else {
        None
    };
    if let Some(why) = problem {
        out.push(
            Diagnostic::new(
                Code::InvalidLabelKey,
                key.span,
                format!("`{k}` is not a valid label key"),
            )
            .with_label("invalid key")
            .with_help(why),
        );
    }
}

fn check_label_value(v: &Str, out: &mut Vec<Diagnostic>) {
    if !label_name_ok(&v.value, true) {
        let why = if v.value.len() > 63 {
            "label values are at most 63 characters"
        } else {
            "label values are empty or start and end with a letter or digit, with only letters, digits, `-`, `_` and `.`"
        };
        out.push(not_valid(
            Code::InvalidLabelValue,
            v,
            "label value",
            "invalid value",
            why,
        ));
    }
}

/// `"VALUE" is not a valid WHAT`, at the string, with a label and help.
fn not_valid(code: Code, value: &Str, what: &str, label: &str, help: &str) -> Diagnostic {
    Diagnostic::new(
        code,
        value.span,
        format!("\"{}\" is not a valid {what}", value.value),
    )
    .with_label(label)
    .with_help(help)
}

fn check_namespace_name(name: &Str, out: &mut Vec<Diagnostic>) {
    if !dns_label_ok(&name.value) {
        out.push(not_valid(Code::InvalidNamespaceName, name, "namespace name", "invalid namespace", "namespace names are DNS labels: lowercase letters, digits and `-`, at most 63 characters, starting and ending with a letter or digit"));
    }
}

/// Parses a CIDR, reporting syntax, host bits and families.
pub fn parse_cidr(c: &CidrText, out: &mut Vec<Diagnostic>) -> Option<IpNet> {
    let Ok(net) = c.text.parse::<IpNet>() else {
        let help = match c.text.split_once('/') {
            Some((addr, _)) if addr.parse::<IpAddr>().is_err() => {
                format!("`{addr}` is not an IPv4 or IPv6 address")
            }
            Some((addr, len)) => {
                let max = if addr.contains(':') { 128 } else { 32 };
                format!("the prefix length `/{len}` must be between 0 and {max}")
            }
            None => "write an address and a prefix length, like `10.0.0.0/8`".to_string(),
        };
        out.push(
            Diagnostic::new(
                Code::InvalidCidr,
                c.span,
                format!("`{}` is not a valid CIDR", c.text),
            )
            .with_label("invalid CIDR")
            .with_help(help),
        );
        return None;
    };
    if net.trunc() != net {
        out.push(
            Diagnostic::new(
                Code::CidrHostBits,
                c.span,
                format!("`{}` has host bits set", c.text),
            )
            .with_label(format!(
                "the address is not the start of a /{} network",
                net.prefix_len()
            ))
            .with_help(format!("write `{}`", net.trunc())),
        );
        return Some(net.trunc());
    }
    Some(net)
}

fn check_peer_literal(lit: &PeerLiteral, out: &mut Vec<Diagnostic>) {
    match lit {
        PeerLiteral::Fqdn(name) => check_fqdn(name, out),
        PeerLiteral::Cidr { base, except } => {
            let Some(base_net) = parse_cidr(base, out) else {
                except.iter().for_each(|e| {
                    parse_cidr(e, out);
                });
                return;
            };
            for e in except {
                let Some(net) = parse_cidr(e, out) else {
                    continue;
                };
                let same_family = matches!(
                    (base_net, net),
                    (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
                );
                if !same_family {
                    out.push(
                        Diagnostic::new(
                            Code::MixedAddressFamilies,
                            e.span,
                            format!("`{}` and `{}` are of different address families", base.text, e.text),
                        )
                        .with_label("this except")
                        .with_secondary(base.span, "does not lie in this base")
                        .with_help("an `except` must be of the same family as its base; write IPv4 and IPv6 ranges as separate peers"),
                    );
                } else if !base_net.contains(&net) || base_net == net {
                    out.push(
                        Diagnostic::new(
                            Code::ExceptOutsideBase,
                            e.span,
                            format!("`{}` is not strictly inside `{}`", e.text, base.text),
                        )
                        .with_label("outside the base")
                        .with_secondary(base.span, "the base CIDR")
                        .with_help("every `except` must be a smaller range inside the base CIDR"),
                    );
                }
            }
        }
    }
}

fn check_fqdn(name: &Str, out: &mut Vec<Diagnostic>) {
    let v = name.value.strip_suffix('.').unwrap_or(&name.value);
    let rest = v.strip_prefix("*.").unwrap_or(v);
    let labels_ok = rest.contains('.') || !v.starts_with("*.");
    let ok = !rest.is_empty()
        && rest.len() <= 253
        && labels_ok
        && rest.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !ok {
        let help = if rest.contains('*') {
            "only one leading `*.` is allowed: `*.example.com` matches one label in front of `example.com`"
        } else {
            "an FQDN is dot-separated labels of letters, digits and `-`, like `api.stripe.com`"
        };
        out.push(not_valid(
            Code::InvalidFqdn,
            name,
            "FQDN",
            "invalid FQDN",
            help,
        ));
    }
}

fn check_rule(rule: &Rule, out: &mut Vec<Diagnostic>) {
    for peer in [&rule.source, &rule.destination] {
        check_peer(peer, out);
    }
    if let Some(ports) = &rule.ports {
        ports.iter().for_each(|p| check_port(p, out));
    } else if rule.action == Action::Allow {
        out.push(
            Diagnostic::new(Code::AllowAllPorts, rule.span, "this `allow` opens every port and protocol")
                .with_label("no port list")
                .with_help("list the ports the traffic uses, e.g. `: 8080` or `: udp/53, tcp/53`; every port is rarely what is meant"),
        );
    }
    if rule.action == Action::Log {
        check_log(rule, out);
    } else if let Some(l7) = &rule.l7 {
        check_l7(rule, l7, out);
    }
}

/// A `log` rule watches connections at L3/L4: Calico's `Log` action has no
/// application-layer match, and a gateway route is not a connection to log.
fn check_log(rule: &Rule, out: &mut Vec<Diagnostic>) {
    let (what, span) = match (&rule.l7, &rule.via) {
        (Some(l7), _) => ("an L7 filter", l7.span()),
        (None, Some(via)) => ("`via`", via.span),
        (None, None) => return,
    };
    out.push(
        Diagnostic::new(
            Code::LogWithFilter,
            span,
            format!("a `log` rule cannot have {what}: it records connections, not requests or routes"),
        )
        .with_label("not allowed on `log`")
        .with_help("drop it from the `log` rule (it then records every connection of the rule's peers and ports), and keep it on the `allow` the log watches"),
    );
}

fn check_peer(peer: &Peer, out: &mut Vec<Diagnostic>) {
    match peer {
        Peer::Name(_) => {}
        Peer::Literal { value, .. } => check_peer_literal(value, out),
        Peer::Set { members, .. } => members.iter().for_each(|m| check_peer(m, out)),
    }
}

fn port_range_diag(span: Span, value: u64) -> Diagnostic {
    Diagnostic::new(
        Code::PortOutOfRange,
        span,
        format!("port {value} is out of range"),
    )
    .with_label("ports are 1 to 65535")
    .with_help("use a port between 1 and 65535")
}

fn check_port(port: &Port, out: &mut Vec<Diagnostic>) {
    match &port.value {
        // u64::MAX stands for a number too large to read, already reported.
        PortValue::Number { port: u64::MAX, .. } => {}
        PortValue::Range { start, end, .. } if *start == u64::MAX || *end == u64::MAX => {}
        PortValue::Number { port: n, .. } => {
            if !(1..=65535).contains(n) {
                out.push(port_range_diag(port.span, *n));
            }
        }
        PortValue::Range { start, end, .. } => {
            for n in [start, end] {
                if !(1..=65535).contains(n) {
                    out.push(port_range_diag(port.span, *n));
                    return;
                }
            }
            if start >= end {
                out.push(
                    Diagnostic::new(
                        Code::InvalidPortRange,
                        port.span,
                        format!("the range {start}-{end} is empty or a single port"),
                    )
                    .with_label("the start must be below the end")
                    .with_help(if start == end {
                        format!("write the single port `{start}`")
                    } else {
                        format!("write `{end}-{start}`")
                    }),
                );
            }
        }
        PortValue::Named { name, .. } => {
            // IANA_SVC_NAME: 1–15 chars, [a-z0-9-], at least one letter, no
            // leading/trailing or double dash.
            let ok = !name.is_empty()
                && name.len() <= 15
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && name.chars().any(|c| c.is_ascii_lowercase())
                && !name.starts_with('-')
                && !name.ends_with('-')
                && !name.contains("--");
            if !ok {
                out.push(
                    Diagnostic::new(Code::InvalidNamedPort, port.span, format!("`{name}` is not a valid port name"))
                        .with_label("invalid port name")
                        .with_help("container port names are at most 15 lowercase letters, digits and single dashes, with at least one letter"),
                );
            }
        }
        PortValue::Icmp => {
            if let Some(spec) = &port.icmp {
                check_icmp(spec, out);
            }
        }
    }
}

fn icmp_range_diag(what: &str, span: Span, value: u64) -> Diagnostic {
    Diagnostic::new(
        Code::IcmpOutOfRange,
        span,
        format!("ICMP {what} {value} is out of range"),
    )
    .with_label(format!("ICMP {what}s are 0 to 255"))
    .with_help(format!("use an ICMP {what} between 0 and 255"))
}

fn check_icmp(spec: &IcmpSpec, out: &mut Vec<Diagnostic>) {
    match &spec.icmp_type {
        // Too large to read: already reported.
        Some(IcmpType::Number(u64::MAX, _)) | None => {}
        Some(IcmpType::Number(n, span)) => {
            if *n > 255 {
                out.push(icmp_range_diag("type", *span, *n));
            }
        }
        Some(IcmpType::Name(name, span)) => {
            if icmp::type_by_name(spec.family, name).is_none() {
                out.push(unknown_icmp_name(spec.family, name, *span));
            }
        }
    }
    if let Some((code, span)) = spec.code {
        if code != u64::MAX && code > 255 {
            out.push(icmp_range_diag("code", span, code));
        }
    }
}

fn unknown_icmp_name(family: IcmpFamily, name: &str, span: Span) -> Diagnostic {
    let other = match family {
        IcmpFamily::V4 => IcmpFamily::V6,
        IcmpFamily::V6 => IcmpFamily::V4,
    };
    let help = match icmp::type_by_name(other, name) {
        Some(t) => format!(
            "`{name}` is an {} type ({t}): write `{other}/{name}`",
            other.title()
        ),
        None if name == "ping" || name == "echo" => format!(
            "a ping is an `echo-request` (answered by an `echo-reply`): write `{family}/echo-request`"
        ),
        None => {
            let names: Vec<&str> = icmp::type_names(family).iter().map(|(n, _)| *n).collect();
            format!(
                "write the type's number (0 to 255) or one of: {}",
                names.join(", ")
            )
        }
    };
    Diagnostic::new(
        Code::UnknownIcmpType,
        span,
        format!("`{name}` is not an {} type name", family.title()),
    )
    .with_label(format!("unknown {} type", family.title()))
    .with_help(help)
}

const HTTP_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

fn check_l7(rule: &Rule, l7: &L7, out: &mut Vec<Diagnostic>) {
    let ports = rule.ports.as_deref().unwrap_or(&[]);
    let non_tcp: Vec<&Port> = ports
        .iter()
        .filter(|p| p.value.protocol() != Some(Protocol::Tcp))
        .collect();
    match l7 {
        L7::Http { rules, span } => {
            if ports.is_empty() || !non_tcp.is_empty() {
                let mut diag = Diagnostic::new(
                    Code::L7NeedsTcp,
                    *span,
                    "`http` rules apply to TCP ports only",
                )
                .with_label("HTTP filter");
                for p in &non_tcp {
                    diag = diag.with_secondary(p.span, "not a TCP port");
                }
                out.push(diag.with_help(if ports.is_empty() {
                    "list the TCP ports the HTTP traffic uses, e.g. `: 8080 http { ... }`"
                } else {
                    "move the non-TCP ports to a rule of their own"
                }));
            }
            if rules.is_empty() {
                out.push(
                    Diagnostic::new(Code::InvalidHttpMethod, *span, "an empty `http { }` block")
                        .with_label("no request is allowed")
                        .with_help("list requests like `GET \"/api/.*\"`, or drop the block to allow all HTTP"),
                );
            }
            for r in rules {
                if let Some(m) = &r.method {
                    if !HTTP_METHODS.contains(&m.name.as_str()) {
                        out.push(
                            Diagnostic::new(
                                Code::InvalidHttpMethod,
                                m.span,
                                format!("`{}` is not an HTTP method", m.name),
                            )
                            .with_label("unknown method")
                            .with_help(format!("use one of {}", HTTP_METHODS.join(", "))),
                        );
                    }
                }
                if let Some(path) = &r.path {
                    if let Err(err) = Regex::new(&format!("^(?:{})$", path.value)) {
                        let reason = err.to_string();
                        let last = reason.lines().last().unwrap_or("").trim();
                        let last = last.strip_prefix("error: ").unwrap_or(last).to_string();
                        out.push(
                            Diagnostic::new(Code::InvalidPathRegex, path.span, "the HTTP path is not a valid regular expression")
                                .with_label(last)
                                .with_help("paths are regular expressions matched against the whole path, e.g. \"/api/v1/products/.*\""),
                        );
                    }
                }
            }
        }
        L7::Dns { names, span } => {
            let on_53 = !ports.is_empty()
                && ports
                    .iter()
                    .all(|p| matches!(p.value, PortValue::Number { port: 53, .. }));
            if !on_53 {
                out.push(
                    Diagnostic::new(
                        Code::DnsNeedsPort53,
                        *span,
                        "`dns` rules apply to DNS traffic on port 53 only",
                    )
                    .with_label("DNS filter")
                    .with_help("write the ports as `: udp/53, tcp/53 dns { ... }`"),
                );
            }
            for n in names {
                let pattern_ok = n.value == "*" || {
                    let mut tmp = Vec::new();
                    check_fqdn(n, &mut tmp);
                    tmp.is_empty()
                };
                if !pattern_ok {
                    check_fqdn(n, out);
                }
            }
        }
    }
}

fn check_gateway(gw: &Gateway, out: &mut Vec<Diagnostic>) {
    if gw.kind.name != "istio" {
        out.push(
            Diagnostic::new(Code::InvalidGateway, gw.kind.span, format!("unknown gateway kind `{}`", gw.kind.name))
                .with_label("unknown kind")
                .with_help("the supported kind is `istio`: `gateway NAME = istio { zone istio-egressgateway }`"),
        );
    }
    if gw.zone.is_none() {
        out.push(
            Diagnostic::new(Code::InvalidGateway, gw.name.span, format!("gateway `{}` names no zone", gw.name.name))
                .with_label("missing `zone`")
                .with_help("add the gateway pods' zone, e.g. `zone istio-egressgateway` (from `import \"std/k8s\"`)"),
        );
    }
    if let Some((port, span)) = gw.port {
        if !(1..=65535).contains(&port) {
            out.push(port_range_diag(span, port));
        }
    }
    for span in &gw.repeated {
        out.push(
            Diagnostic::new(
                Code::InvalidGateway,
                *span,
                "this line repeats an earlier one",
            )
            .with_label("repeated")
            .with_help("a gateway has one `zone` line and at most one `port` line"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        assert!(is_valid_name("web-2"));
        assert!(!is_valid_name("Web"));
        assert!(!is_valid_name("a--b"));
        assert!(!is_valid_name("a-"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name(&"a".repeat(MAX_NAME_LEN + 1)));
    }
}
