//! The soak benchmark's shared parts (`soak` and `soak_libzmq_peer`): the configuration,
//! the accounting, and what a peer process says to the server and hears from it.
//!
//! ```
//! use zmq_benches::soak::tally::SeqTrack;
//! let mut replies = SeqTrack::from_zero();
//! for seq in [0, 1, 3] {
//!     replies.observe(seq);
//! }
//! assert_eq!((replies.received, replies.gaps), (3, 1));
//! ```

pub mod tally;

use std::io::{BufRead, Write};
use std::time::Duration;

use zmq_async::SocketOptions;

use tally::{Report, SeqTrack};

/// The run's parameters, as the server and its peer processes read them from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// Length of the run before the drain, in seconds.
    pub secs: u64,
    /// Peers in all (DEALERs + SUBs).
    pub peers: usize,
    /// Peer processes.
    pub procs: usize,
    /// DEALERs per process.
    pub dealers: usize,
    /// SUBs per process.
    pub subs: usize,
    /// Seconds between kills (0: no kills).
    pub kill_every: f64,
    /// Seed of the choice of the process to kill.
    pub seed: u64,
    /// Requests per second per DEALER.
    pub req_rate: f64,
    /// Publications per second in all.
    pub pub_rate: f64,
    /// Topics.
    pub topics: usize,
    /// Payload bytes of each request and publication.
    pub size: usize,
    /// Seconds between samples.
    pub sample: u64,
    /// Peer processes (the first ones) with libzmq's sockets.
    pub libzmq_procs: usize,
}

impl Config {
    /// The options of every socket of the soak: heartbeats on (1 s / TTL 3 s / 3 s), and
    /// the default HWMs (1000).
    pub fn socket_options(&self) -> SocketOptions {
        let mut o = SocketOptions::default();
        o.heartbeat_ivl = Some(Duration::from_secs(1));
        o.heartbeat_ttl = Some(Duration::from_secs(3));
        o.heartbeat_timeout = Some(Duration::from_secs(3));
        o
    }

    /// The arguments that make a peer process run with this configuration.
    pub fn peer_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (k, val) in [
            ("dealers", self.dealers.to_string()),
            ("subs", self.subs.to_string()),
            ("req-rate", self.req_rate.to_string()),
            ("topics", self.topics.to_string()),
            ("size", self.size.to_string()),
        ] {
            v.push(format!("--{k}"));
            v.push(val);
        }
        v
    }
}

/// `--name value` pairs from the command line.
pub struct Flags(Vec<(String, String)>);

impl Flags {
    /// Reads `std::env::args()`; exits with the usage on a malformed line.
    pub fn parse() -> Flags {
        let mut args = std::env::args().skip(1);
        let mut v = Vec::new();
        while let Some(a) = args.next() {
            let Some(name) = a.strip_prefix("--") else {
                usage(&format!("unexpected argument {a}"));
            };
            let Some(value) = args.next() else {
                usage(&format!("--{name} needs a value"));
            };
            v.push((name.to_owned(), value));
        }
        Flags(v)
    }

    /// Removes `--name` and returns its value (or `default`); exits if it does not parse.
    pub fn take<T: std::str::FromStr>(&mut self, name: &str, default: T) -> T {
        match self.0.iter().position(|(n, _)| n == name) {
            None => default,
            Some(i) => {
                let (_, value) = self.0.remove(i);
                value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("--{name}: not a valid value: {value}")))
            }
        }
    }

    /// Removes `--name` and returns its value as given.
    pub fn take_str(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.remove(i).1)
    }

    /// Exits with the usage if an option was not taken.
    pub fn finish(self) {
        if let Some((n, _)) = self.0.first() {
            usage(&format!("unknown option --{n}"));
        }
    }
}

/// Prints `msg` and the usage, and exits with status 2.
pub fn usage(msg: &str) -> ! {
    eprintln!("soak: {msg}");
    eprintln!(
        "usage: soak [--secs 600] [--peers 100] [--procs 10] [--kill-every 3] [--seed 1] \
         [--req-rate 20] [--pub-rate 200] [--topics 4] [--size 64] [--sample 10] \
         [--libzmq-procs 0]"
    );
    std::process::exit(2)
}

impl Config {
    /// The configuration in `f` (the defaults for what is missing), checked; exits with the
    /// usage if it makes no sense.
    pub fn from_flags(f: &mut Flags) -> Config {
        let peers: usize = f.take("peers", 100);
        let procs: usize = f.take("procs", 10);
        let per_proc = peers / procs.max(1);
        let mut cfg = Config {
            secs: f.take("secs", 600),
            peers,
            procs,
            dealers: per_proc / 2,
            subs: per_proc - per_proc / 2,
            kill_every: f.take("kill-every", 3.0),
            seed: f.take("seed", 1),
            req_rate: f.take("req-rate", 20.0),
            pub_rate: f.take("pub-rate", 200.0),
            topics: f.take("topics", 4),
            size: f.take("size", 64),
            sample: f.take("sample", 10),
            libzmq_procs: f.take("libzmq-procs", 0),
        };
        cfg.dealers = f.take("dealers", cfg.dealers);
        cfg.subs = f.take("subs", cfg.subs);
        if cfg.procs == 0 || cfg.dealers + cfg.subs == 0 {
            usage("need at least one process with at least one peer");
        }
        if cfg.topics == 0 || cfg.topics > 999 || cfg.req_rate <= 0.0 || cfg.pub_rate <= 0.0 {
            usage("need 1 to 999 topics and positive rates");
        }
        if cfg.sample == 0 {
            usage("--sample must be at least 1");
        }
        cfg
    }
}

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
