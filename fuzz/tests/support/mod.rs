//! The corpus on disk, shared by the tests.
// Each test crate uses a part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

/// `corpus/<target>/<file>`, by target and file name.
pub fn corpus() -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut out: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return out;
    };
    for dir in dirs.flatten() {
        let target = dir.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(file.path()).unwrap_or_default();
            out.entry(target.clone()).or_default().insert(name, bytes);
        }
    }
    out
}

/// A small deterministic generator (SplitMix64): the same seed gives the
/// same mutations on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that often matter to a decoder: bounds, JSON and TOML syntax.
const INTERESTING: &[u8] = &[
    0, 1, 2, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'-', b'0', b'9',
    b'\n', b'=', b'e',
];

/// Integers that often matter to a length or count field.
const INTERESTING_INTS: &[u64] = &[
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x1_0000,
    1024,
    1025,
    10_000,
    10_001,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
];

/// One to four mutations of `input` stacked: bit flips, interesting
/// bytes and integers (big-endian, 1 to 8 bytes), insertions, deletions,
/// truncations, duplicated chunks, and splices with another file of
/// `pool`.
pub fn mutate(rng: &mut Rng, input: &[u8], pool: &[&[u8]]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(10) {
            0 if len > 0 => {
                let at = rng.below(len);
                out[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                out[at] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n)
                    .map(|_| {
                        if rng.below(2) == 0 {
                            INTERESTING[rng.below(INTERESTING.len())]
                        } else {
                            rng.next() as u8
                        }
                    })
                    .collect();
                out.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let n = (1 + rng.below(16)).min(len - at);
                out.drain(at..at + n);
            }
            4 => out.truncate(rng.below(len + 1)),
            5 if len > 0 => {
                let width = [1, 2, 4, 8][rng.below(4)];
                let at = rng.below(len);
                let v = INTERESTING_INTS[rng.below(INTERESTING_INTS.len())];
                let v = if rng.below(4) == 0 {
                    v.wrapping_sub(1)
                } else {
                    v
                };
                let bytes = v.to_be_bytes();
                for (i, b) in bytes[8 - width..].iter().enumerate() {
                    if let Some(slot) = out.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
            6 if !pool.is_empty() => {
                let other = pool[rng.below(pool.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            7 if len > 0 => {
                let at = rng.below(len);
                let n = (1 + rng.below(64)).min(len - at);
                let chunk = out[at..at + n].to_vec();
                let to = rng.below(len + 1);
                out.splice(to..to, chunk);
            }
            8 if len > 0 => {
                // A digit in text: another digit, or a long run of them.
                let digits: Vec<usize> = (0..len).filter(|&i| out[i].is_ascii_digit()).collect();
                if !digits.is_empty() {
                    let at = digits[rng.below(digits.len())];
                    if rng.below(3) == 0 {
                        out.splice(at..at, std::iter::repeat_n(b'9', 1 + rng.below(40)));
                    } else {
                        out[at] = b'0' + rng.below(10) as u8;
                    }
                }
            }
            _ => {
                let at = rng.below(len + 1);
                out.insert(at, rng.next() as u8);
            }
        }
    }
    out
}
