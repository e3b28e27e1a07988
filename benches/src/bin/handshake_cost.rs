//! `handshake_cost <ours|libzmq> <connections> <silent|partial|greeting>`: what a connection stalled
//! in its handshake costs a ROUTER, in resident memory.
//!
//! A ROUTER binds on 127.0.0.1; raw TCP clients in this process connect and stall, either
//! sending nothing (`silent`: each waits for the server's 10-byte signature, which proves
//! the server runs the connection) or a partial greeting (`partial`: signature
//! and major version, then each waits for the rest of the server's greeting) or a whole
//! greeting and no READY (`greeting`: each waits for the server's READY). The resident
//! set size (`VmRSS`) is read before and after; the difference over the number of
//! connections is the cost of one (the clients' own sockets are counted too, equally for
//! both implementations). `ours` is zmq-async on a one-worker Tokio runtime; `libzmq` is
//! libzmq through the `zmq` crate (one I/O thread).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use zmq_benches::{fail, status_kib, Args};

/// How far a client goes before it stalls.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stall {
    /// Sends nothing.
    Silent,
    /// Sends its signature and major version.
    Partial,
    /// Sends its whole NULL greeting, and never its READY.
    Greeting,
}

/// Opens one stalled client: returns once the server has shown it handles the connection.
fn stall(addr: &str, how: Stall) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| fail(format_args!("connect: {e}")));
    if let Err(e) = s.set_read_timeout(Some(Duration::from_secs(30))) {
        fail(format_args!("timeout: {e}"));
    }
    let mut signature = [0u8; 10];
    if let Err(e) = s.read_exact(&mut signature) {
        fail(format_args!("server signature: {e}"));
    }
    if how == Stall::Silent {
        return s;
    }
    // Signature and major version 3: the server answers with the rest of its greeting.
    let mut ours = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3];
    if how == Stall::Greeting {
        ours.push(1);
        ours.extend_from_slice(b"NULL");
        ours.resize(64, 0);
    }
    if let Err(e) = s.write_all(&ours) {
        fail(format_args!("greeting: {e}"));
    }
    let mut rest = [0u8; 54];
    if let Err(e) = s.read_exact(&mut rest) {
        fail(format_args!("server greeting: {e}"));
    }
    if how == Stall::Greeting {
        // The server's READY (a short command frame): it has processed our greeting.
        let mut header = [0u8; 2];
        let mut body = vec![0u8; 255];
        if let Err(e) = s
            .read_exact(&mut header)
            .and_then(|()| s.read_exact(&mut body[..usize::from(header[1])]))
        {
            fail(format_args!("server READY: {e}"));
        }
    }
    s
}

/// Opens `n` stalled clients and reports the cost of one.
fn measure(addr: &str, n: usize, how: Stall) {
    // Warm-up: the allocator's arenas and the runtime's first connections.
    let warm: Vec<TcpStream> = (0..20).map(|_| stall(addr, how)).collect();
    drop(warm);
    std::thread::sleep(Duration::from_millis(300));
    let (before, data_before) = (status_kib("VmRSS"), status_kib("VmData"));
    let clients: Vec<TcpStream> = (0..n).map(|_| stall(addr, how)).collect();
    // Let the server settle what it does after its last write.
    std::thread::sleep(Duration::from_millis(300));
    let (after, data_after) = (status_kib("VmRSS"), status_kib("VmData"));
    let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / n as f64;
    println!(
        "{n} stalled handshakes ({}): VmRSS {before} -> {after} KiB, {:.2} KiB per connection; \
         VmData {:.2} KiB per connection",
        match how {
            Stall::Silent => "silent",
            Stall::Partial => "partial greeting",
            Stall::Greeting => "greeting, no READY",
        },
        per(after, before),
        per(data_after, data_before),
    );
    drop(clients);
}

fn main() {
    let args = Args::parse(
        "handshake_cost <ours|libzmq> <connections> <silent|partial|greeting>",
        3,
    );
    let n = args.number(1);
    let how = match args.str(2) {
        "silent" => Stall::Silent,
        "partial" => Stall::Partial,
        "greeting" => Stall::Greeting,
        other => fail(format_args!("not silent, partial or greeting: {other}")),
    };
    match args.str(0) {
        "ours" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap_or_else(|e| fail(format_args!("runtime: {e}")));
            let (socket, endpoint) = rt.block_on(async {
                let mut router = zmq_async::RouterSocket::new();
                match router.bind("tcp://127.0.0.1:0").await {
                    Ok(ep) => (router, ep),
                    Err(e) => fail(format_args!("bind: {e}")),
                }
            });
            measure(endpoint.trim_start_matches("tcp://"), n, how);
            drop(socket);
        }
        "libzmq" => {
            let ctx = zmq::Context::new();
            let router = ctx
                .socket(zmq::ROUTER)
                .unwrap_or_else(|e| fail(format_args!("socket: {e}")));
            if let Err(e) = router.bind("tcp://127.0.0.1:*") {
                fail(format_args!("bind: {e}"));
            }
            let endpoint = match router.get_last_endpoint() {
                Ok(Ok(ep)) => ep,
                _ => fail("last endpoint"),
            };
            measure(endpoint.trim_start_matches("tcp://"), n, how);
        }
        other => fail(format_args!("unknown implementation {other}")),
    }
}
