//! The canonical URI: AWS's URI encoding, the generic rule's normalisation, and the check that
//! the path verified is the path routed.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{PathRule, malformed};
use crate::Rejection;

/// AWS's URI encoding: every byte but `A–Z a–z 0–9 - . _ ~` as `%XX`, upper-case.
pub(super) const AWS_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// The bytes [`AWS_ENCODE`] leaves as they are (`percent_encoding` cannot be asked).
pub(super) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}
/// The same, keeping `/` (paths).
const AWS_ENCODE_PATH: &AsciiSet = &AWS_ENCODE.remove(b'/');

/// Appends the canonical URI of `path` under `rule`: S3's is the path as sent; the generic one is
/// the normalised path, URI-encoded again.
pub(super) fn push_canonical_uri(out: &mut String, rule: PathRule, path: &str) {
    match rule {
        PathRule::S3 => out.push_str(path),
        PathRule::Generic => {
            out.extend(utf8_percent_encode(&normalize_path(path), AWS_ENCODE_PATH))
        }
    }
}

/// The path verified must be the path routed: under the generic rule, a path that normalisation
/// would change (`.`, `..` or empty segments) is refused, since the signature covers another path
/// than the one the router and the handler see (`/objects/x/../report.txt` would be verified as
/// `/objects/report.txt` and routed to `/objects/{*key}` with key `x/../report.txt`). Decided from
/// the request alone, before any key is looked up. The S3 rule signs the path as sent.
pub(super) fn check_path(rule: PathRule, path: &str) -> Result<(), Rejection> {
    match rule {
        PathRule::S3 => Ok(()),
        PathRule::Generic if path.is_empty() || normalize_path(path) == path => Ok(()),
        PathRule::Generic => Err(malformed(
            "the path has `.`, `..` or empty segments, which SigV4 removes before signing: \
             send the normalised path",
        )),
    }
}

/// The generic rule's normalisation: `.` and empty segments dropped, `..` removes the one before;
/// a trailing slash is kept. It works on the path as sent, without percent-decoding it (as AWS
/// and `aws-sigv4` do): `%2E%2E` is an ordinary segment.
pub(super) fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    if !path.contains("/.") && !path.contains("//") {
        return path.into();
    }
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    let trailing = ["/", "/.", "/.."].iter().any(|end| path.ends_with(end));
    if out.is_empty() || trailing {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RejectionKind;

    #[test]
    fn unreserved_bytes_are_the_ones_aws_encode_keeps() {
        for b in 0..=u8::MAX {
            let kept = percent_encoding::percent_encode(&[b], AWS_ENCODE).to_string()
                == (b as char).to_string();
            assert_eq!(is_unreserved(b), kept, "{b:#04x}");
        }
    }

    #[test]
    fn paths_normalize_as_aws() {
        for (given, expected) in [
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("//example//", "/example/"),
            ("/./", "/"),
            ("/./example", "/example"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/a/b/../c", "/a/c"),
            ("/a.b/c", "/a.b/c"),
        ] {
            assert_eq!(normalize_path(given), expected, "{given}");
        }
    }

    #[test]
    fn canonical_uris_encode_per_rule() {
        let uri = |rule, path| {
            let mut out = String::new();
            push_canonical_uri(&mut out, rule, path);
            out
        };
        assert_eq!(uri(PathRule::Generic, "/a b/%2E/c"), "/a%20b/%252E/c");
        assert_eq!(uri(PathRule::Generic, "/a/./b//c"), "/a/b/c");
        assert_eq!(uri(PathRule::S3, "/a%20b/./c"), "/a%20b/./c");
    }

    #[test]
    fn generic_rule_refuses_paths_it_would_change() {
        for path in [
            "/a/../b",
            "/objects/x/../report.txt",
            "/objects//report.txt",
            "/objects/./report.txt",
            "//",
            "//a",
            "/a//",
            "/.",
            "/..",
            "/a/.",
            "/a/..",
            "/./",
            "/a/b/../../c",
        ] {
            let err = check_path(PathRule::Generic, path).unwrap_err();
            assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{path}");
            assert!(err.detail().unwrap_or("").contains("segments"), "{path}");
            // The S3 rule signs the path as sent: nothing to refuse.
            assert!(check_path(PathRule::S3, path).is_ok(), "{path}");
        }
        for path in [
            "/",
            "",
            "*",
            "/a",
            "/a/",
            "/.well-known/x",
            "/a.b/c",
            "/a/..b/c",
            "/a/b../c",
            "/a/.../c",
            "/a/%2E%2E/b",
            "/a/.%2E/b",
            "/a/%2e/b",
            "/a%2F%2Fb",
            "/objects/report.txt",
        ] {
            assert!(check_path(PathRule::Generic, path).is_ok(), "{path}");
        }
    }
}
