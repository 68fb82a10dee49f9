//! The event loop's checks of gossiped messages and clients' entries:
//! grouping waiting messages into one batch verification on the
//! blocking pool, reporting each verdict to gossipsub and delivering the
//! good entries.

use super::*;

impl EventLoop {
    /// Starts checks for waiting messages, as many as may run at once,
    /// each on the oldest waiting messages up to CHECK_GROUP_BYTES, once
    /// a full group waits or the oldest has waited CHECK_GATHER.
    ///
    /// Clients' entries ([`Command::Verify`]) never wait: a check starts
    /// at once, even beyond MAX_CHECKING. It takes the waiting messages
    /// along if together they make a large batch ([`JOIN_SIGNATURES`]): a
    /// client's request is usually about 100 entries, which alone go by
    /// the small-batch method at a higher cost per signature. With fewer
    /// waiting, the messages go on gathering for a large batch of their
    /// own and the client's entries are checked alone.
    pub(super) fn start_checks(&mut self) {
        loop {
            let local = std::mem::take(&mut self.local);
            let local_signatures: usize = local
                .iter()
                .flat_map(|l| l.entries.iter())
                .map(|e| 1 + e.entry().cosignatures.len())
                .sum();
            let join =
                local_signatures + self.waiting_bytes / ENTRY_BYTES_ESTIMATE >= JOIN_SIGNATURES;
            if local.is_empty() {
                if self.checking >= MAX_CHECKING {
                    break;
                }
                let Some(oldest) = self.waiting.front() else {
                    break;
                };
                let due = oldest.arrived + CHECK_GATHER;
                if self.waiting_bytes < CHECK_GROUP_BYTES && Instant::now() < due {
                    if !self.gathering || self.gather.deadline() != due {
                        self.gather.as_mut().reset(due);
                        self.gathering = true;
                    }
                    break;
                }
            }
            let mut group: Vec<Unchecked> = Vec::new();
            let mut bytes = 0;
            while let Some(next) = self.waiting.front().filter(|_| local.is_empty() || join) {
                if !group.is_empty() && bytes + next.data.len() > CHECK_GROUP_BYTES {
                    break;
                }
                bytes += next.data.len();
                group.extend(self.waiting.pop_front());
            }
            self.waiting_bytes -= bytes;
            self.checking += 1;
            let tx = self.checked_tx.clone();
            let chain_id = self.chain_id;
            let (max_entry, max_message) = (self.max_entry_bytes, self.max_message_bytes);
            let settled = self.settled.clone();
            tokio::task::spawn_blocking(move || {
                let data: Vec<&[u8]> = group.iter().map(|m| m.data.as_slice()).collect();
                let (entries, replies): (Vec<_>, Vec<_>) =
                    local.into_iter().map(|l| (l.entries, l.reply)).unzip();
                let local_entries: Vec<&[EncodedEntry]> =
                    entries.iter().map(|e| e.as_slice()).collect();
                let (verdicts, local_verdicts) = validate::check_batches_with(
                    &data,
                    &chain_id,
                    max_entry,
                    max_message,
                    settled.as_deref(),
                    &local_entries,
                );
                // The clients' copies are theirs alone again before they hear.
                drop(local_entries);
                drop(entries);
                for (reply, verdicts) in replies.into_iter().zip(local_verdicts) {
                    // A client that gave up does not mind.
                    let _ = reply.send(verdicts);
                }
                let checked = group
                    .into_iter()
                    .zip(verdicts)
                    .map(|(m, verdict)| Checked {
                        seq: m.seq,
                        id: m.id,
                        source: m.source,
                        len: m.data.len(),
                        verdict,
                    })
                    .collect();
                // Every check sends one result (none but clients' entries:
                // an empty one), so `checking` counts down. The loop reads
                // results as they come; after shutdown this fails, which
                // is fine.
                let _ = tx.blocking_send(checked);
            });
        }
    }

    /// Takes a finished check; reports it to gossipsub (accepted messages
    /// are forwarded) and delivers the entries that passed, in arrival
    /// order.
    pub(super) fn on_checked(&mut self, checked: Vec<Checked>) {
        self.checking = self.checking.saturating_sub(1);
        for c in checked {
            self.ready.insert(c.seq, c);
        }
        while let Some(next) = self.ready.remove(&self.next_delivery) {
            self.next_delivery += 1;
            self.report(next);
        }
        self.start_checks();
    }

    /// Reports one message's check and delivers its good entries.
    pub(super) fn report(&mut self, checked: Checked) {
        let Checked {
            id,
            source,
            len,
            verdict,
            ..
        } = checked;
        self.settled_count
            .fetch_add(verdict.settled as u64, Ordering::Relaxed);
        let acceptance = match &verdict.refusal {
            // Its settled entries were not verified: it is not passed on.
            None if verdict.settled > 0 => MessageAcceptance::Ignore,
            None => MessageAcceptance::Accept,
            Some(reason) => {
                tracing::warn!(peer = %source, len, %reason, kept = verdict.entries.len(), "rejected a gossiped message; entries in it that pass on their own are kept");
                MessageAcceptance::Reject
            }
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id, &source, acceptance);
        if !verdict.entries.is_empty() {
            self.deliver(verdict.entries);
        }
    }

    /// Hands accepted entries to the consumer without ever waiting.
    pub(super) fn deliver(&mut self, entries: Vec<Received>) {
        match self.entries.try_send(entries) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(entries)) => {
                let n = self
                    .dropped
                    .fetch_add(entries.len() as u64, Ordering::Relaxed)
                    + entries.len() as u64;
                tracing::warn!(
                    entries = entries.len(),
                    dropped = n,
                    "entry receiver is full; entries dropped"
                );
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!("entry receiver closed; entries not delivered");
            }
        }
    }
}
