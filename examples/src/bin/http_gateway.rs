//! An HTTP gateway in front of a pool of ZeroMQ workers: the library inside
//! an axum server.
//!
//! ```text
//! http_gateway [--listen ADDR:PORT] [--workers N] [--backend ENDPOINT]
//!              [--max-outstanding N] [--retry-ms MS] [--attempts N]
//! http_gateway --worker ENDPOINT [--id NAME] [--stall-after N]
//! ```
//!
//! `POST /work` with a body answers that body reversed byte for byte by one
//! of the workers, whose id is in the `x-worker` header. Each HTTP request
//! becomes a ZeroMQ request `[id, "", body]` on one DEALER socket bound at
//! `--backend` (default `inproc://http-gateway`); the workers are REP sockets
//! connected to it, `--workers` of them in this process (default 4, ids
//! `w1`…) and any number of worker processes (`--worker ENDPOINT`, the
//! guide's `rrworker` with a REP socket that reverses). A REP worker answers
//! `[id, "", worker id, reversed]`; a task reading the DEALER matches `id` to
//! the waiting handler's `oneshot` sender.
//!
//! What it promises (the README's "HTTP gateway" section says the same):
//! - At most `--max-outstanding` requests (default 1000) wait for a worker at
//!   once; one more is answered `503 Service Unavailable` at once.
//! - A request not answered within `--retry-ms` (default 1000) is sent again,
//!   under the same id, to whichever worker the DEALER picks next, up to
//!   `--attempts` sends in all (default 3); then `504 Gateway Timeout`. So a
//!   worker that dies or hangs loses nothing but time: the requests it held
//!   and those queued for it are sent again. A request may be worked on more
//!   than once (reversing is idempotent); the first reply answers it and
//!   later ones are counted as `late` and dropped.
//! - Bodies up to 2 MiB (axum's default limit); a larger one gets `413`.
//! - A reply that is not `[8-byte id, "", worker id, body]`, or whose worker
//!   id cannot be an HTTP header value, is counted as `malformed` and
//!   dropped (its request is retried as if no reply came).
//!
//! `GET /stats` gives the counters as `name value` lines; `GET /events`
//! streams the DEALER's monitor events as server-sent events (the last 64
//! first, then new ones as they happen; the event type is libzmq's name,
//! `ACCEPTED`, `DISCONNECTED`, …, the data the event in words). `GET /` is a
//! page that shows them and posts to `/work`.
//!
//! On start it prints `backend ENDPOINT` (the bound endpoint: a tcp port 0 is
//! resolved) and then `listening on http://ADDR:PORT` (likewise).
//!
//! ```text
//! cargo run --release --bin http_gateway
//! curl -i --data-binary 'hello, world' http://127.0.0.1:8080/work
//! curl -N http://127.0.0.1:8080/events
//! ```

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures::{SinkExt, Stream, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use zmq_async::{DealerSocket, Message, MonitorEvent, RepSocket};

type Error = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "\
usage: http_gateway [--listen ADDR:PORT] [--workers N] [--backend ENDPOINT]
                    [--max-outstanding N] [--retry-ms MS] [--attempts N]
       http_gateway --worker ENDPOINT [--id NAME] [--stall-after N]";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match parse(&args) {
        Ok(Mode::Gateway(config)) => gateway(config).await,
        Ok(Mode::Worker(config)) => worker(config).await,
        Ok(Mode::Help) => {
            println!("{USAGE}");
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("http_gateway: {e}\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_gateway: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// What the command line asked for.
#[derive(Debug)]
enum Mode {
    Gateway(GatewayConfig),
    Worker(WorkerConfig),
    Help,
}

#[derive(Debug)]
struct GatewayConfig {
    listen: SocketAddr,
    workers: usize,
    backend: String,
    max_outstanding: usize,
    retry_after: Duration,
    attempts: u32,
}

#[derive(Debug)]
struct WorkerConfig {
    endpoint: String,
    id: String,
    /// Answer this many requests, then take one more and never answer it
    /// (a hung worker, for the test of what a dead worker loses).
    stall_after: Option<u64>,
}

fn parse(args: &[String]) -> Result<Mode, String> {
    let mut gateway = GatewayConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        workers: 4,
        backend: "inproc://http-gateway".to_owned(),
        max_outstanding: 1000,
        retry_after: Duration::from_millis(1000),
        attempts: 3,
    };
    let mut worker: Option<WorkerConfig> = None;
    let mut id = None;
    let mut stall_after = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .map(String::as_str)
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        }
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                gateway.listen = v
                    .parse()
                    .map_err(|e| format!("--listen {v:?}: {e} (want ADDR:PORT)"))?;
            }
            "--workers" => gateway.workers = number(flag, value()?)?,
            "--backend" => gateway.backend = value()?.to_owned(),
            "--max-outstanding" => gateway.max_outstanding = number(flag, value()?)?,
            "--retry-ms" => gateway.retry_after = Duration::from_millis(number(flag, value()?)?),
            "--attempts" => gateway.attempts = number(flag, value()?)?,
            "--worker" => {
                worker = Some(WorkerConfig {
                    endpoint: value()?.to_owned(),
                    id: String::new(),
                    stall_after: None,
                })
            }
            "--id" => id = Some(value()?.to_owned()),
            "--stall-after" => stall_after = Some(number(flag, value()?)?),
            "-h" | "--help" => return Ok(Mode::Help),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if gateway.max_outstanding == 0 || gateway.attempts == 0 {
        return Err("--max-outstanding and --attempts must be at least 1".to_owned());
    }
    match worker {
        Some(mut w) => {
            w.id = id.unwrap_or_else(|| format!("pid{}", std::process::id()));
            w.stall_after = stall_after;
            Ok(Mode::Worker(w))
        }
        None if id.is_some() || stall_after.is_some() => {
            Err("--id and --stall-after are for --worker".to_owned())
        }
        None => Ok(Mode::Gateway(gateway)),
    }
}

// ---------------------------------------------------------------------------
// The gateway

/// What the handlers share: the table of requests waiting for a reply and
/// the way to the DEALER.
struct Gateway {
    /// Request id -> the waiting handler. A handler removes its entry when it
    /// gives up (or its client goes away); the reply reader when it answers.
    waiting: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// Requests for the task that owns the DEALER's sending half. Bounded:
    /// when the workers' pipes are full, handlers wait here (back-pressure).
    to_workers: mpsc::Sender<Message>,
    /// One permit per request that may wait for a worker (`--max-outstanding`).
    slots: Arc<Semaphore>,
    next_id: AtomicU64,
    retry_after: Duration,
    attempts: u32,
    stats: Stats,
    /// The DEALER's monitor events, for `/events`.
    events: Arc<EventLog>,
}

/// A worker's answer.
struct Reply {
    worker: HeaderValue,
    body: Bytes,
}

/// One server-sent event: the event's libzmq name, and the event in words
/// (`HANDSHAKE_SUCCEEDED on tcp://127.0.0.1:5560 peer tcp://127.0.0.1:40112`).
#[derive(Debug, Clone)]
struct WebEvent {
    name: &'static str,
    data: String,
}

impl From<&MonitorEvent> for WebEvent {
    fn from(event: &MonitorEvent) -> Self {
        let mut data = event.to_string();
        if let Some(id) = &event.routing_id {
            data.push_str(&format!(" routing id {:?}", String::from_utf8_lossy(id)));
        }
        WebEvent {
            name: event.kind.name(),
            data,
        }
    }
}

/// The monitor events as `/events` serves them: the last [`EventLog::KEPT`]
/// replayed to each browser that comes, then the new ones through a
/// broadcast channel, so a slow browser misses events (it is told how many)
/// and never holds up the others or the socket.
struct EventLog {
    /// The kept events and the channel, under one lock: a browser gets each
    /// event once, from the replay or from the channel.
    inner: Mutex<(VecDeque<WebEvent>, broadcast::Sender<WebEvent>)>,
}

impl EventLog {
    const KEPT: usize = 64;

    fn new() -> Self {
        let (tx, _) = broadcast::channel(256);
        EventLog {
            inner: Mutex::new((VecDeque::with_capacity(Self::KEPT), tx)),
        }
    }

    fn push(&self, event: WebEvent) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (kept, tx) = &mut *inner;
        if kept.len() == Self::KEPT {
            kept.pop_front();
        }
        kept.push_back(event.clone());
        // No browser listening is fine.
        let _ = tx.send(event);
    }

    fn subscribe(&self) -> (Vec<WebEvent>, broadcast::Receiver<WebEvent>) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (inner.0.iter().cloned().collect(), inner.1.subscribe())
    }
}

/// The counters `/stats` shows.
#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    replies: AtomicU64,
    retries: AtomicU64,
    rejected: AtomicU64,
    timeouts: AtomicU64,
    late: AtomicU64,
    malformed: AtomicU64,
}

async fn gateway(config: GatewayConfig) -> Result<(), Error> {
    let mut dealer = DealerSocket::new();
    // Monitored from before the bind, so LISTENING is the first event (tcp
    // and ipc raise events; inproc raises none, as in libzmq).
    let mut monitor = dealer.monitor();
    let events = Arc::new(EventLog::new());
    let log = events.clone();
    tokio::spawn(async move {
        while let Some(event) = monitor.next().await {
            log.push(WebEvent::from(&event));
        }
    });
    let backend = dealer.bind(&config.backend).await?;
    println!("backend {backend}");

    for n in 1..=config.workers {
        let worker_config = WorkerConfig {
            endpoint: backend.clone(),
            id: format!("w{n}"),
            stall_after: None,
        };
        tokio::spawn(async move {
            if let Err(e) = worker(worker_config).await {
                eprintln!("in-process worker failed: {e}");
            }
        });
    }

    let (to_workers, mut requests) = mpsc::channel::<Message>(config.max_outstanding);
    let gw = Arc::new(Gateway {
        waiting: Mutex::new(HashMap::new()),
        to_workers,
        slots: Arc::new(Semaphore::new(config.max_outstanding)),
        next_id: AtomicU64::new(1),
        retry_after: config.retry_after,
        attempts: config.attempts,
        stats: Stats::default(),
        events,
    });

    // The DEALER in two halves: one task sends, one reads replies, so a send
    // waiting for room in a worker's pipe never stops replies coming back.
    let (mut sink, mut stream) = dealer.split();
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            if let Err(e) = sink.send(request).await {
                eprintln!("backend send failed: {e}");
                break;
            }
        }
    });
    let reader = gw.clone();
    tokio::spawn(async move {
        while let Some(reply) = stream.next().await {
            match reply {
                Ok(msg) => reader.deliver(msg),
                Err(e) => {
                    eprintln!("backend recv failed: {e}");
                    break;
                }
            }
        }
    });

    let app = Router::new()
        .route("/", get(page))
        .route("/work", post(work))
        .route("/stats", get(stats))
        .route("/events", get(events_stream))
        .with_state(gw);
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

impl Gateway {
    /// Hands a worker's reply `[id, "", worker id, body]` to its handler.
    fn deliver(&self, msg: Message) {
        let Some((id, reply)) = parse_reply(&msg) else {
            self.stats.malformed.fetch_add(1, Ordering::Relaxed);
            eprintln!("dropped a malformed reply: {msg:?}");
            return;
        };
        let waiting = self.lock_waiting().remove(&id);
        // A handler that already has its answer (or gave up) is gone.
        match waiting.map(|tx| tx.send(reply)) {
            Some(Ok(())) => self.stats.replies.fetch_add(1, Ordering::Relaxed),
            None | Some(Err(_)) => self.stats.late.fetch_add(1, Ordering::Relaxed),
        };
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Reply>>> {
        // Nothing panics while holding the lock; a poisoned map is still whole.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn parse_reply(msg: &Message) -> Option<(u64, Reply)> {
    let [id, delimiter, worker, body] = msg.frames() else {
        return None;
    };
    let id = u64::from_be_bytes(id[..].try_into().ok()?);
    if !delimiter.is_empty() {
        return None;
    }
    let worker = HeaderValue::from_bytes(worker).ok()?;
    Some((
        id,
        Reply {
            worker,
            body: body.clone().into(),
        },
    ))
}

/// A request waiting for its reply; dropping it (the handler returned, or
/// axum dropped it because the client went away) takes it off the table and
/// frees its slot.
struct Outstanding {
    gw: Arc<Gateway>,
    id: u64,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.gw.lock_waiting().remove(&self.id);
    }
}

/// `POST /work`: the body, reversed by a worker.
async fn work(State(gw): State<Arc<Gateway>>, body: Bytes) -> Response {
    let Ok(slot) = gw.slots.clone().try_acquire_owned() else {
        gw.stats.rejected.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many requests waiting\n",
        )
            .into_response();
    };
    gw.stats.requests.fetch_add(1, Ordering::Relaxed);
    let id = gw.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = oneshot::channel();
    gw.lock_waiting().insert(id, tx);
    let _outstanding = Outstanding {
        gw: gw.clone(),
        id,
        _slot: slot,
    };
    let request: Message = [
        Bytes::copy_from_slice(&id.to_be_bytes()),
        Bytes::new(),
        body,
    ]
    .into_iter()
    .collect();
    for attempt in 1..=gw.attempts {
        if attempt > 1 {
            gw.stats.retries.fetch_add(1, Ordering::Relaxed);
        }
        if gw.to_workers.send(request.clone()).await.is_err() {
            return (StatusCode::INTERNAL_SERVER_ERROR, "backend is down\n").into_response();
        }
        match tokio::time::timeout(gw.retry_after, &mut rx).await {
            Ok(Ok(reply)) => return ([("x-worker", reply.worker)], reply.body).into_response(),
            // The sender is gone unanswered: only if the whole table went.
            Ok(Err(_)) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "backend is down\n").into_response()
            }
            Err(_elapsed) => continue,
        }
    }
    gw.stats.timeouts.fetch_add(1, Ordering::Relaxed);
    (StatusCode::GATEWAY_TIMEOUT, "no worker answered\n").into_response()
}

/// `GET /stats`: the counters, one `name value` a line.
async fn stats(State(gw): State<Arc<Gateway>>) -> String {
    let s = &gw.stats;
    let outstanding = gw.lock_waiting().len();
    [
        ("requests", s.requests.load(Ordering::Relaxed)),
        ("replies", s.replies.load(Ordering::Relaxed)),
        ("retries", s.retries.load(Ordering::Relaxed)),
        ("rejected", s.rejected.load(Ordering::Relaxed)),
        ("timeouts", s.timeouts.load(Ordering::Relaxed)),
        ("late", s.late.load(Ordering::Relaxed)),
        ("malformed", s.malformed.load(Ordering::Relaxed)),
        ("outstanding", outstanding as u64),
    ]
    .iter()
    .map(|(name, value)| format!("{name} {value}\n"))
    .collect()
}

/// `GET /`: a page that posts to `/work` and shows `/events` as they come.
async fn page() -> axum::response::Html<&'static str> {
    axum::response::Html(PAGE)
}

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>http_gateway</title>
<h1>http_gateway</h1>
<form id="work"><input id="body" value="hello, world" size="40"> <button>POST /work</button></form>
<pre id="reply"></pre>
<h2>The DEALER's monitor events (<a href="/events">/events</a>)</h2>
<pre id="events"></pre>
<script>
document.getElementById("work").onsubmit = async (e) => {
  e.preventDefault();
  const r = await fetch("/work", {method: "POST", body: document.getElementById("body").value});
  document.getElementById("reply").textContent =
    r.status + " from " + r.headers.get("x-worker") + ": " + await r.text();
};
const events = new EventSource("/events");
for (const name of ["CONNECTED", "CONNECT_DELAYED", "CONNECT_RETRIED", "LISTENING",
    "BIND_FAILED", "ACCEPTED", "ACCEPT_FAILED", "CLOSED", "DISCONNECTED", "MONITOR_STOPPED",
    "HANDSHAKE_FAILED_NO_DETAIL", "HANDSHAKE_SUCCEEDED", "HANDSHAKE_FAILED_PROTOCOL",
    "HANDSHAKE_FAILED_AUTH"]) {
  events.addEventListener(name, (e) => {
    document.getElementById("events").textContent +=
      new Date().toISOString().slice(11, 23) + " " + e.data + "
";
  });
}
</script>
"#;

/// `GET /events`: the DEALER's monitor events, as server-sent events.
async fn events_stream(
    State(gw): State<Arc<Gateway>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (kept, live) = gw.events.subscribe();
    let kept = futures::stream::iter(kept).map(|e| Ok(Event::default().event(e.name).data(e.data)));
    let live = futures::stream::unfold(live, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(e) => Event::default().event(e.name).data(e.data),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                Event::default().comment(format!("{n} events skipped: this reader was slow"))
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    Sse::new(kept.chain(live)).keep_alive(KeepAlive::default())
}

// ---------------------------------------------------------------------------
// A worker

/// A REP socket connected to the gateway's DEALER that answers each request
/// with `[its id, the body reversed]` (REP puts the envelope back in front).
async fn worker(config: WorkerConfig) -> Result<(), Error> {
    let mut rep = RepSocket::new();
    rep.connect(&config.endpoint).await?;
    let id = Bytes::from(config.id.clone());
    let mut answered = 0u64;
    loop {
        let request = rep.recv().await?;
        if config.stall_after == Some(answered) {
            println!("worker {} stalled after {answered} replies", config.id);
            std::future::pending::<()>().await;
        }
        // One frame from the gateway; anything else is reversed whole.
        let mut body: Vec<u8> = request.iter().flat_map(|f| f.iter().copied()).collect();
        body.reverse();
        rep.send(Message::from(vec![id.clone(), Bytes::from(body)]))
            .await?;
        answered += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(frames: &[&[u8]]) -> Message {
        frames.iter().map(|f| Bytes::copy_from_slice(f)).collect()
    }

    #[test]
    fn a_reply_is_id_delimiter_worker_body() {
        let id = 7u64.to_be_bytes();
        let (got, reply) = parse_reply(&msg(&[&id, b"", b"w1", b"cba"])).expect("well formed");
        assert_eq!(got, 7);
        assert_eq!(reply.worker, "w1");
        assert_eq!(reply.body, "cba");
    }

    #[test]
    fn malformed_replies_are_refused() {
        let id = 7u64.to_be_bytes();
        for bad in [
            msg(&[&id, b"", b"cba"]),
            msg(&[&id, b"", b"w1", b"cba", b"more"]),
            msg(&[&id[..7], b"", b"w1", b"cba"]),
            msg(&[&id, b"x", b"w1", b"cba"]),
            msg(&[&id, b"", b"w\n1", b"cba"]),
            msg(&[]),
        ] {
            assert!(parse_reply(&bad).is_none(), "{bad:?}");
        }
    }

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_defaults_are_the_issues() {
        let Ok(Mode::Gateway(config)) = parse(&[]) else {
            panic!("a gateway");
        };
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(config.workers, 4);
        assert_eq!(config.backend, "inproc://http-gateway");
    }

    #[test]
    fn bad_command_lines_are_errors() {
        for line in [
            "--listen",
            "--listen localhost",
            "--workers many",
            "--attempts 0",
            "--max-outstanding 0",
            "--id w1",
            "--frobnicate",
        ] {
            assert!(parse(&args(line)).is_err(), "{line}");
        }
        let Ok(Mode::Worker(w)) = parse(&args("--worker tcp://127.0.0.1:1 --id a")) else {
            panic!("a worker");
        };
        assert_eq!(
            (w.endpoint.as_str(), w.id.as_str()),
            ("tcp://127.0.0.1:1", "a")
        );
    }
}
