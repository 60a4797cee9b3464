//! What to do about each error, in plain words: the advice prose of [`Error::advice`] and
//! [`ApiError::advice`], per error code and status, kept apart from the error types themselves.

use super::{ApiError, Error, ErrorCode, SideEffect, TransportErrorKind};

impl Error {
    /// What the caller can do about this error, in plain words (for a person; the wording may
    /// change between releases).
    pub fn advice(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "fix the input; nothing was sent",
            Self::Transport(e) if e.may_have_been_sent() => {
                "read the session before repeating a create or a distribution (the consumer may get a \
                 second message); a read or disable may be repeated"
            }
            Self::Transport(e) if e.kind() == TransportErrorKind::NotSent => {
                "the transport refused the request before sending it (its cause says why); sending it \
                 again fails the same way: fix the request or the transport (a replayed cassette that \
                 lacks this request: record it again)"
            }
            Self::Transport(_) => "check the network and the base URL; it is safe to send the request again",
            Self::Api(e) => e.advice(),
            Self::Decode(_) => {
                "the call took effect but its answer could not be read; read the session instead of \
                 repeating the call"
            }
        }
    }
}

impl ApiError {
    /// What the caller can do about this error, in plain words (for a person; the wording may
    /// change between releases).
    ///
    /// When the side effect is [`SideEffect::Unknown`] (a redirect, a 5xx), the advice always
    /// says to read the session before repeating a create or a distribution, whatever the code.
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
            300..=399 => {
                "the server answered with a redirect, which the SDK never follows: check the base URL, \
                 and read the session before repeating a create or a distribution"
            }
            400 => "the request was refused; check the values sent, or the session's state",
            401 => {
                "the credentials were refused; check the API key (or username and password) and \
                    that they belong to this environment and region"
            }
            403 => "the credentials are not allowed to do this; check the merchant account's permissions",
            404 => "not found: the session expired or never existed, or the base URL is wrong",
            409 => "the session is in a state that does not allow this",
            429 => "too many requests; wait before sending more",
            500..=599 => {
                "the service failed and the call may have taken effect: read the session before \
                 repeating a create or a distribution; a read or disable may be repeated later"
            }
            status if (400..500).contains(&status) => "the request was refused",
            _ => {
                "the API answered with a status the SDK does not expect; read the session before \
                 repeating a create or a distribution"
            }
        }
    }
}
