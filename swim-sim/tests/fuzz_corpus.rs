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

/// Found by the `sim` target (fuzz/regressions/sim/one-way-partition-no-
/// reconvergence): a partition that outlives `retention` left two clusters
/// for good, each having reaped the other.
#[test]
fn a_partition_longer_than_retention_heals() {
    let s = std::time::Duration::from_secs;
    let config = swim_core::Config::local();
    assert!(config.retention < s(80));
    let (a, b) = ([0, 1, 2], [3, 4, 5]);
    let report = swim_sim::Builder::new()
        .seed(3)
        .nodes(6)
        .config(config)
        .partition(s(10), a, b)
        .repair(s(90), a, b)
        .duration(s(150))
        .converge_within(s(40))
        .build()
        .run();
    report.check().unwrap();
}
