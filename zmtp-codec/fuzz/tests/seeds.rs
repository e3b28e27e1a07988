//! Runs every seed through its target (a regression test for the targets and the codec),
//! and keeps `seeds/` in step with the generator.
//!
//! `ZMTP_FUZZ_WRITE_SEEDS=1 cargo test --test seeds` rewrites the seed files.

use std::path::Path;

use zmtp_codec_fuzz::{
    connection_null, curve_session, frame_decoder, handshake_curve_client, handshake_curve_server,
    handshake_plain_client, handshake_plain_server, seeds, two_peers,
};

fn run(target: &str, data: &[u8]) {
    match target {
        "frame_decoder" => frame_decoder::run(data),
        "connection_null" => connection_null::run(data),
        "handshake_plain_server" => handshake_plain_server::run(data),
        "handshake_plain_client" => handshake_plain_client::run(data),
        "two_peers" => two_peers::run(data),
        "handshake_curve_server" => handshake_curve_server::run(data),
        "handshake_curve_client" => handshake_curve_client::run(data),
        "curve_session" => curve_session::run(data),
        _ => panic!("unknown target {target}"),
    }
}

#[test]
fn seeds_run_and_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let write = std::env::var_os("ZMTP_FUZZ_WRITE_SEEDS").is_some();
    // CURVE seeds hold random bytes (keys, nonces): only bytes that several generations
    // agree on are compared (a random byte agrees across six by chance with p = 2^-40).
    let others: Vec<_> = (0..5).map(|_| seeds::all()).collect();
    for (i, (target, name, data)) in seeds::all().into_iter().enumerate() {
        for other in &others {
            let (t2, n2, d2) = &other[i];
            assert!(
                (t2, n2) == (&target, &name) && d2.len() == data.len(),
                "{target}/{name}: seed lengths differ between runs"
            );
        }
        let fixed = |k: usize| others.iter().all(|o| o[i].2[k] == data[k]);
        run(target, &data);
        let path = dir.join(target).join(&name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &data).unwrap();
        } else {
            let on_disk = std::fs::read(&path).unwrap_or_default();
            let current = on_disk.len() == data.len()
                && (0..data.len()).all(|k| !fixed(k) || on_disk[k] == data[k]);
            assert!(current, "{} is stale; see tests/seeds.rs", path.display());
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
