//! The semantic difference of two versions of a program: the connections the
//! new version allows that the old one denies (opened) and the reverse
//! (closed), each with what decides it on both sides. Exact: computed from
//! both meanings ([`crate::meaning`]), judged at L4 as `nplc matrix` judges
//! connections (an L7-filtered allow lets some requests through, so it
//! counts as allowed), and, where a program has L7 filters, also for the
//! requests no filter matches (so removing a deny behind an HTTP allow
//! shows as opened).

use crate::eval::Connection;
use crate::ir::Ir;
use crate::meaning::{self, subtract, Cause, Decision, Meaning, Region, Space, TooLarge, View};

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
    let (mut opened, mut closed) = changes(&space, old, new, View::L4)?;
    // A change behind an L7 filter (a deny removed after an HTTP allow)
    // shows only for the requests the filter does not match.
    let filtered = |ir: &Ir| ir.rules().any(|r| !r.service.l7.is_any());
    if filtered(old) || filtered(new) {
        let (more_opened, more_closed) = changes(&space, old, new, View::UnmatchedRequests)?;
        let more_opened = not_covered(more_opened, &opened)?;
        let more_closed = not_covered(more_closed, &closed)?;
        opened.extend(more_opened);
        closed.extend(more_closed);
    }
    Ok(Diff {
        space,
        opened,
        closed,
    })
}

/// The opened and closed connections as one view judges them.
fn changes(
    space: &Space,
    old: &Ir,
    new: &Ir,
    view: View,
) -> Result<(Vec<Change>, Vec<Change>), TooLarge> {
    let before = meaning::meaning_without(space, old, None, view);
    let after = meaning::meaning_without(space, new, None, view);
    let opened = between(&after, &before)?
        .into_iter()
        .map(|(new, old, parts)| Change { parts, old, new })
        .collect();
    let closed = between(&before, &after)?
        .into_iter()
        .map(|(old, new, parts)| Change { parts, old, new })
        .collect();
    Ok((opened, closed))
}

/// The parts of `changes` that no change of `known` already covers.
fn not_covered(changes: Vec<Change>, known: &[Change]) -> Result<Vec<Change>, TooLarge> {
    let mut out = Vec::new();
    for mut change in changes {
        for region in known.iter().flat_map(|k| k.parts.iter()) {
            change.parts = subtract(change.parts, region);
            if change.parts.len() > meaning::MAX_PIECES {
                return Err(TooLarge);
            }
        }
        if !change.parts.is_empty() {
            out.push(change);
        }
    }
    Ok(out)
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
