//! TLS for `wss://` and `https://` (rustls, with the *ring* provider).
//!
//! Servers take a certificate chain and key from PEM files, or generate a
//! self-signed certificate at start (tests, local benchmarks). Clients trust
//! the system's roots by default, a given certificate, or (for benchmarks
//! against self-signed targets, like `curl -k`) anything.

use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, ring};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::Error;
use crate::net::{ByteCounters, CountedTcp, NetStream};

pub use tokio_rustls::rustls;
pub use tokio_rustls::rustls::pki_types;

/// Both sides speak HTTP/1.1 (WebSocket upgrades and the HTTP baselines).
const ALPN: &[u8] = b"http/1.1";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn tls_error(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Tls(format!("{context}: {e}"))
}

/// A server configuration from a certificate chain and its private key.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("protocol versions", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_error("certificate and key", e))?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// A server configuration from PEM files: the certificate chain (leaf first)
/// and the private key (PKCS#8, PKCS#1 or SEC1).
pub fn server_config_from_pem(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, Error> {
    let chain = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| tls_error(&format!("private key {}", key.display()), e))?;
    server_config(chain, key)
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let context = || format!("certificates {}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(&context(), e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(&context(), e))?;
    if certs.is_empty() {
        return Err(tls_error(&context(), "no CERTIFICATE block in the file"));
    }
    Ok(certs)
}

/// A self-signed certificate and the server configuration that presents it.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The certificate (DER), for clients to trust.
    pub cert: CertificateDer<'static>,
    /// The certificate in PEM, to hand to other tools.
    pub cert_pem: String,
    /// The private key in PEM (PKCS#8).
    pub key_pem: String,
    /// The server configuration.
    pub server: Arc<ServerConfig>,
}

/// Generates a self-signed certificate for `names` (DNS names or IP
/// addresses, e.g. `["localhost", "127.0.0.1"]`).
pub fn self_signed(names: &[&str]) -> Result<SelfSigned, Error> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| tls_error("self-signed", e))?;
    let cert = certified.cert.der().clone();
    let cert_pem = certified.cert.pem();
    let key_pem = certified.signing_key.serialize_pem();
    let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der())
        .map_err(|e| tls_error("self-signed key", e))?;
    let server = server_config(vec![cert.clone()], key)?;
    Ok(SelfSigned {
        cert,
        cert_pem,
        key_pem,
        server,
    })
}

fn client_with_roots(roots: RootCertStore) -> Result<Arc<ClientConfig>, Error> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("protocol versions", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration that trusts exactly `certs` (e.g. a
/// [`SelfSigned::cert`]).
pub fn client_config_trusting(certs: &[CertificateDer<'_>]) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots
            .add(c.clone().into_owned())
            .map_err(|e| tls_error("trusted certificate", e))?;
    }
    client_with_roots(roots)
}

/// A client configuration that trusts the certificates in a PEM file.
pub fn client_config_from_pem(ca: &Path) -> Result<Arc<ClientConfig>, Error> {
    client_config_trusting(&read_certs(ca)?)
}

/// A client configuration that trusts the operating system's roots (used
/// for `wss://` when no configuration is given).
pub fn client_config_system() -> Result<Arc<ClientConfig>, Error> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(tls_error("system root certificates", why));
    }
    client_with_roots(roots)
}

/// A client configuration that accepts any server certificate (signatures
/// are still checked). For benchmarks against self-signed targets only: it
/// gives no protection against an impostor.
pub fn client_config_insecure() -> Arc<ClientConfig> {
    let provider = provider();
    let verifier = AnyServer(provider.signature_verification_algorithms);
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    Arc::new(config)
}

#[derive(Debug)]
struct AnyServer(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyServer {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Runs the client side of a TLS handshake on `tcp` for `host`.
pub async fn connect(
    config: Arc<ClientConfig>,
    host: &str,
    tcp: TcpStream,
    counters: Option<Arc<ByteCounters>>,
) -> Result<NetStream, Error> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| tls_error(&format!("server name {host:?}"), e))?;
    let stream = TlsConnector::from(config)
        .connect(name, CountedTcp::new(tcp, counters))
        .await
        .map_err(|e| tls_error("handshake", e))?;
    Ok(NetStream::Tls(Box::new(stream.into())))
}

/// Runs the server side of a TLS handshake on `tcp`.
pub async fn accept(
    config: Arc<ServerConfig>,
    tcp: TcpStream,
    counters: Option<Arc<ByteCounters>>,
) -> Result<NetStream, Error> {
    let stream = TlsAcceptor::from(config)
        .accept(CountedTcp::new(tcp, counters))
        .await
        .map_err(|e| tls_error("handshake", e))?;
    Ok(NetStream::Tls(Box::new(stream.into())))
}
