//! `nplc explain`: everything a zone may reach and be reached by, read off
//! the allow table (tiers, denies and isolation defaults already resolved),
//! each line pointing at the rules it comes from.

use std::path::PathBuf;

use nplc_compiler::allow::{self, AllowError, DirectionTable, Entry};
use nplc_compiler::answers::describe;
use nplc_compiler::diagnostic::Span;
use nplc_compiler::ir::{self, Ir, PodSet, Zone};
use nplc_compiler::names;
use nplc_compiler::{render, Db, Program};
use serde_json::{json, Value};

use crate::program;
use crate::report::{print_stderr, print_stdout, Outcome, OutputArgs};

#[derive(clap::Args)]
#[command(
    after_help = "Each line is one entry of the allow table: the peers, ports and L7 filter allowed, \
                  and the rules it comes from (`file:line`); `default: not isolated` marks what the \
                  isolation default allows.\n\nExit status: 0 explained, 1 errors in the program, 2 misuse \
                  (e.g. an unknown zone).\n\nWith --flows FILE (the output of `hubble observe -o json`, one flow a line), no zone: \
                  each flow dropped by policy is explained (zones, deciding rule or isolation default, the \
                  smallest fix: a label to set or a rule to add), grouped by cause, and forwarded flows the \
                  program denies are listed.\n\nExamples:\n  nplc explain policy/ backend\n  nplc explain a.npl b.npl frontend --format json\n  \
                  hubble observe --verdict DROPPED -o json > drops.json; nplc explain policy/ --flows drops.json"
)]
pub struct ExplainArgs {
    /// Files, directories (searched recursively for *.npl) or `-` for
    /// standard input, then the zone to explain (no zone with --flows).
    #[arg(required = true, num_args = 1.., value_name = "PATHS... ZONE")]
    args: Vec<PathBuf>,
    /// Explain recorded flows instead: `hubble observe -o json` output.
    #[arg(long, value_name = "FILE")]
    flows: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Clone, Copy)]
enum Direction {
    Ingress,
    Egress,
}

pub fn explain(args: &ExplainArgs) -> Outcome {
    if let Some(flows) = &args.flows {
        return crate::flows_cmd::explain_flows(&args.args, flows, &args.output);
    }
    let (Some(zone_name), paths) = (
        args.args.last().map(|z| z.to_string_lossy().into_owned()),
        &args.args[..args.args.len().saturating_sub(1)],
    ) else {
        return Outcome::Misuse("give a zone to explain, or --flows FILE".to_string());
    };
    if paths.is_empty() {
        return Outcome::Misuse("give the program's paths, then the zone to explain".to_string());
    }
    let (db, program) = match program::load(paths, &args.output) {
        Ok(loaded) => loaded,
        Err(outcome) => return outcome,
    };
    let Some(ir) = ir::lower(&db, program).as_ref() else {
        return Outcome::InputErrors;
    };
    let Some(zone) = ir.zone_named(&zone_name) else {
        return Outcome::Misuse(unknown_zone(&db, program, ir, &zone_name));
    };
    let table = match allow::allow_table(ir) {
        Ok(t) => t,
        Err(err) => {
            print_stderr(&allow_error(&db, &err, args.output.stderr_color()));
            return Outcome::InputErrors;
        }
    };
    let directions = [
        (Direction::Ingress, &table.ingress),
        (Direction::Egress, &table.egress),
    ];
    if args.output.is_json() {
        let sides: Vec<(String, Value)> = directions
            .iter()
            .map(|(d, t)| (name(*d).to_string(), json_side(&db, ir, zone, *d, t)))
            .collect();
        let mut value = json!({ "zone": zone.name, "pods": describe::pods(&zone.pods) });
        for (key, side) in sides {
            value[key] = side;
        }
        let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_string());
        print_stdout(&format!("{text}\n"));
        return Outcome::Clean;
    }
    let mut out = String::new();
    let defined = zone
        .span
        .map(|s| format!(" ({})", describe::location(&db, s)))
        .unwrap_or_default();
    out.push_str(&format!(
        "zone {}{defined}: {}\n",
        zone.name,
        describe::pods(&zone.pods)
    ));
    for (direction, t) in directions {
        out.push('\n');
        out.push_str(&side(&db, ir, zone, direction, t));
    }
    print_stdout(&out);
    Outcome::Clean
}

fn name(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    }
}

/// One direction in words: how the zone is isolated, then one line per entry.
fn side(db: &dyn Db, ir: &Ir, zone: &Zone, direction: Direction, table: &DirectionTable) -> String {
    let lines: Vec<String> = entries(zone, table)
        .map(|(local, entry)| entry_line(db, ir, zone, direction, &local, entry))
        .collect();
    let mut out = heading(ir, zone, direction, !lines.is_empty());
    for line in lines {
        out.push_str("  ");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The entries that concern the zone, with their local pods cut to it.
fn entries<'t>(
    zone: &'t Zone,
    table: &'t DirectionTable,
) -> impl Iterator<Item = (PodSet, &'t Entry)> {
    table.entries.iter().filter_map(|entry| {
        let local = entry.local.intersection(&zone.pods);
        (!local.is_empty()).then_some((local, entry))
    })
}

fn own_isolation(zone: &Zone, direction: Direction) -> bool {
    match direction {
        Direction::Ingress => zone.isolation.ingress,
        Direction::Egress => zone.isolation.egress,
    }
}

/// Other zones isolated in `direction` that share pods with `zone`.
fn isolating_neighbours<'i>(ir: &'i Ir, zone: &Zone, direction: Direction) -> Vec<&'i str> {
    ir.zones
        .iter()
        .filter(|z| z.name != zone.name && own_isolation(z, direction))
        .filter(|z| !z.pods.intersection(&zone.pods).is_empty())
        .map(|z| z.name.as_str())
        .collect()
}

fn heading(ir: &Ir, zone: &Zone, direction: Direction, any: bool) -> String {
    let dir = name(direction);
    if own_isolation(zone, direction) {
        return match (direction, any) {
            (Direction::Ingress, true) => format!("{dir}: isolated — only these may connect:\n"),
            (Direction::Ingress, false) => format!("{dir}: isolated — nothing may connect\n"),
            (Direction::Egress, true) => format!("{dir}: isolated — it may connect only to:\n"),
            (Direction::Egress, false) => format!("{dir}: isolated — it may connect to nothing\n"),
        };
    }
    let others = isolating_neighbours(ir, zone, direction);
    if !others.is_empty() {
        let list: Vec<String> = others.iter().map(|n| format!("`{n}`")).collect();
        return format!(
            "{dir}: not isolated by this zone, but its pods that are also in {} are; allowed:\n",
            list.join(", ")
        );
    }
    let what = match direction {
        Direction::Ingress => "every peer not denied may connect",
        Direction::Egress => "it may connect to every peer not denied",
    };
    if any {
        format!("{dir}: not isolated — {what}; exactly:\n")
    } else {
        format!("{dir}: not isolated — {what}\n")
    }
}

fn entry_line(
    db: &dyn Db,
    ir: &Ir,
    zone: &Zone,
    direction: Direction,
    local: &PodSet,
    entry: &Entry,
) -> String {
    let mut line = String::new();
    if !zone.pods.difference(local).is_empty() {
        let words = describe::within_or_except(local, &zone.pods, "its pods", &ir.zones);
        line.push_str(&format!("for {words}: "));
    }
    let arrow = match direction {
        Direction::Ingress => "from",
        Direction::Egress => "to",
    };
    line.push_str(&format!(
        "{arrow} {} on {}",
        describe::peers(&entry.remote, &ir.zones),
        describe::ports(&entry.service.ports)
    ));
    if let Some(l7) = describe::l7(&entry.service.l7) {
        line.push_str(&format!(" with {l7}"));
    }
    line.push_str(&format!("  ({})", rules(db, &entry.rules)));
    line
}

fn rules(db: &dyn Db, spans: &[Span]) -> String {
    if spans.is_empty() {
        return "default: not isolated".to_string();
    }
    spans
        .iter()
        .map(|s| describe::location(db, *s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn json_side(
    db: &dyn Db,
    ir: &Ir,
    zone: &Zone,
    direction: Direction,
    table: &DirectionTable,
) -> Value {
    let entries: Vec<Value> = entries(zone, table)
        .map(|(local, entry)| {
            let whole = zone.pods.difference(&local).is_empty();
            json!({
                "pods": if whole { Value::Null } else { Value::String(describe::within_or_except(&local, &zone.pods, "its pods", &ir.zones)) },
                "peers": describe::peers(&entry.remote, &ir.zones),
                "ports": describe::ports(&entry.service.ports),
                "l7": describe::l7(&entry.service.l7),
                "rules": entry.rules.iter().map(|s| describe::location(db, *s)).collect::<Vec<_>>(),
                "default": entry.rules.is_empty(),
            })
        })
        .collect();
    json!({
        "isolated": own_isolation(zone, direction),
        "also_isolated_by": isolating_neighbours(ir, zone, direction),
        "entries": entries,
    })
}

fn unknown_zone(db: &dyn Db, program: Program, ir: &Ir, wanted: &str) -> String {
    let resolved = names::resolve(db, program);
    if let Some(id) = resolved.lookup(wanted) {
        let def = resolved.def(id);
        let noun = def.kind.noun();
        let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        return format!("`{wanted}` is {article} {noun}, not a zone; `explain` takes a zone");
    }
    let names = ir.zones.iter().map(|z| z.name.as_str());
    match names::did_you_mean(wanted, names) {
        Some(close) => format!("unknown zone `{wanted}`; did you mean `{close}`?"),
        None => {
            let all: Vec<&str> = ir.zones.iter().map(|z| z.name.as_str()).collect();
            format!("unknown zone `{wanted}`; the zones are: {}", all.join(", "))
        }
    }
}

fn allow_error(db: &dyn Db, err: &AllowError, color: bool) -> String {
    let mut out = format!(
        "error: the program's allowed connections cannot be written exactly: {}\n",
        err.message
    );
    let mut notes = Vec::new();
    if let Some(rule) = err.rule {
        notes.push((describe::tidy(db, rule), "this allow rule".to_string()));
    }
    if let Some(deny) = err.deny {
        notes.push((describe::tidy(db, deny), "minus this deny rule".to_string()));
    }
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&render::snippets(db, &notes, color));
    }
    out.push_str(
        "help: `explain` reads the allow table, which needs this subtraction; \
         `nplc query` still answers about single connections\n",
    );
    out
}
