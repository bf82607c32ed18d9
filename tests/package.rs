//! The Debian package, as a user gets it: built by `scripts/package.sh` (from the suite's own
//! binary), checked, installed on this machine with dpkg, and the installed roompeer used for
//! a call. The package is removed again at the end.

mod support;

use std::process::Command;
use support::*;

/// Removes the package when the test ends, however it ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["-r", "roompeer"]).output();
    }
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs root: installs a package, and calls in a network namespace"]
fn the_deb_installs_and_the_installed_roompeer_holds_a_call() {
    run_ok(
        Command::new(root().join("scripts/package.sh"))
            .arg("--no-build")
            .current_dir(root()),
    );
    let deb = root().join(format!(
        "target/debian/roompeer_{}-1_amd64.deb",
        env!("CARGO_PKG_VERSION")
    ));
    let listing = stdout_of(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for path in [
        "./usr/bin/roompeer",
        "./usr/share/man/man1/roompeer.1.gz",
        "./usr/share/man/man1/roompeer-serve.1.gz",
        "./usr/share/applications/roompeer.desktop",
        "./usr/share/icons/hicolor/scalable/apps/roompeer.svg",
        "./usr/share/bash-completion/completions/roompeer",
        "./usr/share/zsh/vendor-completions/_roompeer",
        "./usr/share/fish/vendor_completions.d/roompeer.fish",
    ] {
        assert!(listing.contains(path), "{path} missing:\n{listing}");
    }
    // The shared libraries it links are its dependencies.
    let depends = stdout_of(
        Command::new("dpkg-deb")
            .args(["-f"])
            .arg(&deb)
            .arg("Depends"),
    );
    for lib in [
        "libvpx",
        "libwebrtc-audio-processing",
        "libasound2",
        "libc6",
    ] {
        assert!(depends.contains(lib), "{lib} not in Depends: {depends}");
    }

    run_ok(Command::new("dpkg").arg("-i").arg(&deb));
    let _installed = Installed;
    run_ok(Command::new("desktop-file-validate").arg("/usr/share/applications/roompeer.desktop"));
    let version = stdout_of(Command::new("/usr/bin/roompeer").arg("--version"));
    assert_eq!(
        version.trim(),
        format!("roompeer {}", env!("CARGO_PKG_VERSION"))
    );
    let page = stdout_of(Command::new("zcat").arg("/usr/share/man/man1/roompeer.1.gz"));
    assert!(page.contains(".TH roompeer 1"), "{page}");
    assert!(
        page.contains("\\-\\-headless"),
        "the options are in the page"
    );
    let bash = std::fs::read_to_string("/usr/share/bash-completion/completions/roompeer").unwrap();
    assert!(bash.contains("--video-size"), "completes the options");

    // The installed roompeer waits in a room; the suite's own calls it.
    let dir = scratch("package");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V4, seed_cert());
    let url = server.http();
    let installed = Peer::start_program(
        &ns,
        &dir,
        "installed",
        "/usr/bin/roompeer",
        &[&one_call(&url, "3")[..], &["--id", "1"]].concat(),
        &[],
    )
    .joined();
    let guest = Peer::start(
        &ns,
        &dir,
        "guest",
        &[&one_call(&url, "3")[..], &["--id", "2"]].concat(),
    );
    let (i, g) = (installed.finish(), guest.finish());
    for f in [&i, &g] {
        assert_eq!(f.code, 0, "{}\n{}", f.dump(), f.stderr);
    }
    assert_eq!(i.report.last_call.video.peer_sender_id, Some(2));
    assert_eq!(g.report.last_call.video.peer_sender_id, Some(1));
}
