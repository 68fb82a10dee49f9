//! The campaign's steady load: each producer of the consortium records
//! lots in batches, one batch at a time, and counts an entry only once a
//! node says it is final.
//!
//! A batch goes to one node (the next one for each batch) and is watched
//! there until its last entry is final: an author's nonces are
//! consecutive, so the last one final means the whole batch is. A node
//! that does not answer (killed, paused, cut off) is left for the next;
//! a batch not final within [`FINAL_WAIT`] is sent again, whole, to the
//! next node. Sending again is harmless: an entry already waiting is
//! reported pending, one already on the chain is refused as a replay,
//! and one that was lost with a killed node's mempool is accepted anew.
//! Every entry is signed once, so a batch sent twice is the same bytes.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use waybill_core::entry::{EntryId, SignedEntry};
use waybill_core::genesis::ChainId;
use waybill_testkit::consortium::Party;
use waybill_testkit::entries::{produce, signed};
use waybill_testnet::Conn;

/// How long a batch may take to become final before it is sent again.
const FINAL_WAIT: Duration = Duration::from_secs(10);
/// How often a batch's last entry is asked after.
const POLL: Duration = Duration::from_millis(100);
/// How long one request may take (a paused node answers nothing).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// What the authors share.
#[derive(Default)]
pub(super) struct Tally {
    /// Entries a node reported final.
    pub(super) acknowledged: Mutex<HashSet<EntryId>>,
    /// Every entry signed (and perhaps sent).
    pub(super) signed: Mutex<HashSet<EntryId>>,
    /// Batches sent again after a node failed to finalise them.
    pub(super) resent: AtomicU64,
    /// Requests that failed (no answer, or no answer in time).
    pub(super) failed_requests: AtomicU64,
}

/// The running load.
pub(super) struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Result<()>>>,
    pub(super) tally: Arc<Tally>,
}

impl Load {
    /// Starts one thread per author, each sending `batch` entries at a time.
    pub(super) fn start(
        authors: &[Party],
        chain_id: ChainId,
        addrs: &[SocketAddr],
        batch: usize,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let threads = authors
            .iter()
            .enumerate()
            .map(|(k, author)| {
                let author = author.clone();
                let addrs = addrs.to_vec();
                let (stop, tally) = (Arc::clone(&stop), Arc::clone(&tally));
                std::thread::spawn(move || {
                    Author {
                        k,
                        party: &author,
                        chain_id,
                        addrs: &addrs,
                        batch,
                        stop: &stop,
                        tally: &tally,
                    }
                    .run()
                })
            })
            .collect();
        Load {
            stop,
            threads,
            tally,
        }
    }

    /// Entries acknowledged final so far.
    pub(super) fn acknowledged(&self) -> usize {
        self.tally
            .acknowledged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Stops the authors: each finishes watching its batch (sending
    /// nothing more), then ends.
    pub(super) fn stop(self) -> Result<Arc<Tally>> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join()
                .map_err(|_| anyhow!("an author thread panicked"))??;
        }
        Ok(self.tally)
    }
}

struct Author<'a> {
    k: usize,
    party: &'a Party,
    chain_id: ChainId,
    addrs: &'a [SocketAddr],
    batch: usize,
    stop: &'a AtomicBool,
    tally: &'a Tally,
}

impl Author<'_> {
    fn run(&self) -> Result<()> {
        let mut conns: Vec<Conn> = self
            .addrs
            .iter()
            .map(|a| Conn::new(*a, REQUEST_TIMEOUT))
            .collect();
        let n = conns.len();
        let mut node = self.k % n;
        let mut nonce = 1u64;
        while !self.stop.load(Ordering::SeqCst) {
            let entries: Vec<SignedEntry> = (nonce..nonce + self.batch as u64)
                .map(|i| {
                    let lot = format!("FAULTS-{}-{i}", self.k);
                    signed(self.chain_id, self.party, i, produce(&lot, "1"))
                })
                .collect();
            let ids: Vec<EntryId> = entries.iter().map(SignedEntry::id).collect();
            self.tally
                .signed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(ids.iter().copied());
            let body = serde_json::to_vec(&entries).context("encoding a batch")?;
            let last = ids
                .last()
                .ok_or_else(|| anyhow!("internal: an empty batch"))?
                .to_hex();
            loop {
                node = (node + 1) % n;
                if !self.send(&mut conns[node], &body) {
                    self.tally.failed_requests.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(POLL);
                    if self.stop.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    continue;
                }
                if self.watch(&mut conns, node, &last) {
                    self.tally
                        .acknowledged
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend(ids.iter().copied());
                    break;
                }
                if self.stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                self.tally.resent.fetch_add(1, Ordering::Relaxed);
            }
            nonce += self.batch as u64;
        }
        Ok(())
    }

    /// Sends the batch; whether the node answered it.
    fn send(&self, conn: &mut Conn, body: &[u8]) -> bool {
        let Ok(r) = conn.post("/v1/entries/batch", body) else {
            return false;
        };
        // Whatever each entry's own result (accepted, pending, or refused
        // as a replay because it is final already), the watch decides.
        r.status == 200
    }

    /// Watches `last` until a node reports it final (true) or
    /// [`FINAL_WAIT`] passes (false). Asks `node` first, and moves on to
    /// the next node when one does not answer.
    fn watch(&self, conns: &mut [Conn], mut node: usize, last: &str) -> bool {
        let deadline = Instant::now() + FINAL_WAIT;
        let path = format!("/v1/entries/{last}");
        while Instant::now() < deadline {
            match conns[node].get(&path) {
                Ok(r) if r.status == 200 => {
                    let fin = serde_json::from_slice::<serde_json::Value>(&r.body)
                        .map(|v| v["status"] == "final")
                        .unwrap_or(false);
                    if fin {
                        return true;
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    self.tally.failed_requests.fetch_add(1, Ordering::Relaxed);
                    node = (node + 1) % conns.len();
                }
            }
            std::thread::sleep(POLL);
        }
        false
    }
}
