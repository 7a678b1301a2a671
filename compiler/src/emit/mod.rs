//! Emission: from the IR (through the allow table) to typed Kubernetes
//! resources, per target. Backends build typed values; `yaml` alone turns
//! them into text. A backend that cannot express something exactly returns a
//! coded diagnostic naming the construct, the target and the way out.

pub mod calico;
pub mod cilium;
mod common;
pub mod istio;
pub mod kubernetes;
mod names;
pub mod selectors;
pub mod yaml;

use crate::allow::AllowError;
use crate::db::{Db, Program};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::ir;

pub use common::{
    fqdn_list, metadata, target_error, to_json, SourceLines, MANAGED_BY, SOURCE_ANNOTATION,
};
pub use names::resource_name;
pub use yaml::render as to_yaml;

use common::dedup_errors;

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

/// One emitted resource: its identity and its document, rendered as YAML
/// once, when the backend builds it ([`to_yaml`]). Holding the text, not a
/// `serde_json::Value`, keeps a build's memory near the size of its output.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// The YAML document, without the `---` separator.
    pub document: String,
}

impl Resource {
    /// The document read back as a value, for tests and tools that inspect
    /// or rewrite it: a YAML parse, so slow on a whole build.
    pub fn value(&self) -> serde_json::Value {
        serde_yaml::from_str(&self.document).unwrap_or(serde_json::Value::Null)
    }

    /// The same resource with another document (re-rendered), for tests
    /// that rewrite what a backend built.
    pub fn with_value(&self, value: &serde_json::Value) -> Resource {
        Resource {
            document: to_yaml(value),
            ..self.clone()
        }
    }

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
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// kubernetes: the cluster's pod and Service ranges (`--cluster-cidr`,
    /// `--service-cidr`), written as `except` of every address block.
    pub cluster_ranges: Vec<ipnet::IpNet>,
    /// kubernetes: the API server's endpoints (`--apiserver-endpoints`), so
    /// that `kube-apiserver` is written as their addresses.
    pub apiserver: Option<crate::inventory::ApiServer>,
}

/// Builds one target. Errors are the program's own diagnostics, or the
/// target's coded errors; nothing partial is returned.
pub fn build(
    db: &dyn Db,
    program: Program,
    target: Target,
    options: &Options,
) -> Result<Vec<Resource>, Vec<Diagnostic>> {
    let ir = ir::lowered(db, program).map_err(<[Diagnostic]>::to_vec)?;
    let sources = SourceLines::new(db, ir);
    let mut resources = match target {
        Target::Kubernetes => {
            kubernetes::emit(ir, options, &sources, &|e| allow_error(db, program, ir, e))?
        }
        Target::Cilium => cilium::emit(ir, &sources)?,
        Target::Calico => calico::emit(ir, options, &sources)?,
        Target::Istio => istio::emit(ir, &sources)?,
    };
    resources.sort_by_key(Resource::sort_key);
    Ok(resources)
}

fn allow_error(db: &dyn Db, program: Program, ir: &ir::Ir, err: &AllowError) -> Diagnostic {
    let anchor = err
        .rule
        .or(err.deny)
        .unwrap_or_else(|| first_span(db, program, ir));
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

fn first_span(db: &dyn Db, program: Program, ir: &ir::Ir) -> Span {
    let file = program
        .roots(db)
        .first()
        .copied()
        .or_else(|| ir.zones.iter().find_map(|z| z.span).map(|s| s.file));
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
