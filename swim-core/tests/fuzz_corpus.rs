//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) and
//! every past finding (`fuzz/regressions/<target>/*`) through its target
//! body in `swim_core::fuzzing`, on stable `cargo test`.
//! Set `SWIM_FUZZ_FILE=path` to run one target over one file (debugging:
//! `SWIM_FUZZ_TARGET=node_ops`).

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

/// The `sim` target's corpus is replayed by swim-sim's own test.
const TARGETS: [(&str, Target); 3] = [
    ("wire_decode", swim_core::fuzzing::wire_decode),
    ("node_ops", swim_core::fuzzing::node_ops),
    ("envelope", swim_core::fuzzing::envelope),
];

fn files(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    ["corpus", "regressions"]
        .iter()
        .filter_map(|d| std::fs::read_dir(fuzz.join(d).join(target)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect()
}

fn replay(target: &str, run: Target) -> usize {
    let mut files = files(target);
    files.sort();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let r = std::panic::catch_unwind(|| run(&data));
        assert!(r.is_ok(), "{target} failed on {}", f.display());
    }
    files.len()
}

#[test]
fn one_file() {
    let (Ok(file), Ok(target)) = (
        std::env::var("SWIM_FUZZ_FILE"),
        std::env::var("SWIM_FUZZ_TARGET"),
    ) else {
        return;
    };
    let run = TARGETS.iter().find(|t| t.0 == target).unwrap().1;
    run(&std::fs::read(file).unwrap());
}

#[test]
fn wire_decode_corpus() {
    let n = replay("wire_decode", TARGETS[0].1);
    eprintln!("wire_decode: {n} files");
}

#[test]
fn node_ops_corpus() {
    let n = replay("node_ops", TARGETS[1].1);
    eprintln!("node_ops: {n} files");
}

#[test]
fn envelope_corpus() {
    let n = replay("envelope", TARGETS[2].1);
    eprintln!("envelope: {n} files");
}
