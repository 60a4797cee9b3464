//! The cross-transport tests: one binary (one link), one module per subject. Run one subject with
//! `cargo test -p hpp-tests --test it <module>::`.

mod browser;
mod callbacks;
mod chaos;
mod faults;
mod fuzz_corpus;
mod logs;
mod private_api;
mod readme;
mod recording;
mod sandbox_conformance;
mod sandbox_fidelity;
mod sandbox_http;
mod sans_io;
mod spec_conformance;
mod tracking;
mod transport_contract;
mod transports;

/// Every QR code a camera would read in a PNG (greyscale, RGB or RGBA: the sandbox's image, a
/// browser's screenshot), as text, with the PNG's colour type.
fn qr_codes_in_png(png_bytes: &[u8]) -> (png::ColorType, Vec<String>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes)).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        let at = (y * w + x) * channels;
        // Luma from the first three channels (RGB or RGBA; grey has one).
        let rgb = &pixels[at..at + channels.min(3)];
        (rgb.iter().map(|c| u32::from(*c)).sum::<u32>() / rgb.len() as u32) as u8
    });
    let codes = image.detect_grids().iter().filter_map(|grid| grid.decode().ok().map(|(_, text)| text)).collect();
    (info.color_type, codes)
}

/// A create request for `order` with `urls`.
fn create(order: &str, urls: hpp_core::MerchantUrls) -> hpp_core::CreateSession {
    let mut create = hpp_core::CreateSession::new(order);
    create.merchant_urls = Some(urls);
    create
}

/// Merchant URLs from `(field, url)` pairs, as the API names the fields (`success`,
/// `status_update`, ...).
fn merchant_urls(pairs: &[(&str, &str)]) -> hpp_core::MerchantUrls {
    let object: serde_json::Map<String, serde_json::Value> =
        pairs.iter().map(|(field, url)| ((*field).to_owned(), serde_json::Value::from(*url))).collect();
    serde_json::from_value(serde_json::Value::Object(object)).expect("merchant_urls fields")
}

/// The `Authorization` header the SDK sends with `credentials` (from a request it builds).
fn authorization(credentials: hpp_core::Credentials) -> http::HeaderValue {
    let config = hpp_core::Config::new(hpp_core::Environment::Kustom(hpp_core::Mode::Playground), credentials);
    let request = hpp_core::Operation::build(&hpp_core::ReadSession::new("s"), &config).unwrap();
    request.headers()[http::header::AUTHORIZATION].clone()
}
