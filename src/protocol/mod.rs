//! The Signal Fish v2 wire protocol: message types and codecs. Pure: no I/O, no state.

pub mod binary;
pub mod client;
pub mod codec;
pub mod decode_error;
pub mod depth;
pub mod error_code;
pub mod frame;
mod raw_json;
pub mod room_code;
pub mod server;
pub mod types;
pub mod validation;

#[cfg(test)]
mod tests;

/// WebSocket close codes we use.
pub mod close_code {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The client broke the WebSocket framing rules (RFC 6455).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text frame was not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// The client broke a rule (unauthenticated traffic, outbound queue overflow, silence).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message was larger than `security.max_message_size`.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// Cluster mode: the node lost what links the session to its room's node (NATS down, or
    /// batches lost on the way). The client should reconnect with its token.
    pub const INTERNAL_ERROR: u16 = 1011;
}

pub use client::ClientMessage;
pub use error_code::ErrorCode;
pub use frame::Frame;
pub use server::ServerMessage;
pub use types::*;
