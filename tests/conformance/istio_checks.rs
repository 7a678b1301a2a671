//! The istio output of a program with `via`, checked for what makes the
//! routing whole (as tests/istio.rs checks it on hand-written programs):
//! every resource but the Gateway is exported to its own namespace only;
//! each gateway-side VirtualService is bound to Gateways of its namespace
//! that serve its hosts and sends them out to themselves; each mesh-side
//! VirtualService has, in its namespace, a ServiceEntry for each of its
//! hosts and the DestinationRule of the gateway; and every exact host a
//! `via` rule from some pod names is served by a Gateway and routed from
//! the mesh. The
//! network side of `via` (sources to the gateway pods, the gateway to the
//! host) is in the other targets' connectivity.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use crate::support::yaml_documents;

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// `routed_hosts`: the exact hosts of `via` rules whose source selects pods.
pub fn check(yaml: &str, routed_hosts: &[String]) -> Result<(), String> {
    let docs: Vec<Value> = yaml_documents(yaml)
        .iter()
        .map(|d| serde_yaml::from_str(d).map_err(|e| format!("istio YAML: {e}")))
        .collect::<Result<_, _>>()?;
    let key = |d: &Value| {
        (
            d["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let mut gateways: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut service_entries: BTreeSet<(String, String)> = BTreeSet::new();
    let mut destination_rules: BTreeSet<String> = BTreeSet::new();
    let mut routed_from_mesh: BTreeSet<String> = BTreeSet::new();
    let mut served: BTreeSet<String> = BTreeSet::new();
    for d in &docs {
        let kind = d["kind"].as_str().unwrap_or_default();
        let (ns, name) = key(d);
        if kind != "Gateway" && strings(&d["spec"]["exportTo"]) != ["."] {
            return Err(format!(
                "istio {kind} {ns}/{name} is not exported to `.` only"
            ));
        }
        match kind {
            "Gateway" => {
                let hosts: Vec<String> = d["spec"]["servers"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .flat_map(|s| strings(&s["hosts"]))
                    .collect();
                served.extend(hosts.iter().cloned());
                gateways.insert((ns, name), hosts);
            }
            "ServiceEntry" => {
                for h in strings(&d["spec"]["hosts"]) {
                    service_entries.insert((ns.clone(), h));
                }
            }
            "DestinationRule" => {
                destination_rules.insert(ns);
            }
            "VirtualService" => {}
            other => return Err(format!("istio wrote a {other}")),
        }
    }
    for d in docs.iter().filter(|d| d["kind"] == "VirtualService") {
        let (ns, name) = key(d);
        let hosts = strings(&d["spec"]["hosts"]);
        let bound = strings(&d["spec"]["gateways"]);
        if bound == ["mesh"] {
            for h in &hosts {
                if !service_entries.contains(&(ns.clone(), h.clone())) {
                    return Err(format!(
                        "VirtualService {ns}/{name} routes {h} from the mesh, but {ns} has no ServiceEntry for it"
                    ));
                }
                routed_from_mesh.insert(h.clone());
            }
            if !destination_rules.contains(&ns) {
                return Err(format!(
                    "VirtualService {ns}/{name} routes to the gateway, but {ns} has no DestinationRule"
                ));
            }
            continue;
        }
        for g in &bound {
            let Some(gateway_hosts) = gateways.get(&(ns.clone(), g.clone())) else {
                return Err(format!(
                    "VirtualService {ns}/{name} is bound to {g}, which is not a Gateway of {ns}"
                ));
            };
            if let Some(h) = hosts.iter().find(|h| !gateway_hosts.contains(h)) {
                return Err(format!(
                    "VirtualService {ns}/{name} routes {h}, which Gateway {ns}/{g} does not serve"
                ));
            }
        }
        for route in ["tls", "tcp", "http"]
            .iter()
            .flat_map(|k| d["spec"][*k].as_sequence().into_iter().flatten())
        {
            for r in route["route"].as_sequence().into_iter().flatten() {
                let to = r["destination"]["host"].as_str().unwrap_or_default();
                if !hosts.iter().any(|h| h == to) {
                    return Err(format!(
                        "the gateway's VirtualService {ns}/{name} sends traffic to {to}, not to its hosts {hosts:?}"
                    ));
                }
            }
        }
    }
    for h in routed_hosts {
        if !served.contains(h) || !routed_from_mesh.contains(h) {
            return Err(format!(
                "`via` names {h}, but no Gateway serves it or no mesh route leads to it"
            ));
        }
    }
    Ok(())
}
