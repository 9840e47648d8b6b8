//! Where a request came from: the connection, or what a trusted proxy says of it.

use std::net::{IpAddr, SocketAddr};

use http::header::{FORWARDED, HOST};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use ipnet::IpNet;

use crate::error::ConfigError;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The address of the connection a request arrived on, for servers that are not Axum's (Axum's
/// `ConnectInfo<SocketAddr>` is read as well): insert it in the request's extensions, e.g. with
/// `tower_http::add_extension`, per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// A marker a TLS-terminating server inserts in each request's extensions (per connection),
/// telling [`require_https`](crate::server::HmacAuthBuilder::require_https) the request came over TLS. A
/// request whose URI says `https` (HTTP/2's `:scheme`) needs no marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tls;

/// Which proxy headers a [`TrustedProxies`] reads: one family, so that a header of the other,
/// passed through from the client by a proxy that does not set it, is never believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `X-Forwarded-For`, `X-Forwarded-Host`, `X-Forwarded-Proto` (nginx, HAProxy, AWS ALB, …).
    XForwarded,
    /// RFC 7239 `Forwarded: for=…;host=…;proto=…`.
    Forwarded,
}

/// The proxies whose forwarding headers the layer believes: a request from one of these addresses
/// is taken to come from the client, host and scheme the proxy names. From any other address the
/// headers are ignored — the connection's address, the `Host` header and the connection's scheme
/// are used, as without proxies.
///
/// ```
/// use tower_hmac::server::TrustedProxies;
/// let proxies = TrustedProxies::x_forwarded(["10.0.0.0/8", "127.0.0.1"]).unwrap();
/// # let _ = proxies;
/// ```
#[derive(Debug, Clone)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    family: Family,
}

impl TrustedProxies {
    /// Proxies that set `X-Forwarded-For` / `-Host` / `-Proto`, at these addresses or networks
    /// (`"10.0.0.0/8"`, `"192.0.2.7"`, `"::1"`).
    pub fn x_forwarded<I, S>(addresses: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(addresses, Family::XForwarded)
    }

    /// Proxies that set RFC 7239's `Forwarded` header, at these addresses or networks.
    pub fn forwarded<I, S>(addresses: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(addresses, Family::Forwarded)
    }

    fn new<I, S>(addresses: I, family: Family) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nets = addresses
            .into_iter()
            .map(|a| {
                let a = a.as_ref().trim();
                a.parse::<IpNet>()
                    .or_else(|_| a.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| ConfigError::InvalidProxyAddress {
                        given: a.chars().take(64).collect(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { nets, family })
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.nets.iter().any(|net| net.contains(&address))
    }

    /// What the nearest trusted proxy says of the request, if the connection is one.
    fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> Origin {
        let mut out = Origin {
            client: Some(peer),
            ..Origin::default()
        };
        if !self.trusts(peer) {
            return out;
        }
        match self.family {
            Family::XForwarded => {
                let hops = list(headers, &X_FORWARDED_FOR);
                out.client = self.client_of(peer, hops.iter().map(|h| h.parse().ok()));
                out.host = last(headers, &X_FORWARDED_HOST);
                out.https = last(headers, &X_FORWARDED_PROTO).map(|p| is_https(p.as_bytes()));
            }
            Family::Forwarded => {
                let elements = list(headers, &FORWARDED);
                out.client = self.client_of(
                    peer,
                    elements
                        .iter()
                        .map(|e| param(e, "for").and_then(node_address)),
                );
                // The nearest proxy's element: the last.
                if let Some(nearest) = elements.last() {
                    out.host = param(nearest, "host").and_then(|h| HeaderValue::from_str(&h).ok());
                    out.https = param(nearest, "proto").map(|p| is_https(p.as_bytes()));
                }
            }
        }
        out
    }

    /// The client: walking the hops from the nearest, the first address that is not a trusted
    /// proxy. A hop that is not an address (`unknown`, a garbled value) stops the walk there: the
    /// last trusted hop is the client then.
    fn client_of(
        &self,
        peer: IpAddr,
        hops: impl DoubleEndedIterator<Item = Option<IpAddr>>,
    ) -> Option<IpAddr> {
        let mut client = peer;
        for hop in hops.rev() {
            let Some(hop) = hop else { break };
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        Some(client)
    }
}

/// Where the layer takes a request to come from: the client address, and what a trusted proxy
/// forwarded of its host and scheme. Built per request; opaque.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origin {
    /// The client's address, when known.
    pub(crate) client: Option<IpAddr>,
    /// The host a trusted proxy received the request for.
    pub(crate) host: Option<HeaderValue>,
    /// Whether a trusted proxy received it over HTTPS.
    pub(crate) https: Option<bool>,
}

impl Origin {
    /// From the request's head: the connection's address (`PeerAddr`, or Axum's `ConnectInfo`)
    /// and, from a trusted proxy, what it forwards.
    pub(crate) fn of(
        headers: &HeaderMap,
        extensions: &http::Extensions,
        proxies: Option<&TrustedProxies>,
    ) -> Self {
        let peer = extensions.get::<PeerAddr>().map(|p| p.0.ip());
        #[cfg(feature = "axum")]
        let peer = peer.or_else(|| {
            extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        });
        match (peer, proxies) {
            (Some(peer), Some(proxies)) => proxies.resolve(peer, headers),
            (peer, _) => Self {
                client: peer,
                ..Self::default()
            },
        }
    }

    /// Whether the request came over HTTPS: a trusted proxy says so, or the URI's scheme, or the
    /// server's [`Tls`] marker.
    pub(crate) fn is_https(&self, parts: &Parts) -> bool {
        self.https.unwrap_or_else(|| {
            parts.uri.scheme() == Some(&http::uri::Scheme::HTTPS)
                || parts.extensions.get::<Tls>().is_some()
        })
    }
}

/// The `Host` and URI a request arrived with, kept while it is verified against the host a
/// trusted proxy forwarded, and put back for the inner service.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    host: Option<HeaderValue>,
    uri: Option<Uri>,
}

/// Verifies `parts` against the forwarded host: sets `Host` to it (and drops a URI authority,
/// which named the proxy's hop), remembering what was there.
pub(crate) fn apply_forwarded_host(parts: &mut Parts, host: &HeaderValue) {
    let received_host = parts.headers.insert(HOST, host.clone());
    let received_uri = parts.uri.authority().is_some().then(|| {
        let origin = parts
            .uri
            .path_and_query()
            .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
        std::mem::replace(&mut parts.uri, origin)
    });
    parts.extensions.insert(Received {
        host: received_host,
        uri: received_uri,
    });
}

/// Puts back what [`apply_forwarded_host`] replaced.
pub(crate) fn restore_received(parts: &mut Parts) {
    if let Some(received) = parts.extensions.remove::<Received>() {
        match received.host {
            Some(host) => parts.headers.insert(HOST, host),
            None => parts.headers.remove(HOST),
        };
        if let Some(uri) = received.uri {
            parts.uri = uri;
        }
    }
}

fn is_https(proto: &[u8]) -> bool {
    proto.eq_ignore_ascii_case(b"https")
}

/// The comma-separated elements of every line of `name`, in order, trimmed.
fn list(headers: &HeaderMap, name: &HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect()
}

/// The last element of `name` (the nearest proxy's), as a header value.
fn last(headers: &HeaderMap, name: &HeaderName) -> Option<HeaderValue> {
    list(headers, name)
        .pop()
        .and_then(|v| HeaderValue::from_str(&v).ok())
}

/// A parameter of one `Origin` element (`for=…;host=…`), unquoted.
fn param(element: &str, name: &str) -> Option<String> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The address of a `Origin` node (`192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn node_address(node: String) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.parse()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn x_forwarded_is_believed_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::x_forwarded(["10.0.0.0/8"]).unwrap();
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9, 10.1.2.3"),
            ("x-forwarded-host", "api.example.com"),
            ("x-forwarded-proto", "https"),
        ]);
        let via = proxies.resolve(ip("10.0.0.2"), &h);
        assert_eq!(via.client, Some(ip("203.0.113.9")));
        assert_eq!(via.host.unwrap(), "api.example.com");
        assert_eq!(via.https, Some(true));
        let direct = proxies.resolve(ip("198.51.100.1"), &h);
        assert_eq!(direct.client, Some(ip("198.51.100.1")));
        assert!(direct.host.is_none() && direct.https.is_none());
    }

    #[test]
    fn a_client_cannot_prepend_its_way_past_the_proxy() {
        let proxies = TrustedProxies::x_forwarded(["10.0.0.1"]).unwrap();
        // The client sent "X-Forwarded-For: 1.1.1.1"; the proxy appended the real address.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
        assert_eq!(
            proxies.resolve(ip("10.0.0.1"), &h).client,
            Some(ip("203.0.113.9"))
        );
        let garbled = headers(&[("x-forwarded-for", "1.1.1.1, nonsense")]);
        assert_eq!(
            proxies.resolve(ip("10.0.0.1"), &garbled).client,
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn rfc_7239_forwarded() {
        let proxies = TrustedProxies::forwarded(["::1", "127.0.0.1"]).unwrap();
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\";host=api.example.com;proto=https",
        )]);
        let via = proxies.resolve(ip("::1"), &h);
        assert_eq!(via.client, Some(ip("2001:db8:cafe::17")));
        assert_eq!(via.host.unwrap(), "api.example.com");
        assert_eq!(via.https, Some(true));
        // The X-Forwarded family is not read by a Forwarded proxy.
        let other = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            proxies.resolve(ip("127.0.0.1"), &other).client,
            Some(ip("127.0.0.1"))
        );
    }

    #[test]
    fn bad_addresses_are_config_errors() {
        assert!(matches!(
            TrustedProxies::x_forwarded(["10.0.0.0/33"]),
            Err(ConfigError::InvalidProxyAddress { .. })
        ));
        assert!(TrustedProxies::forwarded(["not an address"]).is_err());
    }

    #[test]
    fn the_received_host_is_put_back() {
        let (mut parts, ()) = http::Request::builder()
            .uri("http://backend:8080/orders?x=1")
            .header(HOST, "backend:8080")
            .body(())
            .unwrap()
            .into_parts();
        apply_forwarded_host(&mut parts, &HeaderValue::from_static("api.example.com"));
        assert_eq!(parts.headers[HOST], "api.example.com");
        assert_eq!(parts.uri, "/orders?x=1");
        restore_received(&mut parts);
        assert_eq!(parts.headers[HOST], "backend:8080");
        assert_eq!(parts.uri, "http://backend:8080/orders?x=1");
    }
}
