//! Validation of client-supplied names, room codes and player caps (protocol.md §6).
//!
//! Every error is the exact text 0.1.0 puts in `RoomJoinFailed.reason` / `Error.message`; the
//! caller picks the error code, because the same rule maps to different codes depending on the
//! message (player vs spectator names). Lengths are UTF-8 byte counts even though the texts say
//! "characters": that is what 0.1.0 measures, and clients size their inputs against it.

use super::types::PlayerNameRulesPayload;

/// Checks `JoinRoom.game_name` (§6.1). Game names scope rooms, so they are compared exactly and
/// not trimmed: `" "` is a valid name.
pub fn validate_game_name(name: &str, max_len: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("Game name cannot be empty".to_owned());
    }
    if name.len() > max_len {
        return Err(format!("Game name too long (max {max_len} characters)"));
    }
    let valid = |c: char| c.is_alphanumeric() || c == '-' || c == '_' || c == ' ';
    if !name.chars().all(valid) {
        return Err("Game name contains invalid characters".to_owned());
    }
    Ok(())
}

/// The configurable player-name policy (`protocol.player_name_validation` plus
/// `protocol.max_player_name_length`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerNameRules {
    /// Longest accepted name, in UTF-8 bytes.
    pub max_length: usize,
    /// Accept any Unicode letter or digit; when false only ASCII ones.
    pub allow_unicode_alphanumeric: bool,
    /// Accept U+0020 inside the name (other whitespace is never accepted).
    pub allow_spaces: bool,
    /// Accept whitespace at either end of the name.
    pub allow_leading_trailing_whitespace: bool,
    /// Symbols accepted besides letters and digits.
    pub allowed_symbols: Vec<char>,
    /// Further accepted characters, given as one string.
    pub additional_allowed_characters: Option<String>,
}

impl Default for PlayerNameRules {
    /// The 0.1.0 defaults.
    fn default() -> Self {
        PlayerNameRules {
            max_length: 32,
            allow_unicode_alphanumeric: true,
            allow_spaces: true,
            allow_leading_trailing_whitespace: false,
            allowed_symbols: vec!['-', '_'],
            additional_allowed_characters: None,
        }
    }
}

impl PlayerNameRules {
    /// The rules as advertised in `ProtocolInfo.player_name_rules`. The minimum length is always
    /// 1 because the empty name is rejected by a fixed rule, not by configuration.
    pub fn to_payload(&self) -> PlayerNameRulesPayload {
        PlayerNameRulesPayload {
            max_length: self.max_length,
            min_length: 1,
            allow_unicode_alphanumeric: self.allow_unicode_alphanumeric,
            allow_spaces: self.allow_spaces,
            allow_leading_trailing_whitespace: self.allow_leading_trailing_whitespace,
            allowed_symbols: self.allowed_symbols.clone(),
            additional_allowed_characters: self.additional_allowed_characters.clone(),
        }
    }

    /// Whether `c` is accepted by the alphanumeric rule or one of the symbol lists.
    fn allows_char(&self, c: char) -> bool {
        let alphanumeric = if self.allow_unicode_alphanumeric {
            c.is_alphanumeric()
        } else {
            c.is_ascii_alphanumeric()
        };
        alphanumeric
            || self.allowed_symbols.contains(&c)
            || self
                .additional_allowed_characters
                .as_deref()
                .is_some_and(|extra| extra.contains(c))
    }
}

/// Checks `JoinRoom.player_name` or `JoinAsSpectator.spectator_name` (§6.2). The rules run in
/// 0.1.0's order so a name breaking several of them gets the same message as there.
pub fn validate_player_name(name: &str, rules: &PlayerNameRules) -> Result<(), String> {
    if name.is_empty() {
        return Err("Player name cannot be empty".to_owned());
    }
    if name.len() > rules.max_length {
        return Err(format!(
            "Player name too long (max {} characters)",
            rules.max_length
        ));
    }
    if name.trim().is_empty() {
        return Err("Player name cannot be blank".to_owned());
    }
    let padded = name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace);
    if padded && !rules.allow_leading_trailing_whitespace {
        return Err("Player name cannot have leading or trailing whitespace".to_owned());
    }
    for c in name.chars() {
        if c == ' ' {
            if !rules.allow_spaces {
                return Err("Player name cannot contain spaces".to_owned());
            }
        } else if c.is_whitespace() {
            return Err("Player name cannot contain whitespace characters".to_owned());
        } else if !rules.allows_char(c) {
            return Err("Player name contains invalid characters".to_owned());
        }
    }
    Ok(())
}

/// Checks a client-supplied `JoinRoom.room_code` (§6.3) and returns it upper-cased, the form
/// rooms are stored under, so `qx7m4d` joins `QX7M4D`. Digits `0`/`1` and letters `I`/`O` are
/// accepted here even though generated codes never contain them.
pub fn validate_room_code(code: &str, len: usize) -> Result<String, String> {
    if code.is_empty() {
        return Err("Room code cannot be empty".to_owned());
    }
    if code.len() != len {
        return Err(format!("Room code must be exactly {len} characters"));
    }
    if !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("Room code must be alphanumeric".to_owned());
    }
    Ok(code.to_ascii_uppercase())
}

/// Resolves `JoinRoom.max_players` (§6.4): absent means `default`, and the result (default
/// included) must lie in `1..=limit`.
pub fn resolve_max_players(requested: Option<u8>, default: u8, limit: u8) -> Result<u8, String> {
    let max_players = requested.unwrap_or(default);
    if max_players < 1 {
        return Err("Max players must be at least 1".to_owned());
    }
    if max_players > limit {
        return Err(format!("Max players cannot exceed {limit}"));
    }
    Ok(max_players)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn game_name_rules() {
        assert_eq!(validate_game_name("kart racer", 64), Ok(()));
        assert_eq!(validate_game_name("Kart_Racer-2", 64), Ok(()));
        assert_eq!(validate_game_name("賽車 game", 64), Ok(()));
        assert_eq!(
            validate_game_name(" ", 64),
            Ok(()),
            "all-space names are accepted"
        );
        assert_eq!(validate_game_name(" padded ", 64), Ok(()));
        assert_eq!(
            validate_game_name("", 64),
            Err("Game name cannot be empty".to_owned())
        );
        assert_eq!(validate_game_name(&"a".repeat(64), 64), Ok(()));
        assert_eq!(
            validate_game_name(&"a".repeat(65), 64),
            Err("Game name too long (max 64 characters)".to_owned())
        );
        // 22 three-byte characters are 66 bytes: too long although only 22 "characters".
        assert_eq!(
            validate_game_name(&"賽".repeat(22), 64),
            Err("Game name too long (max 64 characters)".to_owned())
        );
        assert_eq!(
            validate_game_name("x", 0),
            Err("Game name too long (max 0 characters)".to_owned())
        );
        for bad in ["kart.racer", "kart\tracer", "a@b", "a\u{a0}b", "a/b"] {
            assert_eq!(
                validate_game_name(bad, 64),
                Err("Game name contains invalid characters".to_owned()),
                "{bad:?}"
            );
        }
    }

    fn check(name: &str, rules: &PlayerNameRules) -> Result<(), String> {
        validate_player_name(name, rules)
    }

    fn err(text: &str) -> Result<(), String> {
        Err(text.to_owned())
    }

    #[test]
    fn player_name_spec_examples() {
        let rules = PlayerNameRules::default();
        assert_eq!(check("Player One", &rules), Ok(()));
        assert_eq!(check("Player-One", &rules), Ok(()));
        assert_eq!(check("Player_One", &rules), Ok(()));
        assert_eq!(check("玩家One", &rules), Ok(()));
        assert_eq!(
            check("User@123", &rules),
            err("Player name contains invalid characters")
        );
        assert_eq!(
            check("Player\tOne", &rules),
            err("Player name cannot contain whitespace characters")
        );
        assert_eq!(
            check(" spaced ", &rules),
            err("Player name cannot have leading or trailing whitespace")
        );
    }

    #[test]
    fn player_name_rule_order_and_texts() {
        let rules = PlayerNameRules::default();
        assert_eq!(check("", &rules), err("Player name cannot be empty"));
        assert_eq!(check(&"a".repeat(32), &rules), Ok(()));
        assert_eq!(
            check(&"a".repeat(33), &rules),
            err("Player name too long (max 32 characters)")
        );
        // 11 three-byte characters = 33 bytes.
        assert_eq!(
            check(&"玩".repeat(11), &rules),
            err("Player name too long (max 32 characters)")
        );
        // Length is checked before blankness.
        assert_eq!(
            check(&" ".repeat(33), &rules),
            err("Player name too long (max 32 characters)")
        );
        assert_eq!(check("   ", &rules), err("Player name cannot be blank"));
        assert_eq!(
            check("\t\u{a0}", &rules),
            err("Player name cannot be blank")
        );
        assert_eq!(
            check("Mika ", &rules),
            err("Player name cannot have leading or trailing whitespace")
        );
        assert_eq!(
            check("\u{a0}Mika", &rules),
            err("Player name cannot have leading or trailing whitespace")
        );
        assert_eq!(
            check("Mi\u{a0}ka", &rules),
            err("Player name cannot contain whitespace characters")
        );
        assert_eq!(
            check("Mi\nka", &rules),
            err("Player name cannot contain whitespace characters")
        );
        assert_eq!(
            check("Mika!", &rules),
            err("Player name contains invalid characters")
        );
    }

    #[test]
    fn player_name_configurable_rules() {
        let no_spaces = PlayerNameRules {
            allow_spaces: false,
            ..PlayerNameRules::default()
        };
        assert_eq!(
            check("Player One", &no_spaces),
            err("Player name cannot contain spaces")
        );
        // Characters are checked in order: the space comes before the tab here.
        assert_eq!(
            check("a b\tc", &no_spaces),
            err("Player name cannot contain spaces")
        );

        let padded_ok = PlayerNameRules {
            allow_leading_trailing_whitespace: true,
            ..PlayerNameRules::default()
        };
        assert_eq!(check(" spaced ", &padded_ok), Ok(()));
        // Allowed at the ends does not make a tab an accepted character.
        assert_eq!(
            check("\tMika", &padded_ok),
            err("Player name cannot contain whitespace characters")
        );
        let padded_no_spaces = PlayerNameRules {
            allow_spaces: false,
            ..padded_ok.clone()
        };
        assert_eq!(
            check(" Mika", &padded_no_spaces),
            err("Player name cannot contain spaces")
        );

        let ascii_only = PlayerNameRules {
            allow_unicode_alphanumeric: false,
            ..PlayerNameRules::default()
        };
        assert_eq!(check("Player-One", &ascii_only), Ok(()));
        assert_eq!(
            check("玩家One", &ascii_only),
            err("Player name contains invalid characters")
        );

        let symbols = PlayerNameRules {
            allowed_symbols: vec!['.'],
            additional_allowed_characters: Some("@#".to_owned()),
            ..PlayerNameRules::default()
        };
        assert_eq!(check("User@123", &symbols), Ok(()));
        assert_eq!(check("a.b#c", &symbols), Ok(()));
        assert_eq!(
            check("a-b", &symbols),
            err("Player name contains invalid characters")
        );

        let short = PlayerNameRules {
            max_length: 3,
            ..PlayerNameRules::default()
        };
        assert_eq!(check("abc", &short), Ok(()));
        assert_eq!(
            check("abcd", &short),
            err("Player name too long (max 3 characters)")
        );
    }

    #[test]
    fn player_name_rules_payload() {
        let json = serde_json::to_string(&PlayerNameRules::default().to_payload()).unwrap();
        assert_eq!(
            json,
            r#"{"max_length":32,"min_length":1,"allow_unicode_alphanumeric":true,"allow_spaces":true,"allow_leading_trailing_whitespace":false,"allowed_symbols":["-","_"]}"#
        );
        let custom = PlayerNameRules {
            max_length: 20,
            allow_unicode_alphanumeric: false,
            allow_spaces: false,
            allow_leading_trailing_whitespace: true,
            allowed_symbols: vec![],
            additional_allowed_characters: Some("!?".to_owned()),
        };
        let json = serde_json::to_string(&custom.to_payload()).unwrap();
        assert_eq!(
            json,
            r#"{"max_length":20,"min_length":1,"allow_unicode_alphanumeric":false,"allow_spaces":false,"allow_leading_trailing_whitespace":true,"allowed_symbols":[],"additional_allowed_characters":"!?"}"#
        );
    }

    #[test]
    fn room_code_rules() {
        assert_eq!(validate_room_code("QX7M4D", 6), Ok("QX7M4D".to_owned()));
        assert_eq!(validate_room_code("qx7m4d", 6), Ok("QX7M4D".to_owned()));
        assert_eq!(validate_room_code("O0I1ab", 6), Ok("O0I1AB".to_owned()));
        assert_eq!(
            validate_room_code("", 6),
            Err("Room code cannot be empty".to_owned())
        );
        for wrong_len in ["QX7M4", "QX7M4DD", "ÄBCDEF"] {
            assert_eq!(
                validate_room_code(wrong_len, 6),
                Err("Room code must be exactly 6 characters".to_owned()),
                "{wrong_len:?}"
            );
        }
        assert_eq!(validate_room_code("ABCD", 4), Ok("ABCD".to_owned()));
        // "ÄBCDE" is six bytes: the length passes, the content does not.
        for bad in ["QX7-4D", "QX7 4D", "ÄBCDE"] {
            assert_eq!(
                validate_room_code(bad, 6),
                Err("Room code must be alphanumeric".to_owned()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn max_players_resolution() {
        assert_eq!(resolve_max_players(None, 8, 100), Ok(8));
        assert_eq!(resolve_max_players(Some(4), 8, 100), Ok(4));
        assert_eq!(resolve_max_players(Some(1), 8, 100), Ok(1));
        assert_eq!(resolve_max_players(Some(100), 8, 100), Ok(100));
        assert_eq!(
            resolve_max_players(Some(0), 8, 100),
            Err("Max players must be at least 1".to_owned())
        );
        assert_eq!(
            resolve_max_players(Some(101), 8, 100),
            Err("Max players cannot exceed 100".to_owned())
        );
        assert_eq!(
            resolve_max_players(Some(255), 8, 100),
            Err("Max players cannot exceed 100".to_owned())
        );
        // The default is validated too.
        assert_eq!(
            resolve_max_players(None, 0, 100),
            Err("Max players must be at least 1".to_owned())
        );
        assert_eq!(
            resolve_max_players(None, 8, 4),
            Err("Max players cannot exceed 4".to_owned())
        );
    }
}
