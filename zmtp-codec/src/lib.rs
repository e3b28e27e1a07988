//! Sans-IO ZMTP codec.
#![forbid(unsafe_code)]

mod message;

pub use message::Message;
