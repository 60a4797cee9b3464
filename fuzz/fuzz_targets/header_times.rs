//! See `hpp_tests::checks::header_times`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hpp_tests::checks::header_times(data));
