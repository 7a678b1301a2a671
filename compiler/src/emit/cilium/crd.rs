//! Typed `cilium.io/v2` CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy,
//! the subset nplc writes. Field names follow the CRD
//! (`/work/shared/schemas/cilium.io`); absent options are not serialised.
//! Fields are declared in the order of their serialised names, which is the
//! order the YAML writer puts them in (keys sorted, as everywhere); where a
//! struct is ordered (`Ord`), the order is still the CRD's.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::Serialize;

pub const API_VERSION: &str = "cilium.io/v2";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Namespaced: selects pods of its namespace.
    CiliumNetworkPolicy,
    /// Cluster-wide: selects pods of every namespace.
    CiliumClusterwideNetworkPolicy,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CiliumNetworkPolicy => "CiliumNetworkPolicy",
            Kind::CiliumClusterwideNetworkPolicy => "CiliumClusterwideNetworkPolicy",
        }
    }
}

/// Both kinds have the same shape; `kind` tells them apart. One of `spec`
/// (one endpoint selector) and `specs` (several, each with its rules).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<Spec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub specs: Option<Vec<Spec>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<EgressRule>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_deny: Option<Vec<EgressRule>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_default_deny: Option<DefaultDeny>,
    pub endpoint_selector: LabelSelector,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<IngressRule>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress_deny: Option<Vec<IngressRule>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultDeny {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRule {
    #[serde(rename = "fromCIDRSet", skip_serializing_if = "Option::is_none")]
    pub from_cidr_set: Option<Vec<CidrRule>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_endpoints: Option<Vec<LabelSelector>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_entities: Option<Vec<Entity>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmps: Option<Vec<IcmpRule>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_ports: Option<Vec<PortRule>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmps: Option<Vec<IcmpRule>>,
    #[serde(rename = "toCIDRSet", skip_serializing_if = "Option::is_none")]
    pub to_cidr_set: Option<Vec<CidrRule>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_endpoints: Option<Vec<LabelSelector>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_entities: Option<Vec<Entity>>,
    #[serde(rename = "toFQDNs", skip_serializing_if = "Option::is_none")]
    pub to_fqdns: Option<Vec<NameMatch>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_ports: Option<Vec<PortRule>>,
}

/// A CIDR minus sub-prefixes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CidrRule {
    pub cidr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub except: Option<Vec<String>>,
}

/// The entities nplc uses (of Cilium's `world`, `cluster`, `host`,
/// `remote-node`, `kube-apiserver`, `ingress`, `init`, `health`,
/// `unmanaged`, `none`, `all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Entity {
    All,
    World,
    Host,
    KubeApiserver,
    Health,
    /// Selects nothing: a rule that allows nothing but puts the selected
    /// endpoints in default deny.
    None,
}

/// `toFQDNs` selectors and `rules.dns` entries: one of the two fields.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NameMatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_pattern: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortRule {
    /// At most [`MAX_PORTS`] entries.
    pub ports: Vec<PortProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<L7Rules>,
}

/// Cilium's limit of ports in one `toPorts` entry.
pub const MAX_PORTS: usize = 40;
/// Cilium's limit of fields in one `icmps` entry.
pub const MAX_ICMP_FIELDS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortProtocol {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i32>,
    /// A number or a named container port.
    pub port: String,
    pub protocol: L4Proto,
}

/// Ordered as the CRD lists the fields: port, end port, protocol.
impl Ord for PortProtocol {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.port.cmp(&other.port))
            .then_with(|| self.end_port.cmp(&other.end_port))
            .then_with(|| self.protocol.cmp(&other.protocol))
    }
}

impl PartialOrd for PortProtocol {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum L4Proto {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct L7Rules {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<NameMatch>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Vec<HttpRule>>,
}

/// Ordered as the CRD lists the fields: http, then dns.
impl Ord for L7Rules {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.http.cmp(&other.http)).then_with(|| self.dns.cmp(&other.dns))
    }
}

impl PartialOrd for L7Rules {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct HttpRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IcmpRule {
    /// At most [`MAX_ICMP_FIELDS`] entries.
    pub fields: Vec<IcmpField>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IcmpField {
    /// `None`: IPv4, the CRD's default (left out: a line less per type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<IcmpFamily>,
    #[serde(rename = "type")]
    pub icmp_type: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum IcmpFamily {
    /// The one family written: IPv4 is the CRD's default.
    IPv6,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field set, so a field out of order shows.
    #[test]
    fn fields_are_declared_in_serialised_order() {
        let ports = vec![PortRule {
            ports: vec![PortProtocol {
                end_port: Some(90),
                port: "80".to_string(),
                protocol: L4Proto::Tcp,
            }],
            rules: Some(L7Rules {
                dns: Some(vec![NameMatch {
                    match_name: Some("a.example".to_string()),
                    match_pattern: Some("*.example".to_string()),
                }]),
                http: Some(vec![HttpRule {
                    method: Some("GET".to_string()),
                    path: Some("/".to_string()),
                }]),
            }),
        }];
        let cidrs = vec![CidrRule {
            cidr: "10.0.0.0/8".to_string(),
            except: Some(vec!["10.1.0.0/16".to_string()]),
        }];
        let icmps = vec![IcmpRule {
            fields: vec![IcmpField {
                family: Some(IcmpFamily::IPv6),
                icmp_type: 128,
            }],
        }];
        let egress = EgressRule {
            icmps: Some(icmps.clone()),
            to_cidr_set: Some(cidrs.clone()),
            to_endpoints: Some(vec![LabelSelector::default()]),
            to_entities: Some(vec![Entity::World]),
            to_fqdns: Some(vec![NameMatch {
                match_name: Some("a.example".to_string()),
                match_pattern: None,
            }]),
            to_ports: Some(ports.clone()),
        };
        let ingress = IngressRule {
            from_cidr_set: Some(cidrs),
            from_endpoints: Some(vec![LabelSelector::default()]),
            from_entities: Some(vec![Entity::Host]),
            icmps: Some(icmps),
            to_ports: Some(ports),
        };
        let spec = Spec {
            description: Some("d".to_string()),
            egress: Some(vec![egress.clone()]),
            egress_deny: Some(vec![egress]),
            enable_default_deny: Some(DefaultDeny {
                egress: Some(true),
                ingress: Some(false),
            }),
            endpoint_selector: LabelSelector::default(),
            ingress: Some(vec![ingress.clone()]),
            ingress_deny: Some(vec![ingress]),
        };
        crate::emit::yaml::assert_fields_sorted(&Policy {
            api_version: API_VERSION,
            kind: Kind::CiliumNetworkPolicy.as_str(),
            metadata: crate::emit::metadata("n", Some("ns"), "a.npl:1"),
            spec: Some(spec.clone()),
            specs: Some(vec![spec]),
        });
    }
}
