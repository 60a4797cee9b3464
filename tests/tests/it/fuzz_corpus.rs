//! The fuzz targets' checks, run on every committed corpus file (`fuzz/corpus/<target>/`) and on
//! proptest's inputs, so CI covers them without cargo-fuzz. `PROPTEST_CASES` raises the count
//! (`cargo xtask fuzz` does, when cargo-fuzz is not installed).

use std::path::Path;

use hpp_tests::checks;
use proptest::prelude::*;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        check(&std::fs::read(entry.unwrap().path()).unwrap());
        count += 1;
    }
    assert!(count >= 5, "{target}: only {count} corpus files");
}

#[test]
fn parse_response_corpus() {
    replay("parse_response", checks::parse_response);
}

#[test]
fn check_url_corpus() {
    replay("check_url", checks::check_url);
}

#[test]
fn sandbox_request_corpus() {
    replay("sandbox_request", checks::sandbox_request);
}

#[test]
fn callback_request_corpus() {
    replay("callback_request", checks::callback_request);
}

#[test]
fn header_times_corpus() {
    replay("header_times", checks::header_times);
}

proptest! {
    #[test]
    fn callback_request_props(
        uri in prop_oneof![".{0,60}", "/cb\\?(sid=[a-z0-9]{0,4}&)?secret=[0-9a-f]{0,40}(&secret=[0-9a-f]{0,8})?"],
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            "\\{\"event_id\":\"[ -~]{0,200}\",\"session\":\\{\"status\":\"[A-Z_]{0,12}\"\\}\\}".prop_map(String::into_bytes),
        ],
    ) {
        let mut data = format!("{uri}\n").into_bytes();
        data.extend(body);
        checks::callback_request(&data);
    }

    #[test]
    fn header_times_props(text in prop_oneof![
        any::<String>(),
        "[0-9]{1,25}",
        "(Mon|Tue|Wed), [0-9]{2} (Jan|Feb|Nov) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})",
    ]) {
        checks::header_times(text.as_bytes());
    }

    #[test]
    fn parse_response_props(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        checks::parse_response(&data);
    }

    #[test]
    fn check_url_props(url in prop_oneof![
        any::<String>(),
        "https?://[a-zA-Z.@:0-9]{0,40}/hpp/v1/sessions/[a-zA-Z0-9./%?#~_-]{0,16}",
    ]) {
        checks::check_url(url.as_bytes());
    }

    #[test]
    fn sandbox_request_props(
        method in prop_oneof![Just("GET".to_owned()), Just("POST".to_owned()), Just("DELETE".to_owned()), "[A-Z]{1,8}"],
        path in prop_oneof![
            "(/auth)?/hpp/v1/sessions(/[a-z0-9-]{0,8}(/distribution)?)?",
            "/_sandbox/(outbox|faults|clock|sessions/[a-z]{1,4}/status|pay/[a-z]{1,4})",
            ".{0,30}",
        ],
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..128),
            Just(br#"{"contact_information":{"email":"a@b.se"},"method":"email"}"#.to_vec()),
            Just(br#"{"payment_session_url":"https://x.example/o"}"#.to_vec()),
            Just(br#"{"faults":[{"kind":"delay","ms":1}]}"#.to_vec()),
        ],
    ) {
        let mut data = format!("{method}\n{path}\n").into_bytes();
        data.extend(body);
        checks::sandbox_request(&data);
    }
}
