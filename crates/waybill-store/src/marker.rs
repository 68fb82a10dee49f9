//! The marker file that makes a directory a Waybill ledger.
//!
//! Its own module because both the directory layout (`datadir.rs`, which
//! writes and looks for it) and the errors (`error.rs`, which name it when
//! it is missing) need the name, and neither should import the other.

/// The marker file's name.
pub const MARKER_FILE: &str = "WAYBILL-LEDGER";
