//! Every response fixture, parsed by the operation its directory names, snapshotted as text.

use std::path::Path;

use hpp_core::{
    CreateSession, DisableSession, DistributeSession, Distribution, Error, Operation, ReadSession, Response,
};

use crate::fixture;

fn outcome<T: serde::Serialize>(result: Result<T, Error>) -> String {
    match result {
        Ok(value) => format!("Ok\n{}", serde_json::to_string_pretty(&value).unwrap()),
        Err(error) => {
            let action = error.action(std::time::SystemTime::UNIX_EPOCH);
            format!(
                "Err\n{error}\nside effect: {}\naction: {action:?}\nadvice: {}\n{error:#?}",
                error.side_effect(),
                error.advice()
            )
        }
    }
}

fn parse_as(operation: &str, response: Response) -> String {
    match operation {
        "create_session" => outcome(CreateSession::new("https://x.example/o/1").parse(response)),
        "read_session" => outcome(ReadSession::new("s1").parse(response)),
        "disable_session" => outcome(DisableSession::new("s1").parse(response)),
        "distribute_session" => {
            outcome(DistributeSession::new("s1", Distribution::token("t").unwrap()).parse(response))
        }
        other => panic!("no operation for fixture directory {other}"),
    }
}

#[test]
fn fixtures() {
    insta::glob!("../fixtures", "*/*.http", |path: &Path| {
        let operation = path.parent().unwrap().file_name().unwrap().to_str().unwrap();
        let fixture = fixture::load(path);
        assert!(!fixture.source.is_empty(), "{} cites no source", path.display());
        let status = fixture.response.status();
        let text = parse_as(operation, fixture.response);
        // The invariant the snapshots illustrate: any 2xx parses or fails to decode, nothing
        // else is ever Ok.
        assert_eq!(text.starts_with("Ok"), status.is_success() && !text.contains("DecodeError"));
        insta::assert_snapshot!(format!("source: {}\n\n{text}", fixture.source));
    });
}

#[test]
fn api_error_accessors() {
    let response = fixture::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/distribute_session/429_email_limit_exceeded.http"
    )))
    .response;
    let error = DistributeSession::new("s1", Distribution::token("t").unwrap()).parse(response).unwrap_err();
    let Error::Api(api) = &error else { panic!("{error:?}") };
    assert_eq!(api.status(), 429);
    assert_eq!(api.error_code(), Some(&hpp_core::ErrorCode::EmailLimitExceeded));
    assert_eq!(api.messages(), ["Email limit exceeded for testing environment."]);
    assert!(api.correlation_id().is_some());
    assert!(error.advice().contains("will not clear by retrying now"));
    assert!(!error.to_string().contains("retrying"), "advice stays out of Display: {error}");
    assert_eq!(error.side_effect(), hpp_core::SideEffect::DidNotHappen);
}

#[test]
fn retry_after_and_raw_body_are_kept() {
    let response = http::Response::builder().status(503).header("retry-after", "3").body(vec![b'x'; 4096 * 2]).unwrap();
    let Err(Error::Api(api)) = ReadSession::new("s1").parse(response) else { panic!() };
    assert_eq!(api.retry_after(std::time::SystemTime::UNIX_EPOCH), Some(std::time::Duration::from_secs(3)));
    assert_eq!(api.body().len(), 4096, "an error keeps the first 4 KiB of the body");
}
