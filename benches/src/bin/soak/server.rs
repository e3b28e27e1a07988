//! Server mode: our ROUTER and PUB, the peer processes, the kills, the books and the figures.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use zmq_async::{Error, Message, PubSocket, RouterSocket};
use zmq_benches::soak::tally::{self, Report, SeqTrack};
use zmq_benches::soak::Config;
use zmq_benches::{fail, rss_kib};

/// After the run, publishing goes on this long with no more kills, so the last peers started
/// have joined before the final counts are taken.
const SETTLE: Duration = Duration::from_secs(2);
/// How long the server waits for the peers' final reports (they drain for 15 s at most).
const DRAIN_WAIT: Duration = Duration::from_secs(30);
/// Publications are sent in batches this often.
const PUB_TICK: Duration = Duration::from_millis(10);

/// From a peer process's stdout reader thread.
enum Event {
    Line(u64, String),
    Closed(u64),
}

/// One running peer process.
struct Proc {
    inc: u64,
    child: Child,
    stdin: Option<ChildStdin>,
}

/// The peer processes, one slot each; kills what is left when dropped.
struct Fleet {
    /// This program, run again in peer mode.
    exe: std::path::PathBuf,
    /// `soak_libzmq_peer`, next to it (a program of its own, so that libzmq is not loaded
    /// into the server whose memory is measured).
    libzmq_exe: std::path::PathBuf,
    args: Vec<String>,
    /// Slots below this run libzmq peers.
    libzmq_slots: usize,
    slots: Vec<Option<Proc>>,
    events: mpsc::UnboundedSender<Event>,
    next_inc: u64,
}

impl Fleet {
    /// Starts a new incarnation in `slot` and returns its number.
    fn spawn(&mut self, slot: usize) -> std::io::Result<u64> {
        let inc = self.next_inc;
        self.next_inc += 1;
        let exe = if slot < self.libzmq_slots {
            &self.libzmq_exe
        } else {
            &self.exe
        };
        let mut child = Command::new(exe)
            .args(&self.args)
            .args(["--peer-inc", &inc.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        if let Some(out) = child.stdout.take() {
            let tx = self.events.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(Event::Line(inc, line)).is_err() {
                        return;
                    }
                }
                let _ = tx.send(Event::Closed(inc));
            });
        }
        self.slots[slot] = Some(Proc { inc, child, stdin });
        Ok(inc)
    }

    /// SIGKILLs the process in `slot` and reaps it; returns its incarnation.
    fn kill(&mut self, slot: usize) -> Option<u64> {
        let mut p = self.slots[slot].take()?;
        let _ = p.child.kill();
        let _ = p.child.wait();
        Some(p.inc)
    }

    /// Tells every process the run is over.
    fn stop_all(&mut self, line: &str) {
        for p in self.slots.iter_mut().flatten() {
            if let Some(stdin) = p.stdin.as_mut() {
                let _ = writeln!(stdin, "{line}").and_then(|()| stdin.flush());
            }
        }
    }

    /// Reaps the processes that have exited; true when none is left.
    fn reap(&mut self) -> bool {
        for slot in &mut self.slots {
            if let Some(p) = slot {
                if matches!(p.child.try_wait(), Ok(Some(_)) | Err(_)) {
                    *slot = None;
                }
            }
        }
        self.slots.iter().all(Option::is_none)
    }

    /// Kills every process left; returns their incarnations.
    fn kill_all(&mut self) -> Vec<u64> {
        (0..self.slots.len())
            .filter_map(|slot| self.kill(slot))
            .collect()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// What the ROUTER did for one incarnation.
#[derive(Debug, Default, Clone, Copy)]
struct RouterTally {
    received: u64,
    replied: u64,
    /// `EHOSTUNREACH`: the peer was gone when its reply was routed.
    gone: u64,
    /// `EAGAIN`: the peer's pipe was full (HWM).
    full: u64,
}

/// One peer process's life, as far as the server knows it.
#[derive(Debug, Default)]
struct Inc {
    killed: bool,
    /// Killed by the server at the end because it had not finished.
    hung: bool,
    /// Its stdout reached its end: every report it made has been read.
    closed: bool,
    report: Report,
    router: RouterTally,
}

impl Inc {
    /// Requests known to be sent: the last report's count, or more if the ROUTER saw more.
    fn known_sent(&self) -> u64 {
        self.report.sent.max(self.router.received)
    }
}

/// Open file descriptors of this process.
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// One line of the figures over time.
#[derive(Debug, Clone, Copy)]
struct Sample {
    secs: u64,
    rss_kib: u64,
    fds: u64,
    conns: usize,
    kills: u64,
    sent: u64,
    answered: u64,
    published: u64,
    delivered: u64,
}

/// The sums over all incarnations.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    incs: u64,
    sent: u64,
    answered: u64,
    reply_gaps: u64,
    reply_dups: u64,
    /// Surviving incarnations' requests with no reply after the drain.
    lost: u64,
    survivors: u64,
    /// Surviving incarnations with no final report.
    unfinished: u64,
    in_flight_at_kill: u64,
    /// Of those: answered by the ROUTER, the reply not in the peer's last report.
    kill_answered: u64,
    /// Of those: reply routed to a peer already gone.
    kill_gone: u64,
    /// Of those: reply dropped at a full pipe.
    kill_full: u64,
    /// Of those: not (yet) read by the ROUTER.
    kill_unread: u64,
    router: RouterTally,
    delivered: u64,
    span: u64,
    sub_gaps: u64,
    sub_dups: u64,
    tail_missing: u64,
    silent_topics: u64,
}

/// The server's books.
struct Books {
    incs: BTreeMap<u64, Inc>,
    /// Requests per routing id, in order (the ROUTER reads each DEALER's in order).
    ids: HashMap<Bytes, (u64, SeqTrack)>,
    /// Requests from routing ids that are not ours, or with no sequence number.
    foreign: u64,
    published: Vec<u64>,
    pub_errors: u64,
    kills: u64,
    bad_lines: u64,
}

impl Books {
    fn request(&mut self, router: &mut RouterSocket, msg: Message) {
        let Some(id) = msg.first().cloned() else {
            self.foreign += 1;
            return;
        };
        let seq = msg.get(1).and_then(|f| tally::seq_of(f));
        // A copy: the routing id the ROUTER hands out can be a slice of the buffer the
        // handshake was read into, and keeping that slice would keep the whole buffer.
        let key = Bytes::copy_from_slice(&id);
        let (inc, track) = self.ids.entry(key).or_insert_with(|| {
            (
                tally::routing_inc(&id).unwrap_or(u64::MAX),
                SeqTrack::from_zero(),
            )
        });
        match (seq, self.incs.get_mut(inc)) {
            (Some(n), Some(entry)) => {
                track.observe(n);
                entry.router.received += 1;
            }
            _ => {
                self.foreign += 1;
                return;
            }
        }
        let inc = *inc;
        let outcome = match router.try_send(msg) {
            Ok(()) => Ok(()),
            Err(e) => Err(e.into_parts().0),
        };
        let Some(entry) = self.incs.get_mut(&inc) else {
            return;
        };
        match outcome {
            Ok(()) => entry.router.replied += 1,
            Err(Error::HostUnreachable) => entry.router.gone += 1,
            Err(Error::WouldBlock) => entry.router.full += 1,
            Err(e) => fail(format_args!("ROUTER send: {e}")),
        }
    }

    fn event(&mut self, ev: Event) {
        match ev {
            Event::Line(inc, line) => match (Report::parse(&line), self.incs.get_mut(&inc)) {
                (Some(r), Some(entry)) if r.inc == inc => entry.report = r,
                _ => {
                    self.bad_lines += 1;
                    eprintln!("soak: peer {inc} said: {line}");
                }
            },
            Event::Closed(inc) => {
                if let Some(entry) = self.incs.get_mut(&inc) {
                    entry.closed = true;
                }
            }
        }
    }

    fn publish(&mut self, publisher: &mut PubSocket, due: u64, body: &Bytes) {
        let topics = self.published.len() as u64;
        let mut total: u64 = self.published.iter().sum();
        while total < due {
            let t = (total % topics) as usize;
            let msg: Message = [
                Bytes::from(tally::topic(t)),
                tally::seq_frame(self.published[t]),
                body.clone(),
            ]
            .into_iter()
            .collect();
            match publisher.try_send(msg) {
                Ok(()) => self.published[t] += 1,
                Err(_) => {
                    self.pub_errors += 1;
                    return;
                }
            }
            total += 1;
        }
    }

    fn totals(&self) -> Totals {
        let mut t = Totals {
            incs: self.incs.len() as u64,
            ..Totals::default()
        };
        for inc in self.incs.values() {
            let r = &inc.report;
            t.sent += inc.known_sent();
            t.answered += r.replied;
            t.reply_gaps += r.reply_gaps;
            t.reply_dups += r.reply_dups;
            t.delivered += r.delivered;
            t.span += r.span;
            t.sub_gaps += r.sub_gaps;
            t.sub_dups += r.sub_dups;
            t.router.received += inc.router.received;
            t.router.replied += inc.router.replied;
            t.router.gone += inc.router.gone;
            t.router.full += inc.router.full;
            if inc.killed {
                t.in_flight_at_kill += inc.known_sent() - r.replied.min(inc.known_sent());
                t.kill_answered += inc.router.replied.saturating_sub(r.replied);
                t.kill_gone += inc.router.gone;
                t.kill_full += inc.router.full;
                t.kill_unread += inc.known_sent() - inc.router.received;
            } else {
                t.survivors += 1;
                if !r.fin || inc.hung {
                    t.unfinished += 1;
                }
                // Everything it sent is in its final report; what has no reply is lost.
                t.lost += r.sent.saturating_sub(r.replied);
                t.lost += inc.router.received.saturating_sub(r.sent);
                t.tail_missing += r.tail_missing;
                t.silent_topics += r.silent_topics;
            }
        }
        t
    }

    /// Request gaps and duplicates seen by the ROUTER, over all routing ids.
    fn router_order(&self) -> (u64, u64) {
        self.ids
            .values()
            .fold((0, 0), |(g, d), (_, t)| (g + t.gaps, d + t.dups))
    }
}

fn sample(books: &Books, secs: u64, conns: usize) -> Sample {
    let t = books.totals();
    Sample {
        secs,
        rss_kib: rss_kib(),
        fds: open_fds(),
        conns,
        kills: books.kills,
        sent: t.sent,
        answered: t.answered,
        published: books.published.iter().sum(),
        delivered: t.delivered,
    }
}

fn print_sample(s: &Sample) {
    println!(
        "t={:>4}s rss={:>6} KiB fds={:>4} conns={:>3} kills={:>4} req sent={} answered={} pub published={} delivered={}",
        s.secs, s.rss_kib, s.fds, s.conns, s.kills, s.sent, s.answered, s.published, s.delivered
    );
}

/// A tiny deterministic generator (xorshift64*) for the choice of victims.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// Runs the soak; returns the exit status.
pub fn run(cfg: &Config) -> i32 {
    zmq_benches::runtime(false).block_on(serve(cfg))
}

async fn serve(cfg: &Config) -> i32 {
    let mut ropts = cfg.socket_options();
    ropts.router_mandatory = true;
    ropts.router_handover = true;
    let mut router = RouterSocket::with_options(ropts).unwrap_or_else(|e| fail(e));
    let router_ep = router
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap_or_else(|e| fail(format_args!("ROUTER bind: {e}")));
    let mut publisher = PubSocket::with_options(cfg.socket_options()).unwrap_or_else(|e| fail(e));
    let pub_ep = publisher
        .bind("tcp://127.0.0.1:0")
        .await
        .unwrap_or_else(|e| fail(format_args!("PUB bind: {e}")));
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(format_args!("current_exe: {e}")));
    let libzmq_exe = exe.with_file_name("soak_libzmq_peer");
    if cfg.libzmq_procs > 0 && !libzmq_exe.exists() {
        fail(format_args!(
            "--libzmq-procs: {} is missing; build it with \
             cargo build --release -p zmq-benches --bin soak_libzmq_peer",
            libzmq_exe.display()
        ));
    }
    println!(
        "soak: {} s, {} processes x ({} DEALER + {} SUB), kill one every {} s (seed {}), \
         {} req/s per DEALER, {} pub/s on {} topics, {} B, heartbeat 1 s / ttl 3 s / timeout 3 s, \
         {} processes with libzmq peers",
        cfg.secs,
        cfg.procs,
        cfg.dealers,
        cfg.subs,
        cfg.kill_every,
        cfg.seed,
        cfg.req_rate,
        cfg.pub_rate,
        cfg.topics,
        cfg.size,
        cfg.libzmq_procs.min(cfg.procs)
    );
    println!("ROUTER {router_ep}, PUB {pub_ep}");
    let fds_before = open_fds();
    let rss_before = rss_kib();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut args = cfg.peer_args();
    args.extend(["--router".into(), router_ep, "--pub".into(), pub_ep]);
    let mut fleet = Fleet {
        exe,
        libzmq_exe,
        args,
        libzmq_slots: cfg.libzmq_procs,
        slots: (0..cfg.procs).map(|_| None).collect(),
        events: tx,
        next_inc: 0,
    };
    let mut books = Books {
        incs: BTreeMap::new(),
        ids: HashMap::new(),
        foreign: 0,
        published: vec![0; cfg.topics],
        pub_errors: 0,
        kills: 0,
        bad_lines: 0,
    };
    for slot in 0..cfg.procs {
        match fleet.spawn(slot) {
            Ok(inc) => {
                books.incs.insert(inc, Inc::default());
            }
            Err(e) => fail(format_args!("spawn: {e}")),
        }
    }

    let body = zmq_benches::payload(cfg.size);
    let mut rng = Rng(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let start = Instant::now();
    let run_end = start + Duration::from_secs(cfg.secs);
    let settle_end = run_end + SETTLE;
    let drain_end = settle_end + DRAIN_WAIT;
    let mut pub_tick = tokio::time::interval(PUB_TICK);
    pub_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let kill_period = Duration::from_secs_f64(if cfg.kill_every > 0.0 {
        cfg.kill_every
    } else {
        1e9
    });
    let mut kill_tick = tokio::time::interval_at(start + kill_period, kill_period);
    kill_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let sample_period = Duration::from_secs(cfg.sample);
    let mut sample_tick = tokio::time::interval_at(start + sample_period, sample_period);
    let mut samples = Vec::new();
    let mut stopped = false;

    loop {
        let now = Instant::now();
        if !stopped && now >= settle_end {
            fleet.stop_all(&tally::stop_line(&books.published));
            stopped = true;
            println!(
                "t={:>4}s stop: publishing ended, peers draining",
                start.elapsed().as_secs()
            );
        }
        if stopped && (books.incs.values().all(|i| i.closed) || now >= drain_end) {
            break;
        }
        let wake = if stopped { drain_end } else { settle_end };
        tokio::select! {
            r = router.recv() => match r {
                Ok(msg) => books.request(&mut router, msg),
                Err(e) => fail(format_args!("ROUTER recv: {e}")),
            },
            _ = pub_tick.tick(), if !stopped => {
                let due = (start.elapsed().as_secs_f64() * cfg.pub_rate) as u64;
                books.publish(&mut publisher, due, &body);
            }
            _ = kill_tick.tick(), if cfg.kill_every > 0.0 && now < run_end => {
                let slot = rng.below(cfg.procs);
                if let Some(inc) = fleet.kill(slot) {
                    if let Some(entry) = books.incs.get_mut(&inc) {
                        entry.killed = true;
                    }
                    books.kills += 1;
                }
                match fleet.spawn(slot) {
                    Ok(inc) => {
                        books.incs.insert(inc, Inc::default());
                    }
                    Err(e) => fail(format_args!("spawn: {e}")),
                }
            }
            _ = sample_tick.tick() => {
                let conns = router.peer_count() + publisher.peer_count();
                let s = sample(&books, start.elapsed().as_secs(), conns);
                print_sample(&s);
                samples.push(s);
            }
            Some(ev) = rx.recv() => books.event(ev),
            _ = tokio::time::sleep_until(wake) => {}
        }
    }

    // Whatever has not exited by now is hung: kill it and say so.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !fleet.reap() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for inc in fleet.kill_all() {
        if let Some(entry) = books.incs.get_mut(&inc) {
            entry.hung = true;
        }
    }
    // Read what the last reader threads still hold.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !books.incs.values().all(|i| i.closed) && Instant::now() < deadline {
        if let Ok(Some(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            books.event(ev);
        }
    }
    // Every peer is gone: the server's connections must all close.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conns = router.peer_count() + publisher.peer_count();
    while conns > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        conns = router.peer_count() + publisher.peer_count();
    }
    let last = sample(&books, start.elapsed().as_secs(), conns);
    print_sample(&last);
    samples.push(last);

    let t = books.totals();
    let (req_gaps, req_dups) = books.router_order();
    let failures = t.lost
        + t.unfinished
        + t.reply_gaps
        + t.reply_dups
        + req_gaps
        + req_dups
        + t.sub_dups
        + books.foreign
        + books.bad_lines;
    print_summary(
        cfg,
        &books,
        &t,
        (req_gaps, req_dups),
        &samples,
        (rss_before, fds_before),
    );
    if failures > 0 {
        println!("FAILED: something promised was lost, duplicated or reordered (see above)");
        1
    } else {
        0
    }
}

fn print_summary(
    cfg: &Config,
    books: &Books,
    t: &Totals,
    (req_gaps, req_dups): (u64, u64),
    samples: &[Sample],
    (rss_before, fds_before): (u64, u64),
) {
    let published: u64 = books.published.iter().sum();
    let pct = |a: u64, b: u64| {
        if b == 0 {
            100.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let rss = samples.iter().map(|s| s.rss_kib);
    let fds = samples.iter().map(|s| s.fds);
    let (rss_min, rss_max) = (rss.clone().min().unwrap_or(0), rss.max().unwrap_or(0));
    let (fds_min, fds_max) = (fds.clone().min().unwrap_or(0), fds.max().unwrap_or(0));
    let last = samples.last().copied();
    let mib = |k: u64| k as f64 / 1024.0;
    println!();
    println!("| soak | |");
    println!("|---|---|");
    println!(
        "| run | {} s, then {} s settling and the drain |",
        cfg.secs,
        SETTLE.as_secs()
    );
    println!(
        "| peers | {} over tcp: {} DEALER + {} SUB, in {} processes ({} of them libzmq's) |",
        cfg.procs * (cfg.dealers + cfg.subs),
        cfg.procs * cfg.dealers,
        cfg.procs * cfg.subs,
        cfg.procs,
        cfg.libzmq_procs.min(cfg.procs)
    );
    if cfg.kill_every > 0.0 {
        println!(
            "| kills | {} processes SIGKILLed and restarted ({} peers each), one every {} s; {} incarnations in all |",
            books.kills,
            cfg.dealers + cfg.subs,
            cfg.kill_every,
            t.incs
        );
    } else {
        println!("| kills | none |");
    }
    println!("| heartbeats | PING every 1 s, TTL 3 s, timeout 3 s |");
    println!(
        "| requests sent / answered | {} / {} ({} req/s per DEALER, {} B) |",
        t.sent, t.answered, cfg.req_rate, cfg.size
    );
    println!(
        "| **requests lost** (surviving peers, after the drain) | **{}** ({} surviving processes, {} without a final report) |",
        t.lost, t.survivors, t.unfinished
    );
    println!(
        "| requests in flight at kill (neither lost nor delivered) | {} (answered, reply unreported: {}; reply to a peer gone: {}; reply dropped at HWM: {}; not read by the ROUTER: {}) |",
        t.in_flight_at_kill, t.kill_answered, t.kill_gone, t.kill_full, t.kill_unread
    );
    println!(
        "| ROUTER received / replied / peer gone / peer full | {} / {} / {} / {} |",
        t.router.received, t.router.replied, t.router.gone, t.router.full
    );
    println!(
        "| request gaps / dups at the ROUTER; reply gaps / dups at the DEALERs | {req_gaps} / {req_dups}; {} / {} |",
        t.reply_gaps, t.reply_dups
    );
    println!(
        "| published / delivered | {} / {} ({} pub/s on {} topics, each SUB on 2) |",
        published, t.delivered, cfg.pub_rate, cfg.topics
    );
    println!(
        "| delivered within the subscribers' spans | {} of {} ({:.4} %); gaps (HWM drops) {} |",
        t.delivered,
        t.span,
        pct(t.delivered, t.span),
        t.sub_gaps
    );
    println!("| duplicated or reordered publications | {} |", t.sub_dups);
    println!(
        "| surviving SUBs at the end: publications missing after their last / topics silent | {} / {} |",
        t.tail_missing, t.silent_topics
    );
    if let Some(last) = last {
        println!(
            "| server RSS: before peers / min / max / final | {:.1} / {:.1} / {:.1} / {:.1} MiB |",
            mib(rss_before),
            mib(rss_min),
            mib(rss_max),
            mib(last.rss_kib)
        );
        println!(
            "| server open fds: before peers / min / max / final | {} / {} / {} / {} |",
            fds_before, fds_min, fds_max, last.fds
        );
        println!("| server connections at the end | {} |", last.conns);
    }
    if books.foreign + books.bad_lines + books.pub_errors > 0 {
        println!(
            "| unexpected: foreign requests / bad report lines / PUB send errors | {} / {} / {} |",
            books.foreign, books.bad_lines, books.pub_errors
        );
    }
    println!();
    println!("| t (s) | RSS (MiB) | fds | connections | kills |");
    println!("|---|---|---|---|---|");
    let stride = samples.len().div_ceil(12).max(1);
    for (i, s) in samples.iter().enumerate() {
        if i % stride == 0 || i + 1 == samples.len() {
            println!(
                "| {} | {:.1} | {} | {} | {} |",
                s.secs,
                mib(s.rss_kib),
                s.fds,
                s.conns,
                s.kills
            );
        }
    }
}
