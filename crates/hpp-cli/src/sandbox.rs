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
    let chances = [args.callback_drop, args.callback_duplicate, args.callback_delay];
    if chances.iter().any(|c| !(0.0..=1.0).contains(c)) || chances.iter().sum::<f64>() > 1.0 {
        return output.failure(&Failure::usage(
            "--callback-drop, --callback-duplicate and --callback-delay are chances between 0 and 1, together at most 1",
        ));
    }
    let Some(delay_by) = within_an_hour(args.callback_delay_by) else {
        return output.failure(&Failure::usage("callback durations must be between 0 and 3600 seconds"));
    };
    let mut faults = hpp_sandbox::CallbackFaults::default();
    (faults.drop, faults.duplicate, faults.delay) = (args.callback_drop, args.callback_duplicate, args.callback_delay);
    (faults.delay_by, faults.seed) = (delay_by, args.callback_seed);
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

/// `sandbox pay|cancel|fail SESSION`: the sandbox's control call for a consumer's action.
pub(crate) async fn play_consumer(
    config: &Config,
    action: ConsumerAction,
    timeout: Duration,
    output: &Output,
) -> ExitCode {
    use hpp_core::Transport;
    // The pay page's own buttons (`POST /_sandbox/pay/{id}/complete|cancel|fail`): what a
    // consumer can do, no more. A session that can no longer be paid is answered 409 (exit 4),
    // and nothing changes: no status, no callback.
    let (session, button) = match action {
        ConsumerAction::Pay { session } => (session, "complete"),
        ConsumerAction::Cancel { session } => (session, "cancel"),
        ConsumerAction::Fail { session } => (session, "fail"),
    };
    // The id, from an id or a URL the API returned, checked as every API command checks it: the
    // path a read of it would take (its origin checked too).
    let read = match hpp_core::ReadSession::new(session.as_str()).build(config) {
        Ok(read) => read,
        Err(e) => return output.failure(&Failure::from(&e)),
    };
    let Some(session) = read.uri().path().rsplit('/').next().map(str::to_owned) else {
        return output.failure(&Failure::usage("SESSION names no session"));
    };
    let mut request = http::Request::new(Vec::new());
    *request.method_mut() = http::Method::POST;
    let url = format!("{}/_sandbox/pay/{session}/{button}", config.base_url());
    match url.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return output.failure(&Failure::usage("the base URL and session do not form a URL")),
    }
    let transport = HyperTransport::with_connect_timeout(timeout).with_timeout(timeout);
    let pressed = match transport.send(request).await {
        Ok(response) => response,
        Err(e) => return output.failure(&Failure::from(&Error::Transport(e))),
    };
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
