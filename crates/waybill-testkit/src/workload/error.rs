//! What the workload's modules share: their `Result` and the error for
//! a mistake of the generator's own.

use crate::error::KitError;

pub(super) type Result<T, E = KitError> = std::result::Result<T, E>;

/// The generator's own mistake: `what` went wrong inside it.
pub(super) fn internal(what: impl Into<String>) -> KitError {
    KitError::Workload(format!("internal: {}", what.into()))
}
