//! Runs every seed through its target (a regression test for the targets and the socket
//! layer), and keeps `seeds/` in step with the generator.
//!
//! `ZMQ_FUZZ_WRITE_SEEDS=1 cargo test --test seeds` rewrites the seed files.

use std::path::Path;

use zmq_async_fuzz::{dealer, pubsub, router, seeds, sub, trie};

fn run(target: &str, data: &[u8]) {
    match target {
        "trie" => trie::run(data),
        "pubsub" => pubsub::run(data),
        "router" => router::run(data),
        "dealer" => dealer::run(data),
        "sub" => sub::run(data),
        _ => panic!("unknown target {target}"),
    }
}

#[test]
fn seeds_run_and_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let write = std::env::var_os("ZMQ_FUZZ_WRITE_SEEDS").is_some();
    for (target, name, data) in seeds::all() {
        run(target, &data);
        let path = dir.join(target).join(name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &data).unwrap();
        } else {
            let on_disk = std::fs::read(&path).unwrap_or_default();
            assert!(
                on_disk == data,
                "{} is stale; see tests/seeds.rs",
                path.display()
            );
        }
    }
}

/// Inputs that once failed (crash reproducers) and now must pass.
#[test]
fn regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let Ok(targets) = std::fs::read_dir(&dir) else {
        return;
    };
    for target in targets {
        let target = target.unwrap().path();
        if !target.is_dir() {
            continue;
        }
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        for case in std::fs::read_dir(&target).unwrap() {
            run(&name, &std::fs::read(case.unwrap().path()).unwrap());
        }
    }
}

/// Random scripts: a quick check of the targets' models without libFuzzer
/// (`ZMQ_FUZZ_RANDOM=<n>` scripts per target, 300 by default; `ZMQ_FUZZ_TARGETS=a,b` runs
/// only those targets).
#[test]
fn random_scripts() {
    let n: usize = std::env::var("ZMQ_FUZZ_RANDOM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let only = std::env::var("ZMQ_FUZZ_TARGETS").ok();
    let chosen = |t: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == t));
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for target in ["pubsub", "router", "dealer", "sub", "trie"] {
        for _ in 0..n {
            // Every target draws its scripts, so a target's scripts do not depend on the
            // others chosen.
            let len = (next() % 200) as usize;
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Keep topics short (no kind a0..ff): long ones are the fuzzer's business.
            let data: Vec<u8> = data.iter().map(|b| b & 0x9f).collect();
            if !chosen(target) {
                continue;
            }
            let result = std::panic::catch_unwind(|| run(target, &data));
            assert!(result.is_ok(), "{target} failed on {data:02x?}");
        }
    }
}

/// The long-topic files in `regressions/` are what `seeds::long_topic_regressions` builds
/// (`ZMQ_FUZZ_WRITE_SEEDS=1` rewrites them); the `regressions` test runs them.
#[test]
fn long_topic_regressions_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let write = std::env::var_os("ZMQ_FUZZ_WRITE_SEEDS").is_some();
    for (target, name, data) in seeds::long_topic_regressions() {
        let file = root.join(target).join(name);
        if write {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &data).unwrap();
        }
        let on_disk = std::fs::read(&file);
        assert!(
            on_disk.ok().as_ref() == Some(&data),
            "{} is stale",
            file.display()
        );
    }
}
