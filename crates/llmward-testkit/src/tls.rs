//! TLS for the loopback upstream: a test CA, a server certificate for `127.0.0.1` and
//! `localhost`, and a client certificate for mutual TLS, all shipped in `certs/` (test-only
//! material, valid until 2126; `certs/README.md` says how they were made).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The test CA that signed both certificates (PEM).
pub const CA_PEM: &[u8] = include_bytes!("../certs/ca.pem");
/// The server certificate (PEM), for `127.0.0.1` and `localhost`.
pub const SERVER_CERT_PEM: &[u8] = include_bytes!("../certs/server.pem");
/// The server's private key (PEM, PKCS#8).
pub const SERVER_KEY_PEM: &[u8] = include_bytes!("../certs/server.key");
/// A client certificate signed by the test CA (PEM).
pub const CLIENT_CERT_PEM: &[u8] = include_bytes!("../certs/client.pem");
/// The client certificate's private key (PEM, PKCS#8).
pub const CLIENT_KEY_PEM: &[u8] = include_bytes!("../certs/client.key");

/// How the upstream serves TLS.
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    require_client_cert: bool,
}

impl TlsConfig {
    /// Server authentication only.
    pub fn server() -> Self {
        Self::default()
    }

    /// Also requires a client certificate signed by the test CA (mutual TLS).
    #[must_use]
    pub fn require_client_cert(mut self) -> Self {
        self.require_client_cert = true;
        self
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(SERVER_CERT_PEM)
            .collect::<Result<_, _>>()
            .expect("testkit: server certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(SERVER_KEY_PEM).expect("testkit: server key PEM");
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("testkit: TLS versions");
        let builder = if self.require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(CA_PEM) {
                roots
                    .add(cert.expect("testkit: CA PEM"))
                    .expect("testkit: CA");
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .expect("testkit: client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .expect("testkit: server certificate and key");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}
