//! Runs every seed through its target, and keeps `seeds/` in step with the generator.
//!
//! `PGM_FUZZ_WRITE_SEEDS=1 cargo test --test seeds` rewrites the seed files.

use std::path::Path;

use zmq_transports_fuzz::{pgm_packet, pgm_receiver, seeds};

fn run(target: &str, data: &[u8]) {
    match target {
        "pgm_packet" => pgm_packet::run(data),
        "pgm_receiver" => pgm_receiver::run(data),
        _ => panic!("unknown target {target}"),
    }
}

#[test]
fn seeds_run_and_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let write = std::env::var_os("PGM_FUZZ_WRITE_SEEDS").is_some();
    for (target, name, data) in seeds::all() {
        run(target, &data);
        let path = dir.join(target).join(name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &data).unwrap();
        } else {
            let on_disk = std::fs::read(&path).unwrap_or_default();
            assert_eq!(
                on_disk,
                data,
                "{} is stale; see tests/seeds.rs",
                path.display()
            );
        }
    }
}

/// Every file under seeds/ and regressions/ (crash reproducers, once fixed) must pass.
#[test]
fn committed_inputs() {
    for sub in ["seeds", "regressions"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(sub);
        let Ok(targets) = std::fs::read_dir(&dir) else {
            continue;
        };
        for target in targets {
            let target = target.unwrap().path();
            let name = target.file_name().unwrap().to_string_lossy().into_owned();
            for case in std::fs::read_dir(&target).unwrap() {
                run(&name, &std::fs::read(case.unwrap().path()).unwrap());
            }
        }
    }
}
