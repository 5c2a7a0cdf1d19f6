//! Reaching an EKS cluster's API server without a kubeconfig: the bearer
//! token EKS accepts is a presigned STS `GetCallerIdentity` URL (what
//! `aws eks get-token` prints), with the cluster's name in the signed header
//! `x-k8s-aws-id`. The API server's certificate authority and endpoint are the
//! cluster's outputs.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
use aws_sigv4::sign::v4;
use base64::Engine as _;

/// How long the presigned URL is valid; EKS accepts the token for 15 minutes
/// after its signing time.
const EXPIRES: Duration = Duration::from_secs(60);

/// How long a token may be used before a new one is made (EKS: 15 minutes).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The bearer token for the EKS cluster `cluster` in `region`, signed at `now`.
pub fn token(
    credentials: &Credentials,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> Result<String, String> {
    let url = format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(EXPIRES);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot sign the EKS token: {e}"))?
        .into();
    let headers = [("x-k8s-aws-id", cluster)];
    let signable = SignableRequest::new("GET", &url, headers.into_iter(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("cannot sign the EKS token: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("cannot sign the EKS token: {e}"))?
        .into_parts();
    let mut request = http::Request::get(&url)
        .body(())
        .map_err(|e| format!("cannot sign the EKS token: {e}"))?;
    instructions.apply_to_request_http1x(&mut request);
    let presigned = request.uri().to_string();
    Ok(format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned)
    ))
}

/// A client configuration for the API server at `endpoint`, trusted by the
/// cluster's `certificate_authority` output, authenticated by `token`.
pub fn config(endpoint: &str, certificate_authority: &str, token: String) -> Result<kube::Config, String> {
    let url = endpoint
        .parse::<http::Uri>()
        .map_err(|e| format!("the endpoint `{endpoint}` is not a URL: {e}"))?;
    let mut config = kube::Config::new(url);
    config.root_cert = Some(ca_certificates(certificate_authority)?);
    config.auth_info.token = Some(secrecy::SecretString::from(token));
    Ok(config)
}

/// The DER certificates of a cluster's `certificate_authority` output
/// (base64 of PEM text).
pub fn ca_certificates(certificate_authority: &str) -> Result<Vec<Vec<u8>>, String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let pem = engine
        .decode(certificate_authority.trim())
        .map_err(|e| format!("the certificate authority is not base64: {e}"))?;
    let pem = String::from_utf8(pem).map_err(|_| "the certificate authority is not PEM text".to_string())?;
    let mut certs = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            body = Some(String::new());
        } else if line.starts_with("-----END CERTIFICATE") {
            let b = body.take().unwrap_or_default();
            certs.push(
                engine
                    .decode(b)
                    .map_err(|e| format!("a certificate of the certificate authority is not base64: {e}"))?,
            );
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    if certs.is_empty() {
        return Err("the certificate authority holds no certificate".to_string());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(token: &str) -> std::collections::BTreeMap<String, String> {
        let url = token.strip_prefix("k8s-aws-v1.").expect("the token's prefix");
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(url)
            .expect("base64url without padding");
        let url = String::from_utf8(url).expect("a URL");
        assert!(url.starts_with("https://sts.eu-west-1.amazonaws.com/?"), "{url}");
        url.split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_token_is_the_presigned_url_botocore_makes() {
        // The expected signature was made by botocore 1.44.8 (what `aws eks
        // get-token` uses) for the same credentials, time, region and cluster:
        // SigV4QueryAuth(creds, "sts", "eu-west-1", expires=60) on
        // GET https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15
        // with the header x-k8s-aws-id: shop-prod, at 2026-12-01T12:00:00Z.
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_126_400);
        let signed = token(&creds, "eu-west-1", "shop-prod", at).expect("a token");
        let q = query(&signed);
        assert_eq!(q["Action"], "GetCallerIdentity");
        assert_eq!(q["Version"], "2011-06-15");
        assert_eq!(q["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(
            q["X-Amz-Credential"],
            "AKIDEXAMPLE%2F20261201%2Feu-west-1%2Fsts%2Faws4_request"
        );
        assert_eq!(q["X-Amz-Date"], "20261201T120000Z");
        assert_eq!(q["X-Amz-Expires"], "60");
        assert_eq!(q["X-Amz-SignedHeaders"], "host%3Bx-k8s-aws-id");
        assert_eq!(
            q["X-Amz-Signature"],
            "c83860cd695c72ecc36e0d396f9a769c26d500034b5c0c6dd94d6b26b84836da"
        );
        // Another cluster, another signature.
        let other = token(&creds, "eu-west-1", "other", at).expect("a token");
        assert_ne!(query(&other)["X-Amz-Signature"], q["X-Amz-Signature"]);
    }

    #[test]
    fn certificate_authorities_are_read_from_base64_pem() {
        let der = [0x30u8, 0x03, 0x02, 0x01, 0x01];
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            b64(&der)
        );
        assert_eq!(ca_certificates(&b64(pem.as_bytes())), Ok(vec![der.to_vec()]));
        assert!(ca_certificates("not base64!").is_err());
        assert!(ca_certificates(&b64(b"no certificate here")).is_err());
    }
}
