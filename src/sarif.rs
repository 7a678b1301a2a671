//! `nplc check --format sarif`: diagnostics as a SARIF 2.1.0 log, the format
//! code-scanning UIs (GitHub's among them) show on pull requests.

use nplc_compiler::render::{self, JsonLabel, Position};
use nplc_compiler::{Code, Db, Diagnostic};
use serde_json::{json, Value};

pub fn log(db: &dyn Db, diags: &[Diagnostic]) -> String {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|code| {
            json!({
                "id": code.as_str(),
                "shortDescription": { "text": code.title() },
                "help": { "text": format!("docs/errors.md#{}", code.as_str().to_ascii_lowercase()) },
                "defaultConfiguration": { "level": level(code.severity().as_str()) },
            })
        })
        .collect();
    let results: Vec<Value> = diags.iter().map(|d| result(db, d)).collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "nplc",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_else(|_| "{}".to_string())
}

fn level(severity: &str) -> &'static str {
    if severity == "error" {
        "error"
    } else {
        "warning"
    }
}

fn result(db: &dyn Db, diag: &Diagnostic) -> Value {
    let value = render::json_value(db, diag);
    let mut text = value.message.clone();
    if let Some(help) = &value.help {
        text.push_str("\nhelp: ");
        text.push_str(help);
    }
    let rule_index = Code::ALL.iter().position(|c| *c == diag.code);
    json!({
        "ruleId": value.code,
        "ruleIndex": rule_index,
        "level": level(value.severity),
        "message": { "text": text },
        "locations": [location(&value.file, &value.start, &value.end, &value.label)],
        "relatedLocations": value.labels.iter().enumerate().map(|(i, l)| related(i, l)).collect::<Vec<_>>(),
    })
}

fn location(file: &str, start: &Position, end: &Position, message: &str) -> Value {
    let mut loc = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": file, "uriBaseId": "%SRCROOT%" },
            "region": {
                "startLine": start.line,
                "startColumn": start.column,
                "endLine": end.line,
                "endColumn": end.column,
            },
        },
    });
    if !message.is_empty() {
        loc["message"] = json!({ "text": message });
    }
    loc
}

fn related(index: usize, label: &JsonLabel) -> Value {
    let mut loc = location(&label.file, &label.start, &label.end, &label.message);
    loc["id"] = json!(index);
    loc
}
