#![forbid(unsafe_code)]

//! Ed25519 signing keys stored as PKCS#8 PEM files.
//!
//! - Plaintext keys are PKCS#8 v1 `PRIVATE KEY` blocks (RFC 8410), the same
//!   form `openssl genpkey -algorithm ed25519` writes.
//! - Encrypted keys are `ENCRYPTED PRIVATE KEY` blocks using PBES2 with
//!   PBKDF2-HMAC-SHA256 ([`PBKDF2_ITERATIONS`] rounds, 16-byte random salt)
//!   and AES-256-CBC. OpenSSL 3 reads both (`openssl pkey -in key.pem`).
//!
//! Reading also accepts PKCS#8 v2 keys (with an embedded public key, which
//! must match) and PBES2 keys that use scrypt or PBKDF2-HMAC-SHA256/224/384/512.

use ed25519_dalek::pkcs8::KeypairBytes;
use ed25519_dalek::{SigningKey, VerifyingKey};
use pkcs8::der::Decode;
use pkcs8::pkcs5::pbes2::{self, Kdf};
use pkcs8::pkcs5::EncryptionScheme;
use pkcs8::{
    EncodePrivateKey, EncryptedPrivateKeyInfo, LineEnding, ObjectIdentifier, PrivateKeyInfo,
};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// PBKDF2-HMAC-SHA256 rounds used when encrypting a key (the OWASP 2023
/// recommendation for PBKDF2-HMAC-SHA256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// Largest PBKDF2 round count accepted when decrypting, so that a crafted
/// key file cannot stall the program.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Largest scrypt memory (128 · r · N bytes) accepted when decrypting.
const MAX_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;

/// Largest scrypt parallelization parameter accepted when decrypting.
const MAX_SCRYPT_PARALLELIZATION: u16 = 16;

const PLAIN_LABEL: &str = "PRIVATE KEY";
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";
const PUBLIC_LABEL: &str = "PUBLIC KEY";

/// DER prefix of an ed25519 SubjectPublicKeyInfo (RFC 8410), followed by the
/// 32-byte public key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Why a key could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text has no PEM block at all.
    #[error(
        "the file is not a PEM key file: {reason}; expected a \"-----BEGIN PRIVATE KEY-----\" \
         or \"-----BEGIN ENCRYPTED PRIVATE KEY-----\" block (a DER key can be converted with \
         `openssl pkey -inform DER -in key.der -out key.pem`)"
    )]
    NotPem {
        /// What was wrong.
        reason: String,
    },
    /// A PEM block that is not a PKCS#8 private key (e.g. a public key or an
    /// OpenSSH key).
    #[error(
        "the file holds a \"{label}\" PEM block, not a PKCS#8 private key; expected \
         \"PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\" as written by \
         `openssl genpkey -algorithm ed25519`"
    )]
    UnsupportedPem {
        /// The PEM label found.
        label: String,
    },
    /// A private key of another algorithm (RSA, EC, X25519, ...).
    #[error(
        "the key is not an ed25519 key (it is {algorithm}); create an ed25519 key, e.g. with \
         `openssl genpkey -algorithm ed25519 -out key.pem`"
    )]
    NotEd25519 {
        /// The algorithm found, by name or OID.
        algorithm: String,
    },
    /// The PEM block is damaged: bad base64, truncated, or invalid DER.
    #[error("the key file is damaged or truncated: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// The key is encrypted and no (or an empty) passphrase was given.
    #[error("the key is encrypted; a passphrase is required to read it")]
    PassphraseRequired,
    /// Decryption failed, or the decrypted bytes are not a private key.
    #[error("wrong passphrase for the encrypted key (or the encrypted key is damaged)")]
    WrongPassphrase,
    /// An empty passphrase was given for encrypting a key.
    #[error(
        "the passphrase is empty; choose a non-empty passphrase, or store the key unencrypted"
    )]
    EmptyPassphrase,
    /// The key is encrypted with a scheme or with parameters this program
    /// does not accept.
    #[error(
        "the key is encrypted with {scheme}, which is not supported; re-encrypt it with \
         `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -in key.pem -out new.pem`"
    )]
    UnsupportedEncryption {
        /// The scheme or the parameter that was refused.
        scheme: String,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {reason}")]
    Rng {
        /// The error from the generator.
        reason: String,
    },
    /// Encoding the key failed (not expected to happen).
    #[error("could not encode the key: {reason}")]
    Encode {
        /// The encoder's error.
        reason: String,
    },
}

/// Generates a new signing key from the operating system's random number
/// generator.
#[must_use]
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut OsRng)
}

/// Encodes `key` as PEM: a plaintext PKCS#8 v1 `PRIVATE KEY` block when
/// `passphrase` is `None`, otherwise an `ENCRYPTED PRIVATE KEY` block (PBES2:
/// PBKDF2-HMAC-SHA256 with [`PBKDF2_ITERATIONS`] rounds, AES-256-CBC).
///
/// Encrypting takes a noticeable fraction of a second by design.
///
/// # Errors
///
/// [`KeyError::EmptyPassphrase`] for `Some("")`, [`KeyError::Rng`] if the
/// random number generator fails.
pub fn to_pem(key: &SigningKey, passphrase: Option<&str>) -> Result<Zeroizing<String>, KeyError> {
    if passphrase == Some("") {
        return Err(KeyError::EmptyPassphrase);
    }
    // PKCS#8 v1: the public key is not embedded (OpenSSL 3.0 rejects the v2
    // encoding that `SigningKey::to_pkcs8_der` produces).
    let keypair = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    let der = keypair.to_pkcs8_der().map_err(encode_error)?;
    let Some(passphrase) = passphrase else {
        return der
            .to_pem(PLAIN_LABEL, LineEnding::LF)
            .map_err(encode_error);
    };

    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    OsRng.try_fill_bytes(&mut salt).map_err(rng_error)?;
    OsRng.try_fill_bytes(&mut iv).map_err(rng_error)?;
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
        .map_err(encode_error)?;
    let info = PrivateKeyInfo::from_der(der.as_bytes()).map_err(encode_error)?;
    let encrypted = info
        .encrypt_with_params(params, passphrase.as_bytes())
        .map_err(encode_error)?;
    encrypted
        .to_pem(ENCRYPTED_LABEL, LineEnding::LF)
        .map_err(encode_error)
}

/// Reads an ed25519 signing key from PKCS#8 PEM text.
///
/// The PEM label decides whether the key is encrypted; `passphrase` is called
/// (once) only for an `ENCRYPTED PRIVATE KEY` whose encryption is supported.
/// Text before the `BEGIN` line and after the `END` line is ignored.
///
/// # Errors
///
/// [`KeyError::NotPem`], [`KeyError::UnsupportedPem`],
/// [`KeyError::Malformed`], [`KeyError::NotEd25519`],
/// [`KeyError::UnsupportedEncryption`], [`KeyError::PassphraseRequired`]
/// (empty passphrase), [`KeyError::WrongPassphrase`], or whatever error
/// `passphrase` returns.
pub fn from_pem(
    pem: &str,
    passphrase: impl FnOnce() -> Result<Zeroizing<String>, KeyError>,
) -> Result<SigningKey, KeyError> {
    let (label, block) = find_pem_block(pem)?;
    match label {
        PLAIN_LABEL => {
            let der = decode_pem(block)?;
            let info = PrivateKeyInfo::from_der(&der).map_err(|e| KeyError::Malformed {
                reason: format!("invalid PKCS#8 structure ({e})"),
            })?;
            signing_key_from_info(info)
        }
        ENCRYPTED_LABEL => {
            let der = decode_pem(block)?;
            let info =
                EncryptedPrivateKeyInfo::from_der(&der).map_err(|e| KeyError::Malformed {
                    reason: format!(
                        "invalid encrypted PKCS#8 structure, or an encryption scheme other than \
                         PBES2 with AES-CBC ({e})"
                    ),
                })?;
            check_encryption(&info.encryption_algorithm)?;
            if info.encrypted_data.is_empty() || info.encrypted_data.len() % 16 != 0 {
                return Err(KeyError::Malformed {
                    reason: "the encrypted data is not a whole number of AES blocks".to_owned(),
                });
            }
            let passphrase = passphrase()?;
            if passphrase.is_empty() {
                return Err(KeyError::PassphraseRequired);
            }
            let plain = Zeroizing::new(
                info.encryption_algorithm
                    .decrypt(passphrase.as_bytes(), info.encrypted_data)
                    .map_err(|e| match e {
                        // pkcs5 0.7 reports a bad padding as `EncryptFailed`.
                        pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed => {
                            KeyError::WrongPassphrase
                        }
                        other => KeyError::UnsupportedEncryption {
                            scheme: other.to_string(),
                        },
                    })?,
            );
            // A wrong passphrase usually fails the padding check above; the
            // few that get through decrypt to bytes that are not PKCS#8.
            let inner = PrivateKeyInfo::from_der(&plain).map_err(|_| KeyError::WrongPassphrase)?;
            signing_key_from_info(inner)
        }
        "RSA PRIVATE KEY" => Err(not_ed25519("RSA")),
        "EC PRIVATE KEY" | "EC PARAMETERS" => Err(not_ed25519("EC")),
        "DSA PRIVATE KEY" => Err(not_ed25519("DSA")),
        other => Err(KeyError::UnsupportedPem {
            label: other.to_owned(),
        }),
    }
}

/// Encodes `key` as an SPKI `PUBLIC KEY` PEM block (RFC 8410), the form
/// `openssl pkey -pubout` prints.
#[must_use]
pub fn public_key_pem(key: &VerifyingKey) -> String {
    let mut der = [0u8; 44];
    der[..12].copy_from_slice(&ED25519_SPKI_PREFIX);
    der[12..].copy_from_slice(key.as_bytes());
    format!(
        "-----BEGIN {PUBLIC_LABEL}-----\n{}\n-----END {PUBLIC_LABEL}-----\n",
        base64(&der)
    )
}

/// Standard padded base64 (RFC 4648), for the one-line public key block.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Finds the first PEM block: returns its label and the text from its BEGIN
/// line through its END line.
fn find_pem_block(pem: &str) -> Result<(&str, &str), KeyError> {
    const BEGIN: &str = "-----BEGIN ";
    let start = pem.find(BEGIN).ok_or_else(|| KeyError::NotPem {
        reason: "no \"-----BEGIN\" line found".to_owned(),
    })?;
    let after_begin = &pem[start + BEGIN.len()..];
    let label_len = after_begin
        .find("-----")
        .filter(|&len| !after_begin[..len].contains('\n'))
        .ok_or_else(|| KeyError::NotPem {
            reason: "the \"-----BEGIN\" line is incomplete".to_owned(),
        })?;
    let label = &after_begin[..label_len];
    let end_line = format!("-----END {label}-----");
    let end = pem[start..]
        .find(&end_line)
        .map(|offset| start + offset + end_line.len())
        .ok_or_else(|| KeyError::Malformed {
            reason: format!("the \"{end_line}\" line is missing (the file may be truncated)"),
        })?;
    Ok((label, &pem[start..end]))
}

/// Decodes one PEM block to DER.
fn decode_pem(block: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    pkcs8::der::pem::decode_vec(block.as_bytes())
        .map(|(_, der)| Zeroizing::new(der))
        .map_err(|e| KeyError::Malformed {
            reason: format!("invalid PEM encoding ({e})"),
        })
}

/// Builds the signing key from a PKCS#8 structure, checking the algorithm and
/// (for PKCS#8 v2) that the embedded public key matches.
fn signing_key_from_info(info: PrivateKeyInfo<'_>) -> Result<SigningKey, KeyError> {
    let oid = info.algorithm.oid;
    if oid != ed25519_dalek::pkcs8::ALGORITHM_OID {
        return Err(not_ed25519(&algorithm_name(oid)));
    }
    let keypair = KeypairBytes::try_from(info).map_err(|e| KeyError::Malformed {
        reason: format!("invalid ed25519 private key ({e})"),
    })?;
    SigningKey::try_from(&keypair).map_err(|_| KeyError::Malformed {
        reason: "the embedded public key does not match the private key".to_owned(),
    })
}

/// Refuses encryption schemes this module does not support and parameters
/// that would take too long or too much memory, before asking for the
/// passphrase.
fn check_encryption(scheme: &EncryptionScheme<'_>) -> Result<(), KeyError> {
    let unsupported = |scheme: String| Err(KeyError::UnsupportedEncryption { scheme });
    let Some(params) = scheme.pbes2() else {
        return unsupported(format!("legacy PBES1 ({})", scheme.oid()));
    };
    match &params.kdf {
        Kdf::Pbkdf2(p) if p.prf == pbes2::Pbkdf2Prf::HmacWithSha1 => {
            unsupported("PBKDF2 with HMAC-SHA1".to_owned())
        }
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => unsupported(format!(
            "PBKDF2 with {} rounds (at most {MAX_PBKDF2_ITERATIONS} are accepted)",
            p.iteration_count
        )),
        Kdf::Pbkdf2(_) => Ok(()),
        // pkcs5 0.7.1 takes log2(N) as 63 - N.leading_zeros(), which
        // overflows for N = 0 (a panic where overflow is checked, as in
        // debug builds). Found by fuzzing (fuzz/, target `key_file`).
        Kdf::Scrypt(p) if p.cost_parameter == 0 => {
            unsupported("scrypt with N=0 (N must be a power of two)".to_owned())
        }
        Kdf::Scrypt(p) => {
            let memory = 128u64
                .saturating_mul(u64::from(p.block_size))
                .saturating_mul(p.cost_parameter);
            if memory > MAX_SCRYPT_MEMORY || p.parallelization > MAX_SCRYPT_PARALLELIZATION {
                unsupported(format!(
                    "scrypt with N={}, r={}, p={} (at most {} MiB and p<={MAX_SCRYPT_PARALLELIZATION} \
                     are accepted)",
                    p.cost_parameter,
                    p.block_size,
                    p.parallelization,
                    MAX_SCRYPT_MEMORY >> 20
                ))
            } else {
                Ok(())
            }
        }
        _ => unsupported("an unknown key derivation function".to_owned()),
    }
}

fn not_ed25519(algorithm: &str) -> KeyError {
    KeyError::NotEd25519 {
        algorithm: algorithm.to_owned(),
    }
}

/// A readable name for common private key algorithm OIDs.
fn algorithm_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => "RSA".to_owned(),
        "1.2.840.10045.2.1" => "EC".to_owned(),
        "1.2.840.10040.4.1" => "DSA".to_owned(),
        "1.3.101.110" => "X25519".to_owned(),
        "1.3.101.111" => "X448".to_owned(),
        "1.3.101.113" => "Ed448".to_owned(),
        other => format!("algorithm OID {other}"),
    }
}

fn encode_error(e: impl std::fmt::Display) -> KeyError {
    KeyError::Encode {
        reason: e.to_string(),
    }
}

fn rng_error(e: rand_core::Error) -> KeyError {
    KeyError::Rng {
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::path::Path;
    use std::process::{Command, Output};

    fn pass(p: &str) -> Result<Zeroizing<String>, KeyError> {
        Ok(Zeroizing::new(p.to_owned()))
    }

    fn never() -> Result<Zeroizing<String>, KeyError> {
        panic!("the passphrase must not be asked for")
    }

    /// Runs openssl; a missing openssl fails the test with a clear message.
    fn openssl(args: &[&str]) -> Output {
        Command::new("openssl")
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("this test needs the `openssl` command (apt-get install openssl): {e}")
            })
    }

    fn openssl_ok(args: &[&str]) -> String {
        let out = openssl(args);
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn path_str(p: &Path) -> &str {
        p.to_str().unwrap()
    }

    #[test]
    fn plaintext_round_trip() {
        let key = generate();
        let pem = to_pem(&key, None).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
        let back = from_pem(&pem, never).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
    }

    #[test]
    fn encrypted_round_trip_asks_once() {
        let key = generate();
        let pem = to_pem(&key, Some("correct horse battery staple")).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        let calls = Cell::new(0);
        let back = from_pem(&pem, || {
            calls.set(calls.get() + 1);
            pass("correct horse battery staple")
        })
        .unwrap();
        assert_eq!(calls.get(), 1);
        assert_eq!(back.to_bytes(), key.to_bytes());
    }

    #[test]
    fn wrong_passphrase() {
        let pem = to_pem(&generate(), Some("right")).unwrap();
        assert!(matches!(
            from_pem(&pem, || pass("wrong")),
            Err(KeyError::WrongPassphrase)
        ));
    }

    #[test]
    fn empty_and_missing_passphrases() {
        let key = generate();
        assert!(matches!(
            to_pem(&key, Some("")),
            Err(KeyError::EmptyPassphrase)
        ));
        let pem = to_pem(&key, Some("x")).unwrap();
        assert!(matches!(
            from_pem(&pem, || pass("")),
            Err(KeyError::PassphraseRequired)
        ));
        assert!(matches!(
            from_pem(&pem, || Err(KeyError::PassphraseRequired)),
            Err(KeyError::PassphraseRequired)
        ));
    }

    #[test]
    fn garbage_is_not_pem() {
        for text in ["", "hello", "-----BEGIN PRIVATE", "\u{0}\u{1}binary"] {
            assert!(
                matches!(from_pem(text, never), Err(KeyError::NotPem { .. })),
                "{text:?}"
            );
        }
    }

    #[test]
    fn truncated_and_damaged_pem() {
        let plain = to_pem(&generate(), None).unwrap();
        let encrypted = to_pem(&generate(), Some("pw")).unwrap();
        for pem in [plain.as_str(), encrypted.as_str()] {
            // Cut anywhere: never a key, never a passphrase prompt.
            for cut in 0..pem.len() - 1 {
                assert!(from_pem(&pem[..cut], never).is_err(), "cut at {cut}");
            }
            // Body truncated but the END line kept.
            let lines: Vec<&str> = pem.lines().collect();
            let short = format!(
                "{}\n{}\n{}\n",
                lines[0],
                &lines[1][..20],
                lines[lines.len() - 1]
            );
            assert!(matches!(
                from_pem(&short, never),
                Err(KeyError::Malformed { .. })
            ));
            // Bad base64.
            let bad = pem.replacen(&lines[1][..4], "!!!!", 1);
            assert!(matches!(
                from_pem(&bad, never),
                Err(KeyError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn surrounding_text_is_ignored() {
        let key = generate();
        let pem = to_pem(&key, None).unwrap();
        let wrapped = format!("comment line\n{}trailing text\n", pem.as_str());
        assert_eq!(
            from_pem(&wrapped, never).unwrap().to_bytes(),
            key.to_bytes()
        );
    }

    #[test]
    fn other_pem_blocks_are_refused() {
        let key = generate();
        let public = public_key_pem(&key.verifying_key());
        assert!(matches!(
            from_pem(&public, never),
            Err(KeyError::UnsupportedPem { label }) if label == "PUBLIC KEY"
        ));
        let openssh =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        assert!(matches!(
            from_pem(openssh, never),
            Err(KeyError::UnsupportedPem { label }) if label == "OPENSSH PRIVATE KEY"
        ));
        let rsa = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            from_pem(rsa, never),
            Err(KeyError::NotEd25519 { algorithm }) if algorithm == "RSA"
        ));
    }

    #[test]
    fn pkcs8_v2_with_public_key_is_read_and_checked() {
        let key = generate();
        let v2 = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(from_pem(&v2, never).unwrap().to_bytes(), key.to_bytes());
        let bad = KeypairBytes {
            secret_key: key.to_bytes(),
            public_key: Some(ed25519_dalek::pkcs8::PublicKeyBytes(
                generate().verifying_key().to_bytes(),
            )),
        };
        let bad = bad.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert!(matches!(
            from_pem(&bad, never),
            Err(KeyError::Malformed { .. })
        ));
    }

    /// Builds an encrypted key file with the given PBES2 parameters around
    /// junk ciphertext: enough to test the checks done before decryption.
    fn encrypted_with(params: pbes2::Parameters<'_>) -> String {
        let data = [0u8; 48];
        let info = EncryptedPrivateKeyInfo {
            encryption_algorithm: params.into(),
            encrypted_data: &data,
        };
        pkcs8::der::pem::encode_string(
            ENCRYPTED_LABEL,
            LineEnding::LF,
            &pkcs8::der::Encode::to_der(&info).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn costly_encryption_parameters_are_refused_before_prompting() {
        let (salt, iv) = ([1u8; 16], [2u8; 16]);
        let pbkdf2 = pbes2::Parameters::pbkdf2_sha256_aes256cbc(20_000_000, &salt, &iv).unwrap();
        assert!(matches!(
            from_pem(&encrypted_with(pbkdf2), never),
            Err(KeyError::UnsupportedEncryption { .. })
        ));
        let huge = pkcs8::pkcs5::scrypt::Params::new(22, 8, 1, 32).unwrap();
        let scrypt = pbes2::Parameters::scrypt_aes256cbc(huge, &salt, &iv).unwrap();
        assert!(matches!(
            from_pem(&encrypted_with(scrypt), never),
            Err(KeyError::UnsupportedEncryption { .. })
        ));
        // Accepted parameters do ask for the passphrase.
        let ok = pbes2::Parameters::pbkdf2_sha256_aes256cbc(1000, &salt, &iv).unwrap();
        assert!(matches!(
            from_pem(&encrypted_with(ok), || pass("pw")),
            Err(KeyError::WrongPassphrase)
        ));
    }

    #[test]
    fn a_zero_scrypt_cost_is_refused_before_prompting() {
        // Reading this used to panic inside pkcs5 (an overflow computing
        // log2(N)) in builds with overflow checks.
        let (salt, iv) = ([1u8; 16], [2u8; 16]);
        let zero = pbes2::Parameters {
            kdf: pkcs8::pkcs5::pbes2::ScryptParams {
                salt: &salt,
                cost_parameter: 0,
                block_size: 8,
                parallelization: 1,
                key_length: Some(32),
            }
            .into(),
            encryption: pkcs8::pkcs5::pbes2::EncryptionScheme::Aes256Cbc { iv: &iv },
        };
        let pem = encrypted_with(zero);
        assert!(matches!(
            from_pem(&pem, || pass("pw")),
            Err(KeyError::UnsupportedEncryption { .. })
        ));
        assert!(matches!(
            from_pem(&pem, never),
            Err(KeyError::UnsupportedEncryption { .. })
        ));
    }

    #[test]
    fn scrypt_keys_are_read() {
        let key = generate();
        let (salt, iv) = ([3u8; 16], [4u8; 16]);
        let params = pkcs8::pkcs5::scrypt::Params::new(10, 8, 1, 32).unwrap();
        let params = pbes2::Parameters::scrypt_aes256cbc(params, &salt, &iv).unwrap();
        let keypair = KeypairBytes {
            secret_key: key.to_bytes(),
            public_key: None,
        };
        let der = keypair.to_pkcs8_der().unwrap();
        let info = PrivateKeyInfo::from_der(der.as_bytes()).unwrap();
        let pem = info
            .encrypt_with_params(params, "pw")
            .unwrap()
            .to_pem(ENCRYPTED_LABEL, LineEnding::LF)
            .unwrap();
        assert_eq!(
            from_pem(&pem, || pass("pw")).unwrap().to_bytes(),
            key.to_bytes()
        );
    }

    #[test]
    fn base64_matches_reference_encoder() {
        for len in 0..10usize {
            let data: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
            let reference = pkcs8::der::pem::encode_string("X", LineEnding::LF, &data).unwrap();
            let body: String = reference
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect();
            assert_eq!(base64(&data), body, "len {len}");
        }
        let key = generate().verifying_key();
        use pkcs8::EncodePublicKey;
        assert_eq!(
            public_key_pem(&key),
            key.to_public_key_pem(LineEnding::LF).unwrap()
        );
    }

    #[test]
    fn openssl_reads_our_plaintext_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key.pem");
        let key = generate();
        std::fs::write(&file, to_pem(&key, None).unwrap().as_bytes()).unwrap();
        openssl_ok(&["pkey", "-in", path_str(&file), "-noout"]);
        let public = openssl_ok(&["pkey", "-in", path_str(&file), "-pubout"]);
        assert_eq!(public, public_key_pem(&key.verifying_key()));
    }

    #[test]
    fn openssl_reads_our_encrypted_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("enc.pem");
        let key = generate();
        std::fs::write(&file, to_pem(&key, Some("s3cret pass")).unwrap().as_bytes()).unwrap();
        let f = path_str(&file);
        openssl_ok(&["pkey", "-in", f, "-passin", "pass:s3cret pass", "-noout"]);
        let public = openssl_ok(&["pkey", "-in", f, "-passin", "pass:s3cret pass", "-pubout"]);
        assert_eq!(public, public_key_pem(&key.verifying_key()));
        let wrong = openssl(&["pkey", "-in", f, "-passin", "pass:nope", "-noout"]);
        assert!(
            !wrong.status.success(),
            "openssl accepted a wrong passphrase"
        );
        // The scheme is PBES2 / PBKDF2-HMAC-SHA256 / AES-256-CBC.
        let asn1 = openssl_ok(&["asn1parse", "-in", f]);
        for name in ["PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"] {
            assert!(asn1.contains(name), "{name} missing in:\n{asn1}");
        }
    }

    #[test]
    fn we_read_openssl_plaintext_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key.pem");
        let f = path_str(&file);
        openssl_ok(&["genpkey", "-algorithm", "ed25519", "-out", f]);
        let pem = std::fs::read_to_string(&file).unwrap();
        let key = from_pem(&pem, never).unwrap();
        let public = openssl_ok(&["pkey", "-in", f, "-pubout"]);
        assert_eq!(public, public_key_pem(&key.verifying_key()));
        // And we write back exactly what openssl wrote.
        assert_eq!(to_pem(&key, None).unwrap().as_str(), pem);
    }

    #[test]
    fn we_read_openssl_encrypted_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("enc.pem");
        let f = path_str(&file);
        openssl_ok(&[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-aes-256-cbc",
            "-pass",
            "pass:x",
            "-out",
            f,
        ]);
        let pem = std::fs::read_to_string(&file).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let key = from_pem(&pem, || pass("x")).unwrap();
        let public = openssl_ok(&["pkey", "-in", f, "-passin", "pass:x", "-pubout"]);
        assert_eq!(public, public_key_pem(&key.verifying_key()));
        assert!(matches!(
            from_pem(&pem, || pass("y")),
            Err(KeyError::WrongPassphrase)
        ));

        // openssl's scrypt PBES2 (N=16384, r=8, p=1).
        let scrypt_file = dir.path().join("scrypt.pem");
        openssl_ok(&[
            "pkcs8",
            "-topk8",
            "-scrypt",
            "-in",
            f,
            "-passin",
            "pass:x",
            "-passout",
            "pass:z",
            "-out",
            path_str(&scrypt_file),
        ]);
        let pem = std::fs::read_to_string(&scrypt_file).unwrap();
        let again = from_pem(&pem, || pass("z")).unwrap();
        assert_eq!(again.to_bytes(), key.to_bytes());
    }

    #[test]
    fn unsupported_openssl_encryptions_fail_without_prompting() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("key.pem");
        openssl_ok(&["genpkey", "-algorithm", "ed25519", "-out", path_str(&plain)]);
        let cases: [(&[&str], &str); 2] = [
            (&["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1"], "sha1"),
            (&["-v2", "des3"], "des3"),
        ];
        for (extra, name) in cases {
            let out = dir.path().join(format!("{name}.pem"));
            let mut args = vec![
                "pkcs8",
                "-topk8",
                "-in",
                path_str(&plain),
                "-passout",
                "pass:p",
            ];
            args.extend(extra);
            args.extend(["-out", path_str(&out)]);
            openssl_ok(&args);
            let pem = std::fs::read_to_string(&out).unwrap();
            let err = from_pem(&pem, never).unwrap_err();
            assert!(
                matches!(
                    err,
                    KeyError::UnsupportedEncryption { .. } | KeyError::Malformed { .. }
                ),
                "{name}: {err}"
            );
            println!("{name}: {err}");
        }
    }

    #[test]
    fn other_algorithms_from_openssl_are_not_ed25519() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[&str], &str); 4] = [
            (
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                ],
                "EC",
            ),
            (
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:1024",
                ],
                "RSA",
            ),
            (&["genpkey", "-algorithm", "X25519"], "X25519"),
            (&["genpkey", "-algorithm", "ed448"], "Ed448"),
        ];
        for (i, (args, name)) in cases.iter().enumerate() {
            let file = dir.path().join(format!("k{i}.pem"));
            let mut all = args.to_vec();
            all.extend(["-out", path_str(&file)]);
            openssl_ok(&all);
            let pem = std::fs::read_to_string(&file).unwrap();
            assert!(
                matches!(from_pem(&pem, never), Err(KeyError::NotEd25519 { ref algorithm }) if algorithm == name),
                "{name}"
            );
            // Encrypted: found out after decryption.
            let enc = dir.path().join(format!("k{i}.enc.pem"));
            openssl_ok(&[
                "pkcs8",
                "-topk8",
                "-in",
                path_str(&file),
                "-passout",
                "pass:p",
                "-out",
                path_str(&enc),
            ]);
            let pem = std::fs::read_to_string(&enc).unwrap();
            assert!(
                matches!(from_pem(&pem, || pass("p")), Err(KeyError::NotEd25519 { ref algorithm }) if algorithm == name),
                "encrypted {name}"
            );
        }
        // Traditional "EC PRIVATE KEY" form.
        let file = dir.path().join("ec.pem");
        openssl_ok(&[
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-out",
            path_str(&file),
        ]);
        let pem = std::fs::read_to_string(&file).unwrap();
        assert!(matches!(
            from_pem(&pem, never),
            Err(KeyError::NotEd25519 { .. })
        ));
    }

    #[test]
    fn error_messages_are_actionable() {
        let msg = from_pem("hello", never).unwrap_err().to_string();
        assert!(msg.contains("not a PEM key file"), "{msg}");
        let pem = to_pem(&generate(), Some("a")).unwrap();
        let msg = from_pem(&pem, || pass("b")).unwrap_err().to_string();
        assert!(msg.contains("wrong passphrase for"), "{msg}");
        let msg = not_ed25519("RSA").to_string();
        assert!(msg.contains("the key is not an ed25519 key"), "{msg}");
    }
}
