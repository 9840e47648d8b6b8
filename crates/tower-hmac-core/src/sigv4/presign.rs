//! Presigned URLs, as the SDKs' presigners make them.

use percent_encoding::utf8_percent_encode;

use super::canonical::{CanonicalHead, StringToSign, canonical_query, query_params};
use super::path::{AWS_ENCODE, normalize_path};
use super::signing_key::derive_signing_key;
use super::{ALGORITHM, MAX_PRESIGN_EXPIRES, PathRule, UNSIGNED_PAYLOAD, format_amz_date};
use crate::SecretKey;
use crate::is_valid_key_id;

/// Why a presigned URL could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PresignError {
    /// The URL is not absolute (`http://host/path`).
    #[error("the URL must be absolute, with a scheme and a host")]
    NotAbsolute,
    /// The key id is not a valid key id.
    #[error("the key id must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -")]
    KeyId,
    /// The expiry is outside 1 s to 7 days.
    #[error("the expiry must be 1 to 604800 seconds")]
    Expires,
    /// The region or service is empty or holds a `/`.
    #[error("the region and service must be non-empty and hold no `/`")]
    Scope,
    /// The URL already carries presigning parameters.
    #[error("the URL already carries X-Amz-* presigning parameters")]
    AlreadySigned,
}

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
pub fn presign_url(
    method: &http::Method,
    url: &http::Uri,
    key_id: &str,
    key: &SecretKey,
    params: &PresignParams<'_>,
) -> Result<String, PresignError> {
    let (Some(scheme), Some(authority)) = (url.scheme_str(), url.authority()) else {
        return Err(PresignError::NotAbsolute);
    };
    if !is_valid_key_id(key_id) {
        return Err(PresignError::KeyId);
    }
    if !(1..=MAX_PRESIGN_EXPIRES.as_secs()).contains(&params.expires) {
        return Err(PresignError::Expires);
    }
    let bad_part = |p: &str| p.is_empty() || p.contains('/');
    if bad_part(params.region) || bad_part(params.service) {
        return Err(PresignError::Scope);
    }
    let own = url.query().unwrap_or("");
    if query_params(own).any(|(name, _)| name.starts_with("X-Amz-")) {
        return Err(PresignError::AlreadySigned);
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
