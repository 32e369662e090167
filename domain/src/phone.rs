//! Phone numbers (MSISDN) in E.164 form.
//!
//! Normalization uses the libphonenumber metadata. That library has panicked on
//! odd input before, so every call into it is length-limited and wrapped in
//! `catch_unwind`: bad input is a validation error, never a crash.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::channel::Channel;

/// A phone number in E.164 form, always with a leading `+` (e.g. `+447700900123`).
/// It can only be built by [`Msisdn::parse`] on the server, or trusted from storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Msisdn(String);

impl Msisdn {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number without the leading `+` (the WhatsApp id form).
    pub fn digits(&self) -> &str {
        self.0.trim_start_matches('+')
    }

    /// The id that identifies this customer on a channel: WhatsApp ids are the
    /// digits without `+`; SMS ids are the E.164 number with `+`.
    pub fn channel_id(&self, channel: Channel) -> String {
        match channel {
            Channel::Whatsapp => self.digits().to_string(),
            Channel::Sms => self.0.clone(),
        }
    }

    /// Wraps a value that was normalized before it was stored.
    pub fn from_trusted(e164: String) -> Self {
        Msisdn(e164)
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "server")]
pub use parse::{for_people, PhoneRegion, MAX_INPUT_LEN};

#[cfg(feature = "server")]
mod parse {
    use super::Msisdn;
    use std::collections::HashMap;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::str::FromStr;
    use std::sync::Mutex;

    /// Longer input than this is rejected before it reaches the phone library.
    pub const MAX_INPUT_LEN: usize = 32;

    /// The region used for numbers written without a country code (ISO 3166
    /// alpha-2, e.g. `GB`, `US`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PhoneRegion(phonenumber::country::Id);

    impl PhoneRegion {
        pub fn code(&self) -> String {
            format!("{:?}", self.0)
        }
    }

    impl FromStr for PhoneRegion {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, Self::Err> {
            phonenumber::country::Id::from_str(&s.trim().to_ascii_uppercase())
                .map(PhoneRegion)
                .map_err(|_| {
                    format!("unknown region {s:?}: expected an ISO 3166 code such as GB or US")
                })
        }
    }

    impl Default for PhoneRegion {
        fn default() -> Self {
            PhoneRegion(phonenumber::country::Id::GB)
        }
    }

    impl Msisdn {
        /// Normalizes a phone number to E.164.
        ///
        /// Accepted forms: `+447700900123`, `00447700900123`, a national number
        /// of the default region (`07700 900123` with region GB), and bare
        /// international digits as WhatsApp sends them (`447700900123`). The
        /// error says why a number was refused.
        pub fn parse(input: &str, region: PhoneRegion) -> Result<Msisdn, String> {
            static READ: Memo<Result<Msisdn, String>> = Memo::new();
            // Longer input is refused at once, and would make the memo large.
            if input.len() > MAX_INPUT_LEN {
                return Msisdn::read(input, region);
            }
            READ.get_or(&format!("{}\n{input}", region.code()), || {
                Msisdn::read(input, region)
            })
        }

        /// [`Msisdn::parse`], without its memo.
        fn read(input: &str, region: PhoneRegion) -> Result<Msisdn, String> {
            let trimmed = input.trim();
            if trimmed.is_empty() {
                return Err("is required".into());
            }
            if trimmed.len() > MAX_INPUT_LEN {
                return Err(format!("is too long (at most {MAX_INPUT_LEN} characters)"));
            }
            if let Some(c) = trimmed
                .chars()
                .find(|c| !(c.is_ascii_digit() || " +-().".contains(*c)))
            {
                return Err(format!(
                    "not a valid phone number: unexpected character {c:?} (use digits, spaces, + - ( ) .)"
                ));
            }
            if trimmed[1..].contains('+') {
                return Err("not a valid phone number: + may only come first".into());
            }
            let digits_only: String = trimmed.chars().filter(|c| c.is_ascii_digit()).collect();
            let international = trimmed.starts_with('+') || trimmed.starts_with("00");

            // Read as written (national numbers in the default region), and, for
            // bare digits, as a full international number without the `+`
            // (the form WhatsApp ids take).
            let mut readings = vec![if let Some(rest) = trimmed.strip_prefix("00") {
                read(&format!("+{rest}"), None)
            } else if trimmed.starts_with('+') {
                read(trimmed, None)
            } else {
                read(trimmed, Some(region))
            }];
            if !international {
                readings.push(read(&format!("+{digits_only}"), None));
            }
            // Prefer a number the numbering plan knows; accept one of a possible
            // length (metadata lags new ranges, and reserved demo ranges such as
            // +44 7700 900xxx are not "valid" but are real test numbers).
            for want in [Fit::Valid, Fit::Possible] {
                if let Some(Ok(r)) = readings
                    .iter()
                    .find(|r| matches!(r, Ok(r) if r.fit >= want))
                {
                    return Ok(Msisdn(r.e164.clone()));
                }
            }
            match readings.swap_remove(0) {
                Err(why) => Err(format!("not a valid phone number: {why}")),
                Ok(r) => Err(format!("not a valid phone number: {}", r.length_problem)),
            }
        }
    }

    impl Msisdn {
        /// The number as people write it: `+44 7700 900123`.
        pub fn for_people(&self) -> String {
            for_people(self.as_str())
        }

        /// Text that, found in stored text, means this number is in it: the
        /// national significant number (`7700900123`, inside the E.164, the
        /// WhatsApp and the `07700900123` forms), and the grouped
        /// international (`+44 7700 900123`) and national (`07700 900123`)
        /// forms. Used to find and erase the number everywhere.
        pub fn written_forms(&self) -> Vec<String> {
            let grouped = catch_unwind(AssertUnwindSafe(|| {
                phonenumber::parse(None, self.as_str()).ok().map(|n| {
                    (
                        n.national().value().to_string(),
                        n.format().mode(phonenumber::Mode::National).to_string(),
                    )
                })
            }))
            .ok()
            .flatten();
            let mut forms = vec![self.digits().to_string(), self.for_people()];
            if let Some((significant, national)) = grouped {
                // The significant number is in the digits form: keep the shorter.
                forms[0] = significant;
                forms.push(national);
            }
            forms.retain(|f| f.chars().filter(char::is_ascii_digit).count() >= 6);
            forms.dedup();
            forms
        }
    }

    /// A number, or a customer's channel id (E.164, or WhatsApp's digits
    /// without `+`), as people write it: international format with the
    /// country's grouping (`+44 7700 900123`). Anything else is shown as it is.
    pub fn for_people(id: &str) -> String {
        let digits = id.strip_prefix('+').unwrap_or(id);
        if digits.is_empty()
            || digits.len() > MAX_INPUT_LEN
            || !digits.bytes().all(|c| c.is_ascii_digit())
        {
            return id.to_string();
        }
        // Pages show the same numbers again and again (a tenth of a
        // contacts page's time was this format).
        static FORMATTED: Memo<String> = Memo::new();
        FORMATTED.get_or(digits, || {
            let e164 = format!("+{digits}");
            let formatted = catch_unwind(AssertUnwindSafe(|| {
                phonenumber::parse(None, &e164).ok().map(|n| {
                    n.format()
                        .mode(phonenumber::Mode::International)
                        .to_string()
                })
            }));
            formatted.ok().flatten().unwrap_or(e164)
        })
    }

    /// The phone library's answers, remembered by their input: the same
    /// numbers come again and again (each message of a conversation, each
    /// page of contacts), and its parse and format are costly (its regex
    /// cache is smaller than some countries' rules, so it compiles them
    /// again). Emptied when full, so it stays small whatever comes in.
    struct Memo<V>(Mutex<Option<HashMap<String, V>>>);

    impl<V: Clone> Memo<V> {
        const REMEMBERED: usize = 10_000;

        const fn new() -> Self {
            Memo(Mutex::new(None))
        }

        fn get_or(&self, key: &str, compute: impl FnOnce() -> V) -> V {
            let known = self
                .0
                .lock()
                .ok()
                .and_then(|m| m.as_ref()?.get(key).cloned());
            if let Some(known) = known {
                return known;
            }
            let value = compute();
            if let Ok(mut memo) = self.0.lock() {
                let memo = memo.get_or_insert_with(HashMap::new);
                if memo.len() >= Self::REMEMBERED {
                    memo.clear();
                }
                memo.insert(key.to_string(), value.clone());
            }
            value
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Fit {
        Impossible,
        Possible,
        Valid,
    }

    struct Reading {
        e164: String,
        fit: Fit,
        length_problem: &'static str,
    }

    fn read(text: &str, region: Option<PhoneRegion>) -> Result<Reading, &'static str> {
        let text = text.to_owned();
        let outcome = catch_unwind(AssertUnwindSafe(move || {
            let number = phonenumber::parse(region.map(|r| r.0), &text).map_err(|e| reason(&e))?;
            let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
            if phonenumber::is_valid(&number) {
                return Ok(Reading {
                    e164,
                    fit: Fit::Valid,
                    length_problem: "",
                });
            }
            let national_len = number.national().to_string().len() as u16;
            let lengths: Vec<u16> = phonenumber::metadata::DATABASE
                .by_code(&number.code().value())
                .unwrap_or_default()
                .iter()
                .flat_map(|m| {
                    let d = m.descriptors();
                    [
                        Some(d.general()),
                        d.fixed_line(),
                        d.mobile(),
                        d.toll_free(),
                        d.premium_rate(),
                        d.shared_cost(),
                        d.personal_number(),
                        d.voip(),
                        d.pager(),
                        d.uan(),
                    ]
                    .into_iter()
                    .flatten()
                    .flat_map(|desc| desc.possible_length().to_vec())
                    .collect::<Vec<_>>()
                })
                .collect();
            let (fit, length_problem) = if lengths.is_empty() {
                (Fit::Impossible, "unknown country code")
            } else if lengths.contains(&national_len) {
                (Fit::Possible, "")
            } else if lengths.iter().all(|l| national_len < *l) {
                (Fit::Impossible, "too short")
            } else if lengths.iter().all(|l| national_len > *l) {
                (Fit::Impossible, "too long")
            } else {
                (Fit::Impossible, "wrong number of digits for its country")
            };
            Ok(Reading {
                e164,
                fit,
                length_problem,
            })
        }));
        outcome.unwrap_or(Err("unreadable"))
    }

    fn reason(e: &phonenumber::ParseError) -> &'static str {
        use phonenumber::ParseError as P;
        match e {
            P::NoNumber => "no digits found",
            P::InvalidCountryCode => "unknown country code",
            P::TooShortAfterIdd | P::TooShortNsn => "too short",
            P::TooLong => "too long",
            P::MalformedInteger(_) => "malformed digits",
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use proptest::prelude::*;

        fn gb() -> PhoneRegion {
            "GB".parse().unwrap()
        }

        #[test]
        fn same_number_written_many_ways_is_one_e164() {
            for input in [
                "+447700900123",
                "+44 7700 900123",
                "00447700900123",
                "07700 900123",
                "(07700) 900-123",
                "447700900123",
            ] {
                assert_eq!(
                    Msisdn::parse(input, gb()).unwrap().as_str(),
                    "+447700900123",
                    "input {input:?}"
                );
            }
        }

        #[test]
        fn region_decides_national_numbers() {
            let us: PhoneRegion = "us".parse().unwrap();
            assert_eq!(
                Msisdn::parse("(201) 555-0123", us).unwrap().as_str(),
                "+12015550123"
            );
        }

        #[test]
        fn written_forms_cover_the_ways_a_number_is_stored() {
            let m = Msisdn::parse("+447700900123", gb()).unwrap();
            assert_eq!(
                m.written_forms(),
                ["7700900123", "+44 7700 900123", "07700 900123"]
            );
        }

        #[test]
        fn channel_ids() {
            let m = Msisdn::parse("+447700900123", gb()).unwrap();
            assert_eq!(m.channel_id(crate::Channel::Whatsapp), "447700900123");
            assert_eq!(m.channel_id(crate::Channel::Sms), "+447700900123");
        }

        #[test]
        fn refusals_say_why() {
            assert_eq!(Msisdn::parse("  ", gb()).unwrap_err(), "is required");
            assert!(Msisdn::parse("12", gb())
                .unwrap_err()
                .starts_with("not a valid phone number"));
            assert!(Msisdn::parse("+999123456789", gb())
                .unwrap_err()
                .contains("country code"));
            assert!(Msisdn::parse("0770a900123", gb())
                .unwrap_err()
                .contains("unexpected character 'a'"));
            assert!(Msisdn::parse(&"1".repeat(100), gb())
                .unwrap_err()
                .contains("too long"));
            assert!(Msisdn::parse("+44 1", gb()).is_err());
            assert!(Msisdn::parse("3520+010", gb())
                .unwrap_err()
                .contains("+ may only come first"));
        }

        #[test]
        fn numbers_for_people_are_international_and_grouped() {
            let m = Msisdn::parse("07700900123", gb()).unwrap();
            assert_eq!(m.for_people(), "+44 7700 900123");
            // WhatsApp ids are digits without the +.
            assert_eq!(for_people("447700900123"), "+44 7700 900123");
            assert_eq!(for_people("+12015550123"), "+1 201-555-0123");
            assert_eq!(for_people("+33612345678"), "+33 6 12 34 56 78");
            // Not a number: shown as it is.
            assert_eq!(for_people("guest-42"), "guest-42");
            assert_eq!(for_people(""), "");
        }

        #[test]
        fn unknown_region_is_an_error() {
            assert!("XX".parse::<PhoneRegion>().is_err());
        }

        #[test]
        fn hostile_inputs_never_panic() {
            let long_plus = "+".repeat(40);
            let inputs = [
                "+",
                "++",
                "00",
                "+0",
                "+00000000000000",
                "((((((",
                "+1 () ()",
                ")))+++",
                "0",
                "+1",
                "+80000000000",
                "+979",
                "+8",
                "---",
                "...",
                "+ - ( ) .",
                long_plus.as_str(),
                "+4",
                "+44",
                "+44 0",
                "1-800-FLOWERS",
                "\u{0}",
                "+٤٤٧٧",
                "+1 ext. 5",
                "tel:+447700900123",
            ];
            for input in inputs {
                let _ = Msisdn::parse(input, gb());
            }
        }

        proptest! {
            #[test]
            fn arbitrary_strings_never_panic(s in "\\PC{0,40}") {
                let _ = Msisdn::parse(&s, gb());
            }

            #[test]
            fn phone_shaped_strings_never_panic(s in "[+0-9 ()\\-.]{0,40}") {
                let _ = Msisdn::parse(&s, gb());
            }

            #[test]
            fn normalization_is_idempotent(s in "[+0-9 ]{4,20}") {
                if let Ok(m) = Msisdn::parse(&s, gb()) {
                    let again = Msisdn::parse(m.as_str(), gb()).expect("E.164 output parses again");
                    prop_assert_eq!(again, m);
                }
            }
        }
    }
}
