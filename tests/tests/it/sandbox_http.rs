//! The sandbox at the HTTP level: credentials, control paths, and hostile input.

use std::io::{Read, Write};
use std::net::TcpStream;

use hpp_core::{Client, CreateSession, Distribution};
use hpp_reqwest::ReqwestTransport;
use hpp_sandbox::{Sandbox, SandboxConfig};

/// Sends raw bytes and returns the status code of the answer (0 if the connection closed first).
fn raw_status(base_url: &str, bytes: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(base_url.trim_start_matches("http://")).unwrap();
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn wrong_credentials_change_nothing() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new());
    let created = client.create_session(&CreateSession::new("https://x.example/o/1")).await.unwrap();
    let url = created.distribution_url.unwrap();
    let http = ReqwestTransport::new().unwrap().client().clone();
    for auth in [None, Some("Basic d3Jvbmc6d3Jvbmc="), Some("Bearer x")] {
        let mut request = http
            .post(&url)
            .header("content-type", "application/json")
            .body(r#"{"contact_information":{"email":"a@b.se"},"method":"email"}"#);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers().contains_key("www-authenticate"));
        let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["http_status_code"], 401);
    }
    assert!(sandbox.outbox().is_empty());
    // The password alone also works, as an API key.
    let key = hpp_core::Config::new(
        hpp_core::BaseUrl::parse(sandbox.base_url()).map(hpp_core::Environment::Custom).unwrap(),
        hpp_core::Credentials::api_key(sandbox.password()).unwrap(),
    );
    Client::new(key, ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new())
        .distribute_session(&url, Distribution::token("t").unwrap())
        .await
        .unwrap();
    assert_eq!(sandbox.outbox().len(), 1);
}

#[tokio::test]
async fn control_paths_play_the_consumer_and_list_the_outbox() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new());
    let created = client.create_session(&CreateSession::new("https://x.example/o/1")).await.unwrap();
    let id = created.session_id.clone().unwrap();
    client
        .distribute_session(
            created.distribution_url.as_ref().unwrap(),
            Distribution::email("jane@example.com").unwrap(),
        )
        .await
        .unwrap();

    let http = ReqwestTransport::new().unwrap().client().clone();
    let auth = format!("Basic {}", sandbox.password());
    let response = http
        .get(format!("{}/_sandbox/outbox", sandbox.base_url()))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    let outbox: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let messages = outbox["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["recipient"], "jane@example.com");
    assert_eq!(messages[0]["session_id"], id.as_str());
    assert!(messages[0]["link"].as_str().unwrap().contains(&id));
    // The outbox lists the recipient for tests to check; its Debug masks it.
    let shown = format!("{:?}", sandbox.outbox());
    assert!(shown.contains("j***@e***.com") && !shown.contains("jane@"), "{shown}");

    let status_url = format!("{}/_sandbox/sessions/{id}/status", sandbox.base_url());
    let response =
        http.post(&status_url).header("authorization", &auth).body(r#"{"status":"IN_PROGRESS"}"#).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(client.read_session(&id).await.unwrap().status, Some(hpp_core::SessionStatus::InProgress));
    let response = http.post(&status_url).header("authorization", &auth).body("nonsense").send().await.unwrap();
    assert_eq!(response.status(), 400);
    let unknown = format!("{}/_sandbox/sessions/nope/status", sandbox.base_url());
    assert_eq!(
        http.post(unknown)
            .header("authorization", &auth)
            .body(r#"{"status":"COMPLETED"}"#)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn hostile_input_gets_an_error_and_the_sandbox_keeps_serving() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let base = sandbox.base_url().to_owned();
    let huge = format!(
        "POST /hpp/v1/sessions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{}",
        10_000_000,
        "x".repeat(200_000)
    );
    let cases: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02 garbage \xff\xfe\r\n\r\n".to_vec(),
        b"GET /hpp/v1/sessions/%%%/../x HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
        huge.into_bytes(),
        b"POST /hpp/v1/sessions HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\n{".to_vec(),
    ];
    let statuses = tokio::task::spawn_blocking(move || cases.iter().map(|c| raw_status(&base, c)).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(statuses[0], 400, "garbage");
    assert_eq!(statuses[1], 404, "no such route (matched by whole segments)");
    assert!(statuses[2] == 413 || statuses[2] == 0, "an oversized body: {}", statuses[2]);
    // Still serving.
    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new());
    assert!(client.create_session(&CreateSession::new("https://x.example/o/1")).await.is_ok());
}

#[tokio::test]
async fn faults_and_clock_are_scripted_over_http() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let http = ReqwestTransport::new().unwrap().client().clone();
    let auth = format!("Basic {}", sandbox.password());
    let faults = format!("{}/_sandbox/faults", sandbox.base_url());
    let body = r#"{"faults":[{"kind":"status","status":503,"retry_after":7,"error_code":"BUSY"}]}"#;
    assert_eq!(http.post(&faults).header("authorization", &auth).body(body).send().await.unwrap().status(), 200);
    assert_eq!(
        http.post(&faults)
            .header("authorization", &auth)
            .body(r#"{"faults":[{"kind":"nonsense"}]}"#)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );

    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new())
        .with_retry_policy(hpp_core::retry::RetryPolicy::none());
    let error = client.create_session(&CreateSession::new("https://x.example/o/1")).await.unwrap_err();
    let hpp_core::Error::Api(api) = &error else { panic!("{error:?}") };
    assert_eq!(
        (api.status().as_u16(), api.retry_after(std::time::SystemTime::now())),
        (503, Some(std::time::Duration::from_secs(7)))
    );
    assert_eq!(api.error_code().map(|c| c.as_str()), Some("BUSY"));
    // The fault was used up.
    let created = client.create_session(&CreateSession::new("https://x.example/o/1")).await.unwrap();

    let clock = format!("{}/_sandbox/clock", sandbox.base_url());
    let response =
        http.post(&clock).header("authorization", &auth).body(r#"{"advance_secs": 172800}"#).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let error = client.read_session(created.session_url.unwrap()).await.unwrap_err();
    assert_eq!(error.error_code(), Some(&hpp_core::ErrorCode::NotFound));
}

#[tokio::test]
async fn a_slow_body_gets_408_and_the_sandbox_keeps_serving() {
    let mut config = SandboxConfig::default();
    config.request_read_timeout = std::time::Duration::from_millis(200);
    let sandbox = Sandbox::start(config).await.unwrap();
    let base = sandbox.base_url().to_owned();
    // Promise 100 bytes, send 10, keep the connection open: the sandbox answers 408.
    let status = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
        stream
            .write_all(b"POST /hpp/v1/sessions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"payment")
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).split(' ').nth(1).and_then(|s| s.parse::<u16>().ok())
    })
    .await
    .unwrap();
    assert_eq!(status, Some(408));
    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new());
    assert!(client.create_session(&CreateSession::new("https://x.example/o/1")).await.is_ok());
}

#[tokio::test]
async fn controls_need_credentials_and_are_bounded() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let http = ReqwestTransport::new().unwrap().client().clone();
    let auth = format!("Basic {}", sandbox.password());
    let url = |path: &str| format!("{}{path}", sandbox.base_url());
    let one_fault = r#"{"faults":[{"kind":"status","status":503}]}"#;

    // Without credentials: 401 for every control but the consumer's pay page.
    assert_eq!(http.post(url("/_sandbox/faults")).body(one_fault).send().await.unwrap().status(), 401);
    for path in ["/_sandbox/outbox", "/_sandbox/faults", "/_sandbox/callbacks", "/_sandbox/clock"] {
        assert_eq!(http.get(url(path)).send().await.unwrap().status(), 401, "{path}");
    }
    assert_eq!(http.get(url("/_sandbox/pay/unknown")).send().await.unwrap().status(), 404, "the pay page is open");

    // A fault is for the test's own client: an unauthenticated request never uses it up.
    let added = http.post(url("/_sandbox/faults")).header("authorization", &auth).body(one_fault).send().await.unwrap();
    let added: serde_json::Value = serde_json::from_slice(&added.bytes().await.unwrap()).unwrap();
    assert_eq!(added, serde_json::json!({ "pending": 1 }), "a count, not the whole queue");
    assert_eq!(http.get(url("/hpp/v1/sessions/x")).send().await.unwrap().status(), 401);
    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new())
        .with_retry_policy(hpp_core::retry::RetryPolicy::none());
    let error = client.create_session(&CreateSession::new("https://x.example/o/1")).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503), "the fault was still there: {error}");

    // The queue is bounded.
    let many = format!(r#"{{"faults":[{}]}}"#, vec![r#"{"kind":"delay","ms":1}"#; 1001].join(","));
    let response = http.post(url("/_sandbox/faults")).header("authorization", &auth).body(many).send().await.unwrap();
    assert_eq!(response.status(), 413);

    // The clock moved as far as it goes either way: creating still works, with a real expiry.
    for secs in [i64::MAX, i64::MIN, i64::MAX] {
        let body = format!(r#"{{"advance_secs": {secs}}}"#);
        let response =
            http.post(url("/_sandbox/clock")).header("authorization", &auth).body(body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let created = client.create_session(&CreateSession::new("https://x.example/o/2")).await.unwrap();
        let expires = created.expires_at.as_deref().unwrap();
        assert!(hpp_core::__private::time::parse_rfc3339(expires).is_some(), "{expires}");
        assert!(client.read_session(created.session_url.as_deref().unwrap()).await.is_ok(), "born alive at {expires}");
    }
}

/// One blocking HTTP/1.1 exchange over a std socket: a blocking client of the plainest kind.
fn blocking_exchange(request: hpp_core::Request) -> Result<hpp_core::Response, hpp_core::TransportError> {
    use std::io::{Read, Write};
    let authority = request.uri().authority().unwrap().as_str().to_owned();
    let mut stream = TcpStream::connect(&authority).map_err(hpp_core::TransportError::connect)?;
    let mut head =
        format!("{} {} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n", request.method(), request.uri().path());
    for (name, value) in request.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", request.body().len()));
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(request.body()))
        .map_err(hpp_core::TransportError::other)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(hpp_core::TransportError::other)?;
    let split =
        raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| hpp_core::TransportError::other("no head"))?;
    let status: u16 = String::from_utf8_lossy(&raw[9..12]).parse().map_err(hpp_core::TransportError::other)?;
    Ok(http::Response::builder().status(status).body(raw[split + 4..].to_vec()).unwrap())
}

/// The trap the docs once led to: a blocking client on the runtime that serves the sandbox
/// waits forever. On its own thread, a plain `#[test]` with a blocking client just works.
#[test]
fn a_blocking_client_in_a_plain_test_works_against_the_sandbox() {
    let sandbox = Sandbox::start_on_own_thread(SandboxConfig::default()).unwrap();
    let transport = |request| std::future::ready(blocking_exchange(request));
    let client = Client::new(sandbox.client_config(), transport, hpp_runtime::StdTimer::new());
    let created = hpp_runtime::block_on(client.create_session(&CreateSession::new("https://x.example/o/1"))).unwrap();
    let session = hpp_runtime::block_on(client.read_session(created.session_url.as_deref().unwrap())).unwrap();
    assert_eq!(session.status, Some(hpp_core::SessionStatus::Waiting));
    let base_url = sandbox.base_url().to_owned();
    drop(sandbox);
    // Dropping the handle stopped it: nothing listens there any more.
    let address = base_url.trim_start_matches("http://");
    assert!(TcpStream::connect(address).is_err(), "still listening on {address}");
}

/// The consumer's pay page is a real HTML page whose buttons drive the same state changes and
/// callbacks as the control calls, and send the browser back to the merchant's page.
#[tokio::test]
async fn the_pay_page_lets_a_person_pay_or_cancel() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new());
    let browser = ReqwestTransport::new().unwrap().client().clone(); // follows no redirects: we see the 303
    for (button, status, merchant_page) in [
        ("complete", "COMPLETED", "https://shop.example/ok?sid="),
        ("cancel", "CANCELLED", "https://shop.example/cancel"),
    ] {
        let urls = crate::merchant_urls(&[
            ("success", "https://shop.example/ok?sid={{session_id}}"),
            ("cancel", "https://shop.example/cancel"),
        ]);
        let created = client.create_session(&crate::create("https://x.example/o/1", urls)).await.unwrap();
        let page_url = created.redirect_url.clone().unwrap();
        let page = browser.get(&page_url).send().await.unwrap();
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        let html = page.text().await.unwrap();
        assert!(html.contains(r#"<button id="pay" class="primary" type="submit">Pay</button>"#), "{html}");
        assert!(html.contains(r#"<span id="status" class="status ">WAITING</span>"#), "{html}");
        let action = format!("/_sandbox/pay/{}/{button}", created.session_id.as_deref().unwrap());
        assert!(html.contains(&format!(r#"action="{action}""#)), "{html}");
        let pressed = browser.post(format!("{}{action}", sandbox.base_url())).send().await.unwrap();
        assert_eq!(pressed.status(), 303);
        assert!(pressed.headers()["location"].to_str().unwrap().starts_with(merchant_page));
        let session = client.read_session(created.session_url.as_deref().unwrap()).await.unwrap();
        assert_eq!(session.status.map(|s| s.to_string()).as_deref(), Some(status));
        let after = browser.get(&page_url).send().await.unwrap().text().await.unwrap();
        assert!(after.contains("can no longer be paid") && !after.contains("<button"), "{after}");
    }
}

/// The open pay endpoint follows the page's rules: a session the merchant disabled, the consumer
/// cancelled or already paid is not changed by a POST without credentials (no new token, no
/// customer data, no callback).
#[tokio::test]
async fn the_open_pay_endpoint_never_changes_a_final_session() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new());
    let anyone = ReqwestTransport::new().unwrap().client().clone();
    for (first, then) in
        [("disable", "complete"), ("cancel", "complete"), ("complete", "complete"), ("complete", "cancel")]
    {
        let urls = crate::merchant_urls(&[("status_update", "https://shop.example/cb?secret=0123456789abcdef")]);
        let created = client.create_session(&crate::create("https://x.example/o/1", urls)).await.unwrap();
        let id = created.session_id.clone().unwrap();
        let pay = |action: &str| format!("{}/_sandbox/pay/{id}/{action}", sandbox.base_url());
        if first == "disable" {
            client.disable_session(created.session_url.as_deref().unwrap()).await.unwrap();
        } else {
            assert_eq!(anyone.post(pay(first)).send().await.unwrap().status(), 303);
        }
        let before = client.read_session(&id).await.unwrap();
        let callbacks_before = sandbox.callback_bodies().len();
        let refused = anyone.post(pay(then)).send().await.unwrap();
        assert_eq!(refused.status(), 409, "{first} then {then}");
        assert!(refused.text().await.unwrap().contains("can no longer be paid"), "{first} then {then}");
        let after = client.read_session(&id).await.unwrap();
        assert_eq!(after, before, "{first} then {then}: the session changed");
        assert_eq!(sandbox.callback_bodies().len(), callbacks_before, "{first} then {then}: a callback was queued");
    }
}

/// `qr_code_url` serves a real QR code of the session's pay link: SVG by default (what an
/// `<img>` asks for), PNG when asked for by `Accept` or by the `.png` suffix, cacheable; a PNG
/// scanned leads to the pay page. An unknown session is a 404, as on the API.
#[tokio::test]
async fn the_qr_code_url_serves_a_code_that_scans_to_the_pay_page() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new());
    let created = client.create_session(&CreateSession::new("https://x.example/o/1")).await.unwrap();
    let qr_url = created.qr_code_url.clone().unwrap();
    let pay_url = created.redirect_url.clone().unwrap();
    let browser = ReqwestTransport::new().unwrap().client().clone();

    let img = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"; // Chromium's <img>
    for (url, accept, content_type) in [
        (qr_url.clone(), None, "image/svg+xml"),
        (qr_url.clone(), Some(img), "image/svg+xml"),
        (qr_url.clone(), Some("image/png"), "image/png"),
        (format!("{qr_url}.png"), None, "image/png"),
        (format!("{qr_url}.svg"), Some("image/png"), "image/svg+xml"),
    ] {
        let mut request = browser.get(&url);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 200, "{url} {accept:?}");
        let headers = answer.headers().clone();
        assert_eq!(headers["content-type"], content_type, "{url} {accept:?}");
        assert_eq!(headers["cache-control"], "public, max-age=3600");
        assert_eq!(headers["vary"], "Accept");
        let body = answer.bytes().await.unwrap();
        if content_type == "image/png" {
            let (colour, codes) = crate::qr_codes_in_png(&body);
            assert_eq!(colour, png::ColorType::Grayscale);
            assert_eq!(codes, std::slice::from_ref(&pay_url), "one code, of the pay link");
            let scanned = &codes[0];
            let page = browser.get(scanned).send().await.unwrap();
            assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
            assert!(page.text().await.unwrap().contains(created.session_id.as_deref().unwrap()));
        } else {
            let svg = String::from_utf8(body.to_vec()).unwrap();
            assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
        }
    }
    for missing in [format!("{}/_sandbox/pay/no-such-session/qr", sandbox.base_url()), format!("{qr_url}.gif")] {
        let answer = browser.get(&missing).send().await.unwrap();
        assert_eq!(answer.status(), 404, "{missing}");
        assert_eq!(answer.headers()["content-type"], "application/json");
    }
}
