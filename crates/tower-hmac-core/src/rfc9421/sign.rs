//! The client side: a request's `Signature-Input` and `Signature`, and its `Content-Digest`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::request::Parts;
use sfv::ListEntry;
use sha2::Digest as _;

use super::base::signature_base;
use super::parse::dictionary;
use super::{ALG, malformed};
use crate::key::{SecretKey, hmac_sha256};
use crate::rejection::Rejection;

/// A `Content-Digest` value for `body` (`sha-256`), as RFC 9530 writes it.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(sha2::Sha256::digest(body)))
}

/// Signs a request as an RFC 9421 client would: the `Signature-Input` and `Signature` values for
/// `components` (each a serialized component identifier, such as `"@method"` or
/// `"@query-param";name="a"`) with the label `sig1`.
///
/// # Errors
/// When a component is malformed or missing from the request.
pub fn sign(
    parts: &Parts,
    scheme: &str,
    components: &[&str],
    key_id: &str,
    key: &SecretKey,
    created: u64,
    nonce: Option<&str>,
) -> Result<(String, String), Rejection> {
    let mut list = String::from("(");
    list.push_str(&components.join(" "));
    list.push_str(&format!(
        ");created={created};keyid=\"{key_id}\";alg=\"{ALG}\""
    ));
    if let Some(nonce) = nonce {
        list.push_str(&format!(";nonce=\"{nonce}\""));
    }
    let input = format!("sig1={list}");
    let dict = dictionary(&input)?;
    let Some(ListEntry::InnerList(inner)) = dict.get("sig1") else {
        return Err(malformed("Signature-Input member"));
    };
    let ids: Vec<String> = inner
        .items
        .iter()
        .map(|item| {
            let mut id = String::new();
            let _ = sfv::ItemSerializer::with_buffer(&mut id)
                .bare_item(&item.bare_item)
                .parameters(&item.params);
            id
        })
        .collect();
    let lines = inner.items.iter().zip(ids.iter().map(String::as_str));
    let base = signature_base(lines, &list, parts, scheme)?;
    let mac = hmac_sha256(key, &[base.as_bytes()]);
    let signature = format!("sig1=:{}:", STANDARD.encode(mac));
    Ok((input, signature))
}
