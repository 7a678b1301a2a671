//! Programs for the backend tests: in-memory texts or the examples' files,
//! in a fresh database, built with the library.

use std::path::{Path, PathBuf};

use nplc_compiler::emit::{self, Options, Resource, Target};
use nplc_compiler::{ir, render, Database, Diagnostic, Program};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A program of files read from disk, or of one in-memory text.
pub struct Source {
    pub db: Database,
    pub program: Program,
}

impl Source {
    pub fn files(files: &[(String, String)]) -> Source {
        let mut db = Database::default();
        let roots = files
            .iter()
            .map(|(path, text)| db.set_file(path, text.clone()))
            .collect();
        let program = Program::new(&db, roots);
        Source { db, program }
    }

    /// One in-memory file, `NAME.npl`.
    pub fn named(name: &str, text: &str) -> Source {
        Source::files(&[(format!("{name}.npl"), text.to_string())])
    }

    /// The IR, or `None` when the program has errors.
    pub fn lower(&self) -> Option<ir::Ir> {
        ir::lower(&self.db, self.program).clone()
    }

    /// Diagnostics as `nplc` prints them, without colour.
    pub fn render(&self, diags: &[Diagnostic]) -> String {
        render::human(&self.db, diags, false)
    }

    pub fn text(text: &str) -> Source {
        Source::files(&[("policy.npl".to_string(), text.to_string())])
    }

    pub fn build(&self, target: Target) -> Result<Vec<Resource>, Vec<Diagnostic>> {
        self.build_with(target, &Options::default())
    }

    pub fn build_with(
        &self,
        target: Target,
        options: &Options,
    ) -> Result<Vec<Resource>, Vec<Diagnostic>> {
        emit::build(&self.db, self.program, target, options)
    }

    pub fn built(&self, target: Target) -> Vec<Resource> {
        match self.build(target) {
            Ok(resources) => resources,
            Err(diags) => panic!(
                "the {} build failed:\n{}",
                target.as_str(),
                render::human(&self.db, &diags, false)
            ),
        }
    }

    pub fn ir(&self) -> ir::Ir {
        match ir::lower(&self.db, self.program).clone() {
            Some(ir) => ir,
            None => panic!("the program has errors"),
        }
    }
}

/// Every example directory with its `.npl` files (relative paths).
pub fn examples() -> Vec<(String, Vec<(String, String)>)> {
    let dir = root().join("examples");
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    for example in entries {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&example)
            .expect("an example")
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "npl"))
            .collect();
        files.sort();
        let files = files
            .iter()
            .map(|p| {
                let rel = p.strip_prefix(root()).expect("under the root");
                (
                    rel.display().to_string(),
                    std::fs::read_to_string(p).expect("reading an example"),
                )
            })
            .collect();
        let name = example
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .to_string();
        out.push((name, files));
    }
    out
}
