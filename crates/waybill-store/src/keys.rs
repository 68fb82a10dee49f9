//! Key layout: a one-byte namespace, then big-endian numbers or ids, so
//! byte order is numeric order and a prefix scan is an index lookup.

use waybill_core::crypto::PublicKey;
use waybill_core::entry::EntryId;

/// The genesis TOML text.
pub const GENESIS: &[u8] = b"G";
/// The tip height (8 bytes big-endian).
pub const TIP: &[u8] = b"T";
/// The store format version.
pub const FORMAT: &[u8] = b"V";

/// Namespaces.
pub mod ns {
    /// height → canonical block.
    pub const BLOCK: u8 = b'B';
    /// height → canonical header.
    pub const HEADER: u8 = b'H';
    /// height → entry ids, concatenated.
    pub const IDS: u8 = b'I';
    /// height → commit certificate.
    pub const CERT: u8 = b'C';
    /// entry id → height ‖ index.
    pub const ENTRY: u8 = b'E';
    /// lot ‖ 0 ‖ height ‖ index → ().
    pub const BY_LOT: u8 = b'L';
    /// shipment ‖ 0 ‖ height ‖ index → ().
    pub const BY_SHIPMENT: u8 = b'S';
    /// payment ‖ 0 ‖ height ‖ index → ().
    pub const BY_PAYMENT: u8 = b'P';
    /// author key ‖ height ‖ index → ().
    pub const BY_AUTHOR: u8 = b'A';
    /// input lot ‖ 0 ‖ produced lot → ().
    pub const MADE_FROM: u8 = b'F';
    /// height ‖ index → () for membership changes.
    pub const MEMBERSHIP: u8 = b'M';
    /// State: lot → LotState.
    pub const LOT: u8 = b'l';
    /// State: shipment → ShipmentState.
    pub const SHIPMENT: u8 = b's';
    /// State: payment → PaymentState.
    pub const PAYMENT: u8 = b'p';
    /// State: member key → MemberRecord.
    pub const MEMBER: u8 = b'm';
    /// State: author key → last nonce.
    pub const NONCE: u8 = b'n';
}

/// `ns ‖ height`.
pub fn at_height(ns: u8, height: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(ns);
    k.extend_from_slice(&height.to_be_bytes());
    k
}

/// `ns ‖ text ‖ 0` (ids never contain NUL), the prefix of an index.
pub fn text_prefix(ns: u8, text: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(text.len() + 2);
    k.push(ns);
    k.extend_from_slice(text.as_bytes());
    k.push(0);
    k
}

/// `ns ‖ text`, a state key.
pub fn text_key(ns: u8, text: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(text.len() + 1);
    k.push(ns);
    k.extend_from_slice(text.as_bytes());
    k
}

/// `ns ‖ key`.
pub fn key_key(ns: u8, key: &PublicKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(ns);
    k.extend_from_slice(&key.0);
    k
}

/// `ns ‖ id`.
pub fn entry_key(id: &EntryId) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(ns::ENTRY);
    k.extend_from_slice(&id.0);
    k
}

/// `height ‖ index`.
pub fn position(height: u64, index: u32) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[..8].copy_from_slice(&height.to_be_bytes());
    p[8..].copy_from_slice(&index.to_be_bytes());
    p
}

/// Reads a `height ‖ index` from the last 12 bytes.
pub fn parse_position(bytes: &[u8]) -> Option<(u64, u32)> {
    let tail = bytes.get(bytes.len().checked_sub(12)?..)?;
    let h = u64::from_be_bytes(tail[..8].try_into().ok()?);
    let i = u32::from_be_bytes(tail[8..].try_into().ok()?);
    Some((h, i))
}
