//! Valid NPL programs as proptest strategies: a small model of the syntax,
//! rendered to source text (so every generated program also goes through the
//! parser), with tunable weights for the constructs whose subtraction the
//! allow table cannot always write exactly.

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::strategy::Union;

use nplc_compiler::algebra::icmp::{IcmpFamily, IcmpMessage};
use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::eval::Transport;

use super::alphabet::*;

// ------------------------------------------------------------------ model

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Has,
    NotHas,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub key: String,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsSel {
    /// No namespace line: every namespace.
    Any,
    /// `namespace "x"`.
    Name(String),
    /// `namespaces k = "v", ...`.
    Labels(Vec<Constraint>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolate {
    /// No `isolate` line: both directions.
    Default,
    Ingress,
    Egress,
    None,
    Both,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneDef {
    pub name: String,
    pub namespace: NsSel,
    /// `None`: no `pods` line, every pod.
    pub pods: Option<Vec<Constraint>>,
    pub isolate: Isolate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnionDef {
    pub name: String,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Cidr { base: String, except: Vec<String> },
    Fqdn(String),
}

impl Literal {
    pub fn is_fqdn(&self) -> bool {
        matches!(self, Literal::Fqdn(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalDef {
    pub name: String,
    pub value: Literal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerExpr {
    Name(String),
    Literal(Literal),
    Set(Vec<PeerExpr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

/// ICMP types rules name: echo request and reply, destination unreachable.
pub const ICMP_TYPES: &[(bool, u8)] = &[(false, 8), (false, 0), (false, 3), (true, 128), (true, 1)];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// `8080` (TCP).
    Bare(u16),
    /// `udp/53`.
    Number(Proto, u16),
    /// `8000-8999` (TCP).
    BareRange(u16, u16),
    /// `tcp/30000-32767`.
    Range(Proto, u16, u16),
    /// `tcp/http`.
    Named(Proto, String),
    Icmp,
    /// `icmp/8`, `icmpv6/128`: one whole type (`true`: ICMPv6).
    IcmpType(bool, u8),
}

impl PortSpec {
    pub fn is_tcp(&self) -> bool {
        match self {
            PortSpec::Bare(_) | PortSpec::BareRange(..) => true,
            PortSpec::Number(p, _) | PortSpec::Range(p, ..) | PortSpec::Named(p, _) => {
                *p == Proto::Tcp
            }
            PortSpec::Icmp | PortSpec::IcmpType(..) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L7Spec {
    /// (method, path regex); at least one of the two is set.
    Http(Vec<(Option<String>, Option<String>)>),
    Dns(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDef {
    pub action: Action,
    pub source: PeerExpr,
    pub destination: PeerExpr,
    pub ports: Option<Vec<PortSpec>>,
    pub l7: Option<L7Spec>,
    /// `via egress` (the program then defines the gateway).
    pub via: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierDef {
    pub name: String,
    pub rules: Vec<RuleDef>,
}

/// How the text is laid out; meaning does not depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// `a->b:80` instead of `a -> b : 80`.
    pub compact: bool,
    /// Zone bodies on one line, lines separated by `;`.
    pub one_line_zones: bool,
    /// Comments between items.
    pub comments: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenProgram {
    pub import_k8s: bool,
    pub zones: Vec<ZoneDef>,
    pub unions: Vec<UnionDef>,
    pub externals: Vec<ExternalDef>,
    /// Declared tiers, in order.
    pub tiers: Vec<TierDef>,
    /// Rules outside any tier.
    pub rules: Vec<RuleDef>,
    /// The port the gateway block names (`port N`), if it names one.
    pub gateway_port: Option<u16>,
    pub style: Style,
}

impl GenProgram {
    pub fn all_rules(&self) -> impl Iterator<Item = &RuleDef> {
        self.tiers
            .iter()
            .flat_map(|t| t.rules.iter())
            .chain(&self.rules)
    }

    pub fn has_via(&self) -> bool {
        self.all_rules().any(|r| r.via)
    }

    /// The transports the program's rules name: numbered ports, range
    /// edges, the numbers container ports give named ports, ICMP.
    pub fn mentioned_transports(&self) -> Vec<Transport> {
        let protocol = |p: Proto| match p {
            Proto::Tcp => Protocol::Tcp,
            Proto::Udp => Protocol::Udp,
            Proto::Sctp => Protocol::Sctp,
        };
        let mut out = Vec::new();
        for rule in self.all_rules() {
            for spec in rule.ports.iter().flatten() {
                match spec {
                    PortSpec::Bare(n) => out.push(Transport::Port(Protocol::Tcp, *n)),
                    PortSpec::Number(p, n) => out.push(Transport::Port(protocol(*p), *n)),
                    PortSpec::BareRange(a, b) => {
                        out.extend([*a, *b].map(|n| Transport::Port(Protocol::Tcp, n)))
                    }
                    PortSpec::Range(p, a, b) => {
                        out.extend([*a, *b].map(|n| Transport::Port(protocol(*p), n)))
                    }
                    PortSpec::Named(p, name) => out.extend(
                        CONTAINER_PORTS
                            .iter()
                            .filter(|(n, pr, _)| n == name && *pr == protocol(*p))
                            .map(|(_, pr, number)| Transport::Port(*pr, *number)),
                    ),
                    PortSpec::Icmp => out.push(Transport::Icmp(IcmpMessage::PING)),
                    PortSpec::IcmpType(v6, t) => out.push(Transport::Icmp(IcmpMessage {
                        family: if *v6 { IcmpFamily::V6 } else { IcmpFamily::V4 },
                        icmp_type: *t,
                        code: 0,
                    })),
                }
            }
        }
        if self.has_via() {
            let port = self.gateway_port.unwrap_or(8443);
            out.push(Transport::Port(Protocol::Tcp, port));
        }
        out.sort();
        out.dedup();
        out
    }

    pub fn file_name(&self) -> &'static str {
        "generated.npl"
    }

    /// The program as NPL source.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.comment(&mut out, "generated program");
        if self.import_k8s {
            out.push_str("import \"std/k8s\"\n");
        }
        self.render_definitions(&mut out);
        self.render_rules(&mut out);
        out
    }

    /// The same program as two files: [`DEFINITIONS_FILE`] with the zones,
    /// the gateway, the unions and the externals, and [`RULES_FILE`], which
    /// imports it, with the tiers and rules. A file sees the definitions of
    /// the files it imports directly, so the meaning is that of
    /// [`GenProgram::render`].
    pub fn render_files(&self) -> Vec<(String, String)> {
        let mut definitions = String::new();
        self.comment(&mut definitions, "generated definitions");
        self.render_definitions(&mut definitions);
        let mut rules = String::new();
        self.comment(&mut rules, "generated rules");
        let _ = writeln!(rules, "import \"./{DEFINITIONS_FILE}\"");
        if self.import_k8s {
            rules.push_str("import \"std/k8s\"\n");
        }
        self.render_rules(&mut rules);
        vec![
            (DEFINITIONS_FILE.to_string(), definitions),
            (RULES_FILE.to_string(), rules),
        ]
    }

    fn comment(&self, out: &mut String, text: &str) {
        if self.style.comments {
            let _ = writeln!(out, "# {text}");
        }
    }

    fn render_definitions(&self, out: &mut String) {
        let comment = |out: &mut String, text: &str| self.comment(out, text);
        for zone in &self.zones {
            render_zone(out, zone, self.style);
        }
        if self.has_via() {
            comment(out, "the egress gateway");
            render_zone(
                out,
                &ZoneDef {
                    name: GATEWAY_ZONE.to_string(),
                    namespace: NsSel::Name(GATEWAY_NAMESPACE.to_string()),
                    pods: Some(vec![Constraint {
                        key: GATEWAY_LABEL.0.to_string(),
                        op: Op::Eq(GATEWAY_LABEL.1.to_string()),
                    }]),
                    isolate: Isolate::None,
                },
                self.style,
            );
            let _ = write!(
                out,
                "gateway {GATEWAY_NAME} = istio {{\n  zone {GATEWAY_ZONE}\n"
            );
            if let Some(port) = self.gateway_port {
                let _ = writeln!(out, "  port {port}");
            }
            out.push_str("}\n");
        }
        for u in &self.unions {
            let _ = writeln!(out, "zone {} = {}", u.name, u.members.join(" | "));
        }
        for e in &self.externals {
            let _ = writeln!(out, "external {} = {}", e.name, literal(&e.value));
        }
    }

    fn render_rules(&self, out: &mut String) {
        let comment = |out: &mut String, text: &str| self.comment(out, text);
        for tier in &self.tiers {
            comment(out, "a tier");
            let _ = writeln!(out, "tier {} {{", tier.name);
            for rule in &tier.rules {
                out.push_str("  ");
                render_rule(out, rule, self.style);
            }
            out.push_str("}\n");
        }
        comment(out, "default tier");
        for rule in &self.rules {
            render_rule(out, rule, self.style);
        }
    }
}

/// The files of [`GenProgram::render_files`].
pub const DEFINITIONS_FILE: &str = "definitions.npl";
pub const RULES_FILE: &str = "rules.npl";

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn constraint(c: &Constraint) -> String {
    let list = |vs: &[String]| vs.iter().map(|v| quoted(v)).collect::<Vec<_>>().join(", ");
    match &c.op {
        Op::Eq(v) => format!("{} = {}", c.key, quoted(v)),
        Op::NotEq(v) => format!("{} != {}", c.key, quoted(v)),
        Op::In(vs) => format!("{} in ({})", c.key, list(vs)),
        Op::NotIn(vs) => format!("{} not in ({})", c.key, list(vs)),
        Op::Has => format!("has {}", c.key),
        Op::NotHas => format!("not has {}", c.key),
    }
}

fn constraints(cs: &[Constraint]) -> String {
    cs.iter().map(constraint).collect::<Vec<_>>().join(", ")
}

fn render_zone(out: &mut String, zone: &ZoneDef, style: Style) {
    let mut lines = Vec::new();
    match &zone.namespace {
        NsSel::Any => {}
        NsSel::Name(n) => lines.push(format!("namespace {}", quoted(n))),
        NsSel::Labels(cs) => lines.push(format!("namespaces {}", constraints(cs))),
    }
    if let Some(cs) = &zone.pods {
        lines.push(format!("pods {}", constraints(cs)));
    }
    match zone.isolate {
        Isolate::Default => {}
        Isolate::Ingress => lines.push("isolate ingress".into()),
        Isolate::Egress => lines.push("isolate egress".into()),
        Isolate::None => lines.push("isolate none".into()),
        Isolate::Both => lines.push("isolate both".into()),
    }
    if style.one_line_zones || lines.is_empty() {
        let _ = writeln!(out, "zone {} {{ {} }}", zone.name, lines.join("; "));
    } else {
        let _ = writeln!(out, "zone {} {{", zone.name);
        for l in lines {
            let _ = writeln!(out, "  {l}");
        }
        out.push_str("}\n");
    }
}

pub fn literal(lit: &Literal) -> String {
    match lit {
        Literal::Fqdn(name) => format!("fqdn {}", quoted(name)),
        Literal::Cidr { base, except } if except.is_empty() => format!("cidr {base}"),
        Literal::Cidr { base, except } => format!("cidr {base} except {}", except.join(", ")),
    }
}

pub fn peer(p: &PeerExpr) -> String {
    match p {
        PeerExpr::Name(n) => n.clone(),
        PeerExpr::Literal(l) => literal(l),
        PeerExpr::Set(members) => format!(
            "{{{}}}",
            members.iter().map(peer).collect::<Vec<_>>().join(", ")
        ),
    }
}

pub fn port(p: &PortSpec) -> String {
    match p {
        PortSpec::Bare(n) => n.to_string(),
        PortSpec::Number(pr, n) => format!("{}/{n}", pr.as_str()),
        PortSpec::BareRange(a, b) => format!("{a}-{b}"),
        PortSpec::Range(pr, a, b) => format!("{}/{a}-{b}", pr.as_str()),
        PortSpec::Named(pr, name) => format!("{}/{name}", pr.as_str()),
        PortSpec::Icmp => "icmp".into(),
        PortSpec::IcmpType(false, t) => format!("icmp/{t}"),
        PortSpec::IcmpType(true, t) => format!("icmpv6/{t}"),
    }
}

fn render_rule(out: &mut String, rule: &RuleDef, style: Style) {
    let action = match rule.action {
        Action::Allow => "allow",
        Action::Deny => "deny",
    };
    let (arrow, colon) = if style.compact {
        ("->", ":")
    } else {
        (" -> ", " : ")
    };
    let _ = write!(
        out,
        "{action} {}{arrow}{}",
        peer(&rule.source),
        peer(&rule.destination)
    );
    if let Some(ports) = &rule.ports {
        let sep = if style.compact { "," } else { ", " };
        let _ = write!(
            out,
            "{colon}{}",
            ports.iter().map(port).collect::<Vec<_>>().join(sep)
        );
    }
    match &rule.l7 {
        None => {}
        Some(L7Spec::Http(rs)) => {
            let items: Vec<String> = rs
                .iter()
                .map(|(m, p)| match (m, p) {
                    (Some(m), Some(p)) => format!("{m} {}", quoted(p)),
                    (Some(m), None) => m.clone(),
                    (None, Some(p)) => quoted(p),
                    (None, None) => "GET".into(),
                })
                .collect();
            let _ = write!(out, " http {{ {} }}", items.join("; "));
        }
        Some(L7Spec::Dns(names)) => {
            let items: Vec<String> = names.iter().map(|n| quoted(n)).collect();
            let _ = write!(out, " dns {{ {} }}", items.join(", "));
        }
    }
    if rule.via {
        let _ = write!(out, " via {GATEWAY_NAME}");
    }
    out.push('\n');
}

// ------------------------------------------------------------------ tuning

/// Sizes and weights of the generator. Weights are relative; 0 turns a
/// construct off.
#[derive(Debug, Clone, Copy)]
pub struct GenConfig {
    pub max_zones: usize,
    pub max_unions: usize,
    pub max_externals: usize,
    pub max_tiers: usize,
    pub max_rules_per_tier: usize,
    pub max_default_rules: usize,
    /// allow : deny.
    pub allow_weight: u32,
    pub deny_weight: u32,
    /// FQDN leaves in an allow's / a deny's peers (against ~100 for the rest).
    pub allow_fqdn: u32,
    pub deny_fqdn: u32,
    /// Named ports in an allow's / a deny's port list (against ~80).
    pub allow_named_port: u32,
    pub deny_named_port: u32,
    /// L7 filters on allows / denies (against 100 for none).
    pub allow_l7: u32,
    pub deny_l7: u32,
    /// Per mille of programs with a `via` rule.
    pub via_per_mille: u32,
    /// Zone isolation: no line (both), ingress, egress, none, both.
    pub isolation: [u32; 5],
    /// Built-in zones (`cluster`, `kube-dns`) and entities (`world`, ...)
    /// among rule peers (against 60 for the program's zones).
    pub builtin_zones: u32,
    pub entities: u32,
    /// CIDRs among rule peers (externals and inline).
    pub cidrs: u32,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            max_zones: 6,
            max_unions: 2,
            max_externals: 3,
            max_tiers: 3,
            max_rules_per_tier: 4,
            max_default_rules: 6,
            allow_weight: 3,
            deny_weight: 1,
            allow_fqdn: 10,
            deny_fqdn: 2,
            allow_named_port: 6,
            deny_named_port: 1,
            allow_l7: 12,
            deny_l7: 2,
            via_per_mille: 100,
            isolation: [4, 2, 2, 3, 1],
            builtin_zones: 10,
            entities: 10,
            cidrs: 10,
        }
    }
}

/// The program without ICMP in the port lists of its allows (every rule's
/// when `allows_only` is false); a list left empty becomes port 8080, so the
/// rule keeps its peers. NetworkPolicy has no ICMP: kubernetes then builds
/// the program too.
pub fn without_icmp(mut program: GenProgram, allows_only: bool) -> GenProgram {
    let strip = |rule: &mut RuleDef| {
        if allows_only && rule.action != Action::Allow {
            return;
        }
        if let Some(ports) = &mut rule.ports {
            ports.retain(|p| !matches!(p, PortSpec::Icmp | PortSpec::IcmpType(..)));
            if ports.is_empty() {
                ports.push(PortSpec::Bare(8080));
            }
        }
    };
    program
        .tiers
        .iter_mut()
        .flat_map(|t| t.rules.iter_mut())
        .for_each(strip);
    program.rules.iter_mut().for_each(strip);
    program
}

impl GenConfig {
    /// Tier-heavy programs without the constructs Calico OSS refuses by
    /// design (host names, `dns {}` filters, gateways) and with few
    /// entities: several tiers, more denies, every isolation.
    pub fn calico_tiers() -> Self {
        GenConfig {
            max_tiers: 3,
            max_rules_per_tier: 4,
            allow_weight: 3,
            deny_weight: 2,
            allow_fqdn: 0,
            deny_fqdn: 0,
            allow_l7: 0,
            deny_l7: 0,
            via_per_mille: 0,
            allow_named_port: 4,
            deny_named_port: 1,
            isolation: [4, 2, 2, 2, 1],
            entities: 2,
            ..GenConfig::default()
        }
    }

    /// No construct whose subtraction may be inexact: every table is Ok.
    pub fn exact() -> Self {
        GenConfig {
            allow_fqdn: 0,
            deny_fqdn: 0,
            allow_named_port: 0,
            deny_named_port: 0,
            allow_l7: 0,
            deny_l7: 0,
            via_per_mille: 0,
            ..GenConfig::default()
        }
    }

    /// Small programs of isolated zones and L7 filters on most rules, canned
    /// so that allows and denies often filter the same requests.
    pub fn l7_focus() -> Self {
        GenConfig {
            max_zones: 3,
            max_tiers: 2,
            max_rules_per_tier: 2,
            max_default_rules: 3,
            allow_fqdn: 0,
            deny_fqdn: 0,
            allow_named_port: 0,
            deny_named_port: 0,
            allow_l7: 1000,
            deny_l7: 1000,
            via_per_mille: 0,
            isolation: [1, 0, 0, 0, 0],
            builtin_zones: 0,
            entities: 0,
            cidrs: 0,
            ..GenConfig::default()
        }
    }

    /// Small programs with every construct frequent: for the strategy's own
    /// check that generated programs are valid.
    pub fn everything() -> Self {
        GenConfig {
            allow_fqdn: 20,
            deny_fqdn: 20,
            allow_named_port: 20,
            deny_named_port: 20,
            allow_l7: 40,
            deny_l7: 40,
            via_per_mille: 400,
            ..GenConfig::default()
        }
    }
}

// ------------------------------------------------------------------ strategies

/// A weighted choice that skips options of weight 0.
pub fn weighted<T: std::fmt::Debug + 'static>(
    options: Vec<(u32, BoxedStrategy<T>)>,
) -> BoxedStrategy<T> {
    let options: Vec<(u32, BoxedStrategy<T>)> =
        options.into_iter().filter(|(w, _)| *w > 0).collect();
    assert!(!options.is_empty(), "every option has weight 0");
    Union::new_weighted(options).boxed()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}

/// One constraint on a key of `keys`.
pub fn constraint_strategy(keys: Vec<(String, Vec<String>)>) -> BoxedStrategy<Constraint> {
    select(keys)
        .prop_flat_map(|(key, values)| {
            let n = values.len();
            let op = weighted(vec![
                (4, select(values.clone()).prop_map(Op::Eq).boxed()),
                (2, select(values.clone()).prop_map(Op::NotEq).boxed()),
                (
                    2,
                    subsequence(values.clone(), 1..=n).prop_map(Op::In).boxed(),
                ),
                (
                    2,
                    subsequence(values.clone(), 1..=n)
                        .prop_map(Op::NotIn)
                        .boxed(),
                ),
                (1, Just(Op::Has).boxed()),
                (1, Just(Op::NotHas).boxed()),
            ]);
            (Just(key), op)
        })
        .prop_map(|(key, op)| Constraint { key, op })
        .boxed()
}

fn keys(table: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    table
        .iter()
        .map(|(k, vs)| (k.to_string(), strings(vs)))
        .collect()
}

pub fn ns_keys() -> Vec<(String, Vec<String>)> {
    let mut k = keys(NS_LABELS);
    k.push((NAME_KEY.to_string(), strings(NAMESPACES)));
    k
}

pub fn pod_keys() -> Vec<(String, Vec<String>)> {
    keys(POD_LABELS)
}

/// A zone body (its name is given by position).
pub fn zone_strategy(isolation: [u32; 5]) -> BoxedStrategy<ZoneDef> {
    let ns = weighted(vec![
        (3, Just(NsSel::Any).boxed()),
        (4, select(strings(NAMESPACES)).prop_map(NsSel::Name).boxed()),
        (
            3,
            prop::collection::vec(constraint_strategy(ns_keys()), 1..=2)
                .prop_map(NsSel::Labels)
                .boxed(),
        ),
    ]);
    let pods = weighted(vec![
        (3, Just(None).boxed()),
        (
            7,
            prop::collection::vec(constraint_strategy(pod_keys()), 1..=2)
                .prop_map(Some)
                .boxed(),
        ),
    ]);
    let [default, ingress, egress, none, both] = isolation;
    let isolate = weighted(vec![
        (default, Just(Isolate::Default).boxed()),
        (ingress, Just(Isolate::Ingress).boxed()),
        (egress, Just(Isolate::Egress).boxed()),
        (none, Just(Isolate::None).boxed()),
        (both, Just(Isolate::Both).boxed()),
    ]);
    (ns, pods, isolate)
        .prop_map(|(namespace, pods, isolate)| ZoneDef {
            name: String::new(),
            namespace,
            pods,
            isolate,
        })
        .boxed()
}

pub fn cidr_strategy() -> BoxedStrategy<Literal> {
    let bases: Vec<&'static str> = CIDRS_V4.iter().chain(CIDRS_V6).copied().collect();
    select(bases)
        .prop_flat_map(|base| {
            let inside = excepts_of(base);
            let except = if inside.is_empty() {
                Just(Vec::new()).boxed()
            } else {
                let n = inside.len().min(2);
                weighted(vec![
                    (1, Just(Vec::new()).boxed()),
                    (1, subsequence(inside, 1..=n).boxed()),
                ])
            };
            (Just(base), except)
        })
        .prop_map(|(base, except)| Literal::Cidr {
            base: base.to_string(),
            except: except.into_iter().map(str::to_string).collect(),
        })
        .boxed()
}

pub fn fqdn_strategy() -> BoxedStrategy<Literal> {
    weighted(vec![
        (
            3,
            select(FQDN_NAMES)
                .prop_map(|s| Literal::Fqdn(s.to_string()))
                .boxed(),
        ),
        (
            2,
            select(FQDN_WILDCARDS)
                .prop_map(|s| Literal::Fqdn(s.to_string()))
                .boxed(),
        ),
    ])
}

pub fn external_strategy() -> BoxedStrategy<Literal> {
    weighted(vec![(3, cidr_strategy()), (2, fqdn_strategy())])
}

/// Names a rule may use, by kind.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Zones and unions.
    pub zones: Vec<String>,
    pub cidr_externals: Vec<String>,
    pub fqdn_externals: Vec<String>,
}

fn names_or_none(names: &[String], weight: u32) -> (u32, BoxedStrategy<PeerExpr>) {
    if names.is_empty() {
        (0, Just(PeerExpr::Name(String::new())).boxed())
    } else {
        (
            weight,
            select(names.to_vec()).prop_map(PeerExpr::Name).boxed(),
        )
    }
}

/// One peer that is not a set.
fn leaf_peer(scope: &Scope, cfg: &GenConfig, fqdn_weight: u32) -> BoxedStrategy<PeerExpr> {
    weighted(vec![
        names_or_none(&scope.zones, 60),
        (
            cfg.builtin_zones,
            select(strings(BUILTIN_ZONES))
                .prop_map(PeerExpr::Name)
                .boxed(),
        ),
        (
            cfg.entities,
            select(strings(BUILTIN_ENTITIES))
                .prop_map(PeerExpr::Name)
                .boxed(),
        ),
        names_or_none(&scope.cidr_externals, cfg.cidrs),
        (
            cfg.cidrs * 6 / 10,
            cidr_strategy().prop_map(PeerExpr::Literal).boxed(),
        ),
        names_or_none(&scope.fqdn_externals, fqdn_weight),
        (
            fqdn_weight,
            fqdn_strategy().prop_map(PeerExpr::Literal).boxed(),
        ),
    ])
}

/// A peer: a leaf, or a set of leaves (sometimes nested).
pub fn peer_strategy(scope: &Scope, cfg: &GenConfig, fqdn_weight: u32) -> BoxedStrategy<PeerExpr> {
    let leaf = leaf_peer(scope, cfg, fqdn_weight);
    let set = prop::collection::vec(leaf.clone(), 1..=3).prop_map(PeerExpr::Set);
    let nested = prop::collection::vec(
        prop_oneof![3 => leaf.clone(), 1 => set.clone().boxed()],
        1..=3,
    )
    .prop_map(PeerExpr::Set);
    weighted(vec![(85, leaf), (12, set.boxed()), (3, nested.boxed())])
}

fn proto() -> BoxedStrategy<Proto> {
    prop_oneof![5 => Just(Proto::Tcp), 3 => Just(Proto::Udp), 1 => Just(Proto::Sctp)].boxed()
}

pub fn port_strategy(named_weight: u32) -> BoxedStrategy<PortSpec> {
    weighted(vec![
        (30, select(PORTS).prop_map(PortSpec::Bare).boxed()),
        (
            20,
            (proto(), select(PORTS))
                .prop_map(|(p, n)| PortSpec::Number(p, n))
                .boxed(),
        ),
        (
            5,
            select(RANGES)
                .prop_map(|(a, b)| PortSpec::BareRange(a, b))
                .boxed(),
        ),
        (
            10,
            (proto(), select(RANGES))
                .prop_map(|(p, (a, b))| PortSpec::Range(p, a, b))
                .boxed(),
        ),
        (
            named_weight,
            (proto(), select(PORT_NAMES))
                .prop_map(|(p, n)| PortSpec::Named(p, n.to_string()))
                .boxed(),
        ),
        (8, Just(PortSpec::Icmp).boxed()),
        (
            4,
            select(ICMP_TYPES)
                .prop_map(|(v6, t)| PortSpec::IcmpType(v6, t))
                .boxed(),
        ),
    ])
}

fn http_strategy() -> BoxedStrategy<L7Spec> {
    let one = prop_oneof![
        3 => (select(HTTP_METHODS), select(HTTP_PATHS))
            .prop_map(|(m, p)| (Some(m.to_string()), Some(p.to_string()))),
        1 => select(HTTP_METHODS).prop_map(|m| (Some(m.to_string()), None)),
        1 => select(HTTP_PATHS).prop_map(|p| (None, Some(p.to_string()))),
    ];
    // Canned filters half the time, so that an allow and a deny often
    // filter exactly the same requests.
    let canned = select(vec![
        vec![(Some("GET".to_string()), Some("/a/.*".to_string()))],
        vec![
            (Some("GET".to_string()), Some("/a/.*".to_string())),
            (Some("POST".to_string()), Some("/b".to_string())),
        ],
    ]);
    prop_oneof![
        canned.prop_map(L7Spec::Http),
        prop::collection::vec(one, 1..=2).prop_map(L7Spec::Http),
    ]
    .boxed()
}

fn dns_strategy() -> BoxedStrategy<L7Spec> {
    prop_oneof![
        Just(L7Spec::Dns(vec!["*.example.com".to_string()])),
        subsequence(strings(DNS_PATTERNS), 1..=2).prop_map(L7Spec::Dns),
    ]
    .boxed()
}

/// Ports that carry an HTTP filter: TCP only.
fn tcp_ports(named_weight: u32) -> BoxedStrategy<Vec<PortSpec>> {
    prop::collection::vec(
        weighted(vec![
            (40, select(PORTS).prop_map(PortSpec::Bare).boxed()),
            (
                20,
                select(PORTS)
                    .prop_map(|n| PortSpec::Number(Proto::Tcp, n))
                    .boxed(),
            ),
            (
                10,
                select(RANGES)
                    .prop_map(|(a, b)| PortSpec::Range(Proto::Tcp, a, b))
                    .boxed(),
            ),
            (
                named_weight,
                select(PORT_NAMES)
                    .prop_map(|n| PortSpec::Named(Proto::Tcp, n.to_string()))
                    .boxed(),
            ),
        ]),
        1..=2,
    )
    .boxed()
}

/// Ports that carry a DNS filter: 53 only.
fn dns_ports() -> BoxedStrategy<Vec<PortSpec>> {
    prop_oneof![
        3 => Just(vec![PortSpec::Number(Proto::Udp, 53)]),
        1 => Just(vec![PortSpec::Number(Proto::Udp, 53), PortSpec::Number(Proto::Tcp, 53)]),
        1 => Just(vec![PortSpec::Bare(53)]),
    ]
    .boxed()
}

/// A rule with the given action.
pub fn rule_strategy(scope: &Scope, cfg: &GenConfig, action: Action) -> BoxedStrategy<RuleDef> {
    let (fqdn, named, l7) = match action {
        Action::Allow => (cfg.allow_fqdn, cfg.allow_named_port, cfg.allow_l7),
        Action::Deny => (cfg.deny_fqdn, cfg.deny_named_port, cfg.deny_l7),
    };
    let no_ports_weight = match action {
        Action::Allow => 1,
        Action::Deny => 4,
    };
    let ports = weighted(vec![
        (no_ports_weight, Just(None).boxed()),
        (
            8,
            prop::collection::vec(port_strategy(named), 1..=3)
                .prop_map(Some)
                .boxed(),
        ),
    ]);
    let plain = (
        peer_strategy(scope, cfg, fqdn),
        peer_strategy(scope, cfg, fqdn),
        ports,
    )
        .prop_map(move |(source, destination, ports)| RuleDef {
            action,
            source,
            destination,
            ports,
            l7: None,
            via: false,
        });
    let http = (
        peer_strategy(scope, cfg, fqdn),
        peer_strategy(scope, cfg, fqdn),
        tcp_ports(named),
        http_strategy(),
    )
        .prop_map(move |(source, destination, ports, l7)| RuleDef {
            action,
            source,
            destination,
            ports: Some(ports),
            l7: Some(l7),
            via: false,
        });
    let dns = (
        peer_strategy(scope, cfg, fqdn),
        peer_strategy(scope, cfg, fqdn),
        dns_ports(),
        dns_strategy(),
    )
        .prop_map(move |(source, destination, ports, l7)| RuleDef {
            action,
            source,
            destination,
            ports: Some(ports),
            l7: Some(l7),
            via: false,
        });
    weighted(vec![
        (100, plain.boxed()),
        (l7 * 2 / 3, http.boxed()),
        (l7 / 3, dns.boxed()),
    ])
}

/// `allow ZONES -> FQDNS : PORTS via egress`.
pub fn via_rule_strategy(scope: &Scope) -> BoxedStrategy<RuleDef> {
    let zones = if scope.zones.is_empty() {
        vec!["cluster".to_string()]
    } else {
        scope.zones.clone()
    };
    let fqdn_leaf = {
        let mut opts = vec![(2, fqdn_strategy().prop_map(PeerExpr::Literal).boxed())];
        if !scope.fqdn_externals.is_empty() {
            opts.push((
                1,
                select(scope.fqdn_externals.clone())
                    .prop_map(PeerExpr::Name)
                    .boxed(),
            ));
        }
        weighted(opts)
    };
    let destination = prop_oneof![
        4 => fqdn_leaf.clone(),
        1 => prop::collection::vec(fqdn_leaf, 1..=2).prop_map(PeerExpr::Set),
    ];
    let ports = prop_oneof![
        Just(vec![PortSpec::Bare(443)]),
        Just(vec![PortSpec::Number(Proto::Tcp, 443)]),
        Just(vec![PortSpec::Bare(443), PortSpec::Bare(80)]),
    ];
    (select(zones), destination, ports)
        .prop_map(|(source, destination, ports)| RuleDef {
            action: Action::Allow,
            source: PeerExpr::Name(source),
            destination,
            ports: Some(ports),
            l7: None,
            via: true,
        })
        .boxed()
}

fn any_rule(scope: &Scope, cfg: &GenConfig) -> BoxedStrategy<RuleDef> {
    weighted(vec![
        (cfg.allow_weight, rule_strategy(scope, cfg, Action::Allow)),
        (cfg.deny_weight, rule_strategy(scope, cfg, Action::Deny)),
    ])
}

/// A whole program.
pub fn program_strategy(cfg: GenConfig) -> BoxedStrategy<GenProgram> {
    let defs = (
        prop::collection::vec(zone_strategy(cfg.isolation), 1..=cfg.max_zones),
        0..=cfg.max_unions,
        prop::collection::vec(external_strategy(), 0..=cfg.max_externals),
        0..=cfg.max_tiers,
        any::<bool>(),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    );
    defs.prop_flat_map(
        move |(mut zones, n_unions, externals, n_tiers, import_k8s, style)| {
            for (i, z) in zones.iter_mut().enumerate() {
                z.name = zone_name(i);
            }
            let zone_names: Vec<String> = zones.iter().map(|z| z.name.clone()).collect();
            // Union i draws from the zones and the unions before it: no cycles.
            let unions: Vec<BoxedStrategy<UnionDef>> = (0..n_unions)
                .map(|i| {
                    let mut pool = zone_names.clone();
                    pool.extend((0..i).map(union_name));
                    pool.extend(["kube-dns".to_string()]);
                    prop::collection::vec(select(pool), 2..=3)
                        .prop_map(move |members| UnionDef {
                            name: union_name(i),
                            members,
                        })
                        .boxed()
                })
                .collect();
            let externals: Vec<ExternalDef> = externals
                .into_iter()
                .enumerate()
                .map(|(i, value)| ExternalDef {
                    name: external_name(i),
                    value,
                })
                .collect();
            let scope = Scope {
                zones: zone_names
                    .iter()
                    .cloned()
                    .chain((0..n_unions).map(union_name))
                    .collect(),
                cidr_externals: externals
                    .iter()
                    .filter(|e| !e.value.is_fqdn())
                    .map(|e| e.name.clone())
                    .collect(),
                fqdn_externals: externals
                    .iter()
                    .filter(|e| e.value.is_fqdn())
                    .map(|e| e.name.clone())
                    .collect(),
            };
            let tiers = prop::collection::vec(
                prop::collection::vec(any_rule(&scope, &cfg), 0..=cfg.max_rules_per_tier),
                n_tiers,
            );
            let rules = prop::collection::vec(any_rule(&scope, &cfg), 0..=cfg.max_default_rules);
            let via = weighted(vec![
                (1000 - cfg.via_per_mille.min(1000), Just(None).boxed()),
                (
                    cfg.via_per_mille,
                    (
                        via_rule_strategy(&scope),
                        any::<prop::sample::Index>(),
                        prop::option::of(select(vec![8443u16, 9443])),
                    )
                        .prop_map(Some)
                        .boxed(),
                ),
            ]);
            (
                Just(zones),
                unions,
                Just(externals),
                tiers,
                rules,
                via,
                Just(import_k8s),
                Just(style),
            )
        },
    )
    .prop_map(
        |(zones, unions, externals, tiers, mut rules, via, import_k8s, style)| {
            let mut tiers: Vec<TierDef> = tiers
                .into_iter()
                .enumerate()
                .map(|(i, rules)| TierDef {
                    name: tier_name(i),
                    rules,
                })
                .collect();
            let mut gateway_port = None;
            if let Some((rule, at, port)) = via {
                gateway_port = port;
                // The via rule goes into a tier or the default tier.
                let slot = at.index(tiers.len() + 1);
                match tiers.get_mut(slot) {
                    Some(t) => t.rules.push(rule),
                    None => rules.push(rule),
                }
            }
            GenProgram {
                import_k8s,
                zones,
                unions,
                externals,
                tiers,
                rules,
                gateway_port,
                style: Style {
                    compact: style.0,
                    one_line_zones: style.1,
                    comments: style.2,
                },
            }
        },
    )
    .boxed()
}
