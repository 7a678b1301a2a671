//! The owned syntax tree of one `.npl` file. Every node carries its span.
//! Values are kept as written (strings unescaped, numbers parsed); whether they
//! are valid Kubernetes names, CIDRs, ports... is the checker's business.

use crate::diagnostic::Span;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Module {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Import(Import),
    Zone(Zone),
    ZoneUnion(ZoneUnion),
    External(External),
    Rule(Rule),
    Tier(Tier),
    Gateway(Gateway),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Import(it) => it.span,
            Item::Zone(it) => it.span,
            Item::ZoneUnion(it) => it.span,
            Item::External(it) => it.span,
            Item::Rule(it) => it.span,
            Item::Tier(it) => it.span,
            Item::Gateway(it) => it.span,
        }
    }

    /// The name an item defines, if it defines one.
    pub fn defined_name(&self) -> Option<&Ident> {
        match self {
            Item::Zone(it) => Some(&it.name),
            Item::ZoneUnion(it) => Some(&it.name),
            Item::External(it) => Some(&it.name),
            Item::Tier(it) => Some(&it.name),
            Item::Gateway(it) => Some(&it.name),
            Item::Import(_) | Item::Rule(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

/// `## ...` lines directly above an item.
pub type Doc = Option<String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub path: Str,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub doc: Doc,
    pub name: Ident,
    pub lines: Vec<ZoneLine>,
    pub span: Span,
}

impl Zone {
    /// The zone's `isolate` line, or the default: isolated both ways.
    pub fn isolate(&self) -> Isolate {
        self.lines
            .iter()
            .find_map(|l| match l {
                ZoneLine::Isolate { mode, .. } => Some(*mode),
                _ => None,
            })
            .unwrap_or(Isolate::Both)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneLine {
    Namespace {
        name: Str,
        span: Span,
    },
    Namespaces {
        constraints: Vec<Constraint>,
        span: Span,
    },
    Pods {
        constraints: Vec<Constraint>,
        span: Span,
    },
    Isolate {
        mode: Isolate,
        span: Span,
    },
}

impl ZoneLine {
    pub fn span(&self) -> Span {
        match self {
            ZoneLine::Namespace { span, .. }
            | ZoneLine::Namespaces { span, .. }
            | ZoneLine::Pods { span, .. }
            | ZoneLine::Isolate { span, .. } => *span,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isolate {
    Both,
    Ingress,
    Egress,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelKey {
    pub key: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub key: LabelKey,
    pub op: ConstraintOp,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstraintOp {
    Eq(Str),
    NotEq(Str),
    In(Vec<Str>),
    NotIn(Vec<Str>),
    Has,
    NotHas,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneUnion {
    pub doc: Doc,
    pub name: Ident,
    pub members: Vec<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub doc: Doc,
    pub name: Ident,
    pub value: PeerLiteral,
    pub span: Span,
}

/// `fqdn "..."` or `cidr A except B, C`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerLiteral {
    Fqdn(Str),
    Cidr {
        base: CidrText,
        except: Vec<CidrText>,
    },
}

/// A CIDR as written; parsed and validated by the checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrText {
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Deny,
    /// Records the connections it matches and decides nothing (Calico's
    /// `Log`): the evaluator and every verdict ignore it.
    Log,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::Log => "log",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub doc: Doc,
    pub action: Action,
    pub action_span: Span,
    pub source: Peer,
    pub destination: Peer,
    /// `None` when the rule has no `: PORTS` (every port).
    pub ports: Option<Vec<Port>>,
    pub l7: Option<L7>,
    pub via: Option<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Name(Ident),
    Literal { value: PeerLiteral, span: Span },
    Set { members: Vec<Peer>, span: Span },
}

impl Peer {
    pub fn span(&self) -> Span {
        match self {
            Peer::Name(id) => id.span,
            Peer::Literal { span, .. } | Peer::Set { span, .. } => *span,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub value: PortValue,
    pub span: Span,
    /// For [`PortValue::Icmp`]: the family, type and code as written;
    /// `None` for plain `icmp` (every message of both families).
    pub icmp: Option<IcmpSpec>,
}

pub use crate::algebra::icmp::IcmpFamily;

/// `icmpv6`, `icmp/8`, `icmp/echo-request`, `icmp/3/4`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpSpec {
    pub family: IcmpFamily,
    /// `None`: every type of the family.
    pub icmp_type: Option<IcmpType>,
    /// `None`: every code of the type. Kept wide for the checker.
    pub code: Option<(u64, Span)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IcmpType {
    Number(u64, Span),
    Name(String, Span),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortValue {
    /// A single port; numbers are kept wide so the checker can report range errors.
    Number {
        protocol: Protocol,
        port: u64,
    },
    Range {
        protocol: Protocol,
        start: u64,
        end: u64,
    },
    Named {
        protocol: Protocol,
        name: String,
    },
    /// ICMP; [`Port::icmp`] says which messages.
    Icmp,
}

impl PortValue {
    pub fn protocol(&self) -> Option<Protocol> {
        match self {
            PortValue::Number { protocol, .. }
            | PortValue::Range { protocol, .. }
            | PortValue::Named { protocol, .. } => Some(*protocol),
            PortValue::Icmp => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L7 {
    Http { rules: Vec<HttpRule>, span: Span },
    Dns { names: Vec<Str>, span: Span },
}

impl L7 {
    pub fn span(&self) -> Span {
        match self {
            L7::Http { span, .. } | L7::Dns { span, .. } => *span,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRule {
    pub method: Option<Ident>,
    pub path: Option<Str>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub doc: Doc,
    pub name: Ident,
    pub rules: Vec<Rule>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub doc: Doc,
    pub name: Ident,
    pub kind: Ident,
    pub zone: Option<Ident>,
    pub port: Option<(u64, Span)>,
    /// Lines repeated in the body (`zone` or `port` twice), for the checker.
    pub repeated: Vec<Span>,
    pub span: Span,
}
