//! Access tokens: HS256 JWTs. The JWT crate reads and writes their header and claims; the MAC
//! is RustCrypto's HMAC-SHA256 with the [`SigningKeys`]' own secrets, so the JWT crate is built
//! without a crypto backend (none of the RSA and elliptic-curve code HS256 never uses) and needs
//! no process-wide crypto provider, which would be a library's to impose on its application.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use tower_hmac_core::SecretKey;

use crate::keys::SigningKeys;

/// The claims of a verified access token: what a handler reads of its caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The issuer.
    pub iss: String,
    /// The subject (the user).
    pub sub: String,
    /// The audience.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Not before, Unix seconds.
    pub nbf: u64,
    /// The token's id (the denylist's key).
    pub jti: String,
    /// The session (refresh token family) it belongs to.
    pub sid: String,
    /// Scopes, space-separated (RFC 8693 `scope`); empty when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Always `access`: a token of another use is never accepted as an access token.
    pub token_use: String,
    /// The session's device fingerprint (a keyed digest, `SessionConfig::fingerprint`); absent
    /// when none is configured.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fpt: String,
}

impl AccessClaims {
    /// The scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }
}

/// Why an access token was refused; each has a stable code. Put in the refusal's extensions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No `Authorization: Bearer …`.
    #[error("missing_token")]
    Missing,
    /// Not a well-formed HS256 JWT of this issuer and audience, an unknown `kid`, a bad
    /// signature, not an access token.
    #[error("invalid_token")]
    Invalid(&'static str),
    /// Past `exp` (with the leeway).
    #[error("token_expired")]
    Expired,
    /// Before `nbf` (with the leeway).
    #[error("token_not_yet_valid")]
    NotYetValid,
    /// Its session was revoked (logout, every session of the subject).
    #[error("token_revoked")]
    Revoked,
    /// Issued before the session store's horizon (the store lost its data since: a restarted
    /// process, a Redis restarted without persistence): a revocation of it may have been lost,
    /// so it is refused. The client refreshes; if the store lost the session too, it logs in.
    #[error("token_before_horizon")]
    BeforeHorizon,
    /// The store of revocations did not answer (fail closed).
    #[error("session_store_unavailable")]
    StoreUnavailable,
    /// The request's device fingerprint differs from the one bound to the session at login:
    /// the session is ended (`fingerprint_mismatch`).
    #[error("fingerprint_mismatch")]
    FingerprintMismatch,
}

impl TokenError {
    /// The stable code (`invalid_token`, `token_expired`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing_token",
            Self::Invalid(_) => "invalid_token",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::Revoked => "token_revoked",
            Self::BeforeHorizon => "token_before_horizon",
            Self::StoreUnavailable => "session_store_unavailable",
            Self::FingerprintMismatch => "fingerprint_mismatch",
        }
    }

    /// The `Retry-After` to send, seconds: when the store did not answer (503), 1.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::StoreUnavailable => Some(crate::store::RETRY_AFTER_SECS),
            _ => None,
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::StoreUnavailable => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::UNAUTHORIZED,
        }
    }

    /// What went wrong, for the problem body (never a token or a key).
    pub fn detail(&self) -> &'static str {
        match self {
            Self::Missing => "send Authorization: Bearer <access token>",
            Self::Invalid(why) => why,
            Self::Expired => "the access token has expired: refresh it",
            Self::NotYetValid => "the access token is not valid yet",
            Self::Revoked => "the session was ended: log in again",
            Self::BeforeHorizon => {
                "the session store restarted or lost its data after this token was issued: refresh it (or log in again)"
            }
            Self::StoreUnavailable => "the session store is unavailable; try again later",
            Self::FingerprintMismatch => {
                "the token was used from another device than the one that logged in: the session is ended, log in again"
            }
        }
    }
}

fn mac(key: &SecretKey, message: &[u8]) -> Hmac<sha2::Sha256> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(key.expose_secret())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(message);
    mac
}

fn json_part<T: Serialize>(value: &T) -> Result<String, TokenError> {
    let json = serde_json::to_vec(value).map_err(|_| TokenError::Invalid("cannot sign"))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

pub(crate) fn encode(keys: &SigningKeys, claims: &AccessClaims) -> Result<String, TokenError> {
    let (kid, key) = keys.current();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    let mut token = json_part(&header)?;
    token.push('.');
    token.push_str(&json_part(claims)?);
    let tag = mac(key, token.as_bytes()).finalize().into_bytes();
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(tag));
    Ok(token)
}

/// Verifies signature, algorithm, issuer, audience and use; the times are checked by the
/// caller on its clock.
pub(crate) fn decode(
    keys: &SigningKeys,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Result<AccessClaims, TokenError> {
    if token.len() > 8192 {
        return Err(TokenError::Invalid("the token is too long"));
    }
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("not a JWT"))?;
    // Only HS256, whatever the token says (`none`, RS256 with the secret as a public key, …).
    if header.alg != Algorithm::HS256 {
        return Err(TokenError::Invalid("only HS256 tokens are accepted"));
    }
    let kid = header
        .kid
        .ok_or(TokenError::Invalid("the token names no key (kid)"))?;
    let key = keys
        .decoding(&kid)
        .ok_or(TokenError::Invalid("the token's key (kid) is not known"))?;
    // The MAC covers the two first parts exactly as sent; it is checked before the claims are
    // read (in constant time, by the `hmac` crate).
    let (message, signature) = token
        .rsplit_once('.')
        .ok_or(TokenError::Invalid("not a JWT"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Invalid("the token is malformed or lacks a claim"))?;
    mac(key, message.as_bytes())
        .verify_slice(&signature)
        .map_err(|_| TokenError::Invalid("the signature does not match"))?;
    // Every claim is required (the struct has no optional field but `scope`); exactly this
    // issuer and audience.
    let data = jsonwebtoken::dangerous::insecure_decode::<AccessClaims>(token)
        .map_err(|_| TokenError::Invalid("the token is malformed or lacks a claim"))?;
    if data.claims.iss != issuer {
        return Err(TokenError::Invalid("another issuer's token"));
    }
    if data.claims.aud != audience {
        return Err(TokenError::Invalid("a token for another audience"));
    }
    if data.claims.token_use != "access" {
        return Err(TokenError::Invalid("not an access token"));
    }
    Ok(data.claims)
}
