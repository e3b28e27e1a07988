//! Reading fuzz input as a stream of small decisions, and writing such streams for seeds.

/// Longest topic a script can build (bounds memory: a trie node per byte).
pub const MAX_TOPIC: usize = 256 * 1024;

/// The longest topic scripts build in this process: [`MAX_TOPIC`], or less with
/// `ZMQ_FUZZ_MAX_TOPIC=<bytes>` (for shorter executions).
pub fn max_topic() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        std::env::var("ZMQ_FUZZ_MAX_TOPIC")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(MAX_TOPIC, |n: usize| n.min(MAX_TOPIC))
    })
}

/// How many topics a script remembers for reuse (nested and repeated topics).
const POOL: usize = 16;

/// A cursor over the fuzz input. Reads past the end give zeros (or fewer bytes), so every
/// input is valid and short inputs mean "default choices".
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
    /// Topics built so far, for reuse.
    pool: Vec<Vec<u8>>,
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input {
            data,
            pool: Vec::new(),
        }
    }

    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next byte's low bit.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }

    /// Up to `n` next bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    fn pooled(&mut self) -> Vec<u8> {
        let i = usize::from(self.u8());
        if self.pool.is_empty() {
            Vec::new()
        } else {
            self.pool[i % self.pool.len()].clone()
        }
    }

    /// A topic. The first byte `k` chooses how it is built (see [`TopicKind`]):
    ///
    /// | `k` | topic |
    /// |---|---|
    /// | `00..=3f` | `k & 0x1f` new bytes from the input (0 to 31) |
    /// | `40..=5f` | an earlier topic (next byte picks it; empty if none) |
    /// | `60..=7f` | an earlier topic extended by `k & 0x1f` new bytes (nested topics) |
    /// | `80..=9f` | a prefix of an earlier topic (next two bytes: its length) |
    /// | `a0..=ff` | an earlier topic extended by a byte (the next) repeated `(k - 0x9f) × 1024` times: 1 KiB to 96 KiB per step, so long topics grow quickly to [`max_topic`] |
    ///
    /// Every topic built joins the pool of earlier topics.
    pub fn topic(&mut self) -> Vec<u8> {
        let k = self.u8();
        let mut topic = match TopicKind::of(k) {
            TopicKind::New(n) => self.bytes(n).to_vec(),
            TopicKind::Earlier => self.pooled(),
            TopicKind::Extended(n) => {
                let mut t = self.pooled();
                t.extend_from_slice(self.bytes(n));
                t
            }
            TopicKind::Prefix => {
                let mut t = self.pooled();
                let n = usize::from(self.u16()) % (t.len() + 1);
                t.truncate(n);
                t
            }
            TopicKind::Long(n) => {
                let mut t = self.pooled();
                let fill = self.u8();
                t.resize(t.len() + n, fill);
                t
            }
        };
        topic.truncate(max_topic());
        if self.pool.len() == POOL {
            self.pool.remove(0);
        }
        self.pool.push(topic.clone());
        topic
    }
}

/// The ways [`Input::topic`] builds a topic, by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    /// `n` new bytes.
    New(usize),
    /// An earlier topic.
    Earlier,
    /// An earlier topic and `n` new bytes.
    Extended(usize),
    /// A prefix of an earlier topic.
    Prefix,
    /// An earlier topic and one byte repeated `n` times.
    Long(usize),
}

impl TopicKind {
    fn of(k: u8) -> Self {
        let n = usize::from(k & 0x1f);
        match k {
            0x00..=0x3f => TopicKind::New(n),
            0x40..=0x5f => TopicKind::Earlier,
            0x60..=0x7f => TopicKind::Extended(n),
            0x80..=0x9f => TopicKind::Prefix,
            _ => TopicKind::Long(usize::from(k - 0x9f) * 1024),
        }
    }

    /// The first byte that selects this kind (inverse of [`Input::topic`]'s choice).
    pub fn byte(self) -> u8 {
        match self {
            TopicKind::New(n) => n.min(0x1f) as u8,
            TopicKind::Earlier => 0x40,
            TopicKind::Extended(n) => 0x60 | n.min(0x1f) as u8,
            TopicKind::Prefix => 0x80,
            TopicKind::Long(n) => 0x9f + (n / 1024).clamp(1, 0x60) as u8,
        }
    }
}

/// Builds inputs for [`Input`] (used by the seed generator).
#[derive(Debug, Default, Clone)]
pub struct Writer {
    /// The bytes written so far.
    pub out: Vec<u8>,
}

impl Writer {
    /// An empty input.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one byte.
    pub fn u8(&mut self, b: u8) -> &mut Self {
        self.out.push(b);
        self
    }

    /// Appends a little-endian u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a new short topic (at most 31 bytes).
    pub fn topic(&mut self, topic: &[u8]) -> &mut Self {
        let n = topic.len().min(0x1f);
        self.u8(TopicKind::New(n).byte());
        self.out.extend_from_slice(&topic[..n]);
        self
    }

    /// Appends "earlier topic `i`".
    pub fn earlier(&mut self, i: u8) -> &mut Self {
        self.u8(TopicKind::Earlier.byte()).u8(i)
    }

    /// Appends "earlier topic `i` extended by `ext`" (at most 31 bytes).
    pub fn extended(&mut self, i: u8, ext: &[u8]) -> &mut Self {
        let n = ext.len().min(0x1f);
        self.u8(TopicKind::Extended(n).byte()).u8(i);
        self.out.extend_from_slice(&ext[..n]);
        self
    }

    /// Appends "earlier topic `i` extended by `kib` KiB of `fill`".
    pub fn long(&mut self, i: u8, kib: usize, fill: u8) -> &mut Self {
        self.u8(TopicKind::Long(kib * 1024).byte()).u8(i).u8(fill)
    }
}
