//! A Wayland desktop without a display, for screen sharing through the desktop portal: sway
//! (wlroots, headless backend, software rendering) showing the known quadrants as its
//! background, PipeWire with WirePlumber, and xdg-desktop-portal with its wlroots backend
//! (which picks the one output without asking), on a private D-Bus session bus that starts the
//! portals when first asked. Everything but sway runs as root, as the tests do; sway refuses
//! root and runs as `nobody`. Stopped on drop.

use super::xvfb::QUADRANTS;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct WaylandDesktop {
    /// `DBUS_SESSION_BUS_ADDRESS` of the session.
    pub bus: String,
    /// `WAYLAND_DISPLAY` (a full path: the socket is in sway's runtime directory).
    pub display: String,
    dir: PathBuf,
    children: Vec<Child>,
}

/// Waits for a socket a server makes once it listens.
fn wait_for_socket(path: &Path, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before it listened at {path:?}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} never listened at {path:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The quadrants at `width`x`height` as a PNG (through a PPM, by ffmpeg).
fn quadrants_png(dir: &Path, (width, height): (usize, usize)) -> PathBuf {
    let ppm = dir.join("quadrants.ppm");
    let mut bytes = format!("P6\n{width} {height}\n255\n").into_bytes();
    for y in 0..height {
        for x in 0..width {
            let q = usize::from(x >= width / 2) + 2 * usize::from(y >= height / 2);
            bytes.extend_from_slice(&QUADRANTS[q]);
        }
    }
    std::fs::write(&ppm, bytes).unwrap();
    let png = dir.join("quadrants.png");
    let ok = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-i"])
        .arg(&ppm)
        .arg(&png)
        .status()
        .expect("ffmpeg");
    assert!(ok.success(), "ffmpeg could not write {png:?}");
    png
}

impl WaylandDesktop {
    pub fn start(width: usize, height: usize) -> WaylandDesktop {
        let dir = super::scratch("wayland-desktop");
        let runtime = dir.join("run");
        let sway_runtime = dir.join("sway-run");
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::create_dir_all(&sway_runtime).unwrap();
        for d in [&dir, &runtime] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let chown = Command::new("chown")
            .arg("nobody")
            .arg(&sway_runtime)
            .status()
            .expect("chown");
        assert!(chown.success());
        std::fs::set_permissions(&sway_runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        let png = quadrants_png(&dir, (width, height));
        std::fs::set_permissions(&png, std::fs::Permissions::from_mode(0o644)).unwrap();
        let display = sway_runtime.join("wayland-1").display().to_string();
        let mut children = Vec::new();

        // sway, as nobody: one headless output showing the quadrants.
        let sway_conf = dir.join("sway.conf");
        std::fs::write(
            &sway_conf,
            format!(
                "output HEADLESS-1 resolution {width}x{height} bg {} fill\nxwayland disable\n",
                png.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&sway_conf, std::fs::Permissions::from_mode(0o644)).unwrap();
        // setpriv execs sway itself (so it is the child killed on drop), as nobody.
        let mut sway = Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "env"])
            .arg(format!("XDG_RUNTIME_DIR={}", sway_runtime.display()))
            .arg(format!("HOME={}", sway_runtime.display()))
            .args([
                "WLR_BACKENDS=headless",
                "WLR_RENDERER=pixman",
                "WLR_LIBINPUT_NO_DEVICES=1",
                "sway",
                "-c",
            ])
            .arg(&sway_conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sway.log")).unwrap())
            .spawn()
            .expect("sway (apt: sway swaybg)");
        wait_for_socket(Path::new(&display), "sway", &mut sway);
        children.push(sway);

        // PipeWire and its session manager, which links the portal's stream to its reader.
        let env = [
            ("XDG_RUNTIME_DIR", runtime.display().to_string()),
            ("WAYLAND_DISPLAY", display.clone()),
            ("XDG_CURRENT_DESKTOP", "sway".to_owned()),
        ];
        let spawn = |program: &str, args: &[&str], log: &str| {
            Command::new(program)
                .args(args)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env_remove("DISPLAY")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join(log)).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("{program}: {e}"))
        };
        let mut pipewire = spawn("pipewire", &[], "pipewire.log");
        wait_for_socket(&runtime.join("pipewire-0"), "pipewire", &mut pipewire);
        children.push(pipewire);

        // The session bus, which starts the portal and its wlroots backend on first use.
        let services = dir.join("services");
        std::fs::create_dir_all(&services).unwrap();
        let xdpw_conf = dir.join("xdpw.conf");
        std::fs::write(
            &xdpw_conf,
            "[screencast]\nchooser_type=none\noutput_name=HEADLESS-1\nmax_fps=30\n",
        )
        .unwrap();
        for (name, exec) in [
            (
                "org.freedesktop.portal.Desktop",
                "/usr/libexec/xdg-desktop-portal".to_owned(),
            ),
            (
                "org.freedesktop.impl.portal.desktop.wlr",
                format!(
                    "/usr/libexec/xdg-desktop-portal-wlr -l DEBUG -c {}",
                    xdpw_conf.display()
                ),
            ),
        ] {
            std::fs::write(
                services.join(format!("{name}.service")),
                format!("[D-BUS Service]\nName={name}\nExec={exec}\n"),
            )
            .unwrap();
        }
        let bus_socket = runtime.join("bus");
        let bus_conf = dir.join("bus.conf");
        std::fs::write(
            &bus_conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                bus_socket.display(),
                services.display()
            ),
        )
        .unwrap();
        let mut dbus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", bus_conf.display()))
            .args(["--nofork", "--print-address=1"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("DISPLAY")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("dbus.log")).unwrap())
            .spawn()
            .expect("dbus-daemon (apt: dbus-daemon)");
        // It prints its address once it listens.
        let mut line = String::new();
        BufReader::new(dbus.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("unix:"), "dbus-daemon said {line:?}");
        let bus = format!("unix:path={}", bus_socket.display());
        children.push(dbus);

        children.push(spawn("wireplumber", &[], "wireplumber.log"));
        let desktop = WaylandDesktop {
            bus,
            display,
            dir,
            children,
        };
        // The wlroots backend, started now and waited for (the call returns once it owns its
        // name): started by the portal's own first call instead, it kept the portal from
        // answering for D-Bus's 25 s timeout in one CI run.
        desktop.dbus_call(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.StartServiceByName",
            "string:org.freedesktop.impl.portal.desktop.wlr",
            "uint32:0",
        ]);
        desktop
    }

    /// A method call on the session bus; its reply.
    fn dbus_call(&self, args: &[&str]) -> String {
        let out = Command::new("dbus-send")
            .arg(format!("--bus={}", self.bus))
            .args(["--print-reply", "--reply-timeout=30000"])
            .args(args)
            .output()
            .expect("dbus-send");
        assert!(
            out.status.success(),
            "dbus-send {args:?}: {out:?}\n{}",
            self.logs()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The environment a roompeer on this desktop runs with.
    pub fn env(&self) -> [(&str, &str); 2] {
        [
            ("DBUS_SESSION_BUS_ADDRESS", self.bus.as_str()),
            ("WAYLAND_DISPLAY", self.display.as_str()),
        ]
    }

    /// Whether the bus has started the portal (it does when a program first asks it).
    pub fn portal_running(&self) -> bool {
        self.dbus_call(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.portal.Desktop",
        ])
        .contains("boolean true")
    }

    /// What the desktop's programs said, for a failing test's message.
    pub fn logs(&self) -> String {
        ["sway.log", "pipewire.log", "wireplumber.log", "dbus.log"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "== {f}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for WaylandDesktop {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The portals the bus started: theirs is the bus, which is gone; they exit on their
        // own when it closes.
    }
}
