//! The QR code a session's `qr_code_url` serves: its pay link, as SVG (the default) or PNG.

use qrcode::QrCode;
use qrcode::render::svg;

/// Pixels per module in the PNG.
const PNG_SCALE: usize = 8;

/// Modules of light margin around the code (the quiet zone the QR standard asks for).
const QUIET_ZONE: usize = 4;

/// An image format `qr_code_url` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Svg,
    Png,
}

impl Format {
    /// The format asked for: by suffix (`qr.svg`, `qr.png`), else by `Accept` (PNG only when
    /// it is named and SVG is not, as an `<img>` in a browser names both), else SVG.
    pub(crate) fn chosen(suffix: Option<&str>, accept: Option<&str>) -> Option<Self> {
        match suffix {
            Some("svg") => return Some(Self::Svg),
            Some("png") => return Some(Self::Png),
            Some(_) => return None,
            None => {}
        }
        let accept = accept.unwrap_or_default().to_ascii_lowercase();
        Some(if accept.contains("image/png") && !accept.contains("image/svg+xml") { Self::Png } else { Self::Svg })
    }

    /// Its `Content-Type`.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Svg => "image/svg+xml",
            Self::Png => "image/png",
        }
    }
}

/// `text` as a QR code image in `format`, or why it cannot be one.
pub(crate) fn image(text: &str, format: Format) -> Result<Vec<u8>, String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| format!("cannot encode a QR code: {e}"))?;
    Ok(match format {
        Format::Svg => code
            .render::<svg::Color<'_>>()
            .quiet_zone(true)
            .min_dimensions(240, 240)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build()
            .into_bytes(),
        Format::Png => png(&code)?,
    })
}

/// The code as an 8-bit greyscale PNG, [`PNG_SCALE`] pixels per module, with its quiet zone.
fn png(code: &QrCode) -> Result<Vec<u8>, String> {
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = ((i % modules + QUIET_ZONE) * PNG_SCALE, (i / modules + QUIET_ZONE) * PNG_SCALE);
            for row in y..y + PNG_SCALE {
                pixels[row * side + x..row * side + x + PNG_SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let side = u32::try_from(side).map_err(|_| "the QR code is too large".to_owned())?;
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(&pixels).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG the way a phone's camera app would read it: back to the text.
    fn scan_png(bytes: &[u8]) -> String {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one code in the image");
        grids[0].decode().unwrap().1
    }

    #[test]
    fn the_png_scans_back_to_the_text() {
        let url = "http://127.0.0.1:41234/_sandbox/pay/3f2a9c1e-0b4d-4e6f-8a7b-1c2d3e4f5a6b";
        let png = image(url, Format::Png).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(scan_png(&png), url);
    }

    #[test]
    fn the_svg_is_an_svg_of_the_code() {
        let svg = String::from_utf8(image("http://127.0.0.1:1/_sandbox/pay/x", Format::Svg).unwrap()).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(svg.contains("#000000") && svg.contains("#ffffff"), "{svg}");
    }

    #[test]
    fn the_format_follows_the_suffix_then_accept() {
        let cases = [
            (Some("png"), Some("image/svg+xml"), Some(Format::Png)),
            (Some("svg"), Some("image/png"), Some(Format::Svg)),
            (Some("gif"), None, None),
            (None, Some("image/png"), Some(Format::Png)),
            (None, Some("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"), Some(Format::Svg)),
            (None, Some("image/PNG"), Some(Format::Png)),
            (None, None, Some(Format::Svg)),
        ];
        for (suffix, accept, expected) in cases {
            assert_eq!(Format::chosen(suffix, accept), expected, "{suffix:?} {accept:?}");
        }
    }
}
