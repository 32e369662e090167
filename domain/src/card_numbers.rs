//! Card numbers in customers' words (seed: CCE flows, "PCI compliance": the
//! sensitive data is masked before it reaches the agent or is recorded).
//!
//! A card number here is 13 to 19 digits, written together or in groups
//! separated by one space or one dash, whose last digit is the Luhn check
//! digit of the others. Each is replaced by `[card number ending 1234]`: the
//! last four digits are what a customer and an agent use to tell cards
//! apart (PCI DSS allows showing at most the first six and last four), and
//! the brackets say plainly that something was hidden.
//!
//! Numbers written with a leading `+` are phone numbers (E.164 has at most
//! 15 digits, so one could pass Luhn by chance) and are left alone.

/// Fewest and most digits of a card number (ISO/IEC 7812 PANs).
const MIN_DIGITS: usize = 13;
const MAX_DIGITS: usize = 19;

/// Text with its card numbers masked, and how many there were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub text: String,
    pub cards: usize,
}

/// What replaces a card number.
pub fn mask_of(last_four: &str) -> String {
    format!("[card number ending {last_four}]")
}

/// Masks every card number in `text`; other text is unchanged.
pub fn mask_card_numbers(text: &str) -> Masked {
    let spans = card_spans(text);
    if spans.is_empty() {
        return Masked {
            text: text.to_string(),
            cards: 0,
        };
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in &spans {
        out.push_str(&text[at..*start]);
        let digits: String = text[*start..*end]
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        out.push_str(&mask_of(&digits[digits.len() - 4..]));
        at = *end;
    }
    out.push_str(&text[at..]);
    Masked {
        text: out,
        cards: spans.len(),
    }
}

/// Whether `text` holds a card number.
pub fn has_card_number(text: &str) -> bool {
    !card_spans(text).is_empty()
}

/// The Luhn check (ISO/IEC 7812-1, annex B) of a string of ASCII digits.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Byte ranges of the card numbers, in order, not overlapping.
fn card_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A run: groups of digits joined by exactly one space or dash.
        let phone = i > 0 && bytes[i - 1] == b'+';
        let mut groups: Vec<(usize, usize)> = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            groups.push((start, j));
            let joined = j + 1 < bytes.len()
                && matches!(bytes[j], b' ' | b'-')
                && bytes[j + 1].is_ascii_digit();
            if !joined {
                break;
            }
            j += 1;
        }
        if !phone {
            spans.extend(cards_in_run(text, &groups));
        }
        i = j;
    }
    spans
}

/// The card numbers among consecutive groups: from each group on, the
/// longest stretch of whole groups that is a card number (longest first, so
/// nothing of a card is left showing); none from here: try the next group.
fn cards_in_run(text: &str, groups: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut first = 0;
    'from: while first < groups.len() {
        for last in (first..groups.len()).rev() {
            let digits: String = groups[first..=last]
                .iter()
                .map(|&(s, e)| &text[s..e])
                .collect();
            if (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) && luhn_valid(&digits) {
                spans.push((groups[first].0, groups[last].1));
                first = last + 1;
                continue 'from;
            }
        }
        first += 1;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_cards_are_masked_keeping_the_last_four() {
        let m = mask_card_numbers("my card is 4111 1111 1111 1111, thanks");
        assert_eq!(m.text, "my card is [card number ending 1111], thanks");
        assert_eq!(m.cards, 1);
        for written in [
            "4111111111111111",
            "4111-1111-1111-1111",
            "5555 5555 5555 4444",
            "378282246310005",     // Amex, 15 digits
            "3782 822463 10005",   // Amex grouping
            "6011 0009 9013 9424", // Discover
            "4222222222222",       // Visa, 13 digits
        ] {
            let m = mask_card_numbers(written);
            assert_eq!(m.cards, 1, "{written}");
            assert!(m.text.starts_with("[card number ending "), "{written}");
            assert!(!m.text.contains(&written[..6]), "{written}");
        }
    }

    #[test]
    fn two_cards_side_by_side_are_both_masked() {
        let m = mask_card_numbers("4111 1111 1111 1111 5555 5555 5555 4444");
        assert_eq!(
            m.text,
            "[card number ending 1111] [card number ending 4444]"
        );
        let m = mask_card_numbers("order 12 4111111111111111");
        assert_eq!(m.text, "order 12 [card number ending 1111]");
    }

    #[test]
    fn other_numbers_are_left_alone() {
        for text in [
            "4111 1111 1111 1112",        // fails Luhn
            "call me on +44 7700 900123", // a phone number
            "+4411111111116",             // a phone number that passes Luhn
            "07700 900123",
            "order 123456789012",   // 12 digits
            "4111  1111 1111 1111", // two spaces: not one number
            "webexAgent_k3m9x2p7qa",
            "",
        ] {
            assert_eq!(mask_card_numbers(text).text, text, "{text}");
            assert!(!has_card_number(text), "{text}");
        }
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid(""));
    }

    /// The check digit that makes `body` pass Luhn.
    fn check_digit(body: &str) -> char {
        (0..=9)
            .map(|d| char::from(b'0' + d))
            .find(|d| luhn_valid(&format!("{body}{d}")))
            .unwrap()
    }

    /// A number written in groups of `size` digits with `separator`.
    fn written(number: &str, size: usize, separator: &str) -> String {
        number
            .as_bytes()
            .chunks(size)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(separator)
    }

    proptest! {
        #[test]
        fn every_card_number_is_masked(
            body in "[1-9][0-9]{11,17}",
            size in 3usize..=19,
            separator in prop::sample::select(vec!["", " ", "-"]),
            before in "[a-z ,.:]{0,20}",
            after in "[a-z ,.:]{0,20}",
        ) {
            let number = format!("{body}{}", check_digit(&body));
            let text = format!("{before} {} {after}", written(&number, size, separator));
            let m = mask_card_numbers(&text);
            prop_assert!(m.cards >= 1);
            let kept: String = m.text.chars().filter(char::is_ascii_digit).collect();
            prop_assert!(kept.len() < MIN_DIGITS, "{} → {}", text, m.text);
            prop_assert!(m.text.contains(&mask_of(&number[number.len() - 4..])));
        }

        #[test]
        fn masking_is_idempotent(text in "[0-9 +a-z\\-]{0,60}") {
            let once = mask_card_numbers(&text);
            let twice = mask_card_numbers(&once.text);
            prop_assert_eq!(&twice.text, &once.text);
            prop_assert_eq!(twice.cards, 0);
        }

        #[test]
        fn numbers_failing_luhn_are_untouched(body in "[0-9]{12,18}", wrong in 1u8..=9) {
            let good = check_digit(&body) as u8 - b'0';
            let bad = char::from(b'0' + (good + wrong) % 10);
            let text = format!("ref {body}{bad} please");
            prop_assert_eq!(mask_card_numbers(&text).text, text);
        }

        #[test]
        fn phone_numbers_are_untouched(
            digits in "[1-9][0-9]{6,14}",
            size in 2usize..=5,
            separator in prop::sample::select(vec!["", " ", "-"]),
        ) {
            let text = format!("call +{} today", written(&digits, size, separator));
            prop_assert_eq!(mask_card_numbers(&text).text, text);
        }
    }
}
