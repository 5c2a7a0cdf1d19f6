//! How tpt reaches an EKS cluster's API server — at its `endpoint`, trusting
//! its `certificate_authority`, with a signed token — tried on the real
//! kube-apiserver that `.ci/run` starts (`TPT_TEST_KUBECONFIG`). That server
//! does not know EKS tokens, so the proof is its answer: 401 Unauthorized
//! over a TLS connection verified with the given authority, and a TLS failure
//! with another one. (The token itself is checked against botocore's in
//! `executor/src/provider/eks.rs`.)

mod support;

use std::time::SystemTime;

use base64::Engine as _;
use kube::config::Kubeconfig;
use kube::Client;
use tpt_executor::provider::eks;

/// `/api` with a client made from an endpoint, a certificate authority and a token.
fn ask(endpoint: &str, ca_pem: &[u8]) -> Result<serde_json::Value, kube::Error> {
    let creds = aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let token = eks::token(&creds, "us-east-1", "shop", SystemTime::now()).expect("a token");
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let config = eks::config(endpoint, &ca, token).expect("a config");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        tpt_executor::install_crypto();
        let client = Client::try_from(config)?;
        client
            .request::<serde_json::Value>(http::Request::get("/api").body(Vec::new()).expect("a request"))
            .await
    })
}

#[test]
fn an_eks_style_client_verifies_the_server_and_presents_its_token() {
    let Some(path) = support::kubeconfig() else { return };
    let kc = Kubeconfig::read_from(&path).expect("the test kubeconfig reads");
    let cluster = kc.clusters[0].cluster.clone().expect("a cluster");
    let endpoint = cluster.server.expect("a server");
    let ca_file = cluster
        .certificate_authority
        .expect("a certificate authority file");
    let ca = std::fs::read(&ca_file).expect("the authority reads");

    match ask(&endpoint, &ca) {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 401, "{status:?}"),
        other => panic!("the server should refuse the token it cannot verify: {other:?}"),
    }
    // The server's own certificate is no authority: the connection fails.
    let server_cert = std::path::Path::new(&ca_file).with_file_name("apiserver.crt");
    let not_ca = std::fs::read(server_cert).expect("the server certificate reads");
    match ask(&endpoint, &not_ca) {
        Err(kube::Error::Api(status)) => panic!("TLS should fail before any answer: {status:?}"),
        Err(_) => {}
        Ok(v) => panic!("TLS should fail: {v}"),
    }
}
