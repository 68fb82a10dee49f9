//! Running a program as a test does: one [`Command`] at a time, with its
//! output captured ([`Out`]) and a time limit, so a process that waits
//! for input it will never get (a passphrase prompt) fails the test
//! instead of hanging the run. Std only.
//!
//! [`run`] captures whatever happened; [`ok`] wants success and [`fails`]
//! a clear refusal, both without a panic.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a process may run before it is killed (its [`Out::code`] is
/// then `None`).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// What a process did.
#[derive(Debug)]
pub struct Out {
    /// Exit code (None if killed, e.g. by the timeout).
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// The command line, for messages.
    pub what: String,
}

impl Out {
    /// Standard output and standard error together.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Standard output parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("`{}` did not print JSON ({e}):\n{}", self.what, self.stdout)
        })
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited with {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}

/// Runs a command (standard input empty) and captures what it did; killed
/// after [`TIMEOUT`].
pub fn run(cmd: &mut Command) -> Out {
    run_within(cmd, TIMEOUT)
}

/// [`run`], killed after `timeout`.
pub fn run_within(cmd: &mut Command, timeout: Duration) -> Out {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    // Both pipes are drained while the process runs, so a chatty process
    // never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                // A read error ends the capture; what was read is kept.
                let _ = p.read_to_end(&mut bytes);
            }
            let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
        });
        rx
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let end = Instant::now() + timeout;
    let (status, killed) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (status, false),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) | Err(_) => {
                // Too long (or no longer observable): killed, then reaped.
                let _ = child.kill();
                let status = child
                    .wait()
                    .unwrap_or_else(|e| panic!("cannot wait for {what}: {e}"));
                break (status, true);
            }
        }
    };
    // After a kill, a process the killed one started may still hold the
    // pipes: its output is not waited for long.
    let collect = |rx: mpsc::Receiver<String>| {
        if killed {
            rx.recv_timeout(Duration::from_secs(2))
                .unwrap_or_else(|_| "(not captured: the pipe is still held open)".to_string())
        } else {
            rx.recv().expect("the output reader")
        }
    };
    Out {
        code: status.code(),
        stdout: collect(stdout),
        stderr: collect(stderr),
        what,
    }
}

/// Runs a command that must succeed.
pub fn ok(cmd: &mut Command) -> Out {
    let out = run(cmd);
    assert_eq!(out.code, Some(0), "expected success:\n{out}");
    assert_no_panic(&out);
    out
}

/// Runs a command that must fail: a non-zero exit (not a crash or a
/// timeout), no panic, and a message with one of `needles` (any case).
pub fn fails(cmd: &mut Command, needles: &[&str]) -> Out {
    let out = run(cmd);
    assert!(
        matches!(out.code, Some(c) if c != 0),
        "expected a non-zero exit:\n{out}"
    );
    assert_no_panic(&out);
    let all = out.all().to_lowercase();
    assert!(
        needles.iter().any(|n| all.contains(&n.to_lowercase())),
        "expected a message with one of {needles:?}:\n{out}"
    );
    // Shown with `--nocapture`, to read the messages.
    println!("refused as expected: {out}\n");
    out
}

fn assert_no_panic(out: &Out) {
    assert!(
        !out.stderr.contains("panicked"),
        "the program panicked:\n{out}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_exit_codes_are_captured() {
        let out = ok(Command::new("sh").args(["-c", "echo out; echo err >&2"]));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        let out = fails(
            Command::new("sh").args(["-c", "echo NOPE >&2; exit 3"]),
            &["nope"],
        );
        assert_eq!(out.code, Some(3));
    }

    #[test]
    fn a_process_that_waits_forever_is_killed() {
        let started = Instant::now();
        let out = run_within(
            Command::new("sh").args(["-c", "read line; echo read; exec sleep 30"]),
            Duration::from_millis(300),
        );
        assert_eq!(out.code, None, "{out}");
        assert_eq!(out.stdout, "read\n", "standard input is empty");
        assert!(started.elapsed() < Duration::from_secs(20), "{out}");
    }
}
