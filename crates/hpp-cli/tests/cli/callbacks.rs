//! `callbacks listen`: the secret, de-duplication, forwarding to the app, a shared store.

use super::*;

#[test]
fn callbacks_listen_checks_the_secret_and_prints_each_event() {
    let sandbox = SandboxProcess::start(&["--callback-retry-delay", "0.01", "--callback-timeout", "2"]);
    let (mut listener, ready, mut lines) = spawn_listener("right-secret-123", &[]);
    let url = ready["url"].as_str().unwrap().to_owned();
    let wrong = create_with_callbacks(&sandbox, &format!("{url}?sid={{{{session_id}}}}&secret=wrong-secret-000"));
    let right = create_with_callbacks(&sandbox, &format!("{url}?sid={{{{session_id}}}}&secret=right-secret-123"));
    for id in [&wrong, &right] {
        control(&sandbox, &format!("/_sandbox/sessions/{id}/status"), r#"{"status":"COMPLETED"}"#);
    }
    // Deliveries are in order: by the time the right one is printed, the wrong one was refused
    // four times and printed nothing.
    let event = json(lines.next().unwrap().unwrap().as_bytes());
    assert_eq!(event["session"]["session_id"], right.as_str());
    assert_eq!(event["session"]["status"], "COMPLETED");
    let attempts = control_get(&sandbox, "/_sandbox/callbacks");
    let outcomes: Vec<&str> = attempts["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["session_id"] == wrong.as_str())
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["status 401"; 4]);
    let listed = attempts.to_string();
    assert!(!listed.contains("right-secret-123") && !listed.contains("wrong-secret-000"), "{listed}");
    assert!(listed.contains("secret=<redacted>"), "{listed}");
    let _ = listener.kill();
    let _ = listener.wait();
}

#[test]
fn empty_or_short_callback_secrets_are_refused() {
    for (args, env) in [
        (vec!["--json", "callbacks", "listen", "--secret", ""], None),
        (vec!["--json", "callbacks", "listen", "--secret", "short"], None),
        (vec!["--json", "callbacks", "listen"], Some("")), // an unset CI secret expands to ""
    ] {
        let mut command = Command::new(BIN);
        command.args(&args).env_remove("KUSTOM_HPP_CALLBACK_SECRET");
        if let Some(value) = env {
            command.env("KUSTOM_HPP_CALLBACK_SECRET", value);
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {}", String::from_utf8_lossy(&out.stderr));
        let error = json(&out.stderr);
        assert_eq!(error["error"]["kind"], "usage");
        assert!(error["error"]["message"].as_str().unwrap().contains("at least 16"), "{error}");
    }
}

#[test]
fn the_listener_closes_silent_and_stalled_connections() {
    use std::io::{Read, Write};
    let (mut listener, ready, _lines) = spawn_listener("right-secret-123", &["--read-timeout", "0.3"]);
    let url = ready["url"].as_str().unwrap().to_owned();
    let address = url.trim_start_matches("http://").split('/').next().unwrap().to_owned();
    let stalled_body = "POST /callbacks?secret=right-secret-123 HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{";
    for opening in ["", stalled_body] {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.write_all(opening.as_bytes()).unwrap();
        // A guard, not a timing assertion: the listener ends the connection long before it.
        stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        let mut answer = Vec::new();
        let ended = stream.read_to_end(&mut answer);
        assert!(ended.is_ok(), "{opening:?}: the connection was left open: {ended:?}");
        if !opening.is_empty() {
            assert!(
                String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 503"),
                "{}",
                String::from_utf8_lossy(&answer)
            );
        }
    }
    let _ = listener.kill();
    let _ = listener.wait();
}

#[test]
fn the_listener_never_acknowledges_an_event_it_could_not_hand_on() {
    let sandbox = SandboxProcess::start(&["--callback-retry-delay", "0.01", "--callback-timeout", "2"]);
    let (mut listener, ready, lines) = spawn_listener("right-secret-123", &[]);
    let url = ready["url"].as_str().unwrap().to_owned();
    drop(lines); // `| head -1`: nobody reads the events any more
    let id = create_with_callbacks(&sandbox, &format!("{url}?secret=right-secret-123"));
    control(&sandbox, &format!("/_sandbox/sessions/{id}/status"), r#"{"status":"COMPLETED"}"#);
    assert_eq!(listener.wait().unwrap().code(), Some(141));
    // The sandbox records its attempts: the first got a 503 or a dropped connection (never a
    // 2xx: the listener ended before acknowledging), the others found nobody listening.
    let outcomes = callback_outcomes(&sandbox, 4);
    assert!(outcomes[0] == "status 503" || outcomes[0].starts_with("error"), "{outcomes:?}");
    assert!(!outcomes.iter().any(|o| o == "delivered"), "acknowledged but lost: {outcomes:?}");
}

#[test]
fn callbacks_are_forwarded_to_the_local_app_and_a_refusal_is_retried() {
    use hpp_conformance::loopback::{Loopback, Reply};
    let answer = |status: u16| Reply::Respond(http_response(status));
    // The app: 500 then 200 for the first event, no answer then 204 for the second.
    let app = Loopback::start_replies(vec![answer(500), answer(200), Reply::Close, answer(204)]);
    let sandbox = SandboxProcess::start(&["--callback-retry-delay", "0.01", "--callback-timeout", "5"]);
    let forward_to = format!("{}/webhooks/kustom", app.base_url);
    let (mut listener, ready, mut lines) = spawn_listener("right-secret-123", &["--forward-to", &forward_to]);
    let url = ready["url"].as_str().unwrap().to_owned();
    let id = create_with_callbacks(&sandbox, &format!("{url}?secret=right-secret-123"));
    control(&sandbox, &format!("/_sandbox/sessions/{id}/status"), r#"{"status":"IN_PROGRESS"}"#);
    control(&sandbox, &format!("/_sandbox/sessions/{id}/status"), r#"{"status":"COMPLETED"}"#);
    let mut forwarded = Vec::new();
    while forwarded.len() < 4 {
        let line = json(lines.next().unwrap().unwrap().as_bytes());
        if let Some(f) = line.get("forwarded") {
            forwarded
                .push(f["status"].as_u64().map_or_else(|| f["error"].as_str().unwrap().to_owned(), |s| s.to_string()));
        }
    }
    assert_eq!(forwarded, ["500", "200", "the connection to the app failed", "204"]);
    // The app got the callbacks as the service sent them: the event (as parsed) and its headers.
    for _ in 0..4 {
        let request = app.next_request();
        assert_eq!((request.method.as_str(), request.target.as_str()), ("POST", "/webhooks/kustom"));
        let event: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(event["session"]["session_id"], id.as_str());
        assert!(request.header("user-agent").is_some_and(|ua| ua.starts_with(b"hpp-sandbox/")), "{request:?}");
    }
    // The service heard 500 (a failed hand-off) for what the app did not accept, and retried it.
    // (The last attempt is recorded once its answer arrives: read until all four are there.)
    let outcomes = callback_outcomes(&sandbox, 4);
    assert_eq!(outcomes, ["status 500", "delivered", "status 500", "delivered"]);
    let _ = listener.kill();
    let _ = listener.wait();
}

/// POSTs `body` to `url` (`http://127.0.0.1:PORT/path?query`) over a plain connection; the status.
fn post_raw(url: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn listeners_sharing_a_store_print_each_event_once_across_a_restart() {
    let Some(pg) = hpp_postgres::testing::TempPostgres::start_or_skip() else { return };
    let store = pg.url();
    let secret = "shared-secret-0123456789";
    let (mut a, ready_a, mut lines_a) = spawn_listener(secret, &["--store", &store]);
    let (mut b, ready_b, mut lines_b) = spawn_listener(secret, &["--store", &store]);
    let to_a = format!("{}?secret={secret}", ready_a["url"].as_str().unwrap());
    let to_b = format!("{}?secret={secret}", ready_b["url"].as_str().unwrap());
    let event = |id: &str, status: &str| {
        format!(r#"{{"event_id":"{id}","session":{{"session_id":"s-{id}","status":"{status}"}}}}"#)
    };
    assert_eq!(post_raw(&to_a, &event("e1", "COMPLETED")), 200);
    assert_eq!(json(lines_a.next().unwrap().unwrap().as_bytes())["event_id"], "e1");
    // The service's retry of e1 lands on the other listener: acknowledged, not printed again.
    assert_eq!(post_raw(&to_b, &event("e1", "COMPLETED")), 200);
    assert_eq!(post_raw(&to_b, &event("e2", "IN_PROGRESS")), 200);
    assert_eq!(json(lines_b.next().unwrap().unwrap().as_bytes())["event_id"], "e2", "e1 was not printed twice");
    // A listener restarted (a deploy) remembers: the store does.
    let _ = a.kill();
    let _ = a.wait();
    let (mut a, ready_a, mut lines_a) = spawn_listener(secret, &["--store", &store]);
    let to_a = format!("{}?secret={secret}", ready_a["url"].as_str().unwrap());
    assert_eq!(post_raw(&to_a, &event("e1", "COMPLETED")), 200);
    assert_eq!(post_raw(&to_a, &event("e2", "IN_PROGRESS")), 200);
    assert_eq!(post_raw(&to_a, &event("e3", "CANCELLED")), 200);
    assert_eq!(json(lines_a.next().unwrap().unwrap().as_bytes())["event_id"], "e3", "e1 and e2 were not printed again");
    // A later event of a session the store tracks is printed as it comes too (the listener runs
    // no poller to apply a callback later), before one of a new session.
    let later = r#"{"event_id":"e5","session":{"session_id":"s-e3","status":"CANCELLED"}}"#;
    assert_eq!(post_raw(&to_a, later), 200);
    assert_eq!(post_raw(&to_a, &event("e6", "IN_PROGRESS")), 200);
    assert_eq!(json(lines_a.next().unwrap().unwrap().as_bytes())["event_id"], "e5", "printed at once");
    assert_eq!(json(lines_a.next().unwrap().unwrap().as_bytes())["event_id"], "e6");
    // An event the app refused is not recorded: the service's retry delivers it again.
    let (mut c, ready_c, _lines_c) =
        spawn_listener(secret, &["--store", &store, "--forward-to", "http://127.0.0.1:9/app"]);
    let to_c = format!("{}?secret={secret}", ready_c["url"].as_str().unwrap());
    assert_eq!(post_raw(&to_c, &event("e4", "COMPLETED")), 500, "the app did not answer: the hand-off failed");
    assert_eq!(post_raw(&to_b, &event("e4", "COMPLETED")), 200);
    assert_eq!(json(lines_b.next().unwrap().unwrap().as_bytes())["event_id"], "e4", "delivered again, not lost");
    for child in [&mut a, &mut b, &mut c] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// POSTs a callback `body` to the listener at `url` (path and query included) with extra header
/// lines; the open stream, to read the answer from.
fn post_callback(url: &str, extra_headers: &str, body: &str) -> std::net::TcpStream {
    use std::io::Write;
    let rest = url.trim_start_matches("http://");
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n{extra_headers}content-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

/// The status of the answer on `stream`.
fn answer_status(stream: &mut std::net::TcpStream) -> std::io::Result<u16> {
    use std::io::Read;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    Ok(String::from_utf8_lossy(&head[9..12]).parse().unwrap())
}

/// `--forward-to` forwards what RFC 9110 section 7.6.1 says a proxy forwards: not the
/// connection's own headers (`Connection` and those it names, `Proxy-Connection`, `Keep-Alive`,
/// `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`), nor credentials meant for the listener or a
/// proxy (`Authorization`, `Proxy-Authorization`, `Cookie`).
#[test]
fn forwarding_drops_hop_by_hop_headers_and_credentials() {
    use hpp_conformance::loopback::Loopback;
    let app = Loopback::start(vec![http_response(204)]);
    let forward_to = format!("{}/webhooks/kustom", app.base_url);
    let (mut listener, ready, _lines) = spawn_listener("right-secret-123", &["--forward-to", &forward_to]);
    let url = format!("{}?secret=right-secret-123", ready["url"].as_str().unwrap());
    let headers = "connection: x-hop-named\r\nx-hop-named: 1\r\nproxy-connection: keep-alive\r\n\
                   proxy-authorization: Basic cHJveHk6c2VjcmV0\r\nte: trailers\r\ntrailer: x-trailer\r\n\
                   upgrade: websocket\r\nkeep-alive: timeout=5\r\nauthorization: Bearer planted-token\r\n\
                   cookie: session=planted-cookie\r\nx-end-to-end: kept\r\nuser-agent: the-service/1\r\n";
    let mut stream = post_callback(&url, headers, r#"{"event_id":"e-hop","session":{"session_id":"s-1"}}"#);
    assert_eq!(answer_status(&mut stream).unwrap(), 200);
    let got = app.next_request();
    for dropped in [
        "connection",
        "x-hop-named",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "keep-alive",
        "authorization",
        "cookie",
    ] {
        assert!(got.header(dropped).is_none(), "{dropped} was forwarded: {:?}", got.headers);
    }
    assert_eq!(got.header("x-end-to-end"), Some(&b"kept"[..]));
    assert_eq!(got.header("user-agent"), Some(&b"the-service/1"[..]));
    assert_eq!(got.header("content-type"), Some(&b"application/json"[..]));
    let _ = listener.kill();
    let _ = listener.wait();
}

/// A redelivery that arrives while the first delivery of the same event is still with the app is
/// answered 503 at once (the receiver's answer to a step under way: the service retries), and is
/// neither acknowledged nor forwarded a second time.
#[test]
fn a_redelivery_during_the_first_is_answered_503_and_not_forwarded_twice() {
    use std::io::{Read, Write};
    let app = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let forward_to = format!("http://{}/webhooks/kustom", app.local_addr().unwrap());
    let (mut listener, ready, _lines) = spawn_listener("right-secret-123", &["--forward-to", &forward_to]);
    let url = format!("{}?secret=right-secret-123", ready["url"].as_str().unwrap());
    let body = r#"{"event_id":"e-in-flight","session":{"session_id":"s-1","status":"COMPLETED"}}"#;
    let mut first = post_callback(&url, "", body);
    // The app has the first delivery (read whole: headers and body) and has not answered yet.
    let (mut held, _) = app.accept().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("e-in-flight") {
        let n = held.read(&mut buf).unwrap();
        assert!(n > 0, "the app's connection closed");
        seen.extend_from_slice(&buf[..n]);
    }
    let mut second = post_callback(&url, "", body);
    assert_eq!(answer_status(&mut second).unwrap(), 503, "busy: the service retries later");
    held.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
    drop(held);
    assert_eq!(answer_status(&mut first).unwrap(), 500, "the app refused: not acknowledged");
    // Not acknowledged, so not remembered: the next retry is forwarded again (once).
    let mut third = post_callback(&url, "", body);
    let (mut again, _) = app.accept().unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("e-in-flight") {
        let n = again.read(&mut buf).unwrap();
        assert!(n > 0, "the app's connection closed");
        seen.extend_from_slice(&buf[..n]);
    }
    again.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").unwrap();
    drop(again);
    assert_eq!(answer_status(&mut third).unwrap(), 200);
    let _ = listener.kill();
    let _ = listener.wait();
}

/// `callbacks listen --store` pointed at an app's database keeps its own tables (schema
/// `kustom_hpp_listener`): the app's tracked sessions are never read nor marked handed off by the
/// listener's printing hand-off.
#[test]
fn a_listener_on_an_apps_database_never_touches_the_apps_sessions() {
    use hpp_core::tracking::{Input, TrackingPolicy, TrackingStore};
    use hpp_postgres::PgStore;
    let Some(pg) = hpp_postgres::testing::TempPostgres::start_or_skip() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let app_store = runtime.block_on(async {
        let store = PgStore::connect(&pg.url(), TrackingPolicy::default()).await.unwrap();
        store.migrate().await.unwrap();
        let track = Input::Track { session_id: "s-app", expires_at: None, order_key: Some("o-1") };
        struct Nothing;
        impl hpp_core::tracking::HandOff<PgStore> for Nothing {
            async fn hand_off(
                &self,
                _tx: &mut hpp_postgres::PgTx,
                _finished: &hpp_core::tracking::Finished,
            ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                Ok(())
            }
        }
        store.apply(track, std::time::SystemTime::now(), &Nothing).await.unwrap();
        store
    });
    let before = runtime.block_on(app_store.get("s-app")).unwrap().unwrap();
    let secret = "shared-secret-0123456789";
    let (mut listener, ready, mut lines) = spawn_listener(secret, &["--store", &pg.url()]);
    let to = format!("{}?secret={secret}", ready["url"].as_str().unwrap());
    let paid = r#"{"event_id":"e-app","session":{"session_id":"s-app","status":"COMPLETED"}}"#;
    assert_eq!(post_raw(&to, paid), 200);
    assert_eq!(json(lines.next().unwrap().unwrap().as_bytes())["event_id"], "e-app", "printed");
    let after = runtime.block_on(app_store.get("s-app")).unwrap().unwrap();
    assert_eq!(after, before, "the app's session is as the app left it");
    let _ = listener.kill();
    let _ = listener.wait();
}
