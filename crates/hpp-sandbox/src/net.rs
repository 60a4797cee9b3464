//! Accepting connections without spinning: when `accept` fails (the process is out of file
//! descriptors, say), wait before trying again instead of retrying at once and burning a core.
//! The sandbox and the CLI's callback listener both accept through [`accept`].

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How long to wait after a failed `accept` before the next.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The next connection on `listener`, waiting [`ACCEPT_BACKOFF`] after each failure.
pub async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    retry_with_backoff(|| listener.accept()).await
}

/// Calls `attempt` until it succeeds, sleeping [`ACCEPT_BACKOFF`] after each failure.
async fn retry_with_backoff<T, F, Fut>(mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::io::Result<T>>,
{
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failures_are_followed_by_a_wait_not_a_spin() {
        let started = tokio::time::Instant::now();
        let mut calls = 0;
        let value = retry_with_backoff(|| {
            calls += 1;
            let result = if calls <= 5 { Err(std::io::Error::other("EMFILE")) } else { Ok(calls) };
            std::future::ready(result)
        })
        .await;
        assert_eq!(value, 6);
        assert_eq!(started.elapsed(), ACCEPT_BACKOFF * 5, "one backoff per failure, in Tokio's (paused) time");
    }
}
