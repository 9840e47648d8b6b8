//! Presigned URLs, as the SDKs' presigners make them.

use percent_encoding::utf8_percent_encode;

use super::canonical::{CanonicalHead, StringToSign, canonical_query, query_params};
use super::path::{AWS_ENCODE, normalize_path};
use super::signing_key::derive_signing_key;
use super::{ALGORITHM, MAX_PRESIGN_EXPIRES, PathRule, UNSIGNED_PAYLOAD, format_amz_date};
use crate::is_valid_key_id;
use crate::{SecretKey, SignError};

/// What a presigned URL is made for.
#[derive(Debug, Clone, Copy)]
pub struct PresignParams<'a> {
    /// The region of the scope.
    pub region: &'a str,
    /// The service of the scope.
    pub service: &'a str,
    /// The service's path rule ([`PathRule::S3`] for S3 clients).
    pub rule: PathRule,
    /// The signing time, Unix seconds.
    pub time: u64,
    /// How long the URL is valid, in seconds (1 to 604,800).
    pub expires: u64,
}

/// A presigned URL for `method url`, as the SDKs' presigners make it: `host` signed,
/// `UNSIGNED-PAYLOAD`, the `X-Amz-*` parameters after the URL's own query. Under
/// [`PathRule::Generic`] the URL carries the path normalised (`/a/./b//c/../d` becomes `/a/b/d`):
/// the path its signature covers, and the only one the verifier accepts. A presigned URL is a
/// bearer link: whoever holds it can use it until it expires (see
/// [`SigV4::presigned_url_use`](super::SigV4::presigned_url_use)).
///
/// # Errors
/// [`SignError::NotAbsolute`] for a URL without a scheme and host, [`SignError::InvalidKeyId`],
/// [`SignError::ExpiresOutOfRange`] for an expiry outside 1 s to 7 days,
/// [`SignError::InvalidScope`] for an empty region or service or one holding a `/`, and
/// [`SignError::AlreadySigned`] for a URL whose query already holds `X-Amz-*` parameters.
pub fn presign_url(
    method: &http::Method,
    url: &http::Uri,
    key_id: &str,
    key: &SecretKey,
    params: &PresignParams<'_>,
) -> Result<String, SignError> {
    let (Some(scheme), Some(authority)) = (url.scheme_str(), url.authority()) else {
        return Err(SignError::NotAbsolute);
    };
    if !is_valid_key_id(key_id) {
        return Err(SignError::InvalidKeyId);
    }
    if !(1..=MAX_PRESIGN_EXPIRES.as_secs()).contains(&params.expires) {
        return Err(SignError::ExpiresOutOfRange);
    }
    let bad_part = |p: &str| p.is_empty() || p.contains('/');
    if bad_part(params.region) || bad_part(params.service) {
        return Err(SignError::InvalidScope);
    }
    let own = url.query().unwrap_or("");
    if query_params(own).any(|(name, _)| name.starts_with("X-Amz-")) {
        return Err(SignError::AlreadySigned);
    }
    let amz_date = format_amz_date(params.time);
    let scope = format!(
        "{}/{}/{}/aws4_request",
        &amz_date[..8],
        params.region,
        params.service
    );
    let credential = format!("{key_id}/{scope}");
    let encode = |v: &str| utf8_percent_encode(v, AWS_ENCODE).to_string();
    let mut query = String::from(own);
    for (name, value) in [
        ("X-Amz-Algorithm", ALGORITHM.to_owned()),
        ("X-Amz-Credential", encode(&credential)),
        ("X-Amz-Date", amz_date.clone()),
        ("X-Amz-Expires", params.expires.to_string()),
        ("X-Amz-SignedHeaders", "host".to_owned()),
    ] {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        query.push_str(&value);
    }
    let path = if url.path().is_empty() {
        "/"
    } else {
        url.path()
    };
    // Under the generic rule the URL carries the normalised path: the one its signature covers,
    // and the only one the server accepts (it refuses a path normalisation would change).
    let path = match params.rule {
        PathRule::S3 => path.to_owned(),
        PathRule::Generic => normalize_path(path),
    };
    // The canonical request and string to sign the verifier builds, from the same types.
    let mut canonical = CanonicalHead::presigned(method, params.rule, &path, authority.as_str())
        .with_query(&canonical_query(&query, true));
    canonical.set_payload_hash(UNSIGNED_PAYLOAD);
    let signing_key = derive_signing_key(&key.text_form(), &scope);
    let signature = StringToSign::for_scope(&amz_date, &scope, &canonical).signature(&signing_key);
    Ok(format!(
        "{scheme}://{}{path}?{query}&X-Amz-Signature={}",
        authority.as_str(),
        hex::encode(signature)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presign(url: &str, key_id: &str, params: &PresignParams<'_>) -> Result<String, SignError> {
        let key = SecretKey::from_bytes(&[5; 32]).unwrap();
        presign_url(
            &http::Method::GET,
            &url.parse().unwrap(),
            key_id,
            &key,
            params,
        )
    }

    fn params() -> PresignParams<'static> {
        PresignParams {
            region: "us-east-1",
            service: "demo",
            rule: PathRule::Generic,
            time: 1_795_000_000,
            expires: 600,
        }
    }

    #[test]
    fn a_relative_url_is_refused_as_not_absolute() {
        let err = presign("/x", "k1", &params()).unwrap_err();
        assert_eq!(err, SignError::NotAbsolute);
        assert!(err.to_string().contains("absolute"), "{err}");
    }

    #[test]
    fn an_invalid_key_id_is_refused() {
        let err = presign("http://h/x", "a b", &params()).unwrap_err();
        assert_eq!(err, SignError::InvalidKeyId);
        assert!(err.to_string().contains("key id"), "{err}");
    }

    #[test]
    fn an_expiry_outside_one_second_to_seven_days_is_refused() {
        for expires in [0, 604_801] {
            let err = presign(
                "http://h/x",
                "k1",
                &PresignParams {
                    expires,
                    ..params()
                },
            )
            .unwrap_err();
            assert_eq!(err, SignError::ExpiresOutOfRange, "{expires}");
            assert!(err.to_string().contains("604800"), "{err}");
        }
        assert!(
            presign(
                "http://h/x",
                "k1",
                &PresignParams {
                    expires: 604_800,
                    ..params()
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn an_empty_or_slashed_region_or_service_is_refused() {
        for (region, service) in [("", "demo"), ("us/east", "demo"), ("us-east-1", "")] {
            let err = presign(
                "http://h/x",
                "k1",
                &PresignParams {
                    region,
                    service,
                    ..params()
                },
            )
            .unwrap_err();
            assert_eq!(err, SignError::InvalidScope, "{region:?} {service:?}");
            assert!(err.to_string().contains("region and service"), "{err}");
        }
    }

    #[test]
    fn a_url_already_presigned_is_refused() {
        let err = presign("http://h/x?a=1&X-Amz-Date=1", "k1", &params()).unwrap_err();
        assert_eq!(err, SignError::AlreadySigned);
        assert!(err.to_string().contains("X-Amz-"), "{err}");
    }
}
