//! The TLS setup `hpp-reqwest` and `hpp-hyper` share (feature `rustls`): rustls with the `ring`
//! provider (no cmake, no C toolchain beyond a C compiler) and Mozilla's root certificates, TLS
//! 1.2 and 1.3.
//!
//! ```
//! let config = hpp_runtime::tls::client_config();
//! assert!(config.alpn_protocols.is_empty());
//! // Your own roots (a corporate CA, a test CA) instead of Mozilla's:
//! let roots = hpp_runtime::tls::rustls::RootCertStore::empty();
//! let config = hpp_runtime::tls::client_config_with_roots(roots);
//! ```

use std::sync::Arc;

/// The rustls this crate builds its configuration with (0.23).
pub use rustls;

/// The `ring` crypto provider.
///
/// rustls 0.23.48 deprecates it for lacking post-quantum key exchange (which its `aws-lc-rs`
/// provider has, at the price of a C and cmake build); ring stays the choice here until a
/// pure-Rust provider offers it, and the deprecation is allowed in one place, so that a fresh
/// lockfile builds without warnings.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(ring_provider())
}

#[allow(deprecated)] // see `provider`
fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Mozilla's root certificates (`webpki-roots`).
pub fn mozilla_roots() -> rustls::RootCertStore {
    rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

/// A client configuration with `ring`, Mozilla's roots, TLS 1.2 and 1.3, no client certificate.
pub fn client_config() -> rustls::ClientConfig {
    client_config_with_roots(mozilla_roots())
}

/// Root certificates from DER-encoded certificates (a corporate CA, a test root such as
/// `hpp_conformance::TEST_ROOT_DER`), for [`client_config_with_roots`].
///
/// ```
/// # let ca_der: &[u8] = &[];
/// let roots = hpp_runtime::tls::roots_from_der([ca_der]);
/// assert!(roots.is_err(), "not a certificate");
/// ```
pub fn roots_from_der<'a>(
    certificates: impl IntoIterator<Item = &'a [u8]>,
) -> Result<rustls::RootCertStore, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for der in certificates {
        roots.add(rustls::pki_types::CertificateDer::from(der.to_vec()))?;
    }
    Ok(roots)
}

/// [`client_config`] trusting `roots` instead of Mozilla's.
pub fn client_config_with_roots(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        // invariant: ring implements TLS 1.2 and 1.3, rustls' default versions.
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Makes `ring` the process-wide default rustls provider, unless one is installed already, so that
/// libraries building their own rustls configuration (a `reqwest::Client` you configure yourself)
/// find one instead of panicking.
pub fn install_default_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is installed either way.
        let _ = ring_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn installs_a_provider_once_and_keeps_an_existing_one() {
        super::install_default_provider();
        let first = rustls::crypto::CryptoProvider::get_default().expect("installed");
        super::install_default_provider();
        let second = rustls::crypto::CryptoProvider::get_default().expect("still installed");
        assert!(std::sync::Arc::ptr_eq(first, second));
        assert!(!super::mozilla_roots().is_empty());
    }
}
