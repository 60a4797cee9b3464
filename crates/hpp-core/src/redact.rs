//! Masking of personal data and secrets for `Debug`, `Display` and logs.
//!
//! Every place in the SDK that prints something a user or the server sent goes through these
//! helpers, so that what counts as "masked" is decided once.

use std::fmt;

/// The text printed in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// Masks an e-mail address: the first character of the local part and of the domain, and the
/// top-level domain, survive (`j***@e***.com`). Anything that is not shaped like an address is
/// masked completely.
pub fn mask_email(address: &str) -> String {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return mask_all(address);
    };
    let first = |s: &str| s.chars().next().filter(|c| c.is_ascii_alphanumeric());
    let mut out = String::new();
    out.extend(first(local));
    out.push_str("***@");
    out.extend(first(domain));
    out.push_str("***");
    if let Some((_, tld)) = domain.rsplit_once('.')
        && !tld.is_empty()
        && tld.len() <= 10
        && tld.chars().all(|c| c.is_ascii_alphabetic())
    {
        out.push('.');
        out.push_str(tld);
    }
    out
}

/// Masks a phone number, keeping only its last two digits (`*********45`).
pub fn mask_phone(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 {
        return mask_all(number);
    }
    let mut out = "*".repeat(digits.len() - 2);
    out.extend(&digits[digits.len() - 2..]);
    out
}

/// Masks a value completely, saying only how long it was.
pub fn mask_all(value: &str) -> String {
    format!("<{} chars masked>", value.chars().count())
}

/// Replaces everything in free text that looks like an e-mail address or a phone number with
/// its masked form. Used on messages that came from the server, which may echo the contact data
/// back.
///
/// A phone number is a run of at least 7 digits, optionally after a `+`, with separators between
/// them: any space (also no-break, thin, figure and narrow no-break spaces), any dash or hyphen
/// (`-`, U+2010 to U+2015, minus), `.`, `/`, parentheses, or invisible joiners (`+46 70 000 21 345`,
/// `(070) 000-21-345`, `070‑000‑21‑345`, `tel:+4670…`, `phone=070…`), that is not part of a
/// longer word (a UUID, `v2x1234567`). An e-mail address is a word with an `@` (or its
/// full-width forms) between any spaces. Over-masking a number that is not a phone is preferred
/// to printing one that is.
pub fn scrub(text: &str) -> String {
    mask_phone_runs(&mask_email_words(text))
}

/// Characters read as an `@`.
fn is_at_sign(c: char) -> bool {
    matches!(c, '@' | '\u{FF20}' | '\u{FE6B}')
}

fn mask_email_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        let trimmed = word.trim_matches(|c: char| "\"'()[]{}<>,;:.!?".contains(c));
        if trimmed.contains(is_at_sign) {
            let normalised: String = trimmed.chars().map(|c| if is_at_sign(c) { '@' } else { c }).collect();
            out.push_str(&word.replace(trimmed, &mask_email(&normalised)));
            out.push_str(&piece[word.len()..]);
        } else {
            out.push_str(piece);
        }
    }
    out
}

/// The shortest run of digits [`scrub`] takes for a phone number.
const PHONE_MIN_DIGITS: usize = 7;

/// Characters that may stand between the digits of a phone number.
fn is_phone_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.'
                | '/'
                | '('
                | ')'
                | '\u{00AD}' // soft hyphen
                | '\u{2010}'..='\u{2015}' // hyphen, non-breaking hyphen, figure dash, en and em dash, bar
                | '\u{2212}' // minus
                | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' // small and full-width dashes
                | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' // zero-width spaces and joiners
        )
}

fn mask_phone_runs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let after_word = i > 0 && chars[i - 1].is_alphanumeric();
        let starts =
            c.is_ascii_digit() || (matches!(c, '+' | '(') && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts || after_word {
            out.push(c);
            i += 1;
            continue;
        }
        // A run holds at least one digit (it starts at one, or at a `+` or `(` before one), so `end` moves.
        let (mut digits, mut end) = (0, i);
        let mut j = i;
        while j < chars.len() && (chars[j].is_ascii_digit() || is_phone_separator(chars[j]) || (j == i && c == '+')) {
            if chars[j].is_ascii_digit() {
                digits += 1;
                end = j + 1;
            }
            j += 1;
        }
        let run: String = chars[i..end].iter().collect();
        let before_word = chars.get(end).is_some_and(|c| c.is_alphanumeric());
        if digits >= PHONE_MIN_DIGITS && !before_word {
            out.push_str(&mask_phone(&run));
        } else {
            out.push_str(&run);
        }
        i = end;
    }
    out
}

/// `Debug` for an optional secret: `Some(<redacted>)` or `None`, never the value.
pub(crate) struct RedactedOption<'a, T>(pub(crate) &'a Option<T>);

impl<T> fmt::Debug for RedactedOption<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some(<redacted>)"),
            None => f.write_str("None"),
        }
    }
}

/// `Debug` for an optional value shown through a masking function.
pub(crate) struct MaskedOption<'a>(pub(crate) &'a Option<String>, pub(crate) fn(&str) -> String);

impl fmt::Debug for MaskedOption<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "Some({:?})", (self.1)(v)),
            None => f.write_str("None"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@e***.com");
        assert_eq!(mask_email("nonsense"), "<8 chars masked>");
        assert_eq!(mask_phone("+46 70 000 21 345"), "**********45");
        assert_eq!(
            scrub("Invalid email 'jane@example.com' or phone 07000212345."),
            "Invalid email 'j***@e***.com' or phone *********45."
        );
    }

    #[test]
    fn phone_numbers_are_masked_in_every_common_format() {
        for (text, expected) in [
            ("phone +46 70 000 21 345 refused", "phone **********45 refused"),
            ("phone 070-000 21 345.", "phone *********45."),
            ("call (070) 000-21-34", "call ********34"),
            ("tel:+46700021345", "tel:*********45"),
            ("phone=0700021345&x", "phone=********45&x"),
            ("070.000.21.345", "*********45"),
            ("+1 (555) 010-9999", "*********99"),
            ("number 0046\u{a0}70\u{a0}000\u{a0}2134", "number ***********34"),
            ("070\u{2011}000\u{2011}21\u{2011}345", "*********45"),
            ("070\u{2013}000\u{2013}21345", "*********45"),
            ("+46\u{202f}70\u{202f}000\u{202f}21\u{202f}345", "**********45"),
            ("+46\u{2009}70\u{2009}000\u{2009}21\u{2009}345", "**********45"),
            ("+46\u{2007}70\u{2007}000\u{2007}21\u{2007}345", "**********45"),
            ("070\u{200b}0002\u{200b}1345", "*********45"),
            ("mail jane.doe\u{ff20}example.com\u{2009}now", "mail j***@e***.com\u{2009}now"),
        ] {
            assert_eq!(scrub(text), expected, "{text}");
        }
    }

    #[test]
    fn ids_and_short_numbers_are_left_alone() {
        for text in [
            "session 9cbc9884-1fdb-45a8-9694-9340340d0436 not found",
            "correlation id 4a1c0b7e-3b5c-4b7e-9f6a-1234567890ab",
            "quota 100 per day, 3 retries",
            "build v2x1234567",
            "order ABC1234567",
        ] {
            assert_eq!(scrub(text), text);
        }
    }
}
