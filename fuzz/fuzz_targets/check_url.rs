//! See `hpp_tests::checks::check_url`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hpp_tests::checks::check_url(data));
