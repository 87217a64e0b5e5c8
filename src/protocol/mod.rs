//! The Signal Fish v2 wire protocol: message types and codecs. Pure: no I/O, no state.

pub mod binary;
pub mod client;
pub mod codec;
pub mod depth;
pub mod error_code;
mod raw_json;
pub mod room_code;
pub mod server;
pub mod types;
pub mod validation;

#[cfg(test)]
mod tests;

pub use client::ClientMessage;
pub use error_code::ErrorCode;
pub use server::ServerMessage;
pub use types::*;
