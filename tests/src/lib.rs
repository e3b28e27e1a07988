//! Cross-crate and interoperability test support.
//!
//! Three kinds of helpers:
//!
//! - [`unique_ipc_endpoint`]: an `ipc://` path under `/tmp` that no other test (or process) uses.
//! - [`libzmq_socket`], [`bind_loopback`] and [`run_blocking`]: a real libzmq socket (through the
//!   `zmq` crate) with receive/send timeouts set, driven on its own thread so that a peer that
//!   hangs fails the test instead of hanging the suite.
//! - [`BytePeer`] and the `wire` builders: a raw TCP peer that scripts an exact byte exchange, to
//!   capture and assert what libzmq puts on the wire.
//!
//! The byte builders in [`wire`] are written by hand from the RFCs on purpose: they are the
//! reference the codec is checked against, so they must not be built with the codec itself.
//!
//! ```
//! use zmq_tests::wire;
//! let ready = wire::ready(b"SUB", &[]);
//! assert_eq!(&ready[..2], &[0x04, 0x19]);
//! ```

use std::fmt::Write as _;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single expected event (bytes, a message, a close) may take before a test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a peer must stay quiet for a test to conclude "libzmq sends nothing now".
///
/// Only used where the assertion *is* the absence of bytes; never to wait for something.
pub const QUIET: Duration = Duration::from_millis(300);

static IPC_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh `ipc://` endpoint under `/tmp`, unique per process (pid) and per call (counter).
///
/// `tag` only makes the path readable in a failure message. The socket file is removed when the
/// returned guard is dropped (libzmq does not always unlink it when a process exits).
pub fn unique_ipc_endpoint(tag: &str) -> IpcEndpoint {
    let n = IPC_COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = PathBuf::from(format!(
        "/tmp/zmq-tests-{}-{n}-{tag}.sock",
        std::process::id()
    ));
    // A stale socket file from a crashed run with the same pid would make bind fail.
    let _ = std::fs::remove_file(&path);
    IpcEndpoint {
        endpoint: format!("ipc://{}", path.display()),
        path,
    }
}

/// An `ipc://` endpoint from [`unique_ipc_endpoint`]; removes its socket file on drop.
#[derive(Debug)]
pub struct IpcEndpoint {
    endpoint: String,
    path: PathBuf,
}

impl IpcEndpoint {
    /// The endpoint, `ipc:///tmp/...`.
    pub fn as_str(&self) -> &str {
        &self.endpoint
    }

    /// The socket file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Display for IpcEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.endpoint)
    }
}

impl Drop for IpcEndpoint {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A libzmq socket with `RCVTIMEO`/`SNDTIMEO` = [`IO_TIMEOUT`] and `LINGER` = 0, so a blocking
/// call on it can never hang a test.
pub fn libzmq_socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let socket = ctx.socket(kind).expect("create libzmq socket");
    let ms = i32::try_from(IO_TIMEOUT.as_millis()).expect("timeout fits in i32");
    socket.set_rcvtimeo(ms).expect("set ZMQ_RCVTIMEO");
    socket.set_sndtimeo(ms).expect("set ZMQ_SNDTIMEO");
    socket.set_linger(0).expect("set ZMQ_LINGER");
    socket
}

/// Binds `socket` to `tcp://127.0.0.1:0` and returns the port libzmq chose (read back from
/// `ZMQ_LAST_ENDPOINT`).
pub fn bind_loopback(socket: &zmq::Socket) -> SocketAddr {
    socket
        .bind("tcp://127.0.0.1:0")
        .expect("bind tcp://127.0.0.1:0");
    let endpoint = socket
        .get_last_endpoint()
        .expect("ZMQ_LAST_ENDPOINT")
        .expect("endpoint is UTF-8");
    let addr = endpoint
        .strip_prefix("tcp://")
        .expect("tcp endpoint")
        .to_socket_addrs()
        .expect("parse last endpoint")
        .next()
        .expect("one address");
    addr
}

/// Runs `f` on a new thread and waits at most `timeout` for its result.
///
/// Panics (failing the test) if `f` panics or does not finish in time; the thread is then left
/// behind, blocked, but the test — and the suite — go on. Use it to drive a blocking libzmq
/// socket from a test that also drives a peer.
pub fn run_blocking<T, F>(timeout: Duration, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    spawn_blocking(f).join_timeout(timeout)
}

/// Starts `f` on a new thread; join it later with [`Blocking::join_timeout`].
pub fn spawn_blocking<T, F>(f: F) -> Blocking<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("libzmq-peer".into())
        .spawn(move || {
            // If the receiver gave up waiting, nobody wants the result.
            let _ = tx.send(f());
        })
        .expect("spawn thread");
    Blocking { rx }
}

/// A closure running on its own thread (see [`spawn_blocking`]).
#[derive(Debug)]
pub struct Blocking<T> {
    rx: mpsc::Receiver<T>,
}

impl<T> Blocking<T> {
    /// Waits at most `timeout` for the result; panics if the closure panicked or is still running.
    pub fn join_timeout(self, timeout: Duration) -> T {
        match self.rx.recv_timeout(timeout) {
            Ok(value) => value,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("blocking libzmq peer did not finish within {timeout:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("blocking libzmq peer panicked"),
        }
    }
}

/// Formats bytes as space-separated lowercase hex, for assertion messages.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// One ZMTP 2.0/3.x frame as read off the wire by [`BytePeer::read_frame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// The flags byte as sent (bit 0 MORE, bit 1 LONG, bit 2 COMMAND).
    pub flags: u8,
    /// The frame body.
    pub body: Vec<u8>,
    /// Every byte of the frame, header included.
    pub raw: Vec<u8>,
}

/// How a read that expected bytes ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadEnd {
    /// The peer closed (EOF) or reset the connection.
    Closed,
    /// Nothing more arrived within the timeout.
    TimedOut,
}

/// A raw TCP peer that scripts an exact byte exchange against libzmq.
///
/// Every read has a deadline; a read that misses it panics with the bytes seen so far.
#[derive(Debug)]
pub struct BytePeer {
    stream: TcpStream,
}

impl BytePeer {
    /// Connects to `addr` (with [`IO_TIMEOUT`]) and disables Nagle, so each `send` is one segment.
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect to libzmq");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .expect("set write timeout");
        Self { stream }
    }

    /// Wraps an accepted stream (for tests where libzmq connects to us).
    pub fn from_stream(stream: TcpStream) -> Self {
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .expect("set write timeout");
        Self { stream }
    }

    /// Writes all of `bytes` in one call.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to libzmq");
    }

    /// Reads exactly `n` bytes within `timeout`; `Err` carries what arrived and how it ended.
    pub fn try_read_exact(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, (Vec<u8>, ReadEnd)> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0; n];
        let mut got = 0;
        while got < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                buf.truncate(got);
                return Err((buf, ReadEnd::TimedOut));
            }
            self.stream
                .set_read_timeout(Some(left))
                .expect("set read timeout");
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => {
                    buf.truncate(got);
                    return Err((buf, ReadEnd::Closed));
                }
                Ok(k) => got += k,
                Err(e) if is_timeout(&e) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_reset(&e) => {
                    buf.truncate(got);
                    return Err((buf, ReadEnd::Closed));
                }
                Err(e) => panic!("read from libzmq: {e}"),
            }
        }
        Ok(buf)
    }

    /// Reads exactly `n` bytes within [`IO_TIMEOUT`], panicking otherwise.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        match self.try_read_exact(n, IO_TIMEOUT) {
            Ok(bytes) => bytes,
            Err((seen, end)) => panic!(
                "expected {n} bytes from libzmq, got {} ({end:?}): {}",
                seen.len(),
                hex(&seen)
            ),
        }
    }

    /// Reads `expected.len()` bytes and asserts they equal `expected`.
    pub fn expect(&mut self, expected: &[u8], what: &str) {
        let got = self.read_exact(expected.len());
        assert_eq!(
            hex(&got),
            hex(expected),
            "{what}: libzmq sent different bytes"
        );
    }

    /// Reads whatever arrives until the peer has been quiet for `quiet` (or closed).
    ///
    /// This is a bounded wait used only to prove what libzmq does *not* send.
    pub fn read_until_quiet(&mut self, quiet: Duration) -> (Vec<u8>, ReadEnd) {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            self.stream
                .set_read_timeout(Some(quiet))
                .expect("set read timeout");
            match self.stream.read(&mut buf) {
                Ok(0) => return (out, ReadEnd::Closed),
                Ok(k) => out.extend_from_slice(&buf[..k]),
                Err(e) if is_timeout(&e) => return (out, ReadEnd::TimedOut),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_reset(&e) => return (out, ReadEnd::Closed),
                Err(e) => panic!("read from libzmq: {e}"),
            }
        }
    }

    /// Asserts libzmq sends nothing (and does not close) for [`QUIET`].
    pub fn expect_silence(&mut self, what: &str) {
        let (bytes, end) = self.read_until_quiet(QUIET);
        assert!(
            bytes.is_empty() && end == ReadEnd::TimedOut,
            "{what}: expected silence, got {} then {end:?}",
            hex(&bytes)
        );
    }

    /// Asserts the connection is closed by libzmq within [`IO_TIMEOUT`] with no further bytes.
    pub fn expect_closed(&mut self, what: &str) {
        match self.try_read_exact(1, IO_TIMEOUT) {
            Err((seen, ReadEnd::Closed)) if seen.is_empty() => {}
            Ok(byte) => panic!("{what}: expected close, libzmq sent {}", hex(&byte)),
            Err((_, ReadEnd::TimedOut)) => panic!("{what}: libzmq did not close the connection"),
            Err((seen, ReadEnd::Closed)) => panic!("{what}: unexpected {}", hex(&seen)),
        }
    }

    /// Reads one ZMTP 2.0/3.x frame (flags, 1- or 8-byte size, body).
    pub fn read_frame(&mut self) -> RawFrame {
        let mut raw = self.read_exact(1);
        let flags = raw[0];
        let size = if flags & 0x02 != 0 {
            let len = self.read_exact(8);
            raw.extend_from_slice(&len);
            u64::from_be_bytes(len.try_into().expect("8 bytes"))
        } else {
            let len = self.read_exact(1);
            raw.extend_from_slice(&len);
            u64::from(len[0])
        };
        let size = usize::try_from(size).expect("frame size fits in usize");
        assert!(size <= 1 << 20, "test frame unexpectedly large: {size}");
        let body = self.read_exact(size);
        raw.extend_from_slice(&body);
        RawFrame { flags, body, raw }
    }

    /// Plays the NULL handshake as a ZMTP 3.`minor` peer of type `socket_type`, one step at a time
    /// as libzmq expects it (signature, version byte, rest of greeting, READY), and returns
    /// libzmq's 64-byte greeting and its READY frame.
    ///
    /// Our READY is sent only after libzmq's has arrived, so a test may send messages at once.
    pub fn null_handshake(&mut self, minor: u8, socket_type: &[u8]) -> (Vec<u8>, RawFrame) {
        self.null_handshake_with(minor, &wire::ready(socket_type, &[]))
    }

    /// Like [`BytePeer::null_handshake`] with an arbitrary READY (or other) command to send.
    pub fn null_handshake_with(&mut self, minor: u8, our_ready: &[u8]) -> (Vec<u8>, RawFrame) {
        let ours = wire::greeting(b"NULL", 3, minor, false);
        let mut theirs = self.read_exact(10);
        self.send(&ours[..10]);
        theirs.extend(self.read_exact(1));
        self.send(&ours[10..11]);
        theirs.extend(self.read_exact(53));
        self.send(&ours[11..]);
        let ready = self.read_frame();
        self.send(our_ready);
        (theirs, ready)
    }

    /// Shuts down both directions of the connection.
    pub fn close(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

/// Hand-built ZMTP byte strings (RFC 23/37), independent of `zmtp-codec`.
pub mod wire {
    /// A 64-byte ZMTP 3.x greeting: signature (padding = 1, as libzmq writes for an empty
    /// routing id), version, mechanism NUL-padded to 20 bytes, as-server, 31 zero bytes.
    pub fn greeting(mechanism: &[u8], major: u8, minor: u8, as_server: bool) -> Vec<u8> {
        assert!(mechanism.len() <= 20, "mechanism name too long");
        let mut g = signature(1);
        g.push(major);
        g.push(minor);
        g.extend_from_slice(mechanism);
        g.resize(32, 0);
        g.push(u8::from(as_server));
        g.resize(64, 0);
        g
    }

    /// The 10-byte signature: `FF`, `padding` as a big-endian u64, `7F`.
    pub fn signature(padding: u64) -> Vec<u8> {
        let mut s = vec![0xff];
        s.extend_from_slice(&padding.to_be_bytes());
        s.push(0x7f);
        s
    }

    /// A frame with the given flags (LONG is added when the body needs it).
    pub fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
        let mut f = Vec::with_capacity(body.len() + 9);
        if body.len() > 255 {
            f.push(flags | 0x02);
            f.extend_from_slice(&(body.len() as u64).to_be_bytes());
        } else {
            f.push(flags);
            f.push(body.len() as u8);
        }
        f.extend_from_slice(body);
        f
    }

    /// A final message frame (flags 0).
    pub fn message(body: &[u8]) -> Vec<u8> {
        frame(0x00, body)
    }

    /// A command frame: name length, name, data.
    pub fn command(name: &[u8], data: &[u8]) -> Vec<u8> {
        frame(0x04, &command_body(name, data))
    }

    /// A command body (without frame header).
    pub fn command_body(name: &[u8], data: &[u8]) -> Vec<u8> {
        let mut body = vec![u8::try_from(name.len()).expect("short command name")];
        body.extend_from_slice(name);
        body.extend_from_slice(data);
        body
    }

    /// Metadata properties: 1-byte name length, name, 4-byte big-endian value length, value.
    pub fn properties(props: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in props {
            out.push(u8::try_from(name.len()).expect("short property name"));
            out.extend_from_slice(name);
            out.extend_from_slice(
                &u32::try_from(value.len())
                    .expect("short property value")
                    .to_be_bytes(),
            );
            out.extend_from_slice(value);
        }
        out
    }

    /// A READY command frame with `Socket-Type` first, then `extra` properties in order.
    pub fn ready(socket_type: &[u8], extra: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut props: Vec<(&[u8], &[u8])> = vec![(b"Socket-Type", socket_type)];
        props.extend_from_slice(extra);
        command(b"READY", &properties(&props))
    }

    /// A PING command: TTL in deciseconds, then context.
    pub fn ping(ttl_deciseconds: u16, context: &[u8]) -> Vec<u8> {
        let mut data = ttl_deciseconds.to_be_bytes().to_vec();
        data.extend_from_slice(context);
        command(b"PING", &data)
    }
}

/// A ZAP handler in libzmq's context: a REP bound at `inproc://zeromq.zap.01` answering
/// with `verdict`, and reporting every request's frames. Stops when dropped.
pub struct LibzmqZap {
    requests: mpsc::Receiver<Vec<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl LibzmqZap {
    /// Binds the handler in `ctx` and starts its thread.
    pub fn start(
        ctx: &zmq::Context,
        verdict: impl Fn(&[Vec<u8>]) -> (&'static str, &'static str) + Send + 'static,
    ) -> Self {
        let rep = ctx.socket(zmq::REP).expect("create the ZAP REP");
        rep.set_linger(0).expect("set ZMQ_LINGER");
        rep.set_rcvtimeo(50).expect("set ZMQ_RCVTIMEO");
        rep.bind("inproc://zeromq.zap.01")
            .expect("bind inproc://zeromq.zap.01");
        let (tx, requests) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                let Ok(request) = rep.recv_multipart(0) else {
                    continue;
                };
                let (code, text) = verdict(&request);
                let user: &[u8] = if code == "200" { b"user" } else { b"" };
                let reply: Vec<&[u8]> = vec![
                    b"1.0",
                    &request[1],
                    code.as_bytes(),
                    text.as_bytes(),
                    user,
                    b"",
                ];
                rep.send_multipart(reply, 0).expect("send the ZAP reply");
                let _ = tx.send(request);
            }
        });
        LibzmqZap {
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The next request the handler answered (blocking, with a hang guard).
    pub fn next(&self) -> Vec<Vec<u8>> {
        self.requests
            .recv_timeout(Duration::from_secs(10))
            .expect("a ZAP request")
    }
}

impl Drop for LibzmqZap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
