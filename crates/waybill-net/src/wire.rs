//! The bytes of one gossip message: a batch of signed entries.
//!
//! ```text
//! version  u8        1
//! count    u32 BE    1 ..= MAX_BATCH_ENTRIES
//! count × {
//!   len    u32 BE    1 ..= the entry size limit
//!   bytes  [u8; len] the entry's canonical bytes (waybill-core's codec)
//! }
//! ```
//!
//! Nothing may follow the last entry. This framing is the only thing here
//! not made by waybill-core's codec: nothing is signed over it (each entry
//! carries its own signatures), and the gossip message id, the sha256 of
//! these bytes, only serves to drop duplicate messages. A list of entries
//! has exactly one encoding, so two messages with the same entries in the
//! same order have the same id.

use waybill_core::entry::SignedEntry;

/// The first byte of a batch in this format.
pub const BATCH_VERSION: u8 = 1;
/// Most entries in one message.
pub const MAX_BATCH_ENTRIES: usize = 1024;
/// Bytes of framing before the entries.
pub const BATCH_HEADER: usize = 1 + 4;
/// Bytes of framing per entry.
pub const ENTRY_HEADER: usize = 4;

/// Why bytes are not a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than its framing says.
    #[error("the message ends inside its framing or an entry")]
    Truncated,
    /// Another format, or not a batch at all.
    #[error("the message is not an entry batch of version {BATCH_VERSION} (first byte {0})")]
    Version(u8),
    /// No entries, or more than [`MAX_BATCH_ENTRIES`].
    #[error("a batch holds 1 to {MAX_BATCH_ENTRIES} entries, this one {0}")]
    Count(u64),
    /// An entry's length is 0 or over the limit.
    #[error("entry {index} is {len} bytes; 1 to {limit} are allowed")]
    EntrySize {
        /// Its position in the batch.
        index: usize,
        /// Its length.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// Bytes after the last entry.
    #[error("{0} bytes follow the last entry")]
    Trailing(usize),
}

/// Encodes entries given as their canonical bytes. The caller keeps to
/// [`MAX_BATCH_ENTRIES`] (and its peers' size limits).
pub fn encode_batch<B: AsRef<[u8]>>(entries: &[B]) -> Vec<u8> {
    let total: usize = entries
        .iter()
        .map(|e| e.as_ref().len() + ENTRY_HEADER)
        .sum();
    let mut out = Vec::with_capacity(BATCH_HEADER + total);
    out.push(BATCH_VERSION);
    out.extend_from_slice(
        &u32::try_from(entries.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for e in entries {
        let e = e.as_ref();
        out.extend_from_slice(&u32::try_from(e.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

/// Encodes signed entries (their canonical bytes) as one batch.
pub fn encode_entries(entries: &[SignedEntry]) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = entries.iter().map(SignedEntry::canonical_bytes).collect();
    encode_batch(&bytes)
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, WireError> {
    let end = at.checked_add(4).ok_or(WireError::Truncated)?;
    let slice = bytes.get(at..end).ok_or(WireError::Truncated)?;
    let mut word = [0u8; 4];
    word.copy_from_slice(slice);
    Ok(u32::from_be_bytes(word))
}

/// Splits a batch into its entries' bytes (not decoded yet), each at most
/// `max_entry_bytes`. Reads only the framing, so junk costs little.
pub fn decode_batch(bytes: &[u8], max_entry_bytes: usize) -> Result<Vec<&[u8]>, WireError> {
    let version = *bytes.first().ok_or(WireError::Truncated)?;
    if version != BATCH_VERSION {
        return Err(WireError::Version(version));
    }
    let count = u64::from(u32_at(bytes, 1)?);
    if count == 0 || count > MAX_BATCH_ENTRIES as u64 {
        return Err(WireError::Count(count));
    }
    // Every entry takes at least its header and one byte.
    let room = bytes.len().saturating_sub(BATCH_HEADER) / (ENTRY_HEADER + 1);
    if count > room as u64 {
        return Err(WireError::Truncated);
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut at = BATCH_HEADER;
    for index in 0..count as usize {
        let len = u32_at(bytes, at)? as usize;
        if len == 0 || len > max_entry_bytes {
            return Err(WireError::EntrySize {
                index,
                len: len as u64,
                limit: max_entry_bytes,
            });
        }
        at += ENTRY_HEADER;
        let end = at.checked_add(len).ok_or(WireError::Truncated)?;
        out.push(bytes.get(at..end).ok_or(WireError::Truncated)?);
        at = end;
    }
    if at != bytes.len() {
        return Err(WireError::Trailing(bytes.len() - at));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_decodes_to_exactly_what_was_encoded() {
        let entries: Vec<Vec<u8>> = vec![vec![1, 2, 3], vec![4], vec![5; 300]];
        let bytes = encode_batch(&entries);
        assert_eq!(bytes.len(), BATCH_HEADER + 3 * ENTRY_HEADER + 3 + 1 + 300);
        assert_eq!(&bytes[..5], &[BATCH_VERSION, 0, 0, 0, 3]);
        let back = decode_batch(&bytes, 300).unwrap();
        assert_eq!(back, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
        // One encoding per list: encoding what was decoded gives the bytes.
        assert_eq!(encode_batch(&back), bytes);
    }

    #[test]
    fn every_malformed_frame_is_refused_for_its_own_reason() {
        let bytes = encode_batch(&[vec![7u8; 10], vec![8u8; 20]]);
        assert_eq!(decode_batch(&[], 100), Err(WireError::Truncated));
        let mut other = bytes.clone();
        other[0] = 2;
        assert_eq!(decode_batch(&other, 100), Err(WireError::Version(2)));
        assert_eq!(
            decode_batch(&encode_batch::<Vec<u8>>(&[]), 100),
            Err(WireError::Count(0))
        );
        let mut many = vec![BATCH_VERSION];
        many.extend_from_slice(&(MAX_BATCH_ENTRIES as u32 + 1).to_be_bytes());
        assert_eq!(
            decode_batch(&many, 100),
            Err(WireError::Count(MAX_BATCH_ENTRIES as u64 + 1))
        );
        // A count that the bytes cannot hold is refused before any allocation.
        let mut claims = vec![BATCH_VERSION];
        claims.extend_from_slice(&1000u32.to_be_bytes());
        claims.extend_from_slice(&[0, 0, 0, 1, 9]);
        assert_eq!(decode_batch(&claims, 100), Err(WireError::Truncated));
        assert_eq!(
            decode_batch(&bytes, 19),
            Err(WireError::EntrySize {
                index: 1,
                len: 20,
                limit: 19
            })
        );
        assert!(matches!(
            decode_batch(&encode_batch(&[Vec::<u8>::new(), vec![1], vec![2; 6]]), 100),
            Err(WireError::EntrySize {
                index: 0,
                len: 0,
                ..
            })
        ));
        assert_eq!(
            decode_batch(&bytes[..bytes.len() - 1], 100),
            Err(WireError::Truncated)
        );
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode_batch(&trailing, 100), Err(WireError::Trailing(1)));
        assert!(decode_batch(&bytes, 100).is_ok());
    }
}
