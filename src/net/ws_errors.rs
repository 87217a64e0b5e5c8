//! Which close code answers a broken WebSocket stream (spec decision 18): the client learns
//! why it was dropped instead of seeing a bare TCP close.

use async_tungstenite::tungstenite::Error;
use async_tungstenite::tungstenite::error::ProtocolError;

use crate::session::close_code;

/// The close code and reason for a read error, or `None` when the peer is already gone (or
/// the error is ours, not the client's) and nothing should be sent.
///
/// RFC 6455 §7.4.1: 1007 for a text message that is not UTF-8, 1002 for any other violation
/// of the framing rules (reserved bits, an unmasked client frame, a fragmented or oversized
/// control frame, an unknown opcode, a continuation with nothing to continue…).
pub fn close_for(err: &Error) -> Option<(u16, &'static str)> {
    match err {
        Error::Utf8(_) => Some((close_code::INVALID_PAYLOAD, "invalid UTF-8 in a text frame")),
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        Error::Protocol(violation) => Some((close_code::PROTOCOL_ERROR, reason(violation))),
        _ => None,
    }
}

/// A short reason for the close frame (at most 123 bytes, as the frame requires).
fn reason(violation: &ProtocolError) -> &'static str {
    match violation {
        ProtocolError::NonZeroReservedBits => "reserved bits set",
        ProtocolError::UnmaskedFrameFromClient => "unmasked client frame",
        ProtocolError::FragmentedControlFrame => "fragmented control frame",
        ProtocolError::ControlFrameTooBig => "control frame too big",
        ProtocolError::UnknownControlFrameType(_)
        | ProtocolError::UnknownDataFrameType(_)
        | ProtocolError::InvalidOpcode(_) => "unknown opcode",
        _ => "protocol error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_rfc_6455() {
        assert_eq!(
            close_for(&Error::Utf8("bad".into())).map(|c| c.0),
            Some(1007)
        );
        for violation in [
            ProtocolError::NonZeroReservedBits,
            ProtocolError::UnmaskedFrameFromClient,
            ProtocolError::FragmentedControlFrame,
            ProtocolError::ControlFrameTooBig,
            ProtocolError::UnknownControlFrameType(11),
            ProtocolError::UnknownDataFrameType(3),
            ProtocolError::UnexpectedContinueFrame,
        ] {
            let close = close_for(&Error::Protocol(violation.clone()));
            assert_eq!(close.map(|c| c.0), Some(1002), "{violation:?}");
        }
        assert_eq!(
            close_for(&Error::Protocol(
                ProtocolError::ResetWithoutClosingHandshake
            )),
            None
        );
        assert_eq!(close_for(&Error::ConnectionClosed), None);
    }
}
