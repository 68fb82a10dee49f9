//! Running a generated network's nodes as `waybill-node` processes: start,
//! crash (SIGKILL), pause (SIGSTOP) and resume, stop (SIGTERM), wait for a height, read a log. Every
//! process is killed when the [`Cluster`] is dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{io, TestnetError};
use crate::http::status;
use crate::network::{NodeDef, Testnet};

/// Running node processes; all are killed on drop.
pub struct Cluster {
    /// The network.
    pub net: Testnet,
    bin: PathBuf,
    procs: BTreeMap<String, Child>,
    logs: PathBuf,
    /// Nodes run with another binary and extra environment variables.
    other_bins: BTreeMap<String, (PathBuf, Vec<(String, String)>)>,
}

impl Cluster {
    /// A cluster of `net` using the `waybill-node` binary at `bin`; no node
    /// runs yet.
    pub fn new(net: Testnet, bin: &Path) -> Self {
        let logs = net.dir.join("logs");
        Cluster {
            net,
            bin: bin.to_path_buf(),
            procs: BTreeMap::new(),
            logs,
            other_bins: BTreeMap::new(),
        }
    }

    /// Runs the node `name`, from its next start on, with the binary
    /// `bin` (which takes `run --config <file>` as `waybill-node` does) and
    /// these environment variables: a test's misbehaving node.
    pub fn use_binary(&mut self, name: &str, bin: &Path, env: &[(&str, &str)]) {
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        self.other_bins
            .insert(name.to_string(), (bin.to_path_buf(), env));
    }

    /// The process id of a running node.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.procs.get(name).map(Child::id)
    }

    /// The node definition.
    pub fn node(&self, name: &str) -> Result<&NodeDef, TestnetError> {
        self.net
            .nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| TestnetError::Other(format!("no node `{name}`")))
    }

    /// Starts a node (its log goes to `logs/<name>.log`, appended).
    pub fn start(&mut self, name: &str) -> Result<(), TestnetError> {
        let node = self.node(name)?.clone();
        std::fs::create_dir_all(&self.logs).map_err(io(self.logs.display()))?;
        let log_path = self.logs.join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(log_path.display()))?;
        let err = log.try_clone().map_err(io(log_path.display()))?;
        let (bin, env) = match self.other_bins.get(name) {
            Some((bin, env)) => (bin, env.as_slice()),
            None => (&self.bin, &[][..]),
        };
        let child = Command::new(bin)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("run")
            .arg("--config")
            .arg(&node.config)
            .env(
                "RUST_LOG",
                std::env::var("WAYBILL_NODE_LOG")
                    .unwrap_or_else(|_| "info,libp2p=warn,arc_malachitebft=warn".into()),
            )
            // The log is a file: no colour codes in it.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(io(format!("cannot start {}", bin.display())))?;
        self.procs.insert(name.to_string(), child);
        Ok(())
    }

    /// Starts every node.
    pub fn start_all(&mut self) -> Result<(), TestnetError> {
        let names: Vec<String> = self.net.nodes.iter().map(|n| n.name.clone()).collect();
        for n in names {
            self.start(&n)?;
        }
        Ok(())
    }

    /// Kills a node with SIGKILL (a crash).
    pub fn kill(&mut self, name: &str) {
        if let Some(mut c) = self.procs.remove(name) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Pauses a node with SIGSTOP (a stall: the process holds its
    /// connections but answers nothing). Returns whether the signal went.
    pub fn pause(&mut self, name: &str) -> bool {
        self.signal(name, "-STOP")
    }

    /// Resumes a paused node with SIGCONT.
    pub fn resume(&mut self, name: &str) -> bool {
        self.signal(name, "-CONT")
    }

    fn signal(&self, name: &str, signal: &str) -> bool {
        let Some(c) = self.procs.get(name) else {
            return false;
        };
        Command::new("kill")
            .arg(signal)
            .arg(c.id().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Stops a node gracefully (SIGTERM), waiting up to `timeout`, then
    /// kills it. Returns whether it exited by itself with success.
    pub fn stop(&mut self, name: &str, timeout: Duration) -> bool {
        let Some(mut c) = self.procs.remove(name) else {
            return false;
        };
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        let deadline = Instant::now() + timeout;
        while ok && Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// Stops every running node.
    pub fn stop_all(&mut self, timeout: Duration) -> bool {
        let names: Vec<String> = self.procs.keys().cloned().collect();
        // Every node is stopped, even after one fails to exit cleanly.
        let mut all_ok = true;
        for n in &names {
            all_ok &= self.stop(n, timeout);
        }
        all_ok
    }

    /// Whether a node's process has exited.
    pub fn exited(&mut self, name: &str) -> bool {
        match self.procs.get_mut(name) {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Waits until a node's API answers with height ≥ `height`.
    pub fn wait_height(
        &mut self,
        name: &str,
        height: u64,
        timeout: Duration,
    ) -> Result<u64, TestnetError> {
        let addr = self.node(name)?.api;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((h, _)) = status(addr) {
                if h >= height {
                    return Ok(h);
                }
            }
            if self.exited(name) {
                return Err(TestnetError::Other(format!(
                    "node {name} exited; see {}",
                    self.logs.join(format!("{name}.log")).display()
                )));
            }
            if Instant::now() >= deadline {
                return Err(TestnetError::Other(format!(
                    "node {name} did not reach height {height} within {timeout:?}; see {}",
                    self.logs.join(format!("{name}.log")).display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The log of a node, for diagnostics.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{name}.log"))).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.procs) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
