//! Chinese text in the window. egui's own fonts have no CJK glyphs, so a system font that has
//! them is added after egui's, as a fallback: Latin text keeps egui's look, room names and
//! messages in Chinese render.

use eframe::egui;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Fonts with Simplified Chinese glyphs where Linux distributions put them, with the face to
/// use in each collection (Noto CJK: JP, KR, SC, TC, HK; SC is face 2).
const CJK_FONTS: &[(&str, u32)] = &[
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        2,
    ),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
];

/// The first CJK font found: `ROOMPEER_CJK_FONT` (a path), else the list above.
pub fn find_cjk_font() -> Option<(PathBuf, u32)> {
    if let Some(p) = std::env::var_os("ROOMPEER_CJK_FONT") {
        return Some((PathBuf::from(p), 0));
    }
    CJK_FONTS
        .iter()
        .map(|(p, i)| (Path::new(p), *i))
        .find(|(p, _)| p.is_file())
        .map(|(p, i)| (p.to_owned(), i))
}

/// Adds a CJK font to `ctx` as a fallback for every family; returns the file used.
pub fn install_cjk_font(ctx: &egui::Context) -> Option<PathBuf> {
    let Some((path, index)) = find_cjk_font() else {
        tracing::warn!(
            "no font with Chinese glyphs found: Chinese text shows as boxes; install \
             fonts-wqy-microhei (Debian) or set ROOMPEER_CJK_FONT to a .ttf/.ttc"
        );
        return None;
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("cannot read the font {}: {e}", path.display());
            return None;
        }
    };
    let mut fonts = egui::FontDefinitions::default();
    fonts.font_data.insert(
        "cjk".to_owned(),
        Arc::new(egui::FontData::from_blob(Arc::new(bytes), index)),
    );
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        fonts
            .families
            .entry(family)
            .or_default()
            .push("cjk".to_owned());
    }
    ctx.set_fonts(fonts);
    tracing::debug!("Chinese glyphs from {}", path.display());
    Some(path)
}
