//! Token binding (`security.transport.token_binding.*`): every text frame of a bound connection
//! carries an HMAC proof keyed with the connection's `Sec-WebSocket-Key`, so a frame cannot be
//! replayed onto another connection by something that does not see its handshake.
//!
//! Pure logic, no I/O: [`negotiate`] decides at the upgrade, [`Binding::verify`] checks each
//! text frame and returns the message to hand to the session.
//!
//! Integrity only, not authentication: the key is the handshake nonce, which anything that
//! terminates TLS in front of us can read.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::http::RequestHead;
use crate::config::TokenBindingConfig;
use crate::protocol::ErrorCode;

/// The one proof scheme (`security.transport.token_binding.scheme` has no other value), as
/// clients spell it.
pub const SCHEME: &str = "sec_websocket_key_sha256";

/// Headers a TLS-terminating proxy uses to pass on the client certificate's fingerprint, in the
/// order they are consulted.
pub const FINGERPRINT_HEADERS: [&str; 3] = [
    "x-signalfish-client-cert-sha256",
    "x-forwarded-client-cert-sha256",
    "x-amzn-mtls-clientcert",
];

/// A refused upgrade: status, reason phrase and body.
pub type Refusal = (u16, &'static str, &'static str);

/// A connection's binding: the HMAC key and the fingerprint its proofs must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The 16 bytes the client's `Sec-WebSocket-Key` decodes to.
    key: [u8; 16],
    /// The client certificate fingerprint of this connection, if any.
    fingerprint: Option<String>,
    /// Whether every proof must name `fingerprint`.
    require_fingerprint: bool,
    /// The subprotocol the 101 names, spelled as the client offered it: a client must fail a
    /// connection whose server picks a protocol it did not offer (RFC 6455 §4.1), and browsers
    /// compare exactly, so a case-insensitive match is echoed in the client's own case.
    subprotocol: String,
}

/// The client certificate fingerprint of a connection.
///
/// From a trusted proxy (which terminated TLS and saw the real client's certificate) the first
/// non-blank fingerprint header wins; from anyone else those headers are ignored, since any
/// client can send them, and only the certificate this connection verified counts.
pub fn client_fingerprint(
    mtls: Option<String>,
    head: &RequestHead,
    peer_is_trusted_proxy: bool,
) -> Option<String> {
    if peer_is_trusted_proxy {
        let forwarded = FINGERPRINT_HEADERS
            .iter()
            .filter_map(|name| head.header(name))
            .map(str::trim)
            .find(|value| !value.is_empty());
        if let Some(value) = forwarded {
            return Some(value.to_owned());
        }
    }
    mtls
}

/// Decides at the upgrade (after the WebSocket checks) whether the connection is bound.
/// `Ok(None)`: a plain connection. With a binding, the 101 must name
/// [`Binding::subprotocol`].
pub fn negotiate(
    config: &TokenBindingConfig,
    head: &RequestHead,
    fingerprint: Option<String>,
) -> Result<Option<Binding>, Refusal> {
    if !config.enabled {
        return Ok(None);
    }
    if config.require_client_fingerprint && fingerprint.is_none() {
        return Err((
            401,
            "Unauthorized",
            "client certificate fingerprint required",
        ));
    }
    let wanted = config.subprotocol.trim();
    let offered = head
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-protocol"))
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .find(|token| token.eq_ignore_ascii_case(wanted));
    let Some(offered) = offered else {
        if config.required {
            return Err((400, "Bad Request", "token binding subprotocol required"));
        }
        return Ok(None);
    };
    let key = head
        .header("sec-websocket-key")
        .and_then(|key| BASE64_STANDARD.decode(key.trim()).ok())
        .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
        .ok_or((400, "Bad Request", "invalid token binding handshake"))?;
    Ok(Some(Binding {
        key,
        fingerprint,
        require_fingerprint: config.require_client_fingerprint,
        subprotocol: offered.to_owned(),
    }))
}

/// Why a frame of a bound connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// Not JSON at all.
    NotJson,
    /// JSON, but not an object.
    NotObject,
    /// No `token_binding` member.
    ProofMissing,
    /// A `token_binding` member of the wrong shape.
    ProofMalformed,
    /// The message could not be serialised again.
    Normalize,
    /// The connection or the proof has no fingerprint, and one is required.
    FingerprintRequired,
    /// The signature is not base64, or not the HMAC of the message.
    BadSignature,
    /// The proof names another fingerprint than the connection's.
    FingerprintMismatch,
    /// A scheme other than [`SCHEME`].
    UnsupportedScheme,
}

impl Violation {
    /// The `Error.message` the client gets.
    pub fn message(self) -> &'static str {
        match self {
            Violation::NotJson => "Invalid client message",
            Violation::NotObject => "Malformed client message",
            Violation::ProofMissing => "Token binding proof missing",
            Violation::ProofMalformed => "Invalid token binding proof",
            Violation::Normalize => "Unable to normalize client message",
            Violation::FingerprintRequired => "Client fingerprint required",
            Violation::BadSignature => "Invalid token binding signature",
            Violation::FingerprintMismatch => "Client fingerprint mismatch",
            Violation::UnsupportedScheme => "Unsupported token binding scheme",
        }
    }

    /// The `Error.error_code` the client gets.
    pub fn error_code(self) -> ErrorCode {
        match self {
            Violation::NotJson | Violation::NotObject | Violation::Normalize => {
                ErrorCode::InvalidInput
            }
            _ => ErrorCode::Unauthorized,
        }
    }

    /// Whether the connection is closed after the error. Plain garbage is answered like any
    /// invalid message; everything else is a failed proof.
    pub fn disconnects(self) -> bool {
        self != Violation::NotJson
    }
}

/// The `token_binding` member of a client message.
#[derive(Deserialize)]
struct Proof {
    scheme: String,
    signature: String,
    #[serde(default)]
    fingerprint: Option<String>,
}

impl Binding {
    /// The subprotocol to echo in the 101: the configured one, in the client's spelling.
    pub fn subprotocol(&self) -> &str {
        &self.subprotocol
    }

    /// Checks one text frame's proof. On success returns the message without its proof, in
    /// canonical form (compact, object keys sorted), for the session to handle.
    pub fn verify(&self, text: &str) -> Result<String, Violation> {
        let value: Value = serde_json::from_str(text).map_err(|_| Violation::NotJson)?;
        let Value::Object(mut message) = value else {
            return Err(Violation::NotObject);
        };
        let proof = message
            .remove("token_binding")
            .ok_or(Violation::ProofMissing)?;
        let proof: Proof = serde_json::from_value(proof).map_err(|_| Violation::ProofMalformed)?;
        let canonical = canonical_json(Value::Object(message))?;
        if self.require_fingerprint {
            let (Some(ours), Some(theirs)) = (&self.fingerprint, &proof.fingerprint) else {
                return Err(Violation::FingerprintRequired);
            };
            // Hex digits: a proxy may pass them upper-case.
            if !ours.eq_ignore_ascii_case(theirs) {
                return Err(Violation::FingerprintMismatch);
            }
        }
        if proof.scheme != SCHEME {
            return Err(Violation::UnsupportedScheme);
        }
        let signature = BASE64_STANDARD
            .decode(proof.signature.as_bytes())
            .map_err(|_| Violation::BadSignature)?;
        let mut mac = self.mac()?;
        mac.update(canonical.as_bytes());
        if let Some(fingerprint) = &proof.fingerprint {
            mac.update(fingerprint.as_bytes());
        }
        // `verify_slice` compares in constant time.
        mac.verify_slice(&signature)
            .map_err(|_| Violation::BadSignature)?;
        Ok(canonical)
    }

    fn mac(&self) -> Result<Hmac<Sha256>, Violation> {
        // HMAC takes keys of any length; the error branch cannot happen.
        Hmac::<Sha256>::new_from_slice(&self.key).map_err(|_| Violation::BadSignature)
    }
}

/// The scheme's canonical bytes: compact JSON with every object's keys sorted.
fn canonical_json(mut value: Value) -> Result<String, Violation> {
    // A no-op unless some crate turns on serde_json's `preserve_order`; then it keeps the
    // canonical form sorted anyway.
    value.sort_all_objects();
    serde_json::to_string(&value).map_err(|_| Violation::Normalize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn head(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "GET".to_owned(),
            path: "/v2/ws".to_owned(),
            query: None,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            minor_version: 1,
        }
    }

    fn enabled() -> TokenBindingConfig {
        TokenBindingConfig {
            enabled: true,
            ..TokenBindingConfig::default()
        }
    }

    fn offering() -> RequestHead {
        head(&[
            ("Sec-WebSocket-Key", KEY),
            ("Sec-WebSocket-Protocol", "chat, SignalFish.TokenBinding.v1"),
        ])
    }

    fn sign(key: &[u8], canonical: &str, fingerprint: Option<&str>) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(canonical.as_bytes());
        if let Some(fp) = fingerprint {
            mac.update(fp.as_bytes());
        }
        BASE64_STANDARD.encode(mac.finalize().into_bytes())
    }

    fn bound(require_fingerprint: bool, fingerprint: Option<&str>) -> Binding {
        Binding {
            key: *b"the sample nonce",
            fingerprint: fingerprint.map(str::to_owned),
            require_fingerprint,
            subprotocol: "signalfish.tokenbinding.v1".to_owned(),
        }
    }

    #[test]
    fn negotiation_follows_the_spec_order() {
        assert_eq!(
            negotiate(&TokenBindingConfig::default(), &offering(), None),
            Ok(None)
        );
        let mut config = enabled();
        // Offered case-insensitively among several tokens: bound, key decoded.
        let binding = negotiate(&config, &offering(), None).unwrap().unwrap();
        assert_eq!(&binding.key, b"the sample nonce");
        assert_eq!(binding.subprotocol(), "SignalFish.TokenBinding.v1");
        // Not offered and not required: plain.
        let plain = head(&[("Sec-WebSocket-Key", KEY)]);
        assert_eq!(negotiate(&config, &plain, None), Ok(None));
        config.required = true;
        assert_eq!(
            negotiate(&config, &plain, None).unwrap_err().2,
            "token binding subprotocol required"
        );
        let short_key = head(&[
            ("Sec-WebSocket-Key", "c2hvcnQ="),
            ("Sec-WebSocket-Protocol", "signalfish.tokenbinding.v1"),
        ]);
        assert_eq!(
            negotiate(&config, &short_key, None).unwrap_err(),
            (400, "Bad Request", "invalid token binding handshake")
        );
        config.require_client_fingerprint = true;
        assert_eq!(
            negotiate(&config, &offering(), None).unwrap_err(),
            (
                401,
                "Unauthorized",
                "client certificate fingerprint required"
            )
        );
        let binding = negotiate(&config, &offering(), Some("ab".to_owned()))
            .unwrap()
            .unwrap();
        assert_eq!(binding.fingerprint.as_deref(), Some("ab"));
    }

    #[test]
    fn fingerprint_headers_count_only_from_trusted_proxies() {
        let h = head(&[
            ("X-Signalfish-Client-Cert-Sha256", "  "),
            ("X-Forwarded-Client-Cert-Sha256", " from-header "),
        ]);
        assert_eq!(client_fingerprint(None, &h, false), None);
        assert_eq!(
            client_fingerprint(Some("mtls".to_owned()), &h, false).as_deref(),
            Some("mtls")
        );
        assert_eq!(
            client_fingerprint(Some("mtls".to_owned()), &h, true).as_deref(),
            Some("from-header")
        );
        assert_eq!(
            client_fingerprint(Some("mtls".to_owned()), &head(&[]), true).as_deref(),
            Some("mtls")
        );
    }

    #[test]
    fn a_signed_frame_yields_the_canonical_message() {
        let binding = bound(false, None);
        let sorted = r#"{"data":{"a":[{"x":1,"y":2}],"b":1},"type":"Ping"}"#;
        let signature = sign(b"the sample nonce", sorted, None);
        let frame = format!(
            r#"{{"type":"Ping","token_binding":{{"scheme":"sec_websocket_key_sha256","signature":"{signature}"}},"data":{{"b":1,"a":[{{"y":2,"x":1}}]}}}}"#
        );
        assert_eq!(binding.verify(&frame).as_deref(), Ok(sorted));
    }

    #[test]
    fn violations_in_the_spec_table() {
        let binding = bound(false, None);
        let proof = |scheme: &str, signature: &str| {
            format!(
                r#"{{"type":"Ping","token_binding":{{"scheme":"{scheme}","signature":"{signature}"}}}}"#
            )
        };
        let good = sign(b"the sample nonce", r#"{"type":"Ping"}"#, None);
        assert_eq!(binding.verify("nope"), Err(Violation::NotJson));
        assert_eq!(binding.verify("[1]"), Err(Violation::NotObject));
        assert_eq!(
            binding.verify(r#"{"type":"Ping"}"#),
            Err(Violation::ProofMissing)
        );
        assert_eq!(
            binding.verify(r#"{"type":"Ping","token_binding":"x"}"#),
            Err(Violation::ProofMalformed)
        );
        assert_eq!(
            binding.verify(&proof("other", &good)),
            Err(Violation::UnsupportedScheme)
        );
        assert_eq!(
            binding.verify(&proof(SCHEME, "***")),
            Err(Violation::BadSignature)
        );
        let wrong = sign(b"another nonce!!!", r#"{"type":"Ping"}"#, None);
        assert_eq!(
            binding.verify(&proof(SCHEME, &wrong)),
            Err(Violation::BadSignature)
        );
        assert_eq!(
            binding.verify(&proof(SCHEME, &good)).as_deref(),
            Ok(r#"{"type":"Ping"}"#)
        );
        assert!(!Violation::NotJson.disconnects());
        assert!(Violation::ProofMissing.disconnects());
        assert_eq!(Violation::NotObject.error_code(), ErrorCode::InvalidInput);
        assert_eq!(
            Violation::BadSignature.error_code(),
            ErrorCode::Unauthorized
        );
    }

    #[test]
    fn fingerprints_are_signed_and_checked_when_required() {
        let fp = "ab".repeat(32);
        let signed = |fingerprint: Option<&str>| {
            let signature = sign(b"the sample nonce", r#"{"type":"Ping"}"#, fingerprint);
            match fingerprint {
                Some(fp) => format!(
                    r#"{{"type":"Ping","token_binding":{{"scheme":"{SCHEME}","signature":"{signature}","fingerprint":"{fp}"}}}}"#
                ),
                None => format!(
                    r#"{{"type":"Ping","token_binding":{{"scheme":"{SCHEME}","signature":"{signature}"}}}}"#
                ),
            }
        };
        let required = bound(true, Some(&fp));
        assert!(required.verify(&signed(Some(&fp))).is_ok());
        assert!(
            required
                .verify(&signed(Some(&fp.to_ascii_uppercase())))
                .is_ok()
        );
        assert_eq!(
            required.verify(&signed(None)),
            Err(Violation::FingerprintRequired)
        );
        assert_eq!(
            required.verify(&signed(Some(&"cd".repeat(32)))),
            Err(Violation::FingerprintMismatch)
        );
        assert_eq!(
            bound(true, None).verify(&signed(Some(&fp))),
            Err(Violation::FingerprintRequired)
        );
        // Not required: a fingerprint in the proof is only signed over.
        assert!(bound(false, None).verify(&signed(Some(&fp))).is_ok());
    }
}
