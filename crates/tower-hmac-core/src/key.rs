//! Secret keys.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// A shared secret used to sign and verify requests.
///
/// The bytes are zeroized when the key is dropped, `Debug` prints `[redacted]`, and there is no
/// `Display` or `Serialize`: a key never reaches a log line by accident.
///
/// ```
/// use tower_hmac_core::SecretKey;
///
/// let key = SecretKey::from_base64("c2VjcmV0LWtleS1vZi1hdC1sZWFzdC0zMi1ieXRlcyEhIQ==").unwrap();
/// assert_eq!(format!("{key:?}"), "SecretKey([redacted])");
/// ```
#[derive(Clone)]
pub struct SecretKey {
    bytes: Box<[u8]>,
    /// The secret as text when it was given as a provider's string ([`SecretKey::from_text`]);
    /// `None` for a key given as bytes or Base64, whose text form is its Base64.
    text: Option<Box<str>>,
    /// HMAC-SHA256 keyed with `bytes`, its two pads hashed once here: each MAC starts from a
    /// copy of it instead of hashing the pads again (two SHA-256 blocks per MAC). Secret like
    /// the key itself: wiped on drop (`sha2`'s `zeroize` feature) and by [`Zeroize`].
    keyed: HmacSha256,
    /// The same for the key's [text form](Self::text_form) (the webhooks', the token's and the
    /// gateways' MACs), made on first use: a key given as text is keyed by its text already.
    text_keyed: std::sync::OnceLock<HmacSha256>,
}

impl Zeroize for SecretKey {
    fn zeroize(&mut self) {
        self.bytes.zeroize();
        self.text.zeroize();
        // The keyed state is replaced; the old one wipes itself as it is dropped.
        self.keyed = unreachable_mac();
        self.text_keyed = std::sync::OnceLock::new();
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for SecretKey {}

impl SecretKey {
    /// The shortest key accepted, in bytes (the output size of SHA-256).
    pub const MIN_LEN: usize = 32;
    /// The longest key accepted, in bytes.
    pub const MAX_LEN: usize = 1024;
    /// The length of keys made by [`SecretKey::generate`].
    pub const GENERATED_LEN: usize = 32;

    /// A key from raw bytes: between [`MIN_LEN`](Self::MIN_LEN) and [`MAX_LEN`](Self::MAX_LEN) long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(KeyError::TooShort { len: bytes.len() });
        }
        if bytes.len() > Self::MAX_LEN {
            return Err(KeyError::TooLong { len: bytes.len() });
        }
        // A key of zeros is a placeholder someone forgot to replace (`head -c 32 /dev/zero`,
        // an unset buffer), never a secret.
        if bytes.iter().all(|&b| b == 0) {
            return Err(KeyError::AllZero);
        }
        Ok(Self::new(bytes.into(), None))
    }

    fn new(bytes: Box<[u8]>, text: Option<Box<str>>) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed =
            <HmacSha256 as KeyInit>::new_from_slice(&bytes).unwrap_or_else(|_| unreachable_mac());
        Self {
            bytes,
            text,
            keyed,
            text_keyed: std::sync::OnceLock::new(),
        }
    }

    /// The shortest provider secret accepted by [`from_text`](Self::from_text), in bytes.
    pub const MIN_TEXT_LEN: usize = 16;

    /// A provider's secret string used as issued (a webhook signing secret such as `whsec_…`):
    /// its bytes are the UTF-8 of the text, and [`text_form`](Self::text_form) is the text itself.
    /// 16 to 1024 bytes; surrounding white space is not part of it.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let text = text.trim_ascii();
        if text.len() < Self::MIN_TEXT_LEN {
            return Err(KeyError::TooShort { len: text.len() });
        }
        if text.len() > Self::MAX_LEN {
            return Err(KeyError::TooLong { len: text.len() });
        }
        Ok(Self::new(text.as_bytes().into(), Some(text.into())))
    }

    /// The key as text, for schemes keyed by a string (AWS SigV4's secret access key, a token
    /// scheme): the provider's string for a key made by [`from_text`](Self::from_text), otherwise
    /// the standard Base64 of the bytes, exactly as `tower-hmac keygen` prints it. Zeroized on
    /// drop.
    pub fn text_form(&self) -> Zeroizing<String> {
        match &self.text {
            Some(text) => Zeroizing::new(text.to_string()),
            None => self.to_base64(),
        }
    }

    /// A key from standard Base64 (RFC 4648 §4, padded), as written in configuration.
    /// Leading and trailing ASCII white space (a file's final newline) is ignored.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text.trim_ascii())
                .map_err(|_| KeyError::InvalidBase64)?,
        );
        Self::from_bytes(&decoded)
    }

    /// A new random key of [`GENERATED_LEN`](Self::GENERATED_LEN) bytes from the operating
    /// system's CSPRNG.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; Self::GENERATED_LEN]);
        getrandom::fill(bytes.as_mut()).map_err(|_| KeyError::RandomUnavailable)?;
        Self::from_bytes(bytes.as_ref())
    }

    /// The key's bytes as standard Base64, for writing configuration (`tower-hmac keygen`).
    /// The returned string is zeroized on drop.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(&self.bytes))
    }

    /// The key's length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always `false`: a key has at least [`MIN_LEN`](Self::MIN_LEN) bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The key's bytes, for a [`Scheme`](crate::Scheme) that keys a MAC of its own (another
    /// hash, a derived key). Named so that every use is easy to find: do not copy the bytes
    /// anywhere that outlives the call, and never log them.
    pub fn expose_secret(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the key was given as a provider's text ([`from_text`](Self::from_text)).
    #[cfg(feature = "sigv4")]
    pub(crate) fn is_text(&self) -> bool {
        self.text.is_some()
    }

    /// A key derived from this one for `context`: the HMAC-SHA256 of the context's parts under
    /// this key (32 bytes). Different contexts give unrelated keys; without this key nobody can
    /// tell them from random. The layer derives one decoy key per refused key id from its own
    /// random one, so that a refused key id's answers differ from another's as two real keys'
    /// do.
    pub fn derive(&self, context: &[&[u8]]) -> SecretKey {
        SecretKey::new(Box::new(hmac_sha256(self, context)), None)
    }

    /// HMAC-SHA256 under this key, ready for its message: a copy of the keyed state.
    pub(crate) fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }

    /// HMAC-SHA256 under the key's [text form](Self::text_form) (its Base64, or the provider's
    /// text), ready for its message: no Base64 and no key schedule per MAC.
    #[cfg(any(
        feature = "webhooks",
        feature = "token",
        feature = "kong",
        feature = "apisix"
    ))]
    pub(crate) fn text_mac(&self) -> HmacSha256 {
        if self.text.is_some() {
            // Keyed by its text already.
            return self.keyed.clone();
        }
        self.text_keyed
            .get_or_init(|| {
                <HmacSha256 as KeyInit>::new_from_slice(self.text_form().as_bytes())
                    .unwrap_or_else(|_| unreachable_mac())
            })
            .clone()
    }
}

#[cold]
fn unreachable_mac() -> HmacSha256 {
    // `Hmac::new_from_slice` only fails for fixed-size-key MACs; keep a total function anyway.
    <HmacSha256 as KeyInit>::new(&Default::default())
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// Why a [`SecretKey`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Fewer than [`SecretKey::MIN_LEN`] bytes.
    #[error("secret key is {len} bytes; at least 32 are required")]
    TooShort {
        /// The length given.
        len: usize,
    },
    /// More than [`SecretKey::MAX_LEN`] bytes.
    #[error("secret key is {len} bytes; at most 1024 are accepted")]
    TooLong {
        /// The length given.
        len: usize,
    },
    /// Not standard, padded Base64.
    #[error("secret key is not valid standard Base64")]
    InvalidBase64,
    /// Every byte is zero: a placeholder, not a secret.
    #[error("secret key is all zero bytes: generate one (`tower-hmac keygen`)")]
    AllZero,
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator is unavailable")]
    RandomUnavailable,
}

/// The lower-case hex HMAC-SHA256 of `data` under `key`: a helper for tools and tests.
pub(crate) fn hmac_sha256(key: &SecretKey, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = key.mac();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(
        feature = "webhooks",
        feature = "token",
        feature = "kong",
        feature = "apisix"
    ))]
    #[test]
    fn the_kept_keyed_states_mac_as_a_fresh_key_schedule_does() {
        use hmac::{KeyInit, Mac};
        let fresh = |key: &[u8]| {
            let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap();
            mac.update(b"message");
            mac.finalize().into_bytes()
        };
        let run = |mut mac: HmacSha256| {
            mac.update(b"message");
            mac.finalize().into_bytes()
        };
        let key = SecretKey::from_bytes(&[5; 32]).unwrap();
        assert_eq!(run(key.mac()), fresh(&[5; 32]));
        // The text form is the Base64 for a key given as bytes, the text for a provider's.
        assert_eq!(run(key.text_mac()), fresh(key.text_form().as_bytes()));
        assert_eq!(
            run(key.text_mac()),
            fresh(key.text_form().as_bytes()),
            "cached"
        );
        let provider = SecretKey::from_text("whsec_abcdefghijklmnop").unwrap();
        assert_eq!(run(provider.text_mac()), fresh(b"whsec_abcdefghijklmnop"));
        // A clone, and a key wiped with `Zeroize`, keep no state of another key.
        let mut wiped = key.clone();
        assert_eq!(run(wiped.text_mac()), run(key.text_mac()));
        wiped.zeroize();
        assert_ne!(run(wiped.mac()), run(key.mac()));
    }

    #[test]
    fn a_key_has_a_text_form() {
        let key = SecretKey::from_bytes(&[1; 32]).unwrap();
        assert_eq!(&*key.text_form(), &*key.to_base64());
        let provider = SecretKey::from_text(" whsec_abcdefghijklmnop\n").unwrap();
        assert_eq!(&*provider.text_form(), "whsec_abcdefghijklmnop");
        assert_eq!(provider.expose_secret(), b"whsec_abcdefghijklmnop");
        assert!(SecretKey::from_text("too-short").is_err());
        assert_eq!(format!("{provider:?}"), "SecretKey([redacted])");
    }

    #[test]
    fn derived_keys_differ_by_context_and_are_stable() {
        let key = SecretKey::from_bytes(&[3; 32]).unwrap();
        let a = key.derive(&[b"decoy\n", b"a"]);
        assert_eq!(
            a.expose_secret(),
            key.derive(&[b"decoy\n", b"a"]).expose_secret()
        );
        assert_ne!(
            a.expose_secret(),
            key.derive(&[b"decoy\n", b"b"]).expose_secret()
        );
        assert_eq!(a.expose_secret().len(), 32);
    }

    #[test]
    fn rejects_an_all_zero_key() {
        assert_eq!(
            SecretKey::from_bytes(&[0; 32]).unwrap_err(),
            KeyError::AllZero
        );
        assert_eq!(
            SecretKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap_err(),
            KeyError::AllZero
        );
        assert!(SecretKey::from_bytes(&[0, 0, 0, 1].repeat(8)).is_ok());
    }

    #[test]
    fn rejects_short_keys() {
        assert_eq!(
            SecretKey::from_bytes(&[0; 31]).unwrap_err(),
            KeyError::TooShort { len: 31 }
        );
    }

    #[test]
    fn rejects_invalid_base64() {
        assert_eq!(
            SecretKey::from_base64("not base64!").unwrap_err(),
            KeyError::InvalidBase64
        );
    }

    #[test]
    fn base64_round_trip_ignores_surrounding_whitespace() {
        let key = SecretKey::generate().unwrap();
        let text = format!("  {}\n", key.to_base64().as_str());
        let again = SecretKey::from_base64(&text).unwrap();
        assert_eq!(key.bytes, again.bytes);
    }

    #[test]
    fn debug_is_redacted() {
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "SecretKey([redacted])");
        assert_eq!(format!("{key:#?}"), "SecretKey([redacted])");
    }

    #[test]
    fn generated_keys_differ() {
        let a = SecretKey::generate().unwrap();
        let b = SecretKey::generate().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a.bytes, b.bytes);
    }
}
