//! The lint flags (`-W`, `-A`, `-D`, `--cluster-cidr`, `--service-cidr`,
//! `--apiserver-endpoints`) and the nplc.toml they refine.

use std::path::{Path, PathBuf};

use nplc_compiler::config::{self, Config, Level};

#[derive(clap::Args, Default)]
pub struct LintArgs {
    /// Report warning CODE as a warning (overrides nplc.toml). Repeatable.
    #[arg(short = 'W', long = "warn", value_name = "CODE")]
    warn: Vec<String>,
    /// Do not report warning CODE. Repeatable.
    #[arg(short = 'A', long = "allow", value_name = "CODE")]
    allow: Vec<String>,
    /// Report warning CODE as an error (exit status 1). Repeatable.
    #[arg(short = 'D', long = "deny", value_name = "CODE")]
    deny: Vec<String>,
    /// The cluster's pod address range, for W0007 and `--target kubernetes`
    /// (e.g. 10.244.0.0/16). Repeatable.
    #[arg(long, value_name = "CIDR")]
    cluster_cidr: Vec<String>,
    /// The cluster's Service address range, for W0007 and `--target
    /// kubernetes` (e.g. 10.96.0.0/12). Repeatable.
    #[arg(long, value_name = "CIDR")]
    service_cidr: Vec<String>,
    /// The API server's endpoints (`kubectl get endpointslice -n default -l
    /// kubernetes.io/service-name=kubernetes -o yaml`), for `--target
    /// kubernetes`. Overrides nplc.toml's `[cluster] apiserver-endpoints`.
    #[arg(long, value_name = "FILE")]
    apiserver_endpoints: Option<PathBuf>,
}

impl LintArgs {
    /// The nplc.toml governing the first path (or the current directory),
    /// then the flags: `-A`, `-W`, `-D` in that order, so `-D` wins.
    pub fn config(&self, paths: &[PathBuf]) -> Result<Config, String> {
        let start = paths
            .first()
            .filter(|p| p.as_path() != Path::new("-"))
            .cloned()
            .unwrap_or_else(|| PathBuf::from("."));
        let mut config = Config::discover(&start)?;
        for (codes, level) in [
            (&self.allow, Level::Allow),
            (&self.warn, Level::Warn),
            (&self.deny, Level::Deny),
        ] {
            for code in codes {
                config.set(config::warning_code(code)?, level);
            }
        }
        for text in &self.cluster_cidr {
            config.cluster.pods.push(config::cidr(text)?);
        }
        for text in &self.service_cidr {
            config.cluster.services.push(config::cidr(text)?);
        }
        if let Some(file) = &self.apiserver_endpoints {
            config.apiserver_endpoints = Some(file.clone());
        }
        Ok(config)
    }
}
