//! The projectcalico.org/v3 resources nplc writes, as typed serde values:
//! only the fields it sets. Checked in the tests against the CRD schemas in
//! `../shared/schemas/projectcalico.org/`.

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
    /// Absent for the `default` tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    pub order: u32,
    pub selector: String,
    /// GlobalNetworkPolicy only: the namespaces of the selected pods (and,
    /// being set, that only pods are selected, never host endpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<String>,
    pub types: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Rule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<Rule>,
    /// Staged policies only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged_action: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Rule {
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<&'static str>,
    /// With protocol `ICMP`/`ICMPv6`: one type, or one type and code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpMatch>,
    /// Application layer policy: ingress Allow rules only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<EntityRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<EntityRule>,
}

/// Calico's ICMP match: a type, and optionally one of its codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IcmpMatch {
    #[serde(rename = "type")]
    pub icmp_type: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_selector: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nets: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_nets: Vec<String>,
    /// A Kubernetes Service's endpoints (Calico ≥ 3.20 as a destination,
    /// ≥ 3.21 as a source); alone in its entity rule, and without `ports` as
    /// a destination (the endpoints' own ports apply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<ServiceMatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    /// Calico Enterprise only (not in the open-source CRD): host names an
    /// egress Allow rule reaches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpPath {
    Exact(String),
    Prefix(String),
}
