//! The ledger's log: checkpoint notes, as `waybill checkpoint` reads a
//! node's answer or a file.

use waybill_core::checkpoint::{self, Checkpoint};

use crate::ensure;
use crate::fixture::fixture;

/// A checkpoint note, verified against the fixed genesis's validators,
/// opened, parsed and joined as `waybill checkpoint fetch` and `verify`
/// do: whatever verifies opens to the same checkpoint, reads back to
/// itself, and still verifies joined with itself; any body that parses
/// is its own canonical spelling.
pub fn checkpoint(data: &[u8]) {
    const T: &str = "checkpoint";
    let f = fixture();
    let validators = &f.genesis.validators;
    let verified = checkpoint::verify(data, &f.chain_id, validators);
    let opened = checkpoint::open_note(data);
    if let Ok(c) = &verified {
        let Ok((cp, lines)) = &opened else {
            crate::broken(T, format_args!("a note verified that does not open"));
        };
        ensure!(
            T,
            *cp == c.checkpoint,
            "the note opens to another checkpoint"
        );
        ensure!(
            T,
            lines.len() >= c.cosigners.len(),
            "more cosigners than signature lines"
        );
        let joined = checkpoint::join(&[data.to_vec(), data.to_vec()]);
        let again = joined
            .as_ref()
            .ok()
            .and_then(|j| checkpoint::verify(j, &f.chain_id, validators).ok());
        ensure!(
            T,
            again.as_ref() == Some(c),
            "a verified note joined with itself verifies otherwise: {:?}",
            joined.err()
        );
    }
    if let Ok((cp, lines)) = &opened {
        let rewritten = checkpoint::note(cp, lines);
        let back = rewritten.as_ref().ok().map(|b| checkpoint::open_note(b));
        ensure!(
            T,
            matches!(&back, Some(Ok((c2, l2))) if c2 == cp && l2 == lines),
            "an opened note does not read back: {:?}",
            rewritten.err()
        );
    }
    if let Ok(cp) = Checkpoint::parse(data) {
        ensure!(
            T,
            cp.body() == data,
            "a body parsed that is not its own spelling"
        );
    }
}
