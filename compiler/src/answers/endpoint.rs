//! The command-line forms of a connection's parts: endpoints (`--from`,
//! `--to`), ports (`--port`) and requests (`--http`, `--dns`), parsed into the
//! evaluator's values. Every error names what was wrong and the accepted forms.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::algebra::fqdn::FqdnPattern;
use crate::algebra::icmp;
use crate::algebra::ports::Protocol;
use crate::eval::{ContainerPort, Endpoint, Pod, Request, Transport};
use crate::names::Entity;

/// The endpoint grammar, for `--help` and error messages (a macro so that
/// help texts can `concat!` it).
#[macro_export]
macro_rules! endpoint_forms {
    () => {
        "ENDPOINT is one of:
  world | host | kube-apiserver | health   a built-in peer
  ip:ADDRESS                              an address outside the pod network, e.g. ip:203.0.113.7
  fqdn:NAME                               an external host by name, e.g. fqdn:api.stripe.com
  a pod: comma-separated items, `ns=NAME` required, e.g. ns=shop,app=web,nslabels:env=prod
    ns=NAME                  the pod's namespace (anywhere in the list)
    KEY=VALUE                a label of the pod
    nslabels:KEY=VALUE       a label of the pod's namespace; the KEY=VALUE items after it are
                             namespace labels too, until `labels:KEY=VALUE` switches back
    port:NAME=NUMBER[/PROTO] a named container port of the pod (PROTO tcp, udp or sctp; tcp when
                             omitted), for rules written with named ports, e.g. port:http=8080"
    };
}

pub const ENDPOINT_FORMS: &str = endpoint_forms!();

pub const PORT_FORMS: &str = "PORT is 8080 (TCP), tcp/8080, udp/53, sctp/3868, or an ICMP message: icmp (an echo request), icmp/8, icmp/3/4 (type/code), icmp/echo-request, icmpv6/128";

/// An endpoint as given, or why it is not one.
pub fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the endpoint is empty".to_string());
    }
    for (entity, name, _) in Entity::ALL {
        if text == name {
            return Ok(Endpoint::Entity(entity));
        }
    }
    if let Some(addr) = text.strip_prefix("ip:") {
        return addr
            .trim()
            .parse::<IpAddr>()
            .map(Endpoint::Ip)
            .map_err(|_| format!("`{addr}` is not an IPv4 or IPv6 address"));
    }
    if let Some(name) = text.strip_prefix("fqdn:") {
        return FqdnPattern::parse(name.trim())
            .map_err(|e| e.to_string())
            .and_then(|p| match p {
                FqdnPattern::Name(n) => Ok(Endpoint::Fqdn(n)),
                FqdnPattern::Wildcard(_) => Err(format!(
                    "`{name}` is a pattern; a connection goes to one name"
                )),
            });
    }
    parse_pod(text).map(Endpoint::Pod)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Pod,
    Namespace,
}

fn parse_pod(text: &str) -> Result<Pod, String> {
    let mut namespace: Option<String> = None;
    let mut labels = BTreeMap::new();
    let mut namespace_labels = BTreeMap::new();
    let mut ports = Vec::new();
    let mut section = Section::Pod;
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            return Err("an empty item (two commas in a row, or a trailing comma)".to_string());
        }
        let mut body = item;
        if let Some((prefix, rest)) = item.split_once(':') {
            if !prefix.contains('=') {
                body = rest;
                match prefix {
                    "nslabels" | "nslabel" => section = Section::Namespace,
                    "labels" | "label" => section = Section::Pod,
                    "port" => {
                        ports.push(parse_named_port(rest)?);
                        continue;
                    }
                    _ => {
                        return Err(format!(
                            "unknown prefix `{prefix}:` in `{item}` (prefixes: nslabels:, labels:, port:; \
                             ip: and fqdn: stand alone)"
                        ))
                    }
                }
            }
        }
        let Some((key, value)) = body.split_once('=') else {
            if Entity::ALL.iter().any(|(_, name, _)| *name == item) {
                return Err(format!(
                    "`{item}` is a built-in peer; write it alone, not as a pod item"
                ));
            }
            return Err(format!("`{item}` is not KEY=VALUE"));
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(format!("`{item}` has no key"));
        }
        if key == "ns" && body == item {
            if namespace.replace(value.to_string()).is_some() {
                return Err("`ns=` is given twice".to_string());
            }
            if value.is_empty() {
                return Err("`ns=` needs a namespace name".to_string());
            }
            continue;
        }
        let target = match section {
            Section::Pod => &mut labels,
            Section::Namespace => &mut namespace_labels,
        };
        if target.insert(key.to_string(), value.to_string()).is_some() {
            return Err(format!("label `{key}` is given twice"));
        }
    }
    let Some(namespace) = namespace else {
        return Err("a pod endpoint needs its namespace: add `ns=NAME`".to_string());
    };
    Ok(Pod {
        namespace,
        namespace_labels,
        labels,
        ports,
    })
}

/// `NAME=NUMBER[/PROTO]`.
fn parse_named_port(text: &str) -> Result<ContainerPort, String> {
    let bad = || {
        format!(
            "`port:{text}` is not port:NAME=NUMBER[/PROTO], e.g. port:http=8080 or port:dns=53/udp"
        )
    };
    let (name, number) = text.split_once('=').ok_or_else(bad)?;
    let (number, protocol) = match number.split_once('/') {
        Some((n, p)) => (n, protocol(p).ok_or_else(bad)?),
        None => (number, Protocol::Tcp),
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(bad());
    }
    Ok(ContainerPort {
        name: name.to_string(),
        protocol,
        number: port_number(number).ok_or_else(bad)?,
    })
}

fn protocol(text: &str) -> Option<Protocol> {
    match text.trim().to_ascii_lowercase().as_str() {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        "sctp" => Some(Protocol::Sctp),
        _ => None,
    }
}

fn port_number(text: &str) -> Option<u16> {
    text.trim().parse::<u16>().ok().filter(|n| *n >= 1)
}

/// `8080`, `tcp/8080`, `udp/53`, `sctp/3868`, `icmp`, `icmp/3/4`, `icmpv6/128`.
pub fn parse_port(text: &str) -> Result<Transport, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    if lower == "icmp"
        || lower == "icmpv6"
        || lower.starts_with("icmp/")
        || lower.starts_with("icmpv6/")
    {
        return icmp::parse_message(t).map(Transport::Icmp);
    }
    let (protocol, number) = match t.split_once('/') {
        Some((p, n)) => (
            protocol(p).ok_or_else(|| format!("unknown protocol `{p}` (tcp, udp, sctp)"))?,
            n,
        ),
        None => (Protocol::Tcp, t),
    };
    let number =
        port_number(number).ok_or_else(|| format!("`{number}` is not a port number (1-65535)"))?;
    Ok(Transport::Port(protocol, number))
}

/// `--http "METHOD /path"`.
pub fn parse_http(text: &str) -> Result<Request, String> {
    let mut words = text.split_whitespace();
    let (Some(method), Some(path), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "`{text}` is not \"METHOD /path\", e.g. --http \"GET /api/v1/products\""
        ));
    };
    if !method.chars().all(|c| c.is_ascii_alphabetic()) || !path.starts_with('/') {
        return Err(format!(
            "`{text}` is not \"METHOD /path\", e.g. --http \"GET /api/v1/products\""
        ));
    }
    // Methods are case-sensitive (`get` is not `GET`), and every method a
    // rule can name is upper-case: a lower-case one is a typo.
    if method.chars().any(|c| c.is_ascii_lowercase()) {
        return Err(format!(
            "HTTP methods are case-sensitive: `{method}` matches no rule; did you mean `{}`?",
            method.to_ascii_uppercase()
        ));
    }
    Ok(Request::Http {
        method: method.to_string(),
        path: path.to_string(),
    })
}

/// An endpoint written back in the command-line form, normalised.
pub fn show_endpoint(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Entity(e) => e.name().to_string(),
        Endpoint::Ip(ip) => format!("ip:{ip}"),
        Endpoint::Fqdn(name) => format!("fqdn:{name}"),
        Endpoint::Pod(pod) => {
            let mut items = vec![format!("ns={}", pod.namespace)];
            items.extend(pod.labels.iter().map(|(k, v)| format!("{k}={v}")));
            items.extend(
                pod.namespace_labels
                    .iter()
                    .map(|(k, v)| format!("nslabels:{k}={v}")),
            );
            items.extend(
                pod.ports
                    .iter()
                    .map(|p| format!("port:{}={}/{}", p.name, p.number, p.protocol)),
            );
            items.join(",")
        }
    }
}

pub fn show_transport(transport: Transport) -> String {
    match transport {
        Transport::Icmp(message) => message.to_string(),
        Transport::Port(p, n) => format!("{p}/{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_with_sections_and_ports() {
        let Ok(Endpoint::Pod(pod)) = parse_endpoint(
            "ns=shop,app=web,nslabels:env=prod,tier=data,labels:track=stable,port:http=8080",
        ) else {
            panic!("not a pod");
        };
        assert_eq!(pod.namespace, "shop");
        assert_eq!(pod.labels.len(), 2);
        assert_eq!(pod.namespace_labels.len(), 2);
        assert_eq!(pod.ports[0].number, 8080);
        assert_eq!(
            show_endpoint(&Endpoint::Pod(pod)),
            "ns=shop,app=web,track=stable,nslabels:env=prod,nslabels:tier=data,port:http=8080/tcp"
        );
    }

    #[test]
    fn errors() {
        assert!(parse_endpoint("app=web").unwrap_err().contains("ns=NAME"));
        assert!(parse_endpoint("ip:1.2.3")
            .unwrap_err()
            .contains("not an IPv4"));
        assert!(parse_endpoint("ns=a,,b=c")
            .unwrap_err()
            .contains("empty item"));
        assert!(parse_endpoint("ns=a,foo:b=c")
            .unwrap_err()
            .contains("unknown prefix"));
        assert!(parse_endpoint("ns=a,web")
            .unwrap_err()
            .contains("KEY=VALUE"));
        assert!(parse_port("tcp/0").is_err());
        assert!(parse_port("http/80")
            .unwrap_err()
            .contains("unknown protocol"));
        assert_eq!(
            parse_port("53").ok(),
            Some(Transport::Port(Protocol::Tcp, 53))
        );
        assert!(parse_http("GET").is_err());
    }
}
