//! The problem body of a rejection (RFC 9457 `application/problem+json`), typed: what the server
//! sends and what a client (`tower-hmac explain`) reads, from one definition.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::rejection::{Rejection, RejectionKind};

/// A rejection's problem body: `type`, `title`, `status`, `code`, and when there are some, a
/// `detail`, the string-to-sign digests (`diagnostics.string_to_sign_lines`) and, for schemes whose
/// clients expect it (SigV4), the server's string to sign (`diagnostics.string_to_sign`).
///
/// ```
/// use tower_hmac_core::{Problem, Rejection, RejectionKind};
///
/// let problem = Problem::from_rejection(&Rejection::new(RejectionKind::StaleTimestamp));
/// let json = problem.to_json();
/// let read = Problem::from_json(&json).unwrap();
/// assert_eq!(read.kind(), RejectionKind::StaleTimestamp);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Problem {
    kind: RejectionKind,
    detail: Option<String>,
    line_digests: Option<Vec<[u8; 8]>>,
    string_to_sign: Option<String>,
    scope: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(rename = "type")]
    type_: String,
    title: String,
    status: u16,
    code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// For `insufficient_scope`: the scope required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    diagnostics: Option<Diagnostics>,
}

#[derive(Serialize, Deserialize)]
struct Diagnostics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    string_to_sign_lines: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    string_to_sign: Option<String>,
}

/// A problem body that is not one of this protocol's.
#[derive(Debug, thiserror::Error)]
pub enum ProblemError {
    /// Not JSON of the problem body's shape.
    #[error("not a tower-hmac problem body: {0}")]
    Shape(#[source] serde_json::Error),
    /// A code this version does not know.
    #[error("unknown rejection code {0:?}")]
    UnknownCode(String),
    /// A digest that is not 16 hex digits.
    #[error("a string-to-sign digest is not 16 hex digits")]
    Digest,
    /// An S3 XML error body without this protocol's code, or with an element twice.
    #[error("not an S3 error body of this server: {0}")]
    Xml(&'static str),
}

impl Problem {
    /// The problem body of a rejection, as the server sends it.
    pub fn from_rejection(rejection: &Rejection) -> Self {
        Self {
            kind: rejection.kind(),
            detail: rejection.detail().map(str::to_owned),
            line_digests: rejection.line_digests().map(<[_]>::to_vec),
            string_to_sign: rejection.string_to_sign().map(str::to_owned),
            scope: rejection.required_scope().map(str::to_owned),
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        let wire = Wire {
            type_: format!("urn:tower-hmac:error:{}", self.kind.code()),
            title: self.kind.title().to_owned(),
            status: self.kind.status().as_u16(),
            code: self.kind.code().to_owned(),
            detail: self.detail.clone(),
            scope: self.scope.clone(),
            diagnostics: (self.line_digests.is_some() || self.string_to_sign.is_some()).then(
                || Diagnostics {
                    string_to_sign_lines: self.line_digests.as_ref().map(|digests| {
                        digests
                            .iter()
                            .map(|d| crate::canonical::line_digest_hex(d, &mut [0; 16]).to_owned())
                            .collect()
                    }),
                    string_to_sign: self.string_to_sign.clone(),
                },
            ),
        };
        // Serializing strings and numbers cannot fail.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Reads a problem body.
    pub fn from_json(text: &str) -> Result<Self, ProblemError> {
        let wire: Wire = serde_json::from_str(text.trim()).map_err(ProblemError::Shape)?;
        let kind = RejectionKind::from_code(&wire.code)
            .ok_or_else(|| ProblemError::UnknownCode(wire.code.clone()))?;
        let (lines, string_to_sign) = match wire.diagnostics {
            None => (None, None),
            Some(d) => (d.string_to_sign_lines, d.string_to_sign),
        };
        let line_digests = lines
            .map(|lines| digests(lines.iter().map(String::as_str)))
            .transpose()?;
        Ok(Self {
            kind,
            detail: wire.detail,
            line_digests,
            string_to_sign,
            scope: wire.scope,
        })
    }

    /// Reads the S3 XML error body `S3XmlResponder` sends (`<Error><Code>…</Code><Message>…
    /// </Message><TowerHmacCode>…</TowerHmacCode>`, with `<TowerHmacLineDigests>` — the keyed
    /// digests, space-separated — and in development `<StringToSign>`): the same fields as
    /// the problem+json.
    pub fn from_s3_xml(text: &str) -> Result<Self, ProblemError> {
        let code = xml_element(text, "TowerHmacCode")?
            .ok_or(ProblemError::Xml("no TowerHmacCode element"))?;
        let kind = RejectionKind::from_code(&code)
            .ok_or_else(|| ProblemError::UnknownCode(code.clone()))?;
        let line_digests = xml_element(text, "TowerHmacLineDigests")?
            .map(|list| digests(list.split(' ')))
            .transpose()?;
        let detail = xml_element(text, "Message")?.filter(|m| m.as_str() != kind.title());
        Ok(Self {
            kind,
            detail,
            line_digests,
            string_to_sign: xml_element(text, "StringToSign")?,
            scope: None,
        })
    }

    /// Reads either body the server sends: problem+json, or `S3XmlResponder`'s XML (a text
    /// that starts with `<`).
    pub fn read(text: &str) -> Result<Self, ProblemError> {
        if text.trim_start().starts_with('<') {
            Self::from_s3_xml(text)
        } else {
            Self::from_json(text)
        }
    }

    /// What was rejected.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The explanation, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The digests of the server's string to sign, one per line, when it sent them.
    pub fn line_digests(&self) -> Option<&[[u8; 8]]> {
        self.line_digests.as_deref()
    }

    /// The scope required, for `insufficient_scope`.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The server's string to sign, when it sent it (SigV4, with diagnostics on).
    pub fn string_to_sign(&self) -> Option<&str> {
        self.string_to_sign.as_deref()
    }
}

/// The line digests as sent (16 hex digits each), in either body.
fn digests<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Vec<[u8; 8]>, ProblemError> {
    lines
        .map(|line| {
            let mut out = [0u8; 8];
            hex::decode_to_slice(line, &mut out).map_err(|_| ProblemError::Digest)?;
            Ok(out)
        })
        .collect()
}

/// The text of the one `<name>` element of `xml`, its entities decoded; an element that
/// occurs twice is refused (which would the reader believe?).
fn xml_element(xml: &str, name: &str) -> Result<Option<String>, ProblemError> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let Some(start) = xml.find(&open).map(|at| at + open.len()) else {
        return Ok(None);
    };
    let len = xml[start..]
        .find(&close)
        .ok_or(ProblemError::Xml("an element is not closed"))?;
    if xml[start + len..].contains(&open) {
        return Err(ProblemError::Xml("an element occurs twice"));
    }
    let raw = &xml[start..start + len];
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let entity = &rest[at..];
        let (decoded, skip) = [
            ("&amp;", '&'),
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&quot;", '"'),
            ("&apos;", '\''),
        ]
        .iter()
        .find(|(name, _)| entity.starts_with(name))
        .map(|(name, c)| (*c, name.len()))
        .ok_or(ProblemError::Xml("an unknown entity"))?;
        out.push(decoded);
        rest = &entity[skip..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

impl fmt::Debug for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Problem")
            .field("kind", &self.kind)
            .field("detail", &self.detail)
            .field("line_digests", &self.line_digests.as_ref().map(Vec::len))
            .field("string_to_sign", &self.string_to_sign)
            .field("scope", &self.scope)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_s3_xml_body_and_refuses_an_ambiguous_one() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>\
            <Message>a &lt;detail&gt; &amp; more</Message><TowerHmacCode>invalid_signature</TowerHmacCode>\
            <TowerHmacLineDigests>0101010101010101 abababababababab</TowerHmacLineDigests></Error>";
        let problem = Problem::read(xml).unwrap();
        assert_eq!(problem.kind(), RejectionKind::InvalidSignature);
        assert_eq!(problem.detail(), Some("a <detail> & more"));
        assert_eq!(problem.line_digests(), Some(&[[1; 8], [0xab; 8]][..]));
        assert_eq!(problem.string_to_sign(), None);
        let twice = xml.replace(
            "</Error>",
            "<TowerHmacCode>replayed_nonce</TowerHmacCode></Error>",
        );
        assert!(matches!(Problem::read(&twice), Err(ProblemError::Xml(_))));
        for bad in [
            "<Error><Code>AccessDenied</Code></Error>",
            "<Error><TowerHmacCode>no_such_code</TowerHmacCode></Error>",
            "<Error><TowerHmacCode>invalid_signature",
            "<Error><TowerHmacCode>invalid_signature</TowerHmacCode><Message>&bogus;</Message></Error>",
            "<Error><TowerHmacCode>invalid_signature</TowerHmacCode><TowerHmacLineDigests>01</TowerHmacLineDigests></Error>",
        ] {
            assert!(Problem::read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips_every_kind_with_detail_and_digests() {
        for kind in RejectionKind::ALL {
            let rejection = Rejection::new(kind)
                .with_detail("a detail")
                .with_line_digests(vec![[1; 8], [0xab; 8]]);
            let problem = Problem::from_rejection(&rejection);
            let json = problem.to_json();
            assert!(json.starts_with(&format!(
                "{{\"type\":\"urn:tower-hmac:error:{}\"",
                kind.code()
            )));
            // Each digest as 16 lower-case hex digits.
            assert!(
                json.contains(r#""string_to_sign_lines":["0101010101010101","abababababababab"]"#),
                "{json}"
            );
            assert_eq!(Problem::from_json(&json).unwrap(), problem);
        }
        let sts = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nab";
        let problem = Problem::from_rejection(
            &Rejection::new(RejectionKind::InvalidSignature).with_string_to_sign(sts),
        );
        let json = problem.to_json();
        assert!(
            json.contains(r#""diagnostics":{"string_to_sign":"AWS4-HMAC-SHA256\n"#),
            "{json}"
        );
        assert_eq!(
            Problem::from_json(&json).unwrap().string_to_sign(),
            Some(sts)
        );
    }

    #[test]
    fn refuses_what_is_not_a_problem_body() {
        assert!(matches!(
            Problem::from_json("{}"),
            Err(ProblemError::Shape(_))
        ));
        let unknown = r#"{"type":"x","title":"x","status":401,"code":"no_such_code"}"#;
        assert!(matches!(
            Problem::from_json(unknown),
            Err(ProblemError::UnknownCode(_))
        ));
        let bad = r#"{"type":"x","title":"x","status":401,"code":"invalid_signature","diagnostics":{"string_to_sign_lines":["zz"]}}"#;
        assert!(matches!(Problem::from_json(bad), Err(ProblemError::Digest)));
    }
}
