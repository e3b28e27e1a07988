//! Input helpers and the seed inputs of every target. `tests/seeds.rs` writes the seeds to
//! `seeds/` (with `PGM_FUZZ_WRITE_SEEDS=1`) and otherwise checks the committed files are
//! current.

/// A cursor over the fuzz input; reads past the end give zeros, so every input is valid.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
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
}

/// One seed: target name, file name, bytes.
pub type Seed = (&'static str, &'static str, Vec<u8>);

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// libzmq 4.3.4's packets as captured (docs/LIBZMQ-WIRE.md), one per type and option use.
pub const CAPTURED: [(&str, &str); 11] = [
    ("spm", "a68315b30000ac6cb7c6d1bc038a00000000000000000000ffffffff000100000a4d0001"),
    ("spm-fin", "a68315b300011e47b7c6d1bc038a00000000000e0000000000000006000100000a4d0001000400088e040000"),
    ("odata-hello", "a68315b3040068e0b7c6d1bc038a000900000000000000000000060068656c6c6f"),
    ("odata-multipart", "a68315b304007c05b7c6d1bc038a000f000000010000000000000601746f7069630500626f6479"),
    ("odata-batch", "a68315b304006213b7c6d1bc038a000e0000000600000000000003006d3003006d3103006d32"),
    ("rdata", "a68315b305007b05b7c6d1bc038a000f000000010000000000000601746f7069630500626f6479"),
    ("nak", "15b3a6830800b3a8b7c6d1bc038a000000000001000100000a4d000100010000efc00101"),
    ("ncf", "a68315b30a00b1a8b7c6d1bc038a000000000001000100000a4d000100010000efc00101"),
    ("spmr", "15b316b10c003a8eb7c6d1bc038a0000"),
    ("nak-list", "15b316b10803c15bb7c6d1bc038a000000000002000100000a4d000100010000efc001010004000c8208000000000003"),
    ("ncf-list", "16b115b30a03be5bb7c6d1bc038a000000000002000100000a4d000100010000efc001010004000c8208010000000003"),
];

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut seeds: Vec<Seed> = CAPTURED
        .iter()
        .map(|(name, h)| ("pgm_packet", *name, hex(h)))
        .collect();
    // pgm_receiver scripts: (op, args…) as documented in pgm_receiver.rs.
    let script = |name: &'static str, ops: &[u8]| ("pgm_receiver", name, ops.to_vec());
    seeds.push(script(
        "gap-nak-ncf-rdata",
        &[
            0x20, // config
            2, 0, 1, 0, 0, 0, // SPM: lead -1
            0, 0, 0, 0, // ODATA 0
            0, 0, 2, 0, // ODATA 2: gap at 1
            4, 60, 0, // 60 ms: NAK
            3, 0, 1, 0, // NCF 1
            1, 0, 1, 0, // RDATA 1
            6,
        ],
    ));
    seeds.push(script(
        "give-up-and-resume",
        &[
            0x00, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 4, 100, 0, 4, 0, 2, 4, 0, 4, 6, 0, 0,
            4, 0, 6,
        ],
    ));
    seeds.push(script(
        "wrap-and-two-sources",
        &[
            0x41, 2, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 150, 0, 0, 0, 5, 0, 4, 50, 0, 3, 1, 120, 2,
            121, 122, 1, 1, 120, 0, 6, 2, 1, 9, 140, 160, 0xff, 6,
        ],
    ));
    seeds
}
