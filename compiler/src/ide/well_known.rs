//! Ports and label keys people recognise, for hover and completion.

use crate::syntax::ast;

/// Ports people recognise on a protocol, for hover and completion.
pub fn well_known_ports(protocol: ast::Protocol) -> &'static [(u16, &'static str)] {
    match protocol {
        ast::Protocol::Tcp => WELL_KNOWN_TCP_PORTS,
        ast::Protocol::Udp => WELL_KNOWN_UDP_PORTS,
        ast::Protocol::Sctp => WELL_KNOWN_SCTP_PORTS,
    }
}

const WELL_KNOWN_UDP_PORTS: &[(u16, &str)] = &[
    (53, "DNS"),
    (67, "DHCP server"),
    (123, "NTP"),
    (161, "SNMP"),
    (443, "HTTP/3 (QUIC)"),
    (514, "syslog"),
    (4789, "VXLAN"),
    (8472, "VXLAN (Flannel, Cilium)"),
    (51820, "WireGuard"),
];

const WELL_KNOWN_SCTP_PORTS: &[(u16, &str)] = &[(3868, "Diameter"), (38412, "NGAP (5G)")];

pub(super) const WELL_KNOWN_TCP_PORTS: &[(u16, &str)] = &[
    (22, "SSH"),
    (25, "SMTP"),
    (53, "DNS"),
    (80, "HTTP"),
    (389, "LDAP"),
    (443, "HTTPS"),
    (636, "LDAPS"),
    (1433, "Microsoft SQL Server"),
    (2379, "etcd client"),
    (3000, "Grafana"),
    (3306, "MySQL / MariaDB"),
    (3900, "Garage S3 API"),
    (4317, "OpenTelemetry OTLP/gRPC"),
    (5432, "PostgreSQL"),
    (5672, "AMQP (RabbitMQ)"),
    (6379, "Redis / Dragonfly"),
    (6443, "Kubernetes API server"),
    (8080, "HTTP (alternative)"),
    (8443, "HTTPS (alternative), Istio egress gateway pod port"),
    (9090, "Prometheus"),
    (9091, "Prometheus Pushgateway"),
    (9092, "Kafka"),
    (9093, "Alertmanager"),
    (9100, "node-exporter"),
    (9200, "Elasticsearch"),
    (10250, "kubelet API"),
    (11211, "memcached"),
    (15017, "Istio sidecar injector webhook"),
    (27017, "MongoDB"),
];

/// Label keys with a meaning worth showing.
pub(super) fn well_known_label(key: &str) -> Option<&'static str> {
    Some(match key {
        "kubernetes.io/metadata.name" => {
            "Set by Kubernetes on every namespace to the namespace's name (`namespace \"x\"` selects it)."
        }
        "app.kubernetes.io/name" => "Recommended label: the name of the application.",
        "app.kubernetes.io/instance" => "Recommended label: a unique name for this instance of the application.",
        "app.kubernetes.io/component" => "Recommended label: the component within the architecture.",
        "app.kubernetes.io/part-of" => "Recommended label: the higher-level application this is part of.",
        "app.kubernetes.io/managed-by" => "Recommended label: the tool that manages the resource.",
        "app.kubernetes.io/version" => "Recommended label: the application's version.",
        "k8s-app" => "Used by cluster add-ons, e.g. `k8s-app = \"kube-dns\"` for CoreDNS.",
        "app" => "The conventional application label of many charts and manifests.",
        "gateway.networking.k8s.io/gateway-name" => {
            "Set by Gateway API implementations on the pods they deploy for a Gateway."
        }
        "istio" => "Istio's gateway selector label (`ingressgateway`, `egressgateway`).",
        _ => return None,
    })
}

pub(super) const WELL_KNOWN_LABEL_KEYS: &[&str] = &[
    "app",
    "app.kubernetes.io/component",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/name",
    "app.kubernetes.io/part-of",
    "gateway.networking.k8s.io/gateway-name",
    "k8s-app",
    "kubernetes.io/metadata.name",
];
