//! `sandbox`: served in the foreground or as a service, the consumer played, its credentials.

use super::*;

#[test]
fn sandbox_stops_on_sigterm() {
    let mut sandbox = SandboxProcess::start(&[]);
    let pid = sandbox.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = sandbox.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a clean stop on SIGTERM");
}

/// An address of this machine that is not loopback (the interface a packet to a private address
/// would leave by; nothing is sent), or 127.0.0.2 (loopback, but not the default) without one.
fn non_default_address() -> (String, bool) {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    match socket.connect("10.255.255.255:9").and_then(|()| socket.local_addr()) {
        Ok(address) if !address.ip().is_loopback() && !address.ip().is_unspecified() => {
            (address.ip().to_string(), true)
        }
        _ => ("127.0.0.2".to_owned(), false),
    }
}

#[test]
fn the_sandbox_as_a_service_on_another_address() {
    let (address, beyond_loopback) = non_default_address();
    let (mut server, ready) = start_sandbox(&["--bind", &address], Stdio::piped());
    let base_url = ready["base_url"].as_str().unwrap().to_owned();
    assert!(base_url.starts_with(&format!("http://{address}:")), "announced {base_url}, bound {address}");
    let mut warning = String::new();
    BufReader::new(server.stderr.take().unwrap()).read_line(&mut warning).unwrap();
    if beyond_loopback {
        assert!(warning.starts_with("warning: the sandbox listens on"), "{warning}");
    }
    let client = |extra: &[&str]| {
        Command::new(BIN)
            .args(["--json", "--base-url", &base_url])
            .args(extra)
            .args(["session", "create", "--payment-session-url", "https://x.example/o/1"])
            .env("KUSTOM_USERNAME", ready["username"].as_str().unwrap())
            .env("KUSTOM_PASSWORD", ready["password"].as_str().unwrap())
            .env_remove("KUSTOM_API_KEY")
            .output()
            .unwrap()
    };
    if beyond_loopback {
        // The default refuses to send credentials over plain http beyond loopback, and says how.
        let refused = client(&[]);
        assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
        let message = json(&refused.stderr)["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains("--send-credentials-over-plain-http"), "{message}");
        let allowed = client(&["--send-credentials-over-plain-http"]);
        assert_eq!(allowed.status.code(), Some(0), "{}", String::from_utf8_lossy(&allowed.stderr));
        let stderr = String::from_utf8(allowed.stderr).unwrap();
        let warning = json(stderr.lines().next().unwrap().as_bytes());
        assert!(warning["warning"].as_str().unwrap().contains(&format!("plain http to {base_url}")), "{stderr}");
        let created = json(&allowed.stdout);
        assert!(created["session_url"].as_str().unwrap().starts_with(&base_url), "{created}");
    } else {
        let created = client(&[]);
        assert_eq!(created.status.code(), Some(0), "{}", String::from_utf8_lossy(&created.stderr));
    }
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn the_sandbox_advertises_the_name_clients_use() {
    let sandbox = SandboxProcess::start(&["--bind", "0.0.0.0", "--advertise", "localhost"]);
    assert!(sandbox.base_url.starts_with("http://localhost:"), "{}", sandbox.base_url);
    let created = create(&sandbox);
    assert!(created["session_url"].as_str().unwrap().starts_with(&sandbox.base_url), "{created}");
}

#[test]
fn play_the_consumer_from_the_command_line() {
    let sandbox = SandboxProcess::start(&[]);
    for (action, status) in [("pay", "COMPLETED"), ("cancel", "CANCELLED"), ("fail", "FAILED")] {
        let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
        let out = sandbox.run(&["--json", "sandbox", action, &id]);
        assert_eq!(out.status.code(), Some(0), "{action}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(json(&out.stdout)["status"], status);
        let read = sandbox.run(&["--json", "session", "get", &id]);
        assert_eq!(json(&read.stdout)["status"], status);
    }
    // An unknown session is the API's answer (exit 4), as for every other command.
    let out = sandbox.run(&["--json", "sandbox", "pay", "no-such-session"]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_sandbox_logs_each_request_and_prints_ready_to_paste_exports() {
    let (mut server, ready) =
        start_sandbox(&["--username", "team-sandbox", "--password", "fixed-password-123"], Stdio::piped());
    assert_eq!(
        (ready["username"].as_str(), ready["password"].as_str()),
        (Some("team-sandbox"), Some("fixed-password-123"))
    );
    let base_url = ready["base_url"].as_str().unwrap().to_owned();
    let mut stderr = BufReader::new(server.stderr.take().unwrap()).lines();
    let mut head: Vec<String> = Vec::new();
    while !head.last().is_some_and(|l| l.starts_with("Play the consumer")) {
        head.push(stderr.next().unwrap().unwrap());
    }
    assert!(head.contains(&format!("export KUSTOM_HPP_BASE_URL={base_url}")), "{head:?}");
    assert!(head.contains(&"export KUSTOM_USERNAME=team-sandbox".to_owned()), "{head:?}");
    let out = Command::new(BIN)
        .args([
            "--json",
            "session",
            "create",
            "--payment-session-url",
            "https://x.example/o",
            "--status-update",
            "https://shop.example/cb?secret=planted-secret-abc",
        ])
        .env("KUSTOM_HPP_BASE_URL", &base_url)
        .env("KUSTOM_USERNAME", "team-sandbox")
        .env("KUSTOM_PASSWORD", "fixed-password-123")
        .env_remove("KUSTOM_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let logged = stderr.next().unwrap().unwrap();
    assert_eq!(logged, "sandbox: POST /hpp/v1/sessions -> 201");
    let _ = server.kill();
    let _ = server.wait();
}

/// An empty or short sandbox password (given, or exported empty) is refused at start with a
/// clear message, also for a sandbox on every address: the controls would open to `Basic ci:`.
#[test]
fn empty_or_short_sandbox_passwords_are_refused() {
    let cases: [(&[&str], Option<&str>); 4] = [
        (&["--username", "ci", "--password", ""], None),
        (&["--username", "ci", "--password", "", "--bind", "0.0.0.0"], None),
        (&["--username", "ci", "--password", "short"], None),
        (&["--username", "ci"], Some("")),
    ];
    // A sandbox that starts prints its ready line and runs on: read one line (EOF when refused).
    let start = |command: &mut Command| {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        if !line.is_empty() {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        (line, out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    for (args, env_password) in cases {
        let mut command = Command::new(BIN);
        command.arg("sandbox").args(args).env_remove("KUSTOM_HPP_SANDBOX_PASSWORD");
        if let Some(password) = env_password {
            command.env("KUSTOM_HPP_SANDBOX_PASSWORD", password);
        }
        let (ready, code, stderr) = start(&mut command);
        assert!(ready.is_empty(), "{args:?}: a sandbox started: {ready}");
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("password") && stderr.contains("at least 12"), "{args:?}: {stderr}");
    }
    let (ready, code, stderr) =
        start(Command::new(BIN).args(["sandbox", "--username", "", "--password", "long-enough-password"]));
    assert!(ready.is_empty() && code == Some(2), "an empty username: {ready} {stderr}");
}

/// One way to name a session everywhere: `sandbox pay` takes the id or a URL the API returned
/// for it; an unknown session is the API's answer (exit 4); an id pasted with whitespace or
/// quotes around it is named as such, by every command that takes SESSION.
#[test]
fn every_command_names_a_session_the_same_way() {
    let sandbox = SandboxProcess::start(&[]);
    let created = create(&sandbox);
    let session_url = created["session_url"].as_str().unwrap();
    let out = sandbox.run(&["--json", "sandbox", "pay", session_url]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out.stdout)["status"], "COMPLETED");
    let out = sandbox.run(&["--json", "sandbox", "cancel", "no-such-session"]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&out.stderr)["error"]["error_code"], "NOT_FOUND");
    assert_eq!(json(&out.stderr)["error"]["action"]["kind"], "start_over", "machine-readable, beside the advice");
    let id = created["session_id"].as_str().unwrap();
    for (given, said) in
        [(format!("{id} "), "whitespace"), (format!("\"{id}\""), "quotes"), (format!(" {id}"), "whitespace")]
    {
        for command in [&["session", "get"][..], &["session", "watch"], &["sandbox", "pay"], &["distribute", "token"]] {
            let mut args: Vec<&str> = command.to_vec();
            args.push(&given);
            if command[0] == "distribute" {
                args.extend(["--access-id", "a-1"]);
            }
            let out = sandbox.run(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains(said), "{args:?}: {stderr}");
            assert!(!stderr.contains("\\\\\""), "escaped twice: {stderr}");
        }
    }
}

/// `sandbox pay` on a session already paid answers as the pay page does: exit 4, nothing
/// changed, and no second COMPLETED callback (it used to exit 0 and send one, with a new event id).
#[test]
fn paying_a_paid_session_changes_nothing() {
    let sandbox = SandboxProcess::start(&["--callback-retry-delay", "0.01"]);
    let app = against_loopback(vec![http_response(200), http_response(200), http_response(200)]);
    let paid = create_with_callbacks(&sandbox, &format!("{}/cb", app.base_url));
    let other = create_with_callbacks(&sandbox, &format!("{}/cb", app.base_url));
    let first = sandbox.run(&["--json", "sandbox", "pay", &paid]);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let again = sandbox.run(&["--json", "sandbox", "pay", &paid]);
    assert_eq!(again.status.code(), Some(4), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(json(&again.stderr)["error"]["status"], 409, "{}", String::from_utf8_lossy(&again.stderr));
    // A later change of another session: its callback comes after any the second pay sent.
    assert_eq!(sandbox.run(&["sandbox", "cancel", &other]).status.code(), Some(0));
    callback_outcomes(&sandbox, 2);
    let attempts = control_get(&sandbox, "/_sandbox/callbacks");
    let sessions: Vec<&str> =
        attempts["attempts"].as_array().unwrap().iter().map(|a| a["session_id"].as_str().unwrap()).collect();
    assert_eq!(sessions, [paid.as_str(), other.as_str()], "one callback for the paid session");
}

/// The sandbox teams run as a service takes the callback faults from flags: here every callback
/// is lost (recorded as dropped); chances out of range are refused.
#[test]
fn callback_faults_are_set_from_the_command_line() {
    let sandbox = SandboxProcess::start(&["--callback-drop", "1", "--callback-seed", "7"]);
    let app = against_loopback(vec![http_response(200)]);
    let id = create_with_callbacks(&sandbox, &format!("{}/cb", app.base_url));
    assert_eq!(sandbox.run(&["sandbox", "pay", &id]).status.code(), Some(0));
    assert_eq!(callback_outcomes(&sandbox, 1), ["dropped"]);
    assert!(app.try_next_request().is_none(), "a lost callback reaches nobody");
    let refused =
        Command::new(BIN).args(["sandbox", "--callback-drop", "0.7", "--callback-delay", "0.5"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
}

/// Issue 37: the running sandbox's callback faults are changed while it runs
/// (`sandbox callback-faults`), not only at its start: lost from one moment, delivered again
/// from the next; chances out of range are refused before anything is sent.
#[test]
fn callback_faults_are_changed_while_the_sandbox_runs() {
    let sandbox = SandboxProcess::start(&["--callback-retry-delay", "0.01"]);
    let app = against_loopback(vec![http_response(200)]);
    let shown = sandbox.run(&["--json", "sandbox", "callback-faults"]);
    assert_eq!(shown.status.code(), Some(0), "{}", String::from_utf8_lossy(&shown.stderr));
    assert_eq!(json(&shown.stdout)["drop"], 0.0);

    let set = sandbox.run(&["--json", "sandbox", "callback-faults", "--drop", "1", "--seed", "3"]);
    assert_eq!(set.status.code(), Some(0), "{}", String::from_utf8_lossy(&set.stderr));
    assert_eq!((json(&set.stdout)["drop"].clone(), json(&set.stdout)["seed"].clone()), (1.0.into(), 3.into()));
    let lost = create_with_callbacks(&sandbox, &format!("{}/cb", app.base_url));
    assert_eq!(sandbox.run(&["sandbox", "pay", &lost]).status.code(), Some(0));
    assert_eq!(callback_outcomes(&sandbox, 1), ["dropped"]);

    let human = sandbox.run(&["sandbox", "callback-faults", "--drop", "0"]);
    assert_eq!(human.status.code(), Some(0), "{}", String::from_utf8_lossy(&human.stderr));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("callback faults") && text.contains("drop") && text.contains("seed"), "{text}");
    let delivered = create_with_callbacks(&sandbox, &format!("{}/cb", app.base_url));
    assert_eq!(sandbox.run(&["sandbox", "pay", &delivered]).status.code(), Some(0));
    assert_eq!(callback_outcomes(&sandbox, 2)[1], "delivered");

    for refused in [&["--drop", "1.5"][..], &["--delay-by", "7200"]] {
        let mut args = vec!["sandbox", "callback-faults"];
        args.extend_from_slice(refused);
        let out = sandbox.run(&args);
        assert_eq!(out.status.code(), Some(2), "{refused:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // Chances that add up to more than 1 pass each flag's check; the sandbox refuses them.
    let out = sandbox.run(&["--json", "sandbox", "callback-faults", "--drop", "0.7", "--delay", "0.5"]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&sandbox.run(&["--json", "sandbox", "callback-faults"]).stdout)["delay"], 0.0, "nothing changed");
}
