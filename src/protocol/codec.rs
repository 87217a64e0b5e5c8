//! Encoding and decoding frames.

use bytes::Bytes;
use serde::Deserialize;

use super::client::ClientMessage;
use super::decode_error::describe;
use super::depth::{MAX_NESTING_DEPTH, TOO_DEEP_MESSAGE, json_too_deep};
use super::server::ServerMessage;
use super::types::PlayerId;

/// Why a text frame could not become a `ClientMessage`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not a client message; the text names the field and message type (see
    /// [`super::decode_error`]), after 0.1.0's wording.
    #[error("Invalid client message: {0}")]
    Invalid(String),
    /// Arrays and objects nest deeper than [`MAX_NESTING_DEPTH`] (decision 18).
    #[error("{}", TOO_DEEP_MESSAGE)]
    TooDeep,
}

/// Parses one text frame. The caller has already checked the size limit.
///
/// The nesting depth is checked first, in one pass over the bytes: relayed `GameData` is kept
/// as raw text, which serde_json skips without its recursion limit, so the limit must hold
/// before parsing. Once it holds, serde_json's own limit (which would refuse a few levels
/// short of ours, with a vaguer error, when `data` comes before `type`) is switched off: the
/// scan has already bounded the recursion.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    if json_too_deep(text.as_bytes(), MAX_NESTING_DEPTH) {
        return Err(DecodeError::TooDeep);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    ClientMessage::deserialize(&mut de)
        .and_then(|msg| de.end().map(|()| msg))
        // The precise reason costs a second parse, so only a rejected frame pays for it.
        .map_err(|_| DecodeError::Invalid(describe(text)))
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
