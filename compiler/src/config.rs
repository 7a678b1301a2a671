//! Project configuration: an optional `nplc.toml` next to a program (or in
//! a directory above it) and the command line's `-W`/`-A`/`-D`, read the
//! same way by the CLI and the language server.
//!
//! ```toml
//! [lints]
//! W0011 = "allow"     # allow | warn | deny
//!
//! [cluster]
//! cluster-cidr = ["10.244.0.0/16"]   # pod addresses (W0007)
//! service-cidr = ["10.96.0.0/12"]    # Service addresses (W0007)
//! apiserver-endpoints = "apiserver.yaml"  # `kube-apiserver` on kubernetes
//! ```
//!
//! The ranges are also what `--target kubernetes` writes as `except` of
//! its address blocks; `apiserver-endpoints` is a file, relative to the
//! nplc.toml, from `kubectl get endpointslice -n default -l
//! kubernetes.io/service-name=kubernetes -o yaml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

use crate::db::{Db, Program};
use crate::diagnostic::{sort_diagnostics, Code, Diagnostic, Severity};
use crate::emit::Options;
use crate::inventory;
use crate::lint::{self, ClusterRanges};

pub const FILE_NAME: &str = "nplc.toml";

/// What to do with a warning code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Not reported.
    Allow,
    /// Reported as a warning.
    Warn,
    /// Reported as an error: the command fails.
    Deny,
}

impl Level {
    pub fn parse(text: &str) -> Option<Level> {
        match text {
            "allow" => Some(Level::Allow),
            "warn" => Some(Level::Warn),
            "deny" => Some(Level::Deny),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub levels: BTreeMap<Code, Level>,
    pub cluster: ClusterRanges,
    /// `[cluster] apiserver-endpoints`, resolved against the nplc.toml's
    /// directory.
    pub apiserver_endpoints: Option<PathBuf>,
    /// The file this was read from, for messages.
    pub source: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    lints: BTreeMap<String, String>,
    #[serde(default)]
    cluster: ClusterShape,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ClusterShape {
    #[serde(default)]
    cluster_cidr: Vec<String>,
    #[serde(default)]
    service_cidr: Vec<String>,
    apiserver_endpoints: Option<String>,
}

/// The warning code `text` names (`W0011`), or why not.
pub fn warning_code(text: &str) -> Result<Code, String> {
    let code = Code::ALL
        .iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(text.trim()))
        .ok_or_else(|| format!("`{text}` is not a diagnostic code (see docs/errors.md)"))?;
    if code.severity() != Severity::Warning {
        return Err(format!(
            "`{code}` is an error; only warnings (W....) can be allowed, warned or denied"
        ));
    }
    Ok(*code)
}

/// A CIDR of `--cluster-cidr`, `--service-cidr` or nplc.toml.
pub fn cidr(text: &str) -> Result<IpNet, String> {
    text.trim()
        .parse::<IpNet>()
        .map_err(|_| format!("`{text}` is not a CIDR such as 10.244.0.0/16"))
}

impl Config {
    /// Parses an nplc.toml text; `name` is for messages.
    pub fn parse(name: &str, text: &str) -> Result<Config, String> {
        let shape: FileShape =
            toml::from_str(text).map_err(|e| format!("{name}: {}", e.to_string().trim()))?;
        let mut config = Config {
            source: Some(PathBuf::from(name)),
            ..Config::default()
        };
        for (code, level) in &shape.lints {
            let code = warning_code(code).map_err(|e| format!("{name}: {e}"))?;
            let level = Level::parse(level).ok_or_else(|| {
                format!("{name}: `{level}` for {code}: write \"allow\", \"warn\" or \"deny\"")
            })?;
            config.levels.insert(code, level);
        }
        for text in &shape.cluster.cluster_cidr {
            config
                .cluster
                .pods
                .push(cidr(text).map_err(|e| format!("{name}: {e}"))?);
        }
        for text in &shape.cluster.service_cidr {
            config
                .cluster
                .services
                .push(cidr(text).map_err(|e| format!("{name}: {e}"))?);
        }
        if let Some(file) = &shape.cluster.apiserver_endpoints {
            let dir = Path::new(name).parent().unwrap_or(Path::new(""));
            config.apiserver_endpoints = Some(dir.join(file));
        }
        Ok(config)
    }

    /// The nplc.toml that governs `path` (a file or a directory): in its
    /// directory or the nearest directory above, read and parsed; the
    /// default configuration when there is none.
    pub fn discover(path: &Path) -> Result<Config, String> {
        match find(path) {
            None => Ok(Config::default()),
            Some(file) => {
                let name = file.to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read `{name}`: {e}"))?;
                Config::parse(&name, &text)
            }
        }
    }

    pub fn set(&mut self, code: Code, level: Level) {
        self.levels.insert(code, level);
    }

    /// The diagnostics with each configured level applied: allowed codes
    /// dropped, denied ones made errors.
    pub fn apply(&self, diags: &[Diagnostic]) -> Vec<Diagnostic> {
        diags
            .iter()
            .filter_map(|d| match self.levels.get(&d.code) {
                None => Some(d.clone()),
                Some(Level::Allow) => None,
                Some(Level::Warn) => Some(Diagnostic {
                    level: Some(Severity::Warning),
                    ..d.clone()
                }),
                Some(Level::Deny) => Some(Diagnostic {
                    level: Some(Severity::Error),
                    ..d.clone()
                }),
            })
            .collect()
    }
}

/// `nplc.toml` in the directory of `path` or above it.
pub fn find(path: &Path) -> Option<PathBuf> {
    let absolute = std::fs::canonicalize(path).ok()?;
    let mut dir = if absolute.is_dir() {
        Some(absolute.as_path())
    } else {
        absolute.parent()
    };
    while let Some(d) = dir {
        let candidate = d.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

/// Every diagnostic of a program under a configuration: the program's own,
/// the lints that need the cluster's ranges, then the configured levels.
pub fn diagnostics(db: &dyn Db, program: Program, config: &Config) -> Vec<Diagnostic> {
    let mut all = lint::diagnostics(db, program).clone();
    if !all.iter().any(Diagnostic::is_error) {
        let cluster = lint::cluster_addresses(db, program, &config.cluster);
        // The cluster range says more than "one private address".
        all.retain(|d| d.code != Code::HostAddress || !cluster.iter().any(|c| c.span == d.span));
        all.extend(cluster);
        let files = &crate::names::resolve(db, program).files;
        sort_diagnostics(&mut all, |f| {
            files.iter().position(|r| *r == f).unwrap_or(usize::MAX)
        });
    }
    config.apply(&all)
}

impl Config {
    /// What a build knows beyond the program: the cluster's namespaces
    /// (`--namespaces NS.yaml`), pod and Service ranges, and the API
    /// server's endpoints (`apiserver-endpoints`, read from its file). The
    /// CLI's builds and the language server's target checks read the same.
    pub fn build_options(&self, namespaces: Option<&Path>) -> Result<Options, String> {
        let mut options = match namespaces {
            Some(path) => Options {
                namespaces: Some(read_namespaces(path)?),
                ..Options::default()
            },
            None => Options::default(),
        };
        options.cluster_ranges = self
            .cluster
            .pods
            .iter()
            .chain(&self.cluster.services)
            .copied()
            .collect();
        if let Some(path) = &self.apiserver_endpoints {
            options.apiserver = Some(read_inventory(path, |source| {
                inventory::load_apiserver(source)
            })?);
        }
        Ok(options)
    }
}

/// The namespaces of a `kubectl get ns -o yaml` file.
fn read_namespaces(path: &Path) -> Result<Vec<inventory::Namespace>, String> {
    read_inventory(path, |source| {
        let no_pods = inventory::Source {
            name: source.name,
            text: "",
        };
        inventory::load(source, no_pods).map(|found| found.namespaces)
    })
}

/// An inventory file read by `load`, its errors as messages naming the file.
fn read_inventory<T>(
    path: &Path,
    load: impl FnOnce(inventory::Source<'_>) -> Result<T, inventory::InventoryError>,
) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let name = path.display().to_string();
    load(inventory::Source {
        name: &name,
        text: &text,
    })
    .map_err(|e| e.to_string())
}
