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
//! `targets::diagnostics` whose inputs are unchanged) and builds each target
//! in a thread of its own, on its own handle of the database, reporting each
//! target's diagnostics as soon as they are there. A newer job writes its
//! texts at once, which cancels the builds in flight at their next query,
//! and their stale results are dropped. The edit itself never waits for a
//! build.

use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc;

use nplc_compiler::config::Config;
use nplc_compiler::emit::{Options, Target};
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
    /// A run for this revision started, for these targets (none: the
    /// results of every target can be dropped).
    Started { revision: u64, targets: Vec<Target> },
    /// One target's build finished: its diagnostics in every open program.
    Found {
        revision: u64,
        target: Target,
        found: Vec<Found>,
    },
    /// Every target of the run has reported.
    Finished { revision: u64 },
    /// A run was superseded by a newer job.
    Cancelled { revision: u64 },
}

enum Event {
    Job(Job, mpsc::Sender<Event>),
    Done {
        run: u64,
        revision: u64,
        target: Target,
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

/// The run in flight: its revision and how many targets have not reported.
struct Running {
    revision: u64,
    outstanding: usize,
}

fn work(rx: mpsc::Receiver<Event>, report: impl Fn(Report)) {
    let mut mirror = Mirror::default();
    let mut run = 0u64;
    let mut running: Option<Running> = None;
    while let Ok(event) = rx.recv() {
        match event {
            Event::Job(mut job, mut tx) => {
                if let Some(old) = running.take() {
                    report(Report::Cancelled {
                        revision: old.revision,
                    });
                }
                // Only the newest job matters; results that arrive meanwhile
                // are of runs this job supersedes. Writing the texts cancels
                // the builds in flight at once (salsa waits for their
                // handles to drop); new builds start only after a pause in
                // the edits, so that typing does not start builds by the
                // dozen that the next keystroke cancels.
                loop {
                    while let Ok(event) = rx.try_recv() {
                        if let Event::Job(newer, newer_tx) = event {
                            (job, tx) = (newer, newer_tx);
                        }
                    }
                    mirror.apply(&job);
                    match quiet_or_newer(&rx) {
                        Some((newer, newer_tx)) => (job, tx) = (newer, newer_tx),
                        None => break,
                    }
                }
                run += 1;
                let revision = job.revision;
                report(Report::Started {
                    revision,
                    targets: job.targets.clone(),
                });
                // With the project's nplc.toml (API server endpoints, cluster
                // ranges) as `nplc build` reads it: read once per job, not per
                // target.
                let roots: Vec<(Program, Options)> = job
                    .roots
                    .iter()
                    .filter_map(|r| mirror.programs.get(r))
                    .map(|&program| (program, build_options(&mirror.db, program)))
                    .collect();
                // One thread per target, each on its own handle: a target's
                // diagnostics are published as soon as its build is done.
                let mut outstanding = 0;
                for &target in &job.targets {
                    let (db, roots, tx) = (mirror.db.clone(), roots.clone(), tx.clone());
                    let this_run = run;
                    let spawned = std::thread::Builder::new()
                        .name(format!("nplc-check-{}", target.as_str()))
                        .spawn(move || {
                            // Cancelled by a newer job (or a backend's
                            // panic, which must not end the server): no result.
                            let found = std::panic::catch_unwind(AssertUnwindSafe(|| {
                                check_target(&db, &roots, target)
                            }))
                            .ok();
                            drop(db);
                            let _ = tx.send(Event::Done {
                                run: this_run,
                                revision,
                                target,
                                found,
                            });
                        });
                    outstanding += usize::from(spawned.is_ok());
                }
                if outstanding == 0 {
                    report(Report::Finished { revision });
                } else {
                    running = Some(Running {
                        revision,
                        outstanding,
                    });
                }
            }
            Event::Done {
                run: finished,
                revision,
                target,
                found,
            } => {
                let Some(current) = running.as_mut().filter(|_| finished == run) else {
                    continue; // superseded; already reported cancelled
                };
                if let Some(found) = found {
                    report(Report::Found {
                        revision,
                        target,
                        found,
                    });
                }
                current.outstanding -= 1;
                if current.outstanding == 0 {
                    running = None;
                    report(Report::Finished { revision });
                }
            }
        }
    }
}

/// How long the edits must pause before the target builds start.
pub const DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(150);

/// Waits [`DEBOUNCE`] for a newer job; results of superseded runs that
/// arrive meanwhile are dropped.
fn quiet_or_newer(rx: &mpsc::Receiver<Event>) -> Option<(Job, mpsc::Sender<Event>)> {
    let deadline = std::time::Instant::now() + DEBOUNCE;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(Event::Job(job, tx)) => return Some((job, tx)),
            Ok(Event::Done { .. }) => continue,
            Err(_) => return None,
        }
    }
}

/// The checker's copy of the session's programs.
#[derive(Default)]
struct Mirror {
    db: Database,
    /// Each open program's root path → its program here.
    programs: HashMap<String, Program>,
    /// The paths the last job wrote.
    written: BTreeSet<String>,
}

impl Mirror {
    /// Writes the job's texts and registers its roots. A file new to this
    /// database makes every program load its imports again (an import that
    /// failed may find it now), as the session does; a file the job no
    /// longer has (deleted, or imported by none) is forgotten, so that an
    /// import of it looks at the disk again.
    fn apply(&mut self, job: &Job) {
        use salsa::Setter;
        let mut reload = false;
        let paths: BTreeSet<String> = job.files.iter().map(|(p, _)| p.clone()).collect();
        for gone in self.written.difference(&paths) {
            reload |= self.db.forget_file(gone);
        }
        for (path, text) in &job.files {
            reload |= self.db.file(path).is_none();
            self.db.set_file(path, text.clone());
        }
        self.written = paths;
        if reload {
            for program in self.programs.values() {
                let roots = program.roots(&self.db).clone();
                program.set_roots(&mut self.db).to(roots);
            }
        }
        // A root the job no longer has is dropped; one whose file was
        // forgotten and written again (closed, then reopened) is a new input
        // and gets a new program, or its builds would read the old text.
        self.programs.retain(|root, _| job.roots.contains(root));
        for root in &job.roots {
            let Some(file) = self.db.file(root) else {
                continue;
            };
            let current = self
                .programs
                .get(root)
                .is_some_and(|p| p.roots(&self.db).first() == Some(&file));
            if !current {
                let program = Program::new(&self.db, vec![file]);
                self.programs.insert(root.clone(), program);
            }
        }
    }
}

/// What the project's nplc.toml tells a build of `program` (none without one).
fn build_options(db: &Database, program: Program) -> Options {
    program
        .roots(db)
        .first()
        .and_then(|f| Config::discover(Path::new(f.path(db))).ok())
        .and_then(|config| config.build_options(None).ok())
        .unwrap_or_default()
}

/// The diagnostics of building every program for one target.
fn check_target(db: &Database, programs: &[(Program, Options)], target: Target) -> Vec<Found> {
    let mut found = Vec::new();
    for (program, options) in programs {
        for diag in targets::diagnostics_with(db, *program, target, options) {
            if diag.span.file.is_std(db) {
                continue;
            }
            let mut paths = vec![diag.span.file.path(db).clone()];
            paths.extend(diag.labels.iter().map(|l| l.span.file.path(db).clone()));
            found.push(Found {
                diagnostic: diag,
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
