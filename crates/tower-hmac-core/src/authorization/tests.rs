use http::HeaderName;

use super::*;
use crate::rejection::{Rejection, RejectionKind};

const SIG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn header(params: &str) -> String {
    format!("HMAC-SHA256 {params}")
}

fn valid() -> String {
    header(&format!(
        "Credential=app-1, Timestamp=1700000000, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=content-type;host, Signature={SIG}"
    ))
}

fn parse(value: &str) -> Result<Authorization, Rejection> {
    Authorization::parse(value.as_bytes(), DEFAULT_MAX_HEADER_LEN)
}

fn assert_malformed(value: &str) {
    let err = parse(value).expect_err(value);
    assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{value}");
}

#[test]
fn parses_a_valid_header() {
    let auth = parse(&valid()).unwrap();
    assert_eq!(auth.key_id(), "app-1");
    assert_eq!(auth.timestamp(), 1_700_000_000);
    assert_eq!(auth.nonce(), "AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(auth.signed_headers_str(), "content-type;host");
    assert!(auth.signed_headers().eq(["content-type", "host"]));
    assert_eq!(auth.signature().to_hex(), SIG);
}

#[test]
fn format_then_parse_is_identity() {
    let auth = parse(&valid()).unwrap();
    assert_eq!(auth.to_string(), valid());
    assert_eq!(parse(&auth.to_string()).unwrap(), auth);
}

#[test]
fn accepts_parameters_in_any_order_and_without_spaces() {
    let value = header(&format!(
        "Signature={SIG},SignedHeaders=host,Nonce=AAAAAAAAAAAAAAAAAAAAAA,Timestamp=1,Credential=k"
    ));
    let auth = parse(&value).unwrap();
    assert_eq!(auth.key_id(), "k");
    assert_eq!(auth.timestamp(), 1);
}

#[test]
fn scheme_is_case_insensitive() {
    let value = valid().replacen("HMAC-SHA256", "hmac-sha256", 1);
    assert!(parse(&value).is_ok());
}

#[test]
fn rejects_other_schemes_as_unsupported() {
    let err = parse("Bearer abc").unwrap_err();
    assert_eq!(err.kind(), RejectionKind::UnsupportedScheme);
    let err = parse("Basic").unwrap_err();
    assert_eq!(err.kind(), RejectionKind::UnsupportedScheme);
}

#[test]
fn rejects_scheme_without_parameters() {
    assert_malformed("HMAC-SHA256");
    assert_malformed("HMAC-SHA256   ");
}

#[test]
fn rejects_empty_header() {
    assert_malformed("");
    assert_malformed(" HMAC-SHA256 Credential=a");
}

#[test]
fn rejects_parameter_names_in_other_case() {
    assert_malformed(&valid().replace("Credential=", "credential="));
}

#[test]
fn rejects_unknown_parameter() {
    assert_malformed(&format!("{}, Extra=1", valid()));
}

#[test]
fn rejects_duplicate_nonce_parameter() {
    assert_malformed(&format!("{}, Nonce=BBBBBBBBBBBBBBBBBBBBBB", valid()));
}

#[test]
fn rejects_duplicate_credential_parameter() {
    assert_malformed(&format!("{}, Credential=app-1", valid()));
}

#[test]
fn rejects_missing_parameter() {
    for name in Authorization::PARAMETERS {
        let value: Vec<_> = valid()
            .trim_start_matches("HMAC-SHA256 ")
            .split(", ")
            .filter(|p| !p.starts_with(&format!("{name}=")))
            .map(str::to_owned)
            .collect();
        assert_malformed(&header(&value.join(", ")));
    }
}

#[test]
fn rejects_empty_parameter_value() {
    assert_malformed(&valid().replace("Credential=app-1", "Credential="));
}

#[test]
fn rejects_trailing_comma() {
    assert_malformed(&format!("{},", valid()));
}

#[test]
fn rejects_parameter_without_equals() {
    assert_malformed(&format!("{}, Oops", valid()));
}

#[test]
fn rejects_timestamp_with_leading_zeros() {
    assert_malformed(&header(&format!(
        "Credential=app-1, Timestamp=01700000000, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=host, Signature={SIG}"
    )));
    let zero = parse(&header(&format!(
        "Credential=app-1, Timestamp=0, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=host, Signature={SIG}"
    )))
    .unwrap();
    assert_eq!(zero.timestamp(), 0);
}

#[test]
fn rejects_quoted_values() {
    assert_malformed(&valid().replace("Credential=app-1", "Credential=\"app-1\""));
}

#[test]
fn rejects_over_long_header() {
    let long = format!("{}{}", valid(), " ".repeat(DEFAULT_MAX_HEADER_LEN));
    assert_malformed(&long);
}

#[test]
fn rejects_key_id_too_long_or_with_bad_characters() {
    assert_malformed(&valid().replace("app-1", &"a".repeat(129)));
    assert!(parse(&valid().replace("app-1", &"a".repeat(128))).is_ok());
    assert_malformed(&valid().replace("app-1", "app/1"));
    assert!(parse(&valid().replace("app-1", "A.b_c~d-9")).is_ok());
}

#[test]
fn rejects_bad_timestamps() {
    assert_malformed(&valid().replace("1700000000", "-1700000000"));
    assert_malformed(&valid().replace("1700000000", "+1700000000"));
    assert_malformed(&valid().replace("1700000000", "1700000000.5"));
    assert_malformed(&valid().replace("1700000000", "1234567890123"));
    assert!(parse(&valid().replace("1700000000", "123456789012")).is_ok());
}

#[test]
fn rejects_bad_nonces() {
    let nonce = "AAAAAAAAAAAAAAAAAAAAAA";
    assert_malformed(&valid().replace(nonce, &"A".repeat(15)));
    assert!(parse(&valid().replace(nonce, &"A".repeat(16))).is_ok());
    assert!(parse(&valid().replace(nonce, &"A".repeat(128))).is_ok());
    assert_malformed(&valid().replace(nonce, &"A".repeat(129)));
    assert_malformed(&valid().replace(nonce, "AAAAAAAAAAAAAAAAAAAAA="));
    assert_malformed(&valid().replace(nonce, "AAAAAAAAAAAAAAAAAAAAA+"));
}

#[test]
fn rejects_bad_signed_headers() {
    let sh = "content-type;host";
    assert_malformed(&valid().replace(sh, "host;content-type"));
    assert_malformed(&valid().replace(sh, "host;host"));
    assert_malformed(&valid().replace(sh, "content-type"));
    assert_malformed(&valid().replace(sh, "authorization;host"));
    assert_malformed(&valid().replace(sh, "Content-Type;host"));
    assert_malformed(&valid().replace(sh, "content-type;;host"));
    assert_malformed(&valid().replace(sh, "host;"));
    let many: Vec<String> = (0..32).map(|i| format!("h{i:02}")).collect();
    assert_malformed(&valid().replace(sh, &format!("{};host", many.join(";"))));
    let max: Vec<String> = (0..31).map(|i| format!("h{i:02}")).collect();
    assert!(parse(&valid().replace(sh, &format!("{};host", max.join(";")))).is_ok());
}

#[test]
fn rejects_each_bad_signed_headers_list_for_its_own_reason() {
    let sh = "content-type;host";
    let detail = |list: &str| {
        parse(&valid().replace(sh, list))
            .expect_err(list)
            .detail()
            .map(str::to_owned)
    };
    let empty = "SignedHeaders has an empty name";
    let not_lower_tchars = "SignedHeaders names must be lower-case header names";
    let out_of_order = "SignedHeaders must be strictly ascending with no duplicates";
    let cases = [
        (";host", empty),
        ("host;", empty),
        ("a;;host", empty),
        ("Host", not_lower_tchars),
        ("host;x(y)", not_lower_tchars),
        ("host;x/y", not_lower_tchars),
        ("host;x\u{7f}", not_lower_tchars),
        ("host;content-type", out_of_order),
        ("host;host", out_of_order),
        (
            "authorization;host",
            "SignedHeaders must not contain authorization",
        ),
        ("content-type", "SignedHeaders must contain host"),
    ];
    for (list, expected) in cases {
        assert_eq!(detail(list).as_deref(), Some(expected), "{list}");
    }
    let many: Vec<String> = (0..32).map(|i| format!("h{i:02}")).collect();
    assert_eq!(
        detail(&format!("{};host", many.join(";"))).as_deref(),
        Some("SignedHeaders names more than 32 headers")
    );
    // A name `HeaderName::from_bytes` refuses as too long is refused too, under a large limit.
    let long = valid().replace(sh, &format!("{};host", "a".repeat(65_536)));
    let err = Authorization::parse(long.as_bytes(), usize::MAX).unwrap_err();
    assert_eq!(err.detail(), Some("SignedHeaders has an invalid name"));
    let longest = valid().replace(sh, &format!("{};host", "a".repeat(65_535)));
    assert!(Authorization::parse(longest.as_bytes(), usize::MAX).is_ok());
}

#[test]
fn parses_and_round_trips_a_header_longer_than_the_inline_text() {
    let key_id = "k".repeat(MAX_KEY_ID_LEN);
    let nonce = "N".repeat(MAX_NONCE_LEN);
    let names: Vec<String> = (0..31).map(|i| format!("x-header-{i:02}")).collect();
    let signed = format!("host;{}", names.join(";"));
    let value = header(&format!(
        "Credential={key_id}, Timestamp=123456789012, Nonce={nonce}, SignedHeaders={signed}, Signature={SIG}"
    ));
    let auth = parse(&value).unwrap();
    assert_eq!(auth.key_id(), key_id);
    assert_eq!(auth.timestamp_str(), "123456789012");
    assert_eq!(auth.timestamp(), 123_456_789_012);
    assert_eq!(auth.nonce(), nonce);
    assert_eq!(auth.signed_headers_str(), signed);
    assert!(auth.signed_headers().eq(signed.split(';')));
    assert_eq!(auth.signed_headers().count(), 32);
    assert_eq!(auth.to_string(), value);
    assert_eq!(parse(&auth.to_string()).unwrap(), auth);
    assert_eq!(auth.clone(), auth);
    // Built from its parts, it is the same value.
    let header_names: Vec<HeaderName> = auth
        .signed_headers()
        .map(|n| HeaderName::from_bytes(n.as_bytes()).unwrap())
        .collect();
    let built = Authorization::new(
        &key_id,
        123_456_789_012,
        &nonce,
        &header_names,
        *auth.signature(),
    )
    .unwrap();
    assert_eq!(built, auth);
    assert_eq!(format!("{built:?}"), format!("{auth:?}"));
    // One byte changed in a long part makes another value.
    assert_ne!(parse(&value.replacen("kkk", "kkj", 1)).unwrap(), auth);
}

#[test]
fn new_builds_what_parse_reads() {
    let auth = parse(&valid()).unwrap();
    let names = [
        HeaderName::from_static("content-type"),
        HeaderName::from_static("host"),
    ];
    let built = Authorization::new(
        "app-1",
        1_700_000_000,
        "AAAAAAAAAAAAAAAAAAAAAA",
        &names,
        *auth.signature(),
    )
    .unwrap();
    assert_eq!(built, auth);
    assert_eq!(built.to_string(), valid());
    assert_eq!(
        Authorization::new("k", 0, "AAAAAAAAAAAAAAAA", &names[1..], *auth.signature())
            .unwrap()
            .timestamp_str(),
        "0"
    );
    let err = Authorization::new(
        "k",
        u64::MAX,
        "AAAAAAAAAAAAAAAA",
        &names[1..],
        *auth.signature(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid Authorization parameter: Timestamp must be 1 to 12 decimal digits"
    );
    assert!(
        Authorization::new("k", 1, "AAAAAAAAAAAAAAAA", &[], *auth.signature()).is_err(),
        "no signed headers"
    );
    let unsorted = [names[1].clone(), names[0].clone()];
    assert!(Authorization::new("k", 1, "AAAAAAAAAAAAAAAA", &unsorted, *auth.signature()).is_err());
}

#[test]
fn rejects_bad_signatures() {
    assert_malformed(&valid().replace(SIG, &SIG.to_uppercase()));
    assert_malformed(&valid().replace(SIG, &SIG[..63]));
    assert_malformed(&valid().replace(SIG, &format!("{SIG}0")));
    assert_malformed(&valid().replace(SIG, &SIG.replace('a', "g")));
}

#[test]
fn rejects_non_ascii_bytes() {
    let mut value = valid().into_bytes();
    let at = valid().find("app-1").unwrap() + 3;
    value[at] = 0xff;
    let err = Authorization::parse(&value, DEFAULT_MAX_HEADER_LEN).unwrap_err();
    assert_eq!(err.kind(), RejectionKind::MalformedAuthorization);
}

#[test]
fn debug_leaves_out_the_signature() {
    let auth = parse(&valid()).unwrap();
    let debug = format!("{auth:?}");
    assert!(!debug.contains(SIG), "{debug}");
    assert!(debug.contains("app-1"));
}

#[test]
fn signature_equality_compares_bytes() {
    let a = Signature::from_hex(SIG).unwrap();
    let mut bytes = *a.as_bytes();
    assert_eq!(a, Signature::from_bytes(bytes));
    bytes[31] ^= 1;
    assert_ne!(a, Signature::from_bytes(bytes));
}

#[test]
fn new_checks_its_inputs() {
    let sig = Signature::from_bytes([0; 32]);
    let host = HeaderName::from_static("host");
    assert!(
        Authorization::new(
            "k",
            1,
            "AAAAAAAAAAAAAAAAAAAAAA",
            std::slice::from_ref(&host),
            sig
        )
        .is_ok()
    );
    assert!(
        Authorization::new(
            "k/",
            1,
            "AAAAAAAAAAAAAAAAAAAAAA",
            std::slice::from_ref(&host),
            sig
        )
        .is_err()
    );
    assert!(Authorization::new("k", 1, "short", &[host], sig).is_err());
    let ct = HeaderName::from_static("content-type");
    assert!(Authorization::new("k", 1, "AAAAAAAAAAAAAAAAAAAAAA", &[ct], sig).is_err());
}

#[test]
fn names_that_only_begin_like_a_parameter_are_unknown_or_incomplete() {
    // The five names are matched with their `=`; these go through the byte loop and are refused
    // for the same reason as before it existed.
    for (from, to) in [
        ("Credential=", "Credentials="),
        ("Credential=", "Credential ="),
        ("Timestamp=", "TimestampX="),
        ("Nonce=", "Nonc="),
        ("Signature=", "Signatures="),
        ("SignedHeaders=", "SignedHeader="),
        ("SignedHeaders=", "Signed="),
    ] {
        let value = valid().replace(from, to);
        assert_ne!(value, valid());
        let err = parse(&value).expect_err(&value);
        assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{value}");
    }
    for value in [
        format!("{}, Credential", valid()),
        format!("{}, Signature", valid()),
        header("Credential"),
        header("S"),
    ] {
        let err = parse(&value).expect_err(&value);
        assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{value}");
    }
    // The timestamp's value is read from its digits, up to the twelve allowed.
    for ts in ["0", "7", "1700000000", "999999999999"] {
        let auth = parse(&valid().replace("1700000000", ts)).unwrap();
        assert_eq!(auth.timestamp(), ts.parse::<u64>().unwrap());
    }
}
