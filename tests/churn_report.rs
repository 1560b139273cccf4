//! The churn report in a browser: Debian's Chromium renders the page
//! headless to a PNG, which is decoded here and checked to be a real page
//! (the size asked for, far from blank, the charts' colours drawn), and
//! the page names nothing outside itself, so it renders offline.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::churn::team_csv;
use super::{ratewire, text};

/// The window, and so the screenshot, in pixels.
const WIDTH_PX: u32 = 1280;
const HEIGHT_PX: u32 = 2000;

/// How long Chromium may take for one screenshot.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(120);

/// The report's colours for churners and the others (`churn::report`).
const CHURN_RGB: [u8; 3] = [0xc0, 0x39, 0x2b];
const OTHER_RGB: [u8; 3] = [0x2e, 0x86, 0xc1];

#[test]
fn the_report_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("team.csv"), team_csv(1_500, 1)).unwrap();
    let args = ["churn", "train", "--features", "team.csv", "--label", "churn", "--model", "model.json"];
    let out = ratewire(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let out = ratewire(dir.path(), &["churn", "report", "--model", "model.json", "--output", "report.html"]);
    assert!(out.status.success(), "{}", text(&out));

    let html = fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert_self_contained(&html);

    let page = decode_png(&fs::read(screenshot(dir.path(), "report.html")).unwrap());
    assert_eq!((page.width, page.height), (WIDTH_PX, HEIGHT_PX));
    // The same window on an empty page: one colour, the background.
    fs::write(dir.path().join("blank.html"), "<!DOCTYPE html><html><body></body></html>\n").unwrap();
    let blank = decode_png(&fs::read(screenshot(dir.path(), "blank.html")).unwrap());
    assert_eq!((blank.width, blank.height), (WIDTH_PX, HEIGHT_PX));
    assert_eq!(blank.colours(), 1, "an empty page is one colour");

    let background = blank.pixels[0];
    let drawn = page.pixels.iter().filter(|p| **p != background).count();
    // Text, curves, bars and borders: several percent of the window, in
    // many shades (antialiasing); a page that failed to render has one.
    assert!(page.colours() > 100, "{} colours", page.colours());
    assert!(drawn * 100 > page.pixels.len() * 3, "{drawn} of {} pixels drawn", page.pixels.len());
    // The charts were drawn, not only the text: the curves' and bars' colours.
    for (name, rgb) in [("churners", CHURN_RGB), ("the others", OTHER_RGB)] {
        let count = page.pixels.iter().filter(|p| p[..3] == rgb).count();
        assert!(count > 1_000, "{count} pixels of the colour of {name}");
    }
}

/// Fails if the page would fetch anything: every style and chart is inline.
fn assert_self_contained(html: &str) {
    let page = html.to_lowercase().replace(r#"xmlns="http://www.w3.org/2000/svg""#, "");
    for needle in
        ["://", "src=", "href=", "url(", "@import", "<link", "<script", "<img", "<iframe", "<object", "<embed"]
    {
        assert!(!page.contains(needle), "the report refers to something outside itself: {needle:?}");
    }
    assert!(page.matches("<svg").count() >= 5, "the charts are inline SVG");
}

/// Renders `page` in `dir` with headless Chromium at [`WIDTH_PX`] by
/// [`HEIGHT_PX`], into a PNG beside it; returns the PNG's path.
fn screenshot(dir: &Path, page: &str) -> std::path::PathBuf {
    let png = dir.join(format!("{page}.png"));
    // A profile of its own each time: nothing from an earlier run is used.
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={WIDTH_PX},{HEIGHT_PX}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", dir.join(page).display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium runs: install it (`bash scripts/setup.sh`)");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHROMIUM_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took more than {CHROMIUM_DEADLINE:?} for {page}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut errors = String::new();
    child.stderr.take().unwrap().read_to_string(&mut errors).unwrap();
    assert!(status.success() && png.is_file(), "chromium: {status}\n{errors}");
    png
}

/// A decoded image: RGBA pixels, row by row.
#[derive(Debug)]
struct Image {
    width: u32,
    height: u32,
    pixels: Vec<[u8; 4]>,
}

impl Image {
    /// Distinct colours.
    fn colours(&self) -> usize {
        self.pixels.iter().collect::<std::collections::HashSet<_>>().len()
    }
}

/// Decodes a PNG (with the `png` crate) into RGBA pixels.
fn decode_png(bytes: &[u8]) -> Image {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut raw = vec![0_u8; reader.output_buffer_size().expect("an image that fits in memory")];
    let frame = reader.next_frame(&mut raw).expect("PNG image data");
    let channels = match frame.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("a PNG of {other:?}; RGB or RGBA expected"),
    };
    let pixels = raw[..frame.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2], if channels == 4 { p[3] } else { 255 }])
        .collect();
    Image { width: frame.width, height: frame.height, pixels }
}
