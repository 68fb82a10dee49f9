//! Canonical text without a heap allocation per value.
//!
//! Identifiers and codes have one canonical string, which is also their
//! serde form. Encoding an entry writes several of them, and lookups format
//! them to find them again, so formatting goes to a stack buffer instead of
//! a `String` each time.

use std::fmt::{self, Display, Write as _};
use std::marker::PhantomData;
use std::str::FromStr;

/// Bytes kept on the stack. Valid ids are at most 82 bytes.
const STACK: usize = 128;

/// A value's `Display` text, formatted once: on the stack when it fits,
/// on the heap when it does not.
pub enum Formatted {
    /// The text fits: its bytes and length.
    Stack([u8; STACK], usize),
    /// A longer text.
    Heap(String),
}

impl Formatted {
    /// Formats `value`.
    pub fn of(value: &impl Display) -> Formatted {
        let mut text = Formatted::Stack([0; STACK], 0);
        // Writing to memory cannot fail; a `Display` that reports an error
        // leaves what it wrote, as `to_string` would panic instead.
        let _ = write!(text, "{value}");
        text
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            // Only whole `str` pieces are copied in, so this is always
            // UTF-8 and never falls back to the empty string.
            Formatted::Stack(buf, len) => buf
                .get(..*len)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default(),
            Formatted::Heap(s) => s,
        }
    }
}

impl fmt::Write for Formatted {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match self {
            Formatted::Stack(buf, len) => match buf.get_mut(*len..*len + s.len()) {
                Some(dst) => {
                    dst.copy_from_slice(s.as_bytes());
                    *len += s.len();
                }
                None => {
                    let mut heap = String::with_capacity(*len + s.len());
                    heap.push_str(self.as_str());
                    heap.push_str(s);
                    *self = Formatted::Heap(heap);
                }
            },
            Formatted::Heap(h) => h.push_str(s),
        }
        Ok(())
    }
}

/// Serializes `value` as its canonical (`Display`) string.
pub fn serialize_display<T: Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(Formatted::of(value).as_str())
}

/// Deserializes a value from its canonical string with `FromStr`, parsing
/// the decoder's borrowed text where it has one (no `String` in between).
pub fn deserialize_parsed<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: Display,
    D: serde::Deserializer<'de>,
{
    struct Parse<T>(PhantomData<T>);

    impl<T> serde::de::Visitor<'_> for Parse<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            v.parse().map_err(E::custom)
        }
    }

    deserializer.deserialize_str(Parse(PhantomData))
}

/// Implements `Serialize`/`Deserialize` as the canonical string
/// (`Display`/`FromStr`).
macro_rules! string_serde {
    ($($ty:ty),* $(,)?) => {$(
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $crate::text::serialize_display(self, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::text::deserialize_parsed(deserializer)
            }
        }
    )*};
}

pub(crate) use string_serde;

/// [`string_serde`] for types that hold their text (a fixed code, or an
/// id kept as its canonical form): serialized as the `&str` `$code`
/// returns (the same text as their `Display`, without formatting), parsed
/// with `FromStr`.
macro_rules! code_serde {
    ($($ty:ty => $code:ident),* $(,)?) => {$(
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.$code())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::text::deserialize_parsed(deserializer)
            }
        }
    )*};
}

pub(crate) use code_serde;

#[cfg(test)]
mod tests {
    use super::*;

    struct Pieces(usize);

    impl Display for Pieces {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for i in 0..self.0 {
                write!(f, "{}", i % 10)?;
            }
            Ok(())
        }
    }

    #[test]
    fn formatted_text_is_to_string_on_both_sides_of_the_stack_limit() {
        for n in [0, 1, 82, STACK - 1, STACK, STACK + 1, 1000] {
            let text = Formatted::of(&Pieces(n));
            assert_eq!(text.as_str(), Pieces(n).to_string(), "{n} characters");
            assert_eq!(matches!(text, Formatted::Heap(_)), n > STACK, "{n}");
        }
        let multi_byte = "é".repeat(STACK);
        assert_eq!(Formatted::of(&multi_byte).as_str(), multi_byte);
    }

    #[test]
    fn string_serde_reads_borrowed_escaped_and_encoded_text_and_refuses_the_rest() {
        use crate::codec;
        use crate::gs1::LotId;

        let lot: LotId = "(01)09506000134352(10)A\\(1)/B%C?".parse().unwrap();
        // JSON: plain, and with escapes (which the decoder cannot lend).
        let json = serde_json::to_string(&lot).unwrap();
        assert_eq!(serde_json::from_str::<LotId>(&json).unwrap(), lot);
        let escaped = json.replace("(01)", "\\u0028\\u0030\\u0031\\u0029");
        assert_ne!(escaped, json);
        assert_eq!(serde_json::from_str::<LotId>(&escaped).unwrap(), lot);
        // The canonical codec: the same bytes as the string itself.
        let bytes = codec::encode(&lot);
        assert_eq!(bytes, codec::encode(&lot.to_string()));
        assert_eq!(codec::decode::<LotId, 1024>("lot", &bytes).unwrap(), lot);
        // Not a string, or not a valid id: refused, saying why.
        let e = serde_json::from_str::<LotId>("42").unwrap_err().to_string();
        assert!(e.contains("expected a string"), "{e}");
        let e = serde_json::from_str::<LotId>("\"(01)123\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("GTIN"), "{e}");
        assert!(codec::decode::<LotId, 1024>("lot", &codec::encode(&"(01)123")).is_err());
    }
}

/// Milliseconds since the Unix epoch as RFC 3339 in UTC, to the second
/// (`2026-12-06T04:20:00Z`), for messages. Pure arithmetic (days to the
/// civil date), so the core needs no time library.
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod time_tests {
    use super::rfc3339_ms;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_ms(1_796_530_800_123), "2026-12-06T04:20:00Z");
        assert_eq!(rfc3339_ms(-1_000), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_ms(253_402_300_799_000), "9999-12-31T23:59:59Z");
    }
}
