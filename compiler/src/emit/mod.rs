//! Emission: from the IR (through the allow table) to typed Kubernetes
//! resources, per target. Backends build typed values; `yaml` alone turns
//! them into text. A backend that cannot express something exactly returns a
//! coded diagnostic naming the construct, the target and the way out.

pub mod calico;
pub mod cilium;
pub mod istio;
pub mod kubernetes;
mod names;
pub mod selectors;
pub mod yaml;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::allow::{self, AllowError};
use crate::check;
use crate::db::{self, Db, Program};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::ir;

pub use names::resource_name;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Kubernetes,
    Cilium,
    Calico,
    Istio,
}

impl Target {
    pub const ALL: [Target; 4] = [
        Target::Kubernetes,
        Target::Cilium,
        Target::Calico,
        Target::Istio,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::Kubernetes => "kubernetes",
            Target::Cilium => "cilium",
            Target::Calico => "calico",
            Target::Istio => "istio",
        }
    }
}

/// Label every emitted resource carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "nplc");
/// Annotation naming the source lines a resource came from.
pub const SOURCE_ANNOTATION: &str = "nplc.dev/source";

/// One emitted resource: its identity and the typed value as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub document: serde_json::Value,
}

impl Resource {
    /// The deterministic output order: kind, namespace, name.
    pub fn sort_key(&self) -> (String, String, String) {
        (
            self.kind.clone(),
            self.namespace.clone().unwrap_or_default(),
            self.name.clone(),
        )
    }
}

/// What a build may know beyond the program.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The cluster's namespaces with their labels (`--namespaces`), needed by
    /// the kubernetes target for zones that select namespaces by label.
    pub namespaces: Option<Vec<crate::inventory::Namespace>>,
    /// calico: no Tier resources; tiers become order bands of the default tier.
    pub calico_flat: bool,
    /// calico: Staged(Global)NetworkPolicy, to observe before enforcing.
    pub calico_staged: bool,
    /// calico: Calico Enterprise, whose egress rules match host names.
    pub calico_enterprise: bool,
}

/// Builds one target. Errors are the program's own diagnostics, or the
/// target's coded errors; nothing partial is returned.
pub fn build(
    db: &dyn Db,
    program: Program,
    target: Target,
    options: &Options,
) -> Result<Vec<Resource>, Vec<Diagnostic>> {
    let diags = check::source_diagnostics(db, program);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags.clone());
    }
    let Some(ir) = ir::lower(db, program) else {
        return Err(diags.clone());
    };
    let sources = SourceLines::new(db);
    let mut resources = match target {
        Target::Kubernetes => {
            kubernetes::emit(ir, options, &sources, &|e| allow_error(db, program, e))?
        }
        Target::Cilium => cilium::emit(db, program, ir, &sources)?,
        Target::Calico => calico::emit(ir, options, &sources)?,
        Target::Istio => istio::emit(db, program, ir, &sources)?,
    };
    resources.sort_by_key(Resource::sort_key);
    Ok(resources)
}

fn allow_error(db: &dyn Db, program: Program, err: &AllowError) -> Diagnostic {
    let anchor = err
        .rule
        .or(err.deny)
        .unwrap_or_else(|| first_span(db, program));
    let mut diag = Diagnostic::new(
        Code::NotExact,
        anchor,
        format!(
            "cannot compute the allowed connections exactly: {}",
            err.message
        ),
    )
    .with_label(if err.rule.is_some() {
        "this allow"
    } else {
        "while applying the isolation default"
    });
    if let (Some(_), Some(deny)) = (err.rule, err.deny) {
        diag = diag.with_secondary(deny, "minus this deny");
    }
    diag.with_help(if err.too_large {
        "narrow the allow, or write the denies over whole zones, port ranges or CIDRs that it contains, so fewer pieces remain; or build for `--target calico`, which keeps denies as rules"
    } else {
        "rewrite the rules so the deny removes whole peers, ports or names from the allow (for example deny the same FQDN, or move the allow to an earlier tier)"
    })
}

fn first_span(db: &dyn Db, program: Program) -> Span {
    let file = program
        .roots(db)
        .first()
        .copied()
        .or_else(|| crate::names::resolve(db, program).files.first().copied());
    match file {
        Some(f) => Span::new(f, 0, 0),
        // A program always has a root; this only keeps the type total.
        None => Span::new(
            crate::db::SourceFile::new(db, String::new(), String::new()),
            0,
            0,
        ),
    }
}

/// Renders spans as `file:line` for the source annotation.
pub struct SourceLines<'db> {
    db: &'db dyn Db,
}

impl<'db> SourceLines<'db> {
    fn new(db: &'db dyn Db) -> SourceLines<'db> {
        SourceLines { db }
    }

    /// `a.npl:3, a.npl:7-9, std/baseline:12`, sorted and deduplicated.
    pub fn describe(&self, spans: &[Span]) -> String {
        // Per file first: a file's path and line index are looked up once.
        let mut by_file: HashMap<db::SourceFile, BTreeSet<(usize, usize)>> = HashMap::new();
        for span in spans {
            let index = db::line_index(self.db, span.file);
            by_file.entry(span.file).or_default().insert((
                index.line(span.start),
                index.line(span.end.saturating_sub(1).max(span.start)),
            ));
        }
        let mut by_path: BTreeMap<&str, BTreeSet<(usize, usize)>> = BTreeMap::new();
        for (file, lines) in by_file {
            by_path
                .entry(file.path(self.db).as_str())
                .or_default()
                .extend(lines);
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

/// What a policy with no allow rules of its own comes from: the zones that
/// isolate `term` in `direction`, or else the denies that carve its
/// defaults (a pod named by a deny is selected to enforce it).
pub fn origin_spans(ir: &ir::Ir, term: &ir::PodTerm, direction: allow::Direction) -> Vec<Span> {
    let meets = |pods: &ir::PodSet| pods.terms.iter().any(|t| !t.intersection(term).is_empty());
    let isolating: Vec<Span> = ir
        .zones
        .iter()
        .filter(|z| direction.isolates(z))
        .filter(|z| meets(&z.pods))
        .filter_map(|z| z.span)
        .collect();
    if !isolating.is_empty() {
        return isolating;
    }
    ir.rules()
        .filter(|r| r.action == crate::syntax::ast::Action::Deny)
        .filter(|r| match direction {
            allow::Direction::Ingress => meets(&r.destination.pods),
            allow::Direction::Egress => meets(&r.source.pods),
        })
        .map(|r| r.span)
        .collect()
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
