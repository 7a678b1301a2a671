//! The projectcalico.org/v3 resources nplc writes, as typed serde values:
//! only the fields it sets. Checked in the tests against the CRD schemas in
//! `../shared/schemas/projectcalico.org/`.
//!
//! Fields are declared in the order of their serialised names, which is the
//! order the YAML writer puts them in (keys sorted, as everywhere); where a
//! struct is ordered (`Ord`: the order rules are written in), the order is
//! still the CRD's.

use std::cmp::Ordering;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

pub const API_VERSION: &str = "projectcalico.org/v3";

/// Any Calico document: Tier, (Staged)(Global)NetworkPolicy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document<S> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: S,
}

#[derive(Debug, Serialize)]
pub struct TierSpec {
    pub order: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Rule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Rule>,
    /// GlobalNetworkPolicy only: the namespaces of the selected pods (and,
    /// being set, that only pods are selected, never host endpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<String>,
    pub order: u32,
    pub selector: String,
    /// Staged policies only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged_action: Option<&'static str>,
    /// Absent for the `default` tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    pub types: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<EntityRule>,
    /// Application layer policy: ingress Allow rules only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpMatch>,
    /// With protocol `ICMP`/`ICMPv6`: one type, or one type and code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<EntityRule>,
}

/// Ordered by action, protocol, ICMP, HTTP, source, destination.
impl Ord for Rule {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.action.cmp(other.action))
            .then_with(|| self.protocol.cmp(&other.protocol))
            .then_with(|| self.icmp.cmp(&other.icmp))
            .then_with(|| self.http.cmp(&other.http))
            .then_with(|| self.source.cmp(&other.source))
            .then_with(|| self.destination.cmp(&other.destination))
    }
}

impl PartialOrd for Rule {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Calico's ICMP match: a type, and optionally one of its codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IcmpMatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u8>,
    #[serde(rename = "type")]
    pub icmp_type: u8,
}

/// Ordered by type, then code.
impl Ord for IcmpMatch {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.icmp_type, self.code).cmp(&(other.icmp_type, other.code))
    }
}

impl PartialOrd for IcmpMatch {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityRule {
    /// Calico Enterprise only (not in the open-source CRD): host names an
    /// egress Allow rule reaches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nets: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_nets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_selector: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// A Kubernetes Service's endpoints (Calico ≥ 3.20 as a destination,
    /// ≥ 3.21 as a source); alone in its entity rule, and without `ports` as
    /// a destination (the endpoints' own ports apply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<ServiceMatch>,
}

/// Ordered by namespace selector, selector, not-selector, nets, not-nets,
/// services, ports, domains.
impl Ord for EntityRule {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.namespace_selector.cmp(&other.namespace_selector))
            .then_with(|| self.selector.cmp(&other.selector))
            .then_with(|| self.not_selector.cmp(&other.not_selector))
            .then_with(|| self.nets.cmp(&other.nets))
            .then_with(|| self.not_nets.cmp(&other.not_nets))
            .then_with(|| self.services.cmp(&other.services))
            .then_with(|| self.ports.cmp(&other.ports))
            .then_with(|| self.domains.cmp(&other.domains))
    }
}

impl PartialOrd for EntityRule {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl EntityRule {
    pub fn is_empty(&self) -> bool {
        *self == EntityRule::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ServiceMatch {
    pub name: &'static str,
    pub namespace: &'static str,
}

/// A port number, a range `"a:b"` or a named port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Port {
    Number(u16),
    Text(String),
}

/// The requests an ingress Allow rule matches: one of the methods (any when
/// empty) and one of the paths (any when empty).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct HttpMatch {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<HttpPath>,
}

/// `{exact: PATH}` or `{prefix: PATH}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HttpPath {
    Exact(String),
    Prefix(String),
}

/// A map of one entry: serde_yaml would write a derived newtype variant as
/// a YAML tag (`!exact /path`).
impl Serialize for HttpPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (key, path) = match self {
            HttpPath::Exact(path) => ("exact", path),
            HttpPath::Prefix(path) => ("prefix", path),
        };
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(key, path)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field set, so a field out of order shows.
    #[test]
    fn fields_are_declared_in_serialised_order() {
        let entity = EntityRule {
            domains: vec!["a.example".to_string()],
            namespace_selector: Some("all()".to_string()),
            nets: vec!["10.0.0.0/8".to_string()],
            not_nets: vec!["10.1.0.0/16".to_string()],
            not_selector: Some("app == 'x'".to_string()),
            ports: vec![Port::Number(80), Port::Text("1:2".to_string())],
            selector: Some("app == 'y'".to_string()),
            services: Some(ServiceMatch {
                name: "kubernetes",
                namespace: "default",
            }),
        };
        let rule = Rule {
            action: "Allow",
            destination: Some(entity.clone()),
            http: Some(HttpMatch {
                methods: vec!["GET".to_string()],
                paths: vec![
                    HttpPath::Exact("/a".to_string()),
                    HttpPath::Prefix("/b".to_string()),
                ],
            }),
            icmp: Some(IcmpMatch {
                code: Some(0),
                icmp_type: 8,
            }),
            protocol: Some("TCP"),
            source: Some(entity),
        };
        crate::emit::yaml::assert_fields_sorted(&Document {
            api_version: API_VERSION,
            kind: "NetworkPolicy",
            metadata: crate::emit::metadata("n", Some("ns"), "a.npl:1"),
            spec: PolicySpec {
                egress: vec![rule.clone()],
                ingress: vec![rule],
                namespace_selector: Some("all()".to_string()),
                order: 100,
                selector: "all()".to_string(),
                staged_action: Some("Set"),
                tier: Some("security".to_string()),
                types: vec!["Ingress", "Egress"],
            },
        });
        crate::emit::yaml::assert_fields_sorted(&Document {
            api_version: API_VERSION,
            kind: "Tier",
            metadata: crate::emit::metadata("t", None, ""),
            spec: TierSpec { order: 100 },
        });
    }
}
