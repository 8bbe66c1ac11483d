//! What every handler shares: the state the router hands each request ([`AppState`]), the
//! id of the request being served and the client's address. Low among the edges: the
//! extractors, the REST and GraphQL handlers and the router all read it; it reads only
//! the domain and the identity provider's client.

use std::sync::Arc;

use axum::http::HeaderValue;
use tower_cookies::Key;

use crate::{domain::Services, oidc::OidcClient};

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub cookie_key: Key,
    /// The identity provider, when one is configured.
    pub oidc: Option<Arc<OidcClient>>,
}

impl AppState {
    pub fn new(services: Services, cookie_key: Key) -> Result<Self, String> {
        let oidc = match &services.config.oidc {
            Some(config) => Some(Arc::new(OidcClient::new(
                config.clone(),
                services.clock.clone(),
            )?)),
            None => None,
        };
        Ok(Self {
            services,
            cookie_key,
            oidc,
        })
    }
}

tokio::task_local! {
    /// The id of the request being served, set around each request by the router.
    pub static REQUEST_ID: Arc<str>;
}

/// The id of the request being served, for error bodies and logs.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(|id| id.to_string()).unwrap_or_default()
}

pub fn acceptable_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    .then(|| s.to_owned())
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the nearest
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_address(
    peer: Option<std::net::IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[std::net::IpAddr],
) -> Option<std::net::IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    hops.iter()
        .rev()
        .find(|hop| !trusted.contains(hop))
        .or(hops.first())
        .copied()
        .or(Some(peer))
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use axum::http::HeaderMap;

    use super::client_address;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.7, 10.0.0.2".parse().unwrap(),
        );
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        // From a trusted proxy: the nearest hop that is not a proxy.
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), &headers, &trusted),
            Some(ip("203.0.113.7"))
        );
        // From anyone else: the peer, whatever the header claims.
        assert_eq!(
            client_address(Some(ip("192.0.2.9")), &headers, &trusted),
            Some(ip("192.0.2.9"))
        );
        // A trusted proxy without the header, or with garbage in it: the peer.
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), &HeaderMap::new(), &trusted),
            Some(ip("10.0.0.1"))
        );
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), &headers, &trusted),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(client_address(None, &headers, &trusted), None);
    }
}
