use crypto_box::aead::{AeadInPlace, KeyInit};
use proptest::prelude::*;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn array<const N: usize>(v: &[u8]) -> [u8; N] {
    v.try_into().expect("length")
}

/// RFC 8439 section 2.5.2.
#[test]
fn poly1305_rfc8439_vector() {
    let key = array::<32>(&hex(
        "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b",
    ));
    let tag = Poly1305::new(&key).tag(b"Cryptographic Forum Research Group");
    assert_eq!(tag.to_vec(), hex("a8061dc1305136c6c22b8baf0c0127a9"));
}

/// NaCl's `crypto_core_hsalsa20` example: the box key of its test key pairs' shared secret.
#[test]
fn hsalsa20_nacl_vector() {
    let shared = array::<32>(&hex(
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
    ));
    let key = hsalsa20(&words(&shared), &[0; 16]);
    let bytes: Vec<u8> = key.iter().flat_map(|w| w.to_le_bytes()).collect();
    assert_eq!(
        bytes,
        hex("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389")
    );
}

fn reference(key: &[u8; 32]) -> crypto_secretbox::XSalsa20Poly1305 {
    crypto_secretbox::XSalsa20Poly1305::new(key.into())
}

fn ours(key: &[u8; 32]) -> BoxKey {
    BoxKey(words(key))
}

/// Seals like `crypto_secretbox` and opens what it seals, for every length across the
/// block and limb boundaries.
#[test]
fn every_length_up_to_1100_matches_crypto_secretbox() {
    let key = [7u8; 32];
    let nonce = [9u8; 24];
    for len in 0..1100 {
        let message: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
        let mut theirs = message.clone();
        let their_tag = reference(&key)
            .encrypt_in_place_detached(&nonce.into(), b"", &mut theirs)
            .expect("seal");
        let mut mine = message.clone();
        let my_tag = ours(&key).seal(&nonce, &mut mine);
        assert_eq!(
            (mine.as_slice(), &my_tag[..]),
            (theirs.as_slice(), &their_tag[..]),
            "length {len}"
        );
        assert!(ours(&key).open(&nonce, &mut mine, &my_tag), "length {len}");
        assert_eq!(mine, message);
    }
}

/// Messages of all ones under keys with every clamped bit of r set drive the limbs to
/// their largest values and the final reduction's h >= p branch.
#[test]
fn extreme_limbs_match_crypto_secretbox() {
    for fill in [0x00u8, 0xff] {
        for key_fill in [0x00u8, 0xff, 0x80] {
            let key = [key_fill; 32];
            let nonce = [fill; 24];
            let message = vec![fill; 1024];
            let mut theirs = message.clone();
            let their_tag = reference(&key)
                .encrypt_in_place_detached(&nonce.into(), b"", &mut theirs)
                .expect("seal");
            let mut mine = message;
            let my_tag = ours(&key).seal(&nonce, &mut mine);
            assert_eq!(my_tag, <[u8; 16]>::from(their_tag));
            assert_eq!(mine, theirs);
        }
    }
}

#[test]
fn the_box_key_is_crypto_boxs() {
    let mut rng = crypto_box::aead::OsRng;
    let a = crypto_box::SecretKey::generate(&mut rng);
    let b = crypto_box::SecretKey::generate(&mut rng);
    let theirs = crypto_box::SalsaBox::new(&b.public_key(), &a);
    let mine = BoxKey::for_box(&b.public_key(), &a);
    let nonce = [3u8; 24];
    let mut sealed_theirs = b"a frame".to_vec();
    let tag = theirs
        .encrypt_in_place_detached(&nonce.into(), b"", &mut sealed_theirs)
        .expect("seal");
    let mut sealed_mine = b"a frame".to_vec();
    assert_eq!(mine.seal(&nonce, &mut sealed_mine), <[u8; 16]>::from(tag));
    assert_eq!(sealed_mine, sealed_theirs);
}

proptest! {
    #[test]
    fn random_boxes_match_crypto_secretbox(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        message in proptest::collection::vec(any::<u8>(), 0..1500),
    ) {
        let mut theirs = message.clone();
        let their_tag = reference(&key)
            .encrypt_in_place_detached(&nonce.into(), b"", &mut theirs)
            .expect("seal");
        let mut mine = message.clone();
        let my_tag = ours(&key).seal(&nonce, &mut mine);
        prop_assert_eq!(&my_tag[..], &their_tag[..]);
        prop_assert_eq!(&mine, &theirs);
        prop_assert!(ours(&key).open(&nonce, &mut mine, &my_tag));
        prop_assert_eq!(mine, message);
    }

    /// Any bit flipped in the tag or the ciphertext is refused, and leaves the data as it was.
    #[test]
    fn altered_boxes_are_refused(
        key in any::<[u8; 32]>(),
        message in proptest::collection::vec(any::<u8>(), 1..200),
        bit in any::<usize>(),
    ) {
        let nonce = [1u8; 24];
        let mut data = message;
        let mut tag = ours(&key).seal(&nonce, &mut data);
        let bits = (data.len() + TAG_SIZE) * 8;
        let bit = bit % bits;
        if bit < TAG_SIZE * 8 {
            tag[bit / 8] ^= 1 << (bit % 8);
        } else {
            let b = bit - TAG_SIZE * 8;
            data[b / 8] ^= 1 << (b % 8);
        }
        let before = data.clone();
        prop_assert!(!ours(&key).open(&nonce, &mut data, &tag));
        prop_assert_eq!(data, before);
    }
}
