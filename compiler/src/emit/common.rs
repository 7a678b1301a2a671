//! What every backend shares: the source annotation, resource metadata,
//! the target's coded errors and their deduplication, and Kubernetes'
//! spelling of protocols.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::algebra::ports::Protocol;
use crate::db::{self, Db};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::ir::Ir;
use crate::lines::LineIndex;

use super::Target;

/// Label every emitted resource carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "nplc");
/// Annotation naming the source lines a resource came from.
pub const SOURCE_ANNOTATION: &str = "nplc.dev/source";

/// Renders spans as `file:line` for the source annotation. It holds each
/// file's path and line index, read once from the database for every file
/// the IR's spans name, so backends can describe spans on every core.
pub struct SourceLines<'db> {
    files: HashMap<db::SourceFile, (&'db str, &'db LineIndex)>,
}

impl<'db> SourceLines<'db> {
    pub(super) fn new(db: &'db dyn Db, ir: &Ir) -> SourceLines<'db> {
        let spans = ir.zones.iter().filter_map(|z| z.span);
        let spans = spans.chain(ir.tiers.iter().filter_map(|t| t.name_span));
        let spans = spans.chain(ir.rules().map(|r| r.span));
        let spans = spans.chain(ir.gateways.iter().filter_map(|g| g.span));
        let spans = spans.chain(ir.vias.iter().map(|v| v.span));
        let mut files = HashMap::new();
        for span in spans {
            files
                .entry(span.file)
                .or_insert_with(|| (span.file.path(db).as_str(), db::line_index(db, span.file)));
        }
        SourceLines { files }
    }

    /// `a.npl:3, a.npl:7-9, std/baseline:12`, sorted and deduplicated.
    /// Every span a backend cites comes from the IR; one from elsewhere is
    /// left out rather than guessed.
    pub fn describe(&self, spans: &[Span]) -> String {
        let mut by_path: BTreeMap<&str, BTreeSet<(usize, usize)>> = BTreeMap::new();
        for span in spans {
            let Some((path, index)) = self.files.get(&span.file) else {
                continue;
            };
            by_path.entry(path).or_default().insert((
                index.line(span.start),
                index.line(span.end.saturating_sub(1).max(span.start)),
            ));
        }
        let mut parts = Vec::new();
        for (file, lines) in by_path {
            for (a, b) in lines {
                parts.push(if a == b {
                    format!("{file}:{a}")
                } else {
                    format!("{file}:{a}-{b}")
                });
            }
        }
        parts.join(", ")
    }
}

/// The names of an FQDN set for a message: `api.example.com, *.example.org`,
/// or `every name`.
pub fn fqdn_list(set: &crate::algebra::fqdn::FqdnSet) -> String {
    let names: Vec<String> = set.patterns().iter().map(|p| p.to_string()).collect();
    if names.is_empty() {
        "every name".to_string()
    } else {
        names.join(", ")
    }
}

/// A typed document as JSON. The backends' serde structs have string keys
/// and no fallible serializers, so this cannot fail; `Null` keeps it total.
pub fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Standard metadata: name, namespace, managed-by label, source annotation.
pub fn metadata(
    name: &str,
    namespace: Option<&str>,
    sources: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    let mut annotations = BTreeMap::new();
    if !sources.is_empty() {
        annotations.insert(SOURCE_ANNOTATION.to_string(), sources.to_string());
    }
    k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: Some(BTreeMap::from([(
            MANAGED_BY.0.to_string(),
            MANAGED_BY.1.to_string(),
        )])),
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..Default::default()
    }
}

/// A target error at a rule.
pub fn target_error(
    code: Code,
    span: Span,
    target: Target,
    message: String,
    help: &str,
) -> Diagnostic {
    Diagnostic::new(code, span, message)
        .with_label(format!(
            "cannot be expressed exactly on `{}`",
            target.as_str()
        ))
        .with_help(help.to_string())
}

/// One error per place and message, for every backend. An FQDN allow also
/// allows the DNS lookups of its names (an L7 rule); the name error already
/// says what to do about that rule, so its L7 error is dropped.
pub(super) fn dedup_errors(errors: &mut Vec<Diagnostic>) {
    let mut seen = BTreeSet::new();
    errors.retain(|d| seen.insert((d.span.start, d.span.end, d.code, d.message.clone())));
    // An FQDN allow also allows the DNS lookups of its names (an L7 rule);
    // the name error already says what to do about that rule.
    let fqdn_rules: Vec<Span> = errors
        .iter()
        .filter(|d| d.code == Code::FqdnNeedsVia)
        .map(|d| d.span)
        .collect();
    errors.retain(|d| !(d.code == Code::L7NotSupported && fqdn_rules.contains(&d.span)));
}

/// Kubernetes' (and Calico's) name of a protocol.
pub fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}
