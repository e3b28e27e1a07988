//! Peer mode: one process holding a few DEALERs and SUBs, reporting on stdout, taking its
//! stop (or the server's death: end of stdin) on stdin.

use std::cell::RefCell;
use std::io::{BufRead, Write};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use zmq_async::{DealerSocket, Message, SubSocket};

use crate::tally::{self, Report, SeqTrack};
use crate::Config;

/// How long, after the stop, the DEALERs wait for their outstanding replies and the SUBs for
/// the last publications.
pub const DRAIN: Duration = Duration::from_secs(15);
/// How often the peer reports. A kill loses what happened since the last report (those
/// requests count as in flight at kill), so this is short.
pub const REPORT_EVERY: Duration = Duration::from_millis(100);

/// What the peer's sockets have seen, shared by its tasks (ours: one thread, no await
/// while borrowed; libzmq's: a thread per socket, behind a mutex).
#[derive(Default)]
pub struct Seen {
    /// Requests queued, per DEALER.
    sent: Vec<u64>,
    /// Replies, per DEALER.
    replies: Vec<SeqTrack>,
    /// Per SUB, per subscribed topic: (topic, stream).
    subs: Vec<Vec<(usize, SeqTrack)>>,
}

impl Seen {
    /// Nothing seen yet by `cfg.dealers` DEALERs and `cfg.subs` SUBs.
    pub fn new(cfg: &Config) -> Seen {
        Seen {
            sent: vec![0; cfg.dealers],
            replies: vec![SeqTrack::from_zero(); cfg.dealers],
            subs: (0..cfg.subs)
                .map(|k| {
                    sub_topics(k, cfg.topics)
                        .into_iter()
                        .map(|t| (t, SeqTrack::joining()))
                        .collect()
                })
                .collect(),
        }
    }

    /// DEALER `k` has queued `count` requests.
    pub fn queued(&mut self, k: usize, count: u64) {
        self.sent[k] = count;
    }

    /// True when DEALER `k` has had (or skipped over) the reply to each of its `count`
    /// requests.
    pub fn settled(&self, k: usize, count: u64) -> bool {
        self.replies[k].next >= count
    }

    /// DEALER `k` got a reply whose first frame is `first`.
    pub fn reply(&mut self, k: usize, first: Option<&[u8]>) {
        match first.and_then(tally::seq_of) {
            Some(n) => self.replies[k].observe(n),
            // Not ours: count it as out of order, which fails the run.
            None => self.replies[k].dups += 1,
        }
    }

    /// SUB `k` got a publication with these topic and sequence frames.
    pub fn publication(&mut self, k: usize, topic: Option<&[u8]>, seq: Option<&[u8]>) {
        let topic = topic.and_then(tally::topic_index);
        let stream = topic.and_then(|t| self.subs[k].iter_mut().find(|(x, _)| *x == t));
        match (stream, seq.and_then(tally::seq_of)) {
            (Some((_, track)), Some(n)) => track.observe(n),
            // A topic we did not subscribe to, or garbage: fails the run.
            _ => self.subs[k][0].1.dups += 1,
        }
    }

    /// True once SUB `k` has the last publication of each of its topics, given the number
    /// published on each (`finals`).
    pub fn sub_done(&self, k: usize, finals: &[u64]) -> bool {
        self.subs[k].iter().all(|(t, track)| {
            let published = finals.get(*t).copied().unwrap_or(0);
            published == 0 || (track.first.is_some() && track.next >= published)
        })
    }

    /// The report of incarnation `inc`; the final one once the run's `finals` are known.
    pub fn report(&self, inc: u64, finals: Option<&[u64]>) -> Report {
        let mut r = Report {
            inc,
            sent: self.sent.iter().sum(),
            fin: finals.is_some(),
            ..Report::default()
        };
        for t in &self.replies {
            r.replied += t.received;
            r.reply_gaps += t.gaps;
            r.reply_dups += t.dups;
        }
        for (topic, t) in self.subs.iter().flatten() {
            r.delivered += t.received;
            r.span += t.span();
            r.sub_gaps += t.gaps;
            r.sub_dups += t.dups;
            if let Some(finals) = finals {
                let published = finals.get(*topic).copied().unwrap_or(0);
                if t.first.is_none() {
                    r.silent_topics += u64::from(published > 0);
                } else {
                    r.tail_missing += published.saturating_sub(t.next);
                }
            }
        }
        r
    }
}

type Shared = Rc<RefCell<Seen>>;
type Stop = watch::Receiver<Option<Vec<u64>>>;

/// Reads the server's lines on stdin: `on_stop` gets the stop line's counts; the end of
/// stdin (the server is gone, killed or finished) ends this process.
pub fn watch_stdin(on_stop: impl Fn(Vec<u64>) + Send + 'static) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Some(counts) = tally::parse_stop(&line) {
                on_stop(counts);
            }
        }
        std::process::exit(2);
    });
}

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

/// Prints a report line; a server that stopped reading is gone, and so are we.
pub fn say(r: &Report) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", r.line())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(2);
    }
}

/// The topics SUB `k` subscribes to: two neighbours, so every topic has subscribers and
/// each subscriber filters.
pub fn sub_topics(k: usize, topics: usize) -> Vec<usize> {
    let mut v = vec![k % topics];
    if topics > 1 {
        v.push((k + 1) % topics);
    }
    v
}

/// DEALER `k`: a numbered request at a steady rate, each reply checked against the order;
/// after the stop, no more requests, and a wait (bounded) for the outstanding replies.
async fn dealer(
    cfg: &crate::Config,
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
    cfg: &crate::Config,
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
