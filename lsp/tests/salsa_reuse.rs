//! Incrementality: after one rule of one file is edited, the other files are
//! not parsed or checked again and the programs that do not contain the
//! edited file are not resolved again. A database that logs salsa's
//! `WillExecute` events proves it (the same shape as the server's: one
//! program per open document).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nplc_compiler::db::ImportError;
use nplc_compiler::{ide, lint, names, stdlib, Db, Program, SourceFile};
use salsa::Setter;

#[salsa::db]
#[derive(Clone)]
struct LoggingDb {
    storage: salsa::Storage<Self>,
    files: Arc<Mutex<HashMap<String, SourceFile>>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl LoggingDb {
    fn new() -> LoggingDb {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = log.clone();
        LoggingDb {
            storage: salsa::Storage::new(Some(Box::new(move |event| {
                if let salsa::EventKind::WillExecute { database_key } = event.kind {
                    sink.lock().unwrap().push(format!("{database_key:?}"));
                }
            }))),
            files: Arc::default(),
            log,
        }
    }

    fn add(&self, path: &str, text: &str) -> SourceFile {
        let file = SourceFile::new(self, path.to_string(), text.to_string());
        self.files.lock().unwrap().insert(path.to_string(), file);
        file
    }

    /// The queries executed since the last call, e.g. `parse(Id(3))`.
    fn executed(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

#[salsa::db]
impl salsa::Database for LoggingDb {}

#[salsa::db]
impl Db for LoggingDb {
    fn load_import(&self, _from: SourceFile, spec: &str) -> Result<SourceFile, ImportError> {
        if let Some(file) = self.files.lock().unwrap().get(spec) {
            return Ok(*file);
        }
        match stdlib::source(spec) {
            Some(text) => Ok(self.add(spec, text)),
            None => Err(ImportError::NotFound {
                path: spec.to_string(),
            }),
        }
    }
}

fn rules(zone: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("allow {zone} -> db : {}\n", 8000 + i))
        .collect()
}

fn count(executed: &[String], query: &str) -> usize {
    executed
        .iter()
        .filter(|e| e.starts_with(&format!("{query}(")))
        .count()
}

#[test]
fn editing_one_rule_reparses_only_its_file() {
    let db = LoggingDb::new();
    db.add(
        "./zones.npl",
        "zone web { namespace \"web\" }\nzone api { namespace \"api\" }\nzone db { namespace \"db\" }\n",
    );
    let a_text = format!("import \"./zones.npl\"\n{}", rules("web", 50));
    let a = db.add("./a.npl", &a_text);
    let b = db.add(
        "./b.npl",
        &format!("import \"./zones.npl\"\n{}", rules("api", 50)),
    );
    let mut db = db;
    let pa = Program::new(&db, vec![a]);
    let pb = Program::new(&db, vec![b]);
    let before_a = lint::diagnostics(&db, pa).clone();
    let before_b = lint::diagnostics(&db, pb).clone();
    let _ = ide::semantic_tokens(&db, pb, b);
    let first = db.executed();
    assert!(
        count(&first, "parse") >= 4,
        "the first run parses every file (prelude, zones, a, b): {first:?}"
    );

    // One keystroke in one rule of a.npl.
    let edited = a_text.replacen(": 8007", ": 8077", 1);
    assert_ne!(edited, a_text);
    a.set_text(&mut db).to(edited);
    let after_a = lint::diagnostics(&db, pa).clone();
    let after_b = lint::diagnostics(&db, pb).clone();
    let _ = ide::semantic_tokens(&db, pb, b);
    let second = db.executed();

    assert_eq!(
        count(&second, "parse"),
        1,
        "only a.npl is parsed again: {second:?}"
    );
    assert_eq!(
        count(&second, "check_file"),
        1,
        "only a.npl is checked again: {second:?}"
    );
    assert_eq!(
        count(&second, "resolve"),
        1,
        "only a.npl's program is resolved again: {second:?}"
    );
    assert_eq!(before_a, after_a);
    assert_eq!(before_b, after_b);
    // The unchanged program's names are the very same value.
    assert_eq!(names::resolve(&db, pb).rules.len(), 50);
    assert!(db.executed().is_empty());
}
