//! See `hpp_tests::checks::callback_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hpp_tests::checks::callback_request(data));
