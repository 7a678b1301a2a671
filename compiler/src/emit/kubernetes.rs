//! `--target kubernetes`: networking.k8s.io/v1 NetworkPolicy, typed with
//! k8s-openapi, written from the zone-placed allow table
//! ([`crate::allow::zone_table`]).
//!
//! One policy per zone and direction in each namespace the zone covers,
//! `ZONE-DIRECTION`, holding the rules whose local side is that zone (or
//! contains it), as written. Only pods that NPL isolates, or that a deny
//! names, are selected: selecting a pod isolates it. NetworkPolicy has no
//! deny and no order, so a deny is carved out of the rules it meets, and
//! only those; where that cut changes which pods a rule is for, the pieces
//! get policies of their own, `nplc-ZONE-DIRECTION-N`. What NetworkPolicy
//! cannot say — names (FQDN), L7, ICMP, the API server without its
//! endpoints — is a coded error.
//!
//! The cluster's inventories ([`Options`]): the pod and Service ranges and
//! the API server's endpoints are excepted from every address block, and
//! `kube-apiserver` is written as its endpoints. Traffic between a pod and
//! its own node is left to Kubernetes, which always allows it; [`warnings`]
//! says where that, or a block written without the ranges, matters.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use rayon::prelude::*;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::common::protocol_name;
use super::names::resource_name;
use super::selectors::{label_selector, label_selectors, namespaces_of};
use super::{dedup_errors, metadata, target_error, Options, Resource, SourceLines, Target};
use crate::algebra::ipset::IpSet;
use crate::algebra::labels::{Requirement, Term, ValueSet};
use crate::algebra::ports::{PortSet, Protocol, FIRST_PORT, LAST_PORT};
use crate::allow::{zone_table, AllowError, ZoneEntry, ZoneTable};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::inventory::{ApiPort, ApiServer, Namespace, APISERVER_SERVICE_PORT};
use crate::ir::{Action, Direction, Entity};
use crate::ir::{Ir, PeerSet, PodSet, PodTerm, Service, NAMESPACE_NAME_LABEL};

const TARGET: Target = Target::Kubernetes;

/// Table entries worked out on every core at a time.
const ENTRIES_PER_CHUNK: usize = 4096;

pub fn emit(
    ir: &Ir,
    options: &Options,
    sources: &SourceLines<'_>,
    allow_error: &dyn Fn(&AllowError) -> Diagnostic,
) -> Result<Vec<Resource>, Vec<Diagnostic>> {
    let addresses = Addresses::new(options);
    // 443 and 6443 are one listener towards the API server: its endpoints'
    // port is allowed (or denied) by a rule naming either.
    let with_listener = crate::ir::listener::with_apiserver_listener(ir);
    let ir: &Ir = &with_listener;
    // One direction after the other, each on every core: a direction's
    // table is dropped before the next is built.
    let mut errors = Vec::new();
    let mut resources = Vec::new();
    for direction in [Direction::Ingress, Direction::Egress] {
        let table = zone_table(ir, direction, options.namespaces.as_deref())
            .map_err(|e| vec![allow_error(&e)])?;
        let groups = group_policies(ir, direction, &table, options, &addresses, &mut errors);
        drop(table);
        // Names in order, then the source annotations and the YAML on
        // every core (in order: an indexed parallel extend).
        let drafts = policies(ir, direction, groups);
        resources.par_extend(drafts.into_par_iter().map(|d| d.render(sources)));
    }
    if errors.is_empty() {
        Ok(resources)
    } else {
        dedup_errors(&mut errors);
        Err(errors)
    }
}

/// A policy in the making: its subject and the rules collected for it.
#[derive(Default)]
struct Group {
    /// It selects what its zone's policy was planned to select here (not
    /// a piece a deny cut off).
    whole: bool,
    rules: Vec<PolicyRule>,
    /// The rules it holds and the denies that cut them.
    spans: Vec<Span>,
    /// Why its pods are selected, for a policy without rules.
    origin: Vec<Span>,
}

#[derive(Clone, PartialEq)]
struct PolicyRule {
    /// `None`: every peer.
    peers: Option<Vec<NetworkPolicyPeer>>,
    /// `None`: every port.
    ports: Option<Vec<NetworkPolicyPort>>,
}

/// Where an entry goes: a zone's policy for `term`'s pods.
#[derive(Clone, Copy)]
struct Placement<'a> {
    zone: usize,
    whole: bool,
    rule: Option<&'a PolicyRule>,
    spans: &'a [Span],
    /// `spans` say why the pods are selected, not which rules they hold.
    origin: bool,
}

/// A pod selector and the policy for it.
type Selected = (Vec<Requirement>, Group);

/// (namespace, zone index, pod selector).
type GroupKey = (String, usize, Vec<Requirement>);

fn group_policies(
    ir: &Ir,
    direction: Direction,
    table: &ZoneTable,
    options: &Options,
    addresses: &Addresses<'_>,
    errors: &mut Vec<Diagnostic>,
) -> BTreeMap<GroupKey, Group> {
    // Every error points at a rule or zone; the prelude's zones always exist.
    let fallback = ir
        .rules()
        .next()
        .map(|r| r.span)
        .or_else(|| ir.zones.iter().find_map(|z| z.span));
    let Some(fallback) = fallback else {
        return BTreeMap::new();
    };
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    let mut add = |at: Placement<'_>,
                   site: &Site,
                   why: &dyn Fn() -> Diagnostic,
                   errors: &mut Vec<Diagnostic>| {
        let Some(namespaces) = &site.namespaces else {
            errors.push(why());
            return;
        };
        for namespace in namespaces {
            for conj in &site.conjunctions {
                let group = groups
                    .entry((namespace.clone(), at.zone, conj.clone()))
                    .or_default();
                group.whole |= at.whole;
                if let Some(rule) = at.rule {
                    if !group.rules.contains(rule) {
                        group.rules.push(rule.clone());
                    }
                }
                if at.origin {
                    group.origin.extend_from_slice(at.spans);
                } else {
                    group.spans.extend_from_slice(at.spans);
                }
            }
        }
    };
    let inventory = options.namespaces.as_deref();
    // Every selected pod is in a policy, even one without rules (isolation).
    for subject in table.subjects.iter().filter(|s| s.contained_in.is_empty()) {
        let why = || {
            needs_namespaces(
                ir,
                subject.zone,
                &subject.term,
                &subject.origin,
                None,
                fallback,
            )
        };
        let at = Placement {
            zone: subject.zone,
            whole: true,
            rule: None,
            spans: &subject.origin,
            origin: true,
        };
        add(at, &Site::of(&subject.term, inventory), &why, errors);
    }
    // Each entry's rules and where they go, on every core, a chunk at a
    // time; then gathered into the groups in table order.
    for chunk in table.entries.chunks(ENTRIES_PER_CHUNK) {
        let written: Vec<(Site, Option<Written>)> = chunk
            .par_iter()
            .map(|entry| {
                let rules = (!entry.remote.is_empty()).then(|| {
                    policy_rules(entry, direction, anchor(ir, entry, fallback), addresses)
                });
                (Site::of(&entry.local, inventory), rules)
            })
            .collect();
        for (entry, (site, rules)) in chunk.iter().zip(written) {
            let mut spans: Vec<Span> = entry.rule.into_iter().collect();
            spans.extend(&entry.denies);
            let why = || {
                let deny = (!entry.whole).then_some(entry.denies.as_slice());
                needs_namespaces(ir, entry.zone, &entry.local, &entry.denies, deny, fallback)
            };
            let at = Placement {
                zone: entry.zone,
                whole: entry.whole,
                rule: None,
                spans: &spans,
                origin: false,
            };
            let Some(rules) = rules else {
                // A rule its denies take whole: only the record.
                add(at, &site, &why, errors);
                continue;
            };
            match rules {
                Ok(rules) => {
                    for rule in &rules {
                        let at = Placement {
                            rule: Some(rule),
                            ..at
                        };
                        add(at, &site, &why, errors);
                    }
                }
                Err(mut diag) => {
                    if entry.rule.is_none() {
                        // The isolation default written out: say why it exists.
                        diag.message = format!(
                        "{}: this deny gives pods that are not isolated a policy, and that policy must allow everything else the program allows",
                        diag.message
                    );
                    }
                    errors.push(diag)
                }
            }
        }
    }
    groups
}

/// An entry's NetworkPolicy rules, or why they cannot be written.
type Written = Result<Vec<PolicyRule>, Diagnostic>;

/// Where a pod term's policies go: its namespaces (`None`: it would take
/// an inventory to know) and the pod selectors of its conjunctions.
struct Site {
    namespaces: Option<Vec<String>>,
    conjunctions: Vec<Vec<Requirement>>,
}

impl Site {
    fn of(term: &PodTerm, inventory: Option<&[Namespace]>) -> Site {
        let namespaces = namespaces_of(term, inventory);
        // Without namespaces nothing is placed: skip the selectors.
        let conjunctions = match namespaces {
            Some(_) => term.pod.to_requirements(),
            None => Vec::new(),
        };
        Site {
            namespaces,
            conjunctions,
        }
    }
}

/// The span an entry's errors point at.
fn anchor(ir: &Ir, entry: &ZoneEntry, fallback: Span) -> Span {
    entry
        .rule
        .or_else(|| entry.denies.first().copied())
        .or_else(|| ir.zones.get(entry.zone).and_then(|z| z.span))
        .unwrap_or(fallback)
}

/// E0406: a policy's pods are not in namespaces named in the source. `cut`
/// holds the denies when a deny's cut is what made the selector depend on
/// namespace labels.
fn needs_namespaces(
    ir: &Ir,
    zone: usize,
    term: &PodTerm,
    origin: &[Span],
    cut: Option<&[Span]>,
    fallback: Span,
) -> Diagnostic {
    let zone_def = ir.zones.get(zone);
    let name = zone_def.map_or("a zone", |z| z.name.as_str());
    let span = zone_def
        .and_then(|z| z.span)
        .or_else(|| origin.first().copied())
        .unwrap_or(fallback);
    if let Some(denies) = cut.filter(|d| !d.is_empty()) {
        let mut diag = target_error(
            Code::NeedsNamespaces,
            span,
            TARGET,
            format!(
                "a deny selects pods by namespace label and cuts `{name}`'s policy along that label, and a NetworkPolicy selects pods only inside its own namespace"
            ),
            &format!(
                "pass the cluster's namespaces with `--namespaces NS.yaml` (from `kubectl get ns -o yaml`) so nplc knows which of `{name}`'s namespaces the deny covers, or name the deny's namespaces (`namespace \"...\"`) so the cut follows namespace names, or use `--target cilium`, which keeps the deny as a deny rule"
            ),
        );
        for deny in denies {
            diag = diag.with_secondary(*deny, format!("this deny cuts `{name}`'s policy"));
        }
        return diag;
    }
    // A zone pinned to namespace names whose policy still depends on
    // namespace labels: only some of its pods are isolated, those that other
    // zones selecting namespaces by label isolate.
    let pinned = zone_def.is_some_and(|z| {
        !z.pods.terms.is_empty()
            && z.pods.terms.iter().all(|t| {
                let names = t.namespace.constraint(NAMESPACE_NAME_LABEL);
                matches!(&names.values, ValueSet::Only(n) if !n.is_empty()) && !names.absent
            })
    });
    let what = if pinned {
        "needs a policy only where its namespace has the labels that other zones select namespaces by, and a NetworkPolicy cannot select on a namespace's labels"
    } else if term.namespace == Term::all() {
        "selects pods in every namespace, and a NetworkPolicy lives in one namespace"
    } else {
        "selects namespaces by label, and a NetworkPolicy lives in one namespace"
    };
    let isolating = zone_def.is_some_and(|z| z.span.is_some() && origin.contains(&span));
    let help = if pinned {
        format!(
            "pass the cluster's namespaces with `--namespaces NS.yaml` (from `kubectl get ns -o yaml`) so nplc knows which labels `{name}`'s namespace has, name the namespaces of the zones that select by label (`namespace \"...\"`), or use `--target cilium`, which selects namespaces by label"
        )
    } else if isolating || origin.is_empty() {
        "pass the cluster's namespaces with `--namespaces NS.yaml` (from `kubectl get ns -o yaml`) to expand the policy per namespace, or use `--target cilium`, which selects namespaces by label".to_string()
    } else {
        format!(
            "the deny makes `{name}`'s pods need a policy: pass the cluster's namespaces with `--namespaces NS.yaml` (from `kubectl get ns -o yaml`) to write it per namespace, name `{name}`'s namespaces (`namespace \"...\"`), or use `--target cilium`, which keeps the deny as a deny rule"
        )
    };
    let mut diag = target_error(
        Code::NeedsNamespaces,
        span,
        TARGET,
        format!("`{name}` {what}"),
        &help,
    );
    if !isolating {
        // Not isolated: a deny names these pods, so they need a policy.
        for deny in origin.iter().filter(|d| **d != span) {
            diag = diag.with_secondary(*deny, format!("this deny gives `{name}` a policy"));
        }
    }
    diag
}

/// What the inventories say about addresses.
struct Addresses<'a> {
    /// Addresses that are not `world` nor a `cidr` peer's: the pod and
    /// Service ranges (pods and Services are matched as pods) and the API
    /// server's endpoints (matched as `kube-apiserver`). Excepted from every
    /// address block, so that a CNI whose ipBlocks also match pods allows no
    /// more than the program.
    reserved: IpSet,
    apiserver: Option<&'a ApiServer>,
}

impl<'a> Addresses<'a> {
    fn new(options: &'a Options) -> Addresses<'a> {
        let mut reserved = IpSet::none();
        for net in &options.cluster_ranges {
            reserved = reserved.union(&IpSet::from_net(*net));
        }
        for ip in options.apiserver.iter().flat_map(|a| a.endpoints.keys()) {
            reserved = reserved.union(&IpSet::from_addr(*ip));
        }
        Addresses {
            reserved,
            apiserver: options.apiserver.as_ref(),
        }
    }
}

/// An allow-table entry as NetworkPolicy rules: its peers with its ports,
/// and the API server's endpoints with theirs; none when nothing of it
/// needs writing (it allows only what Kubernetes always allows).
fn policy_rules(
    entry: &ZoneEntry,
    direction: Direction,
    anchor: Span,
    addresses: &Addresses<'_>,
) -> Result<Vec<PolicyRule>, Diagnostic> {
    let error =
        |code: Code, message: String, help: &str| target_error(code, anchor, TARGET, message, help);
    let ports = ports(&entry.service).map_err(|(code, msg, help)| error(code, msg, help))?;
    let Some(ports) = ports else {
        return Ok(Vec::new());
    };
    let peers =
        peers(&entry.remote, addresses).map_err(|(code, msg, help)| error(code, msg, help))?;
    let mut out = Vec::new();
    match peers {
        // Every peer, the API server's endpoints included.
        Peers::Everyone => {
            return Ok(vec![PolicyRule { peers: None, ports }]);
        }
        Peers::Some(list) if list.is_empty() => {}
        Peers::Some(list) => out.push(PolicyRule {
            peers: Some(list),
            ports: ports.clone(),
        }),
    }
    if let Some(api) = addresses.apiserver {
        if entry.remote.entities.contains(&Entity::KubeApiserver) {
            out.extend(apiserver_rules(api, &entry.service, direction, &ports));
        }
    }
    Ok(out)
}

/// `kube-apiserver` as its endpoints: one /32 or /128 block per address.
/// As a destination, only the ports the endpoints serve on, where the rule
/// allows that port or the `kubernetes` Service's port (443) that is
/// rewritten to it before NetworkPolicy sees the packet; as a source, the
/// rule's ports (those of the local pods).
fn apiserver_rules(
    api: &ApiServer,
    service: &Service,
    direction: Direction,
    ports: &Option<Vec<NetworkPolicyPort>>,
) -> Vec<PolicyRule> {
    let block = |ip: &IpAddr| NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: IpNet::from(*ip).to_string(),
            except: None,
        }),
        ..Default::default()
    };
    if direction == Direction::Ingress {
        return vec![PolicyRule {
            peers: Some(api.endpoints.keys().map(block).collect()),
            ports: ports.clone(),
        }];
    }
    let allows = |p: &ApiPort| {
        service.ports.contains(p.protocol, p.number, None)
            || (api.is_service_target(p)
                && service
                    .ports
                    .contains(Protocol::Tcp, APISERVER_SERVICE_PORT, None))
    };
    // Addresses grouped by the ports written for them.
    let mut by_ports: BTreeMap<Vec<(Protocol, u16)>, Vec<&IpAddr>> = BTreeMap::new();
    for (ip, served) in &api.endpoints {
        let mut kept: Vec<(Protocol, u16)> = served
            .iter()
            .filter(|p| allows(p))
            .map(|p| (p.protocol, p.number))
            .collect();
        kept.sort();
        kept.dedup();
        if !kept.is_empty() {
            by_ports.entry(kept).or_default().push(ip);
        }
    }
    by_ports
        .into_iter()
        .map(|(kept, ips)| PolicyRule {
            peers: Some(ips.into_iter().map(block).collect()),
            ports: Some(
                kept.into_iter()
                    .map(|(protocol, number)| NetworkPolicyPort {
                        protocol: Some(protocol_name(protocol).to_string()),
                        port: Some(IntOrString::Int(i32::from(number))),
                        end_port: None,
                    })
                    .collect(),
            ),
        })
        .collect()
}

enum Peers {
    Everyone,
    Some(Vec<NetworkPolicyPeer>),
}

type TargetProblem = (Code, String, &'static str);

fn peers(remote: &PeerSet, addresses: &Addresses<'_>) -> Result<Peers, TargetProblem> {
    let all_addresses = remote.ips == IpSet::all();
    // Every peer at once, unless the API server's addresses are known and
    // this rule does not reach them (nor the node, which shares them).
    let reaches_apiserver_addresses = addresses.apiserver.is_none()
        || (remote.entities.contains(&Entity::KubeApiserver)
            && remote.entities.contains(&Entity::Host));
    if all_addresses && remote.pods == PodSet::all() && reaches_apiserver_addresses {
        return Ok(Peers::Everyone);
    }
    // "Every name" (from `world`) is enforced by address: names resolve to
    // addresses, and the addresses allowed here are what the program allows.
    // This can only narrow (a name resolving into a denied range stays denied).
    if !remote.fqdns.is_empty() && !remote.fqdns.is_all() {
        return Err((
            Code::FqdnNeedsVia,
            format!(
                "NetworkPolicy cannot match host names ({})",
                super::fqdn_list(&remote.fqdns)
            ),
            "route the traffic through an egress gateway with `via` (see `gateway`), or build for `--target cilium`, which matches names with toFQDNs",
        ));
    }
    for entity in &remote.entities {
        // Kubernetes always allows traffic between a pod and its own node
        // (NetworkPolicy documentation, "IP blocks"), both ways; towards the
        // nodes, leaving it to the platform can only narrow (W0015).
        let always_allowed = matches!(entity, Entity::Host | Entity::Health);
        let known = *entity == Entity::KubeApiserver && addresses.apiserver.is_some();
        if always_allowed || known || all_addresses {
            continue;
        }
        let (message, help) = match entity {
            Entity::KubeApiserver => (
                "NetworkPolicy has no selector for `kube-apiserver`; nplc writes it as the API server's endpoint addresses once it is given them".to_string(),
                "pass the API server's endpoints with `--apiserver-endpoints FILE` (from `kubectl get endpointslice -n default -l kubernetes.io/service-name=kubernetes -o yaml`), or set `apiserver-endpoints = \"FILE\"` under `[cluster]` in nplc.toml; or build for `--target cilium`, which has the entity",
            ),
            _ => (
                format!("NetworkPolicy has no selector for `{}`", entity.name()),
                "name its addresses with a `cidr` peer instead, or build for `--target cilium`, which has entities",
            ),
        };
        return Err((Code::EntityNotExpressible, message, help));
    }
    let mut list = Vec::new();
    for term in &remote.pods.terms {
        for ns in label_selectors(&term.namespace) {
            for pod in label_selectors(&term.pod) {
                list.push(NetworkPolicyPeer {
                    namespace_selector: Some(ns.clone()),
                    pod_selector: (pod != LabelSelector::default()).then_some(pod),
                    ip_block: None,
                });
            }
        }
    }
    for (cidr, except) in remote.ips.difference(&addresses.reserved).to_blocks() {
        list.push(NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: cidr.to_string(),
                except: (!except.is_empty())
                    .then(|| except.iter().map(|e| e.to_string()).collect()),
            }),
            ..Default::default()
        });
    }
    Ok(Peers::Some(list))
}

/// `Ok(None)`: no port at all (nothing to write); `Ok(Some(None))`: every port.
#[allow(clippy::type_complexity)]
fn ports(service: &Service) -> Result<Option<Option<Vec<NetworkPolicyPort>>>, TargetProblem> {
    if !service.l7.is_any() {
        return Err((
            Code::L7NotSupported,
            "NetworkPolicy cannot filter HTTP requests or DNS names".to_string(),
            "build for `--target cilium`, which enforces `http` and `dns` rules, or drop the L7 block",
        ));
    }
    let ports = &service.ports;
    if ports.is_empty() {
        return Ok(None);
    }
    if *ports == PortSet::all() {
        return Ok(Some(None));
    }
    if ports.has_icmp() {
        return Err((
            Code::IcmpNotSupported,
            "NetworkPolicy cannot allow ICMP".to_string(),
            "build for `--target cilium` or `--target calico`, which match ICMP, or drop `icmp`",
        ));
    }
    let mut out = Vec::new();
    for protocol in Protocol::ALL {
        let name = protocol_name(protocol);
        for &(lo, hi) in ports.ranges(protocol).ranges() {
            let every = lo == FIRST_PORT && hi == LAST_PORT;
            out.push(NetworkPolicyPort {
                protocol: Some(name.to_string()),
                port: (!every).then_some(IntOrString::Int(i32::from(lo))),
                end_port: (!every && hi > lo).then_some(i32::from(hi)),
            });
        }
    }
    for (protocol, port_name) in ports.named_ports() {
        out.push(NetworkPolicyPort {
            protocol: Some(protocol_name(*protocol).to_string()),
            port: Some(IntOrString::String(port_name.clone())),
            end_port: None,
        });
    }
    Ok(Some(Some(out)))
}

fn policies(ir: &Ir, direction: Direction, groups: BTreeMap<GroupKey, Group>) -> Vec<Draft> {
    let dir = match direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    };
    // Per namespace and zone: the first whole selector (in selector order)
    // is the zone's policy; the others are numbered in selector order.
    let mut by_zone: BTreeMap<(String, usize), Vec<Selected>> = BTreeMap::new();
    for ((namespace, zone, conj), group) in groups {
        by_zone
            .entry((namespace, zone))
            .or_default()
            .push((conj, group));
    }
    let mut out = Vec::new();
    for ((namespace, zone), mut list) in by_zone {
        list.sort_by_key(|(_, g)| !g.whole);
        let zone_name = ir.zones.get(zone).map_or("pods", |z| z.name.as_str());
        let mut number = 0;
        let mut named = false;
        for (conj, group) in list {
            let name = if group.whole && !named {
                named = true;
                resource_name(&[zone_name, dir])
            } else {
                number += 1;
                resource_name(&["nplc", zone_name, dir, &number.to_string()])
            };
            let spans = if group.spans.is_empty() {
                group.origin
            } else {
                group.spans
            };
            out.push(Draft {
                name,
                namespace: namespace.clone(),
                direction,
                conj,
                rules: group.rules,
                spans,
            });
        }
    }
    out
}

/// A policy with its name, to be annotated and written (on every core).
struct Draft {
    name: String,
    namespace: String,
    direction: Direction,
    conj: Vec<Requirement>,
    rules: Vec<PolicyRule>,
    /// The program's lines it comes from.
    spans: Vec<Span>,
}

impl Draft {
    fn render(self, sources: &SourceLines<'_>) -> Resource {
        let Draft {
            name,
            namespace,
            direction,
            conj,
            rules,
            spans,
        } = self;
        let (ingress, egress) = match direction {
            Direction::Ingress => (
                rules
                    .into_iter()
                    .map(|r| NetworkPolicyIngressRule {
                        from: r.peers,
                        ports: r.ports,
                    })
                    .collect(),
                Vec::new(),
            ),
            Direction::Egress => (
                Vec::new(),
                rules
                    .into_iter()
                    .map(|r| NetworkPolicyEgressRule {
                        to: r.peers,
                        ports: r.ports,
                    })
                    .collect(),
            ),
        };
        let policy = NetworkPolicy {
            metadata: metadata(&name, Some(&namespace), &sources.describe(&spans)),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(label_selector(&conj)),
                policy_types: Some(vec![if direction == Direction::Ingress {
                    "Ingress".to_string()
                } else {
                    "Egress".to_string()
                }]),
                ingress: (!ingress.is_empty()).then_some(ingress),
                egress: (!egress.is_empty()).then_some(egress),
            }),
        };
        Resource {
            api_version: "networking.k8s.io/v1".to_string(),
            kind: "NetworkPolicy".to_string(),
            namespace: Some(namespace),
            name,
            document: super::to_yaml(&policy),
        }
    }
}

/// The ranges clusters take pod and Service addresses from: RFC 1918, the
/// shared space of RFC 6598 (100.64.0.0/10), IPv6 unique local addresses.
const PRIVATE_RANGES: [&str; 5] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
];

/// The warnings of a kubernetes build: W0014 (address blocks without the
/// cluster's ranges) and W0015 (`host` egress left to the platform).
pub fn warnings(ir: &Ir, options: &Options) -> Vec<Diagnostic> {
    let mut out = unranged_blocks(ir, options);
    out.extend(host_egress(ir));
    out
}

/// W0015 for each `allow` towards `host` or `health`: NetworkPolicy always
/// allows a pod its own node, so nothing is written; CNIs that apply egress
/// policy to node traffic anyway (Calico, Cilium) then block it, and the
/// other nodes' health endpoints are not reached.
fn host_egress(ir: &Ir) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    // A rule the listener split is one warning (a set: programs have 100,000s).
    let mut warned: HashSet<Span> = HashSet::new();
    for rule in ir.rules().filter(|r| r.action == Action::Allow) {
        let entity = [Entity::Host, Entity::Health]
            .into_iter()
            .find(|e| rule.destination.entities.contains(e));
        let Some(entity) = entity else { continue };
        if rule.destination.ips == IpSet::all()
            || rule.source.pods.terms.is_empty()
            || !warned.insert(rule.span)
        {
            continue;
        }
        out.push(
            Diagnostic::new(
                Code::HostLeftToPlatform,
                rule.span,
                format!(
                    "on `kubernetes` nothing is written for `{}`: NetworkPolicy always allows a pod to reach its own node, but CNIs that apply egress policy to node traffic (Calico, Cilium) drop it unless a policy allows the node's address",
                    entity.name()
                ),
            )
            .with_label("left to the platform on `kubernetes`")
            .with_help("build for `--target cilium` (entity `host`) or `--target calico` where the CNI polices node traffic; a `cidr` peer of the nodes' addresses would reach every node, not only the pod's own"),
        );
    }
    out
}

/// W0014 for each `allow` whose addresses the kubernetes target writes as an
/// ipBlock that may hold the cluster's pod or Service addresses, when the
/// build does not know those ranges (`options.cluster_ranges`). Some CNIs
/// (Calico among them) match pods with ipBlocks, so there such a block
/// also lets pods through that the program does not allow.
fn unranged_blocks(ir: &Ir, options: &Options) -> Vec<Diagnostic> {
    if !options.cluster_ranges.is_empty() {
        return Vec::new();
    }
    let private = PRIVATE_RANGES
        .iter()
        .filter_map(|r| r.parse::<IpNet>().ok())
        .fold(IpSet::none(), |set, net| set.union(&IpSet::from_net(net)));
    let mut out: Vec<Diagnostic> = Vec::new();
    let mut warned: HashSet<Span> = HashSet::new();
    for rule in ir.rules().filter(|r| r.action == Action::Allow) {
        let side = [&rule.source, &rule.destination]
            .into_iter()
            .find(|side| !side.ips.intersection(&private).is_empty());
        let Some(side) = side else { continue };
        if !warned.insert(rule.span) {
            continue;
        }
        let what = if side.ips == IpSet::all() {
            "every address (0.0.0.0/0, ::/0)".to_string()
        } else {
            let blocks = side.ips.to_blocks();
            let mut shown: Vec<String> = blocks
                .iter()
                .take(2)
                .map(|(cidr, except)| match except.as_slice() {
                    [] => cidr.to_string(),
                    list => {
                        let list: Vec<String> = list.iter().map(|e| e.to_string()).collect();
                        format!("{cidr} except {}", list.join(", "))
                    }
                })
                .collect();
            if blocks.len() > 2 {
                shown.push("…".to_string());
            }
            shown.join("; ")
        };
        out.push(
            Diagnostic::new(
                Code::UnrangedAddressBlock,
                rule.span,
                format!(
                    "on `kubernetes` this rule is an ipBlock of {what}, which may hold the cluster's pod and Service addresses; on CNIs whose ipBlocks also match pods (Calico) it allows those pods too"
                ),
            )
            .with_label("written as an ipBlock without the cluster's ranges")
            .with_help("pass the cluster's ranges with `--cluster-cidr CIDR` and `--service-cidr CIDR` (or `cluster-cidr`/`service-cidr` under `[cluster]` in nplc.toml): nplc writes them as `except` of every block that covers them"),
        );
    }
    out
}
