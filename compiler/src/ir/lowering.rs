//! Resolved program → IR. Runs only on programs without errors; everything
//! it reads was validated by `check` and `names`.

use std::collections::HashMap;

use ipnet::IpNet;

use super::sets::{HttpMatch, PeerSet, PodSet, Service, L7, NAMESPACE_NAME_LABEL};
use super::{Gateway, Ir, Isolation, Rule, RuleRole, Tier, Via, WrittenZones, Zone};
use crate::algebra::fqdn::{FqdnPattern, FqdnSet};
use crate::algebra::icmp::{self, IcmpSet};
use crate::algebra::ipset::IpSet;
use crate::algebra::labels::{KeySet, Term};
use crate::algebra::ports::{PortSet, Protocol};
use crate::db::{Db, Program};
use crate::diagnostic::Diagnostic;
use crate::names::{self, DefId, DefKind, PeerRef, Resolved};
use crate::syntax::ast::{self, ConstraintOp, Isolate, PeerLiteral, PortValue, ZoneLine};

/// The IR of a program, or `None` when the program has errors.
#[salsa::tracked(returns(ref))]
pub fn lower(db: &dyn Db, program: Program) -> Option<Ir> {
    if crate::check::source_diagnostics(db, program)
        .iter()
        .any(|d| d.is_error())
    {
        return None;
    }
    Some(lower_resolved(names::resolve(db, program)))
}

/// The IR of a program, or the program's own diagnostics (syntax, names,
/// validation) when it has errors: what a build starts from.
pub fn lowered(db: &dyn Db, program: Program) -> Result<&Ir, &[Diagnostic]> {
    match lower(db, program) {
        Some(ir) => Ok(ir),
        None => Err(crate::check::source_diagnostics(db, program)),
    }
}

pub fn lower_resolved(resolved: &Resolved) -> Ir {
    let mut lowering = Lowering {
        resolved,
        pods: HashMap::new(),
    };
    let zones: Vec<Zone> = resolved
        .defs
        .iter()
        .enumerate()
        .filter_map(|(i, def)| {
            let id = DefId(i as u32);
            let isolation = match &def.kind {
                DefKind::Zone(zone) => zone_isolation(zone),
                DefKind::ZoneUnion(_) => Isolation {
                    ingress: false,
                    egress: false,
                },
                _ => return None,
            };
            Some(Zone {
                def: id,
                name: def.name.clone(),
                pods: lowering.zone_pods(id),
                isolation,
                span: def.span,
            })
        })
        .collect();
    let gateways: Vec<Gateway> = resolved
        .defs
        .iter()
        .enumerate()
        .filter_map(|(i, def)| match &def.kind {
            DefKind::Gateway { zone, port, .. } => Some(Gateway {
                def: DefId(i as u32),
                name: def.name.clone(),
                span: def.span,
                zone: *zone,
                zone_name: zone.map(|z| resolved.def(z).name.clone()),
                pods: zone.map(|z| lowering.zone_pods(z)).unwrap_or_default(),
                port: port
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(Gateway::DEFAULT_PORT),
            }),
            _ => None,
        })
        .collect();
    let mut tiers: Vec<Tier> = resolved
        .tiers
        .iter()
        .map(|&id| Tier {
            def: Some(id),
            name: resolved.def(id).name.clone(),
            name_span: resolved.def(id).name_span,
            rules: Vec::new(),
            logs: Vec::new(),
        })
        .collect();
    tiers.push(Tier {
        def: None,
        name: "default".to_string(),
        name_span: None,
        rules: Vec::new(),
        logs: Vec::new(),
    });
    let default_index = tiers.len() - 1;
    let mut vias = Vec::new();
    for rule in &resolved.rules {
        if let Some(gateway) = rule.via {
            vias.push(Via {
                action: rule.action,
                gateway,
                span: rule.span,
            });
        }
        let index = rule
            .tier
            .and_then(|t| resolved.tiers.iter().position(|x| *x == t))
            .unwrap_or(default_index);
        let lowered = lowering.rule(rule, &gateways);
        if rule.action == ast::Action::Log {
            tiers[index].logs.extend(lowered);
        } else {
            tiers[index].rules.extend(lowered);
        }
    }
    Ir {
        zones,
        tiers,
        gateways,
        vias,
    }
}

struct Lowering<'r> {
    resolved: &'r Resolved,
    pods: HashMap<DefId, PodSet>,
}

impl Lowering<'_> {
    fn zone_pods(&mut self, id: DefId) -> PodSet {
        if let Some(p) = self.pods.get(&id) {
            return p.clone();
        }
        // Insert first: union cycles were reported and broken by `names`, but
        // this keeps lowering finite whatever it is given.
        self.pods.insert(id, PodSet::none());
        let pods = match &self.resolved.def(id).kind {
            DefKind::Zone(zone) => zone_selector(zone),
            DefKind::ZoneUnion(members) => {
                let members = members.clone();
                members
                    .iter()
                    .fold(PodSet::none(), |acc, m| acc.union(&self.zone_pods(*m)))
            }
            _ => PodSet::none(),
        };
        self.pods.insert(id, pods.clone());
        pods
    }

    fn peer(&mut self, peer: &PeerRef) -> PeerSet {
        match peer {
            PeerRef::Def { def, .. } => match &self.resolved.def(*def).kind {
                DefKind::Zone(_) | DefKind::ZoneUnion(_) => PeerSet::pods(self.zone_pods(*def)),
                DefKind::External(lit) => literal(lit),
                DefKind::Entity(e) => PeerSet::entity(*e),
                DefKind::Tier | DefKind::Gateway { .. } => PeerSet::none(),
            },
            PeerRef::Literal { value, .. } => literal(value),
            PeerRef::Set { members, .. } => members
                .iter()
                .fold(PeerSet::none(), |acc, m| acc.union(&self.peer(m))),
        }
    }

    fn rule(&mut self, rule: &names::ResolvedRule, gateways: &[Gateway]) -> Vec<Rule> {
        let source = self.peer(&rule.source);
        let destination = self.peer(&rule.destination);
        let service = Service {
            ports: rule.ports.as_deref().map_or_else(PortSet::all, port_set),
            l7: rule.l7.as_ref().map_or(L7::Any, l7),
        };
        let gateway = rule
            .via
            .and_then(|g| gateways.iter().find(|gw| gw.def == g));
        let written = WrittenZones {
            source: self.named_zones(&rule.source),
            destination: self.named_zones(&rule.destination),
        };
        match gateway {
            None => {
                let dns = self.dns_for_fqdn(rule, &source, &destination, &written);
                let mut rules = vec![Rule {
                    action: rule.action,
                    source,
                    destination,
                    service,
                    span: rule.span,
                    role: RuleRole::Direct,
                    zones: written,
                }];
                rules.extend(dns);
                rules
            }
            // `via`: the source reaches the gateway pods on their pod port, and
            // the gateway reaches the host; the direct path is not allowed.
            Some(gw) => vec![
                Rule {
                    action: rule.action,
                    source,
                    destination: PeerSet::pods(gw.pods.clone()),
                    service: Service {
                        ports: PortSet::port(Protocol::Tcp, gw.port),
                        l7: L7::Any,
                    },
                    span: rule.span,
                    role: RuleRole::ToGateway,
                    zones: WrittenZones {
                        source: written.source,
                        destination: gw.zone.into_iter().collect(),
                    },
                },
                Rule {
                    action: rule.action,
                    source: PeerSet::pods(gw.pods.clone()),
                    destination,
                    service,
                    span: rule.span,
                    role: RuleRole::FromGateway,
                    zones: WrittenZones {
                        source: gw.zone.into_iter().collect(),
                        destination: written.destination,
                    },
                },
            ],
        }
    }
}

impl Lowering<'_> {
    /// Allowing a name means allowing its lookup: `allow a -> fqdn "n" : P`
    /// also lets `a` ask kube-dns for names (udp and tcp 53). Name-matching
    /// targets need that lookup to learn the addresses, so it is part of the
    /// program's meaning, not a backend's addition.
    fn dns_for_fqdn(
        &mut self,
        rule: &names::ResolvedRule,
        source: &PeerSet,
        destination: &PeerSet,
        written: &WrittenZones,
    ) -> Option<Rule> {
        let names = &destination.fqdns;
        if rule.action != ast::Action::Allow || names.is_empty() || names.is_all() {
            return None;
        }
        let kube_dns = self.resolved.lookup("kube-dns")?;
        Some(Rule {
            action: rule.action,
            source: source.clone(),
            destination: PeerSet::pods(self.zone_pods(kube_dns)),
            service: Service {
                ports: PortSet::port(Protocol::Udp, 53).union(&PortSet::port(Protocol::Tcp, 53)),
                // Every name, not only the allowed ones: resolvers try the
                // search-path names first (`ndots:5`), and a refused lookup
                // can end the resolution (seed 004 uses `*` for the same reason).
                l7: L7::Dns(vec!["*".to_string()]),
            },
            span: rule.span,
            role: RuleRole::DnsForFqdn,
            zones: WrittenZones {
                source: written.source.clone(),
                destination: vec![kube_dns],
            },
        })
    }

    /// The zones and zone unions a peer names as written, sets flattened,
    /// in definition order.
    fn named_zones(&self, peer: &PeerRef) -> Vec<DefId> {
        let mut out: Vec<DefId> = peer
            .leaves()
            .into_iter()
            .filter_map(|leaf| match leaf {
                PeerRef::Def { def, .. } => Some(*def),
                _ => None,
            })
            .filter(|def| {
                matches!(
                    self.resolved.def(*def).kind,
                    DefKind::Zone(_) | DefKind::ZoneUnion(_)
                )
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn zone_isolation(zone: &ast::Zone) -> Isolation {
    match zone.isolate() {
        Isolate::Both => Isolation {
            ingress: true,
            egress: true,
        },
        Isolate::Ingress => Isolation {
            ingress: true,
            egress: false,
        },
        Isolate::Egress => Isolation {
            ingress: false,
            egress: true,
        },
        Isolate::None => Isolation {
            ingress: false,
            egress: false,
        },
    }
}

/// A zone body as one pod term: the namespace line and the pods line.
pub fn zone_selector(zone: &ast::Zone) -> PodSet {
    let mut namespace = Term::all();
    let mut pod = Term::all();
    for line in &zone.lines {
        match line {
            ZoneLine::Namespace { name, .. } => {
                namespace = Term::from_constraints([(
                    NAMESPACE_NAME_LABEL.to_string(),
                    KeySet::eq(&name.value),
                )]);
            }
            ZoneLine::Namespaces { constraints, .. } => namespace = constraint_term(constraints),
            ZoneLine::Pods { constraints, .. } => pod = constraint_term(constraints),
            ZoneLine::Isolate { .. } => {}
        }
    }
    PodSet::term(namespace, pod)
}

fn constraint_term(constraints: &[ast::Constraint]) -> Term {
    Term::from_constraints(constraints.iter().map(|c| {
        let values = |vs: &[ast::Str]| vs.iter().map(|v| v.value.clone()).collect::<Vec<_>>();
        let set = match &c.op {
            ConstraintOp::Eq(v) => KeySet::eq(&v.value),
            ConstraintOp::NotEq(v) => KeySet::not_eq(&v.value),
            ConstraintOp::In(vs) => KeySet::in_(values(vs)),
            ConstraintOp::NotIn(vs) => KeySet::not_in(values(vs)),
            ConstraintOp::Has => KeySet::has(),
            ConstraintOp::NotHas => KeySet::not_has(),
        };
        (c.key.key.clone(), set)
    }))
}

fn literal(lit: &PeerLiteral) -> PeerSet {
    match lit {
        PeerLiteral::Fqdn(name) => PeerSet {
            fqdns: FqdnPattern::parse(&name.value)
                .map(|p| FqdnSet::from_patterns([p]))
                .unwrap_or_else(|_| FqdnSet::none()),
            ..PeerSet::none()
        },
        PeerLiteral::Cidr { base, except } => {
            let parse = |t: &ast::CidrText| t.text.parse::<IpNet>().ok().map(|n| n.trunc());
            let Some(base) = parse(base) else {
                return PeerSet::none();
            };
            let except: Vec<IpNet> = except.iter().filter_map(parse).collect();
            PeerSet {
                ips: IpSet::from_cidr_except(base, &except),
                ..PeerSet::none()
            }
        }
    }
}

fn protocol(p: ast::Protocol) -> Protocol {
    match p {
        ast::Protocol::Tcp => Protocol::Tcp,
        ast::Protocol::Udp => Protocol::Udp,
        ast::Protocol::Sctp => Protocol::Sctp,
    }
}

pub fn port_set(ports: &[ast::Port]) -> PortSet {
    let clamp = |n: u64| u16::try_from(n).unwrap_or(u16::MAX);
    ports.iter().fold(PortSet::none(), |acc, p| {
        let one = match &p.value {
            PortValue::Number { protocol: pr, port } => PortSet::port(protocol(*pr), clamp(*port)),
            PortValue::Range {
                protocol: pr,
                start,
                end,
            } => PortSet::range(protocol(*pr), clamp(*start), clamp(*end)),
            PortValue::Named { protocol: pr, name } => PortSet::named(protocol(*pr), name.clone()),
            PortValue::Icmp => PortSet::icmp_messages(icmp_set(p.icmp.as_ref())),
        };
        acc.union(&one)
    })
}

/// The messages an ICMP port names; lowering runs on checked programs, so
/// numbers fit and names are known (anything else would be nothing).
fn icmp_set(spec: Option<&ast::IcmpSpec>) -> IcmpSet {
    let Some(spec) = spec else {
        return IcmpSet::all();
    };
    let byte = |n: u64| u8::try_from(n).ok();
    let icmp_type = match &spec.icmp_type {
        None => return IcmpSet::family(spec.family),
        Some(ast::IcmpType::Number(n, _)) => byte(*n),
        Some(ast::IcmpType::Name(name, _)) => icmp::type_by_name(spec.family, name),
    };
    let Some(icmp_type) = icmp_type else {
        return IcmpSet::none();
    };
    match spec.code {
        None => IcmpSet::of_type(spec.family, icmp_type),
        Some((code, _)) => byte(code).map_or_else(IcmpSet::none, |code| {
            IcmpSet::of_code(spec.family, icmp_type, code)
        }),
    }
}

fn l7(l7: &ast::L7) -> L7 {
    match l7 {
        ast::L7::Http { rules, .. } => {
            let mut matches: Vec<HttpMatch> = rules
                .iter()
                .map(|r| HttpMatch {
                    method: r.method.as_ref().map(|m| m.name.clone()),
                    path: r.path.as_ref().map(|p| p.value.clone()),
                })
                .collect();
            matches.sort();
            matches.dedup();
            L7::Http(matches)
        }
        ast::L7::Dns { names, .. } => {
            let mut names: Vec<String> =
                names.iter().map(|n| n.value.to_ascii_lowercase()).collect();
            names.sort();
            names.dedup();
            L7::Dns(names)
        }
    }
}
