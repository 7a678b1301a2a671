//! `nplc diff OLD NEW` / `nplc diff REV..REV [PATHS]`: what a change opens
//! and closes, from `nplc_compiler::diff` (exact), printed for people, as
//! JSON or as Markdown for a pull-request comment.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::ValueEnum;
use nplc_compiler::algebra::ports::PortSet;
use nplc_compiler::answers::describe;
use nplc_compiler::diff::{self, Change};
use nplc_compiler::ir::{self, Ir, PeerSet, PodSet, Zone};
use nplc_compiler::meaning::{Cause, PortClass, PortDim, Region, Side};
use nplc_compiler::{check, Database, Program};
use serde_json::{json, Value};

use crate::inputs;
use crate::report::{print_stdout, report_diagnostics, Color, Outcome, OutputArgs};

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 the change opens nothing, 1 it opens connections (or a version has \
                  errors), 2 misuse.\n\nExamples:\n  nplc diff old/policy.npl policy.npl\n  \
                  nplc diff main..HEAD policy/          # versions from git, imports included\n  \
                  nplc diff main.. policy/              # main against the working tree\n  \
                  nplc diff main..HEAD policy/ --format markdown > comment.md"
)]
pub struct DiffArgs {
    /// OLD NEW (files or directories), or REV..REV followed by paths (default `.`);
    /// an empty right side (`main..`) is the working tree.
    #[arg(required = true, value_name = "OLD NEW | REV..REV [PATHS]")]
    args: Vec<String>,
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    format: DiffFormat,
    /// Colour in the diagnostics of a version with errors.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffFormat {
    Human,
    Json,
    /// A pull-request comment.
    Markdown,
}

/// One version: its database, program and IR.
struct Version {
    db: Database,
    ir: Ir,
    label: String,
}

pub fn diff(args: &DiffArgs) -> Outcome {
    let output = OutputArgs::human(args.color);
    let (old, new) = match versions(args, &output) {
        Ok(v) => v,
        Err(outcome) => return outcome,
    };
    let Ok(changes) = diff::diff(&old.ir, &new.ir) else {
        return Outcome::Misuse(
            "the programs are too large to compare exactly (more than 100000 regions)".to_string(),
        );
    };
    let opened = groups(&old, &new, &changes.opened, true);
    let closed = groups(&old, &new, &changes.closed, false);
    let text = match args.format {
        DiffFormat::Human => human(&old, &new, &opened, &closed),
        DiffFormat::Json => json_text(&old, &new, &opened, &closed),
        DiffFormat::Markdown => markdown(&old, &new, &opened, &closed),
    };
    print_stdout(&text);
    if opened.is_empty() {
        Outcome::Clean
    } else {
        Outcome::InputErrors
    }
}

fn versions(args: &DiffArgs, output: &OutputArgs) -> Result<(Version, Version), Outcome> {
    let first = &args.args[0];
    if let Some((old_rev, new_rev)) = first
        .split_once("..")
        .filter(|_| !Path::new(first).exists())
    {
        let paths: Vec<String> = if args.args.len() > 1 {
            args.args[1..].to_vec()
        } else {
            vec![".".to_string()]
        };
        let old = from_git(old_rev, &paths, output)?;
        let new = if new_rev.is_empty() {
            let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
            from_paths(&paths, "working tree".to_string(), output)?
        } else {
            from_git(new_rev, &paths, output)?
        };
        return Ok((old, new));
    }
    let [old, new] = args.args.as_slice() else {
        return Err(Outcome::Misuse(
            "give two versions: `nplc diff OLD NEW` (paths) or `nplc diff REV..REV [PATHS]`"
                .to_string(),
        ));
    };
    Ok((
        from_paths(&[PathBuf::from(old)], old.clone(), output)?,
        from_paths(&[PathBuf::from(new)], new.clone(), output)?,
    ))
}

fn from_paths(paths: &[PathBuf], label: String, output: &OutputArgs) -> Result<Version, Outcome> {
    let mut db = Database::default();
    let program = inputs::load(&mut db, paths).map_err(|err| {
        crate::report::load_failed(&mut db, err, output, crate::report::JsonStream::Stdout)
    })?;
    finish(db, program, label, output)
}

/// The `.npl` files of a git revision below the current directory; those
/// under `paths` are the program, the others are there for its imports.
fn from_git(rev: &str, paths: &[String], output: &OutputArgs) -> Result<Version, Outcome> {
    let git = |args: &[&str]| -> Result<String, Outcome> {
        let out = Command::new("git")
            .args(args)
            .output()
            .map_err(|e| Outcome::Misuse(format!("cannot run git: {e}")))?;
        if !out.status.success() {
            return Err(Outcome::Misuse(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        String::from_utf8(out.stdout)
            .map_err(|_| Outcome::Misuse(format!("git {} printed non-UTF-8 text", args.join(" "))))
    };
    let listed = git(&["ls-tree", "-r", "--name-only", rev])?;
    let files: Vec<&str> = listed.lines().filter(|f| f.ends_with(".npl")).collect();
    let wanted = |file: &str| {
        paths.iter().any(|p| {
            let p = p.trim_start_matches("./").trim_end_matches('/');
            p == "." || p.is_empty() || file == p || file.starts_with(&format!("{p}/"))
        })
    };
    let mut db = Database::default();
    let mut roots = Vec::new();
    for file in &files {
        let text = git(&["show", &format!("{rev}:./{file}")])?;
        let source = db.set_file(file, text);
        if wanted(file) {
            roots.push(source);
        }
    }
    if roots.is_empty() {
        return Err(Outcome::Misuse(format!(
            "no `.npl` files under {} at {rev}",
            paths.join(", ")
        )));
    }
    let program = Program::new(&db, roots);
    finish(db, program, rev.to_string(), output)
}

fn finish(
    db: Database,
    program: Program,
    label: String,
    output: &OutputArgs,
) -> Result<Version, Outcome> {
    let diags = check::source_diagnostics(&db, program);
    if diags.iter().any(|d| d.is_error()) {
        eprintln!("errors in {label}:");
        return Err(report_diagnostics(&db, diags, output, program));
    }
    let Some(ir) = ir::lower(&db, program).clone() else {
        return Err(Outcome::InputErrors);
    };
    Ok(Version { db, ir, label })
}

/// A change, in words.
struct Group {
    /// The rule that decides it in the new and the old version.
    new: Decider,
    old: Decider,
    /// Merged connections: (source, destination, ports).
    rows: Vec<(String, String, String)>,
}

enum Decider {
    Rule {
        location: String,
        text: String,
        action: &'static str,
    },
    Isolation(String),
}

impl Decider {
    fn words(&self) -> String {
        match self {
            Decider::Rule { location, text, .. } => format!("{text}  ({location})"),
            Decider::Isolation(words) => words.clone(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Decider::Rule {
                location,
                text,
                action,
            } => json!({"rule": text, "action": action, "at": location}),
            Decider::Isolation(words) => json!({"isolation": words}),
        }
    }
}

fn groups(old: &Version, new: &Version, changes: &[Change], opened: bool) -> Vec<Group> {
    let zones = all_zones(&new.ir, &old.ir);
    changes
        .iter()
        .map(|change| {
            let regions = merge(&change.parts);
            Group {
                new: decider(new, change.new, &change.parts, opened),
                old: decider(old, change.old, &change.parts, !opened),
                rows: regions
                    .iter()
                    .map(|r| {
                        (
                            side_words(&r.source, &zones),
                            side_words(&r.destination, &zones),
                            port_words(&r.ports),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

fn all_zones(a: &Ir, b: &Ir) -> Vec<Zone> {
    let mut zones = a.zones.clone();
    for z in &b.zones {
        if !zones.iter().any(|x| x.name == z.name) {
            zones.push(z.clone());
        }
    }
    zones
}

/// What decides `parts` in a version: its rule, or the isolation default
/// (naming the zones that isolate, when it denies).
fn decider(version: &Version, cause: Cause, parts: &[Region], allowed: bool) -> Decider {
    match cause {
        Cause::Rule(i) => match version.ir.rules().nth(i) {
            Some(rule) => {
                let span = describe::tidy(&version.db, rule.span);
                Decider::Rule {
                    location: describe::location(&version.db, span),
                    text: describe::source_text(&version.db, span),
                    action: rule.action.as_str(),
                }
            }
            None => Decider::Isolation("a rule".to_string()),
        },
        Cause::Isolation if allowed => {
            Decider::Isolation("no rule matches and neither end is isolated: allowed".to_string())
        }
        Cause::Isolation => {
            let sources =
                PodSet::from_terms(parts.iter().flat_map(|p| p.source.pods.terms.clone()));
            let destinations =
                PodSet::from_terms(parts.iter().flat_map(|p| p.destination.pods.terms.clone()));
            // The isolating zones that hold these pods, else those that may.
            let touching = |set: &PodSet, egress: bool| -> Vec<String> {
                let isolating: Vec<&Zone> = version
                    .ir
                    .zones
                    .iter()
                    .filter(|z| {
                        if egress {
                            z.isolation.egress
                        } else {
                            z.isolation.ingress
                        }
                    })
                    .collect();
                let holding: Vec<&Zone> = isolating
                    .iter()
                    .copied()
                    .filter(|z| {
                        set.terms.iter().any(|t| {
                            PodSet::from_terms([t.clone()])
                                .difference(&z.pods)
                                .is_empty()
                        })
                    })
                    .collect();
                let chosen = if holding.is_empty() {
                    isolating
                        .into_iter()
                        .filter(|z| !z.pods.intersection(set).is_empty())
                        .collect()
                } else {
                    holding
                };
                chosen.iter().map(|z| format!("`{}`", z.name)).collect()
            };
            let mut words = Vec::new();
            let e = touching(&sources, true);
            if !e.is_empty() {
                words.push(format!("{} isolated for egress", e.join(", ")));
            }
            let i = touching(&destinations, false);
            if !i.is_empty() {
                words.push(format!("{} isolated for ingress", i.join(", ")));
            }
            Decider::Isolation(format!(
                "no rule matches; isolation denies ({})",
                words.join("; ")
            ))
        }
    }
}

/// Parts with the same two sides share a row (ports joined), then parts
/// with the same destination and ports (sources joined).
fn merge(parts: &[Region]) -> Vec<Region> {
    let mut by_sides: Vec<Region> = Vec::new();
    for p in parts {
        match by_sides
            .iter_mut()
            .find(|r| r.source == p.source && r.destination == p.destination)
        {
            Some(r) => r.ports = union_dims(&r.ports, &p.ports),
            None => by_sides.push(p.clone()),
        }
    }
    let mut out: Vec<Region> = Vec::new();
    for p in by_sides {
        match out
            .iter_mut()
            .find(|r| r.destination == p.destination && r.ports == p.ports)
        {
            Some(r) => r.source = union_sides(&r.source, &p.source),
            None => out.push(p),
        }
    }
    out
}

fn union_dims(a: &PortDim, b: &PortDim) -> PortDim {
    let mut out = a.clone();
    for (class, set) in b {
        let merged = match out.get(class) {
            Some(x) => x.union(set),
            None => set.clone(),
        };
        out.insert(class.clone(), merged);
    }
    out
}

fn union_sides(a: &Side, b: &Side) -> Side {
    Side {
        pods: a.pods.union(&b.pods),
        ips: a.ips.union(&b.ips),
        names: a.names.union(&b.names).cloned().collect(),
        entities: a.entities.union(&b.entities).copied().collect(),
    }
}

/// A side in words: the zone it is exactly, when there is one, else its
/// selectors, addresses and names.
fn side_words(side: &Side, zones: &[Zone]) -> String {
    let set: PeerSet = side.to_peer_set();
    let only_pods = set.ips.is_empty() && set.fqdns.is_empty() && set.entities.is_empty();
    let same = |z: &&Zone| {
        !z.pods.is_empty()
            && z.pods.difference(&set.pods).is_empty()
            && set.pods.difference(&z.pods).is_empty()
    };
    match zones.iter().find(same) {
        Some(zone) if only_pods => format!("`{}`", zone.name),
        _ => describe::peers(&set, zones),
    }
}

/// The ports of a region: those of unnamed ports, then what differs for
/// container ports of a given name.
fn port_words(ports: &PortDim) -> String {
    let unnamed = ports
        .get(&PortClass::Unnamed)
        .cloned()
        .unwrap_or_else(PortSet::none);
    let mut parts = Vec::new();
    if !unnamed.is_empty() {
        parts.push(describe::ports(&unnamed));
    }
    for (class, set) in ports {
        let PortClass::Named(protocol, name) = class else {
            continue;
        };
        let same = unnamed
            .intersection(&PortSet::all_of(*protocol))
            .is_ok_and(|u| u == *set);
        if same {
            continue;
        }
        let missing = PortSet::all_of(*protocol)
            .difference(set)
            .unwrap_or_else(|_| PortSet::none());
        if missing.is_empty() {
            parts.push(format!("{protocol} port named {name}"));
        } else {
            let numbers = describe::port_ranges(missing.ranges(*protocol).ranges()).join(", ");
            parts.push(format!(
                "{protocol} port named {name} unless it is {numbers}"
            ));
        }
    }
    if parts.is_empty() {
        "no ports".to_string()
    } else {
        parts.join("; ")
    }
}

fn summary(opened: &[Group], closed: &[Group]) -> String {
    let n = |groups: &[Group]| groups.iter().map(|g| g.rows.len()).sum::<usize>();
    format!(
        "opens {} connection group{}, closes {}",
        n(opened),
        if n(opened) == 1 { "" } else { "s" },
        n(closed)
    )
}

fn human(old: &Version, new: &Version, opened: &[Group], closed: &[Group]) -> String {
    let mut out = format!(
        "{} → {}: {}\n",
        old.label,
        new.label,
        summary(opened, closed)
    );
    for (title, groups, sign) in [("Opened", opened, '+'), ("Closed", closed, '-')] {
        if groups.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{title}:\n"));
        for g in groups {
            out.push('\n');
            for (src, dst, ports) in &g.rows {
                out.push_str(&format!("  {sign} {src} -> {dst} : {ports}\n"));
            }
            out.push_str(&format!("      new: {}\n", g.new.words()));
            out.push_str(&format!("      old: {}\n", g.old.words()));
        }
    }
    out
}

fn json_text(old: &Version, new: &Version, opened: &[Group], closed: &[Group]) -> String {
    let list = |groups: &[Group]| -> Vec<Value> {
        groups
            .iter()
            .map(|g| {
                json!({
                    "new": g.new.json(),
                    "old": g.old.json(),
                    "connections": g.rows.iter().map(|(s, d, p)| json!({"source": s, "destination": d, "ports": p})).collect::<Vec<_>>(),
                })
            })
            .collect()
    };
    let value = json!({
        "old": old.label,
        "new": new.label,
        "opened": list(opened),
        "closed": list(closed),
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_string())
    )
}

fn markdown(old: &Version, new: &Version, opened: &[Group], closed: &[Group]) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!(
        "### nplc diff `{}` → `{}`\n\nThis change {}.\n",
        cell(&old.label),
        cell(&new.label),
        summary(opened, closed)
    );
    if opened.is_empty() && closed.is_empty() {
        out.push_str("\nNo connection is allowed or denied differently.\n");
    }
    for (title, groups) in [("Opened", opened), ("Closed", closed)] {
        if groups.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n#### {title}\n\n| From | To | Ports | Now | Before |\n|---|---|---|---|---|\n"
        ));
        for g in groups {
            for (src, dst, ports) in &g.rows {
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    cell(src),
                    cell(dst),
                    cell(ports),
                    cell(&code(&g.new)),
                    cell(&code(&g.old))
                ));
            }
        }
    }
    out
}

fn code(decider: &Decider) -> String {
    match decider {
        Decider::Rule { location, text, .. } => format!("`{text}` ({location})"),
        Decider::Isolation(words) => words.clone(),
    }
}
