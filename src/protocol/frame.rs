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

/// Frames cross nodes in a cluster (`cluster::wire`): as their bytes, tagged text or binary.
#[derive(serde::Serialize, serde::Deserialize)]
enum WireFrame {
    Text(Bytes),
    Binary(Bytes),
}

impl serde::Serialize for Frame {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Frame::Text(text) => WireFrame::Text(Bytes::from(text.clone())),
            Frame::Binary(bytes) => WireFrame::Binary(bytes.clone()),
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Frame {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match WireFrame::deserialize(deserializer)? {
            // Another node sent it, but a text frame must be UTF-8 whoever made it.
            WireFrame::Text(bytes) => {
                Frame::Text(Utf8Bytes::try_from(bytes).map_err(serde::de::Error::custom)?)
            }
            WireFrame::Binary(bytes) => Frame::Binary(bytes),
        })
    }
}
