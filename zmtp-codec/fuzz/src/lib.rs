//! Fuzz targets for `zmtp-codec`, as library functions so that the seed generator and the
//! regression tests (`cargo test` in this directory) run exactly what libFuzzer runs.
//!
//! Every target reads its input with [`input::Input`], whose `u8`/`u16`/`bytes` return zeros
//! or less once the input runs out, so every byte string is a valid input. Targets assert
//! invariants (round trips, sticky errors, messages arriving intact), not only the absence of
//! panics.

pub mod checked;
pub mod connection_null;
pub mod curve;
pub mod curve_session;
pub mod frame_decoder;
pub mod handshake_curve;
pub mod handshake_plain;
pub mod input;
pub mod seeds;
pub mod two_peers;

/// The PLAIN server target (re-exported under the name of its fuzz target).
pub mod handshake_plain_server {
    pub use crate::handshake_plain::run_server as run;
}

/// The PLAIN client target (re-exported under the name of its fuzz target).
pub mod handshake_plain_client {
    pub use crate::handshake_plain::run_client as run;
}

/// The CURVE server target (re-exported under the name of its fuzz target).
pub mod handshake_curve_server {
    pub use crate::handshake_curve::run_server as run;
}

/// The CURVE client target (re-exported under the name of its fuzz target).
pub mod handshake_curve_client {
    pub use crate::handshake_curve::run_client as run;
}
