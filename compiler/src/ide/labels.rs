//! Label keys and values written anywhere in the workspace, for completion
//! and hover.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::db::{Db, Program};
use crate::names;
use crate::syntax;
use crate::syntax::ast::{Constraint, ConstraintOp, Item, ZoneLine};

/// What a zone line says about labels.
enum Seen<'a> {
    /// A constraint, and whether it is on a `namespaces` line.
    Constraint(&'a Constraint, bool),
    /// `namespace "name"`.
    Namespace(&'a str),
}

/// Every constraint and namespace name of every zone in the files of these programs.
fn for_each_constraint(db: &dyn Db, workspace: &[Program], mut f: impl FnMut(Seen<'_>)) {
    let mut seen = HashSet::new();
    for &p in workspace {
        for &file in &names::resolve(db, p).files {
            if !seen.insert(file) {
                continue;
            }
            for item in &syntax::parse(db, file).module.items {
                let Item::Zone(zone) = item else { continue };
                for line in &zone.lines {
                    match line {
                        ZoneLine::Namespaces { constraints, .. } => constraints
                            .iter()
                            .for_each(|c| f(Seen::Constraint(c, true))),
                        ZoneLine::Pods { constraints, .. } => constraints
                            .iter()
                            .for_each(|c| f(Seen::Constraint(c, false))),
                        ZoneLine::Namespace { name, .. } => f(Seen::Namespace(&name.value)),
                        ZoneLine::Isolate { .. } => {}
                    }
                }
            }
        }
    }
}

/// Label keys written in the workspace, with whether they label namespaces.
pub(super) fn label_keys(db: &dyn Db, workspace: &[Program]) -> BTreeMap<String, bool> {
    let mut keys = BTreeMap::new();
    for_each_constraint(db, workspace, |seen| {
        if let Seen::Constraint(c, ns) = seen {
            let entry = keys.entry(c.key.key.clone()).or_insert(ns);
            *entry = *entry && ns;
        }
    });
    keys
}

/// Values written for `key` in the workspace (namespace names count as
/// values of `kubernetes.io/metadata.name`).
pub(super) fn label_values(db: &dyn Db, workspace: &[Program], key: &str) -> BTreeSet<String> {
    let mut values = BTreeSet::new();
    for_each_constraint(db, workspace, |seen| match seen {
        Seen::Constraint(c, _) if c.key.key == key => match &c.op {
            ConstraintOp::Eq(v) | ConstraintOp::NotEq(v) => {
                values.insert(v.value.clone());
            }
            ConstraintOp::In(vs) | ConstraintOp::NotIn(vs) => {
                values.extend(vs.iter().map(|v| v.value.clone()));
            }
            ConstraintOp::Has | ConstraintOp::NotHas => {}
        },
        Seen::Namespace(ns) if key == crate::ir::NAMESPACE_NAME_LABEL => {
            values.insert(ns.to_string());
        }
        _ => {}
    });
    values
}
