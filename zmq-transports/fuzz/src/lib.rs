//! Fuzz targets for the PGM core of `zmq-transports`, as library functions so that the seed
//! tests (`cargo test` in this directory) run exactly what libFuzzer runs.

pub mod pgm_packet;
pub mod pgm_receiver;
pub mod seeds;
