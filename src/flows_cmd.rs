//! `nplc explain --flows FILE`: recorded Hubble flows against the program
//! (`nplc_compiler::flows`), printed for people or as JSON.

use std::path::{Path, PathBuf};

use nplc_compiler::answers::describe;
use nplc_compiler::flows::{self, Decider, Finding, Fix, Report, Seen};
use nplc_compiler::ir;
use serde_json::{json, Value};

use crate::program;
use crate::report::{print_stdout, Outcome, OutputArgs};

pub fn explain_flows(paths: &[PathBuf], flows_path: &Path, output: &OutputArgs) -> Outcome {
    let text = match std::fs::read_to_string(flows_path) {
        Ok(t) => t,
        Err(e) => return Outcome::Misuse(format!("cannot read `{}`: {e}", flows_path.display())),
    };
    let read = match flows::read(&text) {
        Ok(r) => r,
        Err(e) => return Outcome::Misuse(format!("{}: {e}", flows_path.display())),
    };
    let (db, program) = match program::load(paths, output) {
        Ok(loaded) => loaded,
        Err(outcome) => return outcome,
    };
    let Some(ir) = ir::lower(&db, program).as_ref() else {
        return Outcome::InputErrors;
    };
    let report = flows::analyse(ir, &read.flows, |span| {
        let span = describe::tidy(&db, span);
        format!(
            "`{}` ({})",
            describe::source_text(&db, span),
            describe::location(&db, span)
        )
    });
    let dropped = read
        .flows
        .iter()
        .filter(|f| f.seen == Seen::Dropped)
        .count();
    let forwarded = read.flows.len() - dropped;
    let source = flows_path.display().to_string();
    let text = if output.is_json() {
        json_report(&source, &report, dropped, forwarded, read.skipped)
    } else {
        human(&source, &report, dropped, forwarded, read.skipped)
    };
    print_stdout(&text);
    Outcome::Clean
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn human(
    source: &str,
    report: &Report,
    dropped: usize,
    forwarded: usize,
    skipped: usize,
) -> String {
    let mut out = format!(
        "{source}: {} dropped by policy, {} forwarded",
        plural(dropped, "flow"),
        forwarded
    );
    if skipped > 0 {
        out.push_str(&format!(
            " ({skipped} skipped: replies, or drops for other reasons)"
        ));
    }
    out.push_str(".\n");
    let sections = [
        (
            "Dropped flows the program denies",
            &report.drops,
            "",
        ),
        (
            "Dropped flows the program allows (the cluster does not run this program: apply it, or look for other policies)",
            &report.dropped_but_allowed,
            "",
        ),
        (
            "Forwarded flows the program denies (the cluster is not enforcing what the source says)",
            &report.forwarded_but_denied,
            "",
        ),
    ];
    for (title, findings, _) in sections {
        if findings.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n{title}: {}.\n",
            plural(findings.len(), "cause")
        ));
        for (i, f) in findings.iter().enumerate() {
            out.push_str(&finding_text(i + 1, f));
        }
    }
    if report.drops.is_empty()
        && report.dropped_but_allowed.is_empty()
        && report.forwarded_but_denied.is_empty()
    {
        out.push_str("Every flow agrees with the program.\n");
    }
    out
}

fn zones_words(zones: &[String]) -> String {
    if zones.is_empty() {
        "no zone".to_string()
    } else {
        zones
            .iter()
            .map(|z| format!("`{z}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn decider_words(d: &Decider) -> String {
    match d {
        Decider::Rules { tier, rules } => format!("tier `{tier}`: {}", rules.join(", ")),
        Decider::Isolation {
            source,
            destination,
        } => {
            let mut parts = Vec::new();
            if !source.is_empty() {
                parts.push(format!("{} isolated for egress", zones_words(source)));
            }
            if !destination.is_empty() {
                parts.push(format!("{} isolated for ingress", zones_words(destination)));
            }
            if parts.is_empty() {
                "no rule matches and neither end is isolated".to_string()
            } else {
                format!("no rule matches; isolation: {}", parts.join("; "))
            }
        }
    }
}

fn fix_words(fix: &Fix) -> String {
    match fix {
        Fix::Label {
            on_namespace,
            source_side,
            target,
            key,
            value,
            zone,
        } => {
            let side = if *source_side {
                "source"
            } else {
                "destination"
            };
            if *on_namespace {
                format!(
                    "label the {side} namespace `{target}` with {key}={value} in its manifest \
                     (zone `{zone}` selects by it)"
                )
            } else {
                format!(
                    "label the {side} {target} with {key}={value} (zone `{zone}` selects by it)"
                )
            }
        }
        Fix::Rule {
            text,
            new_zones,
            before_tier,
        } => {
            let mut s = String::new();
            for z in new_zones {
                s.push_str(&format!("add `{z}`, then "));
            }
            s.push_str(&format!("add `{text}`"));
            if let Some(tier) = before_tier {
                s.push_str(&format!(" in a tier before `{tier}`, whose deny decides"));
            }
            s
        }
    }
}

fn finding_text(n: usize, f: &Finding) -> String {
    let e = &f.example;
    let mut out = format!(
        "\n[{n}] {} — e.g. {} → {} {} (line {})\n",
        plural(f.count, "flow"),
        e.source_name,
        e.destination_name,
        flows::transport_words(e.connection.transport),
        e.line
    );
    if f.samples.len() > 1 {
        out.push_str(&format!("    also: {}\n", f.samples[1..].join("; ")));
    }
    out.push_str(&format!(
        "    source zones: {}\n",
        zones_words(&f.source_zones)
    ));
    out.push_str(&format!(
        "    destination zones: {}\n",
        zones_words(&f.destination_zones)
    ));
    out.push_str(&format!("    decided by: {}\n", decider_words(&f.decider)));
    for fix in &f.fixes {
        out.push_str(&format!("    fix: {}\n", fix_words(fix)));
    }
    out
}

fn json_report(
    source: &str,
    report: &Report,
    dropped: usize,
    forwarded: usize,
    skipped: usize,
) -> String {
    let list = |findings: &[Finding]| -> Vec<Value> {
        findings
            .iter()
            .map(|f| {
                json!({
                    "count": f.count,
                    "example": {
                        "line": f.example.line,
                        "source": f.example.source_name,
                        "destination": f.example.destination_name,
                        "transport": flows::transport_words(f.example.connection.transport),
                    },
                    "samples": f.samples,
                    "source_zones": f.source_zones,
                    "destination_zones": f.destination_zones,
                    "decided_by": decider_words(&f.decider),
                    "fixes": f.fixes.iter().map(fix_json).collect::<Vec<_>>(),
                })
            })
            .collect()
    };
    let value = json!({
        "flows": source,
        "dropped": dropped,
        "forwarded": forwarded,
        "skipped": skipped,
        "drops": list(&report.drops),
        "dropped_but_allowed": list(&report.dropped_but_allowed),
        "forwarded_but_denied": list(&report.forwarded_but_denied),
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_string())
    )
}

fn fix_json(fix: &Fix) -> Value {
    match fix {
        Fix::Label {
            on_namespace,
            source_side,
            target,
            key,
            value,
            zone,
        } => json!({
            "label": {"on": if *on_namespace { "namespace" } else { "pods" }, "side": if *source_side { "source" } else { "destination" }, "target": target, "key": key, "value": value, "zone": zone}
        }),
        Fix::Rule {
            text,
            new_zones,
            before_tier,
        } => json!({"rule": text, "zones": new_zones, "before_tier": before_tier}),
    }
}
