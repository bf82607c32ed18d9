//! `--profile DIR`: where a run's CPU time goes, per thread and per function, for a user's own
//! call. pprof samples the process on SIGPROF (the kernel's CPU-time timer, so no perf events
//! are needed) and unwinds each sample's stack; at the end of the run DIR gets a flame graph
//! (`flamegraph.svg`), the folded stacks behind it (`stacks.folded`, for other flame graph
//! tools) and the shares per thread and per function (`profile.txt`, and `profile.json` typed
//! as [`ProfileSummary`]).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Samples a second of CPU time is cut into. Each sample unwinds a stack in a signal handler:
/// at 250 Hz a 20 s call cost 25% more CPU, at 100 Hz about 10%.
const FREQUENCY_HZ: i32 = 100;
/// Functions listed in the summary, per table.
const TOP: usize = 40;

/// Why a profile could not be taken or written.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot start the CPU profiler: {0}")]
    Start(#[source] pprof::Error),
    #[error("cannot build the CPU profile: {0}")]
    Report(#[source] pprof::Error),
    #[error("cannot write the CPU profile to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One row of a summary table: a name and its share of the samples.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Share {
    pub name: String,
    /// Percent of all samples.
    pub percent: f64,
    /// CPU seconds (samples / frequency).
    pub cpu_s: f64,
}

/// What `profile.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProfileSummary {
    /// CPU seconds of the whole run, from the threads' own clocks.
    pub cpu_s: f64,
    /// CPU time per thread name, exact (the threads' clocks in /proc; threads that share a
    /// name, as tokio's workers, add up).
    pub thread_cpu: Vec<Share>,
    pub samples: u64,
    pub frequency_hz: u32,
    /// Samples per thread (see [`ThreadClock`] for why these undercount).
    pub threads: Vec<Share>,
    /// Time spent in each function itself (the leaf of the stack).
    pub functions_self: Vec<Share>,
    /// Time spent in each function and what it called.
    pub functions_total: Vec<Share>,
}

/// A running profile; [`Profiler::finish`] writes it.
pub struct Profiler {
    guard: pprof::ProfilerGuard<'static>,
    threads: ThreadClock,
    dir: PathBuf,
}

/// Every thread's CPU time, read from /proc/self/task every 200 ms. Exact where the samples
/// are not: the profiling timer is process-wide, and its signals coalesce while two threads
/// run at once, so on two busy cores about half of the CPU time goes unsampled.
struct ThreadClock {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<HashMap<u32, (String, u64)>>>,
}

impl ThreadClock {
    fn start() -> ThreadClock {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let until = stop.clone();
        let thread = std::thread::Builder::new()
            .name("profile clock".into())
            .spawn(move || {
                let mut seen = HashMap::new();
                loop {
                    let done = until.load(Ordering::Relaxed);
                    read_tasks(&mut seen);
                    if done {
                        return seen;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            })
            .ok();
        ThreadClock { stop, thread }
    }

    /// CPU seconds per thread name, highest first.
    fn finish(mut self) -> Vec<(String, f64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let seen = self
            .thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        // SAFETY: sysconf only reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let mut by_name: HashMap<String, u64> = HashMap::new();
        for (name, ticks) in seen.into_values() {
            *by_name.entry(name).or_default() += ticks;
        }
        let mut rows: Vec<(String, f64)> = by_name
            .into_iter()
            .map(|(name, ticks)| (name, ticks as f64 / hz))
            .collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        rows
    }
}

/// Each thread's name and CPU ticks (user + system) so far, by thread id.
fn read_tasks(seen: &mut HashMap<u32, (String, u64)>) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if let Some((name, ticks)) = parse_task_stat(&stat) {
            seen.insert(tid, (name, ticks));
        }
    }
}

/// The name and user + system ticks from a `/proc/…/stat` line.
fn parse_task_stat(stat: &str) -> Option<(String, u64)> {
    // The name is in parentheses and may hold spaces; the fields follow the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

impl Profiler {
    /// Starts sampling the whole process; the files go to `dir` (made if missing).
    pub fn start(dir: &Path) -> Result<Profiler, ProfileError> {
        std::fs::create_dir_all(dir).map_err(|source| ProfileError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        // Samples taken inside the unwinder itself or the vDSO are skipped (pprof's advice:
        // unwinding from there can deadlock or read bad unwind tables). libc stays in: memcpy and
        // the allocator are among the costs to see.
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(FREQUENCY_HZ)
            .blocklist(&["libgcc", "vdso", "ld-linux"])
            .build()
            .map_err(ProfileError::Start)?;
        Ok(Profiler {
            guard,
            threads: ThreadClock::start(),
            dir: dir.to_path_buf(),
        })
    }

    /// Stops sampling and writes the files; returns the summary.
    pub fn finish(self) -> Result<ProfileSummary, ProfileError> {
        // The clocks first: resolving the samples' symbols below takes a while on this thread.
        let cpu = self.threads.finish();
        let report = self.guard.report().build().map_err(ProfileError::Report)?;
        drop(self.guard);
        let write = |name: &str, bytes: &[u8]| {
            let path = self.dir.join(name);
            std::fs::write(&path, bytes).map_err(|source| ProfileError::Write { path, source })
        };
        let mut svg = Vec::new();
        report.flamegraph(&mut svg).map_err(ProfileError::Report)?;
        write("flamegraph.svg", &svg)?;
        let stacks: Vec<Stack> = report
            .data
            .iter()
            .map(|(frames, &count)| Stack {
                thread: thread_name(&frames.thread_name),
                // pprof lists the leaf first; the sampler's own frames come before it.
                functions: frames
                    .frames
                    .iter()
                    .flat_map(|inlined| inlined.iter().map(|s| s.name()))
                    .skip_while(|name| is_sampler_frame(name))
                    .map(|name| short_name(&name))
                    .collect(),
                count: count.max(0) as u64,
            })
            .collect();
        let folded: String = stacks
            .iter()
            .map(|s| {
                let mut line = s.thread.clone();
                for f in s.functions.iter().rev() {
                    line.push(';');
                    line.push_str(f);
                }
                format!("{line} {}\n", s.count)
            })
            .collect();
        write("stacks.folded", folded.as_bytes())?;
        let mut summary = summarize(&stacks, FREQUENCY_HZ as u32);
        let total: f64 = cpu.iter().map(|(_, s)| s).sum();
        summary.cpu_s = total;
        summary.thread_cpu = cpu
            .into_iter()
            .map(|(name, cpu_s)| Share {
                name,
                percent: if total > 0.0 {
                    100.0 * cpu_s / total
                } else {
                    0.0
                },
                cpu_s,
            })
            .collect();
        write("profile.txt", summary.to_text().as_bytes())?;
        let json = serde_json::to_vec_pretty(&summary).unwrap_or_default();
        write("profile.json", &json)?;
        Ok(summary)
    }
}

/// One sampled stack, leaf first, and how often it was seen.
#[derive(Debug, Clone)]
pub struct Stack {
    pub thread: String,
    pub functions: Vec<String>,
    pub count: u64,
}

/// Frames of the sampler and the signal's delivery, above the code that was running.
fn is_sampler_frame(name: &str) -> bool {
    name.contains("pprof::")
        || name.contains("backtrace::")
        || name.starts_with("__restore_rt")
        || name.contains("perf_signal_handler")
        || name == "Unknown"
}

/// A name without Rust's hash suffix (`::h0123…`).
fn short_name(name: &str) -> String {
    match name.rfind("::h") {
        Some(i) if name.len() - i == 19 && name[i + 3..].chars().all(|c| c.is_ascii_hexdigit()) => {
            name[..i].to_string()
        }
        _ => name.to_string(),
    }
}

/// Threads named after what they do; numbered ones (`tokio-runtime-worker`, recordings) kept.
fn thread_name(name: &str) -> String {
    if name.is_empty() {
        "unnamed".into()
    } else {
        name.to_string()
    }
}

/// The shares per thread, per function itself and per function with its callees.
pub fn summarize(stacks: &[Stack], frequency_hz: u32) -> ProfileSummary {
    let samples: u64 = stacks.iter().map(|s| s.count).sum();
    let mut threads: HashMap<&str, u64> = HashMap::new();
    let mut own: HashMap<&str, u64> = HashMap::new();
    let mut total: HashMap<&str, u64> = HashMap::new();
    for s in stacks {
        *threads.entry(&s.thread).or_default() += s.count;
        if let Some(leaf) = s.functions.first() {
            *own.entry(leaf).or_default() += s.count;
        }
        // A function counted once per sample, however deep it recurses.
        let mut seen: Vec<&str> = Vec::new();
        for f in &s.functions {
            if !seen.contains(&f.as_str()) {
                seen.push(f);
                *total.entry(f).or_default() += s.count;
            }
        }
    }
    let table = |m: HashMap<&str, u64>, limit: usize| {
        let mut rows: Vec<Share> = m
            .into_iter()
            .map(|(name, n)| Share {
                name: name.to_string(),
                percent: if samples == 0 {
                    0.0
                } else {
                    100.0 * n as f64 / samples as f64
                },
                cpu_s: n as f64 / f64::from(frequency_hz.max(1)),
            })
            .collect();
        rows.sort_by(|a, b| b.percent.total_cmp(&a.percent).then(a.name.cmp(&b.name)));
        rows.truncate(limit);
        rows
    };
    ProfileSummary {
        cpu_s: 0.0,
        thread_cpu: Vec::new(),
        samples,
        frequency_hz,
        threads: table(threads, usize::MAX),
        functions_self: table(own, TOP),
        functions_total: table(total, TOP),
    }
}

impl ProfileSummary {
    /// The summary as a person reads it.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "CPU profile: {:.2} CPU-s in all; {} samples at {} Hz ({:.2} CPU-s: the sampler misses \
             time while threads run at once, so read the function tables as shares)\n",
            self.cpu_s,
            self.samples,
            self.frequency_hz,
            self.samples as f64 / f64::from(self.frequency_hz.max(1))
        );
        for (title, rows) in [
            ("per thread, from the threads' clocks", &self.thread_cpu),
            ("per thread, sampled", &self.threads),
            ("per function, itself", &self.functions_self),
            ("per function, with what it calls", &self.functions_total),
        ] {
            out.push_str(&format!("\n{title}:\n"));
            for r in rows {
                out.push_str(&format!(
                    "{:6.1}%  {:7.2} s  {}\n",
                    r.percent, r.cpu_s, r.name
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(thread: &str, functions: &[&str], count: u64) -> Stack {
        Stack {
            thread: thread.into(),
            functions: functions.iter().map(|f| f.to_string()).collect(),
            count,
        }
    }

    #[test]
    fn shares_count_leaves_for_self_time_and_each_function_once_for_total() {
        let stacks = [
            stack("video-send", &["encode_mb", "encode", "encode", "main"], 3),
            stack("video-send", &["draw", "main"], 1),
            stack("tokio-runtime-worker", &["poll", "run"], 4),
        ];
        let s = summarize(&stacks, 100);
        assert_eq!(s.samples, 8);
        assert_eq!(s.threads[0].name, "tokio-runtime-worker");
        assert_eq!(s.threads[0].percent, 50.0);
        assert_eq!(s.threads[1].name, "video-send");
        assert_eq!(s.functions_self[0].name, "poll");
        assert_eq!(s.functions_self[1].name, "encode_mb");
        assert_eq!(s.functions_self[1].cpu_s, 0.03);
        let encode = s
            .functions_total
            .iter()
            .find(|r| r.name == "encode")
            .unwrap();
        assert_eq!(encode.percent, 37.5, "recursion counted once per sample");
        let main = s.functions_total.iter().find(|r| r.name == "main").unwrap();
        assert_eq!(main.percent, 50.0);
        assert!(s.to_text().contains("video-send"));
    }

    #[test]
    fn task_stat_lines_give_name_and_ticks() {
        let line = "4242 (video send) S 1 2 3 4 5 6 7 8 9 10 120 30 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_task_stat(line), Some(("video send".into(), 150)));
        assert_eq!(parse_task_stat("4242 (cut"), None);
        let mut seen = HashMap::new();
        read_tasks(&mut seen);
        assert!(!seen.is_empty(), "this test's own threads are listed");
    }

    #[test]
    fn hashes_are_cut_from_rust_names_only() {
        assert_eq!(
            short_name("roompeer::media::vp8::Vp8Encoder::encode::h0123456789abcdef"),
            "roompeer::media::vp8::Vp8Encoder::encode"
        );
        assert_eq!(short_name("vp8_encode_frame"), "vp8_encode_frame");
        assert_eq!(short_name("a::hello"), "a::hello");
    }
}
