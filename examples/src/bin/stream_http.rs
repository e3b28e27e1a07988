//! An HTTP/1.1 server on one STREAM socket: `stream_http [<endpoint>]` (default
//! `tcp://127.0.0.1:8080`) answers every `GET` (and `HEAD`) with `200 OK` and the body
//! `Hello, World!`, and prints the endpoint it bound (`tcp://…:0` picks a port).
//!
//! The STREAM socket hands over each connection's bytes as `[routing id, bytes]`, in
//! whatever pieces TCP delivered them, with `[routing id, empty]` when a client connects
//! and when it leaves. So the server keeps a buffer per routing id, answers each complete
//! request in it (a request split across reads waits for its end; pipelined requests are
//! answered in order), and closes a connection by sending `[routing id, empty]` when the
//! request asks for that: `Connection: close`, or HTTP/1.0 without `Connection:
//! keep-alive`. Other methods get `405`; malformed requests `400`, and heads over 64 KiB
//! or bodies over 1 MiB `431` and `413`, each with a close.
//!
//! ```text
//! $ cargo run -p zmq-examples --bin stream_http &
//! $ curl http://127.0.0.1:8080/
//! Hello, World!
//! ```

use std::collections::HashMap;

use zmq_async::{Frame, Message, Result, StreamSocket};

/// The body of every `200`.
const BODY: &str = "Hello, World!";
/// A request head larger than this is refused (`431`) and its connection closed.
const MAX_HEAD: usize = 64 * 1024;
/// A request body larger than this is refused (`413`) and its connection closed.
const MAX_BODY: usize = 1024 * 1024;

#[tokio::main]
async fn main() -> Result<()> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:8080".to_owned());
    let mut socket = StreamSocket::new();
    let bound = socket.bind(&endpoint).await?;
    println!("listening on {bound}");

    // What each connection sent that is not a whole request yet.
    let mut pending: HashMap<Frame, Vec<u8>> = HashMap::new();
    loop {
        let msg = socket.recv().await?;
        let (Some(id), Some(data)) = (msg.get(0), msg.get(1)) else {
            continue;
        };
        if data.is_empty() {
            // A notification: a new connection, or one that went away.
            if pending.remove(id).is_none() {
                pending.insert(id.clone(), Vec::new());
            }
            continue;
        }
        let buffer = pending.entry(id.clone()).or_default();
        buffer.extend_from_slice(data);
        let (replies, close) = answer(buffer);
        for reply in replies {
            socket
                .send(Message::from(vec![id.clone(), Frame::from(reply)]))
                .await?;
        }
        if close {
            pending.remove(id);
            socket
                .send(Message::from(vec![id.clone(), Frame::new()]))
                .await?;
        }
    }
}

/// Answers every complete request at the front of `buffer` (removing them); returns the
/// responses and whether to close the connection after them.
fn answer(buffer: &mut Vec<u8>) -> (Vec<Vec<u8>>, bool) {
    let mut replies = Vec::new();
    loop {
        let Some(end) = find(buffer, b"\r\n\r\n") else {
            if buffer.len() > MAX_HEAD {
                replies.push(response(431, "Request Header Fields Too Large", "", true));
                return (replies, true);
            }
            return (replies, false);
        };
        let request = match Request::parse(&buffer[..end]) {
            Ok(r) => r,
            Err(()) => {
                replies.push(response(400, "Bad Request", "", true));
                return (replies, true);
            }
        };
        if request.content_length > MAX_BODY {
            replies.push(response(413, "Content Too Large", "", true));
            return (replies, true);
        }
        let whole = end + 4 + request.content_length;
        if buffer.len() < whole {
            return (replies, false); // the body is still coming
        }
        buffer.drain(..whole);
        let close = !request.keep_alive;
        replies.push(match request.method.as_str() {
            "GET" => response(200, "OK", BODY, close),
            "HEAD" => {
                let mut head = response(200, "OK", BODY, close);
                head.truncate(head.len() - BODY.len());
                head
            }
            _ => response(405, "Method Not Allowed", "", close),
        });
        if close {
            return (replies, true);
        }
    }
}

/// One response with `body`, saying whether the connection stays open.
fn response(status: u16, reason: &str, body: &str, close: bool) -> Vec<u8> {
    let connection = if close { "close" } else { "keep-alive" };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: {connection}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What the server needs of a request head.
struct Request {
    method: String,
    keep_alive: bool,
    content_length: usize,
}

impl Request {
    /// Parses a request head (without its final empty line).
    fn parse(head: &[u8]) -> std::result::Result<Request, ()> {
        let head = std::str::from_utf8(head).map_err(|_| ())?;
        let mut lines = head.split("\r\n");
        let mut start = lines.next().ok_or(())?.split(' ');
        let (Some(method), Some(_target), Some(version), None) =
            (start.next(), start.next(), start.next(), start.next())
        else {
            return Err(());
        };
        let mut keep_alive = match version {
            "HTTP/1.1" => true,
            "HTTP/1.0" => false,
            _ => return Err(()),
        };
        let mut content_length = 0;
        for line in lines {
            let (name, value) = line.split_once(':').ok_or(())?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse().map_err(|_| ())?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                // Chunked request bodies are not read here: refuse rather than misparse.
                return Err(());
            }
        }
        Ok(Request {
            method: method.to_owned(),
            keep_alive,
            content_length,
        })
    }
}

/// The position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
