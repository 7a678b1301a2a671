//! The whole `nplc build -o DIR`, as users run it: the release binary on a
//! generated program (benches/support/realistic.rs: zones sharing eight
//! namespaces, ten rules per zone), writing the output directory.
//!
//! Benchmarks are `build/TARGET/SHAPE/RULES`: targets kubernetes, cilium and
//! calico; shapes `pinned` (every zone names its namespace) and `mixed` (one
//! zone in twenty selects namespaces by labels; kubernetes gets the
//! generated `--namespaces` inventory); 1k and 10k rules by default.
//!
//! ```console
//! $ cargo bench --bench build                          # 1k and 10k rules
//! $ cargo bench --bench build -- build/cilium          # one target
//! $ NPLC_BENCH_RULES=1k,10k,100k cargo bench --bench build
//! $ NPLC_BENCH_ONCE=1 NPLC_BENCH_RULES=100k cargo bench --bench build
//! ```
//!
//! `NPLC_BENCH_ONCE=1` runs each build once under `/usr/bin/time` and prints
//! wall time and peak memory instead of sampling (the tables of
//! docs/performance.md). Measured figures: docs/performance.md, "Build".

#[path = "support/realistic.rs"]
#[allow(dead_code)] // shared with support/gen_program.rs
mod realistic;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use realistic::Shape;

const NPLC: &str = env!("CARGO_BIN_EXE_nplc");
const TARGETS: [&str; 3] = ["kubernetes", "cilium", "calico"];

/// Rule counts to run, from `NPLC_BENCH_RULES` (`1k,10k,100k`).
fn sizes() -> Vec<usize> {
    let spec = std::env::var("NPLC_BENCH_RULES").unwrap_or_else(|_| "1k,10k".to_string());
    spec.split(',')
        .filter_map(|s| {
            let s = s.trim();
            match s.strip_suffix('k') {
                Some(k) => k.parse::<usize>().ok().map(|k| k * 1_000),
                None => s.parse().ok(),
            }
        })
        .collect()
}

/// The generated program and inventory, written once per size and shape.
struct Input {
    program: PathBuf,
    namespaces: PathBuf,
    out: PathBuf,
}

fn write_input(dir: &Path, zones: usize, shape: Shape) -> Input {
    let base = dir.join(format!("{}-{zones}", shape.as_str()));
    std::fs::create_dir_all(&base).expect("a scratch directory");
    let program = base.join("program.npl");
    let namespaces = base.join("namespaces.yaml");
    std::fs::write(&program, realistic::program(zones, shape)).expect("writing the program");
    std::fs::write(&namespaces, realistic::namespaces_yaml()).expect("writing the inventory");
    Input {
        program,
        namespaces,
        out: base.join("out"),
    }
}

fn build_command(input: &Input, target: &str) -> Command {
    let mut cmd = Command::new(NPLC);
    cmd.arg("build")
        .arg(&input.program)
        .args(["--target", target, "-o"])
        .arg(&input.out);
    if target == "kubernetes" {
        cmd.arg("--namespaces").arg(&input.namespaces);
    }
    cmd
}

fn run(mut cmd: Command) {
    let output = cmd.output().expect("running nplc");
    assert!(
        output.status.success(),
        "nplc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One build under `/usr/bin/time`: wall time and peak memory.
fn once(input: &Input, target: &str) -> String {
    let cmd = build_command(input, target);
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%e s wall, %U s user, %S s sys, %M KiB max RSS"])
        .arg(cmd.get_program());
    timed.args(cmd.get_args());
    let started = Instant::now();
    let output = timed.output().expect("running /usr/bin/time nplc");
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return format!("failed after {:.2?}: {stderr}", started.elapsed());
    }
    stderr.lines().last().unwrap_or_default().to_string()
}

fn bench(c: &mut Criterion) {
    let scratch = std::env::temp_dir().join(format!("nplc-bench-build-{}", std::process::id()));
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .collect();
    let once_only = std::env::var_os("NPLC_BENCH_ONCE").is_some();
    let mut group = c.benchmark_group("build");
    group.warm_up_time(Duration::from_millis(1));
    for rules in sizes() {
        let zones = (rules / realistic::RULES_PER_ZONE).max(2);
        // Builds of 100k rules take seconds: criterion's smallest sample.
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(if rules >= 100_000 { 20 } else { 5 }));
        for shape in Shape::ALL {
            let label = format!("{}/{}", shape.as_str(), size_label(rules));
            let wanted = |target: &str| {
                let id = format!("build/{target}/{label}");
                filters.is_empty() || filters.iter().any(|f| id.contains(f.as_str()))
            };
            if !TARGETS.iter().any(|t| wanted(t)) {
                continue;
            }
            let input = write_input(&scratch, zones, shape);
            for target in TARGETS.into_iter().filter(|t| wanted(t)) {
                if once_only {
                    eprintln!("build/{target}/{label}: {}", once(&input, target));
                    continue;
                }
                group.bench_function(BenchmarkId::new(target, &label), |b| {
                    b.iter(|| run(build_command(&input, target)))
                });
            }
        }
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&scratch);
}

fn size_label(rules: usize) -> String {
    if rules % 1_000 == 0 {
        format!("{}k", rules / 1_000)
    } else {
        rules.to_string()
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
