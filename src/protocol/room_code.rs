//! Generated room codes (protocol.md §6.3).

use rand::Rng;

/// The 32 symbols generated codes are drawn from: digits and upper-case letters without `0`,
/// `1`, `I` and `O`, which players misread when reading a code aloud or off a screen.
pub const ROOM_CODE_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Generates a room code of `len` symbols: the optional prefix (trimmed and ASCII upper-cased)
/// followed by uniformly drawn symbols of [`ROOM_CODE_ALPHABET`]. A prefix that is empty after
/// trimming, or at least as long as the code (in characters), is ignored, so a code always has a
/// random part.
///
/// Pass a cryptographically secure generator (e.g. `rand::rng()`) in production: codes are the
/// only thing standing between a stranger and a private room.
pub fn generate_room_code<R: Rng + ?Sized>(
    rng: &mut R,
    len: usize,
    prefix: Option<&str>,
) -> String {
    let prefix = prefix.map(str::trim).unwrap_or_default();
    let prefix_chars = prefix.chars().count();
    let (prefix, random_len) = if prefix_chars == 0 || prefix_chars >= len {
        ("", len)
    } else {
        (prefix, len - prefix_chars)
    };
    let mut code = String::with_capacity(prefix.len() + random_len);
    code.extend(prefix.chars().map(|c| c.to_ascii_uppercase()));
    for _ in 0..random_len {
        // 32 divides 2^32, so the low five bits of a uniform u32 are uniform: no rejection loop.
        let index = (rng.next_u32() & 31) as usize;
        code.push(char::from(ROOM_CODE_ALPHABET[index]));
    }
    code
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn in_alphabet(s: &str) -> bool {
        s.bytes().all(|b| ROOM_CODE_ALPHABET.contains(&b))
    }

    #[test]
    fn alphabet_is_32_distinct_symbols_without_ambiguous_ones() {
        let mut sorted = ROOM_CODE_ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 32);
        for ambiguous in [b'0', b'1', b'I', b'O'] {
            assert!(!ROOM_CODE_ALPHABET.contains(&ambiguous));
        }
    }

    #[test]
    fn codes_have_the_length_and_use_only_the_alphabet() {
        let mut rng = StdRng::seed_from_u64(7);
        for len in [1, 4, 6, 8, 12] {
            for _ in 0..200 {
                let code = generate_room_code(&mut rng, len, None);
                assert_eq!(code.len(), len);
                assert!(in_alphabet(&code), "{code}");
            }
        }
        assert_eq!(generate_room_code(&mut rng, 0, None), "");
    }

    #[test]
    fn every_symbol_is_reachable() {
        let mut rng = StdRng::seed_from_u64(42);
        let mut seen = [false; 32];
        for _ in 0..200 {
            for b in generate_room_code(&mut rng, 6, None).bytes() {
                if let Some(i) = ROOM_CODE_ALPHABET.iter().position(|&a| a == b) {
                    seen[i] = true;
                }
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn prefix_is_trimmed_upper_cased_and_followed_by_random_symbols() {
        let mut rng = StdRng::seed_from_u64(1);
        let code = generate_room_code(&mut rng, 6, Some("  kr "));
        assert_eq!(code.len(), 6);
        assert!(code.starts_with("KR"), "{code}");
        assert!(in_alphabet(&code[2..]), "{code}");

        // A prefix may contain characters outside the alphabet; only the random part is drawn.
        let code = generate_room_code(&mut rng, 6, Some("a1"));
        assert!(code.starts_with("A1"), "{code}");
        assert!(in_alphabet(&code[2..]), "{code}");

        let code = generate_room_code(&mut rng, 6, Some("abcde"));
        assert!(code.starts_with("ABCDE"), "{code}");
        assert_eq!(code.len(), 6);
    }

    #[test]
    fn prefix_is_ignored_when_empty_or_too_long() {
        let mut rng = StdRng::seed_from_u64(2);
        for prefix in ["", "   ", "ABCDEF", "ABCDEFG"] {
            let code = generate_room_code(&mut rng, 6, Some(prefix));
            assert_eq!(code.len(), 6, "{prefix:?}");
            assert!(in_alphabet(&code), "{prefix:?} gave {code}");
        }
        // Trimming happens before the length comparison.
        let code = generate_room_code(&mut rng, 6, Some("  abcde  "));
        assert!(code.starts_with("ABCDE"), "{code}");
        // The length is compared in characters: "éé" is 2 characters (4 bytes).
        let code = generate_room_code(&mut rng, 3, Some("éé"));
        assert!(code.starts_with("éé"), "{code}");
        assert_eq!(code.chars().count(), 3);
        let code = generate_room_code(&mut rng, 2, Some("éé"));
        assert!(in_alphabet(&code), "{code}");
    }
}
