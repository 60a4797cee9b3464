//! Everything the CLI prints: one JSON object with `--json`, aligned text for people otherwise
//! (colored only on a terminal), with addresses, phone numbers and tokens masked.

use std::io::IsTerminal;
use std::process::ExitCode;

use hpp_core::__private::redact::{mask_all, mask_email, mask_phone, scrub};
use hpp_core::model::DistributionMethod;
use hpp_core::{Distribution, Error, Session, SessionCreated};
use serde_json::json;

/// Status for a closed stdout, as if killed by SIGPIPE (128 + 13): what `| head` expects.
pub(crate) const EXIT_CLOSED_PIPE: i32 = 141;

/// Writes one line to stdout, or says why it could not.
pub(crate) fn try_stdout_line(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Status for output that could not be written for another reason (a full disk).
pub(crate) const EXIT_WRITE_FAILED: u8 = 7;

/// Whether errors go to stderr as JSON (`--json`), for [`write_failed`], which has no [`Output`].
static JSON_ERRORS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes one line to stdout, or ends the program as [`write_failed`] says.
pub(crate) fn stdout_line(args: std::fmt::Arguments<'_>) {
    if let Err(e) = try_stdout_line(args) {
        write_failed(&e);
    }
}

/// Ends the program after a failed write to stdout. A closed pipe ends it quietly with
/// [`EXIT_CLOSED_PIPE`] (there is no one left to tell, as `| head` expects); any other failure
/// (a full disk) is said on stderr and ends it with [`EXIT_WRITE_FAILED`].
pub(crate) fn write_failed(error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_CLOSED_PIPE);
    }
    let json = JSON_ERRORS.load(std::sync::atomic::Ordering::Relaxed);
    let failure = Failure::new("output", format!("cannot write to standard output: {error}"), EXIT_WRITE_FAILED);
    Output::new(json).failure(&failure);
    std::process::exit(i32::from(EXIT_WRITE_FAILED));
}

/// Writes one line to stderr; a closed stderr is ignored (the exit status still tells).
pub(crate) fn stderr_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `println!` that never panics on a closed pipe.
macro_rules! say {
    () => { $crate::output::stdout_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::output::stdout_line(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics on a closed pipe.
macro_rules! say_err {
    ($($arg:tt)*) => { $crate::output::stderr_line(format_args!($($arg)*)) };
}

pub(crate) use {say, say_err};

/// `text` safe to print on a terminal: control characters (escape sequences, carriage returns,
/// newlines that would forge a line) and Unicode bidirectional overrides are shown escaped.
/// Everything printed for people that came from a server or a callback goes through it.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// One JSON value on one line, with the characters JSON leaves raw but a terminal may act on
/// (DEL, C1 controls, bidirectional overrides) written as `\\uXXXX` escapes. They can only occur
/// inside strings, where the escape is the same text to a JSON reader.
pub(crate) fn json_line(value: &serde_json::Value) -> String {
    escape_risky(value.to_string())
}

/// JSON text with DEL, C1 and bidi characters written as `\\uXXXX` escapes (see [`json_line`]).
fn escape_risky(text: String) -> String {
    let risky = |c: char| matches!(c, '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(risky) {
        return text;
    }
    text.chars().fold(String::with_capacity(text.len() + 12), |mut out, c| {
        if risky(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
        out
    })
}

/// A failure as the CLI reports it, with its exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    kind: &'static str,
    message: String,
    status: Option<u16>,
    /// What the SDK said, for SDK errors (boxed: most failures have none).
    sdk: Option<Box<SdkFacts>>,
    exit: u8,
}

/// What an SDK error adds to a failure.
#[derive(Debug, Default)]
struct SdkFacts {
    error_code: Option<String>,
    error_messages: Vec<String>,
    correlation_id: Option<String>,
    side_effect: Option<hpp_core::SideEffect>,
    advice: Option<&'static str>,
    /// `Error::action`, for scripts: `{"kind": "retry", "after_secs": 7}` and the like.
    action: Option<serde_json::Value>,
}

/// An [`hpp_core::Action`] as the JSON error's `action`.
fn action_json(action: hpp_core::Action) -> serde_json::Value {
    use hpp_core::Action;
    match action {
        Action::Retry { after } => json!({ "kind": "retry", "after_secs": after.map(|a| a.as_secs_f64()) }),
        Action::FixRequest => json!({ "kind": "fix_request" }),
        Action::ReadSessionFirst => json!({ "kind": "read_session_first" }),
        Action::StartOver => json!({ "kind": "start_over" }),
        Action::ContactSupport { correlation_id } => {
            json!({ "kind": "contact_support", "correlation_id": correlation_id })
        }
        _ => json!({ "kind": "other" }),
    }
}

impl Failure {
    /// A usage or configuration error (exit 2).
    pub(crate) fn usage(message: &str) -> Self {
        Self::new("usage", message.to_owned(), 2)
    }

    /// Input refused before anything was sent (exit 3, as the SDK's own input errors).
    pub(crate) fn invalid_input(message: &str) -> Self {
        let facts = SdkFacts {
            side_effect: Some(hpp_core::SideEffect::DidNotHappen),
            advice: Some("fix the input; nothing was sent"),
            action: Some(action_json(hpp_core::Action::FixRequest)),
            ..SdkFacts::default()
        };
        Self { sdk: Some(Box::new(facts)), ..Self::new("invalid_input", message.to_owned(), 3) }
    }

    /// Nothing matched what was named (exit 3, as input refused locally).
    pub(crate) fn no_match(message: &str) -> Self {
        Self::new("no_match", message.to_owned(), 3)
    }

    /// The same failure with `advice` instead of the SDK's general one.
    pub(crate) fn with_advice(mut self, advice: &'static str) -> Self {
        if let Some(facts) = self.sdk.as_mut() {
            facts.advice = Some(advice);
        }
        self
    }

    /// A wait that ran out of time.
    pub(crate) fn timeout(message: &str, exit: u8) -> Self {
        Self::new("timeout", message.to_owned(), exit)
    }

    /// Adds where or why, in parentheses, to the message.
    pub(crate) fn add_context(&mut self, context: &str) {
        self.message = format!("{} [{context}]", self.message);
    }

    fn new(kind: &'static str, message: String, exit: u8) -> Self {
        Self { kind, message, status: None, sdk: None, exit }
    }
}

/// `error` and its causes, one clause each, joined by `: ` (as `anyhow` prints `{:#}`).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        out.push_str(": ");
        out.push_str(&next.to_string());
        cause = next.source();
    }
    out
}

impl From<&Error> for Failure {
    fn from(error: &Error) -> Self {
        let (kind, exit) = match error {
            Error::InvalidInput(_) => ("invalid_input", 3),
            Error::Api(_) => ("api", 4),
            Error::Transport(_) => ("transport", 5),
            Error::Decode(_) => ("decode", 6),
            _ => ("internal", 1),
        };
        let mut facts = SdkFacts {
            side_effect: Some(error.side_effect()),
            advice: Some(error.advice()),
            action: Some(action_json(error.action(std::time::SystemTime::now()))),
            ..SdkFacts::default()
        };
        if let Error::Api(api) = error {
            facts.error_code = api.error_code().map(ToString::to_string);
            facts.error_messages = api.messages().iter().map(|m| scrub(m)).collect();
            facts.correlation_id = api.correlation_id().map(str::to_owned);
        }
        Self {
            status: error.status().map(|s| s.as_u16()),
            sdk: Some(Box::new(facts)),
            ..Self::new(kind, error_chain(error), exit)
        }
    }
}

/// Where and how to print.
pub(crate) struct Output {
    pub(crate) json: bool,
    color_out: bool,
    color_err: bool,
    /// JSON on stdout pretty-printed for a person at a terminal; one line per object when piped.
    pretty_json: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        JSON_ERRORS.store(json, std::sync::atomic::Ordering::Relaxed);
        // NO_COLOR (no-color.org) and a terminal that says it cannot show color.
        let no_color = std::env::var_os("NO_COLOR").is_some() || std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Self {
            json,
            color_out: !no_color && std::io::stdout().is_terminal(),
            pretty_json: std::io::stdout().is_terminal(),
            color_err: !no_color && std::io::stderr().is_terminal(),
        }
    }

    /// A JSON result on stdout: indented on a terminal, one line when piped.
    pub(crate) fn print_json(&self, value: &serde_json::Value) {
        let text =
            if self.pretty_json { serde_json::to_string_pretty(value).unwrap_or_default() } else { value.to_string() };
        say!("{}", escape_risky(text));
    }

    fn paint(&self, on: bool, code: &str, text: &str) -> String {
        if on { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    /// A heading line on stdout.
    pub(crate) fn heading(&self, text: &str) {
        say!("{}", self.paint(self.color_out, "1;32", &printable(text)));
    }

    /// Aligned `key  value` lines on stdout, skipping absent values.
    pub(crate) fn fields(&self, fields: &[(&str, Option<String>)]) {
        let width = fields.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in fields {
            if let Some(value) = value {
                say!("  {}  {}", self.paint(self.color_out, "1", &format!("{key:<width$}")), printable(value));
            }
        }
    }

    pub(crate) fn created(&self, created: &SessionCreated) {
        let created = &crate::masked::created(created);
        if self.json {
            return self.print_json(&json!(created));
        }
        self.heading("Session created");
        self.fields(&[
            ("session_id", created.session_id.clone()),
            ("session_url", created.session_url.clone()),
            ("distribution_url", created.distribution_url.clone()),
            ("redirect_url", created.redirect_url.clone()),
            ("qr_code_url", created.qr_code_url.clone()),
            ("expires_at", created.expires_at.clone()),
        ]);
    }

    pub(crate) fn session(&self, session: &Session) {
        let session = &crate::masked::session(session);
        if self.json {
            return self.print_json(&json!(session));
        }
        self.heading("Session");
        self.fields(&[
            ("session_id", session.session_id.clone()),
            ("status", session.status.as_ref().map(ToString::to_string)),
            ("updated_at", session.updated_at.clone()),
            ("expires_at", session.expires_at.clone()),
            ("order_id", session.order_id.clone()),
            ("klarna_reference", session.klarna_reference.clone()),
            ("authorization_token", session.authorization_token.clone()),
        ]);
    }

    /// The callback faults a sandbox draws now (`sandbox callback-faults`).
    pub(crate) fn callback_faults(&self, faults: &serde_json::Value) {
        if self.json {
            return self.print_json(faults);
        }
        self.heading("callback faults");
        let field = |key: &str| faults.get(key).map(ToString::to_string);
        self.fields(&[
            ("drop", field("drop")),
            ("duplicate", field("duplicate")),
            ("delay", field("delay")),
            ("delay by (s)", field("delay_by_secs")),
            ("seed", field("seed")),
        ]);
    }

    pub(crate) fn disabled(&self, session: &str) {
        if self.json {
            return self.print_json(&json!({ "status": "DISABLED" }));
        }
        self.heading("Session disabled");
        self.fields(&[("session", Some(session.to_owned())), ("status", Some("DISABLED".to_owned()))]);
    }

    pub(crate) fn distributed(&self, distribution: &Distribution) {
        let method = &distribution.method();
        // The body as sent: its contact_information, to show masked.
        let body = serde_json::to_value(distribution).unwrap_or_default();
        let contact = |field: &str| body.pointer(&format!("/contact_information/{field}")).and_then(|v| v.as_str());
        if self.json {
            return self.print_json(&json!({ "method": method, "distributed": true }));
        }
        let recipient = match method {
            DistributionMethod::Email => contact("email").map(mask_email),
            DistributionMethod::Sms => contact("phone").map(mask_phone),
            _ => contact("access_id").map(mask_all),
        };
        self.heading(&format!("Distributed by {method}"));
        self.fields(&[("recipient", recipient)]);
    }

    /// `link` as a QR code of Unicode half blocks, for a phone to scan, and the link (not with
    /// `--json`: its output stays one JSON object).
    pub(crate) fn qr(&self, link: &str) {
        if self.json {
            return;
        }
        match terminal_qr(link) {
            Ok(code) => {
                say!();
                say!("{code}");
                say!("  scan to open the pay page: {}", printable(link));
            }
            Err(e) => self.warning(&format!("no QR code: {e}")),
        }
    }

    /// One status change seen by `session watch`.
    pub(crate) fn status_change(&self, session: &Session) {
        let session = &crate::masked::session(session);
        if self.json {
            return self.print_json(&json!(session));
        }
        let status = session.status.as_ref().map_or_else(|| "(none)".to_owned(), ToString::to_string);
        let at = session.updated_at.clone().unwrap_or_default();
        let status = printable(&status);
        say!("  {}  {}", self.paint(self.color_out, "1", &format!("{status:<14}")), printable(&at));
    }

    /// How `session watch` ended (`final` or `expired`).
    pub(crate) fn watch_ended(&self, session: Option<&Session>, how: &str, exit_code: u8) {
        let status = session.and_then(|s| s.status.as_ref()).map(ToString::to_string);
        if self.json {
            let id = session.and_then(|s| s.session_id.clone());
            let paid = exit_code == 0;
            let line =
                json!({ "session_id": id, "status": status, "outcome": how, "paid": paid, "exit_code": exit_code });
            return self.print_json(&line);
        }
        match how {
            "expired" => self.heading("The session expired"),
            _ => self.heading(&format!("Final status: {}", status.unwrap_or_default())),
        }
    }

    /// A callback event received once, printed, or why it could not be (the listener
    /// acknowledges an event to the service only once it is handed on).
    pub(crate) fn callback(&self, event: &hpp_core::callback::StatusCallback) -> std::io::Result<()> {
        let event = &crate::masked::callback(event);
        if self.json {
            return try_stdout_line(format_args!("{}", json_line(&json!(event))));
        }
        let status = event.session.status.as_ref().map(ToString::to_string).unwrap_or_default();
        let session = event.session.session_id.clone().unwrap_or_default();
        let status = printable(&status);
        try_stdout_line(format_args!(
            "callback  {}  session {}  event {}",
            self.paint(self.color_out, "1", &format!("{status:<12}")),
            printable(&session),
            printable(&event.event_id)
        ))
    }

    /// What forwarding an event to the local app gave, printed, or why it could not be.
    pub(crate) fn forwarded(&self, event_id: &str, outcome: &Result<u16, String>) -> std::io::Result<()> {
        if self.json {
            let line = match outcome {
                Ok(status) => json!({ "forwarded": { "event_id": event_id, "status": status } }),
                Err(why) => json!({ "forwarded": { "event_id": event_id, "error": why } }),
            };
            return try_stdout_line(format_args!("{}", json_line(&line)));
        }
        let shown = match outcome {
            Ok(status) => format!("the app answered {status}"),
            Err(why) => format!("not delivered: {why} (the service will retry)"),
        };
        try_stdout_line(format_args!("forwarded event {}: {}", printable(event_id), printable(&shown)))
    }

    /// A callback refused by the listener.
    pub(crate) fn callback_rejected(&self, why: &str) {
        if self.json {
            return say_err!("{}", json_line(&json!({ "rejected": why })));
        }
        say_err!("{} a callback: {why}", self.paint(self.color_err, "33", "rejected"));
    }

    /// A note for people on stderr (not with `--json`): where requests go, say.
    pub(crate) fn note(&self, message: &str) {
        if !self.json {
            say_err!("{}", self.paint(self.color_err, "2", &printable(message)));
        }
    }

    /// A warning on stderr: a line of text, or with `--json` one `{"warning": ...}` object before
    /// the result.
    pub(crate) fn warning(&self, message: &str) {
        if self.json {
            return say_err!("{}", json_line(&json!({ "warning": message })));
        }
        say_err!("{} {}", self.paint(self.color_err, "1;33", "warning:"), printable(message));
    }

    /// Reports `failure` (stderr) and returns its exit code.
    pub(crate) fn failure(&self, failure: &Failure) -> ExitCode {
        let no_facts = SdkFacts::default();
        let sdk = failure.sdk.as_deref().unwrap_or(&no_facts);
        if self.json {
            let error = json!({ "error": {
                "kind": failure.kind,
                "message": failure.message,
                "status": failure.status,
                "error_code": sdk.error_code,
                "error_messages": sdk.error_messages,
                "correlation_id": sdk.correlation_id,
                "side_effect": sdk.side_effect.map(|s| s.to_string()),
                "advice": sdk.advice,
                "action": sdk.action,
            }});
            say_err!("{}", json_line(&error));
        } else {
            say_err!("{} {}", self.paint(self.color_err, "1;31", "error:"), printable(&failure.message));
            if let Some(advice) = sdk.advice {
                say_err!("{} {}", self.paint(self.color_err, "1;36", "hint:"), printable(advice));
            }
        }
        ExitCode::from(failure.exit)
    }

    /// A failure shown as a demo step's expected outcome, on stdout.
    pub(crate) fn expected_failure(&self, error: &Error) {
        let failure = Failure::from(error);
        say!("  {} ({}): {}", self.paint(self.color_out, "33", "refused"), failure.kind, printable(&failure.message));
    }
}

/// `text` as a QR code drawn with Unicode half blocks, two modules per character cell, with the
/// quiet zone. The light modules are drawn (terminals are mostly light text on dark), so the
/// code reads dark on light as cameras expect, on a dark terminal; on a light one it is inverted,
/// which phone cameras read too.
pub(crate) fn terminal_qr(text: &str) -> Result<String, String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped_for_people_and_for_json() {
        let hostile = "PAID\u{1b}]0;pwned\u{7}\r\nerror: forged line\u{9b}31m\u{202e}txt.exe";
        let shown = printable(hostile);
        assert!(!shown.chars().any(|c| c.is_control() || c == '\u{202e}'), "{shown}");
        assert_eq!(shown, "PAID\\u{1b}]0;pwned\\u{7}\\r\\nerror: forged line\\u{9b}31m\\u{202e}txt.exe");
        assert_eq!(printable("COMPLETED 2026-11-26T12:00:00Z"), "COMPLETED 2026-11-26T12:00:00Z");

        let line = json_line(&json!({ "status": hostile }));
        assert!(!line.chars().any(|c| c.is_control() || c == '\u{202e}'), "{line}");
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["status"], hostile, "the same text to a JSON reader");
    }
}
