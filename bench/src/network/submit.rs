//! Submission: one thread per group sends its entries to its own node
//! through the HTTP API, either at a fixed offered rate
//! ([`submit_fixed`]) or as fast as the network finalises with a bounded
//! number of unfinalised entries ([`submit_saturated`]), one request of
//! up to `batch` entries at a time.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use waybill_testnet::Conn;

use super::groups::Group;
use super::track::Track;

/// Runs `submit(group index, group, its node)` on one thread per group;
/// the first failure stops every thread and is the result.
pub(super) fn submit_from_every_group<F>(
    track: &Track,
    groups: &[Group],
    addrs: &[SocketAddr],
    submit: F,
) -> Result<Vec<Sent>>
where
    F: Fn(usize, &Group, SocketAddr) -> Result<Sent> + Sync,
{
    let submit = &submit;
    let sent = std::thread::scope(|s| {
        let hs: Vec<_> = groups
            .iter()
            .enumerate()
            .map(|(k, g)| {
                let addr = addrs[k];
                s.spawn(move || {
                    let r = submit(k, g, addr);
                    if let Err(e) = &r {
                        track.fail(format!("{e:#}"));
                    }
                    r
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow!("a submitter panicked"))
                    .and_then(|r| r)
            })
            .collect::<Vec<_>>()
    });
    if let Some(f) = track.failed() {
        bail!("{f}");
    }
    sent.into_iter().collect()
}

/// What a submitter thread did.
pub(super) struct Sent {
    /// Entries accepted.
    pub(super) n: usize,
    /// When the last request was sent (ns since base).
    pub(super) last_ns: u64,
}

/// Fixed rate: entry `i` of this group (of `n`) is due at
/// `start + i / rate`; everything due is sent, up to `batch` per request,
/// one request at a time (an author's entries stay in order).
#[allow(clippy::too_many_arguments)]
pub(super) fn submit_fixed(
    track: &Track,
    addr: SocketAddr,
    group: usize,
    g: &Group,
    range: (usize, usize),
    offset: usize,
    rate: f64,
    start: Instant,
    batch: usize,
) -> Result<Sent> {
    let mut conn = Conn::new(addr, Duration::from_secs(60));
    let (first, end) = range;
    let n = end - first;
    let mut next = 0usize;
    let start_ns = u64::try_from(start.duration_since(track.base).as_nanos()).unwrap_or(0);
    let mut last_ns = start_ns;
    while next < n {
        if track.abort.load(Ordering::SeqCst) {
            bail!("stopped");
        }
        let el = start.elapsed().as_secs_f64();
        let due = ((el * rate) as usize + 1).min(n);
        if next >= due {
            let at = next as f64 / rate;
            let wait = (at - el).max(0.0);
            std::thread::sleep(Duration::from_secs_f64(wait.min(0.05)));
            continue;
        }
        let to = due.min(next + batch);
        for i in next..to {
            let due_ns = start_ns + (i as f64 / rate * 1e9) as u64;
            track.submitted_at[offset + first + i].store(due_ns, Ordering::SeqCst);
        }
        last_ns = track.now_ns();
        let ok = send(
            &mut conn,
            track,
            group,
            g,
            first + next,
            first + to,
            batch == 1,
        )?;
        next += ok;
        track.accepted[group].fetch_add(ok, Ordering::SeqCst);
        if next < to {
            // The mempool was full: let a block make room.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(Sent { n, last_ns })
}

/// Saturation: keeps at most `window` of this group's entries submitted
/// but not final, sending up to `batch` per request until `deadline`.
#[allow(clippy::too_many_arguments)]
pub(super) fn submit_saturated(
    track: &Track,
    addr: SocketAddr,
    group: usize,
    g: &Group,
    range: (usize, usize),
    offset: usize,
    window: usize,
    deadline: Instant,
    batch: usize,
) -> Result<Sent> {
    let mut conn = Conn::new(addr, Duration::from_secs(60));
    let (first, end) = range;
    let mut next = first;
    let mut last_ns = track.now_ns();
    while next < end && Instant::now() < deadline {
        if track.abort.load(Ordering::SeqCst) {
            bail!("stopped");
        }
        let outstanding = track.accepted[group]
            .load(Ordering::SeqCst)
            .saturating_sub(track.finalised[group].load(Ordering::SeqCst));
        if outstanding >= window {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let to = end.min(next + batch.min(window - outstanding));
        let now = track.now_ns();
        for i in next..to {
            track.submitted_at[offset + i].store(now, Ordering::SeqCst);
        }
        last_ns = now;
        let ok = send(&mut conn, track, group, g, next, to, batch == 1)?;
        next += ok;
        track.accepted[group].fetch_add(ok, Ordering::SeqCst);
        if next < to {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(Sent {
        n: next - first,
        last_ns,
    })
}

#[derive(Deserialize)]
struct BatchAnswer {
    results: Vec<BatchResult>,
}

#[derive(Deserialize)]
struct BatchResult {
    status: String,
    #[serde(default)]
    error: Option<String>,
}

/// Sends entries `from..to` of a group (global index `offset + i`);
/// returns how many, from `from`, were accepted (fewer: the mempool was
/// full; resend the rest). A refusal or an unexpected answer fails.
fn send(
    conn: &mut Conn,
    track: &Track,
    group: usize,
    g: &Group,
    from: usize,
    to: usize,
    single: bool,
) -> Result<usize> {
    let t = Instant::now();
    let r = send_request(conn, track, group, g, from, to, single);
    track
        .rtts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(t.elapsed().as_secs_f64() * 1e3);
    r
}

fn send_request(
    conn: &mut Conn,
    track: &Track,
    group: usize,
    g: &Group,
    from: usize,
    to: usize,
    single: bool,
) -> Result<usize> {
    if single {
        let r = conn.post("/v1/entries", &g.json[from])?;
        let (code, body) = (r.status, r.body);
        return match code {
            202 => Ok(1),
            503 => Ok(0),
            _ => bail!(
                "node {} answered {code} to entry {} ({} nonce {}): {}",
                group + 1,
                g.ids[from].short(),
                g.keys[from].0.short(),
                g.keys[from].1,
                String::from_utf8_lossy(&body)
            ),
        };
    }
    let size: usize = g.json[from..to].iter().map(|j| j.len() + 1).sum();
    let mut body = Vec::with_capacity(size + 2);
    body.push(b'[');
    for (k, j) in g.json[from..to].iter().enumerate() {
        if k > 0 {
            body.push(b',');
        }
        body.extend_from_slice(j);
    }
    body.push(b']');
    let r = conn.post("/v1/entries/batch", &body)?;
    let (code, answer) = (r.status, r.body);
    if code != 200 {
        bail!(
            "node {} answered {code} to a batch of {}: {}",
            group + 1,
            to - from,
            String::from_utf8_lossy(&answer)
        );
    }
    let a: BatchAnswer = serde_json::from_slice(&answer).context("decoding a batch answer")?;
    if a.results.len() != to - from {
        bail!(
            "node {} answered {} results to a batch of {}",
            group + 1,
            a.results.len(),
            to - from
        );
    }
    let mut ok = 0;
    for (k, r) in a.results.iter().enumerate() {
        match r.status.as_str() {
            "accepted" => ok += 1,
            "full" | "author_full" => {
                track.full.fetch_add(1, Ordering::Relaxed);
                return Ok(ok);
            }
            other => {
                let i = from + k;
                bail!(
                    "node {} answered `{other}` for entry {} ({} nonce {}): {}",
                    group + 1,
                    g.ids[i].short(),
                    g.keys[i].0.short(),
                    g.keys[i].1,
                    r.error.as_deref().unwrap_or("no reason given")
                );
            }
        }
    }
    Ok(ok)
}
