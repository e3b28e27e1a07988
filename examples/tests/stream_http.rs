//! `stream_http` (an HTTP server on a STREAM socket) against real HTTP clients: `curl`,
//! and a std `TcpStream` for what curl does not do on request (pipelining, a request
//! split across writes). The server binds port 0 and says where.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::bin;

/// Hang guard for every read.
const GUARD: Duration = Duration::from_secs(20);

/// A running `stream_http`, killed when dropped.
struct Server {
    child: Child,
    /// `127.0.0.1:port`.
    addr: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(bin("stream_http"))
            .arg("tcp://127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start stream_http");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the endpoint line");
        let addr = line
            .trim()
            .strip_prefix("listening on tcp://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server { child, addr }
    }

    fn connect(&self) -> BufReader<TcpStream> {
        let stream = TcpStream::connect(&self.addr).expect("connect");
        stream.set_read_timeout(Some(GUARD)).expect("timeout");
        BufReader::new(stream)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One response: its status line, its headers (lower-cased names) and its body.
struct Response {
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response (sized by its `Content-Length`); `None` at the end of the stream.
fn read_response(conn: &mut BufReader<TcpStream>, head_only: bool) -> Option<Response> {
    let mut status = String::new();
    if conn.read_line(&mut status).expect("read status") == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).expect("read header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header line");
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().expect("content-length"))
        .expect("a content-length");
    let mut body = vec![0; if head_only { 0 } else { length }];
    conn.read_exact(&mut body).expect("read body");
    Some(Response {
        status: status.trim_end().to_owned(),
        headers,
        body,
    })
}

fn assert_hello(r: &Response, connection: &str) {
    assert_eq!(r.status, "HTTP/1.1 200 OK");
    assert_eq!(r.body, b"Hello, World!");
    assert_eq!(r.header("connection"), Some(connection));
}

/// The server closed the connection (after everything it sent was read).
fn assert_closed(conn: &mut BufReader<TcpStream>) {
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).expect("read to the end");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

/// Runs curl with `args`; its stdout.
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(args)
        .output()
        .expect("run curl (scripts/install-deps.sh installs it)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Per transfer: the body, then the status and how many new connections it took.
const WRITE_OUT: &str = "\n%{http_code} %{num_connects}\n";

#[test]
fn curl_keeps_one_connection_for_several_requests() {
    let server = Server::start();
    let out = curl(&[
        "--http1.1",
        "--write-out",
        WRITE_OUT,
        &server.url("/"),
        &server.url("/again"),
        &server.url("/and/again"),
    ]);
    // The second and third requests reused the first one's connection.
    assert_eq!(
        out,
        "Hello, World!\n200 1\nHello, World!\n200 0\nHello, World!\n200 0\n"
    );
}

#[test]
fn curl_gets_the_connection_closed_when_it_asks() {
    let server = Server::start();
    for extra in [
        &["--http1.1", "--header", "Connection: close"][..],
        &["--http1.0"],
    ] {
        let mut args = extra.to_vec();
        args.extend(["--write-out", WRITE_OUT]);
        let (a, b) = (server.url("/"), server.url("/b"));
        args.extend([a.as_str(), b.as_str()]);
        // Each request needed a connection of its own.
        assert_eq!(
            curl(&args),
            "Hello, World!\n200 1\nHello, World!\n200 1\n",
            "{extra:?}"
        );
    }
}

#[test]
fn keep_alive_serves_requests_one_after_another_on_one_connection() {
    let server = Server::start();
    let mut conn = server.connect();
    for i in 0..3 {
        write!(conn.get_mut(), "GET /{i} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        assert_hello(&read_response(&mut conn, false).unwrap(), "keep-alive");
    }
    // HEAD: the same head, no body; a POST with a body: 405, and the body is skipped.
    conn.get_mut()
        .write_all(b"HEAD / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let head = read_response(&mut conn, true).unwrap();
    assert_eq!(head.status, "HTTP/1.1 200 OK");
    assert_eq!(head.header("content-length"), Some("13"));
    let post = read_response(&mut conn, false).unwrap();
    assert_eq!(post.status, "HTTP/1.1 405 Method Not Allowed");
    // HTTP/1.0 keep-alive stays open too; `Connection: close` ends it after the reply.
    conn.get_mut()
        .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    assert_hello(&read_response(&mut conn, false).unwrap(), "keep-alive");
    conn.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_hello(&read_response(&mut conn, false).unwrap(), "close");
    assert_closed(&mut conn);
}

#[test]
fn pipelined_and_split_requests_are_answered_in_order() {
    let server = Server::start();
    let mut conn = server.connect();
    // Two whole requests and the start of a third in one write.
    conn.get_mut()
        .write_all(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HT")
        .unwrap();
    assert_hello(&read_response(&mut conn, false).unwrap(), "keep-alive");
    assert_hello(&read_response(&mut conn, false).unwrap(), "keep-alive");
    // The third's start came with the first two, which are answered: its rest comes in
    // later reads, and the request is answered once whole.
    conn.get_mut().write_all(b"TP/1.1\r\nHost: x\r").unwrap();
    conn.get_mut().write_all(b"\n\r\n").unwrap();
    assert_hello(&read_response(&mut conn, false).unwrap(), "keep-alive");
    // HTTP/1.0 without keep-alive: one answer, then the server closes.
    conn.get_mut().write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_hello(&read_response(&mut conn, false).unwrap(), "close");
    assert_closed(&mut conn);
}

#[test]
fn a_malformed_request_gets_400_and_a_close() {
    let server = Server::start();
    let mut conn = server.connect();
    conn.get_mut().write_all(b"NONSENSE\r\n\r\n").unwrap();
    let r = read_response(&mut conn, false).unwrap();
    assert_eq!(r.status, "HTTP/1.1 400 Bad Request");
    assert_closed(&mut conn);
    // The server goes on serving others.
    let mut conn = server.connect();
    conn.get_mut().write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_hello(&read_response(&mut conn, false).unwrap(), "keep-alive");
}
