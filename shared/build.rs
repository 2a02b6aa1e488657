//! Fingerprints the web shop's static assets (`assets/`): each file gets a URL with a hash
//! of its bytes (`/assets/app.3f9c2a1be0d4c5a7.css`), so that it can be cached for a year
//! and a new build is a new URL. Writes `$OUT_DIR/assets.rs`, included by
//! `shared::web::assets`.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("assets");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    let mut out = String::from(
        "/// Every static asset: its name, fingerprinted path, content type and bytes.\npub const ASSETS: &[Asset] = &[\n",
    );
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(path).unwrap_or_default();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
        let content_type = match ext {
            "css" => "text/css; charset=utf-8",
            "js" => "text/javascript; charset=utf-8",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "ico" => "image/x-icon",
            "woff2" => "font/woff2",
            _ => "application/octet-stream",
        };
        let _ = writeln!(
            out,
            "    Asset {{ name: {name:?}, path: \"/assets/{stem}.{hash:016x}.{ext}\", content_type: {content_type:?}, bytes: include_bytes!({file:?}) }},",
            hash = fnv1a(&bytes),
            file = path.display().to_string(),
        );
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("assets.rs");
    if let Err(e) = std::fs::write(&target, out) {
        panic!("cannot write {}: {e}", target.display());
    }
}

/// FNV-1a, 64 bits: a content fingerprint for cache busting, not a security measure.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
