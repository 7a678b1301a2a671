//! Target checks off the keystroke path.
//!
//! Building for a target can take far longer than a keystroke (the allow
//! table, the backends). Run on a snapshot of the session's database, a long
//! build would hold that snapshot, and salsa makes the next edit wait until
//! every snapshot is dropped: the editor would freeze. So the target checks
//! have a database of their own, owned by one worker thread: after the fast
//! diagnostics of a revision are published, the server sends the worker the
//! texts of every file of the open programs ([`Job`]); the worker writes them
//! into its database (only changed texts are written, so salsa keeps every
//! `targets::diagnostics` whose inputs are unchanged) and builds on a
//! snapshot in a second thread. A newer job writes its texts at once, which
//! cancels the running build at its next query, and the stale result is
//! dropped. The edit itself never waits for a build.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use nplc_compiler::emit::Target;
use nplc_compiler::{targets, Database, Diagnostic, Program};

/// What the worker is asked to check.
pub struct Job {
    /// The session revision these texts belong to.
    pub revision: u64,
    /// `(path, text)` of every user file of the open programs.
    pub files: Vec<(String, String)>,
    /// The path of each open program's root.
    pub roots: Vec<String>,
    pub targets: Vec<Target>,
}

/// A target diagnostic with the paths of its files (the worker's database
/// has its own file ids; the server maps paths back to its own).
#[derive(Debug, Clone)]
pub struct Found {
    pub diagnostic: Diagnostic,
    /// The path of the primary span's file, then of each label's.
    pub paths: Vec<String>,
}

/// What the worker reports, in order.
#[derive(Debug)]
pub enum Report {
    /// A run for this revision started.
    Started { revision: u64, targets: usize },
    /// A run finished: every target diagnostic of every open program.
    Finished { revision: u64, found: Vec<Found> },
    /// A run was superseded by a newer job.
    Cancelled { revision: u64 },
}

enum Event {
    Job(Job, mpsc::Sender<Event>),
    Done {
        run: u64,
        revision: u64,
        found: Option<Vec<Found>>,
    },
}

/// The handle the server keeps; dropping it ends the worker when idle.
pub struct Checker {
    tx: mpsc::Sender<Event>,
}

impl Checker {
    /// Starts the worker; `report` is called on the worker thread.
    pub fn start(report: impl Fn(Report) + Send + 'static) -> Checker {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("nplc-target-checks".into())
            .spawn(move || work(rx, report));
        if let Err(err) = spawned {
            eprintln!("nplc lsp: target checks are off: {err}");
        }
        Checker { tx }
    }

    pub fn submit(&self, job: Job) {
        let _ = self.tx.send(Event::Job(job, self.tx.clone()));
    }
}

fn work(rx: mpsc::Receiver<Event>, report: impl Fn(Report)) {
    let mut db = Database::default();
    let mut programs: HashMap<String, Program> = HashMap::new();
    let mut run = 0u64;
    let mut running: Option<u64> = None; // revision of the build in flight
    while let Ok(event) = rx.recv() {
        match event {
            Event::Job(mut job, mut tx) => {
                // Only the newest job matters; results that arrive meanwhile
                // are of runs this job supersedes.
                while let Ok(event) = rx.try_recv() {
                    if let Event::Job(newer, newer_tx) = event {
                        (job, tx) = (newer, newer_tx);
                    }
                }
                if let Some(revision) = running.take() {
                    report(Report::Cancelled { revision });
                }
                // Writing the texts cancels the build in flight (salsa waits
                // for its snapshot to drop).
                apply(&mut db, &mut programs, &job);
                run += 1;
                if job.targets.is_empty() {
                    report(Report::Finished {
                        revision: job.revision,
                        found: Vec::new(),
                    });
                    continue;
                }
                report(Report::Started {
                    revision: job.revision,
                    targets: job.targets.len(),
                });
                running = Some(job.revision);
                let roots: Vec<Program> = job
                    .roots
                    .iter()
                    .filter_map(|r| programs.get(r))
                    .copied()
                    .collect();
                let snapshot = db.clone();
                let (this_run, revision, targets) = (run, job.revision, job.targets);
                let spawned = std::thread::Builder::new()
                    .name("nplc-target-build".into())
                    .spawn(move || {
                        // Cancelled by a newer job (or a backend's panic,
                        // which must not end the server): no result.
                        let found = std::panic::catch_unwind(AssertUnwindSafe(|| {
                            check(&snapshot, &roots, &targets)
                        }))
                        .ok();
                        drop(snapshot);
                        let _ = tx.send(Event::Done {
                            run: this_run,
                            revision,
                            found,
                        });
                    });
                if spawned.is_err() {
                    running = None;
                    report(Report::Cancelled { revision });
                }
            }
            Event::Done {
                run: finished,
                revision,
                found,
            } => {
                if finished != run {
                    continue; // superseded; already reported cancelled
                }
                running = None;
                report(match found {
                    Some(found) => Report::Finished { revision, found },
                    None => Report::Cancelled { revision },
                });
            }
        }
    }
}

/// Writes the job's texts and registers its roots. A file new to this
/// database makes every program load its imports again (an import that
/// failed may find it now), as the session does.
fn apply(db: &mut Database, programs: &mut HashMap<String, Program>, job: &Job) {
    use salsa::Setter;
    let mut new_file = false;
    for (path, text) in &job.files {
        new_file |= db.file(path).is_none();
        db.set_file(path, text.clone());
    }
    if new_file {
        for program in programs.values() {
            let roots = program.roots(db).clone();
            program.set_roots(db).to(roots);
        }
    }
    for root in &job.roots {
        if programs.contains_key(root) {
            continue;
        }
        if let Some(file) = db.file(root) {
            programs.insert(root.clone(), Program::new(db, vec![file]));
        }
    }
}

/// Builds every target in a thread of its own (on its own handle of the
/// snapshot: the targets share lowering through salsa), then gathers the
/// diagnostics in target order. A cancelled build unwinds every thread.
fn check(db: &Database, programs: &[Program], targets: &[Target]) -> Vec<Found> {
    let per_target: Vec<std::thread::Result<Vec<Found>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = targets
            .iter()
            .map(|&target| {
                let db = db.clone();
                scope.spawn(move || check_target(&db, programs, target))
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut found = Vec::new();
    for result in per_target {
        match result {
            Ok(diags) => found.extend(diags),
            // Re-raise the cancellation (or panic) on this thread, for the
            // caller's `Cancelled::catch`.
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
    found
}

fn check_target(db: &Database, programs: &[Program], target: Target) -> Vec<Found> {
    let mut found = Vec::new();
    for &program in programs {
        for diag in targets::diagnostics(db, program, target) {
            if diag.span.file.is_std(db) {
                continue;
            }
            let mut paths = vec![diag.span.file.path(db).clone()];
            paths.extend(diag.labels.iter().map(|l| l.span.file.path(db).clone()));
            found.push(Found {
                diagnostic: diag.clone(),
                paths,
            });
        }
    }
    found
}

/// The job for a snapshot: the texts of every user file of the open
/// programs, their roots and the configured targets.
pub fn job(snap: &crate::session::Snapshot) -> Job {
    let mut files = std::collections::BTreeMap::new();
    let mut roots = Vec::new();
    for doc in snap.docs.values().filter(|d| !d.std) {
        roots.push(doc.file.path(&snap.db).clone());
        for &file in &nplc_compiler::names::resolve(&snap.db, doc.program).files {
            if !file.is_std(&snap.db) {
                files
                    .entry(file.path(&snap.db).clone())
                    .or_insert_with(|| file.text(&snap.db).clone());
            }
        }
    }
    Job {
        revision: snap.revision,
        files: files.into_iter().collect(),
        roots,
        targets: snap.config.targets.clone(),
    }
}

/// Maps what the worker found back to the session's files (by path), per
/// file with the text it was computed on. A diagnostic whose file the
/// session does not know is dropped.
pub fn carried(snap: &crate::session::Snapshot, found: Vec<Found>) -> crate::diagnostics::Carried {
    let mut out = crate::diagnostics::Carried::new();
    for Found {
        mut diagnostic,
        paths,
    } in found
    {
        let files: Option<Vec<_>> = paths.iter().map(|p| snap.db.file(p)).collect();
        let Some(files) = files else { continue };
        let Some((&primary, labels)) = files.split_first() else {
            continue;
        };
        diagnostic.span.file = primary;
        for (label, &file) in diagnostic.labels.iter_mut().zip(labels) {
            label.span.file = file;
        }
        out.entry(primary)
            .or_insert_with(|| (primary.text(&snap.db).clone(), Vec::new()))
            .1
            .push(diagnostic);
    }
    out
}
