//! `soak_libzmq_peer`: a peer process of the `soak` benchmark with libzmq's sockets
//! (through the `zmq` crate) instead of ours: the same DEALERs and SUBs, the same
//! accounting, a thread per socket. The server runs it for its first `--libzmq-procs`
//! processes; it is a program of its own so that libzmq is not loaded into the server.
//! Build it next to `soak`: `cargo build --release -p zmq-benches --bins`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use zmq_benches::soak::{
    say, sub_topics, tally, usage, watch_stdin, Config, Flags, Seen, DRAIN, REPORT_EVERY,
};

type Shared = Arc<Mutex<Seen>>;
type Stop = Arc<Mutex<Option<Vec<u64>>>>;

/// Locks, ignoring a poisoned lock: a thread that panicked has its error reported anyway.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Heartbeats as on our sockets (1 s / TTL 3 s / 3 s); no linger at exit.
fn options(s: &zmq::Socket) -> zmq::Result<()> {
    s.set_heartbeat_ivl(1000)?;
    s.set_heartbeat_ttl(3000)?;
    s.set_heartbeat_timeout(3000)?;
    s.set_linger(0)
}

fn main() {
    let mut f = Flags::parse();
    let cfg = Config::from_flags(&mut f);
    let inc: u64 = f
        .take_str("peer-inc")
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| usage("--peer-inc: a number is needed"));
    let router = f.take_str("router").unwrap_or_else(|| usage("--router"));
    let publisher = f.take_str("pub").unwrap_or_else(|| usage("--pub"));
    f.finish();
    run(&cfg, inc, &router, &publisher)
}

/// Runs the peer process `inc` with libzmq sockets and exits.
fn run(cfg: &Config, inc: u64, router: &str, publisher: &str) -> ! {
    let stop: Stop = Arc::new(Mutex::new(None));
    let on_stop = stop.clone();
    watch_stdin(move |counts| *lock(&on_stop) = Some(counts));
    let seen: Shared = Arc::new(Mutex::new(Seen::new(cfg)));
    let ctx = zmq::Context::new();
    let mut threads = Vec::new();
    for k in 0..cfg.dealers {
        let (ctx, cfg, seen, stop) = (ctx.clone(), cfg.clone(), seen.clone(), stop.clone());
        let router = router.to_owned();
        threads.push(std::thread::spawn(move || {
            dealer(&ctx, &cfg, inc, k, &router, &seen, &stop)
        }));
    }
    for k in 0..cfg.subs {
        let (ctx, cfg, seen, stop) = (ctx.clone(), cfg.clone(), seen.clone(), stop.clone());
        let publisher = publisher.to_owned();
        threads.push(std::thread::spawn(move || {
            sub(&ctx, &cfg, k, &publisher, &seen, &stop)
        }));
    }
    while !threads.iter().all(|t| t.is_finished()) {
        say(&lock(&seen).report(inc, None));
        std::thread::sleep(REPORT_EVERY);
    }
    let mut code = 0;
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("soak libzmq peer {inc}: {e}");
                code = 1;
            }
            Err(_) => {
                eprintln!("soak libzmq peer {inc}: a thread panicked");
                code = 1;
            }
        }
    }
    let finals = lock(&stop).clone().unwrap_or_default();
    say(&lock(&seen).report(inc, Some(&finals)));
    std::process::exit(code)
}

/// When the drain started, if it has.
fn drain_deadline(stop: &Stop, deadline: &mut Option<Instant>) -> Option<Instant> {
    if deadline.is_none() && lock(stop).is_some() {
        *deadline = Some(Instant::now() + DRAIN);
    }
    *deadline
}

/// Milliseconds to wait in `poll`: until `until`, at most 50 ms (to see the stop).
fn wait_ms(until: Instant) -> i64 {
    until
        .saturating_duration_since(Instant::now())
        .min(Duration::from_millis(50))
        .as_millis() as i64
}

/// DEALER `k`, as the `soak` peer's: numbered requests at a steady rate, then the drain.
fn dealer(
    ctx: &zmq::Context,
    cfg: &Config,
    inc: u64,
    k: usize,
    endpoint: &str,
    seen: &Shared,
    stop: &Stop,
) -> zmq::Result<()> {
    let s = ctx.socket(zmq::DEALER)?;
    s.set_identity(tally::routing_id(inc, k).as_bytes())?;
    options(&s)?;
    s.connect(endpoint)?;
    let body = vec![0u8; cfg.size];
    let period = Duration::from_secs_f64(1.0 / cfg.req_rate);
    let mut next_send = Instant::now();
    let mut seq = 0u64;
    let mut deadline = None;
    loop {
        let now = Instant::now();
        if let Some(d) = drain_deadline(stop, &mut deadline) {
            if now >= d || lock(seen).settled(k, seq) {
                return Ok(());
            }
        } else if now >= next_send {
            match s.send_multipart([&tally::seq_frame(seq)[..], &body[..]], zmq::DONTWAIT) {
                Ok(()) => {
                    seq += 1;
                    lock(seen).queued(k, seq);
                }
                Err(zmq::Error::EAGAIN) => {}
                Err(e) => return Err(e),
            }
            next_send = (next_send + period).max(now);
        }
        let until = match deadline {
            Some(_) => now + Duration::from_millis(50),
            None => next_send,
        };
        if s.poll(zmq::POLLIN, wait_ms(until))? > 0 {
            while let Ok(reply) = s.recv_multipart(zmq::DONTWAIT) {
                lock(seen).reply(k, reply.first().map(Vec::as_slice));
            }
        }
    }
}

/// SUB `k`, as the `soak` peer's: numbered publications checked, then the drain.
fn sub(
    ctx: &zmq::Context,
    cfg: &Config,
    k: usize,
    endpoint: &str,
    seen: &Shared,
    stop: &Stop,
) -> zmq::Result<()> {
    let s = ctx.socket(zmq::SUB)?;
    options(&s)?;
    s.connect(endpoint)?;
    for t in sub_topics(k, cfg.topics) {
        s.set_subscribe(tally::topic(t).as_bytes())?;
    }
    let mut deadline = None;
    loop {
        if let Some(d) = drain_deadline(stop, &mut deadline) {
            let finals = lock(stop).clone().unwrap_or_default();
            if Instant::now() >= d || lock(seen).sub_done(k, &finals) {
                return Ok(());
            }
        }
        if s.poll(zmq::POLLIN, 50)? > 0 {
            while let Ok(msg) = s.recv_multipart(zmq::DONTWAIT) {
                let frame = |i: usize| msg.get(i).map(Vec::as_slice);
                lock(seen).publication(k, frame(0), frame(1));
            }
        }
    }
}
