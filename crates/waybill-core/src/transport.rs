//! Transport facts on a dispatch, a receipt or a carrier's handover: bill
//! of lading, containers (ISO 6346) and seals, the vessel (IMO number) and
//! voyage, and times.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::text::{code_serde, string_serde};

code_serde!(ContainerNumber => as_str);
string_serde!(ImoNumber);

/// The most containers one transport may list.
pub const MAX_CONTAINERS: usize = 64;

/// The most seals one transport may list.
pub const MAX_SEALS: usize = 64;

/// The most characters a free text (a bill of lading number, a seal, a
/// vessel's name, a voyage, a plot's id, a device's id) may have.
pub const MAX_TEXT_CHARS: usize = 200;

/// Shortens user input for an error message, so one bad value cannot flood
/// a log; control characters are shown escaped.
pub(crate) fn clip(input: &str) -> String {
    const MAX: usize = 80;
    let mut s: String = input
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if input.chars().nth(MAX).is_some() {
        s.push('…');
    }
    s
}

/// Why a free text is refused, as the end of a sentence that starts with
/// its field's name; `None` if it is non-empty, at most
/// [`MAX_TEXT_CHARS`] characters long and free of control characters.
pub(crate) fn text_fault(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return Some("is empty; leave it out or give a value".into());
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Some(format!(
            "`{}` has {chars} characters; at most {MAX_TEXT_CHARS} are allowed",
            clip(text)
        ));
    }
    text.chars().find(|c| c.is_control()).map(|c| {
        format!(
            "`{}` contains the control character U+{:04X}; control characters are not allowed",
            clip(text),
            u32::from(c)
        )
    })
}

/// The ISO 6346 value of a container number's letter: 10 for `A`, counting
/// up and skipping the multiples of 11, so 38 for `Z`.
fn letter_value(letter: u8) -> Option<u32> {
    if !letter.is_ascii_uppercase() {
        return None;
    }
    let mut value = 10;
    for _ in b'A'..letter {
        value += 1;
        if value % 11 == 0 {
            value += 1;
        }
    }
    Some(value)
}

/// The ISO 6346 check digit for the first ten characters of a container
/// number (owner code, category and serial number, upper case), e.g. `3`
/// for `CSQU305438`. `None` unless `body` is four upper-case letters and
/// six digits.
pub fn container_check_digit(body: &str) -> Option<u8> {
    let bytes = body.as_bytes();
    if bytes.len() != 10 {
        return None;
    }
    let mut sum: u32 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let value = if i < 4 {
            letter_value(b)?
        } else if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            return None;
        };
        sum += value << i;
    }
    u8::try_from(sum % 11 % 10).ok()
}

/// An ISO 6346 freight container number: owner code (three letters),
/// category (`U`, `J` or `Z`), six digits and a check digit, e.g.
/// `CSQU3054383`. Parsed upper case, spaces and a dash before the check
/// digit allowed on input; shown compact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerNumber(String);

impl ContainerNumber {
    /// The eleven characters, e.g. `CSQU3054383`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owner code: the first three letters, e.g. `CSQ`.
    pub fn owner_code(&self) -> &str {
        self.0.get(..3).unwrap_or_default()
    }

    /// The equipment category: `U` (freight container), `J` (detachable
    /// equipment) or `Z` (trailer or chassis).
    pub fn category(&self) -> char {
        self.0.chars().nth(3).unwrap_or('U')
    }

    /// The six-digit serial number, e.g. `305438`.
    pub fn serial(&self) -> &str {
        self.0.get(4..10).unwrap_or_default()
    }
}

impl FromStr for ContainerNumber {
    type Err = TransportError;

    fn from_str(s: &str) -> Result<Self, TransportError> {
        let fail = |reason: &str| TransportError::Container {
            input: clip(s),
            reason: reason.to_owned(),
        };
        let mut compact: String = s
            .chars()
            .filter(|&c| c != ' ')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if let Some(dash) = compact.find('-') {
            // Only one dash, and only right before the check digit.
            if dash != 10 || compact.len() != 12 {
                return Err(fail(
                    "a dash may only stand before the check digit, as in CSQU 305438-3",
                ));
            }
            compact.remove(dash);
        }
        let bytes = compact.as_bytes();
        if bytes.len() != 11 || !compact.is_ascii() {
            return Err(fail(
                "it must have 11 characters: an owner code of three letters, U, J or Z, six digits and a check digit, as in CSQU3054383",
            ));
        }
        let (letters, digits) = bytes.split_at(4);
        if !letters.iter().all(u8::is_ascii_uppercase) {
            return Err(fail(
                "it must start with four letters (the owner code and the category)",
            ));
        }
        if !matches!(letters.get(3), Some(b'U' | b'J' | b'Z')) {
            return Err(fail("its fourth letter (the category) must be U, J or Z"));
        }
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(fail(
                "the four letters must be followed by seven digits (the serial number and the check digit)",
            ));
        }
        let (body, given) = compact.split_at(10);
        let expected = container_check_digit(body).unwrap_or(0);
        if given.as_bytes() != [b'0' + expected] {
            return Err(TransportError::ContainerCheckDigit {
                input: compact,
                expected,
            });
        }
        Ok(ContainerNumber(compact))
    }
}

impl fmt::Display for ContainerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The IMO check digit for the first six digits of an IMO number: the
/// digits weighted 7, 6, 5, 4, 3 and 2, summed, modulo 10.
fn imo_check_digit(six: u32) -> u32 {
    (0..6)
        .map(|i| (six / 10u32.pow(i)) % 10 * (i + 2))
        .sum::<u32>()
        % 10
}

/// An IMO ship identification number: seven digits, the last a check
/// digit, e.g. `IMO 9074729`. Parsed with or without the `IMO` prefix
/// (in any case, with or without a space after it); shown and serialized
/// as `IMO` and the seven digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImoNumber(u32);

impl ImoNumber {
    /// The seven digits as a number, e.g. `9074729`.
    pub fn number(self) -> u32 {
        self.0
    }
}

impl FromStr for ImoNumber {
    type Err = TransportError;

    fn from_str(s: &str) -> Result<Self, TransportError> {
        let digits = match s.get(..3) {
            Some(prefix) if prefix.eq_ignore_ascii_case("IMO") => {
                s.get(3..).unwrap_or_default().trim_start_matches(' ')
            }
            _ => s,
        };
        if digits.len() != 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TransportError::Imo {
                input: clip(s),
                reason:
                    "it must be seven digits, with or without `IMO` before them, as in IMO 9074729"
                        .into(),
            });
        }
        let number: u32 = digits.parse().map_err(|_| TransportError::Imo {
            input: clip(s),
            reason: "it must be seven digits".into(),
        })?;
        let expected = imo_check_digit(number / 10);
        if number % 10 != expected {
            return Err(TransportError::ImoCheckDigit {
                input: clip(s),
                expected: u8::try_from(expected).unwrap_or(0),
            });
        }
        Ok(ImoNumber(number))
    }
}

impl fmt::Display for ImoNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IMO {:07}", self.0)
    }
}

/// A vessel and its voyage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vessel {
    /// The ship's IMO number.
    pub imo: ImoNumber,
    /// Its name, for people.
    pub name: Option<String>,
    /// The carrier's voyage number.
    pub voyage: Option<String>,
}

/// What a transport document says about one leg.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transport {
    /// Bill of lading (or air waybill, CMR) number.
    pub bill_of_lading: Option<String>,
    /// Containers.
    pub containers: Vec<ContainerNumber>,
    /// Seal numbers.
    pub seals: Vec<String>,
    /// The vessel, for a sea leg.
    pub vessel: Option<Vessel>,
    /// When the leg departed (ms since the Unix epoch).
    pub departed_at_ms: Option<i64>,
    /// When it arrived.
    pub arrived_at_ms: Option<i64>,
}

impl Transport {
    /// Checks what parsing cannot: every text is non-empty, at most
    /// [`MAX_TEXT_CHARS`] characters long and free of control characters;
    /// there are at most [`MAX_CONTAINERS`] containers, none listed twice,
    /// and at most [`MAX_SEALS`] seals; the leg does not arrive before it
    /// departs.
    pub fn check(&self) -> Result<(), TransportError> {
        let text = |field: String, value: &str| match text_fault(value) {
            Some(reason) => Err(TransportError::Text { field, reason }),
            None => Ok(()),
        };
        if let Some(bl) = &self.bill_of_lading {
            text("transport.bill_of_lading".into(), bl)?;
        }
        if self.containers.len() > MAX_CONTAINERS {
            return Err(TransportError::TooMany {
                field: "transport.containers",
                count: self.containers.len(),
                what: "containers",
                max: MAX_CONTAINERS,
            });
        }
        let mut seen: HashMap<&ContainerNumber, usize> = HashMap::new();
        for (index, container) in self.containers.iter().enumerate() {
            if let Some(&first) = seen.get(container) {
                return Err(TransportError::DuplicateContainer {
                    index,
                    container: container.to_string(),
                    first,
                });
            }
            seen.insert(container, index);
        }
        if self.seals.len() > MAX_SEALS {
            return Err(TransportError::TooMany {
                field: "transport.seals",
                count: self.seals.len(),
                what: "seals",
                max: MAX_SEALS,
            });
        }
        for (i, seal) in self.seals.iter().enumerate() {
            text(format!("transport.seals[{i}]"), seal)?;
        }
        if let Some(vessel) = &self.vessel {
            if let Some(name) = &vessel.name {
                text("transport.vessel.name".into(), name)?;
            }
            if let Some(voyage) = &vessel.voyage {
                text("transport.vessel.voyage".into(), voyage)?;
            }
        }
        if let (Some(departed), Some(arrived)) = (self.departed_at_ms, self.arrived_at_ms) {
            if arrived < departed {
                return Err(TransportError::ArrivesBeforeDeparture { departed, arrived });
            }
        }
        Ok(())
    }
}

/// Why a container number, an IMO number or a transport is refused. Each
/// message names the field or the kind of number, and the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A container number that is not shaped like one.
    #[error("container `{input}` is not an ISO 6346 container number: {reason}")]
    Container {
        /// The input, shortened if very long.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A container number whose check digit is wrong.
    #[error("container `{input}` has a wrong check digit (expected {expected})")]
    ContainerCheckDigit {
        /// The number, normalised to eleven upper-case characters.
        input: String,
        /// The check digit its first ten characters call for.
        expected: u8,
    },

    /// An IMO number that is not shaped like one.
    #[error("IMO number `{input}` is invalid: {reason}")]
    Imo {
        /// The input, shortened if very long.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An IMO number whose check digit is wrong.
    #[error("IMO number `{input}` has a wrong check digit (expected {expected})")]
    ImoCheckDigit {
        /// The input.
        input: String,
        /// The check digit its first six digits call for.
        expected: u8,
    },

    /// A free text that is empty, too long or holds control characters.
    #[error("{field} {reason}")]
    Text {
        /// The field, e.g. `transport.seals[1]`.
        field: String,
        /// Why, e.g. "is empty; leave it out or give a value".
        reason: String,
    },

    /// Too many containers or seals.
    #[error("{field} lists {count} {what}; at most {max} are allowed")]
    TooMany {
        /// The field, e.g. `transport.containers`.
        field: &'static str,
        /// How many it lists.
        count: usize,
        /// What they are, e.g. "containers".
        what: &'static str,
        /// The most allowed.
        max: usize,
    },

    /// A container listed twice.
    #[error("transport.containers[{index}] `{container}` is already listed as transport.containers[{first}]")]
    DuplicateContainer {
        /// Where it is listed again.
        index: usize,
        /// The container.
        container: String,
        /// Where it is listed first.
        first: usize,
    },

    /// An arrival before the departure.
    #[error("transport.arrived_at_ms {arrived} is before transport.departed_at_ms {departed}; a leg cannot arrive before it departs")]
    ArrivesBeforeDeparture {
        /// The departure (ms since the Unix epoch).
        departed: i64,
        /// The arrival.
        arrived: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letter_values_skip_the_multiples_of_eleven() {
        let values: Vec<u32> = (b'A'..=b'Z').filter_map(letter_value).collect();
        let expected: Vec<u32> = (10..=38).filter(|n| n % 11 != 0).collect();
        assert_eq!(values, expected);
        assert_eq!(letter_value(b'a'), None);
        assert_eq!(letter_value(b'1'), None);
    }

    #[test]
    fn container_check_digit_needs_four_letters_and_six_digits() {
        assert_eq!(container_check_digit("CSQU305438"), Some(3));
        assert_eq!(container_check_digit("CSQU30543"), None);
        assert_eq!(container_check_digit("CSQ1305438"), None);
        assert_eq!(container_check_digit("CSQU3054A8"), None);
        assert_eq!(container_check_digit("csqu305438"), None);
    }

    #[test]
    fn container_parts() {
        let c: ContainerNumber = "csqu 305438-3".parse().unwrap();
        assert_eq!(c.as_str(), "CSQU3054383");
        assert_eq!(c.owner_code(), "CSQ");
        assert_eq!(c.category(), 'U');
        assert_eq!(c.serial(), "305438");
    }

    #[test]
    fn container_shapes_refused() {
        for bad in [
            "",
            "CSQU305438",
            "CSQU30543833",
            "CSQU-3054383",
            "CSQU305438--3",
            "CSQX3054383",
            "CS1U3054383",
            "CSQU30543A3",
            "ÇSQU3054383",
        ] {
            let e = bad.parse::<ContainerNumber>().unwrap_err();
            assert!(matches!(e, TransportError::Container { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn imo_forms() {
        let imo: ImoNumber = "IMO9074729".parse().unwrap();
        assert_eq!(imo.number(), 9_074_729);
        assert_eq!(imo.to_string(), "IMO 9074729");
        assert_eq!("imo 9074729".parse::<ImoNumber>().unwrap(), imo);
        for bad in [
            "",
            "IMO",
            "907472",
            "90747290",
            "IMO-9074729",
            "9O74729",
            " 9074729",
        ] {
            let e = bad.parse::<ImoNumber>().unwrap_err();
            assert!(matches!(e, TransportError::Imo { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn text_faults() {
        assert_eq!(text_fault("MSKU 123"), None);
        assert_eq!(text_fault(&"é".repeat(MAX_TEXT_CHARS)), None);
        assert!(text_fault("").is_some());
        assert!(text_fault("  ").is_some());
        let long = text_fault(&"x".repeat(MAX_TEXT_CHARS + 1)).unwrap();
        assert!(long.contains("201 characters"), "{long}");
        assert!(long.contains('…'), "{long}");
        let control = text_fault("A\nB").unwrap();
        assert!(control.contains("`A\\nB`"), "{control}");
        assert!(control.contains("U+000A"), "{control}");
    }
}
