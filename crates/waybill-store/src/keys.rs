//! Key layout: a one-byte namespace, then a big-endian height, so byte
//! order is chain order. Every block is a fixed handful of keys, whatever
//! its size: nothing is written per entry.

/// The genesis TOML text.
pub const GENESIS: &[u8] = b"G";
/// The tip height (8 bytes big-endian).
pub const TIP: &[u8] = b"T";
/// The store format version.
pub const FORMAT: &[u8] = b"V";
/// `P ‖ UETR` → the openings of a payment's sealed terms, off the ledger
/// (see `terms.rs`).
pub const TERMS: &[u8] = b"P";
/// `D ‖ entry id` → the salts of the documents an entry references, off
/// the ledger (see `salts.rs`).
pub const SALTS: &[u8] = b"D";

/// Namespaces of per-block values.
pub mod ns {
    /// height → canonical block.
    pub const BLOCK: u8 = b'B';
    /// height → canonical header.
    pub const HEADER: u8 = b'H';
    /// height → the block's map: entry ids, entry offsets in the block,
    /// Merkle interior nodes (see `block_map.rs`).
    pub const MAP: u8 = b'I';
    /// height → commit certificate.
    pub const CERT: u8 = b'C';
    /// height → the log's stored hashes its entries added (see `log.rs`);
    /// none for a block without entries.
    pub const LOG: u8 = b'L';
    /// height → the validators' cosignatures of the log's checkpoint as
    /// of the block (see `cosign.rs`); none for a block committed without.
    pub const COSIG: u8 = b'S';
    /// height → the completeness index's root with the block committed
    /// (see `complete.rs`).
    pub const INDEX: u8 = b'X';
    // b'D' held each block's delta up to store format 7; the deltas are
    // now in the delta log (`delta_log.rs`).
}

/// `ns ‖ height`.
pub fn at_height(ns: u8, height: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(ns);
    k.extend_from_slice(&height.to_be_bytes());
    k
}
