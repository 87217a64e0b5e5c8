//! Encoding and decoding frames.

use bytes::Bytes;

use super::client::ClientMessage;
use super::server::ServerMessage;
use super::types::PlayerId;

/// Why a text frame could not become a `ClientMessage`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("Invalid client message")]
    Invalid(#[from] serde_json::Error),
}

/// Parses one text frame. The caller has already checked the size limit.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    Ok(serde_json::from_str(text)?)
}

/// Serialises a server message once into shareable bytes (compact JSON).
pub fn encode_server(msg: &ServerMessage) -> Bytes {
    // Serialising our own types into a Vec cannot fail: no maps with non-string keys, no
    // failing Serialize impls.
    match serde_json::to_vec(msg) {
        Ok(v) => Bytes::from(v),
        Err(_) => Bytes::from_static(br#"{"type":"error","data":{"message":"Internal error"}}"#),
    }
}

/// Builds a relayed `GameData` frame around raw JSON without re-parsing it: the one
/// serialisation a relayed message costs.
pub fn encode_game_data(from: &PlayerId, raw_data: &str) -> Bytes {
    const HEAD: &str = r#"{"type":"GameData","data":{"from_player":""#;
    const MID: &str = r#"","data":"#;
    const TAIL: &str = "}}";
    let mut out = Vec::with_capacity(HEAD.len() + 36 + MID.len() + raw_data.len() + TAIL.len());
    out.extend_from_slice(HEAD.as_bytes());
    let mut uuid_buf = uuid::Uuid::encode_buffer();
    out.extend_from_slice(from.hyphenated().encode_lower(&mut uuid_buf).as_bytes());
    out.extend_from_slice(MID.as_bytes());
    out.extend_from_slice(raw_data.as_bytes());
    out.extend_from_slice(TAIL.as_bytes());
    Bytes::from(out)
}
