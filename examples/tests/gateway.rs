//! The HTTP gateway (`src/bin/http_gateway.rs`) as a process, driven with
//! hyper's HTTP/1 client over tcp on 127.0.0.1 (ports chosen by the OS):
//! a thousand requests from fifty clients each answered with its own body
//! reversed; a worker killed mid-run, while it works or once it hangs,
//! losing nothing (its requests are sent again); the bound on waiting
//! requests answering 503; `/events` showing a worker come and go.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::{bin, Program};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Guards every wait against a hang; the scenarios take a few seconds.
const DEADLINE: Duration = Duration::from_secs(120);

/// A running gateway: the process, its HTTP address and its worker endpoint.
struct Gateway {
    program: Program,
    http: SocketAddr,
    backend: String,
}

impl Gateway {
    fn start(args: &[&str]) -> Gateway {
        let mut cmd = Command::new(bin("http_gateway"));
        cmd.args(["--listen", "127.0.0.1:0"]).args(args);
        let program = Program::spawn(cmd, format!("http_gateway {}", args.join(" ")));
        let listening = program.wait_for_line("listening on http://", DEADLINE);
        let http = listening
            .trim_start_matches("listening on http://")
            .parse()
            .unwrap_or_else(|e| panic!("{listening:?}: {e}"));
        let backend = program.wait_for_line("backend ", DEADLINE)["backend ".len()..].to_owned();
        Gateway {
            program,
            http,
            backend,
        }
    }

    /// Starts a worker process connected to this gateway.
    fn worker(&self, id: &str, extra: &[&str]) -> Program {
        let mut cmd = Command::new(bin("http_gateway"));
        cmd.args(["--worker", &self.backend, "--id", id])
            .args(extra);
        Program::spawn(cmd, format!("worker {id}"))
    }

    async fn client(&self) -> Client {
        Client::connect(self.http).await
    }

    /// `GET /stats` as a map.
    async fn stats(&self) -> HashMap<String, u64> {
        let (status, _, body) = self.client().await.request(Method::GET, "/stats", "").await;
        assert_eq!(status, StatusCode::OK);
        std::str::from_utf8(&body)
            .unwrap()
            .lines()
            .map(|line| {
                let (name, value) = line.split_once(' ').unwrap();
                (name.to_owned(), value.parse().unwrap())
            })
            .collect()
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        Client {
            sender,
            host: addr.to_string(),
        }
    }

    /// Status, `x-worker` (if any) and body.
    async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: impl Into<Bytes>,
    ) -> (StatusCode, Option<String>, Bytes) {
        self.sender.ready().await.unwrap();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .body(Full::new(body.into()))
            .unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        let status = response.status();
        let worker = response
            .headers()
            .get("x-worker")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, worker, body)
    }
}

/// Client `c`'s request `i`: distinct for every pair, not valid UTF-8 once
/// reversed (a reversal done on characters would not match).
fn body(c: usize, i: usize) -> Vec<u8> {
    let mut body = format!("client {c} request {i}: héllo ").into_bytes();
    body.extend_from_slice(&[0, 0xff, c as u8, i as u8]);
    body
}

/// `clients` connections each sending `each` requests one after another;
/// checks every reply is 200 with its own body reversed and returns how many
/// each worker answered. Each answering worker's id also goes to `answers`
/// as the reply arrives.
async fn load(
    gateway: &Gateway,
    clients: usize,
    each: usize,
    answers: Option<mpsc::UnboundedSender<String>>,
) -> HashMap<String, usize> {
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let http = gateway.http;
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut client = Client::connect(http).await;
                let mut workers = Vec::new();
                for i in 0..each {
                    let sent = body(c, i);
                    let (status, worker, reply) =
                        client.request(Method::POST, "/work", sent.clone()).await;
                    assert_eq!(status, StatusCode::OK, "client {c} request {i}: {reply:?}");
                    let mut expected = sent;
                    expected.reverse();
                    assert_eq!(reply, expected, "client {c} request {i}");
                    let worker = worker.expect("an x-worker header");
                    if let Some(answers) = &answers {
                        let _ = answers.send(worker.clone());
                    }
                    workers.push(worker);
                }
                workers
            })
        })
        .collect();
    let mut answered = HashMap::new();
    for task in tasks {
        for worker in task.await.unwrap() {
            *answered.entry(worker).or_insert(0) += 1;
        }
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_from_fifty_clients_each_get_their_own_reversal() {
    let gateway = Gateway::start(&["--workers", "4"]);
    let answered = tokio::time::timeout(DEADLINE, load(&gateway, 50, 20, None))
        .await
        .expect("the load finished");
    assert_eq!(answered.values().sum::<usize>(), 1000);
    // The DEALER takes turns over the four in-process workers.
    let mut workers: Vec<&str> = answered.keys().map(String::as_str).collect();
    workers.sort_unstable();
    assert_eq!(workers, ["w1", "w2", "w3", "w4"], "{answered:?}");
    let stats = gateway.stats().await;
    assert_eq!(stats["requests"], 1000, "{stats:?}");
    assert_eq!(stats["replies"], 1000, "{stats:?}");
    assert_eq!(stats["outstanding"], 0, "{stats:?}");
    assert_eq!(stats["malformed"], 0, "{stats:?}");
}

/// What the README promises: a worker that hangs holding a request, and is
/// then killed, loses nothing; its requests are sent again to the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_loses_no_request() {
    // Answers 20 requests, takes the 21st and never answers it.
    let (gateway, _others, victim) = three_worker_processes(&["--stall-after", "20"]).await;
    let run = load(&gateway, 50, 20, None);
    let kill = tokio::task::spawn_blocking(move || {
        victim.wait_for_line("stalled after 20 replies", DEADLINE);
        victim.stop()
    });
    let (answered, victim_output) =
        tokio::time::timeout(DEADLINE, async { tokio::join!(run, kill) })
            .await
            .expect("the load finished");
    let victim_output = victim_output.unwrap();

    assert_eq!(answered.values().sum::<usize>(), 1000);
    // At most its 20 replies count (fewer when another worker answered a
    // request it held for long first, or its last reply died with it).
    let by_victim = answered.get("victim").copied().unwrap_or(0);
    assert!(
        by_victim <= 20,
        "the victim answered {by_victim}: {answered:?}\n{victim_output}"
    );
    let stats = gateway.stats().await;
    // The request the victim held, at least, went out again.
    assert!(stats["retries"] >= 1, "{stats:?}");
    assert_eq!(stats["requests"], 1000, "{stats:?}");
    assert_eq!(stats["replies"], 1000, "{stats:?}");
    assert_eq!(stats["timeouts"], 0, "{stats:?}");
    assert_eq!(stats["outstanding"], 0, "{stats:?}");
    drop(gateway.program);
}

/// The same with a worker killed while it works: whatever it held or had
/// queued is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_while_answering_loses_no_request() {
    let (gateway, _others, victim) = three_worker_processes(&[]).await;
    let (answers, mut answered_by) = mpsc::unbounded_channel();
    let run = load(&gateway, 50, 20, Some(answers));
    let kill = async move {
        let mut by_victim = 0;
        while let Some(worker) = answered_by.recv().await {
            by_victim += usize::from(worker == "victim");
            if by_victim == 10 {
                return Some(victim.stop());
            }
        }
        None
    };
    let (answered, killed) = tokio::time::timeout(DEADLINE, async { tokio::join!(run, kill) })
        .await
        .expect("the load finished");
    assert!(
        killed.is_some(),
        "the victim never answered 10: {answered:?}"
    );
    assert_eq!(answered.values().sum::<usize>(), 1000);
    assert!(answered["victim"] >= 10, "{answered:?}");
    let stats = gateway.stats().await;
    assert_eq!(stats["requests"], 1000, "{stats:?}");
    assert_eq!(stats["replies"], 1000, "{stats:?}");
    assert_eq!(stats["timeouts"], 0, "{stats:?}");
    assert_eq!(stats["outstanding"], 0, "{stats:?}");
}

/// A gateway on tcp (retrying every 500 ms, 100 times) with three worker
/// processes, `p1`, `p2` and `victim` (with `victim_args`), all three
/// connected (seen on `/events`).
async fn three_worker_processes(victim_args: &[&str]) -> (Gateway, [Program; 2], Program) {
    let gateway = Gateway::start(&[
        "--workers",
        "0",
        "--backend",
        "tcp://127.0.0.1:0",
        "--retry-ms",
        "500",
        "--attempts",
        "100",
    ]);
    let mut events = EventReader::open(&gateway).await;
    let others = [gateway.worker("p1", &[]), gateway.worker("p2", &[])];
    let victim = gateway.worker("victim", victim_args);
    for _ in 0..3 {
        events.until("HANDSHAKE_SUCCEEDED").await;
    }
    (gateway, others, victim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_over_max_outstanding_gets_503() {
    // No workers: the requests wait (an hour, one attempt each).
    let gateway = Gateway::start(&[
        "--workers",
        "0",
        "--max-outstanding",
        "2",
        "--retry-ms",
        "3600000",
        "--attempts",
        "1",
    ]);
    let mut waiting = Vec::new();
    for c in 0..2 {
        let mut client = gateway.client().await;
        waiting.push(tokio::spawn(async move {
            client.request(Method::POST, "/work", body(c, 0)).await
        }));
    }
    tokio::time::timeout(DEADLINE, async {
        while gateway.stats().await["outstanding"] < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("two requests waiting");

    let (status, worker, _) = gateway
        .client()
        .await
        .request(Method::POST, "/work", body(2, 0))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(worker, None);
    let stats = gateway.stats().await;
    assert_eq!(stats["rejected"], 1, "{stats:?}");
    assert_eq!(stats["requests"], 2, "{stats:?}");
    assert_eq!(stats["outstanding"], 2, "{stats:?}");
    assert!(waiting.iter().all(|w| !w.is_finished()));
}

/// `/events` replays the DEALER's LISTENING, then shows a worker process
/// coming (ACCEPTED, HANDSHAKE_SUCCEEDED) and going (DISCONNECTED).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_show_a_worker_come_and_go() {
    let gateway = Gateway::start(&["--workers", "0", "--backend", "tcp://127.0.0.1:0"]);
    let mut events = EventReader::open(&gateway).await;
    let listening = events.next_event().await;
    assert_eq!(listening.0, "LISTENING", "{listening:?}");
    assert!(listening.1.contains(&gateway.backend), "{listening:?}");

    let worker = gateway.worker("p1", &[]);
    let accepted = events.until("ACCEPTED").await;
    assert!(accepted.contains(&gateway.backend), "{accepted:?}");
    assert!(accepted.contains("peer tcp://127.0.0.1:"), "{accepted:?}");
    events.until("HANDSHAKE_SUCCEEDED").await;
    // The worker answers through the gateway before it goes.
    let (status, by, _) = gateway
        .client()
        .await
        .request(Method::POST, "/work", "ab")
        .await;
    assert_eq!((status, by.as_deref()), (StatusCode::OK, Some("p1")));
    drop(worker.stop());
    let disconnected = events.until("DISCONNECTED").await;
    assert!(disconnected.contains(&gateway.backend), "{disconnected:?}");
}

/// A `GET /events` response read as server-sent events.
struct EventReader {
    body: hyper::body::Incoming,
    /// Text received and not yet parsed into events.
    text: String,
    /// Every event read so far, for failure messages.
    seen: Vec<(String, String)>,
    _client: Client,
}

impl EventReader {
    async fn open(gateway: &Gateway) -> EventReader {
        let mut client = gateway.client().await;
        client.sender.ready().await.unwrap();
        let request = Request::get("/events")
            .header("host", &client.host)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = client.sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{response:?}"
        );
        EventReader {
            body: response.into_body(),
            text: String::new(),
            seen: Vec::new(),
            _client: client,
        }
    }

    /// The next event as (event name, data); comments (keep-alives) skipped.
    async fn next_event(&mut self) -> (String, String) {
        // One deadline for all the reads: keep-alive comments come every 15 s.
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            while let Some((block, rest)) = self.text.split_once("\n\n") {
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = v.to_owned();
                    }
                }
                self.text = rest.to_owned();
                if !name.is_empty() {
                    self.seen.push((name.clone(), data.clone()));
                    return (name, data);
                }
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .unwrap_or_else(|_| panic!("no event within {DEADLINE:?}; {:?}", self.seen))
                .expect("the event stream ended")
                .unwrap();
            if let Ok(chunk) = frame.into_data() {
                self.text.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        }
    }

    /// Reads events until one named `name`; returns its data.
    async fn until(&mut self, name: &str) -> String {
        loop {
            let (n, data) = self.next_event().await;
            if n == name {
                return data;
            }
        }
    }
}
