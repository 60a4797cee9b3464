//! The real `kustom-hpp` binary against a real `kustom-hpp sandbox` process: exit codes, the JSON
//! on stdout and stderr, masking, clean shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kustom-hpp");

/// A `callbacks listen --json` process with this secret (and extra arguments), its first line
/// (`url`, `status_update`, ...), and its stdout lines after it.
fn spawn_listener(
    secret: &str,
    extra: &[&str],
) -> (Child, serde_json::Value, std::io::Lines<BufReader<std::process::ChildStdout>>) {
    let mut listener = Command::new(BIN)
        .args(["--json", "callbacks", "listen", "--secret", secret])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(listener.stdout.take().unwrap()).lines();
    let ready = json(lines.next().unwrap().unwrap().as_bytes());
    (listener, ready, lines)
}

/// Creates a session whose status callbacks go to `status_update`; its id.
fn create_with_callbacks(sandbox: &SandboxProcess, status_update: &str) -> String {
    let out = sandbox.run(&[
        "--json",
        "session",
        "create",
        "--payment-session-url",
        "https://x.example/o",
        "--status-update",
        status_update,
    ]);
    json(&out.stdout)["session_id"].as_str().unwrap().to_owned()
}

/// The outcomes of the sandbox's callback attempts, once there are `n` (an attempt is recorded
/// when its answer arrives, which can be just after the listener acted on it).
fn callback_outcomes(sandbox: &SandboxProcess, n: usize) -> Vec<String> {
    loop {
        let attempts = control_get(sandbox, "/_sandbox/callbacks");
        let outcomes: Vec<String> = attempts["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["outcome"].as_str().unwrap().to_owned())
            .collect();
        if outcomes.len() >= n {
            return outcomes;
        }
    }
}

/// A sandbox process, ready once its first stdout line (the JSON with its address) has arrived.
struct SandboxProcess {
    child: Child,
    base_url: String,
    username: String,
    password: String,
}

impl SandboxProcess {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .arg("sandbox")
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the sandbox");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let ready: serde_json::Value = serde_json::from_str(&line).expect("first line is JSON");
        let field = |k: &str| ready[k].as_str().unwrap().to_owned();
        Self { base_url: field("base_url"), username: field("username"), password: field("password"), child }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("KUSTOM_HPP_BASE_URL", &self.base_url)
            .env("KUSTOM_USERNAME", &self.username)
            .env("KUSTOM_PASSWORD", &self.password)
            .env_remove("KUSTOM_API_KEY")
            .output()
            .unwrap()
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

fn create(sandbox: &SandboxProcess) -> serde_json::Value {
    let out = sandbox.run(&["--json", "session", "create", "--payment-session-url", "https://x.example/orders/1"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    json(&out.stdout)
}

#[test]
fn demo_runs_the_whole_story() {
    let out = Command::new(BIN).arg("demo").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "Session created",
        "WAITING",
        "EMAIL_LIMIT_EXCEEDED",
        "invalid_input",
        "Final status: COMPLETED",
        "callback  COMPLETED",
        "DISABLED",
    ] {
        assert!(stdout.contains(expected), "missing {expected}:\n{stdout}");
    }
    assert!(!stdout.contains("jane.doe@example.com"), "addresses are masked:\n{stdout}");
}

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
fn sandbox_stops_on_sigterm() {
    let mut sandbox = SandboxProcess::start(&[]);
    let pid = sandbox.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = sandbox.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a clean stop on SIGTERM");
}

/// POSTs `body` to the sandbox's `path` over a plain socket; returns the status line.
fn control(sandbox: &SandboxProcess, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(sandbox.base_url.trim_start_matches("http://")).unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: sandbox\r\nauthorization: Basic {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        sandbox.password,
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
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

/// GETs the sandbox's `path` over a plain socket; returns the body as JSON.
fn control_get(sandbox: &SandboxProcess, path: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(sandbox.base_url.trim_start_matches("http://")).unwrap();
    let password = &sandbox.password;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: sandbox\r\nauthorization: Basic {password}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    json(answer.split_once("\r\n\r\n").unwrap().1.as_bytes())
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
fn no_user_input_makes_the_cli_panic() {
    let sandbox = SandboxProcess::start(&[]);
    let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
    // Intervals over 30 s once panicked (a clamp with min > max); huge ones overflowed.
    let out = sandbox.run(&["--json", "--timeout", "0.3", "session", "watch", &id, "--interval", "31"]);
    assert_eq!(out.status.code(), Some(8), "{}", String::from_utf8_lossy(&out.stderr));
    for (flag, value) in [("--interval", "1e12"), ("--interval", "-1"), ("--interval", "NaN"), ("--timeout", "1e300")] {
        let out = sandbox.run(&["--json", "session", "watch", &id, flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(json(&out.stderr)["error"]["kind"], "usage");
    }
    let out = sandbox.run(&["--json", "sandbox", "--callback-timeout", "1e300"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let long_url = format!("https://api.example.com/{}", "p".repeat(70_000));
    let out = sandbox.run(&["--json", "--base-url", &long_url, "session", "get", "s1"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
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
fn help_never_prints_the_base_url_from_the_environment() {
    let out = Command::new(BIN)
        .args(["session", "get", "--help"])
        .env("KUSTOM_HPP_BASE_URL", "https://admin:hunter2-password@sandbox.internal")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("KUSTOM_HPP_BASE_URL"), "{help}");
    assert!(!help.contains("hunter2") && !help.contains("admin:"), "{help}");
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
                String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"),
                "{}",
                String::from_utf8_lossy(&answer)
            );
        }
    }
    let _ = listener.kill();
    let _ = listener.wait();
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
    let mut server = Command::new(BIN)
        .args(["sandbox", "--bind", &address])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ready = json(line.as_bytes());
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
    let mut watch = Command::new(BIN)
        .args(["--json", "session", "watch", &id, "--interval", "0.05"])
        .env("KUSTOM_HPP_BASE_URL", &sandbox.base_url)
        .env("KUSTOM_USERNAME", &sandbox.username)
        .env("KUSTOM_PASSWORD", &sandbox.password)
        .env_remove("KUSTOM_API_KEY")
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

/// Runs `args`, reads one line of stdout, closes it, and returns the exit status and stderr.
fn close_stdout_after_one_line(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    drop(reader);
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_closed_pipe_ends_the_demo_quietly() {
    let (code, stderr) = close_stdout_after_one_line(&["demo"], &[]);
    assert_eq!(code, Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
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
    let out = sandbox.run(&["--json", "sandbox", "pay", "no-such-session"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_sandbox_logs_each_request_and_prints_ready_to_paste_exports() {
    let mut server = Command::new(BIN)
        .args(["sandbox", "--username", "team-sandbox", "--password", "fixed-password-123"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ready = json(line.as_bytes());
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

#[test]
fn help_answers_and_json_usage_errors_keep_their_detail() {
    let help = Command::new(BIN).arg("--help").env("COLUMNS", "60").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for expected in
        ["KUSTOM_API_KEY", "KUSTOM_USERNAME and KUSTOM_PASSWORD", "Exit codes: 0 success", "141 stdout was closed"]
    {
        assert!(help.contains(expected), "{expected} missing:\n{help}");
    }
    assert!(help.lines().all(|l| l.chars().count() <= 60), "wrapped to the terminal:\n{help}");
    for (command, described) in [
        (&["distribute", "email", "--help"][..], "The consumer's e-mail address"),
        (&["distribute", "token", "--help"], "The access id the device showed"),
        (&["distribute", "sms", "--help"], "ISO 3166 alpha-2"),
        (&["session", "get", "--help"], "The session: its id"),
    ] {
        let out = String::from_utf8(Command::new(BIN).args(command).output().unwrap().stdout).unwrap();
        assert!(out.contains("The session: its id") && out.contains(described), "{command:?}:\n{out}");
    }
    let out = Command::new(BIN).args(["--json", "session", "create"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let message = json(&out.stderr)["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("--payment-session-url"), "{message}");
}

#[test]
fn callbacks_are_forwarded_to_the_local_app_and_its_answer_relayed() {
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
    // The app got the callbacks as the service sent them: its body and headers.
    for _ in 0..4 {
        let request = app.next_request();
        assert_eq!((request.method.as_str(), request.target.as_str()), ("POST", "/webhooks/kustom"));
        let event: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(event["session"]["session_id"], id.as_str());
        assert!(request.header("user-agent").is_some_and(|ua| ua.starts_with(b"hpp-sandbox/")), "{request:?}");
    }
    // The service heard what the app said, and retried what it did not accept. (The last
    // attempt is recorded once its answer arrives: read until all four are there.)
    let outcomes = callback_outcomes(&sandbox, 4);
    assert_eq!(outcomes, ["status 500", "delivered", "status 502", "delivered"]);
    let _ = listener.kill();
    let _ = listener.wait();
}

fn http_response(status: u16) -> http::Response<Vec<u8>> {
    http::Response::builder().status(status).body(Vec::new()).unwrap()
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
    assert!(stderr.starts_with(&format!("requests go to {base_url}\n")), "{stderr}");
    assert!(stderr.contains(&format!("[{base_url}: the connection was refused]")), "{stderr}");
}

#[test]
fn completions_and_man_page_come_from_the_same_definitions() {
    let bash = Command::new(BIN).args(["completions", "bash"]).output().unwrap();
    assert_eq!(bash.status.code(), Some(0));
    let bash = String::from_utf8(bash.stdout).unwrap();
    for word in
        ["kustom-hpp", "session", "distribute", "callbacks", "--forward-to", "--send-credentials-over-plain-http"]
    {
        assert!(bash.contains(word), "{word} missing from the bash completions");
    }
    let man = String::from_utf8(Command::new(BIN).arg("man").output().unwrap().stdout).unwrap();
    assert!(man.contains(".TH kustom-hpp 1") && man.contains("KUSTOM_API_KEY"), "{man}");
    assert_eq!(Command::new(BIN).args(["completions", "tcsh"]).output().unwrap().status.code(), Some(2));
}

/// Every change to the help is a reviewed diff.
#[test]
fn help_snapshots() {
    for (name, args) in [
        ("top", &["--help"][..]),
        ("session_watch", &["session", "watch", "--help"]),
        ("callbacks_listen", &["callbacks", "listen", "--help"]),
        ("sandbox", &["sandbox", "--help"]),
        ("distribute_sms", &["distribute", "sms", "--help"]),
        ("session_create", &["session", "create", "--help"]),
    ] {
        let out =
            Command::new(BIN).args(args).env("COLUMNS", "100").env_remove("KUSTOM_HPP_BASE_URL").output().unwrap();
        insta::assert_snapshot!(format!("help_{name}"), String::from_utf8(out.stdout).unwrap());
    }
}

#[test]
fn json_is_indented_on_a_terminal_and_one_line_when_piped() {
    let sandbox = SandboxProcess::start(&[]);
    let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
    let piped = sandbox.run(&["--json", "session", "get", &id]);
    assert_eq!(String::from_utf8(piped.stdout).unwrap().lines().count(), 1);
    // `script` gives the command a terminal (util-linux, on every Debian machine).
    let command = format!("{BIN} --json session get {id}");
    let Ok(terminal) = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("KUSTOM_HPP_BASE_URL", &sandbox.base_url)
        .env("KUSTOM_USERNAME", &sandbox.username)
        .env("KUSTOM_PASSWORD", &sandbox.password)
        .env_remove("KUSTOM_API_KEY")
        .output()
    else {
        assert!(std::env::var_os("CI").is_none(), "`script` (util-linux) is missing");
        return;
    };
    let shown = String::from_utf8_lossy(&terminal.stdout).replace('\r', "");
    assert!(shown.starts_with("{\n  \""), "{shown}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&shown).unwrap()["session_id"], id.as_str());
}

#[test]
fn the_demo_is_for_people_and_the_listener_says_what_to_register() {
    let out = Command::new(BIN).args(["--json", "demo"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(json(&out.stderr)["error"]["message"].as_str().unwrap().contains("takes --json"));
    let (mut listener, ready, _lines) = spawn_listener("right-secret-123", &[]);
    assert!(ready["status_update"].as_str().unwrap().ends_with("/callbacks?secret=<your secret>"), "{ready}");
    assert!(ready["url"].as_str().unwrap().ends_with("/callbacks"), "{ready}");
    let _ = listener.kill();
    let _ = listener.wait();
}

/// The CLI against a loopback server that records what it is sent, answering `replies`.
fn against_loopback(replies: Vec<http::Response<Vec<u8>>>) -> hpp_conformance::loopback::Loopback {
    hpp_conformance::loopback::Loopback::start(replies)
}

fn run_at(base_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .env("KUSTOM_HPP_BASE_URL", base_url)
        .env("KUSTOM_API_KEY", "kco_test_api_cli")
        .env_remove("KUSTOM_USERNAME")
        .env_remove("KUSTOM_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
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
    assert_eq!(post_raw(&to_a, &event("e1", "COMPLETED")), 204);
    assert_eq!(json(lines_a.next().unwrap().unwrap().as_bytes())["event_id"], "e1");
    // The service's retry of e1 lands on the other listener: acknowledged, not printed again.
    assert_eq!(post_raw(&to_b, &event("e1", "COMPLETED")), 204);
    assert_eq!(post_raw(&to_b, &event("e2", "IN_PROGRESS")), 204);
    assert_eq!(json(lines_b.next().unwrap().unwrap().as_bytes())["event_id"], "e2", "e1 was not printed twice");
    // A listener restarted (a deploy) remembers: the store does.
    let _ = a.kill();
    let _ = a.wait();
    let (mut a, ready_a, mut lines_a) = spawn_listener(secret, &["--store", &store]);
    let to_a = format!("{}?secret={secret}", ready_a["url"].as_str().unwrap());
    assert_eq!(post_raw(&to_a, &event("e1", "COMPLETED")), 204);
    assert_eq!(post_raw(&to_a, &event("e2", "IN_PROGRESS")), 204);
    assert_eq!(post_raw(&to_a, &event("e3", "CANCELLED")), 204);
    assert_eq!(json(lines_a.next().unwrap().unwrap().as_bytes())["event_id"], "e3", "e1 and e2 were not printed again");
    // An event the app refused is not recorded: the service's retry delivers it again.
    let (mut c, ready_c, _lines_c) =
        spawn_listener(secret, &["--store", &store, "--forward-to", "http://127.0.0.1:9/app"]);
    let to_c = format!("{}?secret={secret}", ready_c["url"].as_str().unwrap());
    assert_eq!(post_raw(&to_c, &event("e4", "COMPLETED")), 502, "the app did not answer");
    assert_eq!(post_raw(&to_b, &event("e4", "COMPLETED")), 204);
    assert_eq!(json(lines_b.next().unwrap().unwrap().as_bytes())["event_id"], "e4", "delivered again, not lost");
    for child in [&mut a, &mut b, &mut c] {
        let _ = child.kill();
        let _ = child.wait();
    }
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
    assert_eq!(answer_status(&mut stream).unwrap(), 204);
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
/// neither acknowledged nor forwarded until the app has answered: it gets the app's answer.
#[test]
fn a_redelivery_waits_for_the_outcome_of_the_first() {
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
    second.set_read_timeout(Some(std::time::Duration::from_millis(500))).unwrap();
    let early = answer_status(&mut second);
    assert!(early.is_err(), "the redelivery was answered {early:?} before the app answered the first");
    second.set_read_timeout(None).unwrap();
    held.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
    drop(held);
    assert_eq!(answer_status(&mut first).unwrap(), 500);
    assert_eq!(answer_status(&mut second).unwrap(), 500, "the redelivery gets the app's answer");
    // Not acknowledged, so not remembered: the next retry is forwarded again.
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
    assert_eq!(answer_status(&mut third).unwrap(), 204);
    let _ = listener.kill();
    let _ = listener.wait();
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
