//! QR codes drawn on the server as inline SVG (crate `qrcode`): no image service, no script.

use qrcode::QrCode;
use qrcode::render::svg;

/// `data` as an inline `<svg>` element labelled `label` (escaped), or `None` when it cannot be
/// encoded (too long for a QR code).
pub fn svg(data: &str, label: &str) -> Option<String> {
    let code = QrCode::new(data.as_bytes()).ok()?;
    let image = code.render::<svg::Color<'_>>().min_dimensions(240, 240).quiet_zone(true).build();
    let start = image.find("<svg")?;
    let labelled = format!(r#"<svg role="img" aria-label="{}" class="qr""#, super::page::escape(label));
    Some(image[start..].replacen("<svg", &labelled, 1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_code_is_an_inline_labelled_svg() {
        let svg = super::svg("mockpay://pay/2000000000000000001", "QR <code>").unwrap();
        assert!(svg.starts_with(r#"<svg role="img" aria-label="QR &lt;code&gt;" class="qr""#), "{svg}");
        assert!(svg.ends_with("</svg>") && svg.contains("<path"), "{svg}");
        assert!(!svg.contains("<?xml"));
    }
}
