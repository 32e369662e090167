//! One pattern for enums stored and exchanged as words (`active`,
//! `whatsapp`, `ask_name`): [`named_enum!`] gives each the same `as_str`,
//! `ALL`, `Display`, `FromStr` (trimmed, ASCII case ignored) and equality
//! with its word, so no enum
//! carries a hand-written pair that can drift apart.

/// Why a word names none of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub expected: &'static [&'static str],
}

impl std::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown {} {:?}: expected {}",
            self.what,
            self.given,
            self.expected
                .iter()
                .map(|e| format!("\"{e}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl std::error::Error for UnknownName {}

/// `named_enum!(Type, "what it is", { Variant => "word", ... })` on an
/// enum declared separately (so its derives and docs stay readable).
#[macro_export]
macro_rules! named_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            const NAMES: &'static [&'static str] = &[$($name),+];

            /// The stored and exchanged word.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// A value equals its word (handy where JSON or a row is checked).
        impl PartialEq<&str> for $ty {
            fn eq(&self, word: &&str) -> bool {
                self.as_str() == *word
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::names::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let word = s.trim();
                $(if word.eq_ignore_ascii_case($name) {
                    return Ok($ty::$variant);
                })+
                Err($crate::names::UnknownName {
                    what: $what,
                    given: word.to_string(),
                    expected: $ty::NAMES,
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Colour {
        Red,
        DarkBlue,
    }
    crate::named_enum!(Colour, "colour", { Red => "red", DarkBlue => "dark_blue" });

    #[test]
    fn words_round_trip_and_unknown_ones_say_what_exists() {
        for c in Colour::ALL {
            assert_eq!(c.as_str().parse::<Colour>(), Ok(*c));
            assert_eq!(c.to_string(), c.as_str());
        }
        assert_eq!(" Dark_Blue ".parse::<Colour>(), Ok(Colour::DarkBlue));
        let err = "green".parse::<Colour>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown colour \"green\": expected \"red\", \"dark_blue\""
        );
    }
}
