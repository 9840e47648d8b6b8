//! The client side: a request's `Signature-Input` and `Signature`, and its `Content-Digest`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderName;
use http::request::Parts;
use sfv::{Item, ListEntry};
use sha2::Digest as _;

use super::ALG;
use super::base::{Line, signature_base};
use super::malformed;
use super::parse::{dictionary, serialize_inner_list};
use crate::key::{SecretKey, hmac_sha256};
use crate::rejection::{Rejection, RejectionKind};
use crate::sign::SignError;

/// Why a component that is not a component identifier cannot be signed.
const NOT_AN_IDENTIFIER: &str =
    "it is not a component identifier (a quoted string with optional parameters, as \"@method\")";

/// A `Content-Digest` value for `body` (`sha-256`), as RFC 9530 writes it.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(sha2::Sha256::digest(body)))
}

/// Signs a request as an RFC 9421 client would: the `Signature-Input` and `Signature` values for
/// `components` (each a serialized component identifier, such as `"@method"` or
/// `"@query-param";name="a"`) with the label `sig1`.
///
/// # Errors
/// [`SignError::InvalidComponent`] for a component that is not a component identifier, is not
/// supported, or cannot be read from this request (a `@query-param` whose parameter is absent or
/// repeats, a header whose value is not text); [`SignError::MissingHeader`] for a covered header
/// the request does not have (`host` for `@authority` and `@target-uri` without a host);
/// [`SignError::InvalidKeyId`] or [`SignError::InvalidNonceOrTimestamp`] for a key id, nonce or
/// `created` that `Signature-Input` cannot carry.
pub fn sign(
    parts: &Parts,
    scheme: &str,
    components: &[&str],
    key_id: &str,
    key: &SecretKey,
    created: u64,
    nonce: Option<&str>,
) -> Result<(String, String), SignError> {
    let mut composed = String::from("sig1=(");
    composed.push_str(&components.join(" "));
    composed.push_str(&format!(
        ");created={created};keyid=\"{key_id}\";alg=\"{ALG}\""
    ));
    if let Some(nonce) = nonce {
        composed.push_str(&format!(";nonce=\"{nonce}\""));
    }
    let not_a_list = || unwritable(components, key_id, created, nonce);
    let dict = dictionary(&composed).map_err(|_| not_a_list())?;
    let Some(ListEntry::InnerList(inner)) = dict.get("sig1") else {
        return Err(not_a_list());
    };
    // Signed and sent as RFC 8941 serializes it, which is what the verifier rebuilds
    // `@signature-params` from: a component written with white space RFC 8941 allows
    // (`"@query-param"; name="a"`) would otherwise be signed one way and checked another.
    let list = serialize_inner_list(inner);
    let input = format!("sig1={list}");
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
    fn line<'a>((item, id): (&'a Item, &'a str)) -> Line<'a> {
        Line {
            id,
            name: component_name(item).ok(),
            query_name: item
                .params
                .get("name")
                .and_then(|v| v.as_string())
                .map(|s| s.as_str()),
        }
    }
    let base = signature_base(lines.clone().map(line), &list, parts, scheme).map_err(|_| {
        // Name the first component that cannot be signed, and why.
        lines
            .filter_map(|(item, id)| {
                let one = std::iter::once(line((item, id)));
                let rejection = signature_base(one, "", parts, scheme).err()?;
                Some(unsignable(item, id, &rejection))
            })
            .next()
            .unwrap_or_else(|| SignError::InvalidComponent {
                component: ids.join(" "),
                reason: "it cannot be signed for this request",
            })
    })?;
    let mac = hmac_sha256(key, &[base.text.as_bytes()]);
    let signature = format!("sig1=:{}:", STANDARD.encode(mac));
    Ok((input, signature))
}

/// Why `Signature-Input` could not be written: the first of the components, key id, `created` or
/// nonce that a structured field cannot carry.
fn unwritable(components: &[&str], key_id: &str, created: u64, nonce: Option<&str>) -> SignError {
    let parses = |member: &str| dictionary(&format!("sig1={member}")).is_ok();
    if let Some(component) = components.iter().find(|c| !parses(&format!("({c})"))) {
        return SignError::InvalidComponent {
            component: (*component).to_owned(),
            reason: NOT_AN_IDENTIFIER,
        };
    }
    if !parses(&format!("();keyid=\"{key_id}\"")) {
        return SignError::InvalidKeyId;
    }
    let nonce_ok = nonce.is_none_or(|n| parses(&format!("();nonce=\"{n}\"")));
    if !parses(&format!("();created={created}")) || !nonce_ok {
        return SignError::InvalidNonceOrTimestamp;
    }
    SignError::InvalidComponent {
        component: components.join(" "),
        reason: "the components do not form one list of component identifiers",
    }
}

/// Why one covered component (`item`, serialized as `id`) cannot be signed, from the rejection
/// the signature base gave it.
fn unsignable(item: &Item, id: &str, rejection: &Rejection) -> SignError {
    let invalid = |reason| SignError::InvalidComponent {
        component: id.to_owned(),
        reason,
    };
    let Ok(name) = component_name(item) else {
        return invalid(NOT_AN_IDENTIFIER);
    };
    let absent = rejection.kind() == RejectionKind::MissingSignedHeader;
    match name {
        "@authority" | "@target-uri" if absent => SignError::MissingHeader("host".into()),
        "@query-param" if absent => invalid("the query parameter it names is not in the request"),
        "@query-param" => invalid("the query parameter it names appears more than once"),
        _ if name.starts_with('@') => invalid("it is not a derived component this scheme supports"),
        _ if absent => SignError::MissingHeader(name.to_owned()),
        _ if HeaderName::from_bytes(name.as_bytes()).is_err() => {
            invalid("it is not a header field name")
        }
        _ => invalid("the header's value is not text (visible ASCII)"),
    }
}

fn component_name(item: &Item) -> Result<&str, Rejection> {
    item.bare_item
        .as_string()
        .map(|s| s.as_str())
        .ok_or_else(|| malformed("a covered component is a string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(target: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::get(target);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn sign_one(parts: &Parts, component: &str) -> Result<(String, String), SignError> {
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        sign(parts, "https", &[component], "k1", &key, 1, None)
    }

    fn invalid(err: &SignError) -> (&str, &str) {
        match err {
            SignError::InvalidComponent { component, reason } => (component, reason),
            other => panic!("not InvalidComponent: {other:?}"),
        }
    }

    #[test]
    fn what_is_signed_is_the_canonical_serialization_the_verifier_rebuilds() {
        let p = parts("/a?x=1", &[("host", "h")]);
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        let canonical = ["\"@method\"", "\"@query-param\";name=\"x\""];
        let spaced = ["\"@method\"", "\"@query-param\"; name=\"x\""];
        let signed = sign(&p, "https", &canonical, "k1", &key, 1, Some("n0nce")).unwrap();
        assert_eq!(
            sign(&p, "https", &spaced, "k1", &key, 1, Some("n0nce")).unwrap(),
            signed
        );
        assert_eq!(
            signed.0,
            "sig1=(\"@method\" \"@query-param\";name=\"x\");created=1;keyid=\"k1\";\
             alg=\"hmac-sha256\";nonce=\"n0nce\""
        );
    }

    #[test]
    fn a_component_that_is_no_identifier_is_named() {
        let p = parts("/a", &[("host", "h")]);
        // Not a structured-field item at all, and an item that is not a string (a token).
        for component in ["\"@method", "@method", "method"] {
            let err = sign_one(&p, component).unwrap_err();
            assert_eq!(invalid(&err), (component, NOT_AN_IDENTIFIER));
            let text = err.to_string();
            assert!(text.contains(component), "{text}");
            assert!(text.contains("not a component identifier"), "{text}");
        }
    }

    #[test]
    fn an_unsupported_derived_component_is_named() {
        let p = parts("/a", &[("host", "h")]);
        let err = sign_one(&p, "\"@status\"").unwrap_err();
        let (component, reason) = invalid(&err);
        assert_eq!(component, "\"@status\"");
        assert!(reason.contains("derived component"), "{reason}");
        assert_eq!(
            err.to_string(),
            "component `\"@status\"` cannot be signed: it is not a derived component this scheme \
             supports"
        );
    }

    #[test]
    fn a_query_param_absent_or_repeated_is_named() {
        let id = "\"@query-param\";name=\"x\"";
        let err = sign_one(&parts("/a?y=1", &[("host", "h")]), id).unwrap_err();
        assert_eq!(invalid(&err).0, id);
        assert!(err.to_string().contains("not in the request"), "{err}");
        let err = sign_one(&parts("/a?x=1&x=2", &[("host", "h")]), id).unwrap_err();
        assert_eq!(invalid(&err).0, id);
        assert!(err.to_string().contains("more than once"), "{err}");
    }

    #[test]
    fn a_header_that_is_not_text_or_no_field_name_is_named() {
        let mut p = parts("/a", &[("host", "h")]);
        p.headers.insert(
            "x-bin",
            http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        let err = sign_one(&p, "\"x-bin\"").unwrap_err();
        assert_eq!(invalid(&err).0, "\"x-bin\"");
        assert!(err.to_string().contains("not text"), "{err}");
        let err = sign_one(&p, "\"x bin\"").unwrap_err();
        assert_eq!(invalid(&err).0, "\"x bin\"");
        assert!(err.to_string().contains("not a header field name"), "{err}");
    }

    #[test]
    fn the_first_component_that_cannot_be_signed_is_the_one_named() {
        let p = parts("/a", &[("host", "h")]);
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        let err = sign(
            &p,
            "https",
            &["\"@method\"", "\"@status\"", "\"x-absent\""],
            "k1",
            &key,
            1,
            None,
        )
        .unwrap_err();
        assert_eq!(invalid(&err).0, "\"@status\"");
    }

    #[test]
    fn an_absent_header_is_a_missing_header() {
        let err = sign_one(&parts("/a", &[("host", "h")]), "\"content-type\"").unwrap_err();
        assert_eq!(err, SignError::MissingHeader("content-type".into()));
        assert!(err.to_string().contains("content-type"), "{err}");
        // @authority without Host and without a URI authority: the host is what is missing.
        let err = sign_one(&parts("/a", &[]), "\"@authority\"").unwrap_err();
        assert_eq!(err, SignError::MissingHeader("host".into()));
    }

    #[test]
    fn a_repeated_covered_header_is_joined_as_before() {
        let mut p = parts("/a", &[("host", "h")]);
        p.headers.append("x-tag", "a".parse().unwrap());
        p.headers.append("x-tag", "b".parse().unwrap());
        assert!(sign_one(&p, "\"x-tag\"").is_ok());
    }

    #[test]
    fn a_key_id_nonce_or_created_signature_input_cannot_carry_is_refused() {
        let p = parts("/a", &[("host", "h")]);
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        let one = ["\"@method\""];
        let err = sign(&p, "https", &one, "k\\1", &key, 1, None).unwrap_err();
        assert_eq!(err, SignError::InvalidKeyId);
        let err = sign(&p, "https", &one, "k1", &key, 1, Some("n\u{e9}")).unwrap_err();
        assert_eq!(err, SignError::InvalidNonceOrTimestamp);
        let err = sign(&p, "https", &one, "k1", &key, 10_u64.pow(15), None).unwrap_err();
        assert_eq!(err, SignError::InvalidNonceOrTimestamp);
        assert!(sign(&p, "https", &one, "k1", &key, 10_u64.pow(15) - 1, None).is_ok());
    }
}
