//! TLS for kv's own Redis connection (`rediss://`), so that its writes can still be
//! coalesced: the TLS stream sits under [`super::coalesce::Coalesced`], and a batch of
//! commands becomes one TLS record and one socket write.
//!
//! The trust is the one redis-rs and sqlx use: rustls with the ring provider and the
//! platform's root certificates (`rustls-native-certs`: `SSL_CERT_FILE` or
//! `SSL_CERT_DIR` when set, else the system's store), loaded once when the store is set
//! up. The server's certificate must chain to one of them and name the URL's host.
//! `rediss://...#insecure` (redis-rs's syntax, for a throwaway server with a
//! self-signed certificate) checks neither, as redis-rs does with that URL.

use std::{io, sync::Arc};

use redis::{ErrorKind, RedisError};
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature},
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsConnector, client::TlsStream};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsSetupError {
    /// No root certificate could be read.
    #[error("no trusted root certificate could be loaded (set SSL_CERT_FILE to a CA bundle): {0}")]
    NoRoots(String),
    /// The host is not a valid TLS server name.
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
    /// rustls refused the configuration.
    #[error("TLS configuration")]
    Config(#[source] rustls::Error),
}

/// Opens TLS connections to one Redis host.
#[derive(Clone)]
pub(crate) struct Connector {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector for `host`, verifying its certificate against the platform's roots,
    /// or not at all when `insecure`.
    pub(crate) fn new(host: &str, insecure: bool) -> Result<Self, TlsSetupError> {
        let provider = Arc::new(ring_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsSetupError::Config)?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(native_roots()?)
                .with_no_client_auth()
        };
        // As redis-rs: no SNI when nothing is checked.
        config.enable_sni = !insecure;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| TlsSetupError::ServerName(host.to_owned()))?;
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            name,
        })
    }

    /// Runs the TLS handshake on `socket`.
    pub(crate) async fn connect<S>(&self, socket: S) -> io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.connector.connect(self.name.clone(), socket).await
    }
}

/// rustls' provider on *ring*, which builds into the static musl binary with no C
/// toolchain beyond what its own assembly needs (rustls deprecates it for lacking
/// post-quantum key exchange; aws-lc-rs, which has it, needs cmake and a C build that
/// the musl image does not have). sqlx uses the same.
#[allow(deprecated)]
fn ring_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Makes *ring* the process' default rustls provider, which redis-rs's own TLS (the
/// cluster client) takes. Idempotent.
pub(crate) fn install_default_provider() {
    // An error means a provider is installed already: it is used.
    let _ = ring_provider().install_default();
}

/// The platform's root certificates. Unreadable entries are skipped as long as some
/// certificate was read.
fn native_roots() -> Result<RootCertStore, TlsSetupError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let errors = found
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        return Err(TlsSetupError::NoRoots(if errors.is_empty() {
            "none found".to_owned()
        } else {
            errors
        }));
    }
    Ok(roots)
}

/// The description of a failed TLS handshake in a [`RedisError`].
const HANDSHAKE_FAILED: &str = "the TLS handshake with Redis failed";

/// A failed handshake as a [`RedisError`]: when rustls refused it (an untrusted or
/// misnamed certificate, a server that does not speak TLS), an I/O error that says so
/// (503 like any failure to connect, and recognised at start by
/// [`handshake_failure`]); otherwise the I/O error itself.
pub(crate) fn handshake_error(e: io::Error) -> RedisError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => RedisError::from((ErrorKind::Io, HANDSHAKE_FAILED, tls.to_string())),
        None => e.into(),
    }
}

/// What rustls said, when `e` is a handshake it refused ([`handshake_error`]).
pub(crate) fn handshake_failure(e: &RedisError) -> Option<&str> {
    (e.kind() == ErrorKind::Io && e.to_string().starts_with(HANDSHAKE_FAILED))
        .then(|| e.detail().unwrap_or_default())
}

/// Accepts any certificate (`#insecure`); signatures are still checked, so the peer
/// holds the key of the certificate it sent.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
