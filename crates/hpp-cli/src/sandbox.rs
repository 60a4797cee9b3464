//! `sandbox`: the local sandbox served in the foreground, and the consumer played from a shell
//! (`sandbox pay|cancel|fail`).

use std::process::ExitCode;
use std::time::Duration;

use hpp_core::{Config, Error, Operation};
use hpp_hyper::HyperTransport;
use hpp_sandbox::{Sandbox, SandboxConfig, SandboxMode};

use crate::MAX_WATCH_INTERVAL;
use crate::api::{Call, api_failure};
use crate::cli::*;
use crate::output::{Failure, Output, say, say_err};
use crate::signals::StopSignals;

pub(crate) async fn serve_sandbox(args: SandboxArgs, output: &Output) -> ExitCode {
    let mut config = SandboxConfig::default();
    config.log_requests = true;
    config.credentials = match (args.username, args.password) {
        (Some(username), Some(password)) => Some((username, password)),
        (None, None) => None,
        _ => return output.failure(&Failure::usage("give both --username and --password, or neither")),
    };
    config.bind = args.bind;
    config.advertise = args.advertise;
    config.port = args.port;
    config.email_limit = args.email_limit;
    config.blocked = args.blocked;
    config.mode = if args.production { SandboxMode::Production } else { SandboxMode::Playground };
    let within_an_hour = |s: f64| Duration::try_from_secs_f64(s).ok().filter(|d| *d <= MAX_WATCH_INTERVAL);
    match (within_an_hour(args.callback_timeout), within_an_hour(args.callback_retry_delay)) {
        (Some(timeout), Some(delay)) => (config.callback_timeout, config.callback_retry_delay) = (timeout, delay),
        _ => return output.failure(&Failure::usage("callback durations must be between 0 and 3600 seconds")),
    }
    // Callback faults, as the service and the network make them (lost, duplicated, held back).
    let Some(delay_by) = within_an_hour(args.callback_delay_by) else {
        return output.failure(&Failure::usage("callback durations must be between 0 and 3600 seconds"));
    };
    let mut faults = hpp_sandbox::CallbackFaults::default();
    (faults.drop, faults.duplicate, faults.delay) = (args.callback_drop, args.callback_duplicate, args.callback_delay);
    (faults.delay_by, faults.seed) = (delay_by, args.callback_seed);
    if let Err(why) = faults.check() {
        return output
            .failure(&Failure::usage(&format!("--callback-drop, --callback-duplicate, --callback-delay: {why}")));
    }
    config.callback_faults = faults;
    let sandbox = match Sandbox::start(config).await {
        Ok(sandbox) => sandbox,
        Err(e) => return output.failure(&Failure::usage(&format!("cannot start the sandbox: {e}"))),
    };
    // Listen for the stop signals before announcing readiness, so a signal sent right after the
    // first line is never lost to the default action.
    let stop = match StopSignals::listen() {
        Ok(stop) => stop,
        Err(e) => return output.failure(&Failure::usage(&format!("cannot listen for signals: {e}"))),
    };
    let ready = serde_json::json!({
        "base_url": sandbox.base_url(),
        "username": sandbox.username(),
        "password": sandbox.password(),
    });
    say!("{ready}");
    if !args.bind.is_loopback() {
        say_err!(
            "warning: the sandbox listens on {} (beyond loopback): whoever reaches it can use it with \
             the credentials above; use a private test network only",
            args.bind
        );
    }
    if !output.json {
        say_err!("sandbox listening on {}; stop with Ctrl-C. For a client in another shell:", sandbox.base_url());
        say_err!("export KUSTOM_HPP_BASE_URL={}", sandbox.base_url());
        say_err!("export KUSTOM_USERNAME={}", sandbox.username());
        say_err!("export KUSTOM_PASSWORD={}", sandbox.password());
        say_err!(
            "Play the consumer: open a session's redirect_url (or scan the code `session create --qr` prints), or `kustom-hpp sandbox pay SESSION`."
        );
    }
    stop.wait().await;
    sandbox.stop().await;
    ExitCode::SUCCESS
}

/// `sandbox pay|cancel|fail|callback-faults`: a call to a running sandbox's controls.
pub(crate) async fn sandbox_command(
    config: &Config,
    command: SandboxCommand,
    timeout: Duration,
    output: &Output,
) -> ExitCode {
    // The pay page's own buttons (`POST /_sandbox/pay/{id}/complete|cancel|fail`): what a
    // consumer can do, no more.
    let (session, button) = match command {
        SandboxCommand::Pay { session } => (session, "complete"),
        SandboxCommand::Cancel { session } => (session, "cancel"),
        SandboxCommand::Fail { session } => (session, "fail"),
        SandboxCommand::CallbackFaults(args) => return callback_faults(config, &args, timeout, output).await,
    };
    press(config, &session, button, timeout, output).await
}

/// Presses the pay page's `button` for `session`, as the consumer would. A session that can no
/// longer be paid is answered 409 (exit 4), and nothing changes: no status, no callback.
async fn press(config: &Config, session: &str, button: &str, timeout: Duration, output: &Output) -> ExitCode {
    use hpp_core::Transport;
    // The id, from an id or a URL the API returned, checked as every API command checks it: the
    // path a read of it would take (its origin checked too).
    let read = match hpp_core::ReadSession::new(session).build(config) {
        Ok(read) => read,
        Err(e) => return output.failure(&Failure::from(&e)),
    };
    let Some(session) = read.uri().path().rsplit('/').next().map(str::to_owned) else {
        return output.failure(&Failure::usage("SESSION names no session"));
    };
    let mut request = http::Request::new(Vec::new());
    *request.method_mut() = http::Method::POST;
    let pressed = match control(config, request, &format!("/_sandbox/pay/{session}/{button}"), timeout).await {
        Ok(response) => response,
        Err(failure) => return output.failure(&failure),
    };
    let transport = HyperTransport::with_connect_timeout(timeout).with_timeout(timeout);
    let base_url = config.base_url().to_string();
    if !(pressed.status().is_success() || pressed.status().is_redirection()) {
        // Refused as the page refuses it (409: no longer payable; 404: no such session).
        let refused = hpp_core::ReadSession::new(session.as_str()).parse(pressed);
        let error = refused.err().unwrap_or_else(|| Error::Transport(hpp_core::TransportError::other("refused")));
        return output.failure(&api_failure(&error, &base_url, Call::Read));
    }
    // The session as the API now shows it.
    let shown = match transport.send(read).await {
        Ok(response) => hpp_core::ReadSession::new(session.as_str()).parse(response),
        Err(e) => Err(Error::Transport(e)),
    };
    match shown {
        Ok(session) => {
            output.session(&session);
            ExitCode::SUCCESS
        }
        Err(e) => output.failure(&api_failure(&e, &base_url, Call::Read)),
    }
}

/// `sandbox callback-faults [--drop …]`: `GET /_sandbox/callback-faults`, or `PUT` with the
/// chances given, on the running sandbox (with the configured credentials); prints what is in force.
async fn callback_faults(config: &Config, args: &CallbackFaultArgs, timeout: Duration, output: &Output) -> ExitCode {
    let mut change = serde_json::Map::new();
    for (key, value) in [("drop", args.drop), ("duplicate", args.duplicate), ("delay", args.delay)] {
        match value {
            Some(chance) if !(0.0..=1.0).contains(&chance) => {
                return output.failure(&Failure::usage(&format!("--{key} is a chance between 0 and 1")));
            }
            Some(chance) => drop(change.insert(key.to_owned(), chance.into())),
            None => {}
        }
    }
    if let Some(secs) = args.delay_by {
        if !(0.0..=3600.0).contains(&secs) {
            return output.failure(&Failure::usage("--delay-by is between 0 and 3600 seconds"));
        }
        change.insert("delay_by_secs".to_owned(), secs.into());
    }
    if let Some(seed) = args.seed {
        change.insert("seed".to_owned(), seed.into());
    }
    // The credentials' header, from a request the SDK builds with them.
    let read = match hpp_core::ReadSession::new("callback-faults").build(config) {
        Ok(read) => read,
        Err(e) => return output.failure(&Failure::from(&e)),
    };
    let mut request = http::Request::new(Vec::new());
    if !change.is_empty() {
        *request.method_mut() = http::Method::PUT;
        *request.body_mut() = serde_json::Value::Object(change).to_string().into_bytes();
        request.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    }
    for name in [http::header::AUTHORIZATION, http::header::USER_AGENT] {
        if let Some(value) = read.headers().get(&name) {
            request.headers_mut().insert(name, value.clone());
        }
    }
    let answer = match control(config, request, "/_sandbox/callback-faults", timeout).await {
        Ok(response) => response,
        Err(failure) => return output.failure(&failure),
    };
    let base_url = config.base_url().to_string();
    let shown = match answer.status().is_success() {
        true => serde_json::from_slice::<serde_json::Value>(answer.body()).ok(),
        false => {
            let status = answer.status();
            let refused = hpp_core::ReadSession::new("callback-faults").parse(answer);
            let error = refused.err().unwrap_or_else(|| Error::Transport(hpp_core::TransportError::other("refused")));
            let failure = api_failure(&error, &base_url, Call::Read);
            return output.failure(&if status == http::StatusCode::BAD_REQUEST {
                failure.with_advice("the sandbox refused these faults (the message says why); nothing changed")
            } else {
                failure
            });
        }
    };
    let Some(shown) = shown else {
        return output
            .failure(&Failure::usage("the sandbox's answer is not JSON: is the base URL a kustom-hpp sandbox?"));
    };
    output.callback_faults(&shown);
    ExitCode::SUCCESS
}

/// Sends `request` to the running sandbox's control `path` (under the configured base URL): its
/// answer, or the failure to report.
async fn control(
    config: &Config,
    mut request: http::Request<Vec<u8>>,
    path: &str,
    timeout: Duration,
) -> Result<hpp_core::Response, Failure> {
    use hpp_core::Transport;
    let url = format!("{}{path}", config.base_url());
    *request.uri_mut() =
        url.parse().map_err(|_| Failure::usage("the base URL and the control's path do not form a URL"))?;
    let transport = HyperTransport::with_connect_timeout(timeout).with_timeout(timeout);
    transport.send(request).await.map_err(|e| Failure::from(&Error::Transport(e)))
}
