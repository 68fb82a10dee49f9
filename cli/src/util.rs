//! Shared helpers: reading keys, genesis and entries, time, party names.

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::SigningKey;
use waybill_core::crypto::PublicKey;
use waybill_core::entry::SignedEntry;
use waybill_core::genesis::Genesis;
use zeroize::Zeroizing;

use waybill_keys::{self as keys, KeyError};

/// Environment variable that supplies the key passphrase to scripts.
pub const PASSPHRASE_ENV: &str = "WAYBILL_PASSPHRASE";

/// Largest JSON entry file read (1 MiB; entries are at most 64 KiB canonical).
const MAX_ENTRY_FILE: u64 = 1024 * 1024;

/// Reads a file with a size limit and the path in every error.
pub fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let meta =
        fs::metadata(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    if meta.len() > limit {
        bail!(
            "{what} {} is {} bytes, more than the limit of {limit}",
            path.display(),
            meta.len()
        );
    }
    fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// The passphrase from the environment or a prompt.
pub fn passphrase(prompt: &str) -> Result<Zeroizing<String>, KeyError> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Zeroizing::new(p));
    }
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|_| KeyError::PassphraseRequired)
}

/// Reads a signing key, asking for its passphrase if it is encrypted.
pub fn read_key(path: &Path) -> Result<SigningKey> {
    let pem = read_limited(path, 64 * 1024, "key file")?;
    let pem = String::from_utf8(pem)
        .map_err(|_| anyhow!("{}: the file is not a PEM key file", path.display()))?;
    keys::from_pem(&pem, || {
        passphrase(&format!("Passphrase for {}: ", path.display()))
    })
    .map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// Reads and validates a genesis file.
pub fn read_genesis(path: &Path) -> Result<Genesis> {
    let bytes = read_limited(path, 1024 * 1024, "genesis file")?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow!("genesis file {} is not UTF-8 text", path.display()))?;
    Genesis::from_toml(&text).with_context(|| format!("genesis file {}", path.display()))
}

/// Reads a signed entry from a JSON file.
pub fn read_entry(path: &Path) -> Result<SignedEntry> {
    let bytes = read_limited(path, MAX_ENTRY_FILE, "entry file")?;
    serde_json::from_slice(&bytes).map_err(|e| {
        anyhow!(
            "{} is not a valid signed entry: {e} (make entries with `waybill record`)",
            path.display()
        )
    })
}

/// How a writer treats a path that already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse: the file (or symlink) there is left as it is.
    Refuse,
    /// Replace it (`--force`): a symlink is replaced by the new file, its
    /// target is left alone.
    Replace,
}

impl Existing {
    /// `Replace` if `--force` was given.
    pub fn from_force(force: bool) -> Self {
        if force {
            Existing::Replace
        } else {
            Existing::Refuse
        }
    }
}

/// The one file-writing rule of the CLI: nothing that exists at `path`
/// (a file, a directory, a symlink, even a dangling one) is replaced
/// unless `existing` is [`Existing::Replace`].
pub fn refuse_existing(path: &Path, existing: Existing) -> Result<()> {
    if existing == Existing::Refuse && std::fs::symlink_metadata(path).is_ok() {
        bail!(
            "{} already exists; refusing to overwrite it (pass --force to replace it)",
            path.display()
        );
    }
    Ok(())
}

/// Writes `text` to `path` (atomically: temp file then rename) or stdout.
/// An existing `path` is refused unless `existing` says replace; the
/// refusal is atomic (the temp file is linked into place only if nothing
/// is there), so a file that appears meanwhile is not clobbered either.
/// Commands call [`refuse_existing`] first too, so that nothing is asked
/// (a passphrase) or computed for a write that would be refused.
pub fn write_out(path: Option<&Path>, text: &str, existing: Existing) -> Result<()> {
    match path {
        Some(p) => {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("cannot write {}", p.display()))?;
            std::io::Write::write_all(&mut tmp, text.as_bytes())
                .with_context(|| format!("cannot write {}", p.display()))?;
            match existing {
                Existing::Replace => tmp.persist(p).map(drop),
                Existing::Refuse => tmp.persist_noclobber(p).map(drop),
            }
            .map_err(|e| {
                if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    anyhow!(
                        "{} already exists; refusing to overwrite it (pass --force to replace it)",
                        p.display()
                    )
                } else {
                    anyhow!("cannot write {}: {}", p.display(), e.error)
                }
            })?;
            Ok(())
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses a time: RFC 3339 (`2026-11-25T10:00:00Z`, or a bare date) or
/// milliseconds since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    let t = humantime::parse_rfc3339_weak(&full)
        .map_err(|_| format!("`{s}` is not a time; use RFC 3339 like 2026-11-25T10:00:00Z, a date like 2026-11-25, or milliseconds since 1970"))?;
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .map_err(|_| format!("`{s}` is before 1970"))
}

/// Formats milliseconds since the epoch as RFC 3339 (UTC, seconds).
pub fn fmt_time(ms: i64) -> String {
    match u64::try_from(ms) {
        Ok(ms) => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_millis(ms))
                .to_string()
        }
        Err(_) => format!("{ms} ms"),
    }
}

/// Formats seconds since the epoch (a checkpoint's time) as
/// [`fmt_time`] does.
pub fn fmt_time_secs(secs: u64) -> String {
    fmt_time(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000))
}

/// Resolves a party: a 64-digit hex key, or a member's exact name in genesis.
pub fn party(genesis: &Genesis, who: &str) -> Result<PublicKey> {
    if who.len() == 64 {
        if let Ok(k) = who.parse::<PublicKey>() {
            return Ok(k);
        }
    }
    let matches: Vec<_> = genesis
        .members
        .iter()
        .filter(|m| m.name == who || m.name.eq_ignore_ascii_case(who))
        .collect();
    match matches.as_slice() {
        [m] => Ok(m.public_key),
        [] => {
            bail!(
            "`{who}` is neither a public key (64 hex digits) nor a member of {}; members are: {}",
            genesis.chain_name,
            genesis.members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
        )
        }
        _ => bail!("`{who}` matches several members; give the public key instead"),
    }
}

/// A member's name, or the short key.
pub fn name_of(genesis: &Genesis, key: &PublicKey) -> String {
    genesis
        .member(key)
        .map(|m| m.name.clone())
        .unwrap_or_else(|| format!("key {}", key.short()))
}

/// A fresh random 256-bit salt (or seed).
pub fn random_salt() -> [u8; 32] {
    let mut salt = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
    salt
}
