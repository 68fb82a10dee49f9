//! Transport facts on a dispatch, a receipt or a carrier's handover: bill
//! of lading, containers (ISO 6346) and seals, the vessel (IMO number) and
//! voyage, and times.

use serde::{Deserialize, Serialize};

/// An ISO 6346 freight container number: owner code (three letters),
/// category (`U`, `J` or `Z`), six digits and a check digit, e.g.
/// `CSQU3054383`. Parsed upper case, spaces and a dash before the check
/// digit allowed on input; shown compact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContainerNumber(String);

/// An IMO ship identification number: seven digits, the last a check
/// digit, e.g. `IMO 9074729`. Parsed with or without the `IMO` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ImoNumber(u32);

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
