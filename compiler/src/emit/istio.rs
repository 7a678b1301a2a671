//! `--target istio`: the routing half of `via`. For every external host an
//! `allow … via GATEWAY` names, networking.istio.io/v1 resources that send
//! the source zone's traffic to that host through the egress gateway. The
//! network policy half (source → gateway pods, gateway → host, no direct
//! path) comes from the network-layer target built alongside.
//!
//! Per (gateway, host), with `G` the gateway zone's namespace and `S` each
//! namespace of the `via` rules' sources:
//! - in `S`: a ServiceEntry for the host, a DestinationRule for the gateway's
//!   Service (one per gateway, a subset per host) and a VirtualService bound
//!   to `mesh` that sends the host's traffic to the gateway, matching the
//!   source zone's pod labels (`sourceLabels`). All `exportTo: ["."]`, so the
//!   routing applies to the source namespaces only.
//! - in `G`: the Gateway (selector = the gateway zone's pod labels), a
//!   ServiceEntry for the host (the gateway must know it) and a
//!   VirtualService bound to the Gateway that sends the host's traffic out,
//!   both `exportTo: ["."]`.
//!
//! The gateway's Service is named after its zone, in the zone's namespace.
//! Its port follows the pod port as the Istio charts map them (8443 → 443,
//! 8080 → 80, otherwise the same number); Service port 80 carries plain
//! HTTP (`http` routes, where `http { }` filters apply), any other TLS
//! passed through on SNI (`tls` routes).
//!
//! What Istio cannot route exactly is a coded error; see docs/targets.md.

mod crd;

use std::collections::{BTreeMap, BTreeSet};

use self::crd::{
    Destination, DestinationRuleSpec, GatewaySpec, HttpMatch, HttpRoute, Port, PortSelector,
    RouteDestination, Server, ServerTls, ServiceEntrySpec, StringMatch, Subset, TlsMatch, TlsRoute,
    VirtualServiceSpec, API_VERSION, MESH, THIS_NAMESPACE,
};
use super::dedup_errors;
use super::names::resource_name;
use super::selectors::pinned_names;
use super::{metadata, target_error, Resource, SourceLines, Target};
use crate::algebra::fqdn::FqdnPattern;
use crate::algebra::labels::{Operator, Term};
use crate::algebra::ports::{PortSet, Protocol};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::ir::{self, Action, DefId, Ir, PeerSet, RuleRole, L7};

const TARGET: Target = Target::Istio;

/// The cluster's DNS domain in Service host names.
const CLUSTER_DOMAIN: &str = "svc.cluster.local";

pub fn emit(ir: &Ir, sources: &SourceLines<'_>) -> Result<Vec<Resource>, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut routes: BTreeMap<(String, String), Route> = BTreeMap::new();
    for via in &ir.vias {
        // A `deny … via` closes paths; there is nothing to route.
        if via.action != Action::Allow {
            continue;
        }
        match via_rule(ir, via.span, via.gateway) {
            Ok(found) => {
                for via in found {
                    add_route(&mut routes, via, &mut errors);
                }
            }
            Err(e) => errors.extend(e),
        }
    }
    check_one_gateway_per_host(&routes, &mut errors);
    if !errors.is_empty() {
        dedup_errors(&mut errors);
        return Err(errors);
    }
    Ok(resources(&routes, sources))
}

/// Where a gateway's pods and Service are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    name: String,
    namespace: String,
    selector: BTreeMap<String, String>,
    /// The gateway's Service: its name (the zone's) and
    /// `NAME.NAMESPACE.svc.cluster.local`.
    service: String,
    service_host: String,
    service_port: u16,
    http: bool,
    span: Option<Span>,
}

/// Pod labels for `sourceLabels` (`None`: every pod of the namespace).
type SourceLabels = Option<BTreeMap<String, String>>;
/// Source namespace → the pods to match there.
type Sources = BTreeMap<String, BTreeSet<SourceLabels>>;

/// One `via` rule's contribution to one host.
struct Via {
    place: Place,
    host: String,
    port: u16,
    sources: Sources,
    l7: L7,
    span: Span,
}

/// Everything routed to one host through one gateway.
struct Route {
    place: Place,
    host: String,
    port: u16,
    sources: Sources,
    l7s: Vec<L7>,
    spans: Vec<Span>,
}

fn via_rule(ir: &Ir, span: Span, gateway: DefId) -> Result<Vec<Via>, Vec<Diagnostic>> {
    let gw = ir.gateways.iter().find(|g| g.def == gateway);
    let to = ir
        .rules()
        .find(|r| r.span == span && r.role == RuleRole::ToGateway);
    let from = ir
        .rules()
        .find(|r| r.span == span && r.role == RuleRole::FromGateway);
    let (Some(gw), Some(to), Some(from)) = (gw, to, from) else {
        // Lowering always gives both halves of a resolved `via`.
        return Ok(Vec::new());
    };
    let place = place(gw, span).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let sources = source_namespaces(&to.source, span).unwrap_or_else(|e| {
        errors.push(e);
        BTreeMap::new()
    });
    let port = host_port(from.ports(), &place, span).unwrap_or_else(|e| {
        errors.push(e);
        0
    });
    if let Err(e) = check_l7(&from.service.l7, &place, span) {
        errors.push(e);
    }
    let mut hosts = Vec::new();
    for pattern in from.destination.fqdns.patterns() {
        match pattern {
            FqdnPattern::Name(host) => hosts.push(host.clone()),
            FqdnPattern::Wildcard(suffix) => errors.push(target_error(
                Code::WildcardViaHost,
                span,
                TARGET,
                format!("`*.{suffix}` cannot be routed through an egress gateway: TLS passthrough to a wildcard host needs an SNI proxy in the gateway, which Istio does not configure from these resources"),
                "name each host the source needs (`fqdn \"api.example.com\"`), or drop `via` and match the wildcard on a name-matching target (`--target cilium`)",
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(hosts
        .into_iter()
        .map(|host| Via {
            place: place.clone(),
            host,
            port,
            sources: sources.clone(),
            l7: from.service.l7.clone(),
            span,
        })
        .collect())
}

/// The gateway zone as one namespace and a pod selector of `=` labels, and
/// its Service as the zone's name in that namespace (names are DNS labels,
/// as `check` makes sure).
/// Errors point at the gateway's definition (`rule`, the `via` rule, when it
/// has none).
fn place(gw: &ir::Gateway, rule: Span) -> Result<Place, Diagnostic> {
    let zone = gw.zone_name.clone().unwrap_or_default();
    let error = |why: String| {
        let span = gw.span.unwrap_or(rule);
        target_error(
            Code::GatewayNotAddressable,
            span,
            TARGET,
            format!("gateway `{}` cannot be addressed by Istio: {why}", gw.name),
            "give the gateway its own zone with one `namespace \"NAME\"` line and `pods` labels written with `=`, named after the gateway's Service (std/k8s's `istio-egressgateway` is)",
        )
    };
    let [term] = gw.pods.terms.as_slice() else {
        return Err(error(format!(
            "its zone `{zone}` is not one namespace and one pod selector"
        )));
    };
    let namespace = match pinned_names(&term.namespace).as_deref() {
        Some([one]) => one.clone(),
        _ => {
            return Err(error(format!(
                "its zone `{zone}` does not name exactly one namespace (the Gateway and its routes live there)"
            )))
        }
    };
    let selector = match equality_labels(&term.pod) {
        Some(labels) if !labels.is_empty() => labels,
        _ => {
            let why = "does not select its pods by `=` labels (the Gateway's `selector`)";
            return Err(error(format!("its zone `{zone}` {why}")));
        }
    };
    let service_port = match gw.port {
        8443 => 443,
        8080 => 80,
        other => other,
    };
    Ok(Place {
        name: gw.name.clone(),
        service_host: format!("{zone}.{namespace}.{CLUSTER_DOMAIN}"),
        service: zone,
        namespace,
        selector,
        service_port,
        http: service_port == 80,
        span: gw.span,
    })
}

/// The source pods as namespace names and `sourceLabels`.
fn source_namespaces(source: &PeerSet, span: Span) -> Result<Sources, Diagnostic> {
    let error = |why: &str| {
        target_error(
            Code::ViaSourceNotScoped,
            span,
            TARGET,
            format!("the source of this `via` cannot be scoped by Istio: {why}"),
            "write the source as zones with `namespace \"NAME\"` lines (and `pods` labels written with `=`): the routing resources are placed in those namespaces and visible there only",
        )
    };
    if !source.ips.is_empty() || !source.fqdns.is_empty() || !source.entities.is_empty() {
        return Err(error(
            "only pods with sidecars can be routed, and it includes addresses, names or entities",
        ));
    }
    let mut out = Sources::new();
    for term in &source.pods.terms {
        let Some(names) = pinned_names(&term.namespace) else {
            return Err(error(
                "it selects namespaces by label (or every namespace), and `exportTo` takes namespace names",
            ));
        };
        let Some(labels) = equality_labels(&term.pod) else {
            return Err(error(
                "it selects pods with operators other than `=`, and `sourceLabels` takes labels",
            ));
        };
        for name in names {
            out.entry(name)
                .or_default()
                .insert((!labels.is_empty()).then(|| labels.clone()));
        }
    }
    Ok(out)
}

/// The term as `key: value` labels, when it is only `=` constraints.
fn equality_labels(term: &Term) -> Option<BTreeMap<String, String>> {
    let [conj] = term.to_requirements().try_into().ok()?;
    let mut labels = BTreeMap::new();
    for req in conj {
        match &req.op {
            Operator::In(values) if values.len() == 1 => {
                labels.insert(req.key.clone(), values.iter().next()?.clone());
            }
            _ => return None,
        }
    }
    Some(labels)
}

/// The one TCP port of the host.
fn host_port(ports: &PortSet, place: &Place, span: Span) -> Result<u16, Diagnostic> {
    let error =
        |why: String, help: &str| target_error(Code::ViaPortNotRoutable, span, TARGET, why, help);
    let tcp = ports.ranges(Protocol::Tcp).ranges();
    let only_tcp = !ports.has_icmp()
        && ports.named_ports().is_empty()
        && ports.ranges(Protocol::Udp).is_empty()
        && ports.ranges(Protocol::Sctp).is_empty();
    let port = match (only_tcp, tcp) {
        (true, [(lo, hi)]) if lo == hi => *lo,
        _ => {
            return Err(error(
                "an egress gateway routes exactly one TCP port per host, and this `via` names several ports, a range, a named port or another protocol".to_string(),
                "write one TCP port (`: 443`): the gateway forwards each host on one port",
            ))
        }
    };
    if port == 80 && !place.http {
        return Err(error(
            format!(
                "port 80 is plain HTTP, which has no SNI to route on, and gateway `{}` passes TLS through (Service port {})",
                place.name, place.service_port
            ),
            "route plain HTTP through a gateway of its own on the HTTP pod port (`gateway egress-http = istio { zone istio-egressgateway; port 8080 }`), or use HTTPS on 443",
        ));
    }
    Ok(port)
}

fn check_l7(l7: &L7, place: &Place, span: Span) -> Result<(), Diagnostic> {
    let why = match l7 {
        L7::Any => return Ok(()),
        L7::Http(_) if place.http => return Ok(()),
        L7::Http(_) => format!(
            "gateway `{}` passes TLS through without decrypting it, so it cannot see HTTP methods or paths",
            place.name
        ),
        L7::Dns(_) => "an egress gateway routes TCP, not DNS queries".to_string(),
    };
    Err(target_error(
        Code::ViaL7NotRoutable,
        span,
        TARGET,
        format!("this filter cannot be applied at the egress gateway: {why}"),
        "drop the filter, or send plain HTTP through a gateway on the HTTP pod port (`port 8080`), where `http { }` filters become route matches",
    ))
}

fn add_route(
    routes: &mut BTreeMap<(String, String), Route>,
    via: Via,
    errors: &mut Vec<Diagnostic>,
) {
    let key = (via.place.name.clone(), via.host.clone());
    let Some(route) = routes.get_mut(&key) else {
        routes.insert(
            key,
            Route {
                place: via.place,
                host: via.host,
                port: via.port,
                sources: via.sources,
                l7s: vec![via.l7],
                spans: vec![via.span],
            },
        );
        return;
    };
    if route.port != via.port {
        let mut diag = target_error(
            Code::ViaHostConflict,
            via.span,
            TARGET,
            format!(
                "`{}` is routed through gateway `{}` on port {} here and on port {} by another rule: the gateway cannot tell which port to send it to",
                via.host, via.place.name, via.port, route.port
            ),
            "route each host through the gateway on one port, and reach its other ports some other way (directly, on a name-matching target)",
        );
        if let Some(first) = route.spans.first() {
            diag = diag.with_secondary(*first, "the other port");
        }
        errors.push(diag);
        return;
    }
    for (ns, labels) in via.sources {
        route.sources.entry(ns).or_default().extend(labels);
    }
    route.l7s.push(via.l7);
    route.spans.push(via.span);
}

/// A namespace's sidecars can send a host to one gateway only, and a
/// gateway's pods can route it one way only.
fn check_one_gateway_per_host(
    routes: &BTreeMap<(String, String), Route>,
    errors: &mut Vec<Diagnostic>,
) {
    let mut seen: BTreeMap<(&str, &str), &Route> = BTreeMap::new();
    for route in routes.values() {
        for ns in route.sources.keys() {
            let Some(other) = seen.insert((ns.as_str(), route.host.as_str()), route) else {
                continue;
            };
            errors.extend(conflict(
                route,
                other,
                format!(
                    "`{}` is routed from namespace `{ns}` through gateway `{}` here and through gateway `{}` by another rule: the namespace's sidecars can send a host to one gateway only",
                    route.host, route.place.name, other.place.name
                ),
                "route the host through one gateway for all of the namespace's sources",
            ));
        }
    }
    // Gateways on the same pods and Service port match the host the same
    // way: the pods could not tell which gateway's route to follow.
    let mut listeners: BTreeMap<(&str, u16, &str), &Route> = BTreeMap::new();
    for route in routes.values() {
        let place = &route.place;
        let key = (
            place.service_host.as_str(),
            place.service_port,
            route.host.as_str(),
        );
        let Some(other) = listeners.insert(key, route) else {
            continue;
        };
        errors.extend(conflict(
            route,
            other,
            format!(
                "`{}` is routed through gateways `{}` and `{}`, which share the same pods and Service port {}: the gateway pods cannot tell which route to follow",
                route.host, route.place.name, other.place.name, place.service_port
            ),
            "route the host through one of the two gateways",
        ));
    }
}

/// E0425 at `route`'s first rule, pointing at `other`'s.
fn conflict(route: &Route, other: &Route, message: String, help: &str) -> Option<Diagnostic> {
    let (here, there) = (route.spans.first()?, other.spans.first()?);
    Some(
        target_error(Code::ViaHostConflict, *here, TARGET, message, help)
            .with_secondary(*there, "the other gateway"),
    )
}

// ------------------------------------------------------------------ resources

/// A DestinationRule for a gateway's Service: a subset per host.
struct GatewayRule {
    service: String,
    service_host: String,
    subsets: BTreeSet<Subset>,
    spans: Vec<Span>,
}

/// The resources of every route, merged where two routes give the same
/// resource (a ServiceEntry in a namespace that is both source and gateway,
/// a DestinationRule shared by the hosts of one gateway).
fn resources(
    routes: &BTreeMap<(String, String), Route>,
    sources: &SourceLines<'_>,
) -> Vec<Resource> {
    let mut out: BTreeMap<(&'static str, String, String), (serde_json::Value, Vec<Span>)> =
        BTreeMap::new();
    // The DestinationRule of each (gateway Service, source namespace): one,
    // since Istio merges rules for one host unreliably; gateways sharing a
    // Service share it (their hosts differ in a namespace, see E0425).
    let mut rules: BTreeMap<(String, String), GatewayRule> = BTreeMap::new();
    for route in routes.values() {
        let place = &route.place;
        let host_part = route.host.replace('.', "-");
        let base = resource_name(&[&place.name, &host_part]);
        let subset = resource_name(&[&host_part]);
        let mut spans = route.spans.clone();
        spans.extend(place.span);
        let mut put = |kind: &'static str, ns: &str, name: &str, doc: serde_json::Value| {
            let entry = out
                .entry((kind, ns.to_string(), name.to_string()))
                .or_insert_with(|| (doc, Vec::new()));
            entry.1.extend(spans.iter().copied());
        };
        // The gateway's side.
        put(
            "ServiceEntry",
            &place.namespace,
            &base,
            service_entry(route),
        );
        put("Gateway", &place.namespace, &base, gateway(route));
        put(
            "VirtualService",
            &place.namespace,
            &resource_name(&[&place.name, &host_part, "gateway"]),
            gateway_routes(route, &base),
        );
        // Each source namespace's side.
        for (ns, labels) in &route.sources {
            put("ServiceEntry", ns, &base, service_entry(route));
            put(
                "VirtualService",
                ns,
                &base,
                mesh_routes(route, &subset, labels),
            );
            let rule = rules
                .entry((place.service_host.clone(), ns.clone()))
                .or_insert_with(|| GatewayRule {
                    service: place.service.clone(),
                    service_host: place.service_host.clone(),
                    subsets: BTreeSet::new(),
                    spans: Vec::new(),
                });
            rule.subsets.insert(Subset {
                name: subset.clone(),
            });
            rule.spans.extend(spans.iter().copied());
        }
    }
    for ((_, ns), rule) in rules {
        let spec = DestinationRuleSpec {
            host: rule.service_host,
            subsets: rule.subsets.into_iter().collect(),
            export_to: vec![THIS_NAMESPACE.to_string()],
        };
        let name = resource_name(&[&rule.service]);
        out.insert(
            ("DestinationRule", ns, name),
            (super::to_json(&spec), rule.spans),
        );
    }
    out.into_iter()
        .map(|((kind, ns, name), (spec, spans))| {
            let annotation = sources.describe(&spans);
            let document = super::to_yaml(&crd::Resource {
                api_version: API_VERSION,
                kind,
                metadata: metadata(&name, Some(&ns), &annotation),
                spec,
            });
            Resource {
                api_version: API_VERSION.to_string(),
                kind: kind.to_string(),
                namespace: Some(ns),
                name,
                document,
            }
        })
        .collect()
}

fn port_name(http: bool, number: u16) -> (String, &'static str) {
    if http {
        (format!("http-{number}"), "HTTP")
    } else {
        (format!("tls-{number}"), "TLS")
    }
}

fn service_entry(route: &Route) -> serde_json::Value {
    let (name, protocol) = port_name(route.place.http, route.port);
    super::to_json(&ServiceEntrySpec {
        hosts: vec![route.host.clone()],
        ports: vec![Port {
            number: route.port,
            name,
            protocol,
        }],
        location: "MESH_EXTERNAL",
        resolution: "DNS",
        export_to: vec![THIS_NAMESPACE.to_string()],
    })
}

fn gateway(route: &Route) -> serde_json::Value {
    let place = &route.place;
    let (name, protocol) = port_name(place.http, place.service_port);
    super::to_json(&GatewaySpec {
        selector: place.selector.clone(),
        servers: vec![Server {
            port: Port {
                number: place.service_port,
                name,
                protocol,
            },
            hosts: vec![route.host.clone()],
            tls: (!place.http).then_some(ServerTls {
                mode: "PASSTHROUGH",
            }),
        }],
    })
}

/// Sidecars of the source namespace: the host's traffic to the gateway.
fn mesh_routes(route: &Route, subset: &str, labels: &BTreeSet<SourceLabels>) -> serde_json::Value {
    let place = &route.place;
    // Every pod of the namespace is a source: one match without labels.
    let labels: Vec<SourceLabels> = if labels.contains(&None) {
        vec![None]
    } else {
        labels.iter().cloned().collect()
    };
    let destination = vec![RouteDestination {
        destination: Destination {
            host: place.service_host.clone(),
            subset: Some(subset.to_string()),
            port: PortSelector {
                number: place.service_port,
            },
        },
    }];
    let mut spec = VirtualServiceSpec {
        hosts: vec![route.host.clone()],
        gateways: vec![MESH.to_string()],
        export_to: vec![THIS_NAMESPACE.to_string()],
        tls: None,
        http: None,
    };
    if place.http {
        spec.http = Some(vec![HttpRoute {
            matches: labels
                .into_iter()
                .map(|source_labels| HttpMatch {
                    gateways: vec![MESH.to_string()],
                    port: route.port,
                    method: None,
                    uri: None,
                    source_labels,
                })
                .collect(),
            route: destination,
        }]);
    } else {
        spec.tls = Some(vec![TlsRoute {
            matches: labels
                .into_iter()
                .map(|source_labels| TlsMatch {
                    gateways: vec![MESH.to_string()],
                    port: route.port,
                    sni_hosts: vec![route.host.clone()],
                    source_labels,
                })
                .collect(),
            route: destination,
        }]);
    }
    super::to_json(&spec)
}

/// The gateway: the host's traffic out to the host, filtered by the
/// `http { }` rules of every `via` to it (the gateway does not know which
/// source sent a request, so it allows what any of them may send — as the
/// network policy from the gateway to the host does).
fn gateway_routes(route: &Route, gateway_name: &str) -> serde_json::Value {
    let place = &route.place;
    let destination = vec![RouteDestination {
        destination: Destination {
            host: route.host.clone(),
            subset: None,
            port: PortSelector { number: route.port },
        },
    }];
    let mut spec = VirtualServiceSpec {
        hosts: vec![route.host.clone()],
        gateways: vec![gateway_name.to_string()],
        export_to: vec![THIS_NAMESPACE.to_string()],
        tls: None,
        http: None,
    };
    if place.http {
        let requests: BTreeSet<(Option<StringMatch>, Option<StringMatch>)> =
            if route.l7s.iter().any(L7::is_any) {
                BTreeSet::from([(None, None)])
            } else {
                route
                    .l7s
                    .iter()
                    .flat_map(|l7| match l7 {
                        L7::Http(matches) => matches.clone(),
                        L7::Any | L7::Dns(_) => Vec::new(),
                    })
                    .map(|m| {
                        (
                            m.method.map(StringMatch::Exact),
                            m.path.map(StringMatch::Regex),
                        )
                    })
                    .collect()
            };
        spec.http = Some(vec![HttpRoute {
            matches: requests
                .into_iter()
                .map(|(method, uri)| HttpMatch {
                    gateways: vec![gateway_name.to_string()],
                    port: place.service_port,
                    method,
                    uri,
                    source_labels: None,
                })
                .collect(),
            route: destination,
        }]);
    } else {
        spec.tls = Some(vec![TlsRoute {
            matches: vec![TlsMatch {
                gateways: vec![gateway_name.to_string()],
                port: place.service_port,
                sni_hosts: vec![route.host.clone()],
                source_labels: None,
            }],
            route: destination,
        }]);
    }
    super::to_json(&spec)
}
