//! The accounting shared by the server and its peer processes: a sequence tracker, and the
//! report line a peer process prints about itself.

/// Follows one numbered stream (a DEALER's replies, a ROUTER's requests from one DEALER, one
/// topic at one subscriber): counts what arrived, what was skipped over (a gap: numbers
/// missing between two that arrived, so lost on an ordered connection) and what came back
/// again or out of order (a number not above the highest seen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqTrack {
    /// The first number expected or seen; `None` until something arrives, when the stream
    /// may start anywhere (a subscriber joins a running publisher).
    pub first: Option<u64>,
    /// The number expected next (one above the highest seen).
    pub next: u64,
    /// Numbers that arrived in order (each counted once).
    pub received: u64,
    /// Numbers skipped over.
    pub gaps: u64,
    /// Numbers that were not above the highest seen (duplicates or reordering).
    pub dups: u64,
}

impl SeqTrack {
    /// A stream that must start at 0: a missing first number is a gap.
    pub fn from_zero() -> SeqTrack {
        SeqTrack {
            first: Some(0),
            ..SeqTrack::default()
        }
    }

    /// A stream that starts wherever its first number is.
    pub fn joining() -> SeqTrack {
        SeqTrack::default()
    }

    /// Takes in the number `seq`.
    pub fn observe(&mut self, seq: u64) {
        if self.first.is_none() {
            self.first = Some(seq);
            self.next = seq;
        }
        if seq < self.next {
            self.dups += 1;
            return;
        }
        self.gaps += seq - self.next;
        self.received += 1;
        self.next = seq + 1;
    }

    /// How many numbers lie between the first and the highest seen: what an ordered,
    /// lossless stream would have delivered so far.
    pub fn span(&self) -> u64 {
        self.first.map_or(0, |f| self.next - f)
    }
}

/// What one peer process (one incarnation) has seen since it started: cumulative, printed
/// ten times a second and once more (`fin`) after its drain at the end of the run. The server
/// keeps the last one, so a killed process is accounted up to its last report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// The incarnation (unique over the run).
    pub inc: u64,
    /// Requests the DEALERs queued (`try_send` accepted).
    pub sent: u64,
    /// Replies received in order.
    pub replied: u64,
    /// Replies skipped over (a later reply arrived first): lost.
    pub reply_gaps: u64,
    /// Replies received twice or out of order.
    pub reply_dups: u64,
    /// Publications the SUBs received in order.
    pub delivered: u64,
    /// Sum over subscribers and topics of `SeqTrack::span`.
    pub span: u64,
    /// Publications skipped over at a subscriber after its first one (HWM drops).
    pub sub_gaps: u64,
    /// Publications received twice or out of order.
    pub sub_dups: u64,
    /// Final report only: subscribed topics on which nothing arrived.
    pub silent_topics: u64,
    /// Final report only: publications after the last one received, up to the last published.
    pub tail_missing: u64,
    /// The final report: the DEALERs stopped and waited for their replies.
    pub fin: bool,
}

impl Report {
    const TAG: &'static str = "report";

    /// The line the peer prints.
    pub fn line(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {} {} {} {} {} {}",
            Self::TAG,
            self.inc,
            self.sent,
            self.replied,
            self.reply_gaps,
            self.reply_dups,
            self.delivered,
            self.span,
            self.sub_gaps,
            self.sub_dups,
            self.silent_topics,
            self.tail_missing,
            u8::from(self.fin)
        )
    }

    /// Parses a line printed by [`Report::line`].
    pub fn parse(line: &str) -> Option<Report> {
        let mut words = line.split_whitespace();
        if words.next()? != Self::TAG {
            return None;
        }
        let mut n = [0u64; 12];
        for slot in &mut n {
            *slot = words.next()?.parse().ok()?;
        }
        if words.next().is_some() || n[11] > 1 {
            return None;
        }
        Some(Report {
            inc: n[0],
            sent: n[1],
            replied: n[2],
            reply_gaps: n[3],
            reply_dups: n[4],
            delivered: n[5],
            span: n[6],
            sub_gaps: n[7],
            sub_dups: n[8],
            silent_topics: n[9],
            tail_missing: n[10],
            fin: n[11] == 1,
        })
    }
}

/// The line the server writes to a peer's stdin to end the run: the number of publications
/// on each topic (so the next would have been `counts[t]`).
pub fn stop_line(counts: &[u64]) -> String {
    let mut s = String::from("stop");
    for c in counts {
        s.push_str(&format!(" {c}"));
    }
    s
}

/// Parses [`stop_line`].
pub fn parse_stop(line: &str) -> Option<Vec<u64>> {
    let mut words = line.split_whitespace();
    if words.next()? != "stop" {
        return None;
    }
    words.map(|w| w.parse().ok()).collect()
}

/// The topic of publication stream `t` (fixed width, so no topic is a prefix of another).
pub fn topic(t: usize) -> String {
    format!("topic-{t:03}")
}

/// The stream number in a topic name.
pub fn topic_index(name: &[u8]) -> Option<usize> {
    std::str::from_utf8(name.strip_prefix(b"topic-")?)
        .ok()?
        .parse()
        .ok()
}

/// The routing id of DEALER `k` of incarnation `inc`.
pub fn routing_id(inc: u64, k: usize) -> String {
    format!("i{inc}d{k}")
}

/// The incarnation in a routing id made by [`routing_id`].
pub fn routing_inc(id: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(id.strip_prefix(b"i")?).ok()?;
    s.split_once('d')?.0.parse().ok()
}

/// A sequence number frame.
pub fn seq_frame(seq: u64) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(&seq.to_be_bytes())
}

/// The sequence number in a frame made by [`seq_frame`].
pub fn seq_of(frame: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(frame.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_track_counts_gaps_and_dups() {
        let mut t = SeqTrack::from_zero();
        for s in [0, 1, 3, 3, 2, 4] {
            t.observe(s);
        }
        assert_eq!((t.received, t.gaps, t.dups, t.span()), (4, 1, 2, 5));
        let mut j = SeqTrack::joining();
        assert_eq!(j.span(), 0);
        for s in [10, 11, 12] {
            j.observe(s);
        }
        assert_eq!((j.received, j.gaps, j.dups, j.span()), (3, 0, 0, 3));
        let mut late = SeqTrack::from_zero();
        late.observe(2);
        assert_eq!((late.received, late.gaps), (1, 2));
    }

    #[test]
    fn lines_round_trip() {
        let r = Report {
            inc: 7,
            sent: 1,
            replied: 2,
            reply_gaps: 3,
            reply_dups: 4,
            delivered: 5,
            span: 6,
            sub_gaps: 7,
            sub_dups: 8,
            silent_topics: 9,
            tail_missing: 10,
            fin: true,
        };
        assert_eq!(Report::parse(&r.line()), Some(r));
        assert_eq!(Report::parse("report 1 2"), None);
        assert_eq!(parse_stop(&stop_line(&[3, 0, 9])), Some(vec![3, 0, 9]));
        assert_eq!(topic_index(topic(12).as_bytes()), Some(12));
        assert_eq!(routing_inc(routing_id(42, 3).as_bytes()), Some(42));
        assert_eq!(seq_of(&seq_frame(1 << 40)), Some(1 << 40));
        assert_eq!(seq_of(b"short"), None);
    }
}
