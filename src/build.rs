//! `nplc build`: compile to one YAML stream on stdout, or to a directory that
//! is replaced atomically (with a kustomization), or `--check` a directory for
//! drift. Nothing is written when there are errors.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use nplc_compiler::emit::{self, yaml, Resource, Target};
use nplc_compiler::{Database, Diagnostic};

use crate::inputs;
use crate::report::{report_diagnostics_to, JsonStream, Outcome, OutputArgs};

/// The file in an output directory that lists what nplc wrote there.
const MANIFEST: &str = ".nplc-manifest";

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
    /// (replaced atomically) instead of printing a stream.
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
        return check_dir(dir, built);
    }
    // Written one document at a time: the summary is said before the
    // resources are consumed.
    let said = summary(&built, Some(dir), args.staged);
    match write_dir(dir, built) {
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
            out.write_all(yaml::document(r).as_bytes())
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

/// Every file of the output directory, rendered one at a time and handed to
/// `each` as (relative path, content); a resource (its YAML, rendered by the
/// backend) is handed on and dropped one at a time.
fn for_each_file(
    built: Vec<(Target, Vec<Resource>)>,
    mut each: impl FnMut(String, String) -> Result<(), String>,
) -> Result<(), String> {
    let several = built.len() > 1;
    for (target, resources) in built {
        let prefix = if several {
            format!("{}/", target.as_str())
        } else {
            String::new()
        };
        let mut names = Vec::with_capacity(resources.len());
        for r in resources {
            let name = match &r.namespace {
                Some(ns) => format!("{}.{ns}.{}.yaml", r.kind.to_ascii_lowercase(), r.name),
                None => format!("{}.{}.yaml", r.kind.to_ascii_lowercase(), r.name),
            };
            each(format!("{prefix}{name}"), r.document)?;
            names.push(name);
        }
        each(
            format!("{prefix}kustomization.yaml"),
            yaml::kustomization(&names),
        )?;
    }
    Ok(())
}

/// Files below `dir` (relative, `/`-separated), the manifest excluded.
fn existing_files(dir: &Path) -> Result<Vec<String>, String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), String> {
        let entries =
            fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if let Ok(rel) = path.strip_prefix(root) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                if rel != MANIFEST {
                    out.push(rel);
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Refuses a directory holding files nplc did not write.
fn check_ownership(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(format!("`{}` exists and is not a directory", dir.display()));
    }
    let present = existing_files(dir)?;
    let manifest = fs::read_to_string(dir.join(MANIFEST)).unwrap_or_default();
    let owned: Vec<&str> = manifest.lines().collect();
    let foreign: Vec<&String> = present
        .iter()
        .filter(|f| !owned.contains(&f.as_str()))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = foreign.iter().take(10).map(|f| format!("  {f}")).collect();
    Err(format!(
        "`{}` holds files nplc did not write; refusing to replace it:\n{}\nchoose an empty or new directory, or remove those files",
        dir.display(),
        list.join("\n")
    ))
}

/// Writes the whole directory next to `dir`, then swaps it in.
fn write_dir(dir: &Path, built: Vec<(Target, Vec<Resource>)>) -> Result<(), String> {
    check_ownership(dir)?;
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    let staging = parent.join(format!(".{base}.nplc-new-{}", std::process::id()));
    let old = parent.join(format!(".{base}.nplc-old-{}", std::process::id()));
    let result = stage(&staging, built).and_then(|()| swap(dir, &staging, &old));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn stage(staging: &Path, built: Vec<(Target, Vec<Resource>)>) -> Result<(), String> {
    let fail = |p: &Path, e: std::io::Error| format!("cannot write `{}`: {e}", p.display());
    fs::create_dir_all(staging).map_err(|e| fail(staging, e))?;
    let mut written = Vec::new();
    let mut made: std::collections::BTreeSet<PathBuf> = std::collections::BTreeSet::new();
    for_each_file(built, |rel, content| {
        let path = staging.join(&rel);
        // One directory per target: created once, not once per file.
        if let Some(p) = path.parent().filter(|p| !made.contains(*p)) {
            fs::create_dir_all(p).map_err(|e| fail(p, e))?;
            made.insert(p.to_path_buf());
        }
        fs::write(&path, content).map_err(|e| fail(&path, e))?;
        written.push(rel);
        Ok(())
    })?;
    written.sort();
    written.dedup();
    let manifest: String = written.iter().map(|k| format!("{k}\n")).collect();
    let path = staging.join(MANIFEST);
    fs::write(&path, manifest).map_err(|e| fail(&path, e))
}

fn swap(dir: &Path, staging: &Path, old: &Path) -> Result<(), String> {
    let had_old = dir.exists();
    if had_old {
        fs::rename(dir, old).map_err(|e| format!("cannot replace `{}`: {e}", dir.display()))?;
    }
    if let Err(e) = fs::rename(staging, dir) {
        if had_old {
            let _ = fs::rename(old, dir);
        }
        return Err(format!("cannot write `{}`: {e}", dir.display()));
    }
    if had_old {
        let _ = fs::remove_dir_all(old);
    }
    Ok(())
}

/// `--check`: exit 1 and list the files when the directory would change.
fn check_dir(dir: &Path, built: Vec<(Target, Vec<Resource>)>) -> Outcome {
    let present = if dir.is_dir() {
        match existing_files(dir) {
            Ok(f) => f,
            Err(message) => return Outcome::Misuse(message),
        }
    } else {
        Vec::new()
    };
    // (path, line), sorted by path at the end as the files are.
    let mut drift: Vec<(String, String)> = Vec::new();
    let mut expected = std::collections::BTreeSet::new();
    let compared = for_each_file(built, |rel, content| {
        match fs::read_to_string(dir.join(&rel)) {
            Ok(current) if current == content => {}
            Ok(_) => drift.push((rel.clone(), format!("  changed  {rel}"))),
            Err(_) => drift.push((rel.clone(), format!("  missing  {rel}"))),
        }
        expected.insert(rel);
        Ok(())
    });
    if let Err(message) = compared {
        return Outcome::Misuse(message);
    }
    drift.sort();
    drift.dedup();
    let mut drift: Vec<String> = drift.into_iter().map(|(_, line)| line).collect();
    for rel in &present {
        if !expected.contains(rel) {
            drift.push(format!("  extra    {rel}"));
        }
    }
    if drift.is_empty() {
        eprintln!("`{}` is up to date", dir.display());
        Outcome::Clean
    } else {
        eprintln!(
            "`{}` differs from what `nplc build` would write:\n{}",
            dir.display(),
            drift.join("\n")
        );
        Outcome::InputErrors
    }
}
