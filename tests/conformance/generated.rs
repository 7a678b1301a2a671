//! Generated cases: a program of `tests/support/program.rs` and an
//! inventory of `tests/support/inventory.rs`, each drawn from the run's
//! seed and its own index only, so any one reruns alone.

use std::path::Path;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use regex::Regex;

use crate::harness::{nplc, Case};
use crate::nca;
use crate::support::alphabet::{FQDN_NAMES, NAMESPACES};
use crate::support::inventory::{inventory_strategy, Inventory};
use crate::support::program::{
    program_strategy, without_icmp, Literal, NsSel, Op, PeerExpr, PortSpec,
};
use crate::support::{GenConfig, GenProgram};

/// Which programs a run draws.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub seed: u64,
    /// The first index.
    pub from: usize,
    pub count: usize,
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

impl Settings {
    /// `NPLC_CONFORMANCE_{count_var}` programs (or `count`), from index
    /// `NPLC_CONFORMANCE_FROM` (or `from`), of `NPLC_CONFORMANCE_SEED`.
    pub fn from_env(count_var: &str, count: usize, from: usize) -> Settings {
        Settings {
            seed: env_number("NPLC_CONFORMANCE_SEED").unwrap_or(0x00c0_f0e5),
            from: env_number("NPLC_CONFORMANCE_FROM").map_or(from, |n| n as usize),
            count: env_number(&format!("NPLC_CONFORMANCE_{count_var}"))
                .map_or(count, |n| n as usize),
        }
    }

    /// How to run program `index` alone.
    pub fn rerun(&self, index: usize) -> String {
        format!(
            "NPLC_CONFORMANCE_SEED={:#x} NPLC_CONFORMANCE_FROM={index} NPLC_CONFORMANCE_PROGRAMS=1 \
             cargo test --test conformance conformance_generated",
            self.seed
        )
    }
}

/// The configuration of program `index`, by rotation: address-only (every
/// target may build it, so that targets meet; two slots of five),
/// tier-heavy, the defaults (L7 on a share of rules, names, entities, `via`
/// now and then), every construct frequent.
fn config(index: usize) -> (&'static str, GenConfig) {
    match index % 5 {
        0 | 2 => ("address-only", nca::address_target_config()),
        1 => ("tiers", GenConfig::calico_tiers()),
        3 => ("defaults", GenConfig::default()),
        _ => ("everything", GenConfig::everything()),
    }
}

/// Program and inventory `index` of the seed.
pub fn draw(settings: &Settings, index: usize) -> (&'static str, GenProgram, Inventory) {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&settings.seed.to_le_bytes());
    seed[8..16].copy_from_slice(&(index as u64).to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    let (name, cfg) = config(index);
    let (program, inventory) = (program_strategy(cfg), inventory_strategy())
        .new_tree(&mut runner)
        .expect("a program")
        .current();
    let program = if name == "address-only" {
        // NetworkPolicy matches no ICMP (E0404): without it these programs
        // build on every target, so that the targets meet. The other
        // configurations keep ICMP.
        without_icmp(program, false)
    } else {
        program
    };
    let program = if index % 10 == 4 {
        routable_via(program, index)
    } else {
        program
    };
    (name, program, inventory)
}

/// Half of the "everything" programs: their `via` rules made routable by
/// Istio (one exact host on 443 from zones pinned to a namespace, pods
/// selected by `=` only), so that the istio target builds some programs
/// and its checks run; the generator's own `via` rules are mostly refused
/// with E0421–E0423.
fn routable_via(mut program: GenProgram, index: usize) -> GenProgram {
    let mut sources = Vec::new();
    let rules = program
        .tiers
        .iter_mut()
        .flat_map(|t| t.rules.iter_mut())
        .chain(program.rules.iter_mut());
    for rule in rules.filter(|r| r.via) {
        rule.ports = Some(vec![PortSpec::Bare(443)]);
        rule.destination = PeerExpr::Literal(Literal::Fqdn(
            FQDN_NAMES[index / 10 % FQDN_NAMES.len()].to_string(),
        ));
        if let PeerExpr::Name(n) = &rule.source {
            sources.push(n.clone());
        }
    }
    for zone in program
        .zones
        .iter_mut()
        .filter(|z| sources.contains(&z.name))
    {
        zone.namespace = NsSel::Name(NAMESPACES[index / 10 % 3].to_string());
        if let Some(constraints) = &mut zone.pods {
            constraints.retain(|c| matches!(c.op, Op::Eq(_)));
            if constraints.is_empty() {
                zone.pods = None;
            }
        }
    }
    program
}

/// The exact host names `via` rules send through the gateway.
fn via_hosts(program: &GenProgram) -> Vec<String> {
    fn hosts(program: &GenProgram, peer: &PeerExpr, out: &mut Vec<String>) {
        match peer {
            PeerExpr::Literal(Literal::Fqdn(name)) if !name.contains('*') => out.push(name.clone()),
            PeerExpr::Name(n) => {
                if let Some(e) = program.externals.iter().find(|e| &e.name == n) {
                    hosts(program, &PeerExpr::Literal(e.value.clone()), out);
                }
            }
            PeerExpr::Set(items) => items.iter().for_each(|p| hosts(program, p, out)),
            PeerExpr::Literal(_) => {}
        }
    }
    let mut out = Vec::new();
    for rule in program.all_rules().filter(|r| r.via) {
        hosts(program, &rule.destination, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn write_program(dir: &Path, files: &[(String, String)]) -> Result<Vec<(String, String)>, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    files
        .iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| e.to_string())?;
            Ok((path.display().to_string(), text.clone()))
        })
        .collect()
}

/// Case `index`: every third program is written as two files, one
/// importing the other; its matrix must equal the one-file rendering's.
pub fn generated_case(settings: &Settings, index: usize, work: &Path) -> Result<Case, String> {
    let (config_name, program, inventory) = draw(settings, index);
    let case_work = work.join(format!("p{index}"));
    let dir = case_work.join("program");
    let split = index % 3 == 1;
    let rendered = if split {
        program.render_files()
    } else {
        vec![(program.file_name().to_string(), program.render())]
    };
    let files = write_program(&dir, &rendered)?;
    let (namespaces, pods) = nca::inventory_files(&inventory, &case_work);
    let what = format!(
        "generated program #{index} ({config_name}{}; rerun: {})",
        if split { ", two files" } else { "" },
        settings.rerun(index)
    );
    if split {
        let one = case_work.join("one-file");
        write_program(&one, &[(program.file_name().to_string(), program.render())])?;
        let matrix = |d: &Path| {
            nplc(&[
                "matrix".to_string(),
                d.display().to_string(),
                "--namespaces".to_string(),
                namespaces.display().to_string(),
                "--pods".to_string(),
                pods.display().to_string(),
            ])
        };
        let (a, b) = (matrix(&dir), matrix(&one));
        if a != b {
            return Err(format!(
                "{what}: the two-file program and its one-file rendering differ:\n{a:?}\n{b:?}"
            ));
        }
    }
    Ok(Case {
        what,
        dir,
        work: case_work,
        files,
        namespaces,
        pods,
        via_hosts: via_hosts(&program),
    })
}

/// Program `index` with a zone renamed `nplc-…` (E0209) and, when it has
/// tiers, its first tier renamed `default` (E0210).
pub fn reserved_variants(
    settings: &Settings,
    index: usize,
    work: &Path,
) -> Vec<(&'static str, Case)> {
    let (config_name, program, inventory) = draw(settings, index);
    let mut variants: Vec<(&'static str, Vec<(String, String)>)> = Vec::new();
    let zone = Regex::new(r"\bz0\b").expect("a regex");
    let rename = |files: Vec<(String, String)>| {
        files
            .into_iter()
            .map(|(n, t)| (n, zone.replace_all(&t, "nplc-z0").into_owned()))
            .collect()
    };
    let split = index % 2 == 1;
    let files = |p: &GenProgram| {
        if split {
            p.render_files()
        } else {
            vec![(p.file_name().to_string(), p.render())]
        }
    };
    variants.push(("E0209", rename(files(&program))));
    if !program.tiers.is_empty() {
        let mut renamed = program.clone();
        renamed.tiers[0].name = "default".to_string();
        variants.push(("E0210", files(&renamed)));
    }
    let mut out = Vec::new();
    for (code, rendered) in variants {
        let case_work = work.join(format!("p{index}-{code}"));
        let dir = case_work.join("program");
        let Ok(files) = write_program(&dir, &rendered) else {
            continue;
        };
        let (namespaces, pods) = nca::inventory_files(&inventory, &case_work);
        out.push((
            code,
            Case {
                what: format!(
                    "generated program #{index} ({config_name}) of seed {:#x}",
                    settings.seed
                ),
                dir,
                work: case_work,
                files,
                namespaces,
                pods,
                via_hosts: Vec::new(),
            },
        ));
    }
    out
}
