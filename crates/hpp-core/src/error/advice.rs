//! What to do about each error: the [`Action`] for code ([`Error::action`]) and the prose for a
//! person ([`Error::advice`], [`ApiError::advice`]), per operation, error code and status, kept
//! apart from the error types themselves.

use std::time::{Duration, SystemTime};

use super::{ApiError, Error, ErrorCode, OperationKind, SideEffect, TransportErrorKind};

/// What a caller can do about an [`Error`], for code: [`Error::action`]. Each answer carries
/// what acting on it needs; [`Error::advice`] says the same for a person.
///
/// An app that sorts failures into its own outcomes matches once:
///
/// ```
/// # use std::time::{Duration, SystemTime};
/// # enum Outcome { RetryIn(Duration), Reject, Reconcile, Escalate }
/// use hpp_core::{Action, Error};
/// fn outcome(error: &Error) -> Outcome {
///     match error.action(SystemTime::now()) {
///         Action::Retry { after } => Outcome::RetryIn(after.unwrap_or(Duration::from_secs(1))),
///         Action::FixRequest | Action::StartOver => Outcome::Reject,
///         Action::ReadSessionFirst => Outcome::Reconcile,
///         _ => Outcome::Escalate, // ContactSupport, and any answer a later release adds
///     }
/// }
/// # let timeout = Error::from(hpp_core::TransportError::timeout("read timed out"));
/// # assert!(matches!(outcome(&timeout), Outcome::Reconcile));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Send the same call again: it has not taken effect, or taking effect twice does no harm
    /// (a read, a disable; a create whose session nobody can reach). No sooner than `after` when
    /// the server said (`Retry-After`); otherwise after a back-off of your own.
    Retry {
        /// The wait the server asked for, from the `now` given to [`Error::action`].
        after: Option<Duration>,
    },
    /// Change what is sent, or how: the input, the contact data or method, the credentials, the
    /// base URL, the transport. Sent as it is, the call fails the same way. An
    /// [`ApiError`]'s [`messages`](ApiError::messages) name what the API refused.
    FixRequest,
    /// Read the session (you have its id) and decide from its status: the call may have taken
    /// effect, and repeating it may repeat its side effect (a second message to the consumer).
    ReadSessionFirst,
    /// The session cannot be used any more (it expired or never existed): create a new one.
    StartOver,
    /// The service failed in a way only Kustom can explain: give support the correlation id.
    ContactSupport {
        /// The API's `correlation_id`, when it sent one.
        correlation_id: Option<String>,
    },
}

/// Prose for a call whose side effect is unknown (a timeout, a broken connection, a 3xx or a
/// 5xx), by operation: `$what` says what happened, the rest what to do about this call.
macro_rules! maybe_happened {
    ($what:literal, $operation:expr) => {
        match $operation {
            Some(OperationKind::ReadSession) => concat!($what, "; a read changes nothing: read the session again"),
            Some(OperationKind::DisableSession) => {
                concat!($what, "; disabling twice is disabling once: send the disable again")
            }
            Some(OperationKind::Other { repeatable: true }) => {
                concat!($what, "; this operation is repeatable: send it again")
            }
            Some(OperationKind::CreateSession) => concat!(
                $what,
                "; the session may have been created, and it cannot be found (no id came back, and \
                 the API cannot look a session up by its payment_session_url): create a new session \
                 and use only its links (one created and never distributed is never paid, and \
                 expires on its own)"
            ),
            Some(OperationKind::DistributeSession) => concat!(
                $what,
                "; read the session before repeating the distribution (the consumer may get a \
                 second message)"
            ),
            _ => concat!(
                $what,
                "; read the session before repeating a create or a distribution (the consumer may \
                 get a second message); a read or disable may be repeated"
            ),
        }
    };
}

/// The [`Action`] for a call whose side effect is unknown, by operation.
fn maybe_happened(operation: Option<OperationKind>, after: Option<Duration>) -> Action {
    match operation {
        Some(
            OperationKind::ReadSession
            | OperationKind::DisableSession
            | OperationKind::CreateSession
            | OperationKind::Other { repeatable: true },
        ) => Action::Retry { after },
        _ => Action::ReadSessionFirst,
    }
}

impl Error {
    /// What the caller can do about this error, for code; see [`Action`]. `now` turns an
    /// HTTP-date `Retry-After` into a wait (the core reads no clock).
    pub fn action(&self, now: SystemTime) -> Action {
        match self {
            Self::InvalidInput(_) => Action::FixRequest,
            Self::Transport(e) if e.kind() == TransportErrorKind::NotSent => Action::FixRequest,
            Self::Transport(e) if e.may_have_been_sent() => maybe_happened(e.operation, None),
            Self::Transport(_) => Action::Retry { after: None },
            Self::Api(e) => e.action(now),
            Self::Decode(e) => match e.operation {
                // A read's answer can be read again; a create's session cannot be found.
                Some(OperationKind::ReadSession | OperationKind::CreateSession) => Action::Retry { after: None },
                _ => Action::ReadSessionFirst,
            },
        }
    }

    /// What the caller can do about this error, in plain words (for a person; the wording may
    /// change between releases). It is about the call that failed ([`operation`](Self::operation)).
    pub fn advice(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "fix the input; nothing was sent",
            Self::Transport(e) if e.may_have_been_sent() => {
                maybe_happened!("the request may have reached the server", e.operation)
            }
            Self::Transport(e) if e.kind() == TransportErrorKind::NotSent => {
                "the transport refused the request before sending it (its cause says why); sending it \
                 again fails the same way: fix the request or the transport (a replayed cassette that \
                 lacks this request: record it again)"
            }
            Self::Transport(_) => "check the network and the base URL; it is safe to send the request again",
            Self::Api(e) => e.advice(),
            Self::Decode(e) => match e.operation {
                Some(OperationKind::ReadSession) => "the session's answer could not be read; read it again",
                Some(OperationKind::CreateSession) => {
                    "the session was created but the answer (its id and links) could not be read, and \
                     it cannot be looked up: create a new session and use only its links (the unread \
                     one is never distributed, and expires on its own)"
                }
                _ => {
                    "the call took effect but its answer could not be read; read the session instead of \
                     repeating the call"
                }
            },
        }
    }
}

impl ApiError {
    /// What the caller can do about this error, in plain words (for a person; the wording may
    /// change between releases).
    ///
    /// When the side effect is [`SideEffect::Unknown`] (a redirect, a 5xx), the advice is about
    /// the call that failed: a read or disable may be repeated; a distribution only after the
    /// session has been read; a create by creating a new session.
    pub fn advice(&self) -> &'static str {
        match (&self.0.error_code, self.side_effect()) {
            (Some(ErrorCode::BadGateway), SideEffect::Unknown) => {
                "distribution to a phone number is not allowed in this environment; use e-mail or \
                 token (a 502 can also come from a gateway: read the session before repeating a \
                 create or a distribution)"
            }
            (_, SideEffect::Unknown) => self.advice_by_status(),
            (code, _) => self.advice_by_code(code.as_ref()),
        }
    }

    /// [`Error::action`] for an answer outside 2xx.
    fn action(&self, now: SystemTime) -> Action {
        let status = self.0.status.as_u16();
        match (&self.0.error_code, self.side_effect()) {
            // A phone number where the environment allows none; the daily e-mail quota (a 429
            // that retrying does not clear): another method or environment.
            (Some(ErrorCode::BadGateway | ErrorCode::EmailLimitExceeded), _) => Action::FixRequest,
            _ if status == 429 => Action::Retry { after: self.retry_after(now) },
            (_, SideEffect::Unknown) => maybe_happened(self.0.operation, self.retry_after(now)),
            (Some(ErrorCode::Unknown), _) => Action::ContactSupport { correlation_id: self.0.correlation_id.clone() },
            (Some(ErrorCode::NotFound), _) => Action::StartOver,
            (Some(ErrorCode::ConstraintViolation), _) if self.0.operation == Some(OperationKind::DistributeSession) => {
                Action::ReadSessionFirst
            }
            (Some(code), _) if !matches!(code, ErrorCode::Other(_)) => Action::FixRequest,
            _ => match status {
                404 => Action::StartOver,
                409 => Action::ReadSessionFirst,
                _ => Action::FixRequest,
            },
        }
    }

    fn advice_by_code(&self, code: Option<&ErrorCode>) -> &'static str {
        match code {
            Some(ErrorCode::EmailLimitExceeded) => {
                "the test environment's daily e-mail quota is used up; it will not clear by retrying \
                 now: wait for the daily reset, or test against the local sandbox"
            }
            Some(ErrorCode::MissingContactData) => {
                "the contact data for the method is missing; pass the e-mail address, phone or access id"
            }
            Some(ErrorCode::ConstraintViolation) => {
                "the request was refused as invalid: a malformed value or a field the API does not \
                 accept, or, for a distribution, a session that is disabled or finished; read the \
                 session to tell which"
            }
            Some(ErrorCode::NotFound) => "the session no longer exists (it expired or never did); create a new session",
            Some(ErrorCode::UnsupportedCountry) => {
                "the phone number's country is not served in this region; use e-mail or another number"
            }
            Some(ErrorCode::BlacklistRefused) => {
                "the recipient is blocked by the service; do not retry, use another way to reach the consumer"
            }
            Some(ErrorCode::Unknown) => {
                "the service reported an undefined error; contact Kustom support with the correlation id"
            }
            Some(ErrorCode::BadGateway) => {
                "distribution to a phone number is not allowed in this environment; use e-mail or token"
            }
            Some(ErrorCode::Other(_)) | None => self.advice_by_status(),
        }
    }

    fn advice_by_status(&self) -> &'static str {
        match self.0.status.as_u16() {
            300..=399 => maybe_happened!(
                "the server answered with a redirect, which the SDK never follows: check the base URL",
                self.0.operation
            ),
            400 => "the request was refused; check the values sent, or the session's state",
            401 => {
                "the credentials were refused; check the API key (or username and password) and \
                    that they belong to this environment and region"
            }
            403 => "the credentials are not allowed to do this; check the merchant account's permissions",
            404 => "not found: the session expired or never existed, or the base URL is wrong",
            409 => "the session is in a state that does not allow this",
            429 => "too many requests; wait before sending more",
            500..=599 => maybe_happened!("the service failed and the call may have taken effect", self.0.operation),
            status if (400..500).contains(&status) => "the request was refused",
            _ => maybe_happened!("the API answered with a status the SDK does not expect", self.0.operation),
        }
    }
}
