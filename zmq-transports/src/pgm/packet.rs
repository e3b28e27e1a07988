//! PGM packets (RFC 3208) as OpenPGM puts them on the wire: typed parsing and encoding of
//! SPM, ODATA, RDATA, NAK, NCF and SPMR, their option extensions, and the checksum.
//!
//! Parsing is strict and lossless: [`Packet::parse`] accepts exactly the packets
//! [`Packet::encode`] can reproduce byte for byte (checksum included), so
//! `encode(parse(bytes)) == bytes` for every packet that parses. A packet with a bad checksum,
//! an unknown type, a truncated body, malformed options or trailing bytes is an error, never a
//! panic; nothing is allocated beyond the packet's own length.
//!
//! Layout (all fields big-endian):
//!
//! ```text
//! common header (16): sport(2) dport(2) type(1) options(1) checksum(2) gsi(6) tsdu_length(2)
//! SPM:        spm_sqn(4) trail(4) lead(4) nla_afi(2) reserved(2) nla(4|16) [options]
//! ODATA/RDATA: sqn(4) trail(4) [options] tsdu
//! NAK/NCF:    sqn(4) src_afi(2) reserved(2) src_nla(4|16) grp_afi(2) reserved(2) grp_nla(4|16) [options]
//! SPMR:       [options]
//! options:    OPT_LENGTH = 00 04 total(2), then options: type|END(1) length(1) flags(2) body
//! ```

use bytes::{BufMut, Bytes, BytesMut};

/// Length of the common PGM header.
pub const HEADER_LEN: usize = 16;
/// Header `options` bit: option extensions follow the type-specific header.
pub const OPT_PRESENT: u8 = 0x01;
/// Header `options` bit: the options are network-significant (OpenPGM sets it on NAK/NCF
/// carrying OPT_NAK_LIST).
pub const OPT_NETWORK: u8 = 0x02;
/// Option type: OPT_LENGTH (always first, derived on encode).
pub const OPT_LENGTH: u8 = 0x00;
/// Option type: OPT_FRAGMENT.
pub const OPT_FRAGMENT: u8 = 0x01;
/// Option type: OPT_NAK_LIST.
pub const OPT_NAK_LIST: u8 = 0x02;
/// Option type: OPT_SYN.
pub const OPT_SYN: u8 = 0x0d;
/// Option type: OPT_FIN.
pub const OPT_FIN: u8 = 0x0e;
/// Option type bit marking the last option.
pub const OPT_END: u8 = 0x80;
/// Most sequence numbers an OPT_NAK_LIST carries (besides the NAK's own: 63 in all).
pub const MAX_NAK_LIST: usize = 62;

/// Address family indicator for IPv4 (RFC 1700), as in an NLA.
const AFI_IP: u16 = 1;
/// Address family indicator for IPv6.
const AFI_IP6: u16 = 2;

/// Why a datagram is not a PGM packet we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// Shorter than its headers say.
    #[error("truncated PGM packet")]
    Truncated,
    /// The checksum does not match the contents.
    #[error("PGM checksum mismatch: carried {carried:#06x}, computed {computed:#06x}")]
    Checksum {
        /// The checksum field.
        carried: u16,
        /// The checksum of the contents.
        computed: u16,
    },
    /// ODATA or RDATA without a checksum (OpenPGM requires one for data).
    #[error("PGM data packet without checksum")]
    MissingChecksum,
    /// A packet type this implementation does not handle (POLL, POLR, NNAK, ACK, …).
    #[error("unsupported PGM packet type {0:#04x}")]
    UnsupportedType(u8),
    /// An NLA address family other than IPv4 (1) or IPv6 (2).
    #[error("unsupported NLA address family {0}")]
    AddressFamily(u16),
    /// The option extensions are malformed.
    #[error("malformed PGM options: {0}")]
    Options(&'static str),
    /// The TSDU length field disagrees with the bytes present, or a non-data packet carries
    /// a TSDU.
    #[error("PGM TSDU length {declared} but {present} bytes follow")]
    TsduLength {
        /// The header's TSDU length.
        declared: u16,
        /// The bytes after the headers and options.
        present: usize,
    },
}

/// The packet types we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// Source Path Message (0x00).
    Spm,
    /// Original data (0x04).
    Odata,
    /// Repair data (0x05).
    Rdata,
    /// Negative acknowledgement (0x08).
    Nak,
    /// NAK confirmation (0x0A).
    Ncf,
    /// SPM request (0x0C).
    Spmr,
}

impl PacketType {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            PacketType::Spm => 0x00,
            PacketType::Odata => 0x04,
            PacketType::Rdata => 0x05,
            PacketType::Nak => 0x08,
            PacketType::Ncf => 0x0a,
            PacketType::Spmr => 0x0c,
        }
    }

    fn from_code(code: u8) -> Result<Self, PacketError> {
        Ok(match code {
            0x00 => PacketType::Spm,
            0x04 => PacketType::Odata,
            0x05 => PacketType::Rdata,
            0x08 => PacketType::Nak,
            0x0a => PacketType::Ncf,
            0x0c => PacketType::Spmr,
            other => return Err(PacketError::UnsupportedType(other)),
        })
    }
}

/// Transport session identifier: the source's GSI and source port. Receivers key sessions by
/// it (libzmq publishers often share a GSI, so the port matters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tsi {
    /// Global source identifier.
    pub gsi: [u8; 6],
    /// The source's data-source port.
    pub sport: u16,
}

/// A network layer address (the source's unicast address in SPM/NAK/NCF, the group in
/// NAK/NCF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nla {
    /// IPv4.
    V4([u8; 4]),
    /// IPv6.
    V6([u8; 16]),
}

impl Nla {
    fn encode(&self, out: &mut BytesMut) {
        match self {
            Nla::V4(a) => {
                out.put_u16(AFI_IP);
                out.put_u16(0);
                out.put_slice(a);
            }
            Nla::V6(a) => {
                out.put_u16(AFI_IP6);
                out.put_u16(0);
                out.put_slice(a);
            }
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, PacketError> {
        let afi = r.u16()?;
        // The reserved half-word: OpenPGM writes zero and never reads it.
        if r.u16()? != 0 {
            return Err(PacketError::Options("non-zero NLA reserved field"));
        }
        match afi {
            AFI_IP => Ok(Nla::V4(r.array()?)),
            AFI_IP6 => Ok(Nla::V6(r.array()?)),
            other => Err(PacketError::AddressFamily(other)),
        }
    }
}

/// One option extension, kept raw so that encoding reproduces it exactly. Typed views:
/// [`Options::nak_list`], [`Options::fragment`], [`Options::has`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgmOption {
    /// Option type without the END bit.
    pub kind: u8,
    /// The two bytes after the length: OPX/F bits and the U bit (reserved for most options).
    /// OpenPGM leaves the first one uninitialised in NCFs carrying a NAK list.
    pub flags: [u8; 2],
    /// The option's value after those bytes (at most 251 bytes: the length byte counts the
    /// four header bytes too).
    pub body: Bytes,
}

impl PgmOption {
    /// OPT_NAK_LIST with these extra sequence numbers (1 to [`MAX_NAK_LIST`]).
    pub fn nak_list(sqns: &[u32]) -> Self {
        let mut body = BytesMut::with_capacity(sqns.len() * 4);
        for s in sqns.iter().take(MAX_NAK_LIST) {
            body.put_u32(*s);
        }
        PgmOption {
            kind: OPT_NAK_LIST,
            flags: [0, 0],
            body: body.freeze(),
        }
    }

    /// OPT_FIN (end of session, on a source's last SPMs).
    pub fn fin() -> Self {
        PgmOption {
            kind: OPT_FIN,
            flags: [0, 0],
            body: Bytes::new(),
        }
    }

    /// OPT_FRAGMENT: first sequence number of the APDU, offset of this fragment, APDU length.
    pub fn fragment(first_sqn: u32, offset: u32, apdu_len: u32) -> Self {
        let mut body = BytesMut::with_capacity(12);
        body.put_u32(first_sqn);
        body.put_u32(offset);
        body.put_u32(apdu_len);
        PgmOption {
            kind: OPT_FRAGMENT,
            flags: [0, 0],
            body: body.freeze(),
        }
    }

    fn wire_len(&self) -> usize {
        4 + self.body.len()
    }
}

/// The option extensions of a packet, in wire order (OPT_LENGTH excluded: it is derived).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The options.
    pub list: Vec<PgmOption>,
}

/// OPT_FRAGMENT's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Sequence number of the APDU's first fragment.
    pub first_sqn: u32,
    /// Byte offset of this fragment in the APDU.
    pub offset: u32,
    /// Length of the whole APDU.
    pub apdu_len: u32,
}

impl Options {
    /// No options.
    pub fn none() -> Self {
        Options::default()
    }

    /// Whether an option of this type is present.
    pub fn has(&self, kind: u8) -> bool {
        self.list.iter().any(|o| o.kind == kind)
    }

    /// The sequence numbers of OPT_NAK_LIST (empty without one).
    pub fn nak_list(&self) -> impl Iterator<Item = u32> + '_ {
        self.list
            .iter()
            .filter(|o| o.kind == OPT_NAK_LIST)
            .flat_map(|o| o.body.chunks_exact(4))
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// OPT_FRAGMENT, if present.
    pub fn fragment(&self) -> Option<Fragment> {
        let o = self.list.iter().find(|o| o.kind == OPT_FRAGMENT)?;
        let mut r = Reader::new(&o.body);
        Some(Fragment {
            first_sqn: r.u32().ok()?,
            offset: r.u32().ok()?,
            apdu_len: r.u32().ok()?,
        })
    }

    fn wire_len(&self) -> usize {
        if self.list.is_empty() {
            0
        } else {
            4 + self.list.iter().map(PgmOption::wire_len).sum::<usize>()
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        if self.list.is_empty() {
            return;
        }
        out.put_u8(OPT_LENGTH);
        out.put_u8(4);
        out.put_u16(self.wire_len() as u16);
        let last = self.list.len() - 1;
        for (i, o) in self.list.iter().enumerate() {
            out.put_u8(o.kind | if i == last { OPT_END } else { 0 });
            out.put_u8(o.wire_len() as u8);
            out.put_slice(&o.flags);
            out.put_slice(&o.body);
        }
    }

    fn parse(r: &mut Reader<'_>, src: &Bytes) -> Result<Self, PacketError> {
        let bad = PacketError::Options;
        if r.u8()? != OPT_LENGTH || r.u8()? != 4 {
            return Err(bad("OPT_LENGTH must come first, 4 bytes long"));
        }
        let total = usize::from(r.u16()?);
        if total < 8 {
            return Err(bad("OPT_LENGTH total too short for one option"));
        }
        let mut left = total - 4;
        if r.remaining() < left {
            return Err(PacketError::Truncated);
        }
        let mut list = Vec::new();
        loop {
            let kind = r.u8()?;
            let len = usize::from(r.u8()?);
            if len < 4 || len > left {
                return Err(bad("option length out of bounds"));
            }
            let flags = r.array()?;
            let start = r.pos;
            r.skip(len - 4)?;
            let body = src.slice(start..r.pos);
            let base = kind & !OPT_END;
            let valid = match base {
                OPT_LENGTH => false,
                OPT_FRAGMENT => body.len() == 12,
                OPT_NAK_LIST => !body.is_empty() && body.len() % 4 == 0,
                _ => true,
            };
            if !valid {
                return Err(bad("option value has the wrong length"));
            }
            list.push(PgmOption {
                kind: base,
                flags,
                body,
            });
            left -= len;
            if kind & OPT_END != 0 {
                if left != 0 {
                    return Err(bad("OPT_END before the declared total"));
                }
                return Ok(Options { list });
            }
            if left == 0 {
                return Err(bad("no option carries OPT_END"));
            }
        }
    }
}

/// SPM fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spm {
    /// SPM sequence number (its own sequence, one per SPM sent).
    pub spm_sqn: u32,
    /// Trailing edge of the transmit window.
    pub trail: u32,
    /// Leading edge of the transmit window (`trail - 1` when empty).
    pub lead: u32,
    /// The source's unicast address, where NAKs go.
    pub nla: Nla,
}

/// ODATA/RDATA fields (the TSDU is [`Packet::tsdu`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Data {
    /// Data sequence number.
    pub sqn: u32,
    /// Trailing edge of the transmit window when sent.
    pub trail: u32,
}

/// NAK/NCF fields (extra sequence numbers ride in OPT_NAK_LIST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nak {
    /// The requested sequence number.
    pub sqn: u32,
    /// The source's unicast address.
    pub source: Nla,
    /// The multicast group.
    pub group: Nla,
}

/// The type-specific part of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// SPM.
    Spm(Spm),
    /// ODATA.
    Odata(Data),
    /// RDATA.
    Rdata(Data),
    /// NAK.
    Nak(Nak),
    /// NCF.
    Ncf(Nak),
    /// SPMR (no fields).
    Spmr,
}

impl Body {
    /// The packet type.
    pub fn kind(&self) -> PacketType {
        match self {
            Body::Spm(_) => PacketType::Spm,
            Body::Odata(_) => PacketType::Odata,
            Body::Rdata(_) => PacketType::Rdata,
            Body::Nak(_) => PacketType::Nak,
            Body::Ncf(_) => PacketType::Ncf,
            Body::Spmr => PacketType::Spmr,
        }
    }
}

/// One PGM packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Source port: the source's port on downstream packets (SPM, data, NCF); the receiver's
    /// data port on upstream ones (NAK, SPMR).
    pub sport: u16,
    /// Destination port: the data port downstream, the source's port upstream.
    pub dport: u16,
    /// The session's GSI (always the source's).
    pub gsi: [u8; 6],
    /// Header option bits other than [`OPT_PRESENT`] (which is derived from `options`):
    /// [`OPT_NETWORK`], parity, variable length.
    pub flags: u8,
    /// Whether the checksum field is zero (no checksum; allowed for non-data packets only).
    pub no_checksum: bool,
    /// Type-specific fields.
    pub body: Body,
    /// Option extensions.
    pub options: Options,
    /// The TSDU (ODATA/RDATA; empty otherwise), sliced from the parsed datagram.
    pub tsdu: Bytes,
}

impl Packet {
    /// A packet with no options, no extra flags, and a checksum.
    pub fn new(sport: u16, dport: u16, gsi: [u8; 6], body: Body, tsdu: Bytes) -> Self {
        Packet {
            sport,
            dport,
            gsi,
            flags: 0,
            no_checksum: false,
            body,
            options: Options::none(),
            tsdu,
        }
    }

    /// The session this packet belongs to, whichever way it travels.
    pub fn tsi(&self) -> Tsi {
        let sport = match self.body {
            Body::Nak(_) | Body::Spmr => self.dport,
            _ => self.sport,
        };
        Tsi {
            gsi: self.gsi,
            sport,
        }
    }

    /// Length of the encoded packet.
    pub fn wire_len(&self) -> usize {
        let nla = |n: &Nla| match n {
            Nla::V4(_) => 8,
            Nla::V6(_) => 20,
        };
        let fixed = match &self.body {
            Body::Spm(s) => 12 + nla(&s.nla),
            Body::Odata(_) | Body::Rdata(_) => 8,
            Body::Nak(n) | Body::Ncf(n) => 4 + nla(&n.source) + nla(&n.group),
            Body::Spmr => 0,
        };
        HEADER_LEN + fixed + self.options.wire_len() + self.tsdu.len()
    }

    /// Appends the encoded packet, checksum included, to `out`. The caller keeps the TSDU
    /// within 65535 bytes and the options within OPT_LENGTH's 16 bits.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.reserve(self.wire_len());
        out.put_u16(self.sport);
        out.put_u16(self.dport);
        out.put_u8(self.body.kind().code());
        let present = if self.options.list.is_empty() {
            0
        } else {
            OPT_PRESENT
        };
        out.put_u8((self.flags & !OPT_PRESENT) | present);
        out.put_u16(0);
        out.put_slice(&self.gsi);
        out.put_u16(self.tsdu.len() as u16);
        match &self.body {
            Body::Spm(s) => {
                out.put_u32(s.spm_sqn);
                out.put_u32(s.trail);
                out.put_u32(s.lead);
                s.nla.encode(out);
            }
            Body::Odata(d) | Body::Rdata(d) => {
                out.put_u32(d.sqn);
                out.put_u32(d.trail);
            }
            Body::Nak(n) | Body::Ncf(n) => {
                out.put_u32(n.sqn);
                n.source.encode(out);
                n.group.encode(out);
            }
            Body::Spmr => {}
        }
        self.options.encode(out);
        out.put_slice(&self.tsdu);
        if !self.no_checksum {
            let sum = checksum(&out[start..]);
            out[start + 6..start + 8].copy_from_slice(&sum.to_be_bytes());
        }
    }

    /// The encoded packet as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.wire_len());
        self.encode(&mut out);
        out.freeze()
    }

    /// Parses one datagram (the UDP payload for `epgm`). The TSDU is sliced from `datagram`.
    pub fn parse(datagram: &Bytes) -> Result<Packet, PacketError> {
        let mut r = Reader::new(datagram);
        let sport = r.u16()?;
        let dport = r.u16()?;
        let kind = PacketType::from_code(r.u8()?)?;
        let flags = r.u8()?;
        let carried = r.u16()?;
        let gsi = r.array()?;
        let tsdu_len = r.u16()?;
        let no_checksum = carried == 0;
        if no_checksum {
            if matches!(kind, PacketType::Odata | PacketType::Rdata) {
                return Err(PacketError::MissingChecksum);
            }
        } else {
            let computed = checksum_with_zeroed_field(datagram);
            if computed != carried {
                return Err(PacketError::Checksum { carried, computed });
            }
        }
        let body = match kind {
            PacketType::Spm => Body::Spm(Spm {
                spm_sqn: r.u32()?,
                trail: r.u32()?,
                lead: r.u32()?,
                nla: Nla::parse(&mut r)?,
            }),
            PacketType::Odata | PacketType::Rdata => {
                let d = Data {
                    sqn: r.u32()?,
                    trail: r.u32()?,
                };
                if kind == PacketType::Odata {
                    Body::Odata(d)
                } else {
                    Body::Rdata(d)
                }
            }
            PacketType::Nak | PacketType::Ncf => {
                let n = Nak {
                    sqn: r.u32()?,
                    source: Nla::parse(&mut r)?,
                    group: Nla::parse(&mut r)?,
                };
                if kind == PacketType::Nak {
                    Body::Nak(n)
                } else {
                    Body::Ncf(n)
                }
            }
            PacketType::Spmr => Body::Spmr,
        };
        let options = if flags & OPT_PRESENT != 0 {
            Options::parse(&mut r, datagram)?
        } else {
            Options::none()
        };
        let present = r.remaining();
        let is_data = matches!(kind, PacketType::Odata | PacketType::Rdata);
        if usize::from(tsdu_len) != present || (!is_data && present != 0) {
            return Err(PacketError::TsduLength {
                declared: tsdu_len,
                present,
            });
        }
        let tsdu = datagram.slice(r.pos..);
        Ok(Packet {
            sport,
            dport,
            gsi,
            flags: flags & !OPT_PRESENT,
            no_checksum,
            body,
            options,
            tsdu,
        })
    }
}

/// The PGM checksum of a packet whose checksum field is zero: the ones' complement of the
/// ones' complement sum of 16-bit words (odd length padded with zero), where a result of
/// zero is sent as `0xFFFF` (zero on the wire means "no checksum").
pub fn checksum(packet: &[u8]) -> u16 {
    complement(ones_sum(packet))
}

/// [`checksum`] of `packet` as if its checksum field (bytes 6..8) were zero.
fn checksum_with_zeroed_field(packet: &[u8]) -> u16 {
    let mut head = [0u8; HEADER_LEN];
    head.copy_from_slice(&packet[..HEADER_LEN]);
    head[6] = 0;
    head[7] = 0;
    // The header is 16 bytes (even), so the sum of the two parts is the sum of the whole.
    complement(ones_sum(&head) + ones_sum(&packet[HEADER_LEN..]))
}

/// The ones' complement sum of `bytes` as big-endian 16-bit words (an odd last byte padded
/// with zero), folded to 16 bits.
fn ones_sum(bytes: &[u8]) -> u32 {
    let mut sum: u32 = 0;
    let mut words = bytes.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    fold(sum)
}

/// The checksum of a ones' complement sum: folded, complemented, and `0xFFFF` instead of
/// zero.
fn complement(sum: u32) -> u16 {
    let sum = fold(sum);
    if sum == 0xffff {
        0xffff
    } else {
        !(sum as u16)
    }
}

/// Carries folded back in until the sum fits 16 bits.
fn fold(mut sum: u32) -> u32 {
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    sum
}

/// A bounds-checked big-endian cursor.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn skip(&mut self, n: usize) -> Result<(), PacketError> {
        if self.remaining() < n {
            return Err(PacketError::Truncated);
        }
        self.pos += n;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PacketError> {
        let start = self.pos;
        self.skip(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&self.buf[start..self.pos]);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, PacketError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, PacketError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, PacketError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
}
