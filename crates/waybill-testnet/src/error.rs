//! The crate's one error type, apart from the modules that return it.

use std::path::PathBuf;

/// Failures while generating or running a network.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// File system.
    #[error("{0}")]
    Io(String),
    /// A key that is not a valid ed25519 public key.
    #[error("key {0} is not a valid ed25519 public key")]
    BadKey(String),
    /// A binary of this workspace that is not built (see [`crate::binary()`]).
    #[error("{}", missing(name, searched, *on_path, *release))]
    NoBinary {
        /// Its name, without `.exe`.
        name: String,
        /// The paths looked at, in order (next to this program first).
        searched: Vec<PathBuf>,
        /// Whether PATH was searched too.
        on_path: bool,
        /// Whether this program is a release build.
        release: bool,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Maps an I/O error to [`TestnetError::Io`], prefixed with `what`.
pub(crate) fn io<E: std::fmt::Display>(
    what: impl std::fmt::Display,
) -> impl FnOnce(E) -> TestnetError {
    move |e| TestnetError::Io(format!("{what}: {e}"))
}

/// The message of [`TestnetError::NoBinary`].
fn missing(name: &str, searched: &[PathBuf], on_path: bool, release: bool) -> String {
    let places: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
    let places = if places.is_empty() {
        "nowhere (this program's path has no directory)".to_string()
    } else {
        places.join(" or ")
    };
    let path = if on_path { ", nor on PATH" } else { "" };
    let profile = if release { "--release " } else { "" };
    format!(
        "`{name}` is missing: there is no {places}{path}; build it with \
         `cargo build {profile}--bins` (`cargo test --workspace` builds it too)"
    )
}
