//! Checks of the support library itself, against libzmq.

use zmq::SocketType;
use zmq_tests::{libzmq_socket, run_blocking, spawn_blocking, unique_ipc_endpoint, IO_TIMEOUT};

#[test]
fn ipc_endpoints_are_unique() {
    let a = unique_ipc_endpoint("x");
    let b = unique_ipc_endpoint("x");
    assert_ne!(a.as_str(), b.as_str());
    assert!(a
        .as_str()
        .starts_with(&format!("ipc:///tmp/zmq-tests-{}-", std::process::id())));
}

/// A libzmq PUSH/PULL pair over a unique ipc path, each side on its own bounded thread.
#[test]
fn libzmq_peers_over_unique_ipc() {
    let ctx = zmq::Context::new();
    let endpoint = unique_ipc_endpoint("pushpull");
    let pull = libzmq_socket(&ctx, SocketType::PULL);
    pull.bind(endpoint.as_str()).expect("bind ipc");
    let push = libzmq_socket(&ctx, SocketType::PUSH);
    push.connect(endpoint.as_str()).expect("connect ipc");
    let receiver = spawn_blocking(move || pull.recv_bytes(0).expect("recv"));
    // Keep the PUSH socket alive: with LINGER 0, closing it would discard the message.
    let _push = run_blocking(IO_TIMEOUT, move || {
        push.send("over ipc", 0).expect("send");
        push
    });
    assert_eq!(receiver.join_timeout(2 * IO_TIMEOUT), b"over ipc");
    let path = endpoint.path().to_owned();
    assert!(path.exists(), "libzmq created the socket file");
    drop(endpoint);
    assert!(!path.exists(), "the guard removed the socket file");
}

/// A libzmq call on a socket with the default timeouts gives up instead of hanging.
#[test]
fn libzmq_recv_times_out() {
    let ctx = zmq::Context::new();
    let pull = libzmq_socket(&ctx, SocketType::PULL);
    pull.set_rcvtimeo(50).expect("short timeout");
    let err = run_blocking(IO_TIMEOUT, move || pull.recv_bytes(0).expect_err("no peer"));
    assert_eq!(err, zmq::Error::EAGAIN);
}
