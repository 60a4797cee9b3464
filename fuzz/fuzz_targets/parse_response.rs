//! See `hpp_tests::checks::parse_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hpp_tests::checks::parse_response(data));
