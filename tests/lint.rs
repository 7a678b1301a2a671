//! Lint levels and outputs end to end: `-W`/`-A`/`-D` and nplc.toml change
//! what `nplc check` reports and its exit status; the lints stay quiet on
//! the shipped examples and the standard library; `--format sarif` is a
//! SARIF 2.1.0 log. (Each lint's own case is in tests/check/w00NN_*.)

use std::path::{Path, PathBuf};

use nplc_compiler::{lint, Code, Database, Program};

#[path = "support/cli.rs"]
mod cli;

use cli::nplc_in as nplc;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn temp(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nplc-lint-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (file, text) in files {
        std::fs::write(dir.join(file), text).expect("write");
    }
    dir
}

const USELESS_DENY: &str = "import \"std/baseline\"\nzone app { namespace \"my-app\" }\nallow app -> app : 8080\ndeny world -> app\n";

#[test]
fn levels_from_the_command_line() {
    let dir = temp("flags", &[("main.npl", USELESS_DENY)]);
    let (code, _, err) = nplc(&["check", "main.npl", "--color", "never"], &dir);
    assert_eq!(code, 0, "a warning does not fail: {err}");
    assert!(err.contains("warning[W0011]"), "{err}");
    let (code, _, err) = nplc(
        &["check", "main.npl", "--color", "never", "-D", "W0011"],
        &dir,
    );
    assert_eq!(code, 1, "-D makes it an error: {err}");
    assert!(err.contains("error[W0011]"), "{err}");
    let (code, _, err) = nplc(
        &["check", "main.npl", "--color", "never", "-A", "w0011"],
        &dir,
    );
    assert_eq!(code, 0);
    assert!(
        err.contains("no problems"),
        "-A silences it (codes in any case): {err}"
    );
    let (code, _, err) = nplc(&["check", "main.npl", "-D", "E0201"], &dir);
    assert_eq!(code, 2, "errors cannot be configured: {err}");
    let (code, _, err) = nplc(&["check", "main.npl", "--cluster-cidr", "10.244.0.0"], &dir);
    assert_eq!(code, 2, "a range needs its prefix: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn levels_from_nplc_toml() {
    let toml = "[lints]\nW0011 = \"deny\"\n\n[cluster]\ncluster-cidr = [\"10.244.0.0/16\"]\n";
    let program = format!("{USELESS_DENY}allow app -> cidr 10.244.1.5/32 : 5432\n");
    let dir = temp("toml", &[("nplc.toml", toml)]);
    std::fs::create_dir_all(dir.join("policy")).expect("policy");
    std::fs::write(dir.join("policy/main.npl"), program).expect("write");
    // Found from the program's directory upwards.
    let (code, _, err) = nplc(&["check", "policy", "--color", "never"], &dir);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("error[W0011]") && err.contains("warning[W0007]"),
        "{err}"
    );
    assert!(
        !err.contains("W0008"),
        "the cluster range says more than W0008: {err}"
    );
    // The command line wins over the file.
    let (code, _, err) = nplc(&["check", "policy", "-W", "W0011"], &dir);
    assert_eq!(code, 0, "{err}");
    std::fs::write(dir.join("nplc.toml"), "[lints]\nW0011 = \"never\"\n").expect("write");
    let (code, _, err) = nplc(&["check", "policy"], &dir);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("write \"allow\", \"warn\" or \"deny\""),
        "{err}"
    );
    std::fs::write(dir.join("nplc.toml"), "[lint]\n").expect("write");
    let (code, _, err) = nplc(&["check", "policy"], &dir);
    assert_eq!(code, 2, "unknown sections are misuse: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sarif_log() {
    let dir = temp("sarif", &[("main.npl", USELESS_DENY)]);
    let (code, out, _) = nplc(&["check", "main.npl", "--format", "sarif"], &dir);
    assert_eq!(code, 0);
    let log: serde_json::Value = serde_json::from_str(&out).expect("SARIF is JSON");
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "nplc");
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), Code::ALL.len());
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "W0011");
    assert_eq!(result["level"], "warning");
    let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
    assert_eq!(rules[index]["id"], "W0011");
    let region = &result["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 4);
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "main.npl"
    );
    let (_, out, _) = nplc(
        &["check", "main.npl", "--format", "sarif", "-D", "W0011"],
        &dir,
    );
    let log: serde_json::Value = serde_json::from_str(&out).expect("SARIF is JSON");
    assert_eq!(log["runs"][0]["results"][0]["level"], "error");
    let _ = std::fs::remove_dir_all(&dir);
}

/// No lint fires on an example (with the example's own nplc.toml) or in a
/// program that imports every standard module.
#[test]
fn quiet_on_examples_and_std() {
    for entry in std::fs::read_dir(root().join("examples")).expect("examples") {
        let dir = entry.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        let (_, _, err) = nplc(&["check", ".", "--color", "never"], &dir);
        let lints: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("warning[W00") && !l.starts_with("warning[W0002]"))
            .collect();
        assert!(lints.is_empty(), "{}: {lints:?}", dir.display());
    }
    let mut database = Database::default();
    let text = "import \"std/k8s\"\nimport \"std/baseline\"\nimport \"std/homelab\"\n";
    let file = database.set_file("all.npl", text.to_string());
    let program = Program::new(&database, vec![file]);
    let diags = lint::diagnostics(&database, program);
    assert!(
        diags
            .iter()
            .all(|d| !d.code.as_str().starts_with('W') || d.code == Code::UnusedDefinition),
        "{diags:?}"
    );
}

/// A rule behind an L7-filtered allow still decides the requests the filter
/// does not match: W0009 (shadowed) and W0011 (useless deny) stay quiet, since
/// deleting the rule would allow them.
#[test]
fn rules_behind_an_l7_filter_are_not_reported_as_deletable() {
    let filter = "zone a { namespace \"a\"; isolate none }\n\
                  zone b { namespace \"b\"; isolate none }\n\
                  tier t {\n  allow a -> b : 80 http { GET \"/health\" }\n}\n";
    for rest in ["deny a -> b : 80\n", "deny a -> b\nallow a -> b : 80\n"] {
        let mut database = Database::default();
        let file = database.set_file("main.npl", format!("{filter}{rest}"));
        let program = Program::new(&database, vec![file]);
        let codes: Vec<Code> = lint::diagnostics(&database, program)
            .iter()
            .map(|d| d.code)
            .collect();
        assert!(
            !codes.contains(&Code::ShadowedRule) && !codes.contains(&Code::UselessDeny),
            "{rest}: {codes:?}"
        );
    }
}
