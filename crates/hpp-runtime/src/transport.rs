//! Pieces for transport authors: what every transport would otherwise write by hand to keep
//! [the transport contract](hpp_core::transport): the shipped defaults (once, for every
//! transport), the attempt's time limit, a capped body read that keeps the status (rule 4), and
//! sorting a failure by what it proves (rule 5).
//!
//! A blocking transport over any client comes down to: build the client with no redirects, no
//! environment proxy and every status as a response; then per request
//!
//! ```
//! use hpp_core::{Request, Response, TransportError};
//! use hpp_runtime::transport::{DEFAULT_BODY_LIMIT, attempt_timeout, read_capped, sort_error};
//! # fn my_client_send(_r: Request, _timeout: std::time::Duration) -> Result<http::Response<&'static [u8]>, std::io::Error> {
//! #     Ok(http::Response::builder().status(503).body(&b"busy"[..]).unwrap())
//! # }
//! fn exchange(request: Request) -> Result<Response, TransportError> {
//!     let timeout = attempt_timeout(&request); // the call's own limit, or the default
//!     let response = my_client_send(request, timeout).map_err(sort_error)?; // body: impl Read
//!     read_capped(response, DEFAULT_BODY_LIMIT)
//! }
//! let response = exchange(http::Request::new(Vec::new()))?;
//! assert_eq!((response.status().as_u16(), response.body().as_slice()), (503, &b"busy"[..]));
//! # Ok::<(), TransportError>(())
//! ```

use std::error::Error as StdError;
use std::io::Read;
use std::time::Duration;

use hpp_core::transport::{BodyTruncated, RequestTimeout};
use hpp_core::{Request, Response, TransportError};

/// The longest response body the shipped transports read (1 MiB; the API's bodies are a few
/// KiB). A longer one is cut and marked (rule 4).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How long the shipped transports give a connection to be made.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the shipped transports give a whole attempt (connect, send, response, body) when
/// the call sets no timeout of its own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The time this attempt may take in all (rule 6): the call's own timeout, when the client set
/// one on the request ([`RequestTimeout`]), else [`DEFAULT_TIMEOUT`].
pub fn attempt_timeout(request: &Request) -> Duration {
    request.extensions().get::<RequestTimeout>().map_or(DEFAULT_TIMEOUT, |t| t.0)
}

/// The response whose body is a reader, the body read up to `limit` bytes: a longer body is cut
/// there and marked ([`BodyTruncated`]), the status kept, as rule 4 asks. A failure while reading
/// comes after the request was sent: a timeout when time ran out, else "may have been sent"
/// ([`sort_error`]).
pub fn read_capped(response: http::Response<impl Read>, limit: usize) -> Result<Response, TransportError> {
    let (parts, body) = response.into_parts();
    let mut response = Response::from_parts(parts, Vec::new());
    // One byte past the limit at most, to know whether there was more.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    if let Err(e) = body.take(cap).read_to_end(response.body_mut()) {
        return Err(match sort_error(e) {
            // Refused while reading the body is not "never sent": the request was answered.
            sorted if !sorted.may_have_been_sent() => TransportError::other(sorted),
            sorted => sorted,
        });
    }
    BodyTruncated::mark(&mut response, limit);
    Ok(response)
}

/// A failure sorted by what it proves (rule 5), from the [`std::io::Error`] found among its
/// sources: refused, unreachable or unresolvable ([`ConnectionRefused`], [`HostUnreachable`],
/// [`NetworkUnreachable`], [`AddrNotAvailable`], [`NotFound`]), or (feature `rustls`) a server
/// certificate refused in the handshake, means nothing was sent ([`TransportError::connect`]); [`TimedOut`] or [`WouldBlock`] is a timeout; anything else
/// may have reached the server ([`TransportError::other`]). When unsure it says "may have been
/// sent". A client whose errors carry no `io::Error` for these cases (a DNS failure of its own
/// kind) sorts those first and passes the rest here.
///
/// [`ConnectionRefused`]: std::io::ErrorKind::ConnectionRefused
/// [`HostUnreachable`]: std::io::ErrorKind::HostUnreachable
/// [`NetworkUnreachable`]: std::io::ErrorKind::NetworkUnreachable
/// [`AddrNotAvailable`]: std::io::ErrorKind::AddrNotAvailable
/// [`NotFound`]: std::io::ErrorKind::NotFound
/// [`TimedOut`]: std::io::ErrorKind::TimedOut
/// [`WouldBlock`]: std::io::ErrorKind::WouldBlock
///
/// ```
/// use std::io::{Error, ErrorKind};
/// use hpp_core::TransportErrorKind;
/// use hpp_runtime::transport::sort_error;
/// assert_eq!(sort_error(Error::from(ErrorKind::ConnectionRefused)).kind(), TransportErrorKind::Connect);
/// assert_eq!(sort_error(Error::from(ErrorKind::TimedOut)).kind(), TransportErrorKind::Timeout);
/// assert!(sort_error(Error::from(ErrorKind::ConnectionReset)).may_have_been_sent());
/// ```
pub fn sort_error(error: impl Into<Box<dyn StdError + Send + Sync>>) -> TransportError {
    use std::io::ErrorKind::{
        AddrNotAvailable, ConnectionRefused, HostUnreachable, NetworkUnreachable, NotFound, TimedOut, WouldBlock,
    };
    let error = error.into();
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error.as_ref());
    let kind = std::iter::from_fn(|| {
        let here = cause?;
        cause = here.source();
        Some(here)
    })
    .find_map(|e| e.downcast_ref::<std::io::Error>().map(|io| (io.kind(), failed_handshake(io))));
    match kind.map(|(kind, handshake)| if handshake { ConnectionRefused } else { kind }) {
        Some(ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable | NotFound) => {
            TransportError::connect(error)
        }
        Some(TimedOut | WouldBlock) => TransportError::timeout(error),
        _ => TransportError::other(error),
    }
}

/// Whether `io` carries a TLS certificate refusal (with the `rustls` feature): the handshake
/// failed, so the request was never sent.
fn failed_handshake(io: &std::io::Error) -> bool {
    #[cfg(feature = "rustls")]
    {
        use rustls::Error::{InvalidCertificate, NoCertificatesPresented};
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
        matches!(inner, Some(InvalidCertificate(_) | NoCertificatesPresented))
    }
    #[cfg(not(feature = "rustls"))]
    {
        let _ = io;
        false
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Error, ErrorKind};

    use hpp_core::TransportErrorKind;

    use super::*;

    /// An error whose source is `inner`, as clients wrap I/O errors.
    #[derive(Debug)]
    struct Wrapped(Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client failure")
        }
    }
    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn errors_are_sorted_by_the_io_error_among_their_sources() {
        let kind = |e: TransportError| (e.kind(), e.may_have_been_sent());
        assert_eq!(
            kind(sort_error(Wrapped(Error::from(ErrorKind::ConnectionRefused)))),
            (TransportErrorKind::Connect, false)
        );
        assert_eq!(kind(sort_error(Wrapped(Error::from(ErrorKind::TimedOut)))), (TransportErrorKind::Timeout, true));
        assert_eq!(kind(sort_error(Error::from(ErrorKind::BrokenPipe))), (TransportErrorKind::Other, true));
        assert_eq!(
            kind(sort_error("no I/O error at all")),
            (TransportErrorKind::Other, true),
            "unsure: may have been sent"
        );
    }

    #[test]
    fn a_long_body_is_cut_and_marked_and_the_status_kept() {
        let response = read_capped(http::Response::builder().status(502).body(&b"0123456789"[..]).unwrap(), 4).unwrap();
        assert_eq!((response.status().as_u16(), response.body().as_slice()), (502, &b"0123"[..]));
        assert_eq!(BodyTruncated::of(&response), Some(4));
        let response = read_capped(http::Response::builder().status(200).body(&b"0123"[..]).unwrap(), 4).unwrap();
        assert_eq!(BodyTruncated::of(&response), None, "exactly the limit is whole");
    }

    #[test]
    fn a_failed_body_read_may_have_been_sent() {
        struct Refusing;
        impl Read for Refusing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(Error::from(ErrorKind::ConnectionRefused))
            }
        }
        let error = read_capped(http::Response::builder().status(200).body(Refusing).unwrap(), 4).unwrap_err();
        assert!(error.may_have_been_sent(), "the request was answered: {error:?}");
    }

    #[test]
    fn the_attempt_timeout_is_the_calls_own_or_the_default() {
        let mut request = http::Request::new(Vec::new());
        assert_eq!(attempt_timeout(&request), DEFAULT_TIMEOUT);
        request.extensions_mut().insert(RequestTimeout(Duration::from_secs(2)));
        assert_eq!(attempt_timeout(&request), Duration::from_secs(2));
    }
}
