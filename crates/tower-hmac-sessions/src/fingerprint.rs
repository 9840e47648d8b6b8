//! Device fingerprints: a keyed hash of configured request attributes, bound to a session at
//! login and checked on every use of its tokens.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::{Extensions, HeaderMap, HeaderName};
use subtle::ConstantTimeEq as _;
use tower_hmac_core::SecretKey;

/// The request attributes a session is bound to (`SessionConfig::fingerprint`): header values
/// (`User-Agent`, `Accept-Language`, …) and optionally the client's network (its address cut to
/// a prefix), hashed with a key, so that neither the access token's `fpt` claim nor the refresh
/// token (both readable by whoever holds them) tells the values.
///
/// The key: by default derived from the signing key current when [`Sessions`](crate::Sessions)
/// is built (`SecretKey::derive`), so every instance that shares the signing key agrees without
/// another secret to distribute (a random key per process would fail every refresh on another
/// instance or after a restart). When you rotate signing keys, give the fingerprint a key of its
/// own ([`with_key`](Self::with_key)): otherwise sessions bound before the rotation fail their
/// check, which ends them (the safe direction, but every user logs in again).
///
/// ```
/// use tower_hmac_sessions::Fingerprint;
/// // The user agent and the client's /24 (IPv4) or /56 (IPv6) network.
/// let fingerprint = Fingerprint::headers(["User-Agent"]).unwrap().client_network(24, 56);
/// # let _ = fingerprint;
/// ```
#[derive(Clone)]
pub struct Fingerprint {
    headers: Vec<HeaderName>,
    network: Option<(u8, u8)>,
    key: Option<SecretKey>,
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fingerprint")
            .field("headers", &self.headers)
            .field("network", &self.network)
            .field("own_key", &self.key.is_some())
            .finish()
    }
}

/// A header name that is not one (`Fingerprint::headers`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fingerprint: {0:?} is not a header name")]
pub struct FingerprintError(String);

impl Fingerprint {
    /// The values of these headers (case-insensitive names; a missing header counts as empty).
    pub fn headers<I, N>(names: I) -> Result<Self, FingerprintError>
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        let headers = names
            .into_iter()
            .map(|n| {
                HeaderName::try_from(n.as_ref()).map_err(|_| FingerprintError(n.as_ref().into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            headers,
            network: None,
            key: None,
        })
    }

    /// Also the client's network: its address cut to `v4` bits (at most 32) for IPv4 and `v6`
    /// bits (at most 128) for IPv6. A mobile client changes network often: a short prefix (or
    /// none) ends fewer legitimate sessions; a long one binds tighter.
    pub fn client_network(mut self, v4: u8, v6: u8) -> Self {
        self.network = Some((v4.min(32), v6.min(128)));
        self
    }

    /// The key of the hash, instead of one derived from the signing key (see the type's docs).
    pub fn with_key(mut self, key: SecretKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Whether the digest covers the client's network ([`client_network`](Self::client_network)):
    /// only then is the client's address read for it.
    pub fn reads_address(&self) -> bool {
        self.network.is_some()
    }

    /// The key: its own, or derived from `signing`.
    pub(crate) fn key(&self, signing: &SecretKey) -> SecretKey {
        match &self.key {
            Some(key) => key.clone(),
            None => signing.derive(&[b"tower-hmac-sessions fingerprint v1\n"]),
        }
    }

    /// The digest of `device` under `key`: 16 bytes of HMAC-SHA256, Base64url (22 characters).
    pub(crate) fn digest(&self, key: &SecretKey, device: &Device<'_>) -> String {
        let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(key.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        for name in &self.headers {
            mac.update(name.as_str().as_bytes());
            mac.update(b":");
            for (i, value) in device.headers.get_all(name).iter().enumerate() {
                if i > 0 {
                    mac.update(b"\x00");
                }
                mac.update(value.as_bytes());
            }
            mac.update(b"\n");
        }
        if let Some((v4, v6)) = self.network {
            mac.update(b"network:");
            match device.address.map(|a| a.to_canonical()) {
                Some(IpAddr::V4(a)) => {
                    let bits = u32::from(a) & u32::MAX.checked_shl(32 - u32::from(v4)).unwrap_or(0);
                    mac.update(format!("4/{v4}/{bits:08x}").as_bytes());
                }
                Some(IpAddr::V6(a)) => {
                    let bits =
                        u128::from(a) & u128::MAX.checked_shl(128 - u32::from(v6)).unwrap_or(0);
                    mac.update(format!("6/{v6}/{bits:032x}").as_bytes());
                }
                None => mac.update(b"none"),
            }
            mac.update(b"\n");
        }
        let tag = mac.finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&tag[..16])
    }
}

/// Whether two digests are equal, in constant time.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The request attributes a fingerprint reads: the headers and the client's address.
#[derive(Clone, Copy)]
pub struct Device<'a> {
    headers: &'a HeaderMap,
    address: Option<IpAddr>,
}

/// No header value (an `Authorization` or a cookie is a secret) and no address: whether there
/// is one.
impl fmt::Debug for Device<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("headers", &self.headers.len())
            .field("address", &self.address.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> Device<'a> {
    /// A request's headers and its client's address (the peer, or behind a proxy you trust the
    /// forwarded address).
    pub fn new(headers: &'a HeaderMap, address: Option<IpAddr>) -> Self {
        Self { headers, address }
    }

    /// The client's address.
    pub fn address(&self) -> Option<IpAddr> {
        self.address
    }
}

/// Where the client's address of a request is read (its extensions, its headers): by default
/// Axum's `ConnectInfo<SocketAddr>` (feature `axum`; serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`).
#[derive(Clone)]
pub struct ClientAddress(Arc<AddressFn>);

type AddressFn = dyn Fn(&Extensions, &HeaderMap) -> Option<IpAddr> + Send + Sync;

impl fmt::Debug for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAddress").finish_non_exhaustive()
    }
}

impl Default for ClientAddress {
    fn default() -> Self {
        Self::connect_info()
    }
}

impl ClientAddress {
    /// Axum's `ConnectInfo<SocketAddr>` (feature `axum`); none without it.
    pub fn connect_info() -> Self {
        Self(Arc::new(|_extensions: &Extensions, _: &HeaderMap| {
            #[cfg(feature = "axum")]
            {
                _extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|info| info.0.ip())
            }
            #[cfg(not(feature = "axum"))]
            {
                None
            }
        }))
    }

    /// Read by `f` (a peer-address extension of your server, a forwarded header you trust).
    pub fn from_fn(
        f: impl Fn(&Extensions, &HeaderMap) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(f))
    }

    /// The address of a request with these extensions and headers.
    pub fn of(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        (self.0)(extensions, headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_bytes(&[7; 32]).unwrap()
    }

    #[test]
    fn the_same_attributes_give_the_same_digest_and_another_agent_another() {
        let fp = Fingerprint::headers(["User-Agent"]).unwrap();
        let mut a = HeaderMap::new();
        a.insert("user-agent", "curl/8".parse().unwrap());
        let mut b = HeaderMap::new();
        b.insert("user-agent", "curl/9".parse().unwrap());
        let one = fp.digest(&key(), &Device::new(&a, None));
        assert_eq!(one, fp.digest(&key(), &Device::new(&a, None)));
        assert_ne!(one, fp.digest(&key(), &Device::new(&b, None)));
        assert_eq!(one.len(), 22);
    }

    #[test]
    fn addresses_in_one_network_prefix_share_a_digest() {
        let fp = Fingerprint::headers::<_, &str>([])
            .unwrap()
            .client_network(24, 56);
        let h = HeaderMap::new();
        let d = |a: &str| fp.digest(&key(), &Device::new(&h, Some(a.parse().unwrap())));
        assert_eq!(d("192.0.2.1"), d("192.0.2.200"));
        assert_eq!(d("192.0.2.1"), d("::ffff:192.0.2.9"));
        assert_ne!(d("192.0.2.1"), d("192.0.3.1"));
        assert_eq!(d("2001:db8:0:1::1"), d("2001:db8:0:1::2"));
        assert_ne!(d("2001:db8:0:100::1"), d("2001:db8:0:200::1"));
    }

    #[test]
    fn the_digest_depends_on_the_key() {
        let fp = Fingerprint::headers(["User-Agent"]).unwrap();
        let h = HeaderMap::new();
        let other = SecretKey::from_bytes(&[8; 32]).unwrap();
        assert_ne!(
            fp.digest(&key(), &Device::new(&h, None)),
            fp.digest(&other, &Device::new(&h, None))
        );
    }

    #[test]
    fn a_devices_debug_shows_no_header_value() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer s3cr3t-t0ken".parse().unwrap());
        h.insert("cookie", "sid=c00kie-value".parse().unwrap());
        let text = format!("{:?}", Device::new(&h, Some("192.0.2.7".parse().unwrap())));
        for secret in ["s3cr3t-t0ken", "c00kie-value", "192.0.2.7", "Bearer"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn only_a_fingerprint_of_the_network_reads_the_address() {
        let agent = Fingerprint::headers(["User-Agent"]).unwrap();
        assert!(!agent.reads_address());
        assert!(agent.client_network(24, 56).reads_address());
    }

    #[test]
    fn a_bad_header_name_is_an_error() {
        assert!(Fingerprint::headers(["bad header"]).is_err());
    }
}
