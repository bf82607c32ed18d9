//! A virtual X screen (Xvfb) showing a known picture, for screen-sharing tests. Xvfb runs
//! outside the test's network namespace; clients inside reach it through its socket file
//! (the abstract socket belongs to the namespace Xvfb was started in).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// The known picture's quadrants, RGB: top-left, top-right, bottom-left, bottom-right.
pub const QUADRANTS: [[u8; 3]; 4] = [[255, 0, 0], [0, 200, 0], [0, 0, 255], [255, 255, 255]];

/// A running Xvfb.
pub struct Xvfb {
    child: Child,
    /// `:N`, for `DISPLAY`.
    pub display: String,
    /// Kept open: windows it made stay while it does.
    conn: RustConnection,
    screen: usize,
}

impl Xvfb {
    /// Starts Xvfb with one `width`x`height` screen showing [`QUADRANTS`] on its root window.
    pub fn start(width: u16, height: u16) -> Xvfb {
        // `-displayfd 1`: Xvfb picks a free display and writes its number once it is ready.
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0"])
            .arg(format!("{width}x{height}x24"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (apt install xvfb)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let display = format!(":{}", line.trim());
        let (conn, screen) = x11rb::connect(Some(&display)).expect("Xvfb answers");
        let x = Xvfb {
            child,
            display,
            conn,
            screen,
        };
        let root = x.conn.setup().roots[screen].root;
        x.paint_quadrants(root, width, height);
        x
    }

    /// Fills `drawable`'s background with the quadrants.
    fn paint_quadrants(&self, window: xproto::Window, width: u16, height: u16) {
        let c = &self.conn;
        let screen = &c.setup().roots[self.screen];
        let pixmap = c.generate_id().unwrap();
        c.create_pixmap(screen.root_depth, pixmap, window, width, height)
            .unwrap();
        let gc = c.generate_id().unwrap();
        c.create_gc(gc, pixmap, &xproto::CreateGCAux::new())
            .unwrap();
        let (w2, h2) = (width / 2, height / 2);
        let places = [(0, 0), (w2, 0), (0, h2), (w2, h2)];
        for ([r, g, b], (x, y)) in QUADRANTS.iter().zip(places) {
            let pixel = u32::from(*r) << 16 | u32::from(*g) << 8 | u32::from(*b);
            c.change_gc(gc, &xproto::ChangeGCAux::new().foreground(pixel))
                .unwrap();
            let rect = xproto::Rectangle {
                x: x as i16,
                y: y as i16,
                width: width - x,
                height: height - y,
            };
            c.poly_fill_rectangle(pixmap, gc, &[rect]).unwrap();
        }
        c.change_window_attributes(
            window,
            &xproto::ChangeWindowAttributesAux::new().background_pixmap(pixmap),
        )
        .unwrap();
        c.clear_area(false, window, 0, 0, 0, 0).unwrap();
        // A round trip: everything above is done once it returns.
        c.sync().unwrap();
    }

    /// Opens a `width`x`height` window titled `title` at (`x`, `y`) showing the quadrants
    /// (no window manager: it is placed and mapped as asked).
    pub fn window(
        &self,
        title: &str,
        (x, y): (i16, i16),
        (width, height): (u16, u16),
    ) -> xproto::Window {
        let c = &self.conn;
        let screen = &c.setup().roots[self.screen];
        let w = c.generate_id().unwrap();
        c.create_window(
            screen.root_depth,
            w,
            screen.root,
            x,
            y,
            width,
            height,
            0,
            xproto::WindowClass::INPUT_OUTPUT,
            0,
            &xproto::CreateWindowAux::new().background_pixel(0),
        )
        .unwrap();
        c.change_property8(
            xproto::PropMode::REPLACE,
            w,
            xproto::AtomEnum::WM_NAME,
            xproto::AtomEnum::STRING,
            title.as_bytes(),
        )
        .unwrap();
        c.map_window(w).unwrap();
        self.paint_quadrants(w, width, height);
        w
    }

    /// Makes the screen `n` RandR monitors side by side, each `1/n` of its width (as
    /// `xrandr --setmonitor` does; Xvfb has one output, and a monitor needs none).
    pub fn monitors_side_by_side(&self, n: u16) {
        use x11rb::protocol::randr::{ConnectionExt as _, MonitorInfo};
        let c = &self.conn;
        let screen = &c.setup().roots[self.screen];
        let width = screen.width_in_pixels / n;
        for i in 0..n {
            let name = c
                .intern_atom(false, format!("roompeer-test-{i}").as_bytes())
                .unwrap()
                .reply()
                .unwrap()
                .atom;
            let monitor = MonitorInfo {
                name,
                primary: i == 0,
                automatic: false,
                x: (i * width) as i16,
                y: 0,
                width,
                height: screen.height_in_pixels,
                width_in_millimeters: u32::from(width) / 4,
                height_in_millimeters: u32::from(screen.height_in_pixels) / 4,
                outputs: vec![],
            };
            c.randr_set_monitor(screen.root, monitor)
                .unwrap()
                .check()
                .expect("Xvfb takes RandR monitors");
        }
    }

    /// Closes a window [`Xvfb::window`] opened.
    pub fn close(&self, window: xproto::Window) {
        self.conn.destroy_window(window).unwrap();
        self.conn.sync().unwrap();
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// BT.601 limited-range Y, U, V of an RGB colour.
pub fn yuv_of(rgb: [u8; 3]) -> [u8; 3] {
    let y = roompeer::media::bgrx::y_of(rgb);
    let (u, v) = roompeer::media::bgrx::uv_of(rgb);
    [y, u, v]
}

/// A decoded picture, as a `.y4m` recording holds it.
#[derive(Debug)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

/// The last frame of a `.y4m` file.
pub fn last_y4m_frame(y4m: &[u8]) -> Picture {
    let header_end = y4m.iter().position(|&b| b == b'\n').expect("y4m header");
    let header = std::str::from_utf8(&y4m[..header_end]).unwrap();
    let field = |p: char| -> usize {
        header
            .split(' ')
            .find_map(|f| f.strip_prefix(p))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{p} in {header:?}"))
    };
    let (w, h) = (field('W'), field('H'));
    let frame = w * h * 3 / 2;
    // Each frame: "FRAME\n" then the planes.
    let per = frame + 6;
    let frames = (y4m.len() - header_end - 1) / per;
    assert!(frames > 0, "no frame in the y4m");
    let start = header_end + 1 + (frames - 1) * per + 6;
    let data = &y4m[start..start + frame];
    let (y, rest) = data.split_at(w * h);
    let (u, v) = rest.split_at(w * h / 4);
    Picture {
        width: w,
        height: h,
        y: y.to_vec(),
        u: u.to_vec(),
        v: v.to_vec(),
    }
}

/// Checks that `p` shows `rgb` at (`x`, `y`), within `tolerance` on Y, U, V.
pub fn assert_colour_at(p: &Picture, (x, y): (usize, usize), rgb: [u8; 3], tolerance: u8) {
    let w = p.width;
    let want = yuv_of(rgb);
    let got = [
        p.y[y * w + x],
        p.u[(y / 2) * (w / 2) + x / 2],
        p.v[(y / 2) * (w / 2) + x / 2],
    ];
    for c in 0..3 {
        assert!(
            want[c].abs_diff(got[c]) <= tolerance,
            "{rgb:?} at ({x}, {y}): YUV {got:?}, expected {want:?}"
        );
    }
}

/// Checks that `p` shows the quadrants: the centre of each, within `tolerance` on Y, U, V.
pub fn assert_shows_quadrants(p: &Picture, tolerance: u8) {
    let (w, h) = (p.width, p.height);
    let centres = [
        (w / 4, h / 4),
        (3 * w / 4, h / 4),
        (w / 4, 3 * h / 4),
        (3 * w / 4, 3 * h / 4),
    ];
    for (rgb, centre) in QUADRANTS.iter().zip(centres) {
        assert_colour_at(p, centre, *rgb, tolerance);
    }
}
