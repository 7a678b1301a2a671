//! `nplc build`: compile to one YAML stream on stdout, or to a directory that
//! is replaced atomically (with a kustomization), or `--check` a directory for
//! drift. Nothing is written when there are errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nplc_compiler::emit::{self, Resource, Target};
use nplc_compiler::{Database, Diagnostic};

use crate::inputs;
use crate::output_dir;
use crate::report::{report_diagnostics_to, JsonStream, Outcome, OutputArgs};

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 built, 1 errors in the input (or drift with --check), 2 misuse.\n\nExamples:\n  nplc build examples/three-tier --target cilium\n  nplc build policy/ --target kubernetes -o deploy/netpol\n  nplc build policy/ -t kubernetes -t cilium -o deploy/ --check"
)]
pub struct BuildArgs {
    /// Files, directories (searched recursively for *.npl) or `-` for standard input.
    paths: Vec<PathBuf>,
    /// The enforcement engine to compile for; repeat for several.
    #[arg(long = "target", short = 't', value_enum, required = true)]
    targets: Vec<TargetArg>,
    /// Write one file per resource and a kustomization.yaml into this directory
    /// (replaced atomically; unchanged files are kept) instead of printing a
    /// stream.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Write nothing; exit 1 and list the files when the directory differs
    /// from what would be written.
    #[arg(long, requires = "output")]
    check: bool,
    /// The cluster's namespaces (`kubectl get ns -o yaml`), for the kubernetes
    /// target when zones select namespaces by label.
    #[arg(long, value_name = "NS.yaml")]
    namespaces: Option<PathBuf>,
    /// kubernetes: the API server's endpoints (`kubectl get endpointslice -n
    /// default -l kubernetes.io/service-name=kubernetes -o yaml`, or `kubectl
    /// get endpoints kubernetes -o yaml`), so that `kube-apiserver` is written
    /// as their addresses. Overrides nplc.toml's `[cluster] apiserver-endpoints`.
    #[arg(long, value_name = "FILE")]
    apiserver_endpoints: Option<PathBuf>,
    /// kubernetes: the cluster's pod address range (e.g. 10.244.0.0/16),
    /// written as `except` of every address block. Repeatable; adds to
    /// nplc.toml's `[cluster] cluster-cidr`.
    #[arg(long, value_name = "CIDR")]
    cluster_cidr: Vec<String>,
    /// kubernetes: the cluster's Service address range (e.g. 10.96.0.0/12),
    /// as `--cluster-cidr`. Repeatable.
    #[arg(long, value_name = "CIDR")]
    service_cidr: Vec<String>,
    /// calico: no Tier resources; the program's tiers become order bands of
    /// Calico's default tier, for clusters without tiers.
    #[arg(long)]
    calico_flat: bool,
    /// calico: StagedNetworkPolicy / StagedGlobalNetworkPolicy, which Calico
    /// reports on without enforcing (observe, then enforce).
    #[arg(long)]
    staged: bool,
    /// calico: the cluster runs Calico Enterprise, so FQDN egress becomes
    /// `destination.domains`.
    #[arg(long)]
    calico_enterprise: bool,
    #[command(flatten)]
    diagnostics: OutputArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum TargetArg {
    Kubernetes,
    Cilium,
    Calico,
    Istio,
}

impl TargetArg {
    pub(crate) fn target(self) -> Target {
        match self {
            TargetArg::Kubernetes => Target::Kubernetes,
            TargetArg::Cilium => Target::Cilium,
            TargetArg::Calico => Target::Calico,
            TargetArg::Istio => Target::Istio,
        }
    }
}

pub fn build(args: &BuildArgs) -> Outcome {
    let mut db = Database::default();
    let program = match inputs::load(&mut db, &args.paths) {
        Ok(p) => p,
        Err(err) => {
            return crate::report::load_failed(&mut db, err, &args.diagnostics, JsonStream::Stderr)
        }
    };
    let mut targets: Vec<Target> = args.targets.iter().map(|t| t.target()).collect();
    targets.sort();
    targets.dedup();
    // nplc.toml: its lint levels (allowed warnings are not printed) and the
    // cluster it describes.
    let mut config = match args.paths.first() {
        Some(p) if p.as_path() != Path::new("-") => {
            match nplc_compiler::config::Config::discover(p) {
                Ok(c) => c,
                Err(message) => return Outcome::Misuse(message),
            }
        }
        _ => nplc_compiler::config::Config::default(),
    };
    for (texts, ranges) in [
        (&args.cluster_cidr, &mut config.cluster.pods),
        (&args.service_cidr, &mut config.cluster.services),
    ] {
        for text in texts {
            match nplc_compiler::config::cidr(text) {
                Ok(net) => ranges.push(net),
                Err(message) => return Outcome::Misuse(message),
            }
        }
    }
    if let Some(file) = &args.apiserver_endpoints {
        config.apiserver_endpoints = Some(file.clone());
    }
    let mut options = match config.build_options(args.namespaces.as_deref()) {
        Ok(o) => o,
        Err(message) => return Outcome::Misuse(message),
    };
    if (args.calico_flat || args.staged || args.calico_enterprise)
        && !targets.contains(&Target::Calico)
    {
        return Outcome::Misuse(
            "--calico-flat, --staged and --calico-enterprise apply to the calico target: add `--target calico`"
                .to_string(),
        );
    }
    options.calico_flat = args.calico_flat;
    options.calico_staged = args.staged;
    options.calico_enterprise = args.calico_enterprise;
    let mut built: Vec<(Target, Vec<Resource>)> = Vec::new();
    let mut errors: Vec<Diagnostic> = Vec::new();
    for &target in &targets {
        match emit::build(&db, program, target, &options) {
            Ok(resources) => built.push((target, resources)),
            Err(diags) => {
                for d in diags {
                    if !errors.contains(&d) {
                        errors.push(d);
                    }
                }
            }
        }
    }
    // Warnings nplc.toml allows are not printed (its other levels are `check`'s).
    let allowed =
        |d: &Diagnostic| config.levels.get(&d.code) == Some(&nplc_compiler::config::Level::Allow);
    let mut warnings: Vec<Diagnostic> = nplc_compiler::lint::diagnostics(&db, program)
        .iter()
        .filter(|d| !d.is_error() && !allowed(d))
        .cloned()
        .collect();
    // `via` routes through Istio: without the istio target, nothing does.
    warnings.extend(nplc_compiler::targets::missing_routing(
        &db, program, &targets,
    ));
    if targets.contains(&Target::Kubernetes) && errors.is_empty() {
        let platform = nplc_compiler::targets::kubernetes_warnings(&db, program, &options);
        warnings.extend(platform.into_iter().filter(|d| !allowed(d)));
    }
    // `log` decides nothing: targets without a log action leave it out.
    warnings.extend(nplc_compiler::targets::dropped_logs(&db, program, &targets));
    // The YAML owns standard output: diagnostics go to standard error.
    let report = |diags: &[Diagnostic]| {
        report_diagnostics_to(&db, diags, &args.diagnostics, program, JsonStream::Stderr)
    };
    if !errors.is_empty() {
        let mut all = warnings;
        all.extend(errors);
        return report(&all);
    }
    if !warnings.is_empty() {
        report(&warnings);
    }
    // In JSON mode standard error holds only the diagnostics' JSON.
    let say_built = |dir: Option<&Path>| {
        if !args.diagnostics.is_json() {
            eprintln!("{}", summary(&built, dir, args.staged));
        }
    };
    let Some(dir) = &args.output else {
        print_stream(&built);
        say_built(None);
        return Outcome::Clean;
    };
    if args.check {
        return output_dir::check_dir(dir, built);
    }
    // Written one document at a time: the summary is said before the
    // resources are consumed.
    let said = summary(&built, Some(dir), args.staged);
    match output_dir::write_dir(dir, built) {
        Ok(()) => {
            if !args.diagnostics.is_json() {
                eprintln!("{said}");
            }
            Outcome::Clean
        }
        Err(message) => Outcome::Misuse(message),
    }
}

/// Every resource of every target as one YAML stream, `---` between
/// documents.
fn print_stream(built: &[(Target, Vec<Resource>)]) {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let documents = built.iter().flat_map(|(_, resources)| resources);
    // A closed pipe ends the output, as `print_stdout` does.
    let _ = documents
        .enumerate()
        .try_for_each(|(i, r)| {
            if i > 0 {
                out.write_all(b"---\n")?;
            }
            out.write_all(r.document.as_bytes())
        })
        .and_then(|()| out.flush());
}

/// `built 7 resources (kubernetes: 7 NetworkPolicy) → deploy/`; a staged
/// build says so on its calico part: `calico (staged, not enforced): …`.
fn summary(built: &[(Target, Vec<Resource>)], dir: Option<&Path>, staged: bool) -> String {
    let total: usize = built.iter().map(|(_, r)| r.len()).sum();
    let per_target: Vec<String> = built
        .iter()
        .map(|(target, resources)| {
            let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
            for r in resources {
                *kinds.entry(r.kind.as_str()).or_default() += 1;
            }
            let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let staged = if staged && *target == Target::Calico {
                " (staged, not enforced)"
            } else {
                ""
            };
            format!(
                "{}{staged}: {}",
                target.as_str(),
                if kinds.is_empty() {
                    "nothing".to_string()
                } else {
                    kinds.join(", ")
                }
            )
        })
        .collect();
    let place = dir.map_or("stdout".to_string(), |d| d.display().to_string());
    format!(
        "built {total} resource{} ({}) → {place}",
        if total == 1 { "" } else { "s" },
        per_target.join("; ")
    )
}
