//! The program's rules as the sides of zone policies: `allow A -> B : p` is
//! an egress side in A's policy and an ingress side in B's; a side that is
//! not a zone has no policy. A `deny` that a higher tier's `allow` overrides
//! is first narrowed by exactly those allows (Cilium's deny beats every
//! allow); every other rule lowers one to one.

use std::collections::HashMap;

use crate::algebra::ports::PortSet;
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::ir::Action;
use crate::ir::Direction;
use crate::ir::{DefId, Ir, PeerSet, PodSet, Rule, L7};

/// A narrowed deny may split into at most this many pieces; more is an
/// error rather than a policy nobody can review.
const MAX_PIECES_PER_DENY: usize = 64;

/// One side of a rule in one zone's policy.
#[derive(Debug, Clone)]
pub(super) struct Side {
    /// Index into `Ir::zones`.
    pub zone: usize,
    pub direction: Direction,
    pub action: Action,
    /// The pods it applies to: the zone's pods, or part of them for a deny
    /// narrowed by a higher tier's allow.
    pub local: PodSet,
    pub remote: PeerSet,
    pub ports: PortSet,
    pub l7: L7,
    /// The source rule.
    pub span: Span,
}

/// A deny, or the part of it no higher tier's allow overrides, as a product.
#[derive(Debug, Clone)]
pub(super) struct Piece {
    pub source: PeerSet,
    pub destination: PeerSet,
    pub ports: PortSet,
    pub span: Span,
}

/// Which zones each rule names as written, as indices into `Ir::zones`.
pub(super) struct RuleZones {
    by_def: HashMap<DefId, usize>,
}

impl RuleZones {
    pub fn new(ir: &Ir) -> RuleZones {
        RuleZones {
            by_def: ir
                .zones
                .iter()
                .enumerate()
                .map(|(i, z)| (z.def, i))
                .collect(),
        }
    }

    fn indices(&self, defs: &[DefId]) -> Vec<usize> {
        let mut out: Vec<usize> = defs
            .iter()
            .filter_map(|d| self.by_def.get(d).copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The zones of the rule's source and of its destination.
    pub fn of(&self, rule: &Rule) -> (Vec<usize>, Vec<usize>) {
        (
            self.indices(&rule.zones.source),
            self.indices(&rule.zones.destination),
        )
    }
}

/// Every side of every rule, and the (narrowed) denies as pieces.
pub(super) fn sides(
    ir: &Ir,
    zones: &RuleZones,
    errors: &mut Vec<Diagnostic>,
) -> (Vec<Side>, Vec<Piece>) {
    // Sized up front: a Side is large, and a vector of them grown by
    // doubling copies every side of a big program several times.
    let count: usize = ir
        .rules()
        .map(|r| r.zones.source.len() + r.zones.destination.len())
        .sum();
    let mut out = Vec::with_capacity(count);
    // Allow sides with their tier, for the carves of later denies.
    let mut allows: Vec<(usize, Side)> = Vec::with_capacity(count);
    let mut carves = Vec::new();
    let mut pieces = Vec::new();
    // Once, not per deny: a union of every isolated zone's terms.
    let isolated_ingress = ir.isolated_ingress();
    for (index, tier) in ir.tiers.iter().enumerate() {
        for rule in &tier.rules {
            let (sources, destinations) = zones.of(rule);
            if rule.action == Action::Allow {
                for &z in &sources {
                    allows.push((
                        index,
                        side(ir, z, Direction::Egress, rule, &rule.destination),
                    ));
                }
                // A rule towards no pods has no ingress side, though its
                // source rule names zones (`ir::listener::with_apiserver_listener`).
                for &z in destinations
                    .iter()
                    .filter(|_| !rule.destination.pods.is_empty())
                {
                    allows.push((index, side(ir, z, Direction::Ingress, rule, &rule.source)));
                }
                continue;
            }
            let Some((narrowed, carved)) = narrow(ir, &isolated_ingress, index, rule, errors)
            else {
                continue;
            };
            for piece in narrowed {
                deny_sides(ir, rule, &piece, &sources, &destinations, &mut out);
                pieces.push(piece);
            }
            carves.extend(carved);
        }
    }
    for (tier, side) in allows {
        if carves.is_empty() {
            out.push(side);
        } else {
            out.extend(carve_allow(tier, side, &carves, errors));
        }
    }
    (out, pieces)
}

fn side(ir: &Ir, zone: usize, direction: Direction, rule: &Rule, remote: &PeerSet) -> Side {
    Side {
        zone,
        direction,
        action: rule.action,
        local: ir.zones[zone].pods.clone(),
        remote: remote.clone(),
        ports: rule.service.ports.clone(),
        l7: rule.service.l7.clone(),
        span: rule.span,
    }
}

/// The sides of one piece of a deny. A deny needs only one side to drop a
/// connection: the destination's ingress side always holds it (when the
/// destination has pods); the source's egress side holds it when it applies
/// to the whole zone, or when the destination is not only pods.
fn deny_sides(
    ir: &Ir,
    rule: &Rule,
    piece: &Piece,
    sources: &[usize],
    destinations: &[usize],
    out: &mut Vec<Side>,
) {
    let whole_source = piece.source.pods == rule.source.pods;
    let external_destination = PeerSet {
        pods: PodSet::none(),
        ..piece.destination.clone()
    };
    let mut push = |zone: usize, direction: Direction, local: &PodSet, remote: &PeerSet| {
        let local = ir.zones[zone].pods.intersection(local);
        if local.is_empty() {
            return;
        }
        // Keep the zone's own terms when the piece covers all of them.
        let local = if ir.zones[zone].pods.difference(&local).is_empty() {
            ir.zones[zone].pods.clone()
        } else {
            local
        };
        out.push(Side {
            zone,
            direction,
            action: Action::Deny,
            local,
            remote: remote.clone(),
            ports: piece.ports.clone(),
            l7: rule.service.l7.clone(),
            span: rule.span,
        });
    };
    if whole_source || !external_destination.is_empty() {
        for &z in sources {
            push(z, Direction::Egress, &piece.source.pods, &piece.destination);
        }
    }
    for &z in destinations {
        push(
            z,
            Direction::Ingress,
            &piece.destination.pods,
            &piece.source,
        );
    }
}

/// Whether two rules can judge the same connection (a port overlap the
/// algebra cannot decide counts).
fn overlap(a: &Rule, b: &Rule) -> bool {
    let ports = match a.service.ports.intersection(&b.service.ports) {
        Ok(common) => !common.is_empty(),
        Err(_) => true,
    };
    ports
        && !a.source.intersection(&b.source).is_empty()
        && !a.destination.intersection(&b.destination).is_empty()
}

/// Part of a deny that an earlier tier's allow with a named port overrides
/// on some ports only: on `source` × `destination` (pods isolated for
/// ingress), Cilium cannot deny `ports` minus the allow's named port, so the
/// deny leaves the region to the destination's default deny. Its ingress
/// there then holds the earlier tiers' allows (named ports resolved on each
/// pod, exactly) and no allow of the deny's tier or later on `ports`.
#[derive(Debug, Clone)]
pub(super) struct Carve {
    tier: usize,
    source: PeerSet,
    destination: PodSet,
    ports: PortSet,
    deny: Span,
    allow: Span,
}

/// `piece − allow`, and whether a part was left to ingress isolation.
type Minus = (Vec<Piece>, bool);

/// The deny minus the allows of earlier tiers that it overlaps, and the
/// regions carved out of it; `None` (and an error) when that cannot be
/// written exactly.
fn narrow(
    ir: &Ir,
    isolated_ingress: &PodSet,
    tier: usize,
    deny: &Rule,
    errors: &mut Vec<Diagnostic>,
) -> Option<(Vec<Piece>, Vec<Carve>)> {
    let whole = Piece {
        source: deny.source.clone(),
        destination: deny.destination.clone(),
        ports: deny.service.ports.clone(),
        span: deny.span,
    };
    let mut pieces = vec![whole];
    let mut carves = Vec::new();
    let higher = ir.tiers[..tier]
        .iter()
        .flat_map(|t| t.rules.iter())
        .filter(|r| r.action == Action::Allow && overlap(deny, r));
    for allow in higher {
        let fail =
            |message: String, too_large: bool| not_exact(deny.span, allow.span, message, too_large);
        if !allow.service.l7.is_any() {
            errors.push(fail(
                "the allow filters requests, and Cilium's deny rules cannot be narrowed by a filter".to_string(),
                false,
            ));
            return None;
        }
        let mut next = Vec::new();
        for piece in pieces {
            match minus(&piece, allow, isolated_ingress) {
                Ok((rest, carved)) => {
                    next.extend(rest);
                    if carved {
                        // The whole overlap of the two rules: where the
                        // allow does not decide, the deny's pieces do.
                        let destination = deny.destination.intersection(&allow.destination).pods;
                        if !destination.difference(isolated_ingress).is_empty() {
                            errors.push(fail(
                                "the allow's named port cannot be left out of the deny's ports, and some pods both reach are not isolated for ingress (where their default deny could stand for the deny)".to_string(),
                                false,
                            ));
                            return None;
                        }
                        let carve = Carve {
                            tier,
                            source: deny.source.intersection(&allow.source),
                            destination,
                            ports: deny.service.ports.clone(),
                            deny: deny.span,
                            allow: allow.span,
                        };
                        if !carves.iter().any(|c: &Carve| c.same_region(&carve)) {
                            carves.push(carve);
                        }
                    }
                }
                Err(message) => {
                    errors.push(fail(message, false));
                    return None;
                }
            }
        }
        if next.len() > MAX_PIECES_PER_DENY {
            errors.push(fail(
                format!("the deny splits into more than {MAX_PIECES_PER_DENY} pieces"),
                true,
            ));
            return None;
        }
        pieces = next;
    }
    Some((pieces, carves))
}

impl Carve {
    fn same_region(&self, other: &Carve) -> bool {
        self.tier == other.tier
            && self.source == other.source
            && self.destination == other.destination
            && self.ports == other.ports
    }
}

/// `piece − allow` as a product difference:
/// (S−S')×T×P ∪ (S∩S')×(T−T')×P ∪ (S∩S')×(T∩T')×(P−P').
/// When P−P' meets a named port and T∩T' is pods isolated for ingress, the
/// last part is carved out instead (see [`Carve`]).
fn minus(piece: &Piece, allow: &Rule, isolated_ingress: &PodSet) -> Result<Minus, String> {
    let common_source = piece.source.intersection(&allow.source);
    let common_destination = piece.destination.intersection(&allow.destination);
    let common_ports = match piece.ports.intersection(&allow.service.ports) {
        Ok(ports) => ports,
        // Some ports in common whatever the pods name: a named port meets
        // numbers of its protocol.
        Err(_) => PortSet::all(),
    };
    if common_source.is_empty() || common_destination.is_empty() || common_ports.is_empty() {
        return Ok((vec![piece.clone()], false));
    }
    let mut out = Vec::new();
    let source_rest = piece.source.difference(&allow.source).map_err(|e| e.0)?;
    if !source_rest.is_empty() {
        out.push(Piece {
            source: source_rest,
            ..piece.clone()
        });
    }
    let destination_rest = piece
        .destination
        .difference(&allow.destination)
        .map_err(|e| e.0)?;
    if !destination_rest.is_empty() {
        out.push(Piece {
            source: common_source.clone(),
            destination: destination_rest,
            ..piece.clone()
        });
    }
    let ports_rest = match piece.ports.difference(&allow.service.ports) {
        Ok(rest) => rest,
        Err(named) => {
            let pods_only = PeerSet::pods(common_destination.pods.clone()) == common_destination;
            let isolated = common_destination
                .pods
                .difference(isolated_ingress)
                .is_empty();
            if pods_only && isolated {
                return Ok((out, true));
            }
            return Err(format!(
                "{named}, and the pods it reaches are not all isolated for ingress (where their default deny could stand for the deny)"
            ));
        }
    };
    if !ports_rest.is_empty() {
        out.push(Piece {
            source: common_source,
            destination: common_destination,
            ports: ports_rest,
            span: piece.span,
        });
    }
    Ok((out, false))
}

/// An allow side without the carved regions of denies in its tier or an
/// earlier one: only ingress sides hold them, and a side must cover a
/// region's pods wholly or not at all (a policy's allows apply to all its
/// pods).
fn carve_allow(
    tier: usize,
    side: Side,
    carves: &[Carve],
    errors: &mut Vec<Diagnostic>,
) -> Vec<Side> {
    let mut sides = vec![side];
    for carve in carves {
        let mut next = Vec::new();
        for side in sides {
            let meets = side.direction == Direction::Ingress
                && tier >= carve.tier
                && !side.local.intersection(&carve.destination).is_empty()
                && !side.remote.intersection(&carve.source).is_empty()
                && side
                    .ports
                    .intersection(&carve.ports)
                    .map_or(true, |p| !p.is_empty());
            if !meets {
                next.push(side);
                continue;
            }
            match carve_one(&side, carve) {
                Ok(rest) => next.extend(rest),
                Err(message) => {
                    errors.push(
                        not_exact(carve.deny, carve.allow, message, false).with_secondary(
                            side.span,
                            "allows part of what the deny leaves to the default deny",
                        ),
                    );
                    return Vec::new();
                }
            }
        }
        sides = next;
    }
    sides
}

/// side − source × destination × ports, for a side whose pods lie inside
/// the carve's destination.
fn carve_one(side: &Side, carve: &Carve) -> Result<Vec<Side>, String> {
    if !side.local.difference(&carve.destination).is_empty() {
        return Err("the allow's named port leaves part of the deny to the pods' default deny, and an allow of the deny's tier or a later one reaches some of those pods but not all of them (its rules would apply to all)".to_string());
    }
    let mut out = Vec::new();
    let others = side.remote.difference(&carve.source).map_err(|e| e.0)?;
    if !others.is_empty() {
        out.push(Side {
            remote: others,
            ..side.clone()
        });
    }
    let ports = side
        .ports
        .difference(&carve.ports)
        .map_err(|e| e.to_string())?;
    let common = side.remote.intersection(&carve.source);
    if !ports.is_empty() && !common.is_empty() {
        out.push(Side {
            remote: common,
            ports,
            ..side.clone()
        });
    }
    Ok(out)
}

fn not_exact(deny: Span, allow: Span, message: String, too_large: bool) -> Diagnostic {
    let help_for_names = message.contains("named port");
    Diagnostic::new(
        Code::NotExact,
        deny,
        format!("cannot write this deny for Cilium minus the allow of an earlier tier that overrides it: {message}"),
    )
    .with_label("this deny")
    .with_secondary(allow, "overrides part of it (earlier tier)")
    .with_help(if help_for_names {
        "write the earlier allow's named ports as numbers (Cilium's deny rules cannot leave out a named port), or build for `--target calico`, which keeps tiers"
    } else if too_large {
        "write the deny over whole zones, port ranges or CIDRs that contain the allow, so fewer pieces remain; or build for `--target calico`, which keeps tiers"
    } else {
        "rewrite the rules so the allow removes whole peers, ports or names from the deny (for example allow the same FQDN, or drop the filter from the earlier allow); or build for `--target calico`, which keeps tiers"
    })
}
