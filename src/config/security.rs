//! `security.*`: CORS, auth switches, limits, transport (TLS, token binding), authorized apps.

use serde::{Deserialize, Serialize};

use super::enums::{ClientAuthMode, TokenBindingScheme};

/// `security.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityConfig {
    /// `*` or a comma-separated list of allowed origins (one string, as in 0.1.0).
    pub cors_origins: String,
    /// Whether a connection must `Authenticate` with a configured `app_id` first.
    /// Default **false** here (spec decision 1; 0.1.0's compiled default was true).
    pub require_websocket_auth: bool,
    /// Whether the metrics endpoints need `Authorization: Bearer <metrics_auth_token>`.
    /// Default **false** here (spec decision 1; 0.1.0's compiled default was true).
    pub require_metrics_auth: bool,
    /// Bearer token for the metrics endpoints.
    pub metrics_auth_token: Option<String>,
    /// Largest inbound message in bytes.
    pub max_message_size: usize,
    /// Open connections allowed per client IP: WebSockets, and sockets still in their HTTP
    /// handshake once the client's address is known.
    pub max_connections_per_ip: usize,
    /// New in this server: open connections allowed for the whole process (WebSockets and
    /// sockets in their handshake). 0 = the open-file soft limit minus a reserve of 1% or 64
    /// descriptors, whichever is larger.
    pub max_connections: usize,
    /// New in this server: TCP peers (IP addresses or CIDR blocks, IPv4 or IPv6) whose
    /// `Forwarded` / `X-Forwarded-For` / `X-Real-IP` headers and PROXY headers name the client.
    pub trusted_proxies: Vec<String>,
    /// New in this server: trusted peers start each connection with a PROXY protocol (v1 or
    /// v2) header; untrusted peers that send one are refused.
    pub proxy_protocol: bool,
    /// TLS and token binding.
    pub transport: TransportConfig,
    /// Applications allowed to authenticate when WebSocket auth is on.
    pub authorized_apps: Vec<AuthorizedApp>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            cors_origins: "http://localhost:3000,http://localhost:5173".to_owned(),
            require_websocket_auth: false,
            require_metrics_auth: false,
            metrics_auth_token: None,
            max_message_size: 65_536,
            max_connections_per_ip: 10,
            max_connections: 0,
            trusted_proxies: Vec::new(),
            proxy_protocol: false,
            transport: TransportConfig::default(),
            authorized_apps: Vec::new(),
        }
    }
}

impl SecurityConfig {
    /// The configured app with exactly this `app_id` (case-sensitive).
    pub fn find_app(&self, app_id: &str) -> Option<&AuthorizedApp> {
        self.authorized_apps.iter().find(|app| app.app_id == app_id)
    }
}

/// `security.transport.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransportConfig {
    /// Native TLS (HTTPS and WSS on the same port) and client certificates.
    pub tls: TlsConfig,
    /// HMAC binding of client frames to the handshake.
    pub token_binding: TokenBindingConfig,
}

/// `security.transport.tls.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// Serve HTTPS/WSS instead of plain HTTP/WS on `port`.
    pub enabled: bool,
    /// PEM certificate chain: every certificate in the file, leaf first.
    pub certificate_path: Option<String>,
    /// PEM private key: the first PKCS#8, PKCS#1 or SEC1 key in the file.
    pub private_key_path: Option<String>,
    /// PEM CA bundle client certificates are verified against (`optional`/`require`).
    pub client_ca_cert_path: Option<String>,
    /// Client certificate requirement.
    pub client_auth: ClientAuthMode,
}

/// `security.transport.token_binding.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenBindingConfig {
    /// Bind connections that offer the subprotocol.
    pub enabled: bool,
    /// Refuse connections that do not offer it (needs TLS).
    pub required: bool,
    /// Require a client certificate fingerprint (needs client certificates).
    pub require_client_fingerprint: bool,
    /// WebSocket subprotocol that activates binding; must not be blank when enabled.
    pub subprotocol: String,
    /// Proof scheme.
    pub scheme: TokenBindingScheme,
}

impl Default for TokenBindingConfig {
    fn default() -> Self {
        TokenBindingConfig {
            enabled: false,
            required: false,
            require_client_fingerprint: false,
            subprotocol: "signalfish.tokenbinding.v1".to_owned(),
            scheme: TokenBindingScheme::SecWebsocketKeySha256,
        }
    }
}

/// One entry of `security.authorized_apps`. `app_id` and `app_name` are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizedApp {
    /// Public application id clients send in `Authenticate` (exact match).
    pub app_id: String,
    /// When set (non-empty) and a client sends `app_secret`, the two must match. Optional here
    /// (0.1.0 required it but never checked it).
    #[serde(default)]
    pub app_secret: Option<String>,
    /// Refuse clients that send no `app_secret` (new; for server-to-server or private tools,
    /// since a secret shipped inside a game build is no secret). Needs a non-empty
    /// `app_secret`.
    #[serde(default)]
    pub require_secret: bool,
    /// Name returned in `Authenticated`.
    pub app_name: String,
    /// Stored only.
    #[serde(default)]
    pub max_rooms: Option<u32>,
    /// Stored only.
    #[serde(default)]
    pub max_players_per_room: Option<u8>,
    /// `Authenticate` handshakes per minute for this app (sliding 60 s window).
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
}
