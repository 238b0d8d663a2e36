//! The hash that links audit rows.

use sha2::{Digest, Sha256};

/// `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 over the row's fields and the previous hash. Each field is length-prefixed,
/// so moving bytes from one field to the next changes the hash.
pub fn row_hash(
    seq: i64,
    at: &str,
    actor: &str,
    event: &str,
    subject: &str,
    details: &str,
    prev_hash: &str,
) -> String {
    let mut h = Sha256::new();
    let seq = seq.to_string();
    for field in [seq.as_str(), at, actor, event, subject, details, prev_hash] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_boundaries_matter() {
        let a = row_hash(1, "t", "ab", "c", "s", "{}", GENESIS_HASH);
        let b = row_hash(1, "t", "a", "bc", "s", "{}", GENESIS_HASH);
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }
}
