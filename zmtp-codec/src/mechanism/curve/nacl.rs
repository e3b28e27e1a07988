//! XSalsa20-Poly1305 (NaCl's `crypto_secretbox`) for CURVE's MESSAGE boxes, written for
//! short messages.
//!
//! CURVE seals every frame on its own, so a 64-byte message pays the whole setup of a box:
//! an HSalsa20 for the nonce's subkey, a Salsa20 block for the Poly1305 key, the Poly1305
//! key schedule and finish. RustCrypto's `crypto_box` (still used for the handshake's
//! boxes) is built for long inputs. Measured with callgrind over tcp (`local_thr`/
//! `remote_thr --curve`, 50,000 messages, instructions a message, whole process): at 64 B
//! the receiver went from 10,625 to 5,961 and the sender from 9,995 to 5,546 (libzmq 4.3.4
//! with libsodium: 6,410 and 6,230); at 1 KiB from 34,111 to 32,420 (libzmq: 16,807, its
//! Salsa20 works on several blocks at once with SIMD).
//!
//! Salsa20's rounds now run on vectors of four words (`wide::u32x4`, SSE2 on x86-64), a
//! diagonal of the state in each, two blocks interleaved where a message needs more than
//! one (see [`rounds_of`]): sender instructions a message, same measure, 5,508 to 3,940 at
//! 64 B and 32,059 to 23,156 at 1 KiB (receiver 32,585 to 23,520), and 1 KiB over tcp went
//! from 285-302 K to 365-384 K msg/s (three interleaved rounds, pinned); four blocks at once
//! measured 354-370 K, eight 340-352 K (the vectors no longer fit the registers).
//! Poly1305 then took two blocks at a time (see [`Poly1305::tag`]): 1 KiB sender 23,156 to
//! 22,287 instructions, 64 B 3,940 to 3,971 (the key's square, once a box), and 1 KiB over
//! tcp 367-378 K to 380-400 K msg/s (four interleaved rounds).
//!
//! Both implementations follow the same definitions (Salsa20 and HSalsa20: Bernstein's
//! "Salsa20 specification" and "Extending the Salsa20 nonce"; Poly1305: RFC 8439 section
//! 2.5, here in 44-bit limbs), and the tests check this one against `crypto_secretbox`
//! and `crypto_box` on random keys, nonces and messages, and against published vectors.
//!
//! Everything is constant-time in the secret data: additions, XORs, rotations and
//! multiplications only, no branch or index on a key, keystream or tag byte (the tag is
//! compared by folding every byte's difference).

use wide::u32x4;
use zeroize::Zeroize;

/// Size of a Poly1305 tag.
pub(super) const TAG_SIZE: usize = 16;

/// "expand 32-byte k", Salsa20's constants.
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// A `crypto_secretbox` key (for CURVE's MESSAGE boxes, the precomputed `crypto_box` key
/// of the two transient key pairs), zeroed on drop.
pub(super) struct BoxKey([u32; 8]);

impl Drop for BoxKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl BoxKey {
    /// The key of `crypto_box` between `secret` and `public`: HSalsa20 of their X25519
    /// shared secret under a zero nonce (NaCl's `crypto_box_beforenm`).
    pub(super) fn for_box(public: &crypto_box::PublicKey, secret: &crypto_box::SecretKey) -> Self {
        let point = curve25519_dalek::montgomery::MontgomeryPoint(*public.as_bytes());
        let mut shared = (secret.to_scalar() * point).to_bytes();
        let key = BoxKey(hsalsa20(&words(&shared), &[0; 16]));
        shared.zeroize();
        key
    }

    /// Encrypts `data` in place and returns its tag.
    pub(super) fn seal(&self, nonce: &[u8; 24], data: &mut [u8]) -> [u8; TAG_SIZE] {
        let mut stream = Keystream::new(self, nonce);
        let mac = Poly1305::new(&stream.poly_key);
        stream.apply(data);
        mac.tag(data)
    }

    /// Checks `tag` over `data` and decrypts `data` in place; `false` (and `data` untouched)
    /// if the tag does not match.
    pub(super) fn open(&self, nonce: &[u8; 24], data: &mut [u8], tag: &[u8; TAG_SIZE]) -> bool {
        let mut stream = Keystream::new(self, nonce);
        let expected = Poly1305::new(&stream.poly_key).tag(data);
        let difference = expected
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference != 0 {
            return false;
        }
        stream.apply(data);
        true
    }
}

/// The little-endian words of 32 bytes.
fn words(bytes: &[u8; 32]) -> [u32; 8] {
    let mut w = [0u32; 8];
    for (w, chunk) in w.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    w
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Salsa20's twenty rounds (ten double rounds) on `x`, in place.
#[inline(always)]
fn rounds(x: &mut [u32; 16]) {
    let mut states = [*x];
    rounds_of(&mut states);
    *x = states[0];
    states.zeroize();
}

/// Salsa20's twenty rounds on `N` states at once, in place.
///
/// The sixteen words of a state are held as four vectors of four (`wide::u32x4`: SSE2 on
/// x86-64), each a diagonal of the 4x4 matrix, so that the four quarter-rounds of a column
/// round are the four lanes of one vector operation; before the row round the lanes of three
/// vectors are rotated so that the rows line up the same way, and after it rotated back. Each
/// step of a round depends on the one before, so the `N` states are interleaved step by step
/// for the processor to work on them side by side.
#[inline(always)]
fn rounds_of<const N: usize>(states: &mut [[u32; 16]; N]) {
    /// `t ^= (a + b) <<< R`, lane by lane, for each state.
    #[inline(always)]
    fn step<const R: u32, const N: usize>(t: &mut [u32x4; N], a: &[u32x4; N], b: &[u32x4; N]) {
        for ((t, a), b) in t.iter_mut().zip(a).zip(b) {
            let sum = *a + *b;
            *t ^= (sum << R) | (sum >> (32 - R));
        }
    }
    /// The four quarter-rounds, one a lane.
    #[inline(always)]
    fn quarters<const N: usize>(
        a: &mut [u32x4; N],
        b: &mut [u32x4; N],
        c: &mut [u32x4; N],
        d: &mut [u32x4; N],
    ) {
        step::<7, N>(b, a, d);
        step::<9, N>(c, b, a);
        step::<13, N>(d, c, b);
        step::<18, N>(a, d, c);
    }
    /// Lane `i` of each result is lane `i + K` (mod 4) of the vector.
    #[inline(always)]
    fn rotate<const K: usize, const N: usize>(v: &[u32x4; N]) -> [u32x4; N] {
        v.map(|v| {
            let v = v.to_array();
            u32x4::from([v[K % 4], v[(K + 1) % 4], v[(K + 2) % 4], v[(K + 3) % 4]])
        })
    }
    // Column round: quarter-rounds (0, 4, 8, 12), (5, 9, 13, 1), (10, 14, 2, 6), (15, 3, 7, 11).
    let diagonal = |w: [usize; 4]| states.map(|x| u32x4::from(w.map(|i| x[i])));
    let mut a = diagonal([0, 5, 10, 15]);
    let mut b = diagonal([4, 9, 14, 3]);
    let mut c = diagonal([8, 13, 2, 7]);
    let mut d = diagonal([12, 1, 6, 11]);
    for _ in 0..10 {
        quarters(&mut a, &mut b, &mut c, &mut d);
        // Row round: (0, 1, 2, 3), (5, 6, 7, 4), (10, 11, 8, 9), (15, 12, 13, 14), that is
        // a with [1, 6, 11, 12], [2, 7, 8, 13] and [3, 4, 9, 14].
        let (mut rb, mut rc, mut rd) = (rotate::<1, N>(&d), rotate::<2, N>(&c), rotate::<3, N>(&b));
        quarters(&mut a, &mut rb, &mut rc, &mut rd);
        (b, c, d) = (
            rotate::<1, N>(&rd),
            rotate::<2, N>(&rc),
            rotate::<3, N>(&rb),
        );
    }
    for (n, x) in states.iter_mut().enumerate() {
        let [a0, a1, a2, a3] = a[n].to_array();
        let [b0, b1, b2, b3] = b[n].to_array();
        let [c0, c1, c2, c3] = c[n].to_array();
        let [d0, d1, d2, d3] = d[n].to_array();
        *x = [
            a0, d1, c2, b3, b0, a1, d2, c3, c0, b1, a2, d3, d0, c1, b2, a3,
        ];
    }
    // The vectors live in registers and stack temporaries, which the scalar code's
    // spills were not wiped from either; `states`, the arrays, the callers zeroize.
}

/// The Salsa20 input block for `key`, an 8-byte nonce (as two words) and a block counter.
fn salsa_input(key: &[u32; 8], nonce: [u32; 2], counter: u64) -> [u32; 16] {
    [
        SIGMA[0],
        key[0],
        key[1],
        key[2],
        key[3],
        SIGMA[1],
        nonce[0],
        nonce[1],
        counter as u32,
        (counter >> 32) as u32,
        SIGMA[2],
        key[4],
        key[5],
        key[6],
        key[7],
        SIGMA[3],
    ]
}

/// HSalsa20: the rounds over key and a 16-byte nonce, without the final addition; words
/// 0, 5, 10, 15, 6, 7, 8, 9 of the result.
fn hsalsa20(key: &[u32; 8], nonce: &[u8; 16]) -> [u32; 8] {
    let mut x = salsa_input(
        key,
        [le32(nonce, 0), le32(nonce, 4)],
        u64::from(le32(nonce, 8)) | (u64::from(le32(nonce, 12)) << 32),
    );
    rounds(&mut x);
    let out = [x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9]];
    x.zeroize();
    out
}

/// The XSalsa20 keystream of one box: its first 32 bytes are the Poly1305 key, the rest
/// encrypts the message.
struct Keystream {
    subkey: [u32; 8],
    nonce: [u32; 2],
    poly_key: [u8; 32],
    /// Block 0's last 32 bytes, for the message's first 32.
    first: [u8; 32],
}

impl Drop for Keystream {
    fn drop(&mut self) {
        self.subkey.zeroize();
        self.poly_key.zeroize();
        self.first.zeroize();
    }
}

impl Keystream {
    fn new(key: &BoxKey, nonce: &[u8; 24]) -> Self {
        let mut head = [0u8; 16];
        head.copy_from_slice(&nonce[..16]);
        let subkey = hsalsa20(&key.0, &head);
        let tail = [le32(nonce, 16), le32(nonce, 20)];
        let block = block(&subkey, tail, 0);
        let mut poly_key = [0u8; 32];
        let mut first = [0u8; 32];
        poly_key.copy_from_slice(&block[..32]);
        first.copy_from_slice(&block[32..]);
        Keystream {
            subkey,
            nonce: tail,
            poly_key,
            first,
        }
    }

    /// XORs the keystream (after the Poly1305 key) into `data`: [`WIDE`] blocks at a time
    /// while more than one is left, then one.
    fn apply(&mut self, data: &mut [u8]) {
        let (head, mut rest) = data.split_at_mut(data.len().min(32));
        xor(head, &self.first);
        let mut counter = 1;
        while rest.len() > 64 {
            let mut stream = blocks::<WIDE>(&self.subkey, self.nonce, counter);
            let (chunk, after) = rest.split_at_mut(rest.len().min(64 * WIDE));
            for (part, block) in chunk.chunks_mut(64).zip(&stream) {
                xor(part, block);
            }
            stream.zeroize();
            counter += WIDE as u64;
            rest = after;
        }
        if !rest.is_empty() {
            let mut stream = block(&self.subkey, self.nonce, counter);
            xor(rest, &stream);
            stream.zeroize();
        }
    }
}

/// XORs `keystream` into `data`, as far as the shorter of the two goes.
#[inline(always)]
fn xor(data: &mut [u8], keystream: &[u8]) {
    for (d, k) in data.iter_mut().zip(keystream) {
        *d ^= k;
    }
}

/// One 64-byte Salsa20 keystream block.
fn block(key: &[u32; 8], nonce: [u32; 2], counter: u64) -> [u8; 64] {
    let [out] = blocks::<1>(key, nonce, counter);
    out
}

/// How many keystream blocks [`Keystream::apply`] computes at once.
const WIDE: usize = 2;

/// `N` consecutive 64-byte Salsa20 keystream blocks from `counter` on.
#[inline(always)]
fn blocks<const N: usize>(key: &[u32; 8], nonce: [u32; 2], counter: u64) -> [[u8; 64]; N] {
    let mut inputs: [[u32; 16]; N] =
        std::array::from_fn(|i| salsa_input(key, nonce, counter.wrapping_add(i as u64)));
    let mut x = inputs;
    rounds_of(&mut x);
    let mut out = [[0u8; 64]; N];
    for ((out, x), input) in out.iter_mut().zip(&x).zip(&inputs) {
        for ((o, x), i) in out.chunks_exact_mut(4).zip(x).zip(input) {
            o.copy_from_slice(&x.wrapping_add(*i).to_le_bytes());
        }
    }
    x.zeroize();
    inputs.zeroize();
    out
}

/// Poly1305 in three limbs of 44, 44 and 42 bits, products in `u128` (the "donna" 64-bit
/// layout: nine multiplications a 16-byte block).
struct Poly1305 {
    r: [u64; 3],
    pad: [u64; 2],
}

impl Drop for Poly1305 {
    fn drop(&mut self) {
        self.r.zeroize();
        self.pad.zeroize();
    }
}

const MASK44: u64 = 0xfff_ffff_ffff;
const MASK42: u64 = 0x3ff_ffff_ffff;

fn le64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

impl Poly1305 {
    fn new(key: &[u8; 32]) -> Self {
        let (t0, t1) = (le64(key, 0), le64(key, 8));
        Poly1305 {
            // r, clamped as RFC 8439 says, in limbs.
            r: [
                t0 & 0xffc_0fff_ffff,
                ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff,
                (t1 >> 24) & 0x00f_ffff_fc0f,
            ],
            pad: [le64(key, 16), le64(key, 24)],
        }
    }

    /// The tag of `message`.
    ///
    /// Two blocks at a time, `h = (h + m1) r^2 + m2 r`: the two products do not depend on
    /// each other, so the processor works on both at once (one block at a time, every
    /// product waits for the one before).
    fn tag(&self, message: &[u8]) -> [u8; TAG_SIZE] {
        let r = self.r;
        let mut r2 = reduce(products(r, r));
        let mut h = [0u64; 3];
        let mut pairs = message.chunks_exact(32);
        for pair in &mut pairs {
            let (m1, m2) = pair.split_at(16);
            let first = products(add(h, limbs(m1, 1 << 40)), r2);
            let second = products(limbs(m2, 1 << 40), r);
            h = reduce([
                first[0] + second[0],
                first[1] + second[1],
                first[2] + second[2],
            ]);
        }
        let mut blocks = pairs.remainder().chunks_exact(16);
        for block in &mut blocks {
            h = reduce(products(add(h, limbs(block, 1 << 40)), r));
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 16];
            last[..rest.len()].copy_from_slice(rest);
            last[rest.len()] = 1;
            h = reduce(products(add(h, limbs(&last, 0)), r));
        }
        r2.zeroize();
        finish(h, &self.pad)
    }
}

/// A 16-byte block as three limbs of 44, 44 and 42 bits, with `hibit` (2^128 in the top
/// limb, or 0 for the padded last block) added.
#[inline(always)]
fn limbs(block: &[u8], hibit: u64) -> [u64; 3] {
    let (t0, t1) = (le64(block, 0), le64(block, 8));
    [
        t0 & MASK44,
        ((t0 >> 44) | (t1 << 20)) & MASK44,
        ((t1 >> 24) & MASK42) | hibit,
    ]
}

#[inline(always)]
fn add(h: [u64; 3], m: [u64; 3]) -> [u64; 3] {
    [h[0] + m[0], h[1] + m[1], h[2] + m[2]]
}

/// The limbs of `x * y` before carrying, the parts over 2^130 folded back: 2^130 = 5
/// (mod p), and 4 more for the 2 bits the top limb lacks (so `y`'s upper limbs times 20).
/// With `x`'s limbs under 2^46 and `y`'s under 2^45, each is under 2^97, so two such
/// products can be added before [`reduce`].
#[inline(always)]
fn products(x: [u64; 3], y: [u64; 3]) -> [u128; 3] {
    let [x0, x1, x2] = x.map(u128::from);
    let [y0, y1, y2] = y.map(u128::from);
    let (s1, s2) = (y1 * 20, y2 * 20);
    [
        x0 * y0 + x1 * s2 + x2 * s1,
        x0 * y1 + x1 * y0 + x2 * s2,
        x0 * y2 + x1 * y1 + x2 * y0,
    ]
}

/// Carries the limbs of [`products`] back to 44, 44 and 42 bits (the middle one may
/// exceed 44 by a few bits, as `finish` and the next product allow).
#[inline(always)]
fn reduce([d0, mut d1, mut d2]: [u128; 3]) -> [u64; 3] {
    d1 += d0 >> 44;
    d2 += d1 >> 44;
    let h0 = (d0 as u64 & MASK44) + (d2 >> 42) as u64 * 5;
    [
        h0 & MASK44,
        (d1 as u64 & MASK44) + (h0 >> 44),
        d2 as u64 & MASK42,
    ]
}

/// Fully carries `h`, reduces it mod 2^130 - 5, adds the pad mod 2^128.
fn finish(mut h: [u64; 3], pad: &[u64; 2]) -> [u8; TAG_SIZE] {
    for _ in 0..2 {
        h[2] += h[1] >> 44;
        h[1] &= MASK44;
        h[0] += (h[2] >> 42) * 5;
        h[2] &= MASK42;
        h[1] += h[0] >> 44;
        h[0] &= MASK44;
    }
    // g = h + 5 - 2^130: if it does not go negative, h >= p and g is h mod p.
    let g0 = h[0] + 5;
    let g1 = h[1] + (g0 >> 44);
    let g2 = (h[2] + (g1 >> 44)).wrapping_sub(1 << 42);
    let take_g = (g2 >> 63).wrapping_sub(1);
    let g = [g0 & MASK44, g1 & MASK44, g2];
    for i in 0..3 {
        h[i] = (h[i] & !take_g) | (g[i] & take_g);
    }
    // h + pad, mod 2^128.
    let (t0, t1) = (pad[0], pad[1]);
    let h0 = h[0] + (t0 & MASK44);
    let h1 = h[1] + (((t0 >> 44) | (t1 << 20)) & MASK44) + (h0 >> 44);
    let h2 = h[2]
        .wrapping_add((t1 >> 24) & MASK42)
        .wrapping_add(h1 >> 44);
    let (h0, h1, h2) = (h0 & MASK44, h1 & MASK44, h2 & MASK42);
    let mut tag = [0u8; TAG_SIZE];
    tag[..8].copy_from_slice(&(h0 | (h1 << 44)).to_le_bytes());
    tag[8..].copy_from_slice(&((h1 >> 20) | (h2 << 24)).to_le_bytes());
    tag
}

#[cfg(test)]
mod tests;
