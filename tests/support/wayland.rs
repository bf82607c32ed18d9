//! A Wayland desktop without a display, for screen sharing through the desktop portal: sway
//! (wlroots, headless backend, software rendering) showing the known quadrants as its
//! background, PipeWire with WirePlumber, and xdg-desktop-portal with its wlroots backend
//! (which picks the one output without asking), on a private D-Bus session bus that starts the
//! portals when first asked. Everything but sway runs as root, as the tests do; sway refuses
//! root and runs as `nobody`. Stopped on drop.

use super::desktop_session::{DesktopSession, wait_for_socket};
use super::xvfb::QUADRANTS;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct WaylandDesktop {
    session: DesktopSession,
    /// `WAYLAND_DISPLAY` (a full path: the socket is in sway's runtime directory).
    pub display: String,
    sway: Child,
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
        let sway_runtime = dir.join("sway-run");
        std::fs::create_dir_all(&sway_runtime).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
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

        // The session: PipeWire, the bus, which starts the portal and its wlroots backend.
        let xdpw_conf = dir.join("xdpw.conf");
        std::fs::write(
            &xdpw_conf,
            "[screencast]\nchooser_type=none\noutput_name=HEADLESS-1\nmax_fps=30\n",
        )
        .unwrap();
        let session = DesktopSession::start(
            &dir,
            &[
                ("WAYLAND_DISPLAY", display.clone()),
                ("XDG_CURRENT_DESKTOP", "sway".to_owned()),
            ],
            &[
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
            ],
        );
        // The wlroots backend, started now and waited for (the call returns once it owns its
        // name): started by the portal's own first call instead, it kept the portal from
        // answering for D-Bus's 25 s timeout in one CI run.
        session.start_service("org.freedesktop.impl.portal.desktop.wlr");
        WaylandDesktop {
            session,
            display,
            sway,
        }
    }

    /// The environment a roompeer on this desktop runs with.
    pub fn env(&self) -> [(&str, &str); 2] {
        [
            ("DBUS_SESSION_BUS_ADDRESS", self.session.bus.as_str()),
            ("WAYLAND_DISPLAY", self.display.as_str()),
        ]
    }

    /// Whether the bus has started the portal (it does when a program first asks it).
    pub fn portal_running(&self) -> bool {
        self.session.portal_running()
    }

    /// What the desktop's programs said, for a failing test's message.
    pub fn logs(&self) -> String {
        self.session.logs(&["sway.log"])
    }
}

impl Drop for WaylandDesktop {
    fn drop(&mut self) {
        // The session goes after the compositor (fields drop after this).
        let _ = self.sway.kill();
        let _ = self.sway.wait();
    }
}
