//! The normalised IR: zones as pod sets, peers as exact sets, ports as exact
//! port sets, rules grouped in tiers in evaluation order. It is built only
//! from a program without errors; every later stage (evaluator, allow table,
//! backends) reads it and nothing else.

pub mod listener;
mod lowering;
pub mod sets;
pub mod term_index;

use crate::algebra::ports::PortSet;
use crate::diagnostic::Span;
/// A rule's action, the built-in peers and definitions' ids, as the IR's
/// readers (the evaluator, the allow table, the backends) name them.
/// Defined where the parser and the resolver make them, which the IR comes
/// after.
pub use crate::names::{DefId, Entity};
pub use crate::syntax::ast::Action;

pub use lowering::{lower, lower_resolved, lowered, port_set, zone_selector};
pub use sets::{
    dns_matches, HttpMatch, NotExact, PeerSet, PodSet, PodTerm, Service, L7, NAMESPACE_NAME_LABEL,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ir {
    pub zones: Vec<Zone>,
    /// Declared tiers in order, then the implicit `default` tier last.
    pub tiers: Vec<Tier>,
    pub gateways: Vec<Gateway>,
    /// Every rule written with `via`, in program order (each also lowered
    /// to its two halves in its tier).
    pub vias: Vec<Via>,
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

/// Which way a connection is seen from a pod: arriving or leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    /// Whether the zone is default-deny in this direction.
    pub fn isolates(self, zone: &Zone) -> bool {
        match self {
            Direction::Ingress => zone.isolation.ingress,
            Direction::Egress => zone.isolation.egress,
        }
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
    /// Where the tier's name is written (`None` for the implicit `default`
    /// tier): the line Calico's Tier resource is annotated with.
    pub name_span: Option<Span>,
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
    /// The zones its source and destination name as written.
    pub zones: WrittenZones,
}

/// The zones (and zone unions) a rule's two sides name as written, each a
/// `Zone::def`, in definition order: `allow {a, b} -> c` names `a` and `b`
/// as source and `c` as destination; a peer that is not a zone (`world`, a
/// CIDR, an FQDN) names none. Cilium places a rule in the policies of
/// exactly these zones. A `via` half names the gateway's zone on its gateway
/// side; the DNS lookups of an FQDN allow name `kube-dns` as destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrittenZones {
    pub source: Vec<DefId>,
    pub destination: Vec<DefId>,
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
    /// The gateway's definition.
    pub span: Option<Span>,
    pub zone: Option<DefId>,
    /// The name of the zone of its pods (the name of its Service on Istio).
    pub zone_name: Option<String>,
    pub pods: PodSet,
    /// The pod port the gateway listens on (network policies see pod ports).
    pub port: u16,
}

/// A rule written `… via GATEWAY`: its action, its gateway and where it is
/// written (the span its two halves, `ToGateway` and `FromGateway`, carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via {
    pub action: Action,
    pub gateway: DefId,
    pub span: Span,
}

impl Gateway {
    /// Istio's egress gateway serves TLS on pod port 8443 behind Service port 443.
    pub const DEFAULT_PORT: u16 = 8443;
}

impl Rule {
    pub fn ports(&self) -> &PortSet {
        &self.service.ports
    }
}

/// The IR of one file's text, for unit tests (panics when it has errors).
#[cfg(test)]
pub(crate) fn lower_text(text: &str) -> Ir {
    use crate::db::{Database, Program};
    let mut db = Database::default();
    let file = db.set_file("test.npl", text.to_string());
    let program = Program::new(&db, vec![file]);
    let ir = lower(&db, program).clone();
    ir.unwrap_or_else(|| panic!("the program has errors:\n{text}"))
}
