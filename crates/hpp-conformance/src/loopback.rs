//! A scripted HTTP/1.1 server on `127.0.0.1:0`: answers each connection with the next scripted
//! [`Reply`] and records the request exactly as it arrived, before answering. It is ready as soon
//! as [`Loopback::start`] returns (the socket is bound and listening), so no test waits or sleeps.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use hpp_runtime::tls::rustls;

/// How the server answers one connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Reply {
    /// Read the request, then answer with this response (with `content-length`, `connection: close`).
    Respond(http::Response<Vec<u8>>),
    /// Read the request, then write these bytes as they are and close.
    Raw(Vec<u8>),
    /// Read the request, then close the connection without answering.
    Close,
    /// Read the request and never answer; the connection is closed after this long, so a client
    /// that ignores its timeout still ends.
    Hold(Duration),
}

/// A request as the server read it off the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Request target (path and query).
    pub target: String,
    /// Headers in arrival order, names lower-cased, values as bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The value of a header, if it arrived once.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// The running server.
pub struct Loopback {
    /// `http://127.0.0.1:<port>`, or `https://localhost:<port>` for a TLS server (`check_tls`).
    pub base_url: String,
    received: mpsc::Receiver<Recorded>,
}

impl Loopback {
    /// Starts a server that answers the n-th connection with `responses[n]` and then stops.
    pub fn start(responses: Vec<http::Response<Vec<u8>>>) -> Self {
        Self::start_replies(responses.into_iter().map(Reply::Respond).collect())
    }

    /// Like [`start`](Self::start), but `None` reads and records the request and then never
    /// answers (the connection stays open for a minute): a listener that is too slow.
    pub fn start_script(responses: Vec<Option<http::Response<Vec<u8>>>>) -> Self {
        let hold = Reply::Hold(Duration::from_secs(60));
        Self::start_replies(responses.into_iter().map(|r| r.map_or_else(|| hold.clone(), Reply::Respond)).collect())
    }

    /// Starts a server that answers the n-th connection with `replies[n]` and then stops
    /// accepting (later connections are refused).
    pub fn start_replies(replies: Vec<Reply>) -> Self {
        Self::start_on(replies, None)
    }

    /// Like [`start_replies`](Self::start_replies), over TLS with `config` (rustls), at
    /// `https://localhost:<port>`: only `Respond` and `Close` replies.
    pub(crate) fn start_tls(replies: Vec<Reply>, config: Arc<rustls::ServerConfig>) -> Self {
        Self::start_on(replies, Some(config))
    }

    /// Like [`start_tls`](Self::start_tls), listening on `address` (another loopback address)
    /// and named by it (`https://127.0.0.2:<port>`): `None` when it cannot be bound here.
    pub(crate) fn start_tls_at(address: &str, replies: Vec<Reply>, config: Arc<rustls::ServerConfig>) -> Option<Self> {
        let listener = TcpListener::bind(address).ok()?;
        let bound = listener.local_addr().ok()?;
        Some(Self::serve_on(listener, format!("https://{bound}"), replies, Some(config)))
    }

    fn start_on(replies: Vec<Reply>, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let address = listener.local_addr().expect("local addr");
        let base_url = match tls {
            Some(_) => format!("https://localhost:{}", address.port()),
            None => format!("http://{address}"),
        };
        Self::serve_on(listener, base_url, replies, tls)
    }

    fn serve_on(
        listener: TcpListener,
        base_url: String,
        replies: Vec<Reply>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let (tx, received) = mpsc::channel();
        thread::spawn(move || {
            for reply in replies {
                let Ok((stream, _)) = listener.accept() else { return };
                if let Some(config) = &tls {
                    // A failed handshake (an untrusting client) records nothing.
                    let Ok(connection) = rustls::ServerConnection::new(config.clone()) else { return };
                    let mut stream = rustls::StreamOwned::new(connection, stream);
                    let Some(request) = read_request(&mut stream) else { continue };
                    let _ = tx.send(request);
                    if let Reply::Respond(response) = reply {
                        serve(&mut stream, &response);
                        stream.conn.send_close_notify();
                        let _ = stream.flush();
                    }
                    continue;
                }
                let mut stream = stream;
                let Some(request) = read_request(&mut stream) else { continue };
                let _ = tx.send(request);
                match reply {
                    Reply::Respond(response) => serve(&mut stream, &response),
                    Reply::Raw(bytes) => {
                        let _ = stream.write_all(&bytes);
                    }
                    Reply::Close => drop(stream),
                    Reply::Hold(limit) => {
                        // Wait for the client to hang up, or for `limit`, on another thread so
                        // the next connection is served meanwhile.
                        thread::spawn(move || {
                            let _ = stream.set_read_timeout(Some(limit));
                            let _ = stream.read(&mut [0; 1]);
                        });
                    }
                }
            }
        });
        Self { base_url, received }
    }

    /// The next request the server recorded, waiting for it.
    pub fn next_request(&self) -> Recorded {
        self.received.recv().expect("the server recorded a request")
    }

    /// A request recorded and not yet taken, without waiting. The server records a request
    /// before answering it, so once a client has its answer, every request it made is here.
    pub fn try_next_request(&self) -> Option<Recorded> {
        self.received.try_recv().ok()
    }
}

fn serve(stream: &mut impl Write, response: &http::Response<Vec<u8>>) {
    let mut out = format!("HTTP/1.1 {}\r\n", response.status()).into_bytes();
    for (name, value) in response.headers() {
        out.extend_from_slice(format!("{name}: ").as_bytes());
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let status = response.status().as_u16();
    if status != 204 && status != 304 {
        out.extend_from_slice(format!("content-length: {}\r\n", response.body().len()).as_bytes());
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(response.body());
    let _ = stream.write_all(&out).and_then(|()| stream.flush());
}

fn read_request(stream: &mut impl Read) -> Option<Recorded> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.trim_end().splitn(3, ' ');
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut raw = Vec::new();
        reader.read_until(b'\n', &mut raw).ok()?;
        let raw = raw.strip_suffix(b"\r\n").or_else(|| raw.strip_suffix(b"\n"))?.to_vec();
        if raw.is_empty() {
            break;
        }
        let colon = raw.iter().position(|&b| b == b':')?;
        let name = String::from_utf8_lossy(&raw[..colon]).to_ascii_lowercase();
        let value = raw[colon + 1..].trim_ascii().to_vec();
        headers.push((name, value));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded { method, target, headers, body })
}
