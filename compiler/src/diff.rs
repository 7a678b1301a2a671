//! The semantic difference of two versions of a program: the connections the
//! new version allows that the old one denies (opened) and the reverse
//! (closed), each with what decides it on both sides. Exact: computed from
//! both meanings ([`crate::meaning`]), judged at L4 as `nplc matrix` judges
//! connections (an L7-filtered allow lets some requests through, so it
//! counts as allowed).

use crate::eval::Connection;
use crate::ir::Ir;
use crate::meaning::{self, subtract, Cause, Decision, Meaning, Region, Space, TooLarge};

/// Connections one version allows and the other denies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Disjoint regions of connections.
    pub parts: Vec<Region>,
    /// What decides them in the old version.
    pub old: Cause,
    /// What decides them in the new version.
    pub new: Cause,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pub space: Space,
    pub opened: Vec<Change>,
    pub closed: Vec<Change>,
}

impl Diff {
    pub fn opens(&self, conn: &Connection) -> bool {
        self.contains(&self.opened, conn)
    }

    pub fn closes(&self, conn: &Connection) -> bool {
        self.contains(&self.closed, conn)
    }

    fn contains(&self, changes: &[Change], conn: &Connection) -> bool {
        changes
            .iter()
            .flat_map(|c| c.parts.iter())
            .any(|r| self.space.contains(r, conn))
    }
}

pub fn diff(old: &Ir, new: &Ir) -> Result<Diff, TooLarge> {
    let space = Space::of([old, new]);
    let before = meaning::meaning(&space, old);
    let after = meaning::meaning(&space, new);
    let opened = between(&after, &before)?
        .into_iter()
        .map(|(new, old, parts)| Change { parts, old, new })
        .collect();
    let closed = between(&before, &after)?
        .into_iter()
        .map(|(old, new, parts)| Change { parts, old, new })
        .collect();
    Ok(Diff {
        space,
        opened,
        closed,
    })
}

/// What `allowing` allows and `denying` denies, by the pair of decisions
/// responsible.
fn between(
    allowing: &Meaning,
    denying: &Meaning,
) -> Result<Vec<(Cause, Cause, Vec<Region>)>, TooLarge> {
    let mut out = Vec::new();
    for a in allowing.decisions.iter().filter(|d| d.allowed) {
        for d in denying.decisions.iter().filter(|d| !d.allowed) {
            let parts = common(allowing, a, denying, d)?;
            if !parts.is_empty() {
                out.push((a.cause, d.cause, parts));
            }
        }
    }
    Ok(out)
}

/// The connections both decisions decide.
fn common(ma: &Meaning, a: &Decision, mb: &Meaning, b: &Decision) -> Result<Vec<Region>, TooLarge> {
    let mut left: Vec<Region> = Vec::new();
    for x in &a.base {
        for y in &b.base {
            left.extend(x.intersection(y));
        }
    }
    for region in ma.decided[..a.before].iter().chain(&mb.decided[..b.before]) {
        if left.is_empty() {
            break;
        }
        left = subtract(left, region);
        if left.len() > meaning::MAX_PIECES {
            return Err(TooLarge);
        }
    }
    Ok(left)
}
