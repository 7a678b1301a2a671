//! The IR's sets in words, close to NPL's own syntax: pods as
//! `namespace "shop", pods app = "web"`, addresses as `cidr 10.0.0.0/8 except
//! 10.1.0.0/16`, names as `fqdn api.stripe.com`, ports as `tcp 80, 8000-8080`.

use crate::algebra::labels::{Operator, Requirement, Term};
use crate::algebra::ports::{PortSet, Protocol};
use crate::diagnostic::Span;
use crate::ir::{PeerSet, PodSet, PodTerm, Zone, L7};
use crate::{render, Db};

/// A union of pod terms; `no pods` when empty.
pub fn pods(set: &PodSet) -> String {
    if set.is_empty() {
        return "no pods".to_string();
    }
    set.terms
        .iter()
        .map(pod_term)
        .collect::<Vec<_>>()
        .join(" or ")
}

/// `pods(set)`, or `every pod except …` when that is shorter.
pub fn pods_or_complement(set: &PodSet, zones: &[Zone]) -> String {
    within_or_except(set, &PodSet::all(), "every pod", zones)
}

/// `pods(part)` of a `whole` set, or `{whole_words} except …` when that is
/// shorter; what is excepted is named by zones when it is exactly some zones.
pub fn within_or_except(
    part: &PodSet,
    whole: &PodSet,
    whole_words: &str,
    zones: &[Zone],
) -> String {
    let direct = pods(part);
    let rest = whole.difference(part);
    if rest.is_empty() {
        return whole_words.to_string();
    }
    let rest_words = match exactly_zones(&rest, zones) {
        Some(names) => format!("those in {}", names.join(", ")),
        None => pods(&rest),
    };
    let except = format!("{whole_words} except {rest_words}");
    if except.len() < direct.len() {
        except
    } else {
        direct
    }
}

/// The zones whose union is exactly `set`, when there are such zones.
fn exactly_zones(set: &PodSet, zones: &[Zone]) -> Option<Vec<String>> {
    let mut inside: Vec<&Zone> = zones
        .iter()
        .filter(|z| !z.pods.is_empty() && z.pods.difference(set).is_empty())
        .collect();
    inside.sort_by(|a, b| a.name.cmp(&b.name));
    // Drop zones another kept zone already covers.
    let mut kept: Vec<&Zone> = Vec::new();
    for (i, z) in inside.iter().enumerate() {
        let covered = inside.iter().enumerate().any(|(j, other)| {
            j != i
                && z.pods.difference(&other.pods).is_empty()
                && (!other.pods.difference(&z.pods).is_empty() || j < i)
        });
        if !covered {
            kept.push(z);
        }
    }
    let union = kept
        .iter()
        .fold(PodSet::none(), |acc, z| acc.union(&z.pods));
    if kept.is_empty() || !set.difference(&union).is_empty() {
        return None;
    }
    Some(kept.iter().map(|z| format!("`{}`", z.name)).collect())
}

fn pod_term(term: &PodTerm) -> String {
    let all = |t: &Term| t.constraints().is_some_and(|keys| keys.is_empty());
    let namespace = namespace_words(term);
    match (all(&term.namespace), all(&term.pod)) {
        (true, true) => "every pod".to_string(),
        (false, true) => namespace,
        (true, false) => format!("pods {} (any namespace)", term_words(&term.pod)),
        (false, false) => format!("{namespace}, pods {}", term_words(&term.pod)),
    }
}

fn namespace_words(term: &PodTerm) -> String {
    let only_name = term
        .namespace
        .constraints()
        .is_some_and(|keys| keys.len() == 1);
    match term.namespace_name() {
        Some(name) if only_name => format!("namespace {name:?}"),
        _ => format!("namespaces {}", term_words(&term.namespace)),
    }
}

/// A label term as NPL constraints; alternatives joined by `or`.
fn term_words(term: &Term) -> String {
    let alternatives = term.to_requirements();
    let conj = |reqs: &Vec<Requirement>| {
        if reqs.is_empty() {
            "anything".to_string()
        } else {
            reqs.iter().map(requirement).collect::<Vec<_>>().join(", ")
        }
    };
    match alternatives.as_slice() {
        [] => "nothing".to_string(),
        [one] => conj(one),
        many => many
            .iter()
            .map(|r| format!("({})", conj(r)))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

fn requirement(req: &Requirement) -> String {
    let key = &req.key;
    match &req.op {
        Operator::In(values) if values.len() == 1 => format!("{key} = {}", quoted(values.iter())),
        Operator::In(values) => format!("{key} in ({})", quoted(values.iter())),
        Operator::NotIn(values) if values.len() == 1 => {
            format!("{key} != {}", quoted(values.iter()))
        }
        Operator::NotIn(values) => format!("{key} not in ({})", quoted(values.iter())),
        Operator::Exists => format!("has {key}"),
        Operator::DoesNotExist => format!("not has {key}"),
    }
}

fn quoted<'a>(values: impl Iterator<Item = &'a String>) -> String {
    values
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything a peer set holds, joined by `or`.
pub fn peers(set: &PeerSet, zones: &[Zone]) -> String {
    if *set == PeerSet::all() {
        return "anyone".to_string();
    }
    let mut parts = Vec::new();
    if !set.pods.is_empty() {
        parts.push(pods_or_complement(&set.pods, zones));
    }
    let every_address = set.ips == crate::algebra::ipset::IpSet::all();
    if every_address && set.fqdns.is_all() {
        parts.push("world".to_string());
    } else {
        if every_address {
            parts.push("every address".to_string());
        } else if !set.ips.is_empty() {
            let blocks = set.ips.to_blocks();
            let words: Vec<String> = blocks
                .iter()
                .map(|(base, except)| {
                    if except.is_empty() {
                        base.to_string()
                    } else {
                        let except: Vec<String> = except.iter().map(|e| e.to_string()).collect();
                        format!("{base} except {}", except.join(", "))
                    }
                })
                .collect();
            parts.push(format!("cidr {}", words.join(", ")));
        }
        if set.fqdns.is_all() {
            parts.push("every name".to_string());
        } else if !set.fqdns.is_empty() {
            let names: Vec<String> = set.fqdns.patterns().iter().map(|p| p.to_string()).collect();
            parts.push(format!("fqdn {}", names.join(", ")));
        }
    }
    parts.extend(set.entities.iter().map(|e| e.name().to_string()));
    if parts.is_empty() {
        return "nothing".to_string();
    }
    parts.join(" or ")
}

/// Ports per protocol: `all ports`, or `tcp 80, 8000-8080; udp 53; icmp`.
/// `80`, `8000-8080`: one item per range.
pub fn port_ranges(ranges: &[(u16, u16)]) -> Vec<String> {
    ranges
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect()
}

pub fn ports(set: &PortSet) -> String {
    if *set == PortSet::all() {
        return "all ports".to_string();
    }
    let mut parts = Vec::new();
    for protocol in Protocol::ALL {
        let ranges = set.ranges(protocol).ranges();
        let mut items: Vec<String> = if ranges == [(1, 65535)] {
            vec!["all ports".to_string()]
        } else {
            port_ranges(ranges)
        };
        items.extend(
            set.named_ports()
                .iter()
                .filter(|(p, _)| *p == protocol)
                .map(|(_, name)| format!("port named {name}")),
        );
        if !items.is_empty() {
            parts.push(format!("{protocol} {}", items.join(", ")));
        }
    }
    if set.has_icmp() {
        parts.push(set.icmp_set().to_npl().join(", "));
    }
    if parts.is_empty() {
        return "no ports".to_string();
    }
    parts.join("; ")
}

/// The L7 filter, or `None` for every request.
pub fn l7(l7: &L7) -> Option<String> {
    match l7 {
        L7::Any => None,
        L7::Http(matches) => {
            let items: Vec<String> = matches
                .iter()
                .map(|m| {
                    let method = m.method.as_deref().unwrap_or("any method");
                    match &m.path {
                        Some(path) => format!("{method} {path:?}"),
                        None => format!("{method} (any path)"),
                    }
                })
                .collect();
            Some(format!("http {}", items.join(", ")))
        }
        L7::Dns(names) => Some(format!("dns {}", names.join(", "))),
    }
}

/// `file:line` of a span.
pub fn location(db: &dyn Db, span: Span) -> String {
    let position = render::position(db, span.file, span.start as usize);
    format!("{}:{}", span.file.path(db), position.line)
}

/// The source text of a span, trimmed.
pub fn source_text(db: &dyn Db, span: Span) -> String {
    let text = span.file.text(db);
    text.get(span.range()).unwrap_or("").trim().to_string()
}

/// The span without trailing blanks and a trailing `# comment` (the parser's
/// rule spans can run over the comment that ends the line).
pub fn tidy(db: &dyn Db, span: Span) -> Span {
    let text = span.file.text(db);
    let Some(body) = text.get(span.range()) else {
        return span;
    };
    let mut end = body.trim_end().len();
    loop {
        let line_start = body[..end].rfind('\n').map_or(0, |i| i + 1);
        match comment_start(&body[line_start..end]) {
            Some(i) => end = body[..line_start + i].trim_end().len(),
            None => break,
        }
    }
    if end == 0 {
        return span;
    }
    Span {
        end: span.start + u32::try_from(end).unwrap_or(0),
        ..span
    }
}

/// Where a `#` comment starts in one line, outside strings.
fn comment_start(line: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '#' if !in_string => return Some(i),
            _ => {}
        }
    }
    None
}
