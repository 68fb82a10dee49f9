//! The one canonical codec.
//!
//! Every byte string that is signed, hashed or stored comes from here:
//! bincode 2.0.1 through serde with one fixed configuration (big-endian,
//! fixed-width integers). Decoding untrusted bytes is bounded by a size
//! limit, must consume every byte, and must re-encode to exactly the input,
//! so two different byte strings never decode to the same value.
//!
//! Nothing else in the workspace calls bincode, so the format can be swapped
//! here alone (with a visible change to the golden-hash fixtures).

use bincode::error::EncodeError;
use serde::{de::DeserializeOwned, Serialize};

/// Largest encoded entry accepted from outside (64 KiB).
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;
/// Largest encoded block accepted from outside (64 MiB).
pub const MAX_BLOCK_BYTES: usize = 64 * 1024 * 1024;
/// Largest encoded genesis (1 MiB).
pub const MAX_GENESIS_BYTES: usize = 1024 * 1024;

/// A failure to decode canonical bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input is longer than the limit for its kind.
    #[error("{what} is {len} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Input length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a valid encoding.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// Decoder's reason.
        reason: String,
    },
    /// Bytes were left over after a complete value.
    #[error("{what} has {extra} trailing bytes after a complete value")]
    TrailingBytes {
        /// What was being decoded.
        what: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// The bytes decode but are not the canonical encoding of the value.
    #[error("{what} is not in canonical form")]
    NotCanonical {
        /// What was being decoded.
        what: &'static str,
    },
    /// A value could not be encoded (only possible for values over the
    /// format's limits, such as a sequence longer than `u64::MAX`).
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// Encoder's reason.
        reason: String,
    },
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_no_limit()
}

fn config_limited<const N: usize>() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<N>()
}

/// Encodes a value canonically.
///
/// Encoding our own types cannot fail: they contain no maps with
/// non-deterministic order and no unsupported serde features.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // serde types in this crate have no unencodable shapes; an empty
    // vector can never verify or decode, so a failure fails closed.
    encode_sized(value).unwrap_or_default()
}

/// Encodes a value canonically, reporting encoder failures.
pub fn try_encode<T: Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<Vec<u8>, CodecError> {
    encode_sized(value).map_err(|e| CodecError::Encode {
        what,
        reason: e.to_string(),
    })
}

/// Writes a value's canonical encoding to `out` as it is made (for a large
/// value, which then needs neither a buffer of its size nor a pass to
/// measure it); returns the number of bytes written. An I/O error is
/// reported as an encoder failure.
pub fn encode_to_writer<T: Serialize + ?Sized, W: std::io::Write>(
    what: &'static str,
    value: &T,
    out: &mut W,
) -> Result<usize, CodecError> {
    bincode::serde::encode_into_std_write(value, out, config()).map_err(|e| CodecError::Encode {
        what,
        reason: e.to_string(),
    })
}

/// Appends a value's canonical encoding to `out` (for building one buffer
/// from consecutive values, whose encodings concatenate).
pub fn encode_append<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let mut w = ExactVec(std::mem::take(out));
    // As in `encode`: our types always encode. On a failure `out` keeps
    // what was written, which can never verify or decode as the value.
    let _ = bincode::serde::encode_into_writer(value, &mut w, config());
    *out = w.0;
}

/// The length of a value's canonical encoding, found without building it.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    // As in `encode`: our types always encode; 0 is never a valid length.
    size_of_encoding(value).unwrap_or(0)
}

fn size_of_encoding<T: Serialize + ?Sized>(value: &T) -> Result<usize, EncodeError> {
    let mut size = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(value, &mut size, config())?;
    Ok(size.bytes_written)
}

/// Encodes into a buffer of exactly the right size. Serde's `encode_to_vec`
/// grows its vector from empty, and the copies and reallocations cost more
/// than the extra pass that measures first.
fn encode_sized<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let mut out = ExactVec(Vec::with_capacity(size_of_encoding(value)?));
    bincode::serde::encode_into_writer(value, &mut out, config())?;
    Ok(out.0)
}

struct ExactVec(Vec<u8>);

impl bincode::enc::write::Writer for ExactVec {
    #[inline(always)]
    fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Decodes canonical bytes of at most `LIMIT` bytes, rejecting trailing
/// bytes and non-canonical encodings.
pub fn decode<T: Serialize + DeserializeOwned, const LIMIT: usize>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, CodecError> {
    if bytes.len() > LIMIT {
        return Err(CodecError::TooLarge {
            what,
            len: bytes.len(),
            limit: LIMIT,
        });
    }
    let (value, used) = decode_prefix::<T, LIMIT>(what, bytes)?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes {
            what,
            extra: bytes.len() - used,
        });
    }
    Ok(value)
}

/// Decodes one value from the front of `bytes` (at most `LIMIT` bytes are
/// claimed) and checks that it is in canonical form; returns it with the
/// number of bytes it took. For reading a sequence piece by piece while
/// keeping each piece's bytes at hand.
pub fn decode_prefix<T: Serialize + DeserializeOwned, const LIMIT: usize>(
    what: &'static str,
    bytes: &[u8],
) -> Result<(T, usize), CodecError> {
    let (value, used): (T, usize) =
        bincode::serde::decode_from_slice(bytes, config_limited::<LIMIT>()).map_err(|e| {
            CodecError::Malformed {
                what,
                reason: e.to_string(),
            }
        })?;
    let taken = bytes.get(..used).ok_or_else(|| CodecError::Malformed {
        what,
        reason: "the decoder read past the end".into(),
    })?;
    if !encodes_to(what, &value, taken)? {
        return Err(CodecError::NotCanonical { what });
    }
    Ok((value, used))
}

/// Whether `value` encodes to exactly `bytes`, compared as the encoder
/// writes, so no second copy is made (a snapshot is about 100 MB for a
/// million entries, and every stored block is decoded this way).
fn encodes_to<T: Serialize + ?Sized>(
    what: &'static str,
    value: &T,
    bytes: &[u8],
) -> Result<bool, CodecError> {
    let mut cmp = CompareWriter {
        rest: bytes,
        differs: false,
    };
    match bincode::serde::encode_into_writer(value, &mut cmp, config()) {
        Ok(()) => Ok(cmp.rest.is_empty()),
        Err(_) if cmp.differs => Ok(false),
        Err(e) => Err(CodecError::Encode {
            what,
            reason: e.to_string(),
        }),
    }
}

/// A writer that checks the encoding against expected bytes and stops at
/// the first difference.
struct CompareWriter<'a> {
    rest: &'a [u8],
    differs: bool,
}

impl bincode::enc::write::Writer for CompareWriter<'_> {
    #[inline(always)]
    fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        match self.rest.split_at_checked(bytes.len()) {
            Some((head, tail)) if head == bytes => {
                self.rest = tail;
                Ok(())
            }
            _ => {
                self.differs = true;
                Err(EncodeError::Other("the encoding differs"))
            }
        }
    }
}

/// Decodes trusted bytes that this node wrote itself (no size limit, but
/// still the full canonical check).
pub fn decode_trusted<T: Serialize + DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, CodecError> {
    decode::<T, { usize::MAX }>(what, bytes)
}

/// Decodes trusted bytes that this node wrote itself from a stream,
/// with the same checks as [`decode_trusted`] but without holding the
/// bytes: `bytes` is read once to decode (no trailing bytes allowed), and
/// `again`, a second reader over the same bytes, is compared with the
/// value's encoding as the encoder writes it. Returns the value and how
/// many bytes it took. For the state snapshot, whose size (about 120 MB
/// for a million entries) would otherwise sit in memory beside the state
/// decoded from it.
pub fn decode_trusted_reader<T: Serialize + DeserializeOwned>(
    what: &'static str,
    bytes: impl std::io::Read,
    again: impl std::io::Read,
) -> Result<(T, u64), CodecError> {
    let malformed = |reason: String| CodecError::Malformed { what, reason };
    let mut counted = CountingReader {
        inner: std::io::BufReader::with_capacity(STREAM_BUFFER, bytes),
        read: 0,
    };
    let value: T = bincode::serde::decode_from_std_read(&mut counted, config())
        .map_err(|e| malformed(e.to_string()))?;
    let used = counted.read;
    let mut extra = 0usize;
    let mut buf = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut counted.inner, &mut buf) {
            Ok(0) => break,
            Ok(n) => extra = extra.saturating_add(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(malformed(e.to_string())),
        }
    }
    if extra > 0 {
        return Err(CodecError::TrailingBytes { what, extra });
    }
    let mut cmp = ReaderCompareWriter {
        expected: std::io::BufReader::with_capacity(STREAM_BUFFER, again),
        buf: Vec::new(),
        left: used,
        failed: None,
    };
    match bincode::serde::encode_into_writer(&value, &mut cmp, config()) {
        Ok(()) if cmp.left == 0 => Ok((value, used)),
        Ok(()) => Err(CodecError::NotCanonical { what }),
        Err(_) if cmp.failed.is_some() => match cmp.failed {
            Some(Mismatch::Differs) | None => Err(CodecError::NotCanonical { what }),
            Some(Mismatch::Io(e)) => Err(malformed(e)),
        },
        Err(e) => Err(CodecError::Encode {
            what,
            reason: e.to_string(),
        }),
    }
}

/// The read buffer of [`decode_trusted_reader`].
const STREAM_BUFFER: usize = 1 << 20;

/// A reader that counts what it gives out.
struct CountingReader<R> {
    inner: R,
    read: u64,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Why a [`ReaderCompareWriter`] stopped.
enum Mismatch {
    Differs,
    Io(String),
}

/// A writer that checks the encoding against the next `left` bytes of a
/// reader and stops at the first difference.
struct ReaderCompareWriter<R> {
    expected: R,
    buf: Vec<u8>,
    left: u64,
    failed: Option<Mismatch>,
}

impl<R: std::io::Read> bincode::enc::write::Writer for ReaderCompareWriter<R> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let len = bytes.len() as u64;
        if len > self.left {
            self.failed = Some(Mismatch::Differs);
            return Err(EncodeError::Other("the encoding is longer"));
        }
        self.buf.resize(bytes.len(), 0);
        if let Err(e) = std::io::Read::read_exact(&mut self.expected, &mut self.buf) {
            self.failed = Some(Mismatch::Io(e.to_string()));
            return Err(EncodeError::Other("the bytes could not be read again"));
        }
        if self.buf != bytes {
            self.failed = Some(Mismatch::Differs);
            return Err(EncodeError::Other("the encoding differs"));
        }
        self.left -= len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_decodes_with_the_same_checks() {
        let v: (u32, String, Vec<u8>) = (7, "coffee".into(), vec![1, 2, 3]);
        let bytes = encode(&v);
        let (back, used): ((u32, String, Vec<u8>), u64) =
            decode_trusted_reader("tuple", &bytes[..], &bytes[..]).unwrap();
        assert_eq!((back, used), (v.clone(), bytes.len() as u64));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode_trusted_reader::<(u32, String, Vec<u8>)>("tuple", &longer[..], &longer[..]),
            Err(CodecError::TrailingBytes { extra: 1, .. })
        ));
        let short = &bytes[..bytes.len() - 1];
        assert!(matches!(
            decode_trusted_reader::<(u32, String, Vec<u8>)>("tuple", short, short),
            Err(CodecError::Malformed { .. })
        ));
        // A bool is one byte, 0 or 1: anything else is not canonical.
        assert!(matches!(
            decode_trusted_reader::<bool>("flag", &[2u8][..], &[2u8][..]),
            Err(CodecError::Malformed { .. }) | Err(CodecError::NotCanonical { .. })
        ));
        // The second reading must match the first.
        let mut changed = bytes.clone();
        if let Some(b) = changed.last_mut() {
            *b ^= 1;
        }
        assert!(matches!(
            decode_trusted_reader::<(u32, String, Vec<u8>)>("tuple", &bytes[..], &changed[..]),
            Err(CodecError::NotCanonical { .. })
        ));
        assert!(matches!(
            decode_trusted_reader::<(u32, String, Vec<u8>)>("tuple", &bytes[..], short),
            Err(CodecError::Malformed { .. })
        ));
    }

    #[test]
    fn round_trip_and_limits() {
        let v: (u32, String, Vec<u8>) = (7, "coffee".into(), vec![1, 2, 3]);
        let bytes = encode(&v);
        let back: (u32, String, Vec<u8>) = decode::<_, 1024>("tuple", &bytes).unwrap();
        assert_eq!(back, v);
        assert!(matches!(
            decode::<(u32, String, Vec<u8>), 8>("tuple", &bytes),
            Err(CodecError::TooLarge { .. })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode::<(u32, String, Vec<u8>), 1024>("tuple", &longer),
            Err(CodecError::TrailingBytes { extra: 1, .. })
        ));
        assert!(matches!(
            decode::<(u32, String, Vec<u8>), 1024>("tuple", &bytes[..bytes.len() - 1]),
            Err(CodecError::Malformed { .. })
        ));
    }

    #[test]
    fn encodes_to_compares_whole_encodings() {
        let v: (u32, String) = (7, "coffee".into());
        let bytes = encode(&v);
        assert_eq!(encodes_to("t", &v, &bytes), Ok(true));
        assert_eq!(encodes_to("t", &v, &bytes[..bytes.len() - 1]), Ok(false));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(encodes_to("t", &v, &longer), Ok(false));
        let mut changed = bytes.clone();
        changed[5] ^= 1;
        assert_eq!(encodes_to("t", &v, &changed), Ok(false));
        assert_eq!(encodes_to("t", &v, &[]), Ok(false));
    }

    #[test]
    fn encoded_len_is_the_length_of_the_encoding() {
        let v: (u32, String, Vec<u64>, Option<[u8; 3]>) =
            (7, "coffee".into(), vec![1, 2, 3], Some([1, 2, 3]));
        assert_eq!(encoded_len(&v), encode(&v).len());
        assert_eq!(encoded_len(&v), 4 + 8 + 6 + 8 + 24 + 1 + 3);
        let long = "x".repeat(100_000);
        assert_eq!(encoded_len(&long), encode(&long).len());
        assert_eq!(encode(&long).capacity(), 100_008);
    }

    #[test]
    fn bool_other_than_zero_or_one_is_rejected() {
        // A decoder that accepted 2 as `true` would give two encodings of one value.
        assert!(decode::<bool, 16>("bool", &[2]).is_err());
        assert!(decode::<bool, 16>("bool", &[1]).unwrap());
    }

    #[test]
    fn length_prefix_bomb_is_bounded() {
        // A u64 length of 2^60 must not allocate.
        let mut bytes = vec![0x10, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&[0; 8]);
        assert!(decode::<Vec<u8>, 1024>("vec", &bytes).is_err());
    }
}
