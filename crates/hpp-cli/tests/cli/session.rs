//! `session …` and `distribute …`: requests, exit codes, JSON, masking, refusals before sending.

use super::*;

#[test]
fn session_lifecycle_with_json_output() {
    let sandbox = SandboxProcess::start(&[]);
    let created = create(&sandbox);
    let id = created["session_id"].as_str().unwrap();
    let session_url = created["session_url"].as_str().unwrap();
    let distribution_url = created["distribution_url"].as_str().unwrap();

    let out = sandbox.run(&["--json", "session", "get", id]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out.stdout)["status"], "WAITING");

    let out = sandbox.run(&["--json", "distribute", "email", distribution_url, "--email", "jane@example.com"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out.stdout)["method"], "email");

    let out = sandbox.run(&["--json", "distribute", "token", id, "--access-id", "278352"]);
    assert_eq!(out.status.code(), Some(0));

    let out = sandbox.run(&["--json", "session", "disable", session_url]);
    assert_eq!(out.status.code(), Some(0));
    let out = sandbox.run(&["--json", "session", "get", session_url]);
    assert_eq!(json(&out.stdout)["status"], "DISABLED");
}

#[test]
fn failures_have_their_exit_code_and_json() {
    let sandbox = SandboxProcess::start(&["--block", "blocked@example.com", "--email-limit", "1"]);
    let created = create(&sandbox);
    let id = created["session_id"].as_str().unwrap();

    // 3: refused locally, address masked.
    let out = sandbox.run(&["--json", "distribute", "email", id, "--email", "jane.doe@example"]);
    assert_eq!(out.status.code(), Some(3));
    let error = &json(&out.stderr)["error"];
    assert_eq!(error["kind"], "invalid_input");
    assert!(!error["message"].as_str().unwrap().contains("jane.doe"), "{error}");
    assert!(out.stdout.is_empty());

    // 3: a URL we will not send credentials to.
    let out = sandbox.run(&[
        "--json",
        "distribute",
        "token",
        "https://evil.example/hpp/v1/sessions/x/distribution",
        "--access-id",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(3));

    // 4: the API's answer, with its code and correlation id.
    let out = sandbox.run(&["--json", "distribute", "email", id, "--email", "blocked@example.com"]);
    assert_eq!(out.status.code(), Some(4));
    let error = &json(&out.stderr)["error"];
    assert_eq!(error["kind"], "api");
    assert_eq!(error["status"], 400);
    assert_eq!(error["error_code"], "BLACKLIST_REFUSED");
    assert!(error["correlation_id"].is_string());
    assert!(error["error_messages"].is_array());

    let out = sandbox.run(&["--json", "distribute", "email", id, "--email", "a@example.com"]);
    assert_eq!(out.status.code(), Some(0));
    let out = sandbox.run(&["--json", "distribute", "email", id, "--email", "b@example.com"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(json(&out.stderr)["error"]["error_code"], "EMAIL_LIMIT_EXCEEDED");

    // 4: wrong credentials.
    let out = Command::new(BIN)
        .args(["--json", "session", "get", id])
        .env("KUSTOM_HPP_BASE_URL", &sandbox.base_url)
        .env("KUSTOM_API_KEY", "wrong-key")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(json(&out.stderr)["error"]["status"], 401);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("wrong-key"));
}

#[test]
fn usage_and_transport_failures() {
    // 2: no credentials.
    let out = Command::new(BIN)
        .args(["--json", "--base-url", "http://127.0.0.1:9", "session", "get", "s1"])
        .env_remove("KUSTOM_API_KEY")
        .env_remove("KUSTOM_USERNAME")
        .env_remove("KUSTOM_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json(&out.stderr)["error"]["kind"], "usage");

    // 2: two answers to where requests go; the URL is named without its user info or query,
    // either of which can carry a secret.
    let out = Command::new(BIN)
        .args([
            "--environment",
            "production",
            "--base-url",
            "https://user:s3cret@gw.example/kustom?key=t0ken",
            "session",
            "get",
            "s1",
        ])
        .env("KUSTOM_API_KEY", "k")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("https://gw.example/kustom"), "{stderr}");
    assert!(!stderr.contains("s3cret") && !stderr.contains("t0ken") && !stderr.contains("user:"), "{stderr}");

    // 2: an unknown flag.
    let out = Command::new(BIN).args(["--json", "session", "get", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json(&out.stderr)["error"]["kind"], "usage");

    // 5: nothing listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = Command::new(BIN)
        .args(["--json", "--base-url", &base_url, "session", "get", "s1"])
        .env("KUSTOM_API_KEY", "k")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(json(&out.stderr)["error"]["kind"], "transport");
}

#[test]
fn human_output_masks_addresses() {
    let sandbox = SandboxProcess::start(&[]);
    let created = create(&sandbox);
    let id = created["session_id"].as_str().unwrap();
    let out = sandbox.run(&["distribute", "email", id, "--email", "jane.doe@example.com"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("j***@e***.com"), "{stdout}");
    assert!(!stdout.contains("jane.doe"), "{stdout}");
    assert!(!stdout.contains('\x1b'), "no color when not on a terminal");
}

#[test]
fn undecodable_and_missing_answers_have_their_exit_codes() {
    let sandbox = SandboxProcess::start(&[]);
    let status = control(&sandbox, "/_sandbox/faults", r#"{"faults":[{"kind":"truncated_body"}]}"#);
    assert!(status.contains("200"), "{status}");
    let out = sandbox.run(&["--json", "session", "create", "--payment-session-url", "https://x.example/orders/1"]);
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
    let error = &json(&out.stderr)["error"];
    assert_eq!(error["kind"], "decode");
    assert_eq!(error["status"], 201);

    // A response slower than --timeout: no response, exit 5 (a create is not retried).
    control(&sandbox, "/_sandbox/faults", r#"{"faults":[{"kind":"delay","ms":3000}]}"#);
    let out = sandbox.run(&[
        "--json",
        "--timeout",
        "0.2",
        "session",
        "create",
        "--payment-session-url",
        "https://x.example/o",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(json(&out.stderr)["error"]["message"].as_str().unwrap().contains("may have reached the server"));
}

#[test]
fn watch_ends_on_a_final_status_or_its_timeout() {
    let sandbox = SandboxProcess::start(&[]);
    let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
    let out = sandbox.run(&["--json", "--timeout", "1", "session", "watch", &id, "--interval", "0.05"]);
    assert_eq!(out.status.code(), Some(8), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out.stderr)["error"]["kind"], "timeout");
    let first = String::from_utf8(out.stdout).unwrap();
    assert_eq!(json(first.lines().next().unwrap().as_bytes())["status"], "WAITING");

    let status = control(&sandbox, &format!("/_sandbox/sessions/{id}/status"), r#"{"status":"COMPLETED"}"#);
    assert!(status.contains("200"), "{status}");
    let out = sandbox.run(&["--json", "session", "watch", &id, "--interval", "0.05"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = json(stdout.lines().last().unwrap().as_bytes());
    assert_eq!((last["status"].as_str(), last["outcome"].as_str()), (Some("COMPLETED"), Some("final")));

    let out = sandbox.run(&["session", "watch", &id]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout).unwrap().contains("Final status: COMPLETED"));
}

#[test]
fn watching_a_session_that_never_existed_fails_like_get() {
    let sandbox = SandboxProcess::start(&[]);
    let get = sandbox.run(&["--json", "session", "get", "never-existed"]);
    let watch = sandbox.run(&["--json", "session", "watch", "never-existed", "--interval", "0.05"]);
    assert_eq!(get.status.code(), Some(4));
    assert_eq!(watch.status.code(), Some(4), "{}", String::from_utf8_lossy(&watch.stdout));
    assert_eq!(json(&watch.stderr)["error"]["status"], 404);
}

#[test]
fn an_oversized_answer_keeps_its_status_and_exit_code() {
    let sandbox = SandboxProcess::start(&[]);
    let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
    for (status, exit, kind) in [(400, 4, "api"), (200, 6, "decode")] {
        let fault = format!(r#"{{"faults":[{{"kind":"oversized_body","bytes":3000000,"status":{status}}}]}}"#);
        assert!(control(&sandbox, "/_sandbox/faults", &fault).contains("200"));
        let out = sandbox.run(&["--json", "session", "get", &id]);
        assert_eq!(out.status.code(), Some(exit), "{status}: {}", String::from_utf8_lossy(&out.stderr));
        let error = &json(&out.stderr)["error"];
        assert_eq!((error["kind"].as_str(), error["status"].as_u64()), (Some(kind), Some(status)), "{error}");
    }
}

#[test]
fn watch_exits_zero_only_for_a_completed_payment() {
    let sandbox = SandboxProcess::start(&[]);
    for (status, exit, paid) in
        [("COMPLETED", 0, true), ("CANCELLED", 10, false), ("DISABLED", 11, false), ("TIMEOUT", 12, false)]
    {
        let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
        let body = format!(r#"{{"status":"{status}"}}"#);
        assert!(control(&sandbox, &format!("/_sandbox/sessions/{id}/status"), &body).contains("200"));
        let out = sandbox.run(&["--json", "session", "watch", &id, "--interval", "0.05"]);
        assert_eq!(out.status.code(), Some(exit), "{status}: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let last = json(stdout.lines().last().unwrap().as_bytes());
        assert_eq!(
            (last["status"].as_str(), last["paid"].as_bool(), last["exit_code"].as_u64()),
            (Some(status), Some(paid), Some(exit as u64))
        );
    }
    // Expired after it was seen: 13.
    let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
    let mut watch = sandbox
        .command(BIN)
        .args(["--json", "session", "watch", &id, "--interval", "0.05"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    assert_eq!(json(lines.next().unwrap().unwrap().as_bytes())["status"], "WAITING", "seen first");
    assert!(control(&sandbox, "/_sandbox/clock", r#"{"advance_secs": 200000}"#).contains("200"));
    let last = json(lines.last().unwrap().unwrap().as_bytes());
    assert_eq!(watch.wait().unwrap().code(), Some(13));
    assert_eq!((last["outcome"].as_str(), last["paid"].as_bool()), (Some("expired"), Some(false)));
    let help = Command::new(BIN).args(["session", "watch", "--help"]).output().unwrap();
    assert!(String::from_utf8(help.stdout).unwrap().contains("Exit codes: 0 COMPLETED (paid), 10 CANCELLED"));
}

#[test]
fn where_requests_go_is_said_and_conflicts_are_refused() {
    // An exported base URL and an explicit --environment disagree: refuse rather than pick one.
    let out = Command::new(BIN)
        .args(["--json", "--environment", "production", "session", "get", "s1"])
        .env("KUSTOM_HPP_BASE_URL", "http://127.0.0.1:9")
        .env("KUSTOM_API_KEY", "k")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let message = json(&out.stderr)["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("--environment production") && message.contains("KUSTOM_HPP_BASE_URL"), "{message}");

    // A refused connection names the host and the cause; human output says where requests go.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = Command::new(BIN)
        .args(["--base-url", &base_url, "session", "get", "s1"])
        .env("KUSTOM_API_KEY", "k")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with(&format!("requests go to {base_url}, with the API key (KUSTOM_API_KEY)\n")), "{stderr}");
    assert!(stderr.contains(&format!("[{base_url}: the connection was refused]")), "{stderr}");
}

#[test]
fn every_field_of_a_create_and_a_distribution_can_be_sent() {
    let created = || http::Response::builder().status(201).body(br#"{"session_id":"s1"}"#.to_vec()).unwrap();
    let server = against_loopback(vec![created(), created(), http_response(201), http_response(201)]);
    let out = run_at(
        &server.base_url,
        &[
            "session",
            "create",
            "--payment-session-url",
            "https://api.playground.kustom.co/checkout/v3/orders/1",
            "--success",
            "https://shop.example/ok?sid={{session_id}}",
            "--cancel",
            "https://shop.example/cancel",
            "--back",
            "https://shop.example/back",
            "--failure",
            "https://shop.example/fail",
            "--error",
            "https://shop.example/error",
            "--status-update",
            "https://shop.example/cb?secret=0123456789abcdef",
            "--profile-id",
            "87ab3565-5e06-4006-9ada-8eedc6926703",
            "--logo-url",
            "https://shop.example/logo.png",
            "--page-title",
            "Complete your purchase",
            "--background-image",
            "https://shop.example/bg.jpg@1200",
            "--background-image",
            "https://shop.example/bg-small.jpg",
            "--payment-method-categories",
            "pay_later,PAY_NOW",
            "--payment-method-category",
            "KLARNA",
            "--place-order-mode",
            "capture_order",
            "--purchase-type",
            "BUY",
            "--show-subtotal-detail",
            "HIDE",
        ],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sent = server.next_request();
    assert_eq!((sent.method.as_str(), sent.target.as_str()), ("POST", "/hpp/v1/sessions"));
    let expected = serde_json::json!({
        "payment_session_url": "https://api.playground.kustom.co/checkout/v3/orders/1",
        "merchant_urls": {
            "success": "https://shop.example/ok?sid={{session_id}}",
            "cancel": "https://shop.example/cancel",
            "back": "https://shop.example/back",
            "failure": "https://shop.example/fail",
            "error": "https://shop.example/error",
            "status_update": "https://shop.example/cb?secret=0123456789abcdef"
        },
        "profile_id": "87ab3565-5e06-4006-9ada-8eedc6926703",
        "options": {
            "logo_url": "https://shop.example/logo.png",
            "page_title": "Complete your purchase",
            "background_images": [
                {"url": "https://shop.example/bg.jpg", "width": 1200},
                {"url": "https://shop.example/bg-small.jpg"}
            ],
            "payment_method_categories": ["PAY_LATER", "PAY_NOW"],
            "payment_method_category": "KLARNA",
            "place_order_mode": "CAPTURE_ORDER",
            "purchase_type": "BUY",
            "show_subtotal_detail": "HIDE"
        }
    });
    assert_eq!(json(&sent.body), expected);

    // A whole body from standard input, with a flag set on top of it.
    let body = r#"{"payment_session_url":"https://x.example/o/2","options":{"page_title":"From a file"}}"#;
    let out = run_at(&server.base_url, &["session", "create", "--body", "-", "--purchase-type", "rent"], Some(body));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = serde_json::json!({
        "payment_session_url": "https://x.example/o/2",
        "options": {"page_title": "From a file", "purchase_type": "RENT"}
    });
    assert_eq!(json(&server.next_request().body), expected);

    // A distribution with its template, and one from a file.
    let out = run_at(
        &server.base_url,
        &["distribute", "token", "s1", "--access-id", "278352", "--template", "INSTORE_PURCHASE"],
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = serde_json::json!({
        "contact_information": {"access_id": "278352"}, "method": "token", "template": "INSTORE_PURCHASE"
    });
    assert_eq!(json(&server.next_request().body), expected);
    let file = std::env::temp_dir().join(format!("kustom-hpp-distribution-{}.json", std::process::id()));
    std::fs::write(&file, r#"{"method":"email","contact_information":{"email":"jane@example.com"}}"#).unwrap();
    let out = run_at(&server.base_url, &["distribute", "body", "s1", file.to_str().unwrap()], None);
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = serde_json::json!({"contact_information": {"email": "jane@example.com"}, "method": "email"});
    assert_eq!(json(&server.next_request().body), expected);
}

#[test]
fn unknown_values_and_fields_are_refused_with_exit_3_and_nothing_sent() {
    let server =
        against_loopback(vec![http::Response::builder().status(201).body(br#"{"session_id":"s1"}"#.to_vec()).unwrap()]);
    let url = ["--payment-session-url", "https://x.example/o"];
    let refusals: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        ([&["session", "create"][..], &url, &["--place-order-mode", "bogus"]].concat(), None, "place_order_mode"),
        ([&["session", "create"][..], &url, &["--purchase-type", "LEASE"]].concat(), None, "purchase_type"),
        ([&["session", "create"][..], &url, &["--payment-method-categories", "PAY_NOW,CASH"]].concat(), None, "CASH"),
        (
            [&["session", "create"][..], &url, &["--show-subtotal-detail", "SHOW"]].concat(),
            None,
            "show_subtotal_detail",
        ),
        (
            vec!["session", "create", "--body", "-"],
            Some(r#"{"payment_session_url":"https://x.example/o","colour":"red"}"#),
            "colour",
        ),
        (
            vec!["session", "create", "--body", "-"],
            Some(r#"{"payment_session_url":"https://x.example/o","options":{"purchase_type":"LEASE"}}"#),
            "LEASE",
        ),
        (vec!["session", "create", "--body", "-"], Some("{not json"), "not JSON"),
        (vec!["distribute", "body", "s1", "-"], Some(r#"{"method":"pigeon"}"#), "method"),
        (vec!["distribute", "body", "s1", "-"], Some(r#"{"method":"email","contact_information":{}}"#), "email"),
    ];
    for (args, stdin, named) in refusals {
        let out = run_at(&server.base_url, &[&["--json"][..], &args].concat(), stdin);
        let error = &json(&out.stderr)["error"];
        assert_eq!(out.status.code(), Some(3), "{args:?}: {error}");
        assert_eq!(error["kind"], "invalid_input", "{args:?}");
        assert_eq!(error["side_effect"], "did_not_happen", "{args:?}");
        assert_eq!(error["action"]["kind"], "fix_request", "{args:?}: {error}");
        assert!(error["message"].as_str().unwrap().contains(named), "{args:?}: {error}");
    }
    assert!(server.try_next_request().is_none(), "nothing was sent");
    // The documented escape: a value the API added after this version.
    let out = run_at(
        &server.base_url,
        &[&["session", "create"][..], &url, &["--purchase-type", "LEASE", "--allow-unknown-values"]].concat(),
        None,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&server.next_request().body)["options"]["purchase_type"], "LEASE");
}

#[test]
fn api_flags_show_and_apply_only_where_requests_are_sent() {
    let help = |args: &[&str]| {
        let out = Command::new(BIN).args(args).env("COLUMNS", "100").output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    for args in
        [&["demo", "--help"][..], &["sandbox", "--help"], &["callbacks", "listen", "--help"], &["man", "--help"]]
    {
        let shown = help(args);
        for flag in ["--base-url", "--environment", "--send-credentials-over-plain-http"] {
            let listed = shown.lines().any(|line| line.starts_with(&format!("      {flag}")));
            assert!(!listed, "{args:?} shows {flag}:\n{shown}");
        }
    }
    assert!(help(&["demo", "--help"]).contains("--timeout"), "the demo waits too");
    for args in [&["session", "get", "--help"][..], &["distribute", "email", "--help"], &["sandbox", "pay", "--help"]] {
        let shown = help(args);
        assert!(shown.contains("--base-url") && shown.contains("--environment"), "{args:?}:\n{shown}");
    }
    // Given where they do not apply, before or after the command: a usage error naming both.
    for args in
        [&["--base-url", "http://127.0.0.1:9", "demo"][..], &["callbacks", "listen", "--environment", "production"]]
    {
        let out = Command::new(BIN).args([&["--json"][..], args].concat()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(json(&out.stderr)["error"]["message"].as_str().unwrap().contains("does not apply to"), "{args:?}");
    }
    // The environment variable is fine everywhere (it is set for the other commands).
    let out = Command::new(BIN)
        .args(["completions", "bash"])
        .env("KUSTOM_HPP_BASE_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// Customer details, tokens and challenges are masked in `--json` output as in human output:
/// create (the distribution module's token), pay, get, watch and the listener's events.
#[test]
fn json_output_masks_customer_data_and_tokens() {
    let sandbox = SandboxProcess::start(&[]);
    let (mut listener, ready, mut events) = spawn_listener("a-listener-secret-0123", &[]);
    let out = sandbox.run(&[
        "--json",
        "session",
        "create",
        "--payment-session-url",
        "https://x.example/o",
        "--status-update",
        &format!("{}?secret=a-listener-secret-0123", ready["url"].as_str().unwrap()),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let created = json(&out.stdout);
    let id = created["session_id"].as_str().unwrap().to_owned();
    let mut printed = vec![String::from_utf8(out.stdout).unwrap()];
    for args in [
        &["--json", "sandbox", "pay", &id][..],
        &["--json", "session", "get", &id],
        &["--json", "session", "watch", &id, "--interval", "1"],
        &["session", "get", &id],
    ] {
        let out = sandbox.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        printed.push(String::from_utf8(out.stdout).unwrap());
    }
    printed.push(events.next().unwrap().unwrap());
    let _ = listener.kill();
    let _ = listener.wait();
    let all = printed.join("\n");
    assert!(all.contains("COMPLETED"), "{all}");
    for planted in ["Jane", "Doe", "1987-08-15", "19870815-8493"] {
        assert!(!all.contains(planted), "{planted} printed:\n{all}");
    }
    let token_re = |s: &str| s.contains("\"authorization_token\":\"") && !s.contains("\"authorization_token\":\"<");
    assert!(!token_re(&all), "authorization_token printed:\n{all}");
    assert!(!all.contains("\"token\":\"") || all.contains("\"token\":\"<"), "module token printed:\n{all}");
    assert!(all.contains("\"authorization_token\":\"<"), "the token's presence is still shown:\n{all}");
}

/// A `--body` refused for its shape never quotes the contact data in it (serde's messages quote
/// the offending value; a key can be an address too).
#[test]
fn body_refusals_do_not_quote_contact_data() {
    let dir = std::env::temp_dir().join(format!("hpp-cli-body-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, body) in [
        r#"{"payment_session_url":"https://x.example/o","merchant_urls":"jane.doe@example.com"}"#,
        r#"{"payment_session_url":"https://x.example/o","merchant_urls":{"success":46701234567}}"#,
        r#"{"payment_session_url":"https://x.example/o","jane.doe@example.com":1}"#,
        r#"{"payment_session_url":"https://x.example/o","merchant_urls":{"success":"+46 70 123 45 67"},}"#,
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.join(format!("body-{i}.json"));
        std::fs::write(&path, body).unwrap();
        let out = Command::new(BIN)
            .args(["--json", "session", "create", "--body", path.to_str().unwrap()])
            .env("KUSTOM_HPP_BASE_URL", "http://127.0.0.1:9")
            .env("KUSTOM_API_KEY", "kco_test_api_unused")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{body}: {}", String::from_utf8_lossy(&out.stderr));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let digits: String = stderr.chars().filter(char::is_ascii_digit).collect();
        assert!(!stderr.contains("jane.doe") && !digits.contains("4670123"), "{body}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads a QR code drawn with Unicode half blocks (blocks are light modules) back to its text.
fn scan_half_blocks(lines: &[&str]) -> String {
    const SCALE: usize = 4;
    let rows: Vec<Vec<char>> = lines.iter().map(|l| l.chars().collect()).collect();
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let height = rows.len() * 2;
    let light = |x: usize, y: usize| match rows[y / 2].get(x).copied().unwrap_or(' ') {
        '█' => true,
        '▀' => y.is_multiple_of(2),
        '▄' => !y.is_multiple_of(2),
        _ => false,
    };
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width * SCALE, height * SCALE, |x, y| {
        if light(x / SCALE, y / SCALE) { 255 } else { 0 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one code in:\n{}", lines.join("\n"));
    grids[0].decode().unwrap().1
}

/// `session create --qr` prints the pay link as a QR code a phone can scan (read back here as a
/// camera would); `--json` output stays one object; `session get --qr` says why it cannot.
#[test]
fn create_prints_a_scannable_qr_code_of_the_pay_link() {
    let sandbox = SandboxProcess::start(&[]);
    let out = sandbox.run(&["session", "create", "--payment-session-url", "https://x.example/o", "--qr"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let code: Vec<&str> = stdout.lines().filter(|l| l.contains(['█', '▀', '▄'])).collect();
    let link = stdout.lines().find_map(|l| l.trim().strip_prefix("redirect_url")).unwrap().trim().to_owned();
    assert!(link.starts_with(&sandbox.base_url) && link.contains("/_sandbox/pay/"), "{stdout}");
    assert_eq!(scan_half_blocks(&code), link);
    assert!(stdout.contains(&format!("scan to open the pay page: {link}")), "{stdout}");

    let out = sandbox.run(&["--json", "session", "create", "--payment-session-url", "https://x.example/o", "--qr"]);
    let created = json(&out.stdout); // one JSON object, nothing else
    let id = created["session_id"].as_str().unwrap();
    let out = sandbox.run(&["session", "get", id, "--qr"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("session create --qr"));
}

/// A URL of the create request that is not an absolute http(s) URL is refused before sending
/// (exit 3, naming the field and the rule), as the sandbox and the API refuse it; the service's
/// placeholders are allowed.
#[test]
fn merchant_urls_are_checked_before_sending() {
    let server =
        against_loopback(vec![http::Response::builder().status(201).body(br#"{"session_id":"s1"}"#.to_vec()).unwrap()]);
    let url = ["--payment-session-url", "https://x.example/o"];
    let refusals: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        ([&["session", "create"][..], &url, &["--success", "shop.example/ok"]].concat(), None, "merchant_urls.success"),
        (
            [&["session", "create"][..], &url, &["--status-update", "/callbacks"]].concat(),
            None,
            "merchant_urls.status_update",
        ),
        (
            [&["session", "create"][..], &url, &["--cancel", "ftp://shop.example/c"]].concat(),
            None,
            "merchant_urls.cancel",
        ),
        (vec!["session", "create", "--payment-session-url", "x.example/o"], None, "payment_session_url"),
        ([&["session", "create"][..], &url, &["--logo-url", "logo.png"]].concat(), None, "options.logo_url"),
        (
            vec!["session", "create", "--body", "-"],
            Some(r#"{"payment_session_url":"https://x.example/o","merchant_urls":{"back":"back"}}"#),
            "merchant_urls.back",
        ),
    ];
    for (args, stdin, field) in refusals {
        let out = run_at(&server.base_url, &[&["--json"][..], &args].concat(), stdin);
        let error = &json(&out.stderr)["error"];
        assert_eq!(out.status.code(), Some(3), "{args:?}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(field) && message.contains("absolute http(s) URL"), "{args:?}: {message}");
    }
    assert!(server.try_next_request().is_none(), "nothing was sent");
    let placeholders = ["--success", "https://shop.example/ok?sid={{session_id}}&o={{order_id}}"];
    let out = run_at(&server.base_url, &[&["session", "create"][..], &url, &placeholders].concat(), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Which credentials a request used is said: both an API key and a username/password set is a
/// warning naming the one used; a username without its password (or the other way) names what is
/// missing.
#[test]
fn the_credentials_used_are_named() {
    let server = against_loopback(vec![http::Response::builder().status(401).body(Vec::new()).unwrap(); 2]);
    let run = |env: &[(&str, &str)], json: bool| {
        let mut command = Command::new(BIN);
        if json {
            command.arg("--json");
        }
        command
            .args(["session", "get", "s1"])
            .env("KUSTOM_HPP_BASE_URL", &server.base_url)
            .env_remove("KUSTOM_API_KEY")
            .env_remove("KUSTOM_USERNAME")
            .env_remove("KUSTOM_PASSWORD");
        for (name, value) in env {
            command.env(name, value);
        }
        let out = command.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let both =
        [("KUSTOM_API_KEY", "kco_test_api_x"), ("KUSTOM_USERNAME", "merchant"), ("KUSTOM_PASSWORD", "pw-123456")];
    for json in [false, true] {
        let (code, stderr) = run(&both, json);
        assert_eq!(code, Some(4), "{stderr}");
        assert!(stderr.contains("KUSTOM_API_KEY") && stderr.contains("KUSTOM_USERNAME"), "{stderr}");
        assert!(stderr.contains("the API key is used"), "{stderr}");
    }
    let (code, stderr) = run(&[("KUSTOM_USERNAME", "merchant")], false);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("KUSTOM_PASSWORD is missing"), "{stderr}");
    let (code, stderr) = run(&[("KUSTOM_PASSWORD", "pw-123456")], false);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("KUSTOM_USERNAME is missing"), "{stderr}");
}

/// A hint follows from the operation, the answer and where the requests went: an endpoint
/// missing (a base URL with an extra path) is not a session missing; a 400 on create is not
/// about a distribution; the e-mail quota on the sandbox is the sandbox's to raise.
#[test]
fn hints_follow_the_operation_the_answer_and_the_destination() {
    let sandbox = SandboxProcess::start(&["--email-limit", "0"]);
    let hint = |args: &[&str], base: Option<&str>| {
        let mut command = sandbox.command(BIN);
        command.arg("--json").args(args);
        if let Some(base) = base {
            command.env("KUSTOM_HPP_BASE_URL", base);
        }
        let out = command.output().unwrap();
        let error = json(&out.stderr)["error"].clone();
        (out.status.code(), error["advice"].as_str().unwrap_or_default().to_owned())
    };
    // A base URL with the API's path in it: every path answers "No such endpoint".
    let wrong_base = format!("{}/hpp/v1", sandbox.base_url);
    for args in [
        &["session", "get", "9cbc9884-1fdb-45a8-9694-9340340d0436"][..],
        &["session", "create", "--payment-session-url", "https://x.example/o"],
    ] {
        let (code, advice) = hint(args, Some(&wrong_base));
        assert_eq!(code, Some(4), "{args:?}");
        assert!(advice.contains("base URL") && !advice.contains("create a new session"), "{args:?}: {advice}");
    }
    // A session that is not there is still a session that is not there.
    let (_, advice) = hint(&["session", "get", "9cbc9884-1fdb-45a8-9694-9340340d0436"], None);
    assert!(advice.contains("session"), "{advice}");
    // A 400 on create: about the request, not a distribution.
    let (code, advice) = hint(
        &[
            "session",
            "create",
            "--payment-session-url",
            "https://x.example/o",
            "--purchase-type",
            "LEASE",
            "--allow-unknown-values",
        ],
        None,
    );
    assert_eq!(code, Some(4));
    assert!(!advice.contains("distribution"), "{advice}");
    // The e-mail quota, on the sandbox: raise the sandbox's, do not go to the sandbox.
    let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
    let (code, advice) = hint(&["distribute", "email", &id, "--email", "jane@example.com"], None);
    assert_eq!(code, Some(4));
    assert!(advice.contains("--email-limit") && !advice.contains("test against the local sandbox"), "{advice}");
}

/// `session disable` asks on a terminal (and disables only on yes), takes `--yes`/`-y` for
/// scripts, and without a terminal proceeds as before.
#[test]
fn disable_asks_on_a_terminal() {
    let sandbox = SandboxProcess::start(&[]);
    let status = |id: &str| json(&sandbox.run(&["--json", "session", "get", id]).stdout)["status"].clone();
    // No terminal: proceeds; --yes and -y are accepted.
    for flags in [&[][..], &["--yes"], &["-y"]] {
        let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
        let out = sandbox.run(&[&["session", "disable", id.as_str()][..], flags].concat());
        assert_eq!(out.status.code(), Some(0), "{flags:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(status(&id), "DISABLED");
    }
    // A terminal (a pty from util-linux's `script`): asked; "n" keeps the session, "y" disables it.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped the terminal half: no `script`");
        return;
    }
    for (answer, expected, code) in [("n", "WAITING", 2), ("y", "DISABLED", 0)] {
        let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
        let mut child = sandbox
            .command("script")
            .args(["-qec", &format!("{BIN} session disable {id}"), "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Answer once the question is on the terminal.
        let mut stdout = child.stdout.take().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("[y/N]") {
            let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
            assert!(n > 0, "no question asked: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), format!("{answer}\n").as_bytes()).unwrap();
        std::io::Read::read_to_end(&mut stdout, &mut seen).unwrap();
        let exit = child.wait().unwrap();
        assert_eq!(exit.code(), Some(code), "{answer}: {}", String::from_utf8_lossy(&seen));
        assert_eq!(status(&id), expected, "{answer}");
    }
}
