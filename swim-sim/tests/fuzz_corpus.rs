//! Replays every committed corpus file of the `sim` fuzz target
//! (`fuzz/corpus/sim/*`) and every past finding (`fuzz/regressions/sim/*`)
//! through `swim_sim::fuzzing::sim`, on stable `cargo test`.

use std::path::Path;

#[test]
fn sim_corpus() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files: Vec<_> = ["corpus", "regressions"]
        .iter()
        .filter_map(|d| std::fs::read_dir(fuzz.join(d).join("sim")).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let (_, plan) = swim_sim::fuzzing::schedule(&data);
        let r = std::panic::catch_unwind(|| swim_sim::fuzzing::sim(&data));
        assert!(r.is_ok(), "sim failed on {}: {plan}", f.display());
    }
    eprintln!("sim: {} files", files.len());
}
