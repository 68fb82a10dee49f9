//! The kit's error, for the paths that must not panic, and parsing text
//! into what it should be.

/// What can go wrong on the kit's non-panicking paths (the demo's story,
/// the benchmark's workload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KitError {
    /// A value that does not parse as what it should be.
    #[error("{what} {text:?}: {why}")]
    Invalid {
        /// What the text should have been (a lot id, a country...).
        what: &'static str,
        /// The text.
        text: String,
        /// Why it is not.
        why: String,
    },
    /// A story step names a member the story does not have.
    #[error("no coffee-story member `{0}`")]
    NoMember(String),
    /// A workload or consortium that cannot be made as asked.
    #[error("{0}")]
    Workload(String),
}

/// Parses `text` as a `T`, naming `what` it should be on failure.
pub fn parse<T>(what: &'static str, text: &str) -> Result<T, KitError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse::<T>().map_err(|e| KitError::Invalid {
        what,
        text: text.to_string(),
        why: e.to_string(),
    })
}
