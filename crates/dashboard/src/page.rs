//! The page and its files, embedded in the binary: the page works with no
//! network (Leaflet is served from here; only map tiles come from outside,
//! when a tile URL is set).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// OpenStreetMap's standard tiles.
pub const OSM_TILES: &str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
const OSM_ATTRIBUTION: &str =
    "&copy; <a href=\"https://www.openstreetmap.org/copyright\">OpenStreetMap</a> contributors";

/// Where map tiles come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tiles {
    /// A plain background with a scale (offline).
    None,
    /// A `{z}/{x}/{y}` tile URL template.
    Url(String),
}

impl Default for Tiles {
    fn default() -> Self {
        Self::Url(OSM_TILES.into())
    }
}

impl std::str::FromStr for Tiles {
    type Err = String;

    /// `none`, or a URL template with `{z}`, `{x}` and `{y}`.
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("none") {
            return Ok(Self::None);
        }
        let web = s.starts_with("https://") || s.starts_with("http://");
        if !web || !["{z}", "{x}", "{y}"].iter().all(|p| s.contains(p)) {
            return Err(format!(
                "tiles must be none or an http(s) URL template with {{z}}, {{x}} and {{y}}, e.g. {OSM_TILES}; got {s:?}"
            ));
        }
        Ok(Self::Url(s.into()))
    }
}

/// What the page is told (inlined into it; nothing secret: the browser
/// never talks to AWS, only to this server).
#[derive(Debug, Clone, Serialize)]
pub struct PageConfig {
    pub tiles: Option<String>,
    pub attribution: String,
    pub threshold: i64,
    pub streams: [String; 3],
}

impl PageConfig {
    pub fn new(tiles: &Tiles, threshold: i64, streams: [String; 3]) -> Self {
        let (tiles, attribution) = match tiles {
            Tiles::None => (None, String::new()),
            Tiles::Url(url) if url == OSM_TILES => (Some(url.clone()), OSM_ATTRIBUTION.into()),
            Tiles::Url(url) => (Some(url.clone()), String::new()),
        };
        Self {
            tiles,
            attribution,
            threshold,
            streams,
        }
    }
}

const INDEX: &str = include_str!("../assets/index.html");

/// The page with its configuration inlined.
pub fn index(config: &PageConfig) -> String {
    // `</` cannot end the script element from inside the JSON.
    let json = serde_json::to_string(config)
        .expect("config serialises")
        .replace("</", "<\\/");
    INDEX.replace("{{CONFIG}}", &json)
}

/// The embedded files by path.
pub fn asset(path: &str) -> Option<(&'static [u8], &'static str)> {
    Some(match path {
        "app.js" => (
            include_bytes!("../assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "app.css" => (
            include_bytes!("../assets/app.css"),
            "text/css; charset=utf-8",
        ),
        "leaflet/leaflet.js" => (
            include_bytes!("../assets/leaflet/leaflet.js"),
            "text/javascript; charset=utf-8",
        ),
        "leaflet/leaflet.css" => (
            include_bytes!("../assets/leaflet/leaflet.css"),
            "text/css; charset=utf-8",
        ),
        "leaflet/LICENSE" => (
            include_bytes!("../assets/leaflet/LICENSE"),
            "text/plain; charset=utf-8",
        ),
        "leaflet/images/layers.png" => (
            include_bytes!("../assets/leaflet/images/layers.png"),
            "image/png",
        ),
        "leaflet/images/layers-2x.png" => (
            include_bytes!("../assets/leaflet/images/layers-2x.png"),
            "image/png",
        ),
        "leaflet/images/marker-icon.png" => (
            include_bytes!("../assets/leaflet/images/marker-icon.png"),
            "image/png",
        ),
        "leaflet/images/marker-icon-2x.png" => (
            include_bytes!("../assets/leaflet/images/marker-icon-2x.png"),
            "image/png",
        ),
        "leaflet/images/marker-shadow.png" => (
            include_bytes!("../assets/leaflet/images/marker-shadow.png"),
            "image/png",
        ),
        _ => return None,
    })
}

/// An embedded file as a response (404 when unknown).
pub fn asset_response(path: &str) -> Response {
    match asset(path) {
        Some((body, kind)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_are_none_or_a_template() {
        assert_eq!("none".parse::<Tiles>(), Ok(Tiles::None));
        assert_eq!(
            "http://127.0.0.1:8080/{z}/{x}/{y}.png".parse::<Tiles>(),
            Ok(Tiles::Url("http://127.0.0.1:8080/{z}/{x}/{y}.png".into()))
        );
        assert!("tiles.example.com".parse::<Tiles>().is_err());
        assert!("https://a.example/{z}.png".parse::<Tiles>().is_err());
    }

    #[test]
    fn the_config_cannot_close_the_script_element() {
        let config = PageConfig::new(
            &Tiles::Url("https://x.example/</script>/{z}/{x}/{y}".into()),
            50,
            ["a".into(), "b".into(), "c".into()],
        );
        let page = index(&config);
        assert!(!page.contains("x.example/</script>"));
        assert!(page.contains("x.example/<\\/script>"));
    }

    #[test]
    fn every_file_the_page_names_is_embedded() {
        let page = index(&PageConfig::new(&Tiles::None, 50, Default::default()));
        for name in [
            "app.js",
            "app.css",
            "leaflet/leaflet.js",
            "leaflet/leaflet.css",
        ] {
            assert!(page.contains(&format!("\"{name}\"")), "{name}");
            assert!(asset(name).is_some(), "{name}");
        }
        let css = std::str::from_utf8(asset("leaflet/leaflet.css").unwrap().0).unwrap();
        for image in css.split("url(").skip(1) {
            let image = image.split(')').next().unwrap();
            if image.starts_with('#') {
                continue; // an old IE behaviour, not a file
            }
            assert!(asset(&format!("leaflet/{image}")).is_some(), "{image}");
        }
    }
}
