//! Data-driven diagnostics tests. Every directory in `tests/check/` is a case:
//! `nplc check input.npl --color never` runs with the case directory as the
//! working directory, and the input, exit status and output are compared with
//! `tests/check/snapshots/<case>.snap`. Every case is also run with
//! `--format json`, which must agree with the human output on the codes and
//! the exit status; cases marked `json` snapshot that output too
//! (`<case>@json.snap`).
//!
//! Adding a case: create `tests/check/<case>/input.npl` (plus any file it
//! imports), list the case below, run `INSTA_UPDATE=always cargo test --test
//! check` and read the new snapshot before committing it.

use std::path::{Path, PathBuf};
use std::process::Command;

macro_rules! json_flag {
    () => {
        false
    };
    (json) => {
        true
    };
}

/// `case` or `case: json`: one test per case; `json` also snapshots the JSON.
macro_rules! cases {
    ($($case:ident $(: $json:ident)?,)*) => {
        $(
            #[test]
            fn $case() {
                check_case(stringify!($case), json_flag!($($json)?));
            }
        )*
        const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}

cases! {
    e0101_empty_peer_set,
    e0208_non_ascii_name,
    clean_comments_only,
    clean_every_form,
    clean_multi_file,
    clean_three_tier: json,
    e0101_expected_punctuation,
    e0101_missing_arrow,
    e0101_punctuation_instead_of_string,
    e0101_reserved_word_as_name,
    e0101_unclosed_brace,
    e0101_unknown_gateway_line,
    e0101_unquoted_namespace,
    e0102_unterminated_string,
    e0103_invalid_escape,
    e0104_number_too_large,
    e0105_nesting_too_deep,
    e0106_not_utf8,
    e0107_file_too_large,
    e0108_imports_too_deep,
    e0109_unions_too_deep,
    e0201_not_imported_here,
    e0201_unknown_gateway_and_zone,
    e0201_unknown_name_typo: json,
    e0202_builtin_name,
    e0202_duplicate_across_files,
    e0202_duplicate_zone: json,
    e0203_import_cycle: json,
    e0203_import_self,
    e0204_import_not_found,
    e0205_unknown_std_module,
    e0206_external_in_zone_union,
    e0206_tier_used_as_peer,
    e0206_zone_used_as_gateway,
    e0207_zone_union_cycle,
    e0208_invalid_name,
    e0208_name_too_long,
    e0209_reserved_prefix,
    e0210_tier_default,
    e0210_calico_tier,
    e0301_invalid_label_key,
    e0302_invalid_label_value,
    e0302_label_value_after_unicode: json,
    e0303_invalid_namespace_name,
    e0304_invalid_cidr,
    e0305_cidr_host_bits,
    e0306_except_outside_base,
    e0307_mixed_address_families,
    e0308_port_out_of_range,
    e0309_empty_port_range,
    e0310_invalid_named_port,
    e0311_invalid_fqdn,
    e0312_invalid_http_method,
    e0313_invalid_path_regex,
    e0314_l7_needs_tcp: json,
    e0315_dns_needs_port_53,
    e0316_conflicting_zone_lines,
    e0317_invalid_gateway,
    e0318_via_needs_fqdn,
    e0319_icmp_out_of_range,
    e0320_unknown_icmp_type,
    e0426_log_with_filter,
    recovery_errors_in_every_stage,
    recovery_inside_blocks,
    recovery_three_syntax_errors: json,
    w0001_unused_definition,
    w0002_allow_without_ports: json,
    w0003_empty_zone,
    w0003_has_and_not_has,
    w0004_duplicate_import,
    w0006_no_dns_egress,
    w0007_cluster_address,
    w0008_host_address,
    w0009_shadowed_rule,
    w0010_rule_matches_nothing: json,
    w0011_useless_deny,
    w0012_profile_on_platform,
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check")
}

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn nplc_check(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_nplc"))
        .args(["check", "input.npl"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cannot run nplc");
    Run {
        status: output.status.code().expect("nplc was killed by a signal"),
        stdout: String::from_utf8(output.stdout).expect("stdout is not UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is not UTF-8"),
    }
}

/// Every `.npl` file of the case, `input.npl` first, each under a header.
fn sources(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("cannot read the case directory")
        .map(|e| e.expect("cannot read a directory entry").file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".npl"))
        .collect();
    names.sort_by_key(|n| (n != "input.npl", n.clone()));
    let mut out = String::new();
    for name in names {
        let text = std::fs::read_to_string(dir.join(&name)).expect("cannot read a source");
        out.push_str(&format!("----- {name}\n{text}"));
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The codes in human output, from lines like `error[E0201]: ...`.
fn human_codes(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l
                .strip_prefix("error[")
                .or_else(|| l.strip_prefix("warning["))?;
            Some(rest.split(']').next()?.to_string())
        })
        .collect()
}

fn snapshot(name: &str, command: &str, body: String) {
    insta::with_settings!({
        snapshot_path => "check/snapshots",
        prepend_module_to_snapshot => false,
        description => command,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, body);
    });
}

fn check_case(case: &str, snapshot_json: bool) {
    let dir = cases_dir().join(case);
    let human = nplc_check(&dir, &["--color", "never"]);
    let mut body = sources(&dir);
    body.push_str(&format!("----- exit status: {}\n", human.status));
    if !human.stdout.is_empty() {
        body.push_str(&format!("----- stdout\n{}", human.stdout));
    }
    body.push_str(&format!("----- stderr\n{}", human.stderr));
    snapshot(case, "nplc check input.npl --color never", body);

    let json = nplc_check(&dir, &["--format", "json"]);
    assert_eq!(json.status, human.status, "exit status with --format json");
    assert_eq!(json.stderr, "", "--format json writes only to stdout");
    let values: Vec<serde_json::Value> =
        serde_json::from_str(&json.stdout).expect("--format json prints a JSON array");
    let json_codes: Vec<String> = values
        .iter()
        .map(|v| {
            v["code"]
                .as_str()
                .expect("every diagnostic has a code")
                .to_string()
        })
        .collect();
    assert_eq!(
        json_codes,
        human_codes(&human.stderr),
        "JSON and human output disagree"
    );
    if snapshot_json {
        let body = format!("----- exit status: {}\n{}", json.status, json.stdout);
        snapshot(
            &format!("{case}@json"),
            "nplc check input.npl --format json",
            body,
        );
    }
}

#[test]
fn every_case_directory_is_listed() {
    let mut dirs: Vec<String> = std::fs::read_dir(cases_dir())
        .expect("cannot read tests/check")
        .map(|e| e.expect("cannot read a directory entry"))
        .filter(|e| e.path().join("input.npl").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut listed: Vec<&str> = CASES.to_vec();
    listed.sort_unstable();
    assert_eq!(
        dirs, listed,
        "tests/check/*/input.npl and the `cases!` list differ"
    );

    for entry in std::fs::read_dir(cases_dir().join("snapshots")).expect("no snapshots") {
        let name = entry.expect("cannot read a directory entry").file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".snap") {
            let case = stem.strip_suffix("@json").unwrap_or(stem);
            assert!(CASES.contains(&case), "snapshot {name} belongs to no case");
        }
    }
}
