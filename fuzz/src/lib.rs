//! Shared code of the fuzz targets: running the compiler on one text, the
//! checks every build output must pass, and the program generator of the
//! structure-aware target. What each target checks is in docs/testing.md.

pub mod generate;
pub mod lsp;

use nplc_compiler::emit::{self, Options, Resource, Target};
use nplc_compiler::{formatter, lint, render, Database, Program};

/// A database holding `text` as `fuzz.npl`, and the program of it.
pub fn program(text: &str) -> (Database, Program) {
    let mut database = Database::default();
    let file = database.set_file("fuzz.npl", text.to_string());
    let program = Program::new(&database, vec![file]);
    (database, program)
}

/// Bytes as the CLI reads them: only UTF-8 text gets past the reader.
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Every diagnostic, rendered both ways; the formatter on files that parse,
/// whose output must be stable.
pub fn check(text: &str) {
    let (database, program) = program(text);
    let diags = lint::diagnostics(&database, program);
    let _ = render::human(&database, diags, false);
    let _ = render::json(&database, diags);
    if let Ok(formatted) = formatter::format_source(text) {
        match formatter::format_source(&formatted) {
            Ok(again) => assert_eq!(again, formatted, "formatting is not idempotent"),
            Err(err) => panic!("the formatter's output does not format: {err}"),
        }
    }
}

/// The option sets `build` is run with: each target's default, and calico's
/// flat, staged and enterprise variants.
pub fn option_sets() -> Vec<(Target, Options)> {
    let mut sets: Vec<(Target, Options)> = Target::ALL
        .iter()
        .map(|t| (*t, Options::default()))
        .collect();
    let flat = Options {
        calico_flat: true,
        calico_staged: true,
        calico_enterprise: true,
        ..Options::default()
    };
    sets.push((Target::Calico, flat));
    sets
}

/// Builds the program for every target. A refusal (coded errors) is fine; a
/// build that succeeds must give output that passes [`check_output`].
pub fn build_all(database: &Database, program: Program) {
    for (target, options) in option_sets() {
        if let Ok(resources) = emit::build(database, program, target, &options) {
            check_output(target, &resources);
        }
    }
}

/// The kinds a target writes.
pub fn kinds(target: Target) -> &'static [&'static str] {
    match target {
        Target::Kubernetes => &["NetworkPolicy"],
        Target::Cilium => &["CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"],
        Target::Calico => &[
            "Tier",
            "NetworkPolicy",
            "GlobalNetworkPolicy",
            "StagedNetworkPolicy",
            "StagedGlobalNetworkPolicy",
        ],
        Target::Istio => &[
            "ServiceEntry",
            "Gateway",
            "DestinationRule",
            "VirtualService",
        ],
    }
}

/// The checks standing in for schema validation inside a fuzz target: the
/// YAML stream parses, has one document per resource, each with the
/// resource's apiVersion, kind and name, of a kind the target writes, and
/// reads back as exactly the document that was serialised; names are
/// DNS-1123 subdomains and the output is in the deterministic order.
pub fn check_output(target: Target, resources: &[Resource]) {
    let stream = emit::yaml::stream(resources);
    let documents: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&stream)
        .map(|d| {
            serde::Deserialize::deserialize(d)
                .unwrap_or_else(|e| panic!("output is not YAML: {e}\n{stream}"))
        })
        .collect();
    let documents: Vec<serde_json::Value> =
        documents.into_iter().filter(|d| !d.is_null()).collect();
    assert_eq!(
        documents.len(),
        resources.len(),
        "one document per resource"
    );
    let mut keys = Vec::new();
    for (document, resource) in documents.iter().zip(resources) {
        // Every scalar that YAML 1.1 readers read differently is quoted
        // already: quoting again changes nothing.
        let text = emit::yaml::document(resource);
        assert_eq!(
            emit::yaml::quote_ambiguous(text),
            text,
            "a scalar YAML 1.1 reads differently is left plain"
        );
        assert_eq!(document["kind"].as_str(), Some(resource.kind.as_str()));
        assert_eq!(
            document["apiVersion"].as_str(),
            Some(resource.api_version.as_str())
        );
        assert!(
            kinds(target).contains(&resource.kind.as_str()),
            "{} writes no {}",
            target.as_str(),
            resource.kind
        );
        assert_eq!(
            document["metadata"]["name"].as_str(),
            Some(resource.name.as_str())
        );
        assert!(
            is_dns_subdomain(&resource.name),
            "bad name {:?}",
            resource.name
        );
        keys.push(resource.sort_key());
    }
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "resources are not in the output order");
}

fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}
