//! libzmq 4.3.5 with the DRAFT API, as a peer process for interop tests.
//!
//! Debian's libzmq (what the `zmq` crate links in `tests/`) is built without drafts, so it
//! has no CLIENT/SERVER, RADIO/DISH, SCATTER/GATHER, PEER/CHANNEL, `udp://` or `ws://`. This
//! crate's build script compiles libzmq from the `zeromq-src` crate with drafts on and links
//! a small C program against it (`c/drafts_peer.c`: one socket, driven a line at a time);
//! [`DraftsPeer`] runs that program and speaks its line protocol, so a test drives a libzmq
//! socket of any type from Rust without linking libzmq into the test or writing `unsafe`.
//!
//! ```no_run
//! use zmq_drafts_peer::{DraftsPeer, Send};
//! let mut server = DraftsPeer::spawn("SERVER");
//! let endpoint = server.bind("tcp://127.0.0.1:*").unwrap();
//! let mut client = DraftsPeer::spawn("CLIENT");
//! client.connect(&endpoint).unwrap();
//! client.send(b"hello", Send::default()).unwrap();
//! let request = server.recv().unwrap();
//! server.send(b"world", Send::to(request.routing_id)).unwrap();
//! assert_eq!(client.recv().unwrap().data, b"world");
//! ```

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The drafts_peer executable built by this crate's build script.
pub const EXECUTABLE: &str = env!("DRAFTS_PEER");

/// How long an answer may take: longer than the peer's own receive timeout (5 s).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// What went wrong with a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerError {
    /// libzmq refused: its errno and message.
    Libzmq {
        /// `zmq_errno()`.
        errno: i32,
        /// `zmq_strerror()`.
        text: String,
    },
    /// No answer within the timeout.
    Timeout,
    /// The process is gone.
    Exited,
    /// An answer this crate does not understand.
    Protocol(String),
}

impl PeerError {
    /// libzmq's errno, if libzmq refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            PeerError::Libzmq { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// libzmq's EAGAIN on Linux: what a receive that timed out gives.
pub const EAGAIN: i32 = 11;

/// How to send a frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Send {
    /// More frames follow (`ZMQ_SNDMORE`).
    pub more: bool,
    /// The routing id to set on the message (SERVER, PEER); 0 for none.
    pub routing_id: u32,
    /// The group to set on the message (RADIO).
    pub group: Option<String>,
}

impl Send {
    /// A frame addressed to `routing_id` (SERVER, PEER).
    pub fn to(routing_id: u32) -> Self {
        Send {
            routing_id,
            ..Send::default()
        }
    }

    /// A frame for `group` (RADIO).
    pub fn group(group: &str) -> Self {
        Send {
            group: Some(group.to_owned()),
            ..Send::default()
        }
    }

    /// A frame with more to follow.
    pub fn more() -> Self {
        Send {
            more: true,
            ..Send::default()
        }
    }
}

/// A frame the peer received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The frame's bytes.
    pub data: Vec<u8>,
    /// More frames follow.
    pub more: bool,
    /// `zmq_msg_routing_id` (0 when none).
    pub routing_id: u32,
    /// `zmq_msg_group`, if any.
    pub group: Option<String>,
}

/// A libzmq socket of one type in a child process.
#[derive(Debug)]
pub struct DraftsPeer {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
}

impl DraftsPeer {
    /// Starts a peer with a socket of `socket_type` (libzmq's name without `ZMQ_`, e.g.
    /// `"SERVER"`). Panics if the program cannot start: a test cannot go on without it.
    pub fn spawn(socket_type: &str) -> Self {
        let mut command = Command::new(EXECUTABLE);
        command.arg(socket_type);
        Self::spawn_command(command)
    }

    /// Starts a peer from a command that runs [`EXECUTABLE`] with the socket type as its
    /// argument, perhaps through another program (`ip netns exec <ns> …`, to run it in a
    /// network namespace).
    pub fn spawn_command(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        DraftsPeer {
            child,
            stdin,
            answers,
        }
    }

    /// Sends one command line; the text after `ok` (empty if none), or the error.
    pub fn command(&mut self, line: &str) -> Result<String, PeerError> {
        writeln!(self.stdin, "{line}").map_err(|_| PeerError::Exited)?;
        self.stdin.flush().map_err(|_| PeerError::Exited)?;
        let answer = self
            .answers
            .recv_timeout(ANSWER_TIMEOUT)
            .map_err(|e| match e {
                mpsc::RecvTimeoutError::Timeout => PeerError::Timeout,
                mpsc::RecvTimeoutError::Disconnected => PeerError::Exited,
            })?;
        if answer == "ok" {
            return Ok(String::new());
        }
        if let Some(value) = answer.strip_prefix("ok ") {
            return Ok(value.to_owned());
        }
        if answer.starts_with("msg ") {
            return Ok(answer);
        }
        if let Some(error) = answer.strip_prefix("err ") {
            let (errno, text) = error.split_once(' ').unwrap_or((error, ""));
            return Err(PeerError::Libzmq {
                errno: errno
                    .parse()
                    .map_err(|_| PeerError::Protocol(answer.clone()))?,
                text: text.to_owned(),
            });
        }
        Err(PeerError::Protocol(answer))
    }

    /// Binds; the endpoint actually bound (`ZMQ_LAST_ENDPOINT`, with the port chosen for `*`).
    pub fn bind(&mut self, endpoint: &str) -> Result<String, PeerError> {
        self.command(&format!("bind {endpoint}"))
    }

    /// Connects.
    pub fn connect(&mut self, endpoint: &str) -> Result<(), PeerError> {
        self.command(&format!("connect {endpoint}")).map(drop)
    }

    /// PEER's `zmq_connect_peer`: connects and returns the routing id of that peer.
    pub fn connect_peer(&mut self, endpoint: &str) -> Result<u32, PeerError> {
        let id = self.command(&format!("connect_peer {endpoint}"))?;
        id.parse().map_err(|_| PeerError::Protocol(id))
    }

    /// Sets an integer option by libzmq's name in lower case without `ZMQ_` (`"linger"`,
    /// `"rcvtimeo"`, `"sndhwm"`, …; see `c/drafts_peer.c`).
    pub fn set(&mut self, option: &str, value: i32) -> Result<(), PeerError> {
        self.command(&format!("set {option} {value}")).map(drop)
    }

    /// Sets a text option (`"subscribe"`, `"routing_id"`, `"plain_username"`, …).
    pub fn set_text(&mut self, option: &str, value: &str) -> Result<(), PeerError> {
        self.command(&format!("sets {option} {value}")).map(drop)
    }

    /// Starts a ZAP handler in the peer's context: PLAIN with `user` and `password` (and
    /// NULL) accepted, everything else refused with 400 (libzmq's PLAIN server refuses all
    /// without a handler).
    pub fn zap(&mut self, user: &str, password: &str) -> Result<(), PeerError> {
        self.command(&format!("zap {user} {password}")).map(drop)
    }

    /// DISH: joins a group.
    pub fn join(&mut self, group: &str) -> Result<(), PeerError> {
        self.command(&format!("join {group}")).map(drop)
    }

    /// DISH: leaves a group.
    pub fn leave(&mut self, group: &str) -> Result<(), PeerError> {
        self.command(&format!("leave {group}")).map(drop)
    }

    /// Sends one frame.
    pub fn send(&mut self, data: &[u8], how: Send) -> Result<(), PeerError> {
        let mut line = format!("send {}", hex(data));
        if how.more {
            line.push_str(" more");
        }
        if how.routing_id != 0 {
            line.push_str(&format!(" rid={}", how.routing_id));
        }
        if let Some(group) = &how.group {
            line.push_str(&format!(" group={group}"));
        }
        self.command(&line).map(drop)
    }

    /// Receives one frame, waiting at most the peer's `rcvtimeo` (5 s unless set);
    /// [`PeerError::Libzmq`] with [`EAGAIN`] when nothing came.
    pub fn recv(&mut self) -> Result<Received, PeerError> {
        let answer = self.command("recv")?;
        parse_received(&answer).ok_or(PeerError::Protocol(answer))
    }
}

impl Drop for DraftsPeer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(data: &[u8]) -> String {
    if data.is_empty() {
        return "-".to_owned();
    }
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text == "-" {
        return Some(Vec::new());
    }
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Parses `msg <hex> more=<0|1> rid=<n> group=<text>`.
fn parse_received(line: &str) -> Option<Received> {
    let mut words = line.strip_prefix("msg ")?.split(' ');
    let data = unhex(words.next()?)?;
    let more = words.next()?.strip_prefix("more=")? == "1";
    let routing_id = words.next()?.strip_prefix("rid=")?.parse().ok()?;
    let group = match words.next()?.strip_prefix("group=")? {
        "-" => None,
        g => Some(g.to_owned()),
    };
    Some(Received {
        data,
        more,
        routing_id,
        group,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_lines_parse() {
        let r = parse_received("msg 6869 more=1 rid=7 group=news").expect("parses");
        assert_eq!(r.data, b"hi");
        assert!(r.more);
        assert_eq!(r.routing_id, 7);
        assert_eq!(r.group.as_deref(), Some("news"));
        let empty = parse_received("msg - more=0 rid=0 group=-").expect("parses");
        assert!(empty.data.is_empty() && empty.group.is_none());
        assert!(parse_received("msg 6 more=0 rid=0 group=-").is_none());
        assert_eq!(unhex(&hex(&[0, 255, 16])), Some(vec![0, 255, 16]));
    }
}
