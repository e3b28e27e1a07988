//! Shared test helpers.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use zmq_async::{Message, SocketOptions};

/// A fresh inproc endpoint (tests run in parallel in one process).
pub fn ep(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("inproc://{tag}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// One endpoint of each transport: inproc, tcp on a port the OS picks, a fresh ipc path.
pub fn endpoints(tag: &str) -> [String; 3] {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    [
        ep(tag),
        "tcp://127.0.0.1:0".to_owned(),
        format!("ipc:///tmp/zmq-async-{tag}-{}-{n}.sock", std::process::id()),
    ]
}

/// Guards against hangs; never used to synchronise.
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test timed out")
}

/// A message from string frames.
pub fn msg(frames: &[&str]) -> Message {
    frames.iter().map(|f| f.as_bytes().to_vec()).collect()
}

/// The frames of a message as strings.
pub fn strs(m: &Message) -> Vec<String> {
    m.iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// Options of a PLAIN server.
pub fn plain_server() -> SocketOptions {
    let mut o = SocketOptions::default();
    o.plain_server = true;
    o
}

/// Options of a PLAIN client with these credentials.
pub fn plain_client(user: &'static str, password: &'static str) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.plain_username = Some(Bytes::from_static(user.as_bytes()));
    o.plain_password = Some(Bytes::from_static(password.as_bytes()));
    o
}

/// A raw ZMTP peer: our codec's `conn` over a bare tcp stream to `addr`, its handshake done.
pub async fn raw_peer(
    addr: &str,
    mut conn: zmtp_codec::Connection,
) -> (zmtp_codec::Connection, tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = vec![0u8; 4096];
    loop {
        while let Some(out) = conn.poll_transmit() {
            stream.write_all(&out).await.unwrap();
        }
        while let Some(event) = conn.poll_event().unwrap() {
            if matches!(event, zmtp_codec::Event::HandshakeSucceeded(_)) {
                return (conn, stream);
            }
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed during the handshake");
        conn.handle_input(std::time::Instant::now(), &buf[..n])
            .unwrap();
    }
}
