//! The shop's static files (stylesheet, scripts, icons), embedded at build time from
//! `shared/assets/` under fingerprinted paths (`shared/build.rs`). The `web-assets` function
//! serves them with a year's `Cache-Control: immutable`; in the cloud a CDN in front of the
//! ALB may cache them, and nothing else stores them.

/// One static file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The file's name in `shared/assets/` (`app.css`).
    pub name: &'static str,
    /// Where it is served: `/assets/<stem>.<fingerprint>.<ext>`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The asset named `name` in `shared/assets/`.
pub fn named(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The fingerprinted path of `name`, for templates; `/assets/missing` for a name that is
/// not an asset (a unit test checks every name the templates use).
pub fn path(name: &str) -> &'static str {
    named(name).map_or("/assets/missing", |a| a.path)
}

/// The asset served at `path`.
pub fn at(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The fingerprinted paths the base layout links.
#[derive(Debug, Clone, Copy)]
pub struct Links {
    pub css: &'static str,
    pub icon: &'static str,
    pub htmx: &'static str,
    pub placeholder: &'static str,
    pub pay: &'static str,
    /// The studio's photo upload (a product's page).
    pub photos: &'static str,
}

impl Links {
    pub fn get() -> Self {
        Self {
            css: path("app.css"),
            icon: path("icon.svg"),
            htmx: path("htmx.min.js"),
            placeholder: path("placeholder.svg"),
            pay: path("pay.js"),
            photos: path("photos.js"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_linked_asset_exists_under_a_fingerprinted_path() {
        let links = Links::get();
        for path in [links.css, links.icon, links.htmx, links.placeholder, links.pay, links.photos] {
            let asset = at(path);
            assert!(asset.is_some(), "{path} is not an asset");
            let asset = asset.map(|a| (a.name, a.path)).unwrap_or_default();
            let (stem, ext) = asset.0.rsplit_once('.').unwrap_or_default();
            let fingerprint =
                asset.1.strip_prefix(&format!("/assets/{stem}.")).and_then(|r| r.strip_suffix(&format!(".{ext}")));
            assert!(
                fingerprint.is_some_and(|f| f.len() == 16 && f.bytes().all(|b| b.is_ascii_hexdigit())),
                "{asset:?}"
            );
        }
        assert_eq!(path("nope.css"), "/assets/missing");
    }
}
