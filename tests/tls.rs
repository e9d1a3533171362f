//! TLS to internal endpoints: a private CA must be added explicitly, and mutual TLS works
//! with a client certificate and fails without one.
#![allow(clippy::unwrap_used)]

use llmward::openai::OpenAi;
use llmward::{ChatRequest, ErrorKind, HttpOptions, Provider};
use llmward_testkit::tls::{self, TlsConfig};
use llmward_testkit::{Upstream, openai as wire};

fn hello() -> ChatRequest {
    ChatRequest::builder("m").user("hi").build().unwrap()
}

fn client(upstream: &Upstream, http: HttpOptions) -> OpenAi {
    OpenAi::compatible(format!("{}/v1", upstream.url()))
        .http(http)
        .build()
        .unwrap()
}

#[tokio::test]
async fn unknown_ca_is_refused_and_an_added_ca_is_trusted() {
    let upstream = Upstream::start_tls(TlsConfig::server()).await;
    upstream.set_handler(wire::handler());
    assert!(upstream.url().starts_with("https://127.0.0.1:"));

    let err = client(&upstream, HttpOptions::new())
        .chat(&hello())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert_eq!(upstream.request_count(), 0);

    let trusted = client(
        &upstream,
        HttpOptions::new().add_root_certificate_pem(tls::CA_PEM),
    );
    assert_eq!(
        trusted.chat(&hello()).await.unwrap().text(),
        "Hello from testkit"
    );
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let upstream = Upstream::start_tls(TlsConfig::server().require_client_cert()).await;
    upstream.set_handler(wire::handler());
    let with_ca = HttpOptions::new().add_root_certificate_pem(tls::CA_PEM);

    let err = client(&upstream, with_ca.clone())
        .chat(&hello())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Connect | ErrorKind::Protocol),
        "{err:?}"
    );
    assert_eq!(upstream.request_count(), 0);

    let mtls = client(
        &upstream,
        with_ca.client_identity_pem(tls::CLIENT_CERT_PEM, tls::CLIENT_KEY_PEM),
    );
    assert_eq!(
        mtls.chat(&hello()).await.unwrap().text(),
        "Hello from testkit"
    );
    assert_eq!(upstream.request_count(), 1);
}

#[test]
fn bad_pem_is_refused_at_build_time() {
    for http in [
        HttpOptions::new().add_root_certificate_pem(b"garbage".to_vec()),
        HttpOptions::new().client_identity_pem(tls::CLIENT_CERT_PEM, b"not a key".to_vec()),
        HttpOptions::new().client_identity_pem(b"not a cert".to_vec(), tls::CLIENT_KEY_PEM),
        HttpOptions::new().client_identity_pem(tls::CLIENT_CERT_PEM, tls::SERVER_KEY_PEM),
    ] {
        let err = OpenAi::compatible("https://127.0.0.1:1/v1")
            .http(http)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    }
}
