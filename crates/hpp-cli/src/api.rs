//! The commands that make one API call (`session create/get/disable`, `distribute …`): the
//! configuration from flags and environment, the request built and checked before anything is
//! sent, the call, and the failure mapped to its exit code.

use std::io::IsTerminal;
use std::time::Duration;

use clap::ValueEnum;
use hpp_core::{Client, Config, CreateSession, Credentials, Distribution, Environment, Error, Mode};
use hpp_hyper::HyperTransport;

use crate::cli::*;
use crate::output::{Failure, Output, printable};
use crate::request;

/// The client every command uses: hyper, with `timeout` to connect and per response, on Tokio's clock.
pub(crate) fn client(config: Config, timeout: Duration) -> Client {
    let transport = HyperTransport::with_connect_timeout(timeout).with_timeout(timeout);
    Client::new(config, transport, hpp_hyper::TokioTimer::new()).into_shared()
}

pub(crate) fn config(
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
            let environment = hpp_core::BaseUrl::parse_allowing_plain_http(url)
                .map(Environment::Custom)
                .map_err(|e| Failure::usage(&e.to_string()))?;
            if let Environment::Custom(base) = &environment
                && base.sends_credentials_in_clear()
            {
                output
                    .warning(&format!("credentials go over plain http to {base} (--send-credentials-over-plain-http)"));
            }
            environment
        }
        (Some(url), _) => hpp_core::BaseUrl::parse(url).map(Environment::Custom).map_err(|e| {
            let hint = if url.starts_with("http://") {
                "; on a private test network, --send-credentials-over-plain-http allows it"
            } else {
                ""
            };
            Failure::usage(&format!("{e}{hint}"))
        })?,
        (None, EnvironmentArg::Playground) => Environment::Kustom(Mode::Playground),
        (None, EnvironmentArg::Production) => Environment::Kustom(Mode::Production),
        (None, EnvironmentArg::KlarnaEuPlayground) => Environment::KlarnaEurope(Mode::Playground),
        (None, EnvironmentArg::KlarnaEuProduction) => Environment::KlarnaEurope(Mode::Production),
        (None, EnvironmentArg::KlarnaNaPlayground) => Environment::KlarnaNorthAmerica(Mode::Playground),
        (None, EnvironmentArg::KlarnaNaProduction) => Environment::KlarnaNorthAmerica(Mode::Production),
        (None, EnvironmentArg::KlarnaOcPlayground) => Environment::KlarnaOceania(Mode::Playground),
        (None, EnvironmentArg::KlarnaOcProduction) => Environment::KlarnaOceania(Mode::Production),
    };
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let (credentials, which) = match (var("KUSTOM_API_KEY"), var("KUSTOM_USERNAME"), var("KUSTOM_PASSWORD")) {
        (Some(key), user, password) => {
            if user.is_some() || password.is_some() {
                output.warning(
                    "KUSTOM_API_KEY and KUSTOM_USERNAME/KUSTOM_PASSWORD are both set: the API key is used (unset the \
                     ones you do not mean)",
                );
            }
            (Credentials::api_key(&key), "the API key (KUSTOM_API_KEY)")
        }
        (None, Some(user), Some(password)) => {
            (Credentials::basic(&user, &password), "KUSTOM_USERNAME and its password")
        }
        (None, Some(_), None) => return Err(Failure::usage("KUSTOM_PASSWORD is missing (KUSTOM_USERNAME is set)")),
        (None, None, Some(_)) => return Err(Failure::usage("KUSTOM_USERNAME is missing (KUSTOM_PASSWORD is set)")),
        (None, None, None) => {
            return Err(Failure::usage("no credentials: set KUSTOM_API_KEY, or KUSTOM_USERNAME and KUSTOM_PASSWORD"));
        }
    };
    let config = Config::new(environment, credentials.map_err(|e| Failure::usage(&e.to_string()))?);
    output.note(&format!("requests go to {}, with {which}", config.base_url()));
    Ok(config)
}

/// A failure of an API call, with where it went and, for a connection failure, the cause found
/// in the error's chain (DNS, refused, TLS), which the transport's message does not name.
pub(crate) fn api_failure(error: &Error, config_base: &str, call: Call) -> Failure {
    let mut failure = match hint(error, call, config_base) {
        Some(advice) => Failure::from(error).with_advice(advice),
        None => Failure::from(error),
    };
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

/// Asks `question` on the terminal; `Ok` only for a yes.
pub(crate) fn confirm(question: &str, not_confirmed: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question} [y/N] ").and_then(|()| err.flush());
    drop(err);
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Failure::usage(not_confirmed))
    }
}

/// Which kind of call failed: a hint follows from it as much as from the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Create,
    Read,
    Disable,
    Distribute,
}

/// The hint for `error` where the SDK's general advice would point the wrong way, from the call,
/// the answer and where the request went (`base`): an endpoint missing is not a session
/// missing; a refused create is about its fields; the sandbox's e-mail quota is raised on the
/// sandbox.
fn hint(error: &Error, call: Call, base: &str) -> Option<&'static str> {
    let Error::Api(api) = error else { return None };
    let code = api.error_code();
    let says = |word: &str| api.messages().iter().any(|m| m.to_ascii_lowercase().contains(word));
    let host = base.split("://").nth(1).and_then(|rest| rest.split(['/', ':']).next()).unwrap_or_default();
    let on_a_service = [".kustom.co", ".klarna.com"].iter().any(|domain| host.ends_with(domain));
    match code {
        // A create has no session to miss, and "endpoint" is no session either.
        _ if api.status() == http::StatusCode::NOT_FOUND && (call == Call::Create || says("endpoint")) => Some(
            "no such endpoint: the base URL is wrong; give the API's root (https://host, or the sandbox's \
             base_url), without /hpp/v1 or any other path",
        ),
        Some(hpp_core::ErrorCode::ConstraintViolation) if call == Call::Create => Some(
            "the create request was refused as invalid; its message names the field: fix it (`session create \
             --help` lists each field and its values)",
        ),
        Some(hpp_core::ErrorCode::ConstraintViolation) if call == Call::Disable => {
            Some("the session cannot be disabled in its state (a completed payment cannot be); read it to see")
        }
        Some(hpp_core::ErrorCode::EmailLimitExceeded) if !on_a_service => Some(
            "the sandbox's daily e-mail quota is used up: start it with a higher --email-limit, or move its \
             clock to the next day (POST /_sandbox/clock)",
        ),
        _ => None,
    }
}

/// An API call, its request built and checked before anything is sent.
pub(crate) enum ApiCall {
    /// The request, and whether to print the pay link as a QR code.
    Create(Box<CreateSession>, bool),
    Get(String),
    Disable(String),
    Distribute(String, Distribution),
}

impl ApiCall {
    /// Which kind of call it is.
    pub(crate) fn kind(&self) -> Call {
        match self {
            Self::Create(..) => Call::Create,
            Self::Get(_) => Call::Read,
            Self::Disable(_) => Call::Disable,
            Self::Distribute(..) => Call::Distribute,
        }
    }

    pub(crate) fn prepare(command: Command) -> Result<Self, Failure> {
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
            Command::Session(SessionCommand::Disable { session, yes }) => {
                if !yes && std::io::stdin().is_terminal() {
                    confirm(
                        &format!(
                            "Disable session {}? The consumer will no longer be able to pay it.",
                            printable(&session)
                        ),
                        "not confirmed; nothing was sent (--yes skips the question)",
                    )?;
                }
                Self::Disable(session)
            }
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
            | Command::Man { .. }
            | Command::Sandbox(_)
            | Command::Callbacks(_)
            | Command::Tracking(_)
            | Command::Session(SessionCommand::Watch { .. }) => unreachable!("handled in run()"),
        })
    }
}

pub(crate) async fn api_command(client: &Client, call: ApiCall, output: &Output) -> Result<(), Error> {
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
            client.distribute_session(&session, distribution.clone()).await?;
            output.distributed(&distribution);
        }
    }
    Ok(())
}
