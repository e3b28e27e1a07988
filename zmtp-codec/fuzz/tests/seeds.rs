//! Runs every seed through its target (a regression test for the targets and the codec),
//! and keeps `seeds/` in step with the generator.
//!
//! `ZMTP_FUZZ_WRITE_SEEDS=1 cargo test --test seeds` rewrites the seed files.

use std::path::Path;

use zmtp_codec_fuzz::{
    connection_null, frame_decoder, handshake_plain_client, handshake_plain_server, seeds,
    two_peers,
};

fn run(target: &str, data: &[u8]) {
    match target {
        "frame_decoder" => frame_decoder::run(data),
        "connection_null" => connection_null::run(data),
        "handshake_plain_server" => handshake_plain_server::run(data),
        "handshake_plain_client" => handshake_plain_client::run(data),
        "two_peers" => two_peers::run(data),
        _ => panic!("unknown target {target}"),
    }
}

#[test]
fn seeds_run_and_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let write = std::env::var_os("ZMTP_FUZZ_WRITE_SEEDS").is_some();
    for (target, name, data) in seeds::all() {
        run(target, &data);
        let path = dir.join(target).join(&name);
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
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        for case in std::fs::read_dir(&target).unwrap() {
            run(&name, &std::fs::read(case.unwrap().path()).unwrap());
        }
    }
}
