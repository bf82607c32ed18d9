//! The parts of a desktop session that screen sharing through the portal needs, whatever the
//! compositor: PipeWire with WirePlumber (which links a reader to the stream it asked for), and
//! a private D-Bus session bus that starts the portal when a program first asks it. Everything
//! runs as root, as the tests do. Stopped on drop.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct DesktopSession {
    /// `DBUS_SESSION_BUS_ADDRESS` of the session.
    pub bus: String,
    /// `XDG_RUNTIME_DIR` of the session's programs (PipeWire's socket is there).
    pub runtime: PathBuf,
    pub dir: PathBuf,
    children: Vec<Child>,
}

/// Waits for a socket a server makes once it listens.
pub fn wait_for_socket(path: &Path, what: &str, child: &mut Child) {
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

impl DesktopSession {
    /// Starts PipeWire, the bus (which starts each of `services`, D-Bus name and command, when
    /// first asked) and WirePlumber in `dir`, each with `env` (the desktop's variables), and
    /// passes `env` on to what the bus starts.
    pub fn start(dir: &Path, env: &[(&str, String)], services: &[(&str, String)]) -> Self {
        let runtime = dir.join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        for d in [dir, &runtime] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut env: Vec<(&str, String)> = env.to_vec();
        env.push(("XDG_RUNTIME_DIR", runtime.display().to_string()));
        let spawn = |program: &str, log: &str, stdout: Stdio| {
            let mut command = Command::new(program);
            command
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env_remove("DISPLAY")
                .stdout(stdout)
                .stderr(std::fs::File::create(dir.join(log)).unwrap());
            command
        };
        let mut children = Vec::new();
        let mut pipewire = spawn("pipewire", "pipewire.log", Stdio::null())
            .spawn()
            .expect("pipewire (apt: pipewire-bin)");
        wait_for_socket(&runtime.join("pipewire-0"), "pipewire", &mut pipewire);
        children.push(pipewire);

        let service_dir = dir.join("services");
        std::fs::create_dir_all(&service_dir).unwrap();
        for (name, exec) in services {
            std::fs::write(
                service_dir.join(format!("{name}.service")),
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
                service_dir.display()
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
        children.push(dbus);

        children.push(
            spawn("wireplumber", "wireplumber.log", Stdio::null())
                .spawn()
                .expect("wireplumber (apt: wireplumber)"),
        );
        DesktopSession {
            bus: format!("unix:path={}", bus_socket.display()),
            runtime,
            dir: dir.to_owned(),
            children,
        }
    }

    /// A method call on the session bus; its reply.
    pub fn dbus_call(&self, args: &[&str]) -> String {
        let out = Command::new("dbus-send")
            .arg(format!("--bus={}", self.bus))
            .args(["--print-reply", "--reply-timeout=30000"])
            .args(args)
            .output()
            .expect("dbus-send");
        assert!(
            out.status.success(),
            "dbus-send {args:?}: {out:?}\n{}",
            self.logs(&[])
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a service the bus knows and waits until it owns its name.
    pub fn start_service(&self, name: &str) {
        self.dbus_call(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.StartServiceByName",
            &format!("string:{name}"),
            "uint32:0",
        ]);
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

    /// The last lines of the session's logs and of `more` (files in its directory), for a
    /// failing test's message.
    pub fn logs(&self, more: &[&str]) -> String {
        ["pipewire.log", "wireplumber.log", "dbus.log"]
            .iter()
            .chain(more)
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

impl Drop for DesktopSession {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // What the bus started exits on its own once the bus is gone.
    }
}
