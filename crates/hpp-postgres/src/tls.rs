//! TLS to PostgreSQL, by `sslmode` as libpq reads it (`disable`, `prefer`, `require`,
//! `verify-ca`, `verify-full`), with rustls (`ring`, through `hpp_runtime::tls`): Mozilla's
//! roots, or the CA file `sslrootcert` names. Without `sslmode`, the store connects with
//! `verify-full` to any host but loopback, and `prefer` to loopback: plain text only where it is
//! asked for, or to the same machine.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hpp_core::tracking::StoreError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::{Host, SslMode as WireMode};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// How the store's connections use TLS (`sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A connection string (URL or `key=value` settings) without `sslmode` and `sslrootcert`, which
/// the store reads itself, and those two.
pub(crate) struct Settings {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) tls: RustlsConnect,
}

/// Reads `config` the way libpq does for TLS; errors name the setting, never the password.
pub(crate) fn settings(config: &str) -> Result<Settings, StoreError> {
    let (rest, mode, root_cert) = take_tls_settings(config)?;
    let mut parsed: tokio_postgres::Config = rest.parse().map_err(crate::pg)?;
    let loopback = parsed.get_hosts().iter().all(|host| match host {
        Host::Tcp(name) => name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        #[cfg(unix)]
        Host::Unix(_) => true,
    });
    let mode = mode.unwrap_or(if loopback { SslMode::Prefer } else { SslMode::VerifyFull });
    parsed.ssl_mode(match mode {
        SslMode::Disable => WireMode::Disable,
        SslMode::Prefer => WireMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => WireMode::Require,
    });
    let roots = match &root_cert {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| setting_error(format!("sslrootcert: {e}")))?;
            let certificates = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| setting_error(format!("sslrootcert: not PEM certificates: {e}")))?;
            let ders: Vec<&[u8]> = certificates.iter().map(|c| c.as_ref()).collect();
            hpp_runtime::tls::roots_from_der(ders).map_err(|e| setting_error(format!("sslrootcert: {e}")))?
        }
        None => hpp_runtime::tls::mozilla_roots(),
    };
    let mut client = hpp_runtime::tls::client_config_with_roots(roots.clone());
    // `require` encrypts without checking the certificate (as libpq does without a root file);
    // `verify-ca` checks the chain, not the name.
    if mode == SslMode::Require && root_cert.is_none() || mode == SslMode::VerifyCa {
        let verifier = Verifier { mode, inner: webpki_verifier(roots)? };
        client.dangerous().set_certificate_verifier(Arc::new(verifier));
    }
    Ok(Settings { config: parsed, tls: RustlsConnect(Arc::new(client)) })
}

fn setting_error(message: String) -> StoreError {
    StoreError::Backend(message.into())
}

fn webpki_verifier(roots: rustls::RootCertStore) -> Result<Arc<rustls::client::WebPkiServerVerifier>, StoreError> {
    rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), hpp_runtime::tls::provider())
        .build()
        .map_err(|e| setting_error(format!("sslrootcert: {e}")))
}

/// Splits `sslmode` and `sslrootcert` out of a URL's query or out of `key=value` settings.
fn take_tls_settings(config: &str) -> Result<(String, Option<SslMode>, Option<String>), StoreError> {
    let mut mode = None;
    let mut root_cert = None;
    let mut take = |key: &str, value: &str| -> Result<bool, StoreError> {
        match key {
            "sslmode" => {
                mode = Some(match value {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(setting_error(format!(
                            "sslmode {other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                        )));
                    }
                });
                Ok(true)
            }
            "sslrootcert" => {
                root_cert = Some(value.to_owned());
                Ok(true)
            }
            _ => Ok(false),
        }
    };
    let rest = if config.starts_with("postgres://") || config.starts_with("postgresql://") {
        match config.split_once('?') {
            None => config.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&') {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    if !take(key, &percent_decode(value))? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
            }
        }
    } else {
        let mut kept = Vec::new();
        for pair in config.split_whitespace() {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(key, value.trim_matches('\''))? {
                kept.push(pair);
            }
        }
        kept.join(" ")
    };
    Ok((rest, mode, root_cert))
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `require` without a root file: any certificate (the connection is encrypted, not
/// authenticated); `verify-ca`: the chain against the roots, whatever the name.
#[derive(Debug)]
struct Verifier {
    mode: SslMode,
    inner: Arc<rustls::client::WebPkiServerVerifier>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.mode == SslMode::Require {
            return Ok(ServerCertVerified::assertion());
        }
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// tokio-postgres's TLS over rustls.
#[derive(Clone)]
pub(crate) struct RustlsConnect(Arc<rustls::ClientConfig>);

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> MakeTlsConnect<S> for RustlsConnect {
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnectTo;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnectTo, io::Error> {
        let name =
            ServerName::try_from(domain.to_owned()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsConnectTo { config: self.0.clone(), name })
    }
}

/// [`RustlsConnect`] for one server.
pub(crate) struct RustlsConnectTo {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsConnect<S> for RustlsConnectTo {
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream<S>, io::Error>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move { connector.connect(self.name, stream).await.map(RustlsStream) })
    }
}

/// A TLS session with the server.
pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_mode(config: &str) -> WireMode {
        match settings(config) {
            Ok(settings) => settings.config.get_ssl_mode(),
            Err(e) => panic!("{config}: {e}"),
        }
    }

    #[test]
    fn plain_text_only_where_asked_or_to_loopback() {
        assert_eq!(wire_mode("postgres://app@db.example/shop"), WireMode::Require, "verify-full by default");
        assert_eq!(wire_mode("postgres://app@127.0.0.1:5432/shop"), WireMode::Prefer);
        assert_eq!(wire_mode("postgres://app@localhost/shop?application_name=x"), WireMode::Prefer);
        assert_eq!(wire_mode("postgres://app@db.example/shop?sslmode=disable"), WireMode::Disable, "asked for");
        assert_eq!(wire_mode("host=db.example user=app sslmode=verify-full dbname=shop"), WireMode::Require);
        assert_eq!(wire_mode("host=db.example user=app sslmode=prefer"), WireMode::Prefer);
        let kept = settings("postgres://app@db.example/shop?sslmode=require&application_name=hpp-x").unwrap();
        assert_eq!(kept.config.get_application_name(), Some("hpp-x"), "other settings are kept");
        assert!(settings("postgres://app@db.example/shop?sslmode=verify-everything").is_err());
        assert!(settings("postgres://app@db.example/shop?sslrootcert=/nonexistent/root.crt").is_err());
        assert_eq!(percent_decode("%2Fetc%2Fssl%2Froot.crt"), "/etc/ssl/root.crt");
    }
}
