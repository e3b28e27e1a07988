//! Metadata properties, as carried by READY and INITIATE (RFC 23 §"The READY command").

use bytes::{BufMut, Bytes, BytesMut};

use crate::Error;

/// Property name of the socket type.
pub const SOCKET_TYPE: &str = "Socket-Type";
/// Property name of the routing id.
pub const IDENTITY: &str = "Identity";
/// Property name under which an authenticator's user id is exposed (libzmq's `User-Id`).
pub const USER_ID: &str = "User-Id";

/// An ordered list of `name = value` properties.
///
/// Names are 1 to 255 characters of `A-Z a-z 0-9 - _ . +` and compared case-insensitively,
/// as RFC 23 says; values are up to 2³² − 1 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    properties: Vec<(String, Bytes)>,
}

impl Metadata {
    /// No properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// No properties, with room for `n` without reallocating.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Metadata {
            properties: Vec::with_capacity(n),
        }
    }

    /// Adds a property. Fails if the name is not a valid property name.
    pub fn insert(&mut self, name: &str, value: impl Into<Bytes>) -> Result<(), Error> {
        if !valid_name(name.as_bytes()) {
            return Err(Error::InvalidConfig(
                "metadata property name must be 1-255 of A-Z a-z 0-9 - _ . +",
            ));
        }
        self.properties.push((name.to_owned(), value.into()));
        Ok(())
    }

    /// The value of the first property called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All properties in order, as `(name, value)`.
    pub fn iter(&self) -> std::slice::Iter<'_, (String, Bytes)> {
        self.properties.iter()
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.properties.len()
    }

    /// True when there are no properties.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// Size of the encoded form in bytes.
    pub fn encoded_len(&self) -> usize {
        self.properties
            .iter()
            .map(|(n, v)| 1 + n.len() + 4 + v.len())
            .sum()
    }

    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        for (name, value) in &self.properties {
            out.put_u8(name.len() as u8);
            out.put_slice(name.as_bytes());
            out.put_u32(value.len() as u32);
            out.put_slice(value);
        }
    }

    /// Parses properties filling all of `data` (values are sliced, not copied).
    pub fn decode(mut data: Bytes) -> Result<Metadata, Error> {
        let mut properties = Vec::new();
        while !data.is_empty() {
            let name_len = usize::from(data[0]);
            if name_len == 0 {
                return Err(Error::MalformedProperty("empty property name"));
            }
            if data.len() < 1 + name_len + 4 {
                return Err(Error::MalformedProperty("truncated property header"));
            }
            let name = &data[1..1 + name_len];
            if !valid_name(name) {
                return Err(Error::MalformedProperty(
                    "invalid character in property name",
                ));
            }
            let name = String::from_utf8_lossy(name).into_owned();
            let len_at = 1 + name_len;
            let mut len = [0u8; 4];
            len.copy_from_slice(&data[len_at..len_at + 4]);
            let value_len = u32::from_be_bytes(len) as usize;
            let value_at = len_at + 4;
            if data.len() - value_at < value_len {
                return Err(Error::MalformedProperty("property value runs past the end"));
            }
            let value = data.slice(value_at..value_at + value_len);
            properties.push((name, value));
            data = data.slice(value_at + value_len..);
        }
        Ok(Metadata { properties })
    }
}

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_lookup() {
        let mut m = Metadata::new();
        m.insert(SOCKET_TYPE, "DEALER").unwrap();
        m.insert(IDENTITY, Bytes::new()).unwrap();
        let mut out = BytesMut::new();
        m.encode(&mut out);
        assert_eq!(
            &out[..],
            b"\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00"
        );
        assert_eq!(out.len(), m.encoded_len());
        let back = Metadata::decode(out.freeze()).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            back.get("socket-type").map(|v| &v[..]),
            Some(&b"DEALER"[..])
        );
    }

    #[test]
    fn malformed() {
        let cases: [(&[u8], &str); 4] = [
            (b"\x00", "empty property name"),
            (b"\x03abc\x00\x00", "truncated property header"),
            (
                b"\x03a c\x00\x00\x00\x00",
                "invalid character in property name",
            ),
            (
                b"\x01a\x00\x00\x00\x05abc",
                "property value runs past the end",
            ),
        ];
        for (bytes, why) in cases {
            assert_eq!(
                Metadata::decode(Bytes::copy_from_slice(bytes)),
                Err(Error::MalformedProperty(why))
            );
        }
        assert!(Metadata::new().insert("", "x").is_err());
        assert!(Metadata::new().insert("a=b", "x").is_err());
    }
}
