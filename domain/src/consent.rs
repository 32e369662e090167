//! Opting out of and back into messages by keyword, the way carriers and
//! WhatsApp Business treat these words: a customer who sends one of them as
//! the whole message changes their consent for that channel.

use serde::{Deserialize, Serialize};

/// Words that opt a number out (any case, the whole message).
pub const OPT_OUT_WORDS: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
/// Words that opt it back in.
pub const OPT_IN_WORDS: [&str; 2] = ["START", "UNSTOP"];

/// What a consent keyword asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentChange {
    OptOut,
    OptIn,
}

/// The keyword a message is, if it is one: the whole message, trimmed, in
/// any case, with trailing punctuation allowed ("Stop.", "STOP!"). A
/// sentence that merely contains the word ("please stop calling") is not.
pub fn consent_keyword(text: &str) -> Option<(ConsentChange, String)> {
    let word = text
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_punctuation())
        .trim()
        .to_ascii_uppercase();
    if OPT_OUT_WORDS.contains(&word.as_str()) {
        Some((ConsentChange::OptOut, word))
    } else if OPT_IN_WORDS.contains(&word.as_str()) {
        Some((ConsentChange::OptIn, word))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_in_any_case_and_with_punctuation() {
        for word in OPT_OUT_WORDS {
            for written in [
                word.to_string(),
                word.to_lowercase(),
                format!(" {word}. "),
                format!("{word}!"),
            ] {
                assert_eq!(
                    consent_keyword(&written),
                    Some((ConsentChange::OptOut, word.to_string())),
                    "{written:?}"
                );
            }
        }
        assert_eq!(
            consent_keyword("Start"),
            Some((ConsentChange::OptIn, "START".into()))
        );
        assert_eq!(
            consent_keyword("unstop"),
            Some((ConsentChange::OptIn, "UNSTOP".into()))
        );
    }

    #[test]
    fn sentences_and_other_words_are_not_keywords() {
        for text in [
            "please stop calling",
            "stop it now",
            "RESTART",
            "STOPPED",
            "end of story",
            "",
            "HELP",
        ] {
            assert_eq!(consent_keyword(text), None, "{text:?}");
        }
    }
}
