//! `kustom-hpp`: create, distribute, read and disable Hosted Payment Page sessions from a shell,
//! serve the local sandbox, or watch the whole story in `kustom-hpp demo`.

mod demo;
mod listen;
mod masked;
mod output;
mod request;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hpp_core::callback::CallbackSecret;
use hpp_core::model::{PaymentMethodCategory, PlaceOrderMode, PurchaseType, ShowSubtotalDetail};
use hpp_core::{
    Client, Config, CreateSession, Credentials, Distribution, Environment, Error, MerchantUrls, Mode, Region,
    SessionStatus, WatchOptions, WatchOutcome,
};
use hpp_hyper::HyperTransport;
use hpp_sandbox::{Sandbox, SandboxConfig, SandboxMode};

use crate::output::{Failure, Output, say, say_err};

/// The Kustom Hosted Payment Page API from a shell.
#[derive(Debug, Parser)]
#[command(
    name = "kustom-hpp",
    version,
    about,
    after_help = "Credentials (never as flags): KUSTOM_API_KEY, or KUSTOM_USERNAME and KUSTOM_PASSWORD.\n\
Where requests go: --base-url (or KUSTOM_HPP_BASE_URL), else --environment.\n\
Exit codes: 0 success; 2 usage or configuration; 3 input refused locally, nothing sent; 4 the API \
answered with an error; 5 no response (the message says whether the request may have been sent); \
6 a response that could not be read; 8 `session watch --timeout` passed; 10-13 `session watch` \
ended unpaid (see its --help); 141 stdout was closed."
)]
struct Cli {
    /// Base URL of the API (a local sandbox, for example), instead of --environment.
    #[arg(long, global = true, env = "KUSTOM_HPP_BASE_URL", hide_env_values = true)]
    base_url: Option<String>,
    /// Which Kustom environment, playground by default (klarna-* for merchants not yet moved);
    /// not together with a base URL, from the flag or the environment.
    #[arg(long, global = true, value_enum)]
    environment: Option<EnvironmentArg>,
    /// Seconds to wait for connecting and for each response (default 30 in the CLI; the SDK's
    /// transports default to 10 to connect and 60 per attempt); for `session watch`,
    /// how long to watch before giving up (exit 8; default: until the session is final or expired).
    #[arg(long, global = true)]
    timeout: Option<f64>,
    /// Print one JSON object: the result on stdout, or the error on stderr.
    #[arg(long, global = true)]
    json: bool,
    /// Allow a plain-http --base-url beyond loopback (a sandbox on a private test network). The
    /// credentials then cross that network unencrypted. Never for production.
    #[arg(long, global = true)]
    send_credentials_over_plain_http: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EnvironmentArg {
    Playground,
    Production,
    KlarnaEuPlayground,
    KlarnaEuProduction,
    KlarnaNaPlayground,
    KlarnaNaProduction,
    KlarnaOcPlayground,
    KlarnaOcProduction,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Walk the whole story against an in-process sandbox.
    Demo,
    /// Serve the sandbox in the foreground (prints {"base_url","username","password"} first, and
    /// `export` lines on stderr), or play the consumer against a running one (`pay`, `cancel`).
    #[command(args_conflicts_with_subcommands = true)]
    Sandbox(SandboxArgs),
    /// Create, read or disable sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Send a session's pay link to the consumer.
    #[command(subcommand)]
    Distribute(DistributeCommand),
    /// Receive status callbacks.
    #[command(subcommand)]
    Callbacks(CallbacksCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell), generated from the
    /// same definitions as this help: `kustom-hpp completions bash > /etc/bash_completion.d/kustom-hpp`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `kustom-hpp man > kustom-hpp.1 && man ./kustom-hpp.1`.
    Man,
}

#[derive(Debug, Subcommand)]
enum CallbacksCommand {
    /// Receive status_update callbacks on 127.0.0.1, check the secret, print each event once.
    /// Prints {"url": ...} first; stops on SIGINT or SIGTERM.
    Listen {
        /// Port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Accept only callbacks whose URL carries ?secret=S.
        #[arg(long, env = CALLBACK_SECRET_ENV, hide_env_values = true)]
        secret: Option<String>,
        /// Seconds a connection has to send a request's headers and body before it is closed.
        #[arg(long, default_value_t = 10.0)]
        read_timeout: f64,
        /// Forward each verified, first-seen callback to your local app at this URL: its body, and
        /// its headers but the connection's own (Connection and those it names, Keep-Alive, TE,
        /// Trailer, Transfer-Encoding, Upgrade, Proxy-Connection) and credentials (Authorization,
        /// Proxy-Authorization, Cookie). Answer the service with the app's status (502 when it
        /// does not answer), so the service retries what your app did not accept; a redelivery
        /// arriving meanwhile waits for that answer.
        #[arg(long, value_name = "URL")]
        forward_to: Option<String>,
        /// Share de-duplication with other listeners, across restarts, in this PostgreSQL
        /// database (postgres://user:password@host/db, no TLS; its tables are created if
        /// missing): each event is printed (and forwarded) by one listener, once; one the app
        /// refused is not recorded, so the service's retry delivers it again.
        #[arg(long, value_name = "POSTGRES_URL", env = CALLBACK_STORE_ENV, hide_env_values = true)]
        store: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ConsumerAction {
    /// Pay a session as the consumer would (status COMPLETED, callbacks sent), on the sandbox at
    /// --base-url / KUSTOM_HPP_BASE_URL with the usual credentials. SESSION: an id.
    Pay {
        /// The session id.
        session: String,
    },
    /// Cancel a session as the consumer would (status CANCELLED). SESSION: an id.
    Cancel {
        /// The session id.
        session: String,
    },
    /// Have the consumer's purchase refused (status FAILED, which is not final: the consumer may
    /// try again). SESSION: an id.
    Fail {
        /// The session id.
        session: String,
    },
}

#[derive(Debug, Args)]
struct SandboxArgs {
    #[command(subcommand)]
    consumer: Option<ConsumerAction>,
    /// Fixed username instead of a random one (repeatable setups).
    #[arg(long, env = "KUSTOM_HPP_SANDBOX_USERNAME")]
    username: Option<String>,
    /// Fixed password instead of a random one (at least 12 characters).
    #[arg(long, env = "KUSTOM_HPP_SANDBOX_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Address to listen on. Beyond loopback, anyone who can reach it can use the sandbox with its
    /// printed credentials: a private test network only.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Host clients use to reach the sandbox (a compose service name), in its base URL and the
    /// URLs it returns. Default: the bind address, or the hostname when bound to 0.0.0.0 or ::.
    #[arg(long)]
    advertise: Option<String>,
    /// Port (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// E-mails allowed per day.
    #[arg(long, default_value_t = 100)]
    email_limit: u32,
    /// A recipient to refuse with BLACKLIST_REFUSED (repeatable).
    #[arg(long = "block", value_name = "EMAIL")]
    blocked: Vec<String>,
    /// Behave like production (SMS allowed) instead of the playground.
    #[arg(long)]
    production: bool,
    /// Seconds a callback listener has to answer (the service allows 3).
    #[arg(long, default_value_t = 3.0)]
    callback_timeout: f64,
    /// Seconds before each of the three callback retries.
    #[arg(long, default_value_t = 2.0)]
    callback_retry_delay: f64,
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    /// Create a session for a payment session or checkout order.
    Create(Box<CreateArgs>),
    /// Read a session (SESSION: an id or a session_url).
    Get {
        /// The session: its id, or the session_url the API returned.
        session: String,
        /// Refused, with why: a read carries no pay link (`session create --qr` prints it).
        #[arg(long, hide = true)]
        qr: bool,
    },
    /// Disable a session (SESSION: an id or a session_url).
    Disable {
        /// The session: its id, or the session_url the API returned.
        session: String,
    },
    /// Print each status change until the session is final or --timeout passes. Exit 0 only when
    /// the consumer completed the payment (COMPLETED): 10 CANCELLED, 11 DISABLED, 12 TIMEOUT (the
    /// consumer ran out of time), 13 the session expired, 8 --timeout passed first, 4 no such session.
    #[command(after_help = "Exit codes: 0 COMPLETED (paid), 10 CANCELLED, 11 DISABLED, 12 TIMEOUT, \
        13 expired, 8 --timeout passed, 2 usage, 4 API error (no such session), 5 no response.\n\
        Only 0 means paid: `kustom-hpp session watch S && ship_order` ships paid orders only.")]
    Watch {
        /// The session: its id, or the URL the API returned for it.
        session: String,
        /// Seconds between reads at first (backing off while nothing changes).
        #[arg(long, default_value_t = 2.0)]
        interval: f64,
    },
}

#[derive(Debug, Args)]
#[command(after_help = "Every field of the create request can be set: a flag per field, or the whole body with \
    --body FILE (`-`: standard input), with flags set on top of it. Option values are checked against the \
    values listed; --allow-unknown-values sends one the API added after this version.")]
struct CreateArgs {
    /// URL of the payment session or checkout order (required, here or in --body).
    #[arg(long)]
    payment_session_url: Option<String>,
    /// The whole request body as JSON (SessionCreationRequestV1), from FILE or `-` for standard
    /// input; flags given too are set on top of it. A field the API does not define is refused.
    #[arg(long, value_name = "FILE")]
    body: Option<String>,
    /// Redirect after a successful payment.
    #[arg(long)]
    success: Option<String>,
    /// Redirect after cancelling.
    #[arg(long)]
    cancel: Option<String>,
    /// Redirect after pressing back.
    #[arg(long)]
    back: Option<String>,
    /// Redirect after a refusal.
    #[arg(long)]
    failure: Option<String>,
    /// Redirect after an error.
    #[arg(long)]
    error: Option<String>,
    /// Status callback URL.
    #[arg(long)]
    status_update: Option<String>,
    /// Profile with default options for the page (profile_id).
    #[arg(long)]
    profile_id: Option<String>,
    /// URL of the logo on the page (options.logo_url).
    #[arg(long)]
    logo_url: Option<String>,
    /// Title of the page (options.page_title).
    #[arg(long)]
    page_title: Option<String>,
    /// A background image, URL or URL@WIDTH in pixels (options.background_images; repeatable).
    #[arg(long = "background-image", value_name = "URL[@WIDTH]")]
    background_images: Vec<String>,
    /// Payment method categories to offer (options.payment_method_categories; repeatable or
    /// comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = request::KnownValues(PaymentMethodCategory::KNOWN))]
    payment_method_categories: Vec<String>,
    /// The one payment method category to offer (options.payment_method_category).
    #[arg(long, value_parser = request::KnownValues(PaymentMethodCategory::KNOWN))]
    payment_method_category: Option<String>,
    /// Who places the order after authorization (options.place_order_mode).
    #[arg(long, value_parser = request::KnownValues(PlaceOrderMode::KNOWN))]
    place_order_mode: Option<String>,
    /// The type of purchase, for the page's wording (options.purchase_type).
    #[arg(long, value_parser = request::KnownValues(PurchaseType::KNOWN))]
    purchase_type: Option<String>,
    /// Hide the subtotal detail (options.show_subtotal_detail).
    #[arg(long, value_parser = request::KnownValues(ShowSubtotalDetail::KNOWN))]
    show_subtotal_detail: Option<String>,
    /// Send option values not listed here (ones the API added after this version) instead of
    /// refusing them.
    #[arg(long)]
    allow_unknown_values: bool,
    /// Also print the pay link (redirect_url) as a QR code, for a phone to scan (not with --json).
    #[arg(long)]
    qr: bool,
}

impl CreateArgs {
    fn into_fields(self) -> request::CreateFields {
        let mut urls = MerchantUrls::default();
        urls.success = self.success;
        urls.cancel = self.cancel;
        urls.back = self.back;
        urls.failure = self.failure;
        urls.error = self.error;
        urls.status_update = self.status_update;
        request::CreateFields {
            body: self.body,
            payment_session_url: self.payment_session_url,
            merchant_urls: urls,
            profile_id: self.profile_id,
            logo_url: self.logo_url,
            page_title: self.page_title,
            background_images: self.background_images,
            payment_method_categories: self.payment_method_categories,
            payment_method_category: self.payment_method_category,
            place_order_mode: self.place_order_mode,
            purchase_type: self.purchase_type,
            show_subtotal_detail: self.show_subtotal_detail,
            allow_unknown_values: self.allow_unknown_values,
        }
    }
}

#[derive(Debug, Subcommand)]
enum DistributeCommand {
    /// E-mail the pay link (SESSION: an id or a distribution_url).
    Email {
        /// The session: its id, or the URL the API returned for it.
        session: String,
        #[arg(long)]
        /// The consumer's e-mail address.
        email: String,
        /// The template (the spec lists INSTORE_PURCHASE and calls it unused).
        #[arg(long)]
        template: Option<String>,
    },
    /// Hand the session to a device by its access id (SESSION: an id or a distribution_url).
    Token {
        /// The session: its id, or the URL the API returned for it.
        session: String,
        #[arg(long)]
        /// The access id the device showed (from its QR code flow).
        access_id: String,
        /// The template (the spec lists INSTORE_PURCHASE and calls it unused).
        #[arg(long)]
        template: Option<String>,
    },
    /// Text the pay link (SESSION: an id or a distribution_url).
    Sms {
        /// The session: its id, or the URL the API returned for it.
        session: String,
        #[arg(long)]
        /// The consumer's phone number.
        phone: String,
        #[arg(long)]
        /// The phone number's country, ISO 3166 alpha-2 (SE, NO, DE...).
        phone_country: String,
        /// The template (the spec lists INSTORE_PURCHASE and calls it unused).
        #[arg(long)]
        template: Option<String>,
    },
    /// Send a whole distribution request (DistributionRequestV1) as JSON from FILE, or `-` for
    /// standard input, checked as the other methods check theirs (SESSION: an id or a
    /// distribution_url).
    Body {
        /// The session: its id, or the URL the API returned for it.
        session: String,
        /// The JSON file, or `-` for standard input.
        #[arg(value_name = "FILE")]
        body: String,
    },
}

/// The flags that say where API requests go and how long to wait: global, so they may come
/// before or after the subcommand, but shown only where they apply.
const API_FLAGS: [&str; 4] = ["base_url", "environment", "send_credentials_over_plain_http", "timeout"];

/// The commands that send no API request, with the flags of [`API_FLAGS`] each still uses.
const NOT_API: [(&str, &[&str]); 5] =
    [("demo", &["timeout"]), ("sandbox", &[]), ("callbacks", &[]), ("completions", &[]), ("man", &[])];

/// The command line's definitions: the derived ones, with the API flags hidden from the help of
/// the commands they do not apply to (clap adds global flags to every subcommand).
fn definitions() -> clap::Command {
    let mut command = <Cli as clap::CommandFactory>::command();
    let originals: Vec<clap::Arg> =
        command.get_arguments().filter(|a| API_FLAGS.contains(&a.get_id().as_str())).cloned().collect();
    for (name, uses) in NOT_API {
        command = command.mut_subcommand(name, |mut sub| {
            // A hidden copy on the subcommand stops clap from propagating the visible global one
            // to it (and its own copy reaches `callbacks listen`, hidden too).
            for arg in originals.iter().filter(|a| !uses.contains(&a.get_id().as_str())) {
                sub = sub.arg(arg.clone().hide(true));
            }
            // `sandbox pay|cancel|fail` talk to a sandbox's API: the flags apply there, shown.
            let children: Vec<String> = sub.get_subcommands().map(|c| c.get_name().to_owned()).collect();
            for child in children.iter().filter(|_| name == "sandbox") {
                sub = sub.mut_subcommand(child, |mut c| {
                    for arg in &originals {
                        c = c.arg(arg.clone());
                    }
                    c
                });
            }
            sub
        });
    }
    command
}

/// An API flag given on the command line to a command it does not apply to (an environment
/// variable such as `KUSTOM_HPP_BASE_URL` is fine: it is set for other commands too).
fn misplaced_flag(matches: &clap::ArgMatches) -> Option<String> {
    let (name, sub) = matches.subcommand()?;
    let (_, uses) = NOT_API.iter().find(|(n, _)| *n == name)?;
    // `sandbox pay|cancel|fail` talk to a sandbox's API: every flag applies there.
    if name == "sandbox" && sub.subcommand().is_some() {
        return None;
    }
    let (path, innermost) = match sub.subcommand() {
        Some((child, m)) => (format!("{name} {child}"), m),
        None => (name.to_owned(), sub),
    };
    let given = |m: &clap::ArgMatches, flag: &str| m.value_source(flag) == Some(clap::parser::ValueSource::CommandLine);
    API_FLAGS.iter().filter(|f| !uses.contains(f)).find_map(|flag| {
        // Before the subcommand or after it: clap keeps a global flag's value at every level.
        let misplaced = given(matches, flag) || given(innermost, flag);
        misplaced.then(|| format!("--{} does not apply to `{path}`", flag.replace('_', "-")))
    })
}

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
            clap_complete::generate(shell, &mut definitions, "kustom-hpp", &mut script);
            say!("{}", String::from_utf8_lossy(&script).trim_end());
            ExitCode::SUCCESS
        }
        Command::Man => {
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
            play_consumer(&config, action, timeout, output).await
        }
        Command::Sandbox(args) => serve_sandbox(args, output).await,
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
            match api_command(&client, call, output).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => output.failure(&api_failure(&error, &base)),
            }
        }
    }
}

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

/// The environment variable holding `callbacks listen --store`.
const CALLBACK_STORE_ENV: &str = "KUSTOM_HPP_CALLBACK_STORE";

/// The environment variable holding `callbacks listen --secret`.
const CALLBACK_SECRET_ENV: &str = "KUSTOM_HPP_CALLBACK_SECRET";

/// Exit code of `session watch` when its timeout passes first.
const EXIT_WATCH_TIMEOUT: u8 = 8;

/// The client every command uses: hyper, with `timeout` to connect and per response, on Tokio's clock.
pub(crate) fn client(config: Config, timeout: Duration) -> Client {
    let transport = HyperTransport::with_connect_timeout(timeout).with_timeout(timeout);
    Client::new(config, transport, hpp_hyper::TokioTimer::new()).into_shared()
}

fn config(
    base_url: Option<&str>,
    environment: Option<EnvironmentArg>,
    allow_plain_http: bool,
    output: &Output,
) -> Result<Config, Failure> {
    if let (Some(url), Some(chosen)) = (base_url, environment) {
        let from = if std::env::args().any(|a| a == "--base-url" || a.starts_with("--base-url=")) {
            "--base-url"
        } else {
            "KUSTOM_HPP_BASE_URL"
        };
        let chosen = chosen.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default();
        return Err(Failure::usage(&format!(
            "both --environment {chosen} and {from} ({}) say where requests go; drop one",
            hpp_core::__private::shown_url(url)
        )));
    }
    let environment = match (base_url, environment.unwrap_or(EnvironmentArg::Playground)) {
        (Some(url), _) if allow_plain_http => {
            let environment =
                Environment::custom_allowing_plain_http(url).map_err(|e| Failure::usage(&e.to_string()))?;
            if let Environment::Custom(base) = &environment
                && base.sends_credentials_in_clear()
            {
                output
                    .warning(&format!("credentials go over plain http to {base} (--send-credentials-over-plain-http)"));
            }
            environment
        }
        (Some(url), _) => Environment::custom(url).map_err(|e| {
            let hint = if url.starts_with("http://") {
                "; on a private test network, --send-credentials-over-plain-http allows it"
            } else {
                ""
            };
            Failure::usage(&format!("{e}{hint}"))
        })?,
        (None, EnvironmentArg::Playground) => Environment::Kustom(Mode::Playground),
        (None, EnvironmentArg::Production) => Environment::Kustom(Mode::Production),
        (None, EnvironmentArg::KlarnaEuPlayground) => Environment::Klarna(Region::Europe, Mode::Playground),
        (None, EnvironmentArg::KlarnaEuProduction) => Environment::Klarna(Region::Europe, Mode::Production),
        (None, EnvironmentArg::KlarnaNaPlayground) => Environment::Klarna(Region::NorthAmerica, Mode::Playground),
        (None, EnvironmentArg::KlarnaNaProduction) => Environment::Klarna(Region::NorthAmerica, Mode::Production),
        (None, EnvironmentArg::KlarnaOcPlayground) => Environment::Klarna(Region::Oceania, Mode::Playground),
        (None, EnvironmentArg::KlarnaOcProduction) => Environment::Klarna(Region::Oceania, Mode::Production),
    };
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let credentials = match (var("KUSTOM_API_KEY"), var("KUSTOM_USERNAME"), var("KUSTOM_PASSWORD")) {
        (Some(key), _, _) => Credentials::api_key(&key),
        (None, Some(user), Some(password)) => Credentials::basic(&user, &password),
        _ => {
            return Err(Failure::usage("no credentials: set KUSTOM_API_KEY, or KUSTOM_USERNAME and KUSTOM_PASSWORD"));
        }
    };
    let config = Config::new(environment, credentials.map_err(|e| Failure::usage(&e.to_string()))?);
    output.note(&format!("requests go to {}", config.base_url()));
    Ok(config)
}

/// A failure of an API call, with where it went and, for a connection failure, the cause found
/// in the error's chain (DNS, refused, TLS), which the transport's message does not name.
fn api_failure(error: &Error, config_base: &str) -> Failure {
    let mut failure = Failure::from(error);
    if let Error::Transport(transport) = error {
        let mut causes = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(transport);
        while let Some(cause) = next {
            causes.push(cause.to_string().to_ascii_lowercase());
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                causes.push(format!("{:?}", io.kind()).to_ascii_lowercase());
            }
            next = cause.source();
        }
        let all = causes.join(" | ");
        let cause = if all.contains("dns") || all.contains("lookup") || all.contains("name or service not known") {
            Some("the host name did not resolve (DNS)")
        } else if all.contains("connectionrefused") || all.contains("connection refused") {
            Some("the connection was refused")
        } else if all.contains("certificate") || all.contains("tls") || all.contains("handshake") {
            Some("the TLS handshake failed")
        } else {
            None
        };
        failure.add_context(&match cause {
            Some(cause) => format!("{config_base}: {cause}"),
            None => config_base.to_owned(),
        });
    }
    failure
}

/// An API call, its request built and checked before anything is sent.
enum ApiCall {
    /// The request, and whether to print the pay link as a QR code.
    Create(Box<CreateSession>, bool),
    Get(String),
    Disable(String),
    Distribute(String, Distribution),
}

impl ApiCall {
    fn prepare(command: Command) -> Result<Self, Failure> {
        let input = |e: hpp_core::InputError| Failure::from(&Error::from(e));
        let with_template = |d: Distribution, template: Option<String>| match template {
            Some(template) => d.with_template(template),
            None => d,
        };
        Ok(match command {
            Command::Session(SessionCommand::Create(args)) => {
                let qr = args.qr;
                Self::Create(Box::new(request::create(args.into_fields())?), qr)
            }
            Command::Session(SessionCommand::Get { qr: true, .. }) => {
                return Err(Failure::usage(
                    "a read carries no pay link to show as a QR code (the API returns it once, on create): \
                     use `session create --qr`, or the qr_code_url the create returned",
                ));
            }
            Command::Session(SessionCommand::Get { session, .. }) => Self::Get(session),
            Command::Session(SessionCommand::Disable { session }) => Self::Disable(session),
            Command::Distribute(DistributeCommand::Email { session, email, template }) => {
                Self::Distribute(session, with_template(Distribution::email(&email).map_err(input)?, template))
            }
            Command::Distribute(DistributeCommand::Token { session, access_id, template }) => {
                Self::Distribute(session, with_template(Distribution::token(&access_id).map_err(input)?, template))
            }
            Command::Distribute(DistributeCommand::Sms { session, phone, phone_country, template }) => {
                let distribution = Distribution::sms(&phone, &phone_country).map_err(input)?;
                Self::Distribute(session, with_template(distribution, template))
            }
            Command::Distribute(DistributeCommand::Body { session, body }) => {
                Self::Distribute(session, request::distribution_from_body(&body)?)
            }
            Command::Demo
            | Command::Completions { .. }
            | Command::Man
            | Command::Sandbox(_)
            | Command::Callbacks(_)
            | Command::Session(SessionCommand::Watch { .. }) => unreachable!("handled in run()"),
        })
    }
}

async fn api_command(client: &Client, call: ApiCall, output: &Output) -> Result<(), Error> {
    match call {
        ApiCall::Create(op, qr) => {
            let created = client.create_session(&op).await?;
            output.created(&created);
            if let (true, Some(link)) = (qr, &created.redirect_url) {
                output.qr(link);
            }
        }
        ApiCall::Get(session) => {
            let session = client.read_session(&session).await?;
            output.session(&session);
        }
        ApiCall::Disable(session) => {
            client.disable_session(&session).await?;
            output.disabled(&session);
        }
        ApiCall::Distribute(session, distribution) => {
            client.distribute(&session, distribution.clone()).await?;
            output.distributed(&distribution);
        }
    }
    Ok(())
}

async fn watch(
    client: &Client,
    session: &str,
    interval: Duration,
    deadline: Option<Duration>,
    output: &Output,
) -> ExitCode {
    // Back off to eight times the interval, to 30 s at most, but never below the interval itself.
    let max_interval = interval.saturating_mul(8).min(MAX_WATCH_BACKOFF).max(interval);
    let mut options = WatchOptions::default().with_interval(interval, max_interval);
    if let Some(deadline) = deadline {
        options = options.with_deadline(deadline);
    }
    match client.wait_for_final_status(session, &options, |s| output.status_change(s)).await {
        Ok(WatchOutcome::Final(session)) => {
            let exit = watch_exit_code(session.status.as_ref());
            output.watch_ended(Some(&session), "final", exit);
            ExitCode::from(exit)
        }
        Ok(WatchOutcome::Expired(last)) => {
            output.watch_ended(last.as_ref(), "expired", EXIT_WATCH_EXPIRED);
            ExitCode::from(EXIT_WATCH_EXPIRED)
        }
        Ok(WatchOutcome::DeadlinePassed(last)) => {
            let status = last.and_then(|s| s.status).map_or_else(|| "unknown".to_owned(), |s| s.to_string());
            let message = format!("the session was still {status} when --timeout passed");
            output.failure(&Failure::timeout(&message, EXIT_WATCH_TIMEOUT))
        }
        Err(error) => output.failure(&Failure::from(&error)),
        Ok(_) => output.failure(&Failure::usage("unexpected watch outcome")),
    }
}

/// Exit code of `session watch` when the session expired before reaching a final status.
const EXIT_WATCH_EXPIRED: u8 = 13;

/// `session watch`'s exit code for a final status: 0 only for a completed payment, so that a
/// script's `watch && ship` never ships an unpaid order.
fn watch_exit_code(status: Option<&SessionStatus>) -> u8 {
    match status {
        Some(SessionStatus::Completed) => 0,
        Some(SessionStatus::Cancelled) => 10,
        Some(SessionStatus::Disabled) => 11,
        Some(SessionStatus::Timeout) => 12,
        // Final by the core's rule but none of the above (a future status): not a payment.
        _ => 14,
    }
}

async fn listen_for_callbacks(
    port: u16,
    secret: Option<String>,
    read_timeout: Duration,
    forward_to: Option<http::Uri>,
    store: Option<String>,
    output: &Output,
) -> ExitCode {
    let stop = match StopSignals::listen() {
        Ok(stop) => stop,
        Err(e) => return output.failure(&Failure::usage(&format!("cannot listen for signals: {e}"))),
    };
    // An exported but empty variable (a missing CI secret) must not mean "accept anything".
    let secret = secret.or_else(|| std::env::var_os(CALLBACK_SECRET_ENV).map(|v| v.to_string_lossy().into_owned()));
    let secret = match secret.map(CallbackSecret::new).transpose() {
        Ok(secret) => secret,
        Err(e) => return output.failure(&Failure::usage(&format!("--secret / {CALLBACK_SECRET_ENV}: {e}"))),
    };
    if secret.is_none() {
        output.warning("no --secret: every callback is accepted, forged ones too");
    }
    let forward_to_shown = forward_to.as_ref().map(ToString::to_string);
    let store = match store.filter(|url| !url.is_empty()) {
        None => None,
        Some(url) => {
            let policy = hpp_core::tracking::TrackingPolicy::default();
            let opened = match hpp_postgres::PgStore::connect(&url, policy).await {
                Ok(store) => store.migrate().await.map(|()| store),
                Err(e) => Err(e),
            };
            match opened {
                // The URL may hold a password: the message never shows it.
                Ok(store) => Some(std::sync::Arc::new(store)),
                Err(e) => return output.failure(&Failure::usage(&format!("--store / {CALLBACK_STORE_ENV}: {e}"))),
            }
        }
    };
    let shared_store = store.is_some();
    let mut listener = match listen::start(port, secret.clone(), read_timeout, forward_to, store).await {
        Ok(listener) => listener,
        Err(e) => return output.failure(&Failure::usage(&format!("cannot listen on port {port}: {e}"))),
    };
    let status_update = match &secret {
        Some(_) => format!("{}?{}=<your secret>", listener.url, hpp_core::callback::SECRET_PARAM),
        None => listener.url.clone(),
    };
    say!(
        "{}",
        serde_json::json!({
            "url": listener.url,
            "secret_param": hpp_core::callback::SECRET_PARAM,
            "status_update": status_update,
            "forward_to": forward_to_shown,
        })
    );
    output.note(&format!(
        "listening; register merchant_urls.status_update = {status_update} (kustom-hpp session create --status-update ...); \
         each callback is {}{}; stop with Ctrl-C",
        if forward_to_shown.is_some() { "printed and forwarded" } else { "printed" },
        if shared_store { " once by the listeners sharing the store, across restarts" } else { "" }
    ));
    let stopped = stop.wait();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => return ExitCode::SUCCESS,
            received = listener.received.recv() => match received {
                Some(listen::Received::Event(event, forwarded, handed_on)) => {
                    let printed = output.callback(&event) && forwarded.is_none_or(|f| output.forwarded(&event.event_id, &f));
                    let _ = handed_on.send(printed);
                    if !printed {
                        // stdout is gone: every later event would be lost too.
                        return ExitCode::from(output::EXIT_CLOSED_PIPE as u8);
                    }
                }
                Some(listen::Received::Rejected(why)) => output.callback_rejected(why),
                Some(listen::Received::StoreFailed(why)) => output.warning(&format!("the store failed (answered 503): {why}")),
                None => return ExitCode::SUCCESS,
            },
        }
    }
}

async fn serve_sandbox(args: SandboxArgs, output: &Output) -> ExitCode {
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
async fn play_consumer(config: &Config, action: ConsumerAction, timeout: Duration, output: &Output) -> ExitCode {
    use hpp_core::Transport;
    let (session, status) = match action {
        ConsumerAction::Pay { session } => (session, "COMPLETED"),
        ConsumerAction::Cancel { session } => (session, "CANCELLED"),
        ConsumerAction::Fail { session } => (session, "FAILED"),
    };
    if hpp_core::SessionId::new(&session).is_err() {
        return output.failure(&Failure::usage("SESSION must be a session id"));
    }
    let mut request = http::Request::new(format!(r#"{{"status":"{status}"}}"#).into_bytes());
    *request.method_mut() = http::Method::POST;
    let url = format!("{}/_sandbox/sessions/{session}/status", config.base_url());
    match url.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return output.failure(&Failure::usage("the base URL and session do not form a URL")),
    }
    request.headers_mut().insert(http::header::AUTHORIZATION, hpp_core::__private::authorization(config.credentials()));
    request.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    let transport = HyperTransport::with_connect_timeout(timeout).with_timeout(timeout);
    let response = match transport.send(request).await {
        Ok(response) => response,
        Err(e) => return output.failure(&Failure::from(&Error::Transport(e))),
    };
    if !response.status().is_success() {
        let message = format!(
            "the sandbox answered {} (is {} a running sandbox, and the session one of its?)",
            response.status(),
            config.base_url()
        );
        return output.failure(&Failure::usage(&message));
    }
    match serde_json::from_slice::<hpp_core::Session>(response.body()) {
        Ok(session) => {
            output.session(&session);
            ExitCode::SUCCESS
        }
        Err(e) => output.failure(&Failure::usage(&format!("the sandbox's answer was not a session: {e}"))),
    }
}

/// SIGINT and SIGTERM (on Windows: Ctrl-C and Ctrl-Break), registered up front.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(windows)]
    interrupt: tokio::signal::windows::CtrlC,
    #[cfg(windows)]
    terminate: tokio::signal::windows::CtrlBreak,
}

impl StopSignals {
    #[cfg(unix)]
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    #[cfg(windows)]
    fn listen() -> std::io::Result<Self> {
        Ok(Self { interrupt: tokio::signal::windows::ctrl_c()?, terminate: tokio::signal::windows::ctrl_break()? })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
