#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zmtp_codec_fuzz::curve_session::run(data));
