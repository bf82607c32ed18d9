//! Test hosts: network namespaces with only `lo`, and nftables rules inside them.

use super::run_ok;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A network namespace whose only interface is `lo`: nothing inside can reach anything but
/// 127.0.0.1/::1. Removed (with every process in it) on drop.
pub struct Netns {
    pub name: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Netns {
    /// A default route through `lo` with source 127.0.0.1. Firefox (without a granted camera
    /// permission) gathers only its "default address", found by connecting a UDP socket to a
    /// public address: without this route that fails and it offers no UDP candidate at all.
    /// Packets still go nowhere but this namespace.
    pub fn default_route_via_lo(&self) {
        self.ip(&["route", "add", "default", "dev", "lo", "src", "127.0.0.1"]);
    }

    /// Runs `ip ARGS` inside this namespace.
    pub fn ip(&self, args: &[&str]) {
        run_ok(Command::new("ip").arg("-n").arg(&self.name).args(args));
    }

    pub fn new() -> Netns {
        let name = format!(
            "rpt{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        run_ok(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]));
        Netns { name }
    }

    /// Runs `f` on a thread of this process that has entered the namespace (a network
    /// namespace is per thread on Linux): what it starts, threads and sockets, is inside too.
    /// A panic in `f` is this caller's panic.
    pub fn run_on_thread_inside<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        use std::os::fd::AsRawFd;
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            let thread = scope.spawn(|| {
                let ns = std::fs::File::open(&path)
                    .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
                // SAFETY: setns moves only this thread into the namespace the open file names.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            });
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Netns {
    /// Loads nftables rules into this namespace.
    pub fn nft(&self, rules: &str) {
        let mut c = self.command("nft");
        c.args(["-f", "-"]).stdin(Stdio::piped());
        let mut child = c.spawn().expect("nft");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), rules.as_bytes()).unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success(), "nft refused: {rules}");
    }

    /// Drops every UDP packet arriving in the namespace (media and ICE, not signaling), until
    /// [`Netns::restore_udp`].
    pub fn drop_udp(&self) {
        self.nft("table inet outage { chain input { type filter hook input priority 0; meta l4proto udp drop; }; }\n");
    }

    /// Drops `percent`% of UDP packets at random (each packet once: on `lo` it leaves and
    /// arrives in this namespace), until [`Netns::restore_udp`].
    pub fn lose_udp(&self, percent: u32) {
        self.nft(&format!(
            "table inet outage {{ chain output {{ type filter hook output priority 0; meta l4proto udp numgen random mod 100 < {percent} drop; }}; }}\n"
        ));
    }

    /// Caps UDP at `kbytes` kB/s in all (both directions of a call on `lo` share it): what
    /// goes over is dropped, as at a congested link. Ended by [`Netns::restore_udp`].
    pub fn cap_udp(&self, kbytes: u32) {
        self.nft(&format!(
            "table inet outage {{ chain output {{ type filter hook output priority 0; meta l4proto udp limit rate over {kbytes} kbytes/second burst 200 kbytes drop; }}; }}\n"
        ));
    }

    /// Ends an outage started with [`Netns::drop_udp`].
    pub fn restore_udp(&self) {
        run_ok(
            self.command("nft")
                .args(["delete", "table", "inet", "outage"]),
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
