//! Locality of the output: a one-rule edit changes only the files of the
//! zones that rule names (LANGUAGE.md §6: names "do not change when
//! unrelated rules change"; issue 10).
//!
//! For every example and every network-layer target it builds for, the test
//! applies one-rule edits picked from the example's own files — widen a
//! rule's port list, change an allow's destination, add an allow, remove a
//! deny, remove an allow — builds before and after with `nplc build -o` into
//! scratch directories, and compares the files:
//!
//! - cilium and calico: only the policy files of the zones the edited rule
//!   names (a union zone counts with its members) may change; kustomization.yaml
//!   only when a file is added or removed. On cilium an edited allow also
//!   reaches the denies of later tiers it overlaps (written minus it) and the
//!   allows those denies leave part of their pods to.
//! - kubernetes: also the files of the zones named by every rule of the other
//!   action that overlaps the edited one (pods on both sides and ports), since
//!   NetworkPolicy has no deny and the compiler carves each deny out of the
//!   allows it meets.
//!
//! A file belongs to a zone by its resource name: after an optional `TIER.`
//! prefix, the longest zone name `Z` with the name `Z` or `Z-…`. A file of no
//! zone (a tier, nplc's own catch-all) must not change at all.
//!
//! Edits keep every other line where it was (a removed rule leaves an empty
//! line, an added one goes at the end of a file): the `nplc.dev/source`
//! annotations cite line numbers, so shifting lines would change every later
//! policy for a reason that has nothing to do with the lowering.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use nplc_compiler::ir::{Ir, Rule, RuleRole};
use nplc_compiler::syntax::ast::Action;
use nplc_compiler::{db, Span};
use support::sources::{self, Source};

const NPLC: &str = env!("CARGO_BIN_EXE_nplc");
const TARGETS: [&str; 3] = ["kubernetes", "cilium", "calico"];
/// A port no example uses.
const NEW_PORT: &str = "4999";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ------------------------------------------------------------------ rules as text

/// A single-line rule of an example's own file.
#[derive(Debug, Clone)]
struct RuleLine {
    file: usize,
    /// 0-based line in its file.
    line: usize,
    action: Action,
    sources: Vec<String>,
    destinations: Vec<String>,
    /// Byte range of the destination in the line, when it is one name.
    destination_name: Option<(usize, usize)>,
    /// Byte offset after the port list, when there is one and no L7 block.
    ports_end: Option<usize>,
}

/// The code of a line, without its comment.
fn code(line: &str) -> &str {
    let mut in_string = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '#' if !in_string => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The zone names of a peer as written: `a`, `{a, b}`; inline peers
/// (`cidr …`, `fqdn "…"`) and built-in non-zones name none.
fn peer_names(peer: &str) -> Vec<String> {
    let peer = peer.trim();
    let inner = peer
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(peer);
    inner
        .split(',')
        .map(str::trim)
        .filter(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
        .map(str::to_string)
        .collect()
}

/// Reads `allow|deny SOURCE -> DESTINATION [: PORTS] [via G]` from one line.
fn parse_rule(file: usize, line: usize, text: &str) -> Option<RuleLine> {
    let code = code(text);
    let trimmed = code.trim_start();
    let indent = code.len() - trimmed.len();
    let (action, rest) = if let Some(r) = trimmed.strip_prefix("allow ") {
        (Action::Allow, r)
    } else if let Some(r) = trimmed.strip_prefix("deny ") {
        (Action::Deny, r)
    } else {
        return None;
    };
    if code.contains(';') || code.matches('{').count() != code.matches('}').count() {
        return None; // several rules on a line, or an L7 block over lines
    }
    let rest_at = indent + trimmed.len() - rest.len();
    let arrow = rest.find("->")?;
    let sources = peer_names(&rest[..arrow]);
    let after_arrow = rest_at + arrow + 2;
    let tail = &code[after_arrow..];
    // The destination ends at ` : `/`:`, ` via ` or the end (sets contain no `:`).
    let dest_len = tail
        .find(':')
        .or_else(|| tail.find(" via "))
        .unwrap_or(tail.len());
    let destination = &tail[..dest_len];
    let destinations = peer_names(destination);
    let destination_name = (destinations.len() == 1 && !destination.contains('{')).then(|| {
        let start = after_arrow + (destination.len() - destination.trim_start().len());
        (start, start + destinations[0].len())
    });
    // Just after the last character of a plain port list (no L7 block).
    let ports_end = tail.find(':').and_then(|colon| {
        let ports = &tail[colon + 1..];
        let list = ports[..ports.find(" via ").unwrap_or(ports.len())].trim_end();
        let plain = !list.trim().is_empty()
            && list
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " ,/-".contains(c));
        plain.then_some(after_arrow + colon + 1 + list.len())
    });
    Some(RuleLine {
        file,
        line,
        action,
        sources,
        destinations,
        destination_name,
        ports_end,
    })
}

/// `zone NAME = a | b` → NAME's members.
fn unions(texts: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for text in texts {
        for line in text.lines() {
            let Some(rest) = code(line).trim().strip_prefix("zone ") else {
                continue;
            };
            let Some((name, members)) = rest.split_once('=') else {
                continue;
            };
            let members = members.split('|').flat_map(peer_names).collect();
            out.insert(name.trim().to_string(), members);
        }
    }
    out
}

/// Zone names defined by `zone NAME {` in a file.
fn defined_zones(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| code(l).trim().strip_prefix("zone "))
        .filter(|rest| rest.contains('{'))
        .filter_map(|rest| rest.split(|c: char| c == '{' || c.is_whitespace()).next())
        .map(str::to_string)
        .collect()
}

// ------------------------------------------------------------------ edits

#[derive(Debug, Clone)]
struct Edit {
    what: String,
    /// The files after the edit.
    files: Vec<(String, String)>,
    /// Zones the edited rule names, before and after.
    zones: BTreeSet<String>,
    /// (file, 0-based line) of the edited rule before and after, to find it in the IR.
    before_line: Option<(usize, usize)>,
    after_line: Option<(usize, usize)>,
}

fn replace_line(
    files: &[(String, String)],
    file: usize,
    line: usize,
    new: &str,
) -> Vec<(String, String)> {
    let mut out = files.to_vec();
    let lines: Vec<&str> = files[file].1.split('\n').collect();
    let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    changed[line] = new.to_string();
    out[file].1 = changed.join("\n");
    out
}

fn line_of<'a>(files: &'a [(String, String)], rule: &RuleLine) -> &'a str {
    files[rule.file]
        .1
        .split('\n')
        .nth(rule.line)
        .unwrap_or_default()
}

fn edits(files: &[(String, String)]) -> Vec<Edit> {
    let mut rules = Vec::new();
    for (f, (_, text)) in files.iter().enumerate() {
        for (i, line) in text.split('\n').enumerate() {
            rules.extend(parse_rule(f, i, line));
        }
    }
    let zones: Vec<String> = files.iter().flat_map(|(_, t)| defined_zones(t)).collect();
    let named = |r: &RuleLine| -> BTreeSet<String> {
        r.sources.iter().chain(&r.destinations).cloned().collect()
    };
    let mut out = Vec::new();
    let allows = || rules.iter().filter(|r| r.action == Action::Allow);

    if let Some(r) = allows().find(|r| r.ports_end.is_some()) {
        let line = line_of(files, r);
        let end = r.ports_end.unwrap_or(line.len());
        let new = format!("{}, {NEW_PORT}{}", &line[..end], &line[end..]);
        out.push(Edit {
            what: format!("ports of `{}`", line.trim()),
            files: replace_line(files, r.file, r.line, &new),
            zones: named(r),
            before_line: Some((r.file, r.line)),
            after_line: Some((r.file, r.line)),
        });
    }
    if let Some((r, other)) = allows().find_map(|r| {
        let (a, b) = r.destination_name?;
        let current = &line_of(files, r)[a..b];
        let other = zones
            .iter()
            .find(|z| z.as_str() != current && !r.sources.contains(z))?;
        Some((r, other.clone()))
    }) {
        let line = line_of(files, r);
        let (a, b) = r.destination_name.unwrap_or((0, 0));
        let new = format!("{}{other}{}", &line[..a], &line[b..]);
        let mut zones = named(r);
        zones.insert(other.clone());
        out.push(Edit {
            what: format!("peer of `{}` → {other}", line.trim()),
            files: replace_line(files, r.file, r.line, &new),
            zones,
            before_line: Some((r.file, r.line)),
            after_line: Some((r.file, r.line)),
        });
    }
    if zones.len() >= 2 {
        let rule = format!("allow {} -> {} : {NEW_PORT}", zones[0], zones[1]);
        let mut edited = files.to_vec();
        let text = &mut edited[0].1;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let line = text.split('\n').count() - 1;
        text.push_str(&rule);
        text.push('\n');
        out.push(Edit {
            what: format!("add `{rule}`"),
            files: edited,
            zones: zones[..2].iter().cloned().collect(),
            before_line: None,
            after_line: Some((0, line)),
        });
    }
    let removals = [
        rules.iter().find(|r| r.action == Action::Deny),
        allows().next_back(),
    ];
    for r in removals.into_iter().flatten() {
        out.push(Edit {
            what: format!("remove `{}`", line_of(files, r).trim()),
            files: replace_line(files, r.file, r.line, ""),
            zones: named(r),
            before_line: Some((r.file, r.line)),
            after_line: None,
        });
    }
    out
}

// ------------------------------------------------------------------ kubernetes: rules a deny forces

/// The 0-based line of a span in its file, and that line's text.
fn span_line(source: &Source, span: Span) -> (String, usize, String) {
    let text = span.file.text(&source.db);
    let line = db::line_index(&source.db, span.file).line(span.start) - 1;
    let path = span.file.path(&source.db).clone();
    (
        path,
        line,
        text.split('\n').nth(line).unwrap_or_default().to_string(),
    )
}

fn ir_rules_at<'a>(source: &Source, ir: &'a Ir, path: &str, line: usize) -> Vec<&'a Rule> {
    ir.rules()
        .filter(|r| {
            let (p, l, _) = span_line(source, r.span);
            p == path && l == line
        })
        .collect()
}

fn overlaps(a: &Rule, b: &Rule) -> bool {
    !a.source.intersection(&b.source).is_empty()
        && !a.destination.intersection(&b.destination).is_empty()
        && a.ports()
            .intersection(b.ports())
            .map_or(true, |p| !p.is_empty())
}

/// cilium: zones named by the denies of later tiers that an edited allow
/// overlaps (each is written minus the allows of earlier tiers), and by the
/// rules those denies leave part of their pods to (docs/targets.md, "A named
/// port over a deny of an earlier tier").
fn narrowed_zones(source: &Source, ir: &Ir, edited: &[&Rule]) -> BTreeSet<String> {
    let tier_of = |rule: &Rule| {
        ir.tiers
            .iter()
            .position(|t| t.rules.iter().any(|r| r.span == rule.span))
    };
    let mut out = BTreeSet::new();
    let mut name = |rule: &Rule| {
        let (_, _, text) = span_line(source, rule.span);
        if let Some(rule) = parse_rule(0, 0, &text) {
            out.extend(rule.sources.into_iter().chain(rule.destinations));
        }
    };
    for e in edited.iter().filter(|e| e.action == Action::Allow) {
        let Some(tier) = tier_of(e) else { continue };
        for (later, t) in ir.tiers.iter().enumerate().skip(tier + 1) {
            for deny in t
                .rules
                .iter()
                .filter(|r| r.action == Action::Deny && overlaps(e, r))
            {
                name(deny);
                for allow in ir.tiers[later..]
                    .iter()
                    .flat_map(|t| t.rules.iter())
                    .filter(|r| r.action == Action::Allow && overlaps(deny, r))
                {
                    name(allow);
                }
            }
        }
    }
    out
}

/// Zones named by the rules of the other action that overlap `edited`.
fn forced_zones(source: &Source, ir: &Ir, edited: &[&Rule]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in edited {
        for r in ir.rules().filter(|r| r.action != e.action) {
            if overlaps(e, r) {
                let (_, _, text) = span_line(source, r.span);
                if let Some(rule) = parse_rule(0, 0, &text) {
                    out.extend(rule.sources.into_iter().chain(rule.destinations));
                }
            }
        }
    }
    out
}

// ------------------------------------------------------------------ building and comparing

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nplc-locality-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Builds `files` (written under `dir/src`) into `dir/OUT`; `Err` holds stderr.
fn build(
    dir: &Path,
    files: &[(String, String)],
    target: &str,
    namespaces: Option<&Path>,
    out: &str,
) -> Result<(), String> {
    let src = dir.join("src");
    let _ = std::fs::remove_dir_all(&src);
    for (name, text) in files {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().unwrap_or(&src)).expect("a source directory");
        std::fs::write(&path, text).expect("writing a source");
    }
    let mut cmd = Command::new(NPLC);
    cmd.current_dir(dir).args([
        "build", "src", "--target", target, "-o", out, "--color", "never",
    ]);
    if let Some(ns) = namespaces {
        cmd.arg("--namespaces").arg(ns);
    }
    let output = cmd.output().expect("running nplc");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .expect("an output directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read_to_string(&p).unwrap_or_default(),
            )
        })
        .filter(|(name, _)| name != ".nplc-manifest")
        .collect()
}

/// The zone a document belongs to, by its resource name.
fn zone_of(document: &str, zones: &[String]) -> Option<String> {
    let value: serde_yaml::Value = serde_yaml::from_str(document).ok()?;
    let name = value.get("metadata")?.get("name")?.as_str()?;
    let name = name.rsplit('.').next().unwrap_or(name);
    zones
        .iter()
        .filter(|z| name == z.as_str() || name.starts_with(&format!("{z}-")))
        .max_by_key(|z| z.len())
        .cloned()
}

/// `zones` with the members of the unions among them, transitively.
fn with_members(
    zones: &BTreeSet<String>,
    unions: &BTreeMap<String, Vec<String>>,
) -> BTreeSet<String> {
    let mut out = zones.clone();
    let mut todo: Vec<String> = zones.iter().cloned().collect();
    while let Some(z) = todo.pop() {
        for m in unions.get(&z).into_iter().flatten() {
            if out.insert(m.clone()) {
                todo.push(m.clone());
            }
        }
    }
    out
}

struct Outcome {
    case: String,
    changed: usize,
    unexpected: Vec<String>,
}

#[test]
fn a_one_rule_edit_changes_only_the_files_of_the_zones_it_names() {
    let stdlib: Vec<String> = std::fs::read_dir(root().join("stdlib/std"))
        .expect("stdlib/std")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    let mut outcomes = Vec::new();
    let mut skipped = Vec::new();
    for (example, files) in sources::examples() {
        // Names relative to the example's directory, as `nplc build DIR` reads them.
        let files: Vec<(String, String)> = files
            .into_iter()
            .map(|(path, text)| {
                let name = Path::new(&path)
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                (name, text)
            })
            .collect();
        let texts: Vec<&str> = files
            .iter()
            .map(|(_, t)| t.as_str())
            .chain(stdlib.iter().map(String::as_str))
            .collect();
        let unions = unions(&texts);
        let inventory = root().join(format!("tests/nca/inventories/{example}/namespaces.yaml"));
        for target in TARGETS {
            let namespaces =
                (target == "kubernetes" && inventory.is_file()).then_some(inventory.as_path());
            let dir = scratch(&format!("{example}-{target}"));
            if build(&dir, &files, target, namespaces, "before").is_err() {
                continue; // the example does not build for this target
            }
            let before = read_dir(&dir.join("before"));
            for edit in edits(&files) {
                let case = format!("{example} {target}: {}", edit.what);
                let _ = std::fs::remove_dir_all(dir.join("after"));
                if let Err(stderr) = build(&dir, &edit.files, target, namespaces, "after") {
                    let first = stderr
                        .lines()
                        .find(|l| l.contains("error"))
                        .unwrap_or_default()
                        .to_string();
                    skipped.push(format!(
                        "{case}: the edited program does not build ({first})"
                    ));
                    continue;
                }
                let after = read_dir(&dir.join("after"));
                let old = Source::files(&files);
                let new = Source::files(&edit.files);
                let (Some(old_ir), Some(new_ir)) = (old.lower(), new.lower()) else {
                    skipped.push(format!("{case}: does not lower"));
                    continue;
                };
                let all_zones: Vec<String> = old_ir
                    .zones
                    .iter()
                    .chain(&new_ir.zones)
                    .map(|z| z.name.clone())
                    .collect();
                let mut allowed = edit.zones.clone();
                // An FQDN allow without `via` also allows the lookups of its
                // names (LANGUAGE.md §4.7), so it names `kube-dns` too.
                for (src, ir, at) in [
                    (&old, &old_ir, edit.before_line),
                    (&new, &new_ir, edit.after_line),
                ] {
                    let Some((file, line)) = at else { continue };
                    let path = files[file].0.clone();
                    let rules = ir_rules_at(src, ir, &path, line);
                    if rules.iter().any(|r| r.role == RuleRole::DnsForFqdn) {
                        allowed.insert("kube-dns".to_string());
                    }
                }
                if target == "cilium" {
                    let at =
                        |src: &Source, ir: &Ir, at: Option<(usize, usize)>| -> BTreeSet<String> {
                            let Some((file, line)) = at else {
                                return BTreeSet::new();
                            };
                            let path = files[file].0.clone();
                            let rules = ir_rules_at(src, ir, &path, line);
                            narrowed_zones(src, ir, &rules)
                        };
                    allowed.extend(at(&old, &old_ir, edit.before_line));
                    allowed.extend(at(&new, &new_ir, edit.after_line));
                }
                if target == "kubernetes" {
                    let at =
                        |src: &Source, ir: &Ir, at: Option<(usize, usize)>| -> BTreeSet<String> {
                            let Some((file, line)) = at else {
                                return BTreeSet::new();
                            };
                            let path = files[file].0.clone();
                            let rules = ir_rules_at(src, ir, &path, line);
                            forced_zones(src, ir, &rules)
                        };
                    allowed.extend(at(&old, &old_ir, edit.before_line));
                    allowed.extend(at(&new, &new_ir, edit.after_line));
                }
                let allowed = with_members(&allowed, &unions);
                let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
                let listing_changed = before.keys().ne(after.keys());
                let mut changed = 0;
                let mut unexpected = Vec::new();
                for name in names {
                    let (a, b) = (before.get(name), after.get(name));
                    if a == b {
                        continue;
                    }
                    changed += 1;
                    if name == "kustomization.yaml" && listing_changed {
                        continue;
                    }
                    let zone = a.or(b).and_then(|d| zone_of(d, &all_zones));
                    if !zone.as_ref().is_some_and(|z| allowed.contains(z)) {
                        unexpected.push(format!(
                            "{name} (zone {})",
                            zone.as_deref().unwrap_or("none")
                        ));
                    }
                }
                outcomes.push(Outcome {
                    case,
                    changed,
                    unexpected,
                });
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let mut report = Vec::new();
    for o in &outcomes {
        report.push(format!(
            "{}: {} file(s) changed{}",
            o.case,
            o.changed,
            if o.unexpected.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} outside the rule's zones: {}",
                    o.unexpected.len(),
                    o.unexpected.join(", ")
                )
            }
        ));
    }
    eprintln!("{}", report.join("\n"));
    if !skipped.is_empty() {
        eprintln!("skipped:\n{}", skipped.join("\n"));
    }
    assert!(!outcomes.is_empty(), "no example built for any target");
    let failures = outcomes.iter().filter(|o| !o.unexpected.is_empty()).count();
    assert_eq!(failures, 0, "{failures} of {} one-rule edits changed files outside the zones the rule names (see above)", outcomes.len());
}
