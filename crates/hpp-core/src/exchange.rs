//! What a transport carries: the request as the core builds it, the response as the core parses
//! it, and the mark on a response whose body was cut. A leaf module: `ops` (which builds and
//! parses), `transport` (which carries) and `error` (which reports) all use it, and it uses none
//! of them, so that they need not use each other in a loop.

/// A request as the core builds it.
pub type Request = http::Request<Vec<u8>>;
/// A response as the core parses it.
pub type Response = http::Response<Vec<u8>>;

/// Response extension: the body was longer than the transport's limit and was cut at it (rule 4
/// of [the contract](crate::transport)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::exhaustive_structs)] // a newtype by design: the limit is all it will ever hold
pub struct BodyTruncated(pub usize);

impl BodyTruncated {
    /// Cuts `response`'s body at `limit` bytes and marks it, when it is longer. Returns whether it was.
    pub fn mark(response: &mut Response, limit: usize) -> bool {
        if response.body().len() <= limit {
            return false;
        }
        response.body_mut().truncate(limit);
        response.extensions_mut().insert(Self(limit));
        true
    }

    /// Appends `chunk` to `response`'s body as a transport reads it, keeping at most one byte past
    /// `limit`; returns `true` once the body is over the limit, after cutting and marking it:
    /// stop reading then (and drop the connection).
    pub fn append_capped(response: &mut Response, chunk: &[u8], limit: usize) -> bool {
        let room = limit.saturating_add(1).saturating_sub(response.body().len());
        response.body_mut().extend_from_slice(&chunk[..chunk.len().min(room)]);
        Self::mark(response, limit)
    }

    /// The limit a response's body was cut at, if it was.
    pub fn of(response: &Response) -> Option<usize> {
        response.extensions().get::<Self>().map(|t| t.0)
    }
}
