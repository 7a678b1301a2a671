//! Hover: what the thing under the cursor is and means, in words; and the
//! inlay hints after names.

use crate::algebra::icmp;
use crate::db::{Db, Program, SourceFile};
use crate::diagnostic::Span;
use crate::names::{self, DefId, DefKind, Resolved};
use crate::stdlib;
use crate::syntax;
use crate::syntax::ast::{
    self, Constraint, ConstraintOp, Isolate, Item, PeerLiteral, PortValue, ZoneLine,
};

use super::labels::label_values;
use super::navigation::name_at;
use super::well_known::{well_known_label, well_known_ports};
use super::{clamp_offset, display_path, text, touches};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hover {
    /// What the hover is about (the word or construct under the cursor).
    pub span: Span,
    pub markdown: String,
}

/// What the thing under the cursor is and means: a name (its definition in
/// words and its doc comment), a rule (what it compiles to on each side), a
/// label key, a port, an import.
pub fn hover(db: &dyn Db, program: Program, file: SourceFile, offset: usize) -> Option<Hover> {
    let offset = clamp_offset(text(db, file), offset);
    let resolved = names::resolve(db, program);
    if let Some((span, id)) = name_at(resolved, file, offset) {
        return Some(Hover {
            span,
            markdown: describe_def(db, resolved, id, Some(file)),
        });
    }
    for item in &syntax::parse(db, file).module.items {
        if !touches(item.span(), file, offset) {
            continue;
        }
        match item {
            Item::Import(import) => {
                return Some(Hover {
                    span: import.path.span,
                    markdown: describe_import(db, file, &import.path.value),
                })
            }
            Item::Zone(zone) => {
                for line in &zone.lines {
                    if let ZoneLine::Namespaces { constraints, .. }
                    | ZoneLine::Pods { constraints, .. } = line
                    {
                        if let Some(h) = hover_constraints(db, program, constraints, file, offset) {
                            return Some(h);
                        }
                    }
                }
                return def_hover_for(db, resolved, &zone.name, file, zone.span);
            }
            Item::ZoneUnion(u) => return def_hover_for(db, resolved, &u.name, file, u.span),
            Item::External(e) => return def_hover_for(db, resolved, &e.name, file, e.span),
            Item::Gateway(g) => return def_hover_for(db, resolved, &g.name, file, g.span),
            Item::Rule(rule) => return hover_rule(resolved, rule, None, file, offset),
            Item::Tier(tier) => {
                for rule in &tier.rules {
                    if touches(rule.span, file, offset) {
                        return hover_rule(resolved, rule, Some(&tier.name), file, offset);
                    }
                }
                return def_hover_for(db, resolved, &tier.name, file, tier.span);
            }
        }
    }
    None
}

fn def_hover_for(
    db: &dyn Db,
    resolved: &Resolved,
    name: &ast::Ident,
    file: SourceFile,
    span: Span,
) -> Option<Hover> {
    let i = resolved
        .defs
        .iter()
        .position(|d| d.name_span == Some(name.span))?;
    Some(Hover {
        span,
        markdown: describe_def(db, resolved, DefId(i as u32), Some(file)),
    })
}

fn hover_constraints(
    db: &dyn Db,
    program: Program,
    constraints: &[Constraint],
    file: SourceFile,
    offset: usize,
) -> Option<Hover> {
    let c = constraints
        .iter()
        .find(|c| touches(c.key.span, file, offset))?;
    let key = &c.key.key;
    let mut md = format!("**label key** `{key}`\n\n");
    match key.split_once('/') {
        Some((prefix, name)) => md.push_str(&format!("Prefix `{prefix}`, name `{name}`.")),
        None => md.push_str("No prefix: a name of the user's own."),
    }
    if let Some(about) = well_known_label(key) {
        md.push_str(&format!("\n\n{about}"));
    }
    let values = label_values(db, &[program], key);
    if !values.is_empty() {
        let shown: Vec<String> = values.iter().take(20).map(|v| format!("`{v}`")).collect();
        md.push_str(&format!(
            "\n\nValues in this program: {}{}",
            shown.join(", "),
            if values.len() > 20 { ", …" } else { "" }
        ));
    }
    Some(Hover {
        span: c.key.span,
        markdown: md,
    })
}

fn hover_rule(
    resolved: &Resolved,
    rule: &ast::Rule,
    tier: Option<&ast::Ident>,
    file: SourceFile,
    offset: usize,
) -> Option<Hover> {
    if let Some(ports) = &rule.ports {
        if let Some(port) = ports.iter().find(|p| touches(p.span, file, offset)) {
            return Some(Hover {
                span: port.span,
                markdown: describe_port(port),
            });
        }
    }
    Some(Hover {
        span: rule.span,
        markdown: describe_rule(resolved, rule, tier),
    })
}

/// A definition in words, with its doc comment.
pub(super) fn describe_def(
    db: &dyn Db,
    resolved: &Resolved,
    id: DefId,
    from: Option<SourceFile>,
) -> String {
    let def = resolved.def(id);
    let mut md = String::new();
    let home = def.name_span.map(|s| s.file);
    let located = match home {
        Some(f) if Some(f) != from => format!(
            " — defined in `{}`",
            match from {
                Some(from) => display_path(db, from, f),
                None => f.path(db).clone(),
            }
        ),
        _ => String::new(),
    };
    match &def.kind {
        DefKind::Zone(zone) => {
            md.push_str(&format!("**zone** `{}`{located}\n\n", def.name));
            md.push_str(&zone_in_words(zone));
            md.push_str("\n\n");
            md.push_str(isolation_in_words(zone.isolate()));
        }
        DefKind::ZoneUnion(members) => {
            let names: Vec<String> = members
                .iter()
                .map(|m| format!("`{}`", resolved.def(*m).name))
                .collect();
            md.push_str(&format!(
                "**zone** `{}` = {}{located}\n\n",
                def.name,
                names.join(" | ")
            ));
            md.push_str(&format!(
                "Every pod in {}. A union is not isolated by itself: its members decide.",
                join_or(&names)
            ));
        }
        DefKind::External(lit) => {
            md.push_str(&format!(
                "**external** `{}` = {}{located}\n\n",
                def.name,
                literal_source(lit)
            ));
            md.push_str(&literal_in_words(lit));
        }
        DefKind::Tier => {
            md.push_str(&format!("**tier** `{}`{located}\n\n", def.name));
            let position = resolved.tiers.iter().position(|t| *t == id);
            let rules = resolved.rules.iter().filter(|r| r.tier == Some(id)).count();
            if let Some(p) = position {
                md.push_str(&format!(
                    "Evaluated {} of {} declared tier{}, before the implicit `default` tier. ",
                    ordinal(p + 1),
                    resolved.tiers.len(),
                    if resolved.tiers.len() == 1 { "" } else { "s" }
                ));
            }
            md.push_str(&format!(
                "{rules} rule{}. In a tier, a matching `deny` wins over a matching `allow`; a connection no rule matches goes on to the next tier.",
                if rules == 1 { "" } else { "s" }
            ));
        }
        DefKind::Gateway { kind, zone, port } => {
            md.push_str(&format!("**gateway** `{}` = {kind}{located}\n\n", def.name));
            match zone {
                Some(z) => {
                    md.push_str(&format!("Gateway pods: zone `{}`. ", resolved.def(*z).name))
                }
                None => md.push_str("No gateway pods (`zone` line missing). "),
            }
            match port {
                Some(p) => md.push_str(&format!("They listen on pod port {p}.")),
                None => md.push_str(&format!(
                    "They listen on pod port {} (Istio's egress gateway serves TLS there, behind Service port 443).",
                    crate::ir::Gateway::DEFAULT_PORT
                )),
            }
            md.push_str(
                "\n\n`allow SRC -> fqdn \"HOST\" : PORT via GATEWAY` lets SRC reach the gateway pods, and the gateway reach HOST.",
            );
        }
        DefKind::Entity(_) => {
            md.push_str(&format!("**built-in peer** `{}`", def.name));
        }
    }
    if let Some(doc) = &def.doc {
        md.push_str("\n\n---\n\n");
        md.push_str(doc);
    }
    md
}

fn isolation_in_words(mode: Isolate) -> &'static str {
    match mode {
        Isolate::Both => "Isolated both ways (the default): nothing reaches these pods and they reach nothing except what rules allow.",
        Isolate::Ingress => "Isolated for ingress (`isolate ingress`): nothing reaches these pods except what rules allow; their egress is open.",
        Isolate::Egress => "Isolated for egress (`isolate egress`): these pods reach nothing except what rules allow; their ingress is open.",
        Isolate::None => "Not isolated (`isolate none`): the zone names these pods without locking them down.",
    }
}

/// `Pods labelled app is "web", in namespace "shop".`
pub fn zone_in_words(zone: &ast::Zone) -> String {
    let mut pods = "Every pod".to_string();
    let mut namespaces = "in every namespace".to_string();
    for line in &zone.lines {
        match line {
            ZoneLine::Namespace { name, .. } => {
                namespaces = format!("in namespace \"{}\"", name.value);
            }
            ZoneLine::Namespaces { constraints, .. } => {
                namespaces = format!(
                    "in the namespaces whose labels match: {}",
                    constraints_in_words(constraints)
                );
            }
            ZoneLine::Pods { constraints, .. } => {
                pods = format!(
                    "Pods whose labels match: {}",
                    constraints_in_words(constraints)
                );
            }
            ZoneLine::Isolate { .. } => {}
        }
    }
    format!("{pods}; {namespaces}.")
}

fn constraints_in_words(constraints: &[Constraint]) -> String {
    let words: Vec<String> = constraints
        .iter()
        .map(|c| {
            let key = &c.key.key;
            let list = |vs: &[ast::Str]| {
                vs.iter()
                    .map(|v| format!("\"{}\"", v.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match &c.op {
                ConstraintOp::Eq(v) => format!("`{key}` is \"{}\"", v.value),
                ConstraintOp::NotEq(v) => format!("`{key}` is not \"{}\" (or unset)", v.value),
                ConstraintOp::In(vs) => format!("`{key}` is one of {}", list(vs)),
                ConstraintOp::NotIn(vs) => format!("`{key}` is none of {} (or unset)", list(vs)),
                ConstraintOp::Has => format!("has a `{key}` label"),
                ConstraintOp::NotHas => format!("has no `{key}` label"),
            }
        })
        .collect();
    words.join(" and ")
}

pub(super) fn literal_source(lit: &PeerLiteral) -> String {
    match lit {
        PeerLiteral::Fqdn(s) => format!("fqdn \"{}\"", s.value),
        PeerLiteral::Cidr { base, except } => {
            let mut s = format!("cidr {}", base.text);
            if !except.is_empty() {
                let e: Vec<&str> = except.iter().map(|c| c.text.as_str()).collect();
                s.push_str(&format!(" except {}", e.join(", ")));
            }
            s
        }
    }
}

fn literal_in_words(lit: &PeerLiteral) -> String {
    match lit {
        PeerLiteral::Fqdn(s) if s.value.starts_with("*.") => format!(
            "Outside the cluster: every host name one or more labels below `{}` (`{}`), resolved through DNS.",
            &s.value[2..],
            s.value
        ),
        PeerLiteral::Fqdn(s) => format!(
            "Outside the cluster: the host name `{}`, resolved through DNS.",
            s.value
        ),
        PeerLiteral::Cidr { base, except } if except.is_empty() => {
            format!("Addresses in `{}`.", base.text)
        }
        PeerLiteral::Cidr { base, except } => {
            let e: Vec<String> = except.iter().map(|c| format!("`{}`", c.text)).collect();
            format!("Addresses in `{}` except {}.", base.text, e.join(", "))
        }
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn peer_in_words(peer: &ast::Peer) -> String {
    match peer {
        ast::Peer::Name(id) => format!("`{}`", id.name),
        ast::Peer::Literal { value, .. } => format!("`{}`", literal_source(value)),
        ast::Peer::Set { members, .. } => {
            let m: Vec<String> = members.iter().map(peer_in_words).collect();
            join_and(&m)
        }
    }
}

pub(super) fn peer_leaves(peer: &ast::Peer) -> Vec<&ast::Peer> {
    match peer {
        ast::Peer::Set { members, .. } => members.iter().flat_map(peer_leaves).collect(),
        leaf => vec![leaf],
    }
}

/// The leaves of a peer that are zones (they get a policy of their own), and
/// the others (in words).
fn split_zones(resolved: &Resolved, peer: &ast::Peer) -> (Vec<String>, Vec<String>) {
    let mut zones = Vec::new();
    let mut others = Vec::new();
    for leaf in peer_leaves(peer) {
        let is_zone = match leaf {
            ast::Peer::Name(id) => resolved.lookup(&id.name).is_some_and(|d| {
                matches!(
                    resolved.def(d).kind,
                    DefKind::Zone(_) | DefKind::ZoneUnion(_)
                )
            }),
            _ => false,
        };
        if is_zone {
            zones.push(peer_in_words(leaf));
        } else {
            others.push(peer_in_words(leaf));
        }
    }
    (zones, others)
}

pub fn ports_in_words(ports: &Option<Vec<ast::Port>>) -> String {
    match ports {
        None => "on every port".to_string(),
        Some(list) => {
            let words: Vec<String> = list.iter().map(port_words).collect();
            format!("on {}", join_and(&words))
        }
    }
}

fn protocol_upper(p: ast::Protocol) -> &'static str {
    match p {
        ast::Protocol::Tcp => "TCP",
        ast::Protocol::Udp => "UDP",
        ast::Protocol::Sctp => "SCTP",
    }
}

/// The ICMP messages a port names, in words: `every ICMP message`,
/// `ICMPv4 echo-request (type 8)`, `ICMPv4 type 3 (destination-unreachable), code 4`.
fn icmp_words(spec: Option<&ast::IcmpSpec>) -> String {
    let Some(spec) = spec else {
        return "every ICMP message (ICMPv4 and ICMPv6)".to_string();
    };
    let title = spec.family.title();
    let mut words = match &spec.icmp_type {
        None => format!("every {title} message"),
        Some(ast::IcmpType::Number(n, _)) => {
            let name = u8::try_from(*n)
                .ok()
                .and_then(|t| icmp::type_name(spec.family, t));
            match name {
                Some(name) => format!("{title} type {n} ({name})"),
                None => format!("{title} type {n}"),
            }
        }
        Some(ast::IcmpType::Name(name, _)) => match icmp::type_by_name(spec.family, name) {
            Some(n) => format!("{title} {name} (type {n})"),
            None => format!("{title} `{name}`"),
        },
    };
    match spec.code {
        Some((code, _)) => words.push_str(&format!(", code {code}")),
        None if spec.icmp_type.is_some() => words.push_str(", every code"),
        None => {}
    }
    words
}

fn port_words(port: &ast::Port) -> String {
    match &port.value {
        PortValue::Number { protocol, port } => format!("{} {port}", protocol_upper(*protocol)),
        PortValue::Range {
            protocol,
            start,
            end,
        } => format!("{} {start}-{end}", protocol_upper(*protocol)),
        PortValue::Named { protocol, name } => {
            format!("the {} port named `{name}`", protocol_upper(*protocol))
        }
        PortValue::Icmp => icmp_words(port.icmp.as_ref()),
    }
}

fn describe_port(port: &ast::Port) -> String {
    match &port.value {
        PortValue::Number { protocol, port } => {
            let mut md = format!("**{} port {port}**", protocol_upper(*protocol));
            let known = well_known_ports(*protocol)
                .iter()
                .find(|(p, _)| u64::from(*p) == *port);
            if let Some((_, name)) = known {
                md.push_str(&format!(" — {name}"));
            }
            md
        }
        PortValue::Range {
            protocol,
            start,
            end,
        } => {
            let count = end.saturating_sub(*start) + 1;
            let mut md = format!(
                "**{} ports {start}–{end}** ({count} ports)",
                protocol_upper(*protocol)
            );
            if (*start, *end) == (30000, 32767) {
                md.push_str(" — the Kubernetes NodePort range");
            }
            md
        }
        PortValue::Named { protocol, name } => format!(
            "**{} port named `{name}`** — in each destination pod, the container port its spec names `{name}`",
            protocol_upper(*protocol)
        ),
        PortValue::Icmp => format!("**{}**", icmp_words(port.icmp.as_ref())),
    }
}

fn describe_rule(resolved: &Resolved, rule: &ast::Rule, tier: Option<&ast::Ident>) -> String {
    let action = rule.action.as_str();
    let source = peer_in_words(&rule.source);
    let destination = peer_in_words(&rule.destination);
    let ports = ports_in_words(&rule.ports);
    let mut md = format!("**{action}** {source} → {destination} {ports}");
    if rule.action == ast::Action::Log {
        md.push_str(
            "\n\nRecords these connections (Calico's `Log` action, before the tier's denies) and decides nothing: every verdict is the same without it. Targets without a log action (kubernetes, cilium) leave it out (W0013).",
        );
        return md;
    }
    if let Some(l7) = &rule.l7 {
        md.push_str(&format!(", {}", l7_in_words(l7)));
    }
    md.push_str("\n\n");
    let allow = rule.action == ast::Action::Allow;
    let (src_zones, src_other) = split_zones(resolved, &rule.source);
    let (dst_zones, dst_other) = split_zones(resolved, &rule.destination);
    if let Some(via) = &rule.via {
        let gateway = resolved.lookup(&via.name).map(|g| resolved.def(g));
        let (pods, port) = match gateway.map(|g| &g.kind) {
            Some(DefKind::Gateway { zone, port, .. }) => (
                zone.map(|z| format!("`{}`", resolved.def(z).name))
                    .unwrap_or_else(|| "the gateway pods".to_string()),
                port.unwrap_or(u64::from(crate::ir::Gateway::DEFAULT_PORT)),
            ),
            _ => (
                "the gateway pods".to_string(),
                u64::from(crate::ir::Gateway::DEFAULT_PORT),
            ),
        };
        md.push_str(&format!(
            "Through gateway `{}`; there is no direct path:\n- **egress** of {source} and **ingress** of {pods}: {source} → {pods} on TCP {port}\n- **egress** of {pods}: → {destination} {ports}\n",
            via.name
        ));
    } else {
        let verdict = if allow { "allowed" } else { "denied" };
        if !src_zones.is_empty() {
            md.push_str(&format!(
                "- **egress** of {}: connections to {destination} {ports} are {verdict}\n",
                join_and(&src_zones)
            ));
        }
        if !dst_zones.is_empty() {
            md.push_str(&format!(
                "- **ingress** of {}: connections from {source} {ports} are {verdict}\n",
                join_and(&dst_zones)
            ));
        }
        for others in [&src_other, &dst_other] {
            match others.as_slice() {
                [] => {}
                [one] => md.push_str(&format!(
                    "- {one} is not a zone: no policy of its own on that side\n"
                )),
                many => md.push_str(&format!(
                    "- {} are not zones: no policies of their own on that side\n",
                    join_and(many)
                )),
            }
        }
    }
    md.push('\n');
    match tier {
        Some(t) => {
            let id = resolved
                .defs
                .iter()
                .position(|d| d.name_span == Some(t.span))
                .map(|i| DefId(i as u32));
            let position = id.and_then(|id| resolved.tiers.iter().position(|x| *x == id));
            match position {
                Some(p) => md.push_str(&format!(
                    "In tier `{}`, evaluated {} of {} (the implicit `default` tier is last).",
                    t.name,
                    ordinal(p + 1),
                    resolved.tiers.len()
                )),
                None => md.push_str(&format!("In tier `{}`.", t.name)),
            }
        }
        None => md.push_str("In the implicit `default` tier, evaluated after every declared tier."),
    }
    if let Some(doc) = &rule.doc {
        md.push_str("\n\n---\n\n");
        md.push_str(doc);
    }
    md
}

fn l7_in_words(l7: &ast::L7) -> String {
    match l7 {
        ast::L7::Http { rules, .. } => {
            let r: Vec<String> = rules
                .iter()
                .map(|r| {
                    let method = r.method.as_ref().map_or("any method", |m| m.name.as_str());
                    match &r.path {
                        Some(p) => format!("{method} `{}`", p.value),
                        None => method.to_string(),
                    }
                })
                .collect();
            format!("only HTTP requests {}", join_or(&r))
        }
        ast::L7::Dns { names, .. } => {
            let n: Vec<String> = names.iter().map(|n| format!("`{}`", n.value)).collect();
            format!("only DNS queries for {}", join_or(&n))
        }
    }
}

fn describe_import(db: &dyn Db, file: SourceFile, spec: &str) -> String {
    let mut md = format!("**import** `{spec}`");
    match db.load_import(file, spec) {
        Ok(target) => {
            if stdlib::is_std_path(spec) {
                md.push_str(" — standard library module");
            } else {
                md.push_str(&format!(" — `{}`", target.path(db)));
            }
            let header: Vec<&str> = text(db, target)
                .lines()
                .take_while(|l| l.starts_with('#'))
                .map(|l| l.trim_start_matches('#').trim())
                .collect();
            if !header.is_empty() {
                md.push_str(&format!("\n\n{}", header.join("\n")));
            }
            let defined: Vec<String> = syntax::parse(db, target)
                .module
                .items
                .iter()
                .filter_map(|i| i.defined_name().map(|n| format!("`{}`", n.name)))
                .collect();
            if !defined.is_empty() {
                md.push_str(&format!("\n\nDefines {}.", defined.join(", ")));
            }
        }
        Err(_) => md.push_str(" — cannot be loaded"),
    }
    md
}

/// A hint shown after a name: what it stands for that the line does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlayHint {
    /// Where the hint goes (the end of the name).
    pub offset: usize,
    pub label: String,
    pub tooltip: String,
}

/// Hints for the names used in `file` between `start` and `end`: the
/// namespace a zone pins (when it is not the zone's own name), and the pod
/// port a `via` gateway is reached on (8443 unless its `port` line says).
pub fn inlay_hints(
    db: &dyn Db,
    program: Program,
    file: SourceFile,
    start: usize,
    end: usize,
) -> Vec<InlayHint> {
    let resolved = names::resolve(db, program);
    let mut out = Vec::new();
    for reference in &resolved.references {
        let span = reference.span;
        if span.file != file || (span.end as usize) < start || (span.start as usize) > end {
            continue;
        }
        let def = resolved.def(reference.def);
        let hint = match &def.kind {
            DefKind::Zone(zone) => pinned_namespace(zone)
                .filter(|ns| *ns != def.name)
                .map(|ns| {
                    (
                        format!("ns {ns}"),
                        format!("zone `{}` is in namespace `{ns}`", def.name),
                    )
                }),
            DefKind::Gateway { port, .. } => {
                let pod_port = port.unwrap_or(u64::from(crate::ir::Gateway::DEFAULT_PORT));
                Some((
                    format!("port {pod_port}"),
                    format!(
                        "sources reach gateway `{}` on pod port {pod_port}{}",
                        def.name,
                        if port.is_none() { " (the default)" } else { "" }
                    ),
                ))
            }
            _ => None,
        };
        if let Some((label, tooltip)) = hint {
            out.push(InlayHint {
                offset: span.end as usize,
                label,
                tooltip,
            });
        }
    }
    out.sort_by(|a, b| (a.offset, &a.label).cmp(&(b.offset, &b.label)));
    out.dedup();
    out
}

/// The one namespace a zone's `namespace "x"` line pins, if it has one.
fn pinned_namespace(zone: &ast::Zone) -> Option<&str> {
    let mut names = zone.lines.iter().filter_map(|line| match line {
        ZoneLine::Namespace { name, .. } => Some(name.value.as_str()),
        _ => None,
    });
    let first = names.next()?;
    names.next().is_none().then_some(first)
}
