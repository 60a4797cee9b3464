//! Byte classes as lookup tables, for the checks that run on every request built (session ids,
//! e-mail addresses): one table read per byte instead of a chain of comparisons or a search.

/// A table of the ASCII letters and digits and the bytes of `extra`: `table[b]` is whether `b`
/// is one of them.
pub(crate) const fn alphanumeric_and(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}
