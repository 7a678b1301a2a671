//! Typed `networking.istio.io/v1` ServiceEntry, Gateway, DestinationRule and
//! VirtualService, the subset nplc writes. Field names follow the CRDs
//! (`/work/shared/schemas/networking.istio.io`); absent options are not
//! serialised.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

pub const API_VERSION: &str = "networking.istio.io/v1";

/// The name Istio gives every sidecar, as a VirtualService gateway.
pub const MESH: &str = "mesh";
/// `exportTo` value: visible in the resource's own namespace only.
pub const THIS_NAMESPACE: &str = ".";

/// Every kind has `apiVersion`, `kind`, `metadata` and a kind-specific spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource<S> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: S,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntrySpec {
    pub hosts: Vec<String>,
    pub ports: Vec<Port>,
    /// Always `MESH_EXTERNAL`: the hosts are outside the mesh.
    pub location: &'static str,
    /// Always `DNS`: the proxies resolve the host name themselves.
    pub resolution: &'static str,
    pub export_to: Vec<String>,
}

/// A ServiceEntry or Gateway server port.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    pub number: u16,
    pub name: String,
    pub protocol: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    /// The gateway pods' labels.
    pub selector: BTreeMap<String, String>,
    pub servers: Vec<Server>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    pub port: Port,
    pub hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTls>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTls {
    /// Always `PASSTHROUGH`: the gateway routes on SNI and never decrypts.
    pub mode: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    pub host: String,
    pub subsets: Vec<Subset>,
    pub export_to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subset {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    pub hosts: Vec<String>,
    pub gateways: Vec<String>,
    pub export_to: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Vec<TlsRoute>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Vec<HttpRoute>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsRoute {
    #[serde(rename = "match")]
    pub matches: Vec<TlsMatch>,
    pub route: Vec<RouteDestination>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsMatch {
    pub gateways: Vec<String>,
    pub port: u16,
    pub sni_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    #[serde(rename = "match")]
    pub matches: Vec<HttpMatch>,
    pub route: Vec<RouteDestination>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpMatch {
    pub gateways: Vec<String>,
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_labels: Option<BTreeMap<String, String>>,
}

/// Istio's string match; nplc writes `exact` (methods) and `regex` (paths).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StringMatch {
    Exact(String),
    Regex(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDestination {
    pub destination: Destination,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    pub port: PortSelector,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSelector {
    pub number: u16,
}
