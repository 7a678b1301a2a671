//! The allow table on large generated programs: 1,000 zones / 10,000 rules
//! and 10,000 zones / 100,000 rules (one zone per namespace, rules between
//! zone pairs, denies in a security tier; see tests/support/scale.rs).
//!
//! `cargo bench --bench allow_table` runs both sizes; pass a filter to pick
//! one (`-- allow_table/1000z`). Set `NPLC_BENCH_SIZES=small` to skip the big one.
//! Parsing and lowering are measured once, outside the timed loop, and
//! printed. `NPLC_BENCH_ONCE=1` only lowers and builds each table once and
//! prints the times (for a quick look at the big size under `/usr/bin/time -v`).
//! Measured figures: docs/performance.md, "Allow table".

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use nplc_compiler::allow::allow_table;

fn sizes() -> Vec<(usize, usize)> {
    match std::env::var("NPLC_BENCH_SIZES").as_deref() {
        Ok("small") => vec![(1_000, 10_000)],
        Ok("big") => vec![(10_000, 100_000)],
        _ => vec![(1_000, 10_000), (10_000, 100_000)],
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("allow_table");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));
    for (zones, rules) in sizes() {
        let id = format!("{zones}z_{rules}r");
        // Lower only when the filter selects this size: the big one takes a while.
        let filtered_out = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
            .any(|f| !format!("allow_table/{id}").contains(&f));
        if filtered_out {
            continue;
        }
        let text = support::scale::large_program(zones, rules);
        let t = Instant::now();
        let ir = support::lower(&text);
        eprintln!(
            "{id}: {} bytes of source; parse + check + lower {:.2?}; {} zones, {} IR rules",
            text.len(),
            t.elapsed(),
            ir.zones.len(),
            ir.rules().count()
        );
        let t = Instant::now();
        let table = allow_table(&ir).expect("an exact table");
        eprintln!(
            "{id}: first allow_table {:.2?}: ingress {} selected terms / {} entries, egress {} / {}",
            t.elapsed(),
            table.ingress.selected.terms.len(),
            table.ingress.entries.len(),
            table.egress.selected.terms.len(),
            table.egress.entries.len()
        );
        if std::env::var_os("NPLC_BENCH_ONCE").is_some() {
            continue;
        }
        group.bench_function(&id, |b| b.iter(|| allow_table(std::hint::black_box(&ir))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
