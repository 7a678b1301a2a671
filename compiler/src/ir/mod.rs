//! The normalised IR: zones as pod sets, peers as exact sets, ports as exact
//! port sets, rules grouped in tiers in evaluation order. It is built only
//! from a program without errors; every later stage (evaluator, allow table,
//! backends) reads it and nothing else.

mod lowering;
pub mod sets;
pub mod term_index;

use crate::algebra::ports::PortSet;
use crate::diagnostic::Span;
use crate::names::DefId;
use crate::syntax::ast::Action;

pub use lowering::{lower, lower_resolved, port_set, zone_selector};
pub use sets::{HttpMatch, NotExact, PeerSet, PodSet, PodTerm, Service, L7, NAMESPACE_NAME_LABEL};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ir {
    pub zones: Vec<Zone>,
    /// Declared tiers in order, then the implicit `default` tier last.
    pub tiers: Vec<Tier>,
    pub gateways: Vec<Gateway>,
}

impl Ir {
    pub fn zone_named(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// Pods that are default-deny for incoming connections.
    pub fn isolated_ingress(&self) -> PodSet {
        self.isolated(|i| i.ingress)
    }

    /// Pods that are default-deny for outgoing connections.
    pub fn isolated_egress(&self) -> PodSet {
        self.isolated(|i| i.egress)
    }

    fn isolated(&self, direction: impl Fn(&Isolation) -> bool) -> PodSet {
        PodSet::from_terms(
            self.zones
                .iter()
                .filter(|z| direction(&z.isolation))
                .flat_map(|z| z.pods.terms.iter().cloned()),
        )
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.tiers.iter().flat_map(|t| t.rules.iter())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Isolation {
    pub ingress: bool,
    pub egress: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub def: DefId,
    pub name: String,
    pub pods: PodSet,
    pub isolation: Isolation,
    /// The zone's definition (`None` for none: zones always have one).
    pub span: Option<Span>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// `None` for the implicit `default` tier.
    pub def: Option<DefId>,
    pub name: String,
    /// The `allow` and `deny` rules: what decides connections.
    pub rules: Vec<Rule>,
    /// The `log` rules, which decide nothing: apart, so that the evaluator,
    /// the allow table and the backends without a log action never meet them.
    pub logs: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    pub source: PeerSet,
    pub destination: PeerSet,
    pub service: Service,
    /// The source rule; a `via` rule lowers to two IR rules with the same span.
    pub span: Span,
    /// What part of the source rule this is, for explanations.
    pub role: RuleRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleRole {
    /// The rule as written.
    Direct,
    /// `via`: the source to the gateway pods.
    ToGateway,
    /// `via`: the gateway pods to the external host.
    FromGateway,
    /// An FQDN allow without `via`: the DNS lookups of those names, which
    /// name-matching targets (Cilium's DNS proxy) need to see.
    DnsForFqdn,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub def: DefId,
    pub name: String,
    pub zone: Option<DefId>,
    pub pods: PodSet,
    /// The pod port the gateway listens on (network policies see pod ports).
    pub port: u16,
}

/// Istio's egress gateway serves TLS on pod port 8443 behind Service port 443.
pub const DEFAULT_GATEWAY_PORT: u16 = 8443;

impl Rule {
    pub fn ports(&self) -> &PortSet {
        &self.service.ports
    }
}
