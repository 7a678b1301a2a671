//! `nplc query`, `nplc explain` and `nplc matrix`, run as the real binary on
//! the fixtures in tests/commands/.

use std::process::Command;

use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs nplc from the package root, so fixture paths print as
/// `tests/commands/...`.
fn nplc(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_nplc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("nplc runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

const SHOP: &str = "tests/commands/shop.npl";
const TIERS: &str = "tests/commands/tiers.npl";
const L7: &str = "tests/commands/l7.npl";
const NAMESPACES: &str = "tests/commands/namespaces.yaml";
const PODS: &str = "tests/commands/pods.yaml";

fn query(file: &str, from: &str, to: &str, port: &str, extra: &[&str]) -> Run {
    let mut args = vec!["query", file, "--from", from, "--to", to, "--port", port];
    args.extend_from_slice(extra);
    nplc(&args)
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

// ---- query ----------------------------------------------------------------

#[test]
fn query_allowed_shows_the_rule() {
    let run = query(
        SHOP,
        "ns=frontend,app=web",
        "ns=backend,app=api",
        "8080",
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("allowed: ns=frontend,app=web -> ns=backend,app=api on tcp/8080\n"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("decided in tier `default` by 1 matching allow rule"));
    assert!(
        run.stdout.contains("tests/commands/shop.npl:20:1"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("allow frontend -> backend : 8080, tcp/grpc"));
}

#[test]
fn query_denied_by_isolation_names_the_zones() {
    let run = query(
        SHOP,
        "ns=frontend,app=web",
        "ns=backend,app=api",
        "tcp/9090",
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("denied: "), "{}", run.stdout);
    assert!(run
        .stdout
        .contains("no rule matched; denied by the isolation default"));
    assert!(run
        .stdout
        .contains("the source is in zone `frontend`, isolated for egress"));
    assert!(run
        .stdout
        .contains("the destination is in zone `backend`, isolated for ingress"));
    assert!(run
        .stdout
        .contains("note: zone `backend` is isolated for ingress"));
}

#[test]
fn query_allowed_by_default_outside_isolated_zones() {
    let run = query(
        SHOP,
        "ns=tools,app=debug",
        "ns=backend,app=worker",
        "22",
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("allowed: "), "{}", run.stdout);
    assert!(run.stdout.contains("no rule matched; allowed by default"));
}

#[test]
fn query_deny_beats_allow_and_tiers_in_order() {
    // A deny in the first tier.
    let run = query(TIERS, "ns=ops", "ns=web", "22", &[]);
    assert!(run.stdout.starts_with("denied: "), "{}", run.stdout);
    assert!(run
        .stdout
        .contains("decided in tier `security` by 1 matching deny rule"));
    assert!(run.stdout.contains("deny cluster -> web : 22"));
    // The first tier's allow beats the second tier's deny.
    let run = query(TIERS, "ns=ops", "ns=web", "9100", &[]);
    assert!(run.stdout.starts_with("allowed: "), "{}", run.stdout);
    assert!(run.stdout.contains("decided in tier `security`"));
    // Only the second tier speaks about port 80.
    let run = query(TIERS, "ns=ops", "ns=web", "80", &[]);
    assert!(run.stdout.starts_with("denied: "), "{}", run.stdout);
    assert!(run.stdout.contains("decided in tier `platform`"));
    assert!(run.stdout.contains("deny ops -> web"));
}

#[test]
fn query_named_container_port() {
    let to = "ns=backend,app=api,port:grpc=9000";
    let run = query(SHOP, "ns=frontend", to, "9000", &[]);
    assert!(run.stdout.starts_with("allowed: "), "{}", run.stdout);
    // Without the port's name, 9000 is just a number no rule allows.
    let run = query(SHOP, "ns=frontend", "ns=backend,app=api", "9000", &[]);
    assert!(run.stdout.starts_with("denied: "), "{}", run.stdout);
}

#[test]
fn query_external_peers() {
    let run = query(SHOP, "world", "ns=frontend,app=web", "443", &[]);
    assert!(
        run.stdout.starts_with("allowed: world -> "),
        "{}",
        run.stdout
    );
    let run = query(SHOP, "ns=tools", "ip:169.254.169.254", "80", &[]);
    assert!(run.stdout.starts_with("denied: "), "{}", run.stdout);
    assert!(run.stdout.contains("decided in tier `security`"));
    let run = query(SHOP, "ns=backend,app=api", "ip:10.20.3.4", "tcp/9050", &[]);
    assert!(run.stdout.starts_with("allowed: "), "{}", run.stdout);
    let run = query(SHOP, "ns=backend,app=api", "fqdn:example.com", "443", &[]);
    assert!(run.stdout.starts_with("denied: "), "{}", run.stdout);
}

#[test]
fn query_l7_with_and_without_a_request() {
    let run = query(L7, "ns=edge", "ns=shop", "8080", &[]);
    assert!(
        run.stdout
            .starts_with("allowed for matching requests only: ns=edge -> ns=shop on tcp/8080\n"),
        "{}",
        run.stdout
    );
    let run = query(
        L7,
        "ns=edge",
        "ns=shop",
        "8080",
        &["--http", "GET /api/v1/products/42"],
    );
    assert!(
        run.stdout
            .starts_with("allowed: ns=edge -> ns=shop on tcp/8080 (GET /api/v1/products/42)"),
        "{}",
        run.stdout
    );
    let run = query(
        L7,
        "ns=edge",
        "ns=shop",
        "8080",
        &["--http", "DELETE /api/v1/orders"],
    );
    assert!(run.stdout.starts_with("denied: "), "{}", run.stdout);
    assert!(run.stdout.contains("isolated for ingress"));
    // Methods are case-sensitive, as HTTP and Cilium read them.
    let run = query(
        L7,
        "ns=edge",
        "ns=shop",
        "8080",
        &["--http", "get /api/v1/products/42"],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("did you mean `GET`?"), "{}", run.stderr);
}

#[test]
fn query_json_tier_decision() {
    let run = query(L7, "ns=edge", "ns=shop", "8080", &["--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = json(&run);
    assert_eq!(v["allowed"], true);
    assert_eq!(v["l7_restricted"], true);
    assert_eq!(v["decision"]["kind"], "tier");
    assert_eq!(v["decision"]["tier"], "default");
    let rule = &v["decision"]["rules"][0];
    assert_eq!(rule["file"], L7);
    assert_eq!(rule["start"]["line"], 10);
    assert_eq!(rule["end"]["line"], 13);
    assert!(rule["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("allow edge -> shop : 8080 http {")));
}

#[test]
fn query_json_isolation_decision() {
    let run = query(
        SHOP,
        "ns=frontend",
        "ns=data,app=postgres,nslabels:tier=data",
        "5432",
        &["--format", "json"],
    );
    let v = json(&run);
    assert_eq!(v["allowed"], false);
    assert_eq!(v["l7_restricted"], false);
    // `deny frontend -> db` decides, in the default tier.
    assert_eq!(v["decision"]["kind"], "tier");
    let run = query(
        SHOP,
        "ns=tools",
        "ns=data,app=postgres,nslabels:tier=data",
        "5432",
        &["--format", "json"],
    );
    let v = json(&run);
    assert_eq!(v["allowed"], false);
    assert_eq!(v["decision"]["kind"], "isolation");
    assert_eq!(v["decision"]["source_zones"], serde_json::json!([]));
    assert_eq!(
        v["decision"]["destination_zones"],
        serde_json::json!(["db"])
    );
}

#[test]
fn query_program_errors_exit_1() {
    let dir = std::env::temp_dir().join(format!("nplc-commands-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("broken.npl");
    std::fs::write(&file, "allow nowhere -> frontend : 80\n").expect("write");
    let path = file.to_string_lossy().into_owned();
    let run = query(&path, "world", "ns=a", "80", &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("error["), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn query_bad_endpoint_exit_2() {
    let run = query(SHOP, "app=web", "ns=backend", "80", &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("error: bad --from endpoint `app=web`: a pod endpoint needs its namespace: add `ns=NAME`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("ENDPOINT is one of:"));
    let run = query(SHOP, "ns=a", "ip:300.1.2.3", "80", &[]);
    assert_eq!(run.code, 2);
    assert!(run
        .stderr
        .contains("bad --to endpoint `ip:300.1.2.3`: `300.1.2.3` is not an IPv4 or IPv6 address"));
    let run = query(SHOP, "ns=a,web", "world", "80", &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("`web` is not KEY=VALUE"),
        "{}",
        run.stderr
    );
}

#[test]
fn query_bad_port_exit_2() {
    for (port, message) in [
        (
            "http/80",
            "bad --port `http/80`: unknown protocol `http` (tcp, udp, sctp)",
        ),
        (
            "70000",
            "bad --port `70000`: `70000` is not a port number (1-65535)",
        ),
        ("tcp/", "is not a port number"),
        ("icmp/256", "`256` is not an icmp type"),
        ("icmpv6/1/x", "`x` is not an ICMP code (0-255)"),
    ] {
        let run = query(SHOP, "ns=a", "ns=b", port, &[]);
        assert_eq!(run.code, 2, "{port}");
        assert!(run.stderr.contains(message), "{port}: {}", run.stderr);
        assert!(run
            .stderr
            .contains("PORT is 8080 (TCP), tcp/8080, udp/53, sctp/3868, or an ICMP message"));
    }
    let run = query(SHOP, "ns=a", "ns=b", "udp/53", &["--http", "GET /"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--http needs a TCP port"),
        "{}",
        run.stderr
    );
    let run = query(SHOP, "ns=a", "ns=b", "80", &["--http", "/only-a-path"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bad --http"), "{}", run.stderr);
}

// ---- explain --------------------------------------------------------------

#[test]
fn explain_a_zone() {
    let run = nplc(&["explain", SHOP, "backend"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("explain_backend", run.stdout);
}

#[test]
fn explain_a_zone_isolated_for_ingress_only() {
    let run = nplc(&["explain", SHOP, "db"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run
        .stdout
        .contains("ingress: isolated — only these may connect:"));
    assert!(run.stdout.contains(
        "  from namespace \"backend\", pods app = \"api\" on tcp 5432  (tests/commands/shop.npl:21)"
    ));
    // Its pods may also be in `frontend` (a namespace labelled tier=data),
    // which is isolated for egress; the rest keep the default.
    assert!(run.stdout.contains(
        "egress: not isolated by this zone, but its pods that are also in `frontend` are; allowed:"
    ));
    assert!(run.stdout.contains("(default: not isolated)"));
}

#[test]
fn explain_json() {
    let run = nplc(&["explain", SHOP, "frontend", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = json(&run);
    assert_eq!(v["zone"], "frontend");
    assert_eq!(v["ingress"]["isolated"], true);
    let entries = v["ingress"]["entries"].as_array().expect("entries");
    assert!(entries
        .iter()
        .any(|e| e["peers"] == "world" && e["ports"] == "tcp 443"));
}

#[test]
fn explain_unknown_zone_exit_2() {
    let run = nplc(&["explain", SHOP, "backnd"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("error: unknown zone `backnd`; did you mean `backend`?"),
        "{}",
        run.stderr
    );
    let run = nplc(&["explain", SHOP, "world"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("`world` is a built-in peer, not a zone"),
        "{}",
        run.stderr
    );
}

// ---- matrix ---------------------------------------------------------------

#[test]
fn matrix_of_an_inventory() {
    let run = nplc(&["matrix", SHOP, "--namespaces", NAMESPACES, "--pods", PODS]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("matrix_shop", run.stdout);
}

#[test]
fn matrix_lines_agree_with_query() {
    let run = nplc(&["matrix", SHOP, "--namespaces", NAMESPACES, "--pods", PODS]);
    assert!(run
        .stdout
        .contains("frontend/web[Pod] => backend/api[Pod] : {protocols:TCP,dst_ports:8080,9000}\n"));
    let q = query(
        SHOP,
        "ns=frontend,app=web",
        "ns=backend,app=api,port:grpc=9000",
        "9000",
        &[],
    );
    assert!(q.stdout.starts_with("allowed"), "{}", q.stdout);
    let q = query(
        SHOP,
        "ns=frontend,app=web",
        "ns=backend,app=api,port:grpc=9000",
        "9001",
        &[],
    );
    assert!(q.stdout.starts_with("denied"), "{}", q.stdout);
}

#[test]
fn matrix_json() {
    let run = nplc(&[
        "matrix",
        SHOP,
        "--namespaces",
        NAMESPACES,
        "--pods",
        PODS,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = json(&run);
    let rows = v.as_array().expect("a list");
    let row = rows
        .iter()
        .find(|r| r["source"] == "frontend/web[Pod]" && r["destination"] == "backend/api[Pod]")
        .expect("frontend to backend");
    assert_eq!(
        row["connections"],
        serde_json::json!([{"protocols": ["TCP"], "dst_ports": [[8080, 8080], [9000, 9000]]}])
    );
}

#[test]
fn matrix_malformed_inventories_exit_2() {
    let dir = std::env::temp_dir().join(format!("nplc-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases = [
        ("items: [\n", "not valid YAML"),
        ("items:\n- kind: Pod\n  metadata: {namespace: frontend}\n", "items[0]: no `metadata.name`"),
        (
            "kind: Pod\nmetadata: {name: x, namespace: nowhere}\n",
            "pod `nowhere/x` is in namespace `nowhere`, which the namespaces file does not list",
        ),
        (
            "kind: Pod\nmetadata: {name: x, namespace: frontend}\nspec:\n  containers:\n  - ports:\n    - {containerPort: http}\n",
            "spec.containers[0].ports[0]: `containerPort` should be a number, found the string \"http\"",
        ),
        ("kind: Service\nmetadata: {name: s}\n", "an object of kind `Service`"),
    ];
    for (i, (text, message)) in cases.iter().enumerate() {
        let file = dir.join(format!("pods-{i}.yaml"));
        std::fs::write(&file, text).expect("write");
        let path = file.to_string_lossy().into_owned();
        let run = nplc(&["matrix", SHOP, "--namespaces", NAMESPACES, "--pods", &path]);
        assert_eq!(run.code, 2, "{text}");
        assert!(
            run.stderr
                .contains(&format!("error: malformed inventory: {path}: ")),
            "{text}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(message), "{text}: {}", run.stderr);
    }
    let run = nplc(&[
        "matrix",
        SHOP,
        "--namespaces",
        "tests/commands/missing.yaml",
        "--pods",
        PODS,
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("cannot read `tests/commands/missing.yaml`"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- docs/semantics.md ----------------------------------------------------

/// Shell-like words: spaces separate, double quotes group.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    out.push(std::mem::take(&mut current));
                    any = false;
                }
            }
            _ => {
                current.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(current);
    }
    out
}

fn tidy_output(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// Every ```console block of docs/semantics.md is a real run: its `$ nplc`
/// line, run next to the ```npl blocks (each named by its first line
/// `# NAME.npl`), prints exactly the rest of the block.
#[test]
fn semantics_doc_shows_real_output() {
    let root = env!("CARGO_MANIFEST_DIR");
    let doc =
        std::fs::read_to_string(format!("{root}/docs/semantics.md")).expect("docs/semantics.md");
    let dir = std::env::temp_dir().join(format!("nplc-semantics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut blocks: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in doc.lines() {
        match &mut current {
            None if line.starts_with("```") && line.len() > 3 => {
                current = Some((line[3..].to_string(), String::new()))
            }
            Some(_) if line == "```" => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    let mut commands = 0;
    for (kind, text) in &blocks {
        if kind == "npl" {
            let name = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# "))
                .expect("an npl block starts with `# NAME.npl`");
            std::fs::write(dir.join(name), text).expect("write example");
        }
    }
    let mut failures = Vec::new();
    for (kind, text) in &blocks {
        if kind != "console" {
            continue;
        }
        let (first, expected) = text.split_once('\n').unwrap_or((text, ""));
        let command = first
            .strip_prefix("$ nplc ")
            .expect("a console block starts with `$ nplc`");
        let output = Command::new(env!("CARGO_BIN_EXE_nplc"))
            .args(words(command))
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .expect("nplc runs");
        commands += 1;
        let actual = tidy_output(&String::from_utf8_lossy(&output.stdout));
        if actual != tidy_output(expected) {
            failures.push(format!(
                "$ nplc {command}\n--- expected\n{expected}--- actual\n{actual}\n"
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(commands > 10, "found only {commands} commands");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- check --target --------------------------------------------------------

/// `check --target` reports what `build` would refuse, and writes nothing.
#[test]
fn check_with_a_target_reports_the_targets_limits() {
    let example = "examples/three-tier";
    let plain = nplc(&["check", example, "--format", "json"]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    let kubernetes = nplc(&[
        "check",
        example,
        "--target",
        "kubernetes",
        "--format",
        "json",
    ]);
    assert_eq!(kubernetes.code, 1, "{}", kubernetes.stderr);
    let codes: Vec<String> = json(&kubernetes)
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter_map(|d| d["code"].as_str().map(str::to_string))
        .collect();
    assert!(codes.iter().any(|c| c == "E0402"), "{codes:?}");
    // The same program and target through `build` fails with the same code.
    let build = nplc(&[
        "build",
        example,
        "--target",
        "kubernetes",
        "--format",
        "json",
    ]);
    assert_eq!(build.code, 1);
    assert!(build.stderr.contains("E0402"), "{}", build.stderr);
    // A target that expresses it all: clean.
    let cilium = nplc(&["check", example, "-t", "cilium"]);
    assert_eq!(cilium.code, 0, "{}", cilium.stderr);
    // `--namespaces` belongs with a target.
    let misuse = nplc(&["check", example, "--namespaces", NAMESPACES]);
    assert_eq!(misuse.code, 2, "{}", misuse.stderr);
}

// ---- rollout ----------------------------------------------------------------

/// A staged build says so on its summary line: nothing it writes is enforced.
#[test]
fn a_staged_build_says_so_in_its_summary() {
    let staged = nplc(&["build", "examples/calico-tiers", "-t", "calico", "--staged"]);
    assert_eq!(staged.code, 0, "{}", staged.stderr);
    assert!(
        staged.stderr.contains("(calico (staged, not enforced): "),
        "{}",
        staged.stderr
    );
    assert!(staged.stdout.contains("kind: StagedGlobalNetworkPolicy"));
    let enforced = nplc(&["build", "examples/calico-tiers", "-t", "calico"]);
    assert!(!enforced.stderr.contains("staged"), "{}", enforced.stderr);
}

/// `log` rules: Calico `Log` rules on calico; on kubernetes and cilium left
/// out with W0013, the build still succeeding; and no answer of `query`
/// changes, since a log decides nothing.
#[test]
fn log_rules_log_on_calico_warn_elsewhere_and_decide_nothing() {
    let file = "tests/commands/logged.npl";
    let calico = nplc(&["build", file, "-t", "calico"]);
    assert_eq!(calico.code, 0, "{}", calico.stderr);
    assert!(calico.stdout.contains("action: Log"), "{}", calico.stdout);
    assert!(!calico.stderr.contains("W0013"), "{}", calico.stderr);
    for target in ["kubernetes", "cilium"] {
        let built = nplc(&["build", file, "-t", target]);
        assert_eq!(built.code, 0, "{target}: {}", built.stderr);
        assert_eq!(
            built.stderr.matches("warning[W0013]").count(),
            2,
            "{}",
            built.stderr
        );
        assert!(built
            .stderr
            .contains(&format!("left out of the {target} output")));
    }
    let check = nplc(&["check", file, "-t", "cilium"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(check.stderr.contains("W0013"), "{}", check.stderr);
    let text = std::fs::read_to_string(file).expect("the program");
    let without: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("log "))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = std::env::temp_dir().join(format!("nplc-logged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let plain = dir.join("plain.npl");
    std::fs::write(&plain, without).expect("writing");
    let plain = plain.to_string_lossy().into_owned();
    for port in ["8080", "9090"] {
        for (from, to) in [
            ("ns=shop,app=web", "ns=shop,app=api"),
            ("ns=shop,app=api", "ns=shop,app=web"),
        ] {
            let with_logs = query(file, from, to, port, &["--format", "json"]);
            let plain = query(&plain, from, to, port, &["--format", "json"]);
            let (with_logs_json, plain_json) = (json(&with_logs), json(&plain));
            assert_eq!(
                (
                    &with_logs_json["allowed"],
                    &with_logs_json["decision"]["tier"]
                ),
                (&plain_json["allowed"], &plain_json["decision"]["tier"]),
                "{from} -> {to} : {port}\n{}\n{}",
                with_logs.stdout,
                plain.stdout
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// People see at most 10 diagnostics of one code, then a count of the rest;
/// JSON lists every one.
#[test]
fn repeated_diagnostics_are_shown_ten_of_a_code() {
    let dir = std::env::temp_dir().join(format!("nplc-repeated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let mut program = String::from("zone a { namespace \"a\" }\n");
    for i in 0..25 {
        program.push_str(&format!("allow a -> cidr 10.{i}.0.0/16 : 443\n"));
    }
    let path = dir.join("many.npl");
    std::fs::write(&path, &program).expect("program");
    let run = |format: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_nplc"))
            .args(["build", "--target", "kubernetes", "--format", format])
            .arg(&path)
            .output()
            .expect("nplc")
    };
    let human = run("human");
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert!(human.status.success(), "{stderr}");
    assert_eq!(stderr.matches("warning[W0014]").count(), 10, "{stderr}");
    assert!(
        stderr.contains("note: 15 more warnings with code W0014 not shown"),
        "{stderr}"
    );
    assert!(stderr.contains("0 errors, 25 warnings"), "{stderr}");
    let json = run("json");
    let stderr = String::from_utf8_lossy(&json.stderr);
    assert_eq!(stderr.matches("\"W0014\"").count(), 25, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
