//! What a process tree costs, read from /proc while it runs: CPU seconds (user + system) and
//! peak PSS (proportional set size: shared pages split between the processes sharing them, so
//! a browser's many processes add up to what they really hold).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A process tree's cost so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    /// CPU seconds, user + system, of every process seen in the tree.
    pub cpu_s: f64,
    /// The largest sum of the tree's PSS seen at one reading, KiB.
    pub peak_pss_kib: u64,
}

/// Samples a process tree every 100 ms on a thread of its own until finished.
pub struct TreeMeter {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Cost>>,
}

/// One process's stat line: parent, cumulative CPU ticks, command name.
fn stat(pid: u32) -> Option<(u32, u64, String)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name is in parentheses and may hold spaces; the fields follow the last ')'.
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_string();
    let fields: Vec<&str> = s[close + 2..].split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime, comm))
}

fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

impl TreeMeter {
    /// Measures `root` and its descendants whose command name passes `keep` (the root itself
    /// too when it passes).
    pub fn start(root: u32, keep: fn(&str) -> bool) -> TreeMeter {
        let stop = Arc::new(AtomicBool::new(false));
        let until = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut ticks: HashMap<u32, u64> = HashMap::new();
            let mut peak_pss = 0;
            loop {
                let done = until.load(Ordering::Relaxed);
                // Every process and its parent, then the tree under root.
                let procs: Vec<(u32, u32, u64, String)> = std::fs::read_dir("/proc")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                    .filter_map(|pid| stat(pid).map(|(pp, t, c)| (pid, pp, t, c)))
                    .collect();
                let mut tree = vec![root];
                let mut i = 0;
                while i < tree.len() {
                    let parent = tree[i];
                    tree.extend(procs.iter().filter(|p| p.1 == parent).map(|p| p.0));
                    i += 1;
                }
                let mut pss = 0;
                for (pid, _, t, comm) in procs.iter().filter(|p| tree.contains(&p.0)) {
                    if keep(comm) {
                        let seen = ticks.entry(*pid).or_default();
                        *seen = (*seen).max(*t);
                        pss += pss_kib(*pid);
                    }
                }
                peak_pss = peak_pss.max(pss);
                if done {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Cost {
                cpu_s: ticks.values().sum::<u64>() as f64 / ticks_per_second(),
                peak_pss_kib: peak_pss,
            }
        });
        TreeMeter {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops measuring: the cost up to the last reading.
    pub fn finish(mut self) -> Cost {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for TreeMeter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Chromium's processes (browser, renderers, GPU and utility processes), not the node driver.
pub fn is_chromium(comm: &str) -> bool {
    comm.starts_with("chrom")
}

/// Any process.
pub fn any_process(_: &str) -> bool {
    true
}
