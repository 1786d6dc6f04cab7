//! Who a request counts against: a `KeyExtractor` turns a request into a `Subject`
//! (the tier that selects the policy, the id that selects the counters), or refuses it.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::config::{Config, ANONYMOUS};
use crate::error::RateLimitError;
use crate::identity;

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// Selects the policy of a route (`anonymous` for clients without a key).
    pub tier: String,
    /// Selects the counters: part of every Redis key of the subject's limits.
    pub id: String,
}

/// Names the subject of a request from its parts (method, URI, headers, and the
/// extensions earlier layers added: the TCP peer as `ConnectInfo<SocketAddr>` when the
/// server provides it, an authenticated user). An `Err` is answered instead of the
/// route: `RateLimitError::rejected` carries a response of the extractor's own.
pub trait KeyExtractor: Send + Sync + 'static {
    fn extract(&self, request: &Parts) -> Result<Subject, RateLimitError>;
}

/// The TCP peer, when the server provides it
/// (`into_make_service_with_connect_info::<SocketAddr>()`).
pub fn peer(request: &Parts) -> Option<SocketAddr> {
    request
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// The client's address, per IPv4 address or IPv6 /64, in the `anonymous` tier.
/// `X-Forwarded-For` is believed only from the trusted proxies, and then only its
/// rightmost untrusted address: a client can write anything into it.
#[derive(Clone, Debug, Default)]
pub struct PeerIp {
    pub trusted: Vec<IpNet>,
}

impl KeyExtractor for PeerIp {
    fn extract(&self, request: &Parts) -> Result<Subject, RateLimitError> {
        let peer = peer(request).ok_or(RateLimitError::NoPeerAddress)?;
        let ip = identity::client_ip(peer.ip(), &request.headers, &self.trusted);
        Ok(Subject {
            tier: ANONYMOUS.to_string(),
            id: identity::client_id(ip),
        })
    }
}

/// The header that carries an API key.
pub const API_KEY: &str = "x-api-key";

/// An API key in `X-API-Key` selects its tier and counts as its name (never the key
/// itself, which stays out of Redis); an unknown key is refused (401); a request
/// without one is `PeerIp`'s.
#[derive(Clone, Debug, Default)]
pub struct ApiKeyOrPeerIp {
    /// API key -> (name, tier).
    pub keys: HashMap<String, (String, String)>,
    pub peer: PeerIp,
}

impl ApiKeyOrPeerIp {
    /// The API keys and trusted proxies of a configuration.
    pub fn from_config(config: &Config) -> Result<ApiKeyOrPeerIp, String> {
        Ok(ApiKeyOrPeerIp {
            keys: config
                .api_keys
                .iter()
                .map(|k| (k.key.clone(), (k.name.clone(), k.tier.clone())))
                .collect(),
            peer: PeerIp {
                trusted: config.trusted_proxies()?,
            },
        })
    }
}

impl KeyExtractor for ApiKeyOrPeerIp {
    fn extract(&self, request: &Parts) -> Result<Subject, RateLimitError> {
        let Some(key) = request.headers.get(API_KEY) else {
            return self.peer.extract(request);
        };
        let (name, tier) = key
            .to_str()
            .ok()
            .and_then(|k| self.keys.get(k))
            .ok_or(RateLimitError::UnknownApiKey)?;
        Ok(Subject {
            tier: tier.clone(),
            id: format!("key:{name}"),
        })
    }
}
