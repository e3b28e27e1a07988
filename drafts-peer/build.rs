//! Builds libzmq 4.3.5 from the `zeromq-src` crate with the DRAFT API (Debian's libzmq has
//! none: no CLIENT/SERVER, RADIO/DISH, SCATTER/GATHER, PEER/CHANNEL, udp:// or ws://), then
//! links `c/drafts_peer.c` against it into an executable whose path the crate gets as
//! `DRAFTS_PEER`. Nothing of libzmq is linked into Rust code.
//!
//! `zeromq_src` prints its own link directives (a search path holding its `libzmq.a`, and
//! `static=zmq`). Cargo would hand that search path to every doc test of the workspace
//! build, where `-lzmq` (the system libzmq the `zmq` crate links) then found this static
//! libzmq first and failed to link (no libstdc++). So the libzmq build runs in a child
//! process, this same build script again, whose output cargo never reads.

use std::path::PathBuf;
use std::process::Command;

/// Set in the child that builds libzmq.
const CHILD: &str = "ZMQ_DRAFTS_PEER_BUILD_LIBZMQ";

fn main() {
    if std::env::var_os(CHILD).is_some() {
        // libzmq's own warnings are not ours to fix; `cc` would print each as a warning.
        std::env::set_var("CXXFLAGS", "-w");
        zeromq_src::Build::new().enable_draft(true).build();
        return;
    }
    println!("cargo:rerun-if-changed=c/drafts_peer.c");
    println!("cargo:rerun-if-changed=build.rs");
    let me = std::env::current_exe().expect("the build script's path");
    let built = Command::new(me)
        .env(CHILD, "1")
        .output()
        .expect("run the libzmq build");
    assert!(
        built.status.success(),
        "building libzmq failed:\n{}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let exe = out.join("drafts_peer");
    let compiler = cc::Build::new().cpp(true).get_compiler();
    let status = Command::new(compiler.path())
        .arg("-O1")
        .arg("-I")
        .arg(out.join("source/include"))
        .arg("-x")
        .arg("c")
        .arg("c/drafts_peer.c")
        .arg("-x")
        .arg("none")
        .arg(out.join("lib/libzmq.a"))
        .args(["-lpthread", "-o"])
        .arg(&exe)
        .status()
        .expect("run the C++ compiler");
    assert!(status.success(), "compiling c/drafts_peer.c failed");
    println!("cargo:rustc-env=DRAFTS_PEER={}", exe.display());
}
