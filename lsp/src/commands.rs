//! `workspace/executeCommand`: build, explain and query on the program
//! rooted at a document, so editors can offer them as actions.
//!
//! - `nplc.build [uri, target?]`: the resources of the open buffers'
//!   program, as YAML, for the target given or every configured target:
//!   `[{"target": "cilium", "yaml": "..."}]`. A program that does not build
//!   is an error listing its diagnostics.
//! - `nplc.explain [uri, zone]` and `nplc.query [uri, {from, to, port,
//!   http?, dns?}]`: `nplc explain` / `nplc query` with `--format json` on
//!   the saved file (these commands live in the `nplc` binary, which runs
//!   the server); the answer is their JSON.

use std::path::PathBuf;

use nplc_compiler::emit::{self, yaml, Options, Target};
use serde_json::{json, Value};
use tower_lsp::lsp_types::Url;

use crate::session::{uri_path, Snapshot};

pub const BUILD: &str = "nplc.build";
pub const EXPLAIN: &str = "nplc.explain";
pub const QUERY: &str = "nplc.query";
pub const ALL: [&str; 3] = [BUILD, EXPLAIN, QUERY];

fn uri_argument(arguments: &[Value]) -> Result<Url, String> {
    let text = arguments
        .first()
        .and_then(Value::as_str)
        .ok_or("the first argument must be the document's URI")?;
    Url::parse(text).map_err(|err| format!("`{text}` is not a URI: {err}"))
}

/// `nplc.build`, on a snapshot.
pub fn build(snap: &Snapshot, arguments: &[Value]) -> Result<Value, String> {
    let uri = uri_argument(arguments)?;
    let doc = snap.doc(&uri).ok_or_else(|| format!("{uri} is not open"))?;
    let targets: Vec<Target> = match arguments.get(1).and_then(Value::as_str) {
        Some(name) => vec![Target::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| format!("unknown target `{name}`"))?],
        None if snap.config.targets.is_empty() => {
            return Err("give a target, or set nplc.targets".to_string())
        }
        None => snap.config.targets.clone(),
    };
    let mut out = Vec::new();
    for target in targets {
        match emit::build(&snap.db, doc.program, target, &Options::default()) {
            Ok(resources) => out.push(json!({
                "target": target.as_str(),
                "yaml": yaml::stream(&resources),
            })),
            Err(diags) => {
                let listed: Vec<String> = diags
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| format!("{}: {}", d.code.as_str(), d.message))
                    .collect();
                return Err(format!(
                    "the program does not build for {}: {}",
                    target.as_str(),
                    listed.join("; ")
                ));
            }
        }
    }
    Ok(Value::Array(out))
}

/// The command line of `nplc.explain` / `nplc.query` (without the program).
pub fn cli_arguments(command: &str, arguments: &[Value]) -> Result<Vec<String>, String> {
    let uri = uri_argument(arguments)?;
    let path = uri_path(&uri);
    match command {
        EXPLAIN => {
            let zone = arguments
                .get(1)
                .and_then(Value::as_str)
                .ok_or("the second argument must be a zone name")?;
            Ok(vec![
                "explain".into(),
                path,
                zone.into(),
                "--format".into(),
                "json".into(),
            ])
        }
        QUERY => {
            let question = arguments
                .get(1)
                .and_then(Value::as_object)
                .ok_or("the second argument must be {from, to, port, http?, dns?}")?;
            let mut args = vec!["query".to_string(), path];
            for key in ["from", "to", "port", "http", "dns"] {
                match question.get(key).and_then(Value::as_str) {
                    Some(value) => args.extend([format!("--{key}"), value.to_string()]),
                    None if matches!(key, "from" | "to" | "port") => {
                        return Err(format!("the query needs `{key}`"))
                    }
                    None => {}
                }
            }
            args.extend(["--format".to_string(), "json".to_string()]);
            Ok(args)
        }
        other => Err(format!("unknown command `{other}`")),
    }
}

/// The `nplc` executable: the one running the server, or `nplc` on PATH
/// (when the server runs inside another program, e.g. a test).
fn nplc_executable() -> PathBuf {
    std::env::current_exe()
        .ok()
        .filter(|exe| {
            exe.file_stem()
                .is_some_and(|stem| stem.to_string_lossy() == "nplc")
        })
        .unwrap_or_else(|| PathBuf::from("nplc"))
}

/// Runs `nplc explain|query` and returns its JSON answer.
pub fn run_cli(args: &[String]) -> Result<Value, String> {
    let output = std::process::Command::new(nplc_executable())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .map_err(|err| format!("could not run nplc: {err}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer = serde_json::from_str::<Value>(&stdout).unwrap_or(Value::String(stdout.into()));
    if output.status.success() || output.status.code() == Some(1) && !answer.is_null() {
        return Ok(answer);
    }
    Err(format!(
        "nplc {} failed: {}",
        args.first().map_or("", String::as_str),
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}
