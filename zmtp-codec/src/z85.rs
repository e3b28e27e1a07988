//! Z85 (RFC 32): the printable encoding ZeroMQ uses for CURVE keys.
//!
//! Every 4 bytes become 5 characters from an 85-character alphabet, big-endian. A 32-byte
//! key is 40 characters.
//!
//! ```
//! use zmtp_codec::z85;
//!
//! let text = z85::encode(&[0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]).unwrap();
//! assert_eq!(text, "HelloWorld");
//! assert_eq!(z85::decode("HelloWorld").unwrap(), [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]);
//! assert!(z85::decode("Hello").is_ok());
//! assert!(z85::decode("Hell").is_err());
//! ```

/// The Z85 alphabet, in digit order.
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Marks a byte that is not a Z85 digit in [`DIGITS`].
const NOT_A_DIGIT: u8 = 0xFF;

/// Byte → digit value, [`NOT_A_DIGIT`] for bytes outside the alphabet.
const DIGITS: [u8; 256] = {
    let mut table = [NOT_A_DIGIT; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Why Z85 encoding or decoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Z85Error {
    /// Z85 encodes whole 4-byte groups only.
    #[error("Z85 encodes a multiple of 4 bytes, got {0} bytes")]
    EncodeLength(usize),
    /// Z85 text is made of whole 5-character groups only.
    #[error("Z85 text is a multiple of 5 characters, got {0}")]
    DecodeLength(usize),
    /// A character outside the Z85 alphabet.
    #[error("byte {byte:#04x} at offset {offset} is not a Z85 character")]
    InvalidCharacter {
        /// Offset of the character in the text.
        offset: usize,
        /// The offending byte.
        byte: u8,
    },
    /// A 5-character group whose value does not fit in 32 bits (above `%nSc0`).
    #[error("the Z85 group at offset {offset} overflows 32 bits")]
    Overflow {
        /// Offset of the group's first character.
        offset: usize,
    },
    /// A key must be exactly 32 bytes (40 characters).
    #[error("a Z85 key is 40 characters, got {0}")]
    KeyLength(usize),
}

/// Encodes `data` (a multiple of 4 bytes long) as Z85 text.
pub fn encode(data: &[u8]) -> Result<String, Z85Error> {
    if data.len() % 4 != 0 {
        return Err(Z85Error::EncodeLength(data.len()));
    }
    let mut out = String::with_capacity(data.len() / 4 * 5);
    for group in data.chunks_exact(4) {
        let mut value = u32::from_be_bytes([group[0], group[1], group[2], group[3]]);
        let mut chars = [0u8; 5];
        for c in chars.iter_mut().rev() {
            *c = ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        out.extend(chars.iter().map(|&c| char::from(c)));
    }
    Ok(out)
}

/// Decodes Z85 text (a multiple of 5 characters long).
pub fn decode(text: impl AsRef<[u8]>) -> Result<Vec<u8>, Z85Error> {
    let text = text.as_ref();
    if text.len() % 5 != 0 {
        return Err(Z85Error::DecodeLength(text.len()));
    }
    let mut out = Vec::with_capacity(text.len() / 5 * 4);
    for (g, group) in text.chunks_exact(5).enumerate() {
        let mut value: u64 = 0;
        for (i, &byte) in group.iter().enumerate() {
            let digit = DIGITS[usize::from(byte)];
            if digit == NOT_A_DIGIT {
                return Err(Z85Error::InvalidCharacter {
                    offset: g * 5 + i,
                    byte,
                });
            }
            value = value * 85 + u64::from(digit);
        }
        let value = u32::try_from(value).map_err(|_| Z85Error::Overflow { offset: g * 5 })?;
        out.extend_from_slice(&value.to_be_bytes());
    }
    Ok(out)
}

/// Encodes a 32-byte key as its 40-character Z85 form.
pub fn encode_key(key: &[u8; 32]) -> String {
    // 32 is a multiple of 4, so this always encodes.
    encode(key).unwrap_or_default()
}

/// Decodes a 40-character Z85 key into 32 bytes.
pub fn decode_key(text: impl AsRef<[u8]>) -> Result<[u8; 32], Z85Error> {
    let text = text.as_ref();
    if text.len() != 40 {
        return Err(Z85Error::KeyLength(text.len()));
    }
    let bytes = decode(text)?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc32_vector() {
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&data).unwrap(), "HelloWorld");
        assert_eq!(decode("HelloWorld").unwrap(), data);
        assert_eq!(encode(&[]).unwrap(), "");
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn libzmq_test_keys_round_trip() {
        for key in [
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
            "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
            "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
        ] {
            let bytes = decode_key(key).unwrap();
            assert_eq!(encode_key(&bytes), key);
        }
    }

    #[test]
    fn every_alphabet_character_round_trips() {
        let text: Vec<u8> = ALPHABET.iter().copied().take(85).collect();
        let bytes = decode(&text).unwrap();
        assert_eq!(encode(&bytes).unwrap().as_bytes(), &text[..]);
    }

    #[test]
    fn bad_lengths() {
        assert_eq!(encode(&[1, 2, 3]), Err(Z85Error::EncodeLength(3)));
        assert_eq!(decode("abcd"), Err(Z85Error::DecodeLength(4)));
        assert_eq!(decode("abcdef"), Err(Z85Error::DecodeLength(6)));
        assert_eq!(decode_key("HelloWorld"), Err(Z85Error::KeyLength(10)));
    }

    #[test]
    fn characters_outside_the_alphabet() {
        for (text, offset, byte) in [
            ("Hello Worl", 5, b' '),
            ("Hell\"", 4, b'"'),
            ("~0000", 0, b'~'),
            ("0000,", 4, b','),
        ] {
            assert_eq!(
                decode(text),
                Err(Z85Error::InvalidCharacter { offset, byte }),
                "{text}"
            );
        }
        assert!(matches!(
            decode([b'0', b'0', b'0', b'0', 0xC3]),
            Err(Z85Error::InvalidCharacter { offset: 4, .. })
        ));
    }

    #[test]
    fn groups_overflowing_32_bits() {
        assert_eq!(decode("%nSc0").unwrap(), [0xFF; 4]);
        assert_eq!(decode("%nSc1"), Err(Z85Error::Overflow { offset: 0 }));
        assert_eq!(decode("00000#####"), Err(Z85Error::Overflow { offset: 5 }));
    }
}
