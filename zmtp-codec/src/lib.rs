//! Sans-IO ZMTP codec.
#![forbid(unsafe_code)]
