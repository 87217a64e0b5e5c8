//! A WebSocket frame's payload as the server sends it: serialised once, then shared (cheaply
//! cloned) by every recipient.

use async_tungstenite::tungstenite::Utf8Bytes;
use bytes::Bytes;

use super::ServerMessage;
use super::codec::encode_server;

/// One WebSocket frame's payload, serialised once and shared by every recipient.
#[derive(Debug, Clone)]
pub enum Frame {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Frame {
    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(bytes) => bytes.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Serialises a server message once into a text frame.
pub fn text_frame(msg: &ServerMessage) -> Frame {
    frame_from_json(encode_server(msg))
}

/// Wraps JSON bytes we produced ourselves into a text frame.
pub fn frame_from_json(bytes: Bytes) -> Frame {
    // Our encoders only ever emit UTF-8, so the check cannot fail; it runs once per message,
    // not per recipient.
    match Utf8Bytes::try_from(bytes) {
        Ok(text) => Frame::Text(text),
        Err(_) => Frame::Text(Utf8Bytes::from_static(
            r#"{"type":"Error","data":{"message":"Internal error","error_code":"INTERNAL_ERROR"}}"#,
        )),
    }
}
