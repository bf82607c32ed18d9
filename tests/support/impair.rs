//! An impaired network path for tests and benchmarks, since this kernel has no netem: a UDP
//! relay that delays every datagram (a fixed delay plus uniform jitter, so packets reorder as
//! on a real jittery path) and drops a share of them, in both directions. Put in front of
//! coturn, relay-only calls through it cross the impaired path, browsers and roompeer alike.

use super::Netns;
use std::collections::{BinaryHeap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the path does to each datagram, in each direction.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// The delay every datagram gets.
    pub delay: Duration,
    /// Plus a uniform random extra in `[-jitter, +jitter]`.
    pub jitter: Duration,
    /// The share dropped, 0..1.
    pub loss: f64,
}

/// A datagram waiting for its time.
struct Due {
    at: Instant,
    seq: u64,
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    data: Vec<u8>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Earliest first from a max-heap.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The relay; stops when dropped.
pub struct ImpairedRelay {
    /// Where clients send (in place of the server).
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// The latest any datagram left after its time, µs, and how many left 10 ms late or more:
    /// the relay's own delay, which would otherwise pass for the path's (or the peers').
    late_max_us: Arc<AtomicU64>,
    late_count: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

struct Rng(u64);
impl Rng {
    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl ImpairedRelay {
    /// Relays 127.0.0.1:`port` (0: any) to `server` inside `ns`, impaired both ways.
    pub fn start(ns: &Netns, server: SocketAddr, path: Impairment) -> ImpairedRelay {
        let (listen, stop) = ns.run_on_thread_inside(|| {
            let s = UdpSocket::bind("127.0.0.1:0").expect("relay socket");
            s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            (Arc::new(s), Arc::new(AtomicBool::new(false)))
        });
        let port = listen.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel::<Due>();
        let mut threads = Vec::new();
        // The scheduler: sends each datagram at its time.
        let sched_stop = stop.clone();
        let (late_max_us, late_count) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (max_us, count) = (late_max_us.clone(), late_count.clone());
        threads.push(std::thread::spawn(move || {
            let mut heap = BinaryHeap::new();
            while !sched_stop.load(Ordering::Relaxed) {
                let wait = heap
                    .peek()
                    .map(|d: &Due| d.at.saturating_duration_since(Instant::now()))
                    .unwrap_or(Duration::from_millis(20))
                    .min(Duration::from_millis(20));
                match rx.recv_timeout(wait) {
                    Ok(d) => heap.push(d),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(_) => break,
                }
                while heap.peek().is_some_and(|d| d.at <= Instant::now()) {
                    let d = heap.pop().unwrap();
                    let _ = d.socket.send_to(&d.data, d.to);
                    let late = Instant::now().saturating_duration_since(d.at);
                    max_us.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                    if late >= Duration::from_millis(10) {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
        // Clients to the server, each client through an upstream socket of its own.
        let up_stop = stop.clone();
        let ns_name = ns.name.clone();
        threads.push(std::thread::spawn(move || {
            let netns = std::fs::File::open(format!("/var/run/netns/{ns_name}")).unwrap();
            // SAFETY: moves only this thread into the test's namespace.
            assert_eq!(
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&netns), libc::CLONE_NEWNET) },
                0
            );
            let mut rng = Rng(0x5eed);
            let mut seq = 0u64;
            let mut upstream: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
            let mut buf = vec![0u8; 65536];
            let schedule =
                |rng: &mut Rng, seq: &mut u64, socket: Arc<UdpSocket>, to, data: &[u8]| {
                    if rng.next() < path.loss {
                        return;
                    }
                    let jitter = path.jitter.as_secs_f64() * (2.0 * rng.next() - 1.0);
                    let delay = (path.delay.as_secs_f64() + jitter).max(0.0);
                    *seq += 1;
                    let _ = tx.send(Due {
                        at: Instant::now() + Duration::from_secs_f64(delay),
                        seq: *seq,
                        socket,
                        to,
                        data: data.to_vec(),
                    });
                };
            let mut trace = RtpTrace::from_env();
            while !up_stop.load(Ordering::Relaxed) {
                // Datagrams from clients.
                if let Ok((n, from)) = listen.recv_from(&mut buf) {
                    trace.note("up", from, &buf[..n]);
                    let up = upstream
                        .entry(from)
                        .or_insert_with(|| {
                            let s = UdpSocket::bind("127.0.0.1:0").expect("upstream socket");
                            s.set_nonblocking(true).unwrap();
                            Arc::new(s)
                        })
                        .clone();
                    schedule(&mut rng, &mut seq, up, server, &buf[..n]);
                }
                // Datagrams from the server, back to their clients.
                for (client, up) in &upstream {
                    while let Ok((n, _)) = up.recv_from(&mut buf) {
                        trace.note("down", *client, &buf[..n]);
                        schedule(&mut rng, &mut seq, listen.clone(), *client, &buf[..n]);
                    }
                }
            }
        }));
        ImpairedRelay {
            port,
            stop,
            late_max_us,
            late_count,
            threads,
        }
    }
}

impl ImpairedRelay {
    /// How late the relay itself sent datagrams: (the latest, ms; how many 10 ms or more).
    pub fn own_lateness(&self) -> (f64, u64) {
        (
            self.late_max_us.load(Ordering::Relaxed) as f64 / 1000.0,
            self.late_count.load(Ordering::Relaxed),
        )
    }
}

impl Drop for ImpairedRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let (max_ms, late) = self.own_lateness();
        if late > 0 {
            eprintln!(
                "impaired relay: {late} datagrams left 10 ms or more after their time (at most {max_ms:.1} ms): the relay's own delay"
            );
        }
    }
}

/// With `ROOMPEER_RELAY_TRACE=FILE`, one CSV line per RTP packet the relay takes in (inside a
/// TURN ChannelData frame; SRTP leaves the RTP header in the clear): when (wall clock, µs), which way, the
/// client, SSRC, sequence number and timestamp. It tells a queue in a sender (packets reach
/// the relay late) from one in a receiver (they reach it on time).
struct RtpTrace(Option<std::io::BufWriter<std::fs::File>>);

impl RtpTrace {
    fn from_env() -> RtpTrace {
        let file = std::env::var_os("ROOMPEER_RELAY_TRACE").map(|path| {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("relay trace file");
            std::io::BufWriter::new(f)
        });
        RtpTrace(file)
    }

    fn note(&mut self, way: &str, client: SocketAddr, frame: &[u8]) {
        use std::io::Write;
        let Some(out) = &mut self.0 else { return };
        // ChannelData: channel number 0x4000..0x7fff, length, then the datagram.
        if frame.len() < 16 || !(0x40..0x80).contains(&frame[0]) {
            return;
        }
        let rtp = &frame[4..];
        let pt = rtp[1] & 0x7f;
        if rtp[0] >> 6 != 2 || (64..96).contains(&pt) {
            return;
        }
        let seq = u16::from_be_bytes([rtp[2], rtp[3]]);
        let ts = u32::from_be_bytes([rtp[4], rtp[5], rtp[6], rtp[7]]);
        let ssrc = u32::from_be_bytes([rtp[8], rtp[9], rtp[10], rtp[11]]);
        let _ = writeln!(
            out,
            "{},{way},{},{ssrc},{pt},{seq},{ts},{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_micros(),
            client.port(),
            frame.len()
        );
    }
}
