//! The `Scheme` implementation both formats share: the signing string and the body's digest
//! before the body, the MAC and the digest after it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderName;
use http::request::Parts;
use sha2::Digest as _;
use subtle::ConstantTimeEq;

#[cfg(feature = "apisix")]
use super::Apisix;
#[cfg(feature = "kong")]
use super::Kong;
use super::credentials::{GatewayCredentials, GatewayPending};
use super::parse::parse;
use super::rules::Flavor;
use super::signing::{header, signing_string};
use crate::key::SecretKey;
use crate::rejection::{Rejection, RejectionKind};
use crate::scheme::{Locator, Scheme, Verified};

const DIGEST: HeaderName = HeaderName::from_static("digest");

fn prepare(
    flavor: Flavor,
    creds: &GatewayCredentials,
    parts: &Parts,
) -> Result<GatewayPending, Rejection> {
    let signing = signing_string(flavor, parts, &creds.key_id, creds.headers.iter())?;
    let digest = match header(parts, &DIGEST)? {
        None => None,
        Some(value) => Some(
            value
                .strip_prefix(b"SHA-256=")
                .and_then(|b64| {
                    // Room for Base64's slack: anything longer decodes to more than 32 bytes.
                    let mut decoded = [0u8; 34];
                    let len = STANDARD.decode_slice(b64, &mut decoded).ok()?;
                    <[u8; 32]>::try_from(decoded.get(..len)?).ok()
                })
                .ok_or_else(|| {
                    Rejection::new(RejectionKind::InvalidSignature)
                        .with_detail("the Digest header is not SHA-256=<Base64 of 32 bytes>")
                })?,
        ),
    };
    Ok(GatewayPending {
        signing,
        body: sha2::Sha256::new(),
        body_len: 0,
        digest,
    })
}

fn verify(
    creds: &GatewayCredentials,
    pending: GatewayPending,
    key: &SecretKey,
) -> Result<Verified, Rejection> {
    if pending.body_len > 0 && !(pending.digest.is_some() && creds.covers("digest")) {
        return Err(
            Rejection::new(RejectionKind::MissingCoveredComponent).with_detail(
                "a request with a body must send Digest: SHA-256=… and list digest in headers",
            ),
        );
    }
    let mac = creds.algorithm.text_mac(key, &pending.signing);
    if !bool::from(mac.ct_eq(&creds.signature)) || creds.algorithm_refused {
        // Withheld: the layer answers with digests keyed with the key being verified, never
        // the signing string (it holds the values of every listed header, a proxy's too).
        return Err(
            Rejection::new(RejectionKind::InvalidSignature).with_signed_text(pending.signing)
        );
    }
    if let Some(expected) = pending.digest {
        let actual: [u8; 32] = pending.body.finalize().into();
        if !bool::from(actual.ct_eq(&expected)) {
            return Err(Rejection::new(RejectionKind::InvalidSignature)
                .with_detail("the body does not match its Digest"));
        }
    }
    // No nonce: the MAC that verified is the replay key.
    Ok(if creds.replay_guard {
        Verified::mac(&mac)
    } else {
        Verified::unguarded()
    })
}

macro_rules! gateway_scheme {
    ($ty:ident, $id:literal, $name:literal, $flavor:expr) => {
        impl Scheme for $ty {
            type Credentials = GatewayCredentials;
            type Pending = GatewayPending;

            fn id(&self) -> &'static str {
                $id
            }

            fn name(&self) -> &'static str {
                $name
            }

            fn locator(&self) -> &Locator {
                &self.rules.locator
            }

            fn parse(
                &self,
                parts: &Parts,
                max_len: usize,
            ) -> Result<GatewayCredentials, Rejection> {
                parse(&self.rules, parts, max_len)
            }

            fn prepare(
                &self,
                creds: &GatewayCredentials,
                parts: &Parts,
                _: &SecretKey,
            ) -> Result<GatewayPending, Rejection> {
                prepare($flavor, creds, parts)
            }

            fn update(&self, pending: &mut GatewayPending, chunk: &[u8]) {
                pending.body_len += chunk.len() as u64;
                pending.body.update(chunk);
            }

            fn verify(
                &self,
                creds: &GatewayCredentials,
                pending: GatewayPending,
                key: &SecretKey,
            ) -> Result<Verified, Rejection> {
                verify(creds, pending, key)
            }
        }
    };
}

#[cfg(feature = "kong")]
gateway_scheme!(Kong, "kong", "hmac", Flavor::Kong);
#[cfg(feature = "apisix")]
gateway_scheme!(Apisix, "apisix", "Signature", Flavor::Apisix);
