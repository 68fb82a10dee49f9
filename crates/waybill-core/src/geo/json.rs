//! The small JSON reader GeoJSON input is read with, which keeps each
//! number as the text it was written as, and the JSON string writer
//! GeoJSON output uses.

use std::collections::HashSet;

use super::error::GeoError;
use crate::transport::clip;

/// How deep GeoJSON input may nest; a feature collection of polygons
/// needs seven levels.
const MAX_JSON_DEPTH: usize = 32;

/// A JSON value as [`plots_from_geojson`] reads it: numbers kept as the
/// text they were written as.
///
/// [`plots_from_geojson`]: super::plots_from_geojson
#[derive(Debug)]
pub(super) enum Json<'a> {
    Null,
    Bool,
    Number(&'a str),
    String(String),
    Array(Vec<Json<'a>>),
    Object(Vec<(String, Json<'a>)>),
}

impl Json<'_> {
    /// What it is, for an error message.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// A JSON reader over the whole input, at byte `at`.
pub(super) struct Reader<'a> {
    pub(super) text: &'a str,
    pub(super) at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// The error `reason` at the current place, as line and column.
    fn error(&self, reason: impl Into<String>) -> GeoError {
        let before = self.text.as_bytes().get(..self.at).unwrap_or_default();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = before
            .get(line_start..)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        GeoError::Json {
            line: before.iter().filter(|&&b| b == b'\n').count() + 1,
            column: column + 1,
            reason: reason.into(),
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Reads the whole input as one value.
    pub(super) fn document(mut self) -> Result<Json<'a>, GeoError> {
        let value = self.value(0)?;
        self.skip_whitespace();
        if self.at < self.text.len() {
            return Err(self.error("there is more text after the GeoJSON object"));
        }
        Ok(value)
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, GeoError> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error("the text ends where a value should be")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Json::Number),
            Some(b't') => self.word("true", Json::Bool),
            Some(b'f') => self.word("false", Json::Bool),
            Some(b'n') => self.word("null", Json::Null),
            Some(_) => {
                let c = self
                    .text
                    .get(self.at..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or('?');
                Err(self.error(format!("unexpected character {c:?}")))
            }
        }
    }

    fn word(&mut self, word: &str, value: Json<'a>) -> Result<Json<'a>, GeoError> {
        if self.text.get(self.at..self.at + word.len()) == Some(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error(
                "expected a value (true, false, null, a number, a string, an array or an object)",
            ))
        }
    }

    fn nest(&self, depth: usize) -> Result<(), GeoError> {
        if depth > MAX_JSON_DEPTH {
            return Err(self.error(format!(
                "it nests deeper than {MAX_JSON_DEPTH} levels, which no plot needs"
            )));
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>, GeoError> {
        self.nest(depth)?;
        self.at += 1;
        let mut members = Vec::new();
        let mut names = HashSet::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a member name in double quotes"));
            }
            let name_at = self.at;
            let name = self.string()?;
            if !names.insert(name.clone()) {
                self.at = name_at;
                return Err(self.error(format!(
                    "the member `{}` appears twice in one object",
                    clip(&name)
                )));
            }
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:` after a member name"));
            }
            self.at += 1;
            let value = self.value(depth)?;
            members.push((name, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error("expected `,` or `}` after an object's member")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, GeoError> {
        self.nest(depth)?;
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected `,` or `]` after an array's item")),
            }
        }
    }

    /// A number's text, checked against JSON's grammar.
    fn number(&mut self) -> Result<&'a str, GeoError> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut at = start;
        let digits = |at: &mut usize| {
            let from = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at - from
        };
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        let int_at = at;
        let int = digits(&mut at);
        if int == 0 {
            self.at = at;
            return Err(self.error("a number needs a digit after `-`"));
        }
        if int > 1 && bytes.get(int_at) == Some(&b'0') {
            self.at = int_at;
            return Err(self.error("a number must not start with 0 (other than 0 itself)"));
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            if digits(&mut at) == 0 {
                self.at = at;
                return Err(self.error("a number needs a digit after its `.`"));
            }
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            if digits(&mut at) == 0 {
                self.at = at;
                return Err(self.error("a number needs a digit in its exponent"));
            }
        }
        self.at = at;
        Ok(self.text.get(start..at).unwrap_or_default())
    }

    /// A string, its escapes undone.
    fn string(&mut self) -> Result<String, GeoError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let rest = self.text.get(self.at..).unwrap_or_default();
            let Some(stop) = rest
                .bytes()
                .position(|b| b == b'"' || b == b'\\' || b < 0x20)
            else {
                self.at = self.text.len();
                return Err(self.error("the text ends inside a string"));
            };
            out.push_str(rest.get(..stop).unwrap_or_default());
            self.at += stop;
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    out.push(self.escape()?);
                }
                _ => return Err(self.error("a control character inside a string must be escaped")),
            }
        }
    }

    /// The character an escape (after its `\`) stands for.
    fn escape(&mut self) -> Result<char, GeoError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.at += 1;
                let high = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&high) {
                    if self.text.get(self.at..self.at + 2) != Some("\\u") {
                        return Err(
                            self.error("a high surrogate must be followed by `\\u` and a low one")
                        );
                    }
                    self.at += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(self.error("a high surrogate must be followed by a low one"));
                    }
                    0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    high
                };
                return char::from_u32(code)
                    .ok_or_else(|| self.error("a low surrogate must follow a high one"));
            }
            _ => {
                return Err(self
                    .error("unknown escape; JSON knows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\u"))
            }
        };
        self.at += 1;
        Ok(c)
    }

    fn hex4(&mut self) -> Result<u32, GeoError> {
        let code = self
            .text
            .get(self.at..self.at + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.error("`\\u` must be followed by four hex digits"))?;
        self.at += 4;
        Ok(code)
    }
}

/// Writes `s` as a JSON string.
pub(super) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Result<Json<'_>, GeoError> {
        Reader { text, at: 0 }.document()
    }

    #[test]
    fn json_reader_keeps_number_text_and_undoes_escapes() {
        let Ok(Json::Array(items)) = json(
            r#" [4.600000, -0, 1e5, "a\"\\\/\b\f\n\r\t\u00e9\ud83c\udf31", true, false, null, {}] "#,
        ) else {
            panic!("not read");
        };
        assert!(matches!(items.first(), Some(Json::Number("4.600000"))));
        assert!(matches!(items.get(1), Some(Json::Number("-0"))));
        assert!(matches!(items.get(2), Some(Json::Number("1e5"))));
        let Some(Json::String(s)) = items.get(3) else {
            panic!("no string");
        };
        assert_eq!(s, "a\"\\/\u{8}\u{c}\n\r\té🌱");
        assert!(matches!(items.get(7), Some(Json::Object(m)) if m.is_empty()));
    }

    #[test]
    fn json_reader_refuses_what_json_does_not_allow() {
        for (bad, line, column) in [
            ("", 1, 1),
            ("{", 1, 2),
            ("[1,]", 1, 4),
            ("[01]", 1, 2),
            ("[1.]", 1, 4),
            ("[-]", 1, 3),
            ("[1e]", 1, 4),
            ("{\"a\":1,\n \"a\":2}", 2, 2),
            ("\"\\x\"", 1, 3),
            ("\"\\ud800\"", 1, 8),
            ("\"\\udc00\"", 1, 8),
            ("\"a\nb\"", 1, 3),
            ("[1] [2]", 1, 5),
            ("[nul]", 1, 2),
            ("{'a':1}", 1, 2),
            ("é", 1, 1),
        ] {
            match json(bad) {
                Err(GeoError::Json {
                    line: l, column: c, ..
                }) => assert_eq!((l, c), (line, column), "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let deep = "[".repeat(MAX_JSON_DEPTH + 1);
        let e = json(&deep).unwrap_err().to_string();
        assert!(e.contains("deeper than 32"), "{e}");
        assert!(json(&format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        ))
        .is_ok());
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\u000ad\u0001é""#);
        let Ok(Json::String(back)) = json(&out) else {
            panic!("not read back");
        };
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }
}
