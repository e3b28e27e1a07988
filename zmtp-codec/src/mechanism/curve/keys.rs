//! Long-term CURVE keys: a public key is 32 plain bytes, a secret key is wiped on drop.

use crypto_box::aead::rand_core::RngCore;
use crypto_box::aead::OsRng;
use zeroize::Zeroize;

use crate::z85::{self, Z85Error};

/// A CURVE (X25519) secret key: zeroized on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct CurveSecretKey([u8; 32]);

impl CurveSecretKey {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        CurveSecretKey(bytes)
    }

    /// Parses the 40-character Z85 form (as `zmq_curve_keypair` prints it).
    pub fn from_z85(text: impl AsRef<[u8]>) -> Result<Self, Z85Error> {
        z85::decode_key(text).map(CurveSecretKey)
    }

    /// The secret bytes. Treat them with care.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 40-character Z85 form. Treat it with care.
    pub fn to_z85(&self) -> String {
        z85::encode_key(&self.0)
    }

    /// The public key that belongs to this secret key (X25519 base-point multiplication).
    pub fn public_key(&self) -> [u8; 32] {
        self.to_crypto().public_key().to_bytes()
    }

    pub(crate) fn to_crypto(&self) -> crypto_box::SecretKey {
        crypto_box::SecretKey::from_bytes(self.0)
    }
}

impl Drop for CurveSecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl PartialEq for CurveSecretKey {
    /// Compares without an early exit, so timing does not tell where keys differ.
    fn eq(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Eq for CurveSecretKey {}

impl std::fmt::Debug for CurveSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurveSecretKey(<redacted>)")
    }
}

/// A long-term CURVE key pair (libzmq's `zmq_curve_keypair`).
///
/// ```
/// use zmtp_codec::mechanism::curve::CurveKeyPair;
///
/// let pair = CurveKeyPair::generate();
/// let again = CurveKeyPair::from_secret(pair.secret.clone());
/// assert_eq!(again.public, pair.public);
/// assert_eq!(pair.public_z85().len(), 40);
/// assert!(!format!("{pair:?}").contains(&pair.secret.to_z85()));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CurveKeyPair {
    /// The public key, given to peers.
    pub public: [u8; 32],
    /// The secret key, kept.
    pub secret: CurveSecretKey,
}

impl CurveKeyPair {
    /// Generates a fresh key pair from the operating system's random source.
    ///
    /// # Panics
    ///
    /// If the operating system cannot provide random bytes (as `zmq_curve_keypair` would fail).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let pair = Self::from_secret(CurveSecretKey::from_bytes(bytes));
        bytes.zeroize();
        pair
    }

    /// Rebuilds the pair from its secret key (libzmq's `zmq_curve_public`).
    pub fn from_secret(secret: CurveSecretKey) -> Self {
        CurveKeyPair {
            public: secret.public_key(),
            secret,
        }
    }

    /// Parses a Z85 secret key and derives its public key.
    pub fn from_secret_z85(text: impl AsRef<[u8]>) -> Result<Self, Z85Error> {
        CurveSecretKey::from_z85(text).map(Self::from_secret)
    }

    /// The public key's 40-character Z85 form.
    pub fn public_z85(&self) -> String {
        z85::encode_key(&self.public)
    }
}

impl std::fmt::Debug for CurveKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveKeyPair")
            .field("public", &self.public_z85())
            .field("secret", &self.secret)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // libzmq's test keys (doc/zmq_curve: the same keys appear in its test suite).
    const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
    const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
    const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

    #[test]
    fn libzmq_test_keys_derive_their_public_keys() {
        let client = CurveKeyPair::from_secret_z85(CLIENT_SECRET).unwrap();
        assert_eq!(client.public_z85(), CLIENT_PUBLIC);
        let server = CurveKeyPair::from_secret_z85(SERVER_SECRET).unwrap();
        assert_eq!(server.public_z85(), SERVER_PUBLIC);
        assert_eq!(server.secret.to_z85(), SERVER_SECRET);
    }

    #[test]
    fn generated_pairs_differ_and_debug_is_redacted() {
        let a = CurveKeyPair::generate();
        let b = CurveKeyPair::generate();
        assert_ne!(a.public, b.public);
        assert_ne!(a.secret, b.secret);
        assert_eq!(CurveKeyPair::from_secret(a.secret.clone()), a);
        let shown = format!("{a:?}");
        assert!(shown.contains(&a.public_z85()));
        assert!(!shown.contains(&a.secret.to_z85()));
        assert!(shown.contains("redacted"));
    }
}
