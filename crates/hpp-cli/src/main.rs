//! `kustom-hpp`: create, distribute, read and disable Hosted Payment Page sessions from a shell,
//! serve the local sandbox, or watch the whole story in `kustom-hpp demo`.

mod api;
mod callbacks;
mod cli;
mod demo;
mod listen;
mod masked;
mod output;
mod request;
mod sandbox;
mod session;
mod signals;
mod tracking;

use std::process::ExitCode;
use std::time::Duration;

use crate::api::{ApiCall, api_command, api_failure, client, config};
use crate::callbacks::listen_for_callbacks;
use crate::cli::*;
use crate::output::{Failure, Output, say};
use crate::sandbox::{sandbox_command, serve_sandbox};
use crate::session::watch;

fn main() -> ExitCode {
    let parsed = definitions()
        .try_get_matches()
        .and_then(|matches| Ok((<Cli as clap::FromArgMatches>::from_arg_matches(&matches)?, matches)));
    let cli = match parsed {
        Ok((cli, matches)) => {
            if let Some(message) = misplaced_flag(&matches) {
                return Output::new(cli.json).failure(&Failure::usage(&message));
            }
            cli
        }
        Err(e) => {
            let usage =
                !matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion);
            if usage && std::env::args().any(|a| a == "--json") {
                // The whole error, not its first line ("...were not provided:" and then which).
                let text = e.to_string();
                let detail: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .take_while(|l| !l.starts_with("Usage:"))
                    .filter(|l| !l.is_empty())
                    .collect();
                return Output::new(true).failure(&Failure::usage(&detail.join(" ")));
            }
            let _ = e.print();
            return if usage { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let output = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return output.failure(&Failure::usage(&format!("cannot start the async runtime: {e}"))),
    };
    runtime.block_on(run(cli, &output))
}

async fn run(cli: Cli, output: &Output) -> ExitCode {
    let given_timeout = match cli.timeout.map(|t| seconds_within(t, MAX_TIMEOUT)) {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => {
            let message = format!("--timeout must be a positive number of seconds, at most {}", MAX_TIMEOUT.as_secs());
            return output.failure(&Failure::usage(&message));
        }
    };
    let timeout = given_timeout.unwrap_or(DEFAULT_TIMEOUT);
    match cli.command {
        Command::Demo if output.json => {
            output.failure(&Failure::usage("the demo is told for people; every command it shows takes --json"))
        }
        Command::Demo => demo::run(output, timeout).await,
        Command::Completions { shell } => {
            let mut definitions = definitions();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut definitions, BIN_NAME, &mut script);
            let mut script = String::from_utf8_lossy(&script).into_owned();
            if shell == clap_complete::Shell::Bash {
                // clap_complete 4.6's bash script escapes a hyphenated binary name one way where
                // it records the state (`kustom__hpp__subcmd__session`) and another where it
                // looks the state up (`kustom__subcmd__hpp__subcmd__session`), so nothing
                // completes past the first word (clap-rs/clap#6421): spell both the same.
                script = script.replace(&BIN_NAME.replace('-', "__subcmd__"), &BIN_NAME.replace('-', "__"));
            }
            say!("{}", script.trim_end());
            ExitCode::SUCCESS
        }
        Command::Man { dir: Some(dir) } => {
            // A page per command, each named as the others refer to it (kustom-hpp-session-create.1).
            if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| clap_mangen::generate_to(definitions(), &dir)) {
                return output
                    .failure(&Failure::usage(&format!("cannot write the man pages to {}: {e}", dir.display())));
            }
            let mut pages: Vec<String> = std::fs::read_dir(&dir)
                .map(|entries| entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
                .unwrap_or_default();
            pages.retain(|p| p.starts_with(BIN_NAME) && p.ends_with(".1"));
            pages.sort();
            for page in pages {
                say!("{}", dir.join(page).display());
            }
            ExitCode::SUCCESS
        }
        Command::Man { dir: None } => {
            let mut page = Vec::new();
            if let Err(e) = clap_mangen::Man::new(definitions()).render(&mut page) {
                return output.failure(&Failure::usage(&format!("cannot render the man page: {e}")));
            }
            say!("{}", String::from_utf8_lossy(&page).trim_end());
            ExitCode::SUCCESS
        }
        Command::Sandbox(SandboxArgs { consumer: Some(action), .. }) => {
            let config =
                match config(cli.base_url.as_deref(), cli.environment, cli.send_credentials_over_plain_http, output) {
                    Ok(config) => config,
                    Err(failure) => return output.failure(&failure),
                };
            sandbox_command(&config, action, timeout, output).await
        }
        Command::Sandbox(args) => serve_sandbox(args, output).await,
        Command::Tracking(command) => tracking::tracking(command, output).await,
        Command::Callbacks(CallbacksCommand::Listen { port, secret, read_timeout, forward_to, store }) => {
            let Some(read_timeout) = seconds_within(read_timeout, MAX_WATCH_INTERVAL) else {
                return output.failure(&Failure::usage("--read-timeout must be between 0 and 3600 seconds"));
            };
            let forward_to = match forward_to.map(|url| url.parse::<http::Uri>()) {
                None => None,
                Some(Ok(uri)) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {
                    Some(uri)
                }
                Some(_) => return output.failure(&Failure::usage("--forward-to must be an http(s) URL")),
            };
            listen_for_callbacks(port, secret, read_timeout, forward_to, store, output).await
        }
        Command::Session(SessionCommand::Watch { session, interval }) => {
            let Some(interval) = seconds_within(interval, MAX_WATCH_INTERVAL) else {
                return output.failure(&Failure::usage(&format!(
                    "--interval must be a positive number of seconds, at most {}",
                    MAX_WATCH_INTERVAL.as_secs()
                )));
            };
            let config =
                match config(cli.base_url.as_deref(), cli.environment, cli.send_credentials_over_plain_http, output) {
                    Ok(config) => config,
                    Err(failure) => return output.failure(&failure),
                };
            let client = client(config, timeout.min(DEFAULT_TIMEOUT));
            watch(&client, &session, interval, given_timeout, output).await
        }
        command => {
            // The request first: a refused input needs no credentials and sends nothing.
            let call = match ApiCall::prepare(command) {
                Ok(call) => call,
                Err(failure) => return output.failure(&failure),
            };
            let config =
                match config(cli.base_url.as_deref(), cli.environment, cli.send_credentials_over_plain_http, output) {
                    Ok(config) => config,
                    Err(failure) => return output.failure(&failure),
                };
            let client = client(config, timeout);
            let base = client.config().base_url().to_string();
            let kind = call.kind();
            match api_command(&client, call, output).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => output.failure(&api_failure(&error, &base, kind)),
            }
        }
    }
}

/// The binary's name, as completions and man pages call it.
const BIN_NAME: &str = "kustom-hpp";

/// Connect and per-response timeout when `--timeout` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest `--timeout`: 30 days.
const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

/// The longest `session watch --interval`: an hour.
const MAX_WATCH_INTERVAL: Duration = Duration::from_secs(3600);

/// The longest a watch waits between reads while nothing changes, unless `--interval` is longer.
const MAX_WATCH_BACKOFF: Duration = Duration::from_secs(30);

/// `seconds` as a duration when it is positive, finite and at most `max`.
fn seconds_within(seconds: f64, max: Duration) -> Option<Duration> {
    Duration::try_from_secs_f64(seconds).ok().filter(|d| !d.is_zero() && *d <= max)
}
