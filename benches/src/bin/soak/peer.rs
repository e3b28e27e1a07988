//! Peer mode: one process holding a few DEALERs and SUBs, reporting on stdout, taking its
//! stop (or the server's death: end of stdin) on stdin.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use zmq_async::{DealerSocket, Message, SubSocket};

use zmq_benches::soak::{say, sub_topics, tally, watch_stdin, Config, Seen, DRAIN, REPORT_EVERY};

type Shared = Rc<RefCell<Seen>>;
type Stop = watch::Receiver<Option<Vec<u64>>>;

/// Runs the peer process `inc` (our sockets) and exits.
pub fn run(cfg: &Config, inc: u64, router: &str, publisher: &str) -> ! {
    let (stop_tx, stop_rx) = watch::channel(None);
    watch_stdin(move |counts| {
        let _ = stop_tx.send(Some(counts));
    });
    let seen = Rc::new(RefCell::new(Seen::new(cfg)));
    let rt = zmq_benches::runtime(false);
    let local = tokio::task::LocalSet::new();
    let code = local.block_on(&rt, async {
        let mut tasks = Vec::new();
        for k in 0..cfg.dealers {
            let (seen, stop) = (seen.clone(), stop_rx.clone());
            let (router, cfg) = (router.to_owned(), cfg.clone());
            tasks.push(tokio::task::spawn_local(async move {
                dealer(&cfg, inc, k, &router, seen, stop).await
            }));
        }
        for k in 0..cfg.subs {
            let (seen, stop) = (seen.clone(), stop_rx.clone());
            let (publisher, cfg) = (publisher.to_owned(), cfg.clone());
            tasks.push(tokio::task::spawn_local(async move {
                sub(&cfg, k, &publisher, seen, stop).await
            }));
        }
        let mut all = futures::future::join_all(tasks);
        let mut tick = tokio::time::interval(REPORT_EVERY);
        let results = loop {
            tokio::select! {
                r = &mut all => break r,
                _ = tick.tick() => say(&seen.borrow().report(inc, None)),
            }
        };
        let mut code = 0;
        for r in results {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    eprintln!("soak peer {inc}: {e}");
                    code = 1;
                }
                Err(e) => {
                    eprintln!("soak peer {inc}: task failed: {e}");
                    code = 1;
                }
            }
        }
        let finals = stop_rx.borrow().clone();
        say(&seen
            .borrow()
            .report(inc, Some(finals.as_deref().unwrap_or(&[]))));
        code
    });
    std::process::exit(code)
}

/// DEALER `k`: a numbered request at a steady rate, each reply checked against the order;
/// after the stop, no more requests, and a wait (bounded) for the outstanding replies.
async fn dealer(
    cfg: &Config,
    inc: u64,
    k: usize,
    endpoint: &str,
    seen: Shared,
    mut stop: Stop,
) -> zmq_async::Result<()> {
    let mut opts = cfg.socket_options();
    opts.routing_id = Some(Bytes::from(tally::routing_id(inc, k)));
    let mut s = DealerSocket::with_options(opts)?;
    s.connect(endpoint).await?;
    let body = zmq_benches::payload(cfg.size);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / cfg.req_rate));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut seq = 0u64;
    let mut deadline: Option<Instant> = None;
    loop {
        if deadline.is_some() && seen.borrow().settled(k, seq) {
            return Ok(());
        }
        tokio::select! {
            _ = tick.tick(), if deadline.is_none() => {
                let msg: Message = [tally::seq_frame(seq), body.clone()].into_iter().collect();
                match s.try_send(msg) {
                    Ok(()) => {
                        seq += 1;
                        seen.borrow_mut().queued(k, seq);
                    }
                    // No connection yet, or the pipe is full: the same number goes next tick.
                    Err(e) if e.is_would_block() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            r = s.recv() => {
                let reply = r?;
                seen.borrow_mut().reply(k, reply.first().map(|f| &f[..]));
            }
            r = stop.changed(), if deadline.is_none() => {
                if r.is_ok() {
                    deadline = Some(Instant::now() + DRAIN);
                }
            }
            _ = sleep_until(deadline) => return Ok(()),
        }
    }
}

/// SUB `k`: numbered publications on its topics, checked for gaps, duplicates and order;
/// after the stop, a wait (bounded) for the last publication of each topic.
async fn sub(
    cfg: &Config,
    k: usize,
    endpoint: &str,
    seen: Shared,
    mut stop: Stop,
) -> zmq_async::Result<()> {
    let mut s = SubSocket::with_options(cfg.socket_options())?;
    s.connect(endpoint).await?;
    for t in sub_topics(k, cfg.topics) {
        s.subscribe(tally::topic(t))?;
    }
    let mut deadline: Option<Instant> = None;
    loop {
        if deadline.is_some() {
            let finals = stop.borrow().clone().unwrap_or_default();
            if seen.borrow().sub_done(k, &finals) {
                return Ok(());
            }
        }
        tokio::select! {
            r = s.recv() => {
                let msg = r?;
                let (topic, seq) = (msg.get(0).map(|f| &f[..]), msg.get(1).map(|f| &f[..]));
                seen.borrow_mut().publication(k, topic, seq);
            }
            r = stop.changed(), if deadline.is_none() => {
                if r.is_ok() {
                    deadline = Some(Instant::now() + DRAIN);
                }
            }
            _ = sleep_until(deadline) => return Ok(()),
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
