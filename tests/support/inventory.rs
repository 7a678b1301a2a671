//! Inventories (namespaces, pods, external endpoints, entities) and
//! connections between them, drawn from the same alphabet as programs, and
//! builders for the evaluator's types.

use std::collections::BTreeMap;
use std::net::IpAddr;

use nplc_compiler::algebra::icmp::{IcmpFamily, IcmpMessage};
use nplc_compiler::algebra::ports::Protocol;
use nplc_compiler::eval::{Connection, ContainerPort, Endpoint, Pod, Request, Transport};
use nplc_compiler::names::Entity;
use proptest::prelude::*;
use proptest::sample::{select, subsequence, Index};

use super::alphabet::*;
use super::program::weighted;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    /// Without `kubernetes.io/metadata.name` (the evaluator implies it).
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpec {
    /// Index into [`Inventory::namespaces`].
    pub namespace: usize,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<ContainerPort>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub namespaces: Vec<Namespace>,
    pub pods: Vec<PodSpec>,
    pub ips: Vec<IpAddr>,
    pub hosts: Vec<String>,
    pub entities: Vec<Entity>,
}

/// One end of a connection, by index into the inventory (taken modulo).
#[derive(Debug, Clone)]
pub enum EndRef {
    Pod(Index),
    Ip(Index),
    Host(Index),
    Entity(Index),
}

impl EndRef {
    pub fn is_pod(&self) -> bool {
        matches!(self, EndRef::Pod(_))
    }
}

#[derive(Debug, Clone)]
pub struct ConnSpec {
    pub source: EndRef,
    pub destination: EndRef,
    pub transport: Transport,
    pub request: Option<Request>,
}

impl Inventory {
    pub fn pod(&self, i: usize) -> Pod {
        let spec = &self.pods[i];
        let ns = &self.namespaces[spec.namespace];
        pod(
            &ns.name,
            ns.labels.clone(),
            spec.labels.clone(),
            spec.ports.clone(),
        )
    }

    pub fn all_pods(&self) -> Vec<Pod> {
        (0..self.pods.len()).map(|i| self.pod(i)).collect()
    }

    pub fn endpoint(&self, end: &EndRef) -> Endpoint {
        match end {
            EndRef::Pod(i) => Endpoint::Pod(self.pod(i.index(self.pods.len()))),
            EndRef::Ip(i) => Endpoint::Ip(*i.get(&self.ips)),
            EndRef::Host(i) => Endpoint::Fqdn(i.get(&self.hosts).clone()),
            EndRef::Entity(i) => Endpoint::Entity(*i.get(&self.entities)),
        }
    }

    /// Every endpoint of the inventory.
    pub fn all_endpoints(&self) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self.all_pods().into_iter().map(Endpoint::Pod).collect();
        out.extend(self.ips.iter().map(|ip| Endpoint::Ip(*ip)));
        out.extend(self.hosts.iter().map(|h| Endpoint::Fqdn(h.clone())));
        out.extend(self.entities.iter().map(|e| Endpoint::Entity(*e)));
        out
    }

    pub fn connection(&self, spec: &ConnSpec) -> Connection {
        Connection {
            source: self.endpoint(&spec.source),
            destination: self.endpoint(&spec.destination),
            transport: spec.transport,
            request: spec.request.clone(),
        }
    }
}

// ------------------------------------------------------------------ builders

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn container_port(name: &str, protocol: Protocol, number: u16) -> ContainerPort {
    ContainerPort {
        name: name.to_string(),
        protocol,
        number,
    }
}

pub fn pod(
    namespace: &str,
    namespace_labels: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    ports: Vec<ContainerPort>,
) -> Pod {
    Pod {
        namespace: namespace.to_string(),
        namespace_labels,
        labels,
        ports,
    }
}

/// A pod in `namespace` (no namespace labels) with `labels` and no ports.
pub fn simple_pod(namespace: &str, pod_labels: &[(&str, &str)]) -> Endpoint {
    Endpoint::Pod(pod(
        namespace,
        BTreeMap::new(),
        labels(pod_labels),
        Vec::new(),
    ))
}

pub fn tcp(source: Endpoint, destination: Endpoint, port: u16) -> Connection {
    on(source, destination, Transport::Port(Protocol::Tcp, port))
}

pub fn on(source: Endpoint, destination: Endpoint, transport: Transport) -> Connection {
    Connection {
        source,
        destination,
        transport,
        request: None,
    }
}

pub fn http(mut conn: Connection, method: &str, path: &str) -> Connection {
    conn.request = Some(Request::Http {
        method: method.to_string(),
        path: path.to_string(),
    });
    conn
}

pub fn dns(mut conn: Connection, name: &str) -> Connection {
    conn.request = Some(Request::Dns {
        name: name.to_string(),
    });
    conn
}

pub fn ip(text: &str) -> Endpoint {
    Endpoint::Ip(text.parse().expect("an IP address"))
}

pub fn host(name: &str) -> Endpoint {
    Endpoint::Fqdn(name.to_string())
}

// ------------------------------------------------------------------ strategies

fn label_map(
    table: &'static [(&'static str, &'static [&'static str])],
    percent: &'static [u32],
) -> BoxedStrategy<BTreeMap<String, String>> {
    let per_key: Vec<BoxedStrategy<Option<(String, String)>>> = table
        .iter()
        .zip(percent)
        .map(|((k, vs), p)| {
            let k = k.to_string();
            prop::option::weighted(f64::from(*p) / 100.0, select(*vs))
                .prop_map(move |v| v.map(|v| (k.clone(), v.to_string())))
                .boxed()
        })
        .collect();
    per_key
        .prop_map(|pairs| pairs.into_iter().flatten().collect())
        .boxed()
}

fn pod_ports() -> BoxedStrategy<Vec<ContainerPort>> {
    subsequence(CONTAINER_PORTS, 0..=3)
        .prop_map(|ports| {
            let mut out: Vec<ContainerPort> = Vec::new();
            for (name, protocol, number) in ports {
                // Kubernetes: names and (protocol, number) are unique per pod.
                if out
                    .iter()
                    .any(|p| p.name == name || (p.protocol == protocol && p.number == number))
                {
                    continue;
                }
                out.push(container_port(name, protocol, number));
            }
            out
        })
        .boxed()
}

pub fn pod_spec_strategy() -> BoxedStrategy<PodSpec> {
    (
        0..NAMESPACES.len(),
        label_map(POD_LABELS, &[75, 40, 30, 10, 5]),
        pod_ports(),
    )
        .prop_map(|(namespace, labels, ports)| PodSpec {
            namespace,
            labels,
            ports,
        })
        .boxed()
}

/// Namespaces of the alphabet with random labels, 4–10 random pods, and the
/// pods the built-ins select (a kube-dns pod, an egress-gateway pod).
pub fn inventory_strategy() -> BoxedStrategy<Inventory> {
    let namespaces = prop::collection::vec(label_map(NS_LABELS, &[70, 50]), NAMESPACES.len());
    (
        namespaces,
        prop::collection::vec(pod_spec_strategy(), 4..=10),
        pod_ports(),
        pod_ports(),
    )
        .prop_map(|(ns_labels, mut pods, dns_ports, gw_ports)| {
            let namespaces: Vec<Namespace> = NAMESPACES
                .iter()
                .zip(ns_labels)
                .map(|(name, labels)| Namespace {
                    name: name.to_string(),
                    labels,
                })
                .collect();
            let index = |name: &str| {
                NAMESPACES
                    .iter()
                    .position(|n| *n == name)
                    .expect("in the alphabet")
            };
            pods.push(PodSpec {
                namespace: index("kube-system"),
                labels: labels(&[("k8s-app", "kube-dns")]),
                ports: dns_ports,
            });
            pods.push(PodSpec {
                namespace: index(GATEWAY_NAMESPACE),
                labels: labels(&[GATEWAY_LABEL]),
                ports: gw_ports,
            });
            Inventory {
                namespaces,
                pods,
                ips: ip_pool(),
                hosts: HOSTS.iter().map(|h| h.to_string()).collect(),
                entities: vec![
                    Entity::World,
                    Entity::Host,
                    Entity::KubeApiserver,
                    Entity::Health,
                ],
            }
        })
        .boxed()
}

fn non_pod_end() -> BoxedStrategy<EndRef> {
    prop_oneof![
        4 => any::<Index>().prop_map(EndRef::Ip),
        3 => any::<Index>().prop_map(EndRef::Host),
        2 => any::<Index>().prop_map(EndRef::Entity),
    ]
    .boxed()
}

/// Port numbers worth asking about: those rules name, range edges and their
/// neighbours, container ports.
pub fn interesting_ports() -> Vec<u16> {
    let mut out: Vec<u16> = PORTS.to_vec();
    for &(a, b) in RANGES {
        out.extend([a, b, a.saturating_sub(1).max(1), b.saturating_add(1)]);
    }
    out.extend(CONTAINER_PORTS.iter().map(|(_, _, n)| *n));
    out.extend([8443, 9443, 65535]);
    out.sort_unstable();
    out.dedup();
    out
}

/// ICMP messages questions ask about: the types rules name, with codes 0
/// and 4 (destination unreachable's "fragmentation needed").
pub fn icmp_messages() -> Vec<IcmpMessage> {
    let mut out = Vec::new();
    for &(v6, icmp_type) in super::program::ICMP_TYPES {
        for code in [0, 4] {
            out.push(IcmpMessage {
                family: if v6 { IcmpFamily::V6 } else { IcmpFamily::V4 },
                icmp_type,
                code,
            });
        }
    }
    out.push(IcmpMessage {
        family: IcmpFamily::V4,
        icmp_type: 11,
        code: 0,
    });
    out
}

pub fn transport_strategy() -> BoxedStrategy<Transport> {
    transport_strategy_for(Vec::new())
}

/// Transports: half of them from `mentioned` (what the program names), the
/// rest from the alphabet's interesting ports, random ports and ICMP.
pub fn transport_strategy_for(mentioned: Vec<Transport>) -> BoxedStrategy<Transport> {
    let protocol =
        prop_oneof![6 => Just(Protocol::Tcp), 3 => Just(Protocol::Udp), 1 => Just(Protocol::Sctp)];
    let number = prop_oneof![8 => select(interesting_ports()), 2 => 1..=65535u16];
    let mentioned_weight = if mentioned.is_empty() { 0 } else { 10 };
    let mentioned = if mentioned.is_empty() {
        Just(Transport::Icmp(IcmpMessage::PING)).boxed()
    } else {
        select(mentioned).boxed()
    };
    weighted(vec![
        (1, select(icmp_messages()).prop_map(Transport::Icmp).boxed()),
        (
            9,
            (protocol, number)
                .prop_map(|(p, n)| Transport::Port(p, n))
                .boxed(),
        ),
        (mentioned_weight, mentioned),
    ])
}

pub fn request_strategy() -> BoxedStrategy<Option<Request>> {
    weighted(vec![
        (6, Just(None).boxed()),
        (
            3,
            (select(REQUEST_METHODS), select(REQUEST_PATHS))
                .prop_map(|(m, p)| {
                    Some(Request::Http {
                        method: m.to_string(),
                        path: p.to_string(),
                    })
                })
                .boxed(),
        ),
        (
            2,
            select(HOSTS)
                .prop_map(|h| {
                    Some(Request::Dns {
                        name: h.to_string(),
                    })
                })
                .boxed(),
        ),
    ])
}

/// A connection with at least one pod end.
pub fn connection_strategy() -> BoxedStrategy<ConnSpec> {
    connection_strategy_for(Vec::new())
}

/// A connection with at least one pod end, on transports from `mentioned`
/// half of the time (see [`transport_strategy_for`]).
pub fn connection_strategy_for(mentioned: Vec<Transport>) -> BoxedStrategy<ConnSpec> {
    let pod = || any::<Index>().prop_map(EndRef::Pod).boxed();
    let ends = prop_oneof![
        5 => (pod(), pod()),
        3 => (pod(), non_pod_end()),
        2 => (non_pod_end(), pod()),
    ];
    (ends, transport_strategy_for(mentioned), request_strategy())
        .prop_map(|((source, destination), transport, request)| ConnSpec {
            source,
            destination,
            transport,
            request,
        })
        .boxed()
}
