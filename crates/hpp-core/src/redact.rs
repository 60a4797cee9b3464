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
    if let Some((_, tld)) = domain.rsplit_once('.') {
        if !tld.is_empty() && tld.len() <= 10 && tld.chars().all(|c| c.is_ascii_alphabetic()) {
            out.push('.');
            out.push_str(tld);
        }
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

/// Replaces everything in free text that looks like an e-mail address or a long run of digits
/// (a phone number) with its masked form. Used on messages that came from the server, which may
/// echo the contact data back.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let trimmed = word.trim_matches(|c: char| "\"'()[]{}<>,;:.!?".contains(c));
        let digit_count = trimmed.chars().filter(char::is_ascii_digit).count();
        if trimmed.contains('@') {
            out.push_str(&word.replace(trimmed, &mask_email(trimmed)));
        } else if digit_count >= 7 && trimmed.chars().all(|c| c.is_ascii_digit() || "+-() ".contains(c)) {
            out.push_str(&word.replace(trimmed, &mask_phone(trimmed)));
        } else {
            out.push_str(word);
        }
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
}
