//! MessagePack game data (protocol.md §1.8): the binary envelope sent to MessagePack clients
//! and the MessagePack → JSON conversion used for JSON clients.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use uuid::Uuid;

/// Wraps a sender's binary frame for delivery to a MessagePack client.
///
/// The result is the 3-entry map 0.1.0 produced with rmp-serde's named struct encoding:
/// `from_player` (bin of the 16 raw UUID bytes), `encoding` (`"message_pack"`, the only binary
/// encoding that can be negotiated) and `payload` (bin holding the frame verbatim). It is
/// written by hand because the layout is fixed and tiny, and this way it cannot fail.
pub fn encode_binary_envelope(from: &Uuid, payload: &[u8]) -> Bytes {
    // Invariant: inbound frames are bounded by `max_message_size` and the transport's 64 MiB,
    // far below bin32's 4 GiB limit. Should it ever be exceeded, the payload is cut so the
    // envelope stays well-formed instead of lying about its length.
    let payload = &payload[..payload.len().min(u32::MAX as usize)];
    let mut out = BytesMut::with_capacity(64 + payload.len());
    out.put_u8(0x83); // fixmap, 3 entries
    put_fixstr(&mut out, "from_player");
    put_bin(&mut out, from.as_bytes());
    put_fixstr(&mut out, "encoding");
    put_fixstr(&mut out, "message_pack");
    put_fixstr(&mut out, "payload");
    put_bin(&mut out, payload);
    out.freeze()
}

/// Writes a string shorter than 32 bytes (all our keys and values are).
fn put_fixstr(out: &mut BytesMut, s: &str) {
    debug_assert!(s.len() < 32);
    out.put_u8(0xa0 | s.len() as u8);
    out.put_slice(s.as_bytes());
}

/// Writes a byte string with the smallest bin header that fits; the caller keeps `data` within
/// `u32::MAX` bytes.
fn put_bin(out: &mut BytesMut, data: &[u8]) {
    let len = data.len();
    if let Ok(len) = u8::try_from(len) {
        out.put_u8(0xc4);
        out.put_u8(len);
    } else if let Ok(len) = u16::try_from(len) {
        out.put_u8(0xc5);
        out.put_u16(len);
    } else {
        out.put_u8(0xc6);
        out.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    }
    out.put_slice(data);
}

/// Converts the first MessagePack value of `payload` into compact JSON text for a JSON client.
///
/// The value goes through `serde_json::Value`, which gives the rules of protocol.md §1.8: nil,
/// booleans, integers, floats (NaN and ±infinity become `null`), strings, arrays and maps with
/// string keys convert (map keys come out sorted); bin and ext values, non-string keys, empty or
/// truncated input give `None`, and the caller drops the message for that recipient. Bytes after
/// the first value are ignored.
///
/// Nesting deeper than [`MAX_MSGPACK_DEPTH`] also gives `None`.
pub fn msgpack_to_json(payload: &[u8]) -> Option<String> {
    let mut de = rmp_serde::Deserializer::from_read_ref(payload);
    // rmp-serde fails when its counter reaches zero, i.e. it admits one container fewer than
    // the number it is given.
    de.set_max_depth(MAX_MSGPACK_DEPTH + 1);
    let value = serde_json::Value::deserialize(&mut de).ok()?;
    serde_json::to_string(&value).ok()
}

/// Deepest array/map nesting `msgpack_to_json` converts. With rmp-serde's default (1024) a 1 KB
/// frame of nested arrays overflowed a 2 MiB thread stack (debug build), which would abort the
/// whole server; 128 is serde_json's own limit, so JSON clients cannot send deeper data either.
pub const MAX_MSGPACK_DEPTH: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    fn sender() -> Uuid {
        Uuid::parse_str("5b0c7e2f-1d94-4a6b-9c3e-2f8a7d6b1e04").unwrap()
    }

    /// The envelope bytes up to (excluding) the payload's bin header.
    fn head() -> Vec<u8> {
        let mut v = vec![0x83, 0xab];
        v.extend_from_slice(b"from_player");
        v.extend_from_slice(&[0xc4, 0x10]);
        v.extend_from_slice(sender().as_bytes());
        v.push(0xa8);
        v.extend_from_slice(b"encoding");
        v.push(0xac);
        v.extend_from_slice(b"message_pack");
        v.push(0xa7);
        v.extend_from_slice(b"payload");
        v
    }

    #[test]
    fn envelope_matches_the_spec_example() {
        let expected: [u8; 68] = [
            0x83, 0xab, 0x66, 0x72, 0x6f, 0x6d, 0x5f, 0x70, 0x6c, 0x61, 0x79, 0x65, 0x72, 0xc4,
            0x10, 0x5b, 0x0c, 0x7e, 0x2f, 0x1d, 0x94, 0x4a, 0x6b, 0x9c, 0x3e, 0x2f, 0x8a, 0x7d,
            0x6b, 0x1e, 0x04, 0xa8, 0x65, 0x6e, 0x63, 0x6f, 0x64, 0x69, 0x6e, 0x67, 0xac, 0x6d,
            0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x5f, 0x70, 0x61, 0x63, 0x6b, 0xa7, 0x70, 0x61,
            0x79, 0x6c, 0x6f, 0x61, 0x64, 0xc4, 0x05, 0x81, 0xa2, 0x68, 0x70, 0x5a,
        ];
        let out = encode_binary_envelope(&sender(), &[0x81, 0xa2, 0x68, 0x70, 0x5a]);
        assert_eq!(&out[..], &expected[..]);
    }

    #[test]
    fn envelope_matches_rmp_serde_named_struct_encoding() {
        // 0.1.0 serialised this struct with rmp-serde; the hand-written bytes must agree.
        #[derive(serde::Serialize)]
        struct Envelope<'a> {
            #[serde(with = "serde_bytes_uuid")]
            from_player: Uuid,
            encoding: crate::protocol::GameDataEncoding,
            #[serde(with = "serde_bytes_slice")]
            payload: &'a [u8],
        }
        mod serde_bytes_uuid {
            pub fn serialize<S: serde::Serializer>(
                u: &uuid::Uuid,
                s: S,
            ) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(u.as_bytes())
            }
        }
        mod serde_bytes_slice {
            pub fn serialize<S: serde::Serializer>(b: &&[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(b)
            }
        }
        for len in [0, 5, 255, 256, 65_535, 65_536] {
            let payload = vec![0x5a; len];
            let envelope = Envelope {
                from_player: sender(),
                encoding: crate::protocol::GameDataEncoding::MessagePack,
                payload: &payload,
            };
            let reference = rmp_serde::to_vec_named(&envelope).unwrap();
            assert_eq!(
                &encode_binary_envelope(&sender(), &payload)[..],
                &reference[..],
                "{len}"
            );
        }
    }

    #[test]
    fn envelope_bin_header_sizes() {
        let cases: [(usize, &[u8]); 6] = [
            (0, &[0xc4, 0x00]),
            (255, &[0xc4, 0xff]),
            (256, &[0xc5, 0x01, 0x00]),
            (65_535, &[0xc5, 0xff, 0xff]),
            (65_536, &[0xc6, 0x00, 0x01, 0x00, 0x00]),
            (70_000, &[0xc6, 0x00, 0x01, 0x11, 0x70]),
        ];
        for (len, header) in cases {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let out = encode_binary_envelope(&sender(), &payload);
            let mut expected = head();
            expected.extend_from_slice(header);
            expected.extend_from_slice(&payload);
            assert_eq!(out.len(), expected.len(), "{len}");
            assert_eq!(&out[..], &expected[..], "{len}");
        }
    }

    fn json(bytes: &[u8]) -> Option<String> {
        msgpack_to_json(bytes)
    }

    #[test]
    fn msgpack_scalars_to_json() {
        assert_eq!(json(&[0xc0]).as_deref(), Some("null"));
        assert_eq!(json(&[0xc3]).as_deref(), Some("true"));
        assert_eq!(json(&[0xc2]).as_deref(), Some("false"));
        assert_eq!(json(&[0x05]).as_deref(), Some("5"));
        assert_eq!(json(&[0xff]).as_deref(), Some("-1"));
        assert_eq!(json(&[0xd0, 0x80]).as_deref(), Some("-128"));
        assert_eq!(
            json(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(
            json(&[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]).as_deref(),
            Some("-9223372036854775808")
        );
        let mut f64_bytes = vec![0xcb];
        f64_bytes.extend_from_slice(&1.5f64.to_be_bytes());
        assert_eq!(json(&f64_bytes).as_deref(), Some("1.5"));
        let mut f64_bytes = vec![0xcb];
        f64_bytes.extend_from_slice(&100f64.to_be_bytes());
        assert_eq!(json(&f64_bytes).as_deref(), Some("100.0"));
        let mut f32_bytes = vec![0xca];
        f32_bytes.extend_from_slice(&0.5f32.to_be_bytes());
        assert_eq!(json(&f32_bytes).as_deref(), Some("0.5"));
        assert_eq!(
            json(&[0xa5, b'h', b'\xc3', b'\xa9', b'"', b'/']).as_deref(),
            Some(r#""hé\"/""#)
        );
    }

    #[test]
    fn msgpack_non_finite_floats_become_null() {
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut bytes = vec![0xcb];
            bytes.extend_from_slice(&f.to_be_bytes());
            assert_eq!(json(&bytes).as_deref(), Some("null"), "{f}");
        }
        let mut bytes = vec![0x92, 0xca];
        bytes.extend_from_slice(&f32::NAN.to_be_bytes());
        bytes.push(0x01);
        assert_eq!(json(&bytes).as_deref(), Some("[null,1]"));
    }

    #[test]
    fn msgpack_containers_to_json() {
        // The spec example {"hp":90}.
        assert_eq!(
            json(&[0x81, 0xa2, 0x68, 0x70, 0x5a]).as_deref(),
            Some(r#"{"hp":90}"#)
        );
        // {"b":[1,nil,"x"],"a":{}}: keys come out sorted, compact.
        let bytes = [
            0x82, 0xa1, b'b', 0x93, 0x01, 0xc0, 0xa1, b'x', 0xa1, b'a', 0x80,
        ];
        assert_eq!(
            json(&bytes).as_deref(),
            Some(r#"{"a":{},"b":[1,null,"x"]}"#)
        );
        assert_eq!(json(&[0x90]).as_deref(), Some("[]"));
        // Duplicate keys: the last one wins, as with any serde_json map.
        let bytes = [0x82, 0xa1, b'k', 0x01, 0xa1, b'k', 0x02];
        assert_eq!(json(&bytes).as_deref(), Some(r#"{"k":2}"#));
    }

    #[test]
    fn msgpack_trailing_bytes_are_ignored() {
        assert_eq!(json(&[0x01, 0x02, 0x03]).as_deref(), Some("1"));
        assert_eq!(
            json(&[0x81, 0xa2, 0x68, 0x70, 0x5a, 0xc1, 0xff]).as_deref(),
            Some(r#"{"hp":90}"#)
        );
    }

    #[test]
    fn msgpack_unconvertible_input_gives_none() {
        assert_eq!(json(&[]), None, "empty");
        assert_eq!(json(&[0x81, 0xa2, 0x68]), None, "truncated key");
        assert_eq!(json(&[0x81, 0xa2, 0x68, 0x70]), None, "missing value");
        assert_eq!(json(&[0x92, 0x01]), None, "short array");
        assert_eq!(json(&[0xcb, 0x3f, 0xf8]), None, "truncated float");
        assert_eq!(json(&[0xc4, 0x02, 0x01, 0x02]), None, "bin");
        assert_eq!(json(&[0x91, 0xc4, 0x00]), None, "nested bin");
        assert_eq!(json(&[0xd4, 0x01, 0x00]), None, "fixext1");
        assert_eq!(json(&[0xc7, 0x01, 0x05, 0x00]), None, "ext8");
        assert_eq!(json(&[0x81, 0x01, 0x02]), None, "integer key");
        assert_eq!(json(&[0x81, 0xc0, 0x02]), None, "nil key");
        assert_eq!(json(&[0xc1]), None, "reserved marker");
        assert_eq!(json(&[0xa1, 0xff]), None, "string that is not UTF-8");
    }

    #[test]
    fn msgpack_nesting_is_bounded() {
        // A hostile payload of nested arrays must fail cleanly, not overflow the stack.
        for depth in [MAX_MSGPACK_DEPTH + 1, 1_000, 100_000] {
            let mut bytes = vec![0x91; depth];
            bytes.push(0xc0);
            assert_eq!(json(&bytes), None, "{depth}");
        }
        let mut bytes = [0x81, 0xa1, b'k'].repeat(MAX_MSGPACK_DEPTH + 1);
        bytes.push(0xc0);
        assert_eq!(json(&bytes), None, "nested maps");

        let mut bytes = vec![0x91; MAX_MSGPACK_DEPTH];
        bytes.push(0xc0);
        let expected = format!(
            "{}null{}",
            "[".repeat(MAX_MSGPACK_DEPTH),
            "]".repeat(MAX_MSGPACK_DEPTH)
        );
        assert_eq!(json(&bytes), Some(expected));
    }
}
