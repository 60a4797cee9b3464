//! The real `kustom-hpp` binary against a real `kustom-hpp sandbox` process: exit codes, the JSON
//! on stdout and stderr, masking, clean shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

mod callbacks;
mod help_and_output;
mod sandbox;
mod session;
mod tracking;

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

/// `kustom-hpp sandbox EXTRA…` started, and its ready line (the first line of its output, JSON:
/// it is serving once that is printed).
fn start_sandbox(extra: &[&str], stderr: Stdio) -> (Child, serde_json::Value) {
    let mut child = Command::new(BIN)
        .arg("sandbox")
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start the sandbox");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, serde_json::from_str(&line).expect("first line is JSON"))
}

impl SandboxProcess {
    fn start(extra: &[&str]) -> Self {
        let (child, ready) = start_sandbox(extra, Stdio::null());
        let field = |k: &str| ready[k].as_str().unwrap().to_owned();
        Self { base_url: field("base_url"), username: field("username"), password: field("password"), child }
    }

    /// `program` (the CLI, or `script` running it in a terminal) pointed at this sandbox with
    /// its credentials, and no API key from the environment.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("KUSTOM_HPP_BASE_URL", &self.base_url)
            .env("KUSTOM_USERNAME", &self.username)
            .env("KUSTOM_PASSWORD", &self.password)
            .env_remove("KUSTOM_API_KEY");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(BIN).args(args).output().unwrap()
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

fn http_response(status: u16) -> http::Response<Vec<u8>> {
    http::Response::builder().status(status).body(Vec::new()).unwrap()
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
