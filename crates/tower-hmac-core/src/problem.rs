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
                    string_to_sign_lines: self
                        .line_digests
                        .as_ref()
                        .map(|digests| digests.iter().map(hex::encode).collect()),
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
        let line_digests = match lines {
            None => None,
            Some(lines) => Some(
                lines
                    .iter()
                    .map(|line| {
                        let mut out = [0u8; 8];
                        hex::decode_to_slice(line, &mut out).map_err(|_| ProblemError::Digest)?;
                        Ok(out)
                    })
                    .collect::<Result<Vec<_>, ProblemError>>()?,
            ),
        };
        Ok(Self {
            kind,
            detail: wire.detail,
            line_digests,
            string_to_sign,
            scope: wire.scope,
        })
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
