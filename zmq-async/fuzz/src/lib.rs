//! Fuzz targets for the `zmq-async` socket layer, as library functions so that the seed
//! generator and the regression tests (`cargo test` in this directory) run exactly what
//! libFuzzer runs.
//!
//! Each target reads its input as a script of peer and user events ([`input::Input`]: reads
//! past the end give zeros, so every byte string is a valid script), drives the real code
//! synchronously, and checks what it observes against a naive model of the socket type:
//! who gets each message, in which order, what is reported, what is dropped.
//!
//! - [`trie`]: the subscription tries (`SubTrie`, `MTrie`) against maps of topics.
//! - [`pubsub`]: a PUB or XPUB socket and SUB peers: subscribe, cancel, detach, publish.
//! - [`router`]: a ROUTER socket and peers with routing ids (given, duplicate, automatic).
//! - [`dealer`]: a DEALER socket: the load balancer and the fair queue, under HWM.
//! - [`sub`]: a SUB or XSUB socket and PUB peers: subscriptions upstream, filtering.
//!
//! The socket targets attach peers with `SocketHandle::attach`, as the transports do, and
//! act as those peers on the pipe ends it returns; every socket call is a `try_*` call,
//! so no runtime is involved.

pub mod dealer;
pub mod harness;
pub mod input;
pub mod pubsub;
pub mod router;
pub mod seeds;
pub mod sub;
pub mod trie;
