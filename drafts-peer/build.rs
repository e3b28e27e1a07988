//! Builds libzmq 4.3.5 from the `zeromq-src` crate with the DRAFT API (Debian's libzmq has
//! none: no CLIENT/SERVER, RADIO/DISH, SCATTER/GATHER, PEER/CHANNEL, udp:// or ws://), then
//! links `c/drafts_peer.c` against it into an executable whose path the crate gets as
//! `DRAFTS_PEER`. Nothing of libzmq is linked into Rust code.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=c/drafts_peer.c");
    println!("cargo:rerun-if-changed=build.rs");
    // libzmq's own warnings are not ours to fix; `cc` would print each as a cargo warning.
    std::env::set_var("CXXFLAGS", "-w");
    zeromq_src::Build::new().enable_draft(true).build();

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
