//! The output does not depend on how many threads build it: the parser
//! cuts a large file into pieces and the backends build documents with
//! rayon, always keeping program order. A program large enough that the
//! parser cuts it and the backends split their work into several chunks is
//! built with one thread and with three, for every network-layer target,
//! and the streams must be byte-identical.

#[path = "../benches/support/realistic.rs"]
#[allow(dead_code)]
mod realistic;

use std::process::Command;

const NPLC: &str = env!("CARGO_BIN_EXE_nplc");

#[test]
fn builds_are_the_same_on_one_thread_and_on_three() {
    let dir = std::env::temp_dir().join(format!("nplc-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let program = dir.join("program.npl");
    let namespaces = dir.join("namespaces.yaml");
    // 500 zones, 5,000 rules: about 160 KiB, so the parser cuts it.
    let text = realistic::program(500, realistic::Shape::Mixed);
    assert!(text.len() > 128 * 1024, "{} bytes", text.len());
    std::fs::write(&program, text).expect("program");
    std::fs::write(&namespaces, realistic::namespaces_yaml()).expect("namespaces");
    for target in ["cilium", "calico", "kubernetes"] {
        let build = |threads: &str| {
            let mut cmd = Command::new(NPLC);
            cmd.env("RAYON_NUM_THREADS", threads)
                .arg("build")
                .arg(&program)
                .args(["--target", target]);
            if target == "kubernetes" {
                cmd.arg("--namespaces").arg(&namespaces);
            }
            let out = cmd.output().expect("nplc");
            assert!(
                out.status.success(),
                "{target}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        let one = build("1");
        assert!(one.len() > 100_000, "{target}: {} bytes", one.len());
        assert!(
            one == build("3"),
            "{target}: the output depends on the threads"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
