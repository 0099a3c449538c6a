import Foundation

/// HTML pages that people open: training reports with sample translations per epoch and
/// loss curves as inline SVG, and result pages of `apply`. No external scripts or styles.
public enum HTMLReport {
    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// Percent-encodes a relative path for use in src/href.
    public static func url(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map {
            String($0).addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? String($0)
        }.joined(separator: "/")
    }

    static let style = """
    <style>body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}
    td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}img{max-width:256px;image-rendering:auto}
    .curves{display:flex;flex-wrap:wrap;gap:1em}.meta{color:#555;font-size:.9em}code{background:#f4f4f4;padding:1px 4px}</style>
    """

    /// A line chart of one series against x, as an SVG element.
    public static func svgChart(title: String, xs: [Double], ys: [Double], width: Int = 420, height: Int = 200) -> String {
        let pts = zip(xs, ys).filter { $0.0.isFinite && $0.1.isFinite }
        guard pts.count >= 1 else { return "" }
        let x0 = pts.map(\.0).min()!, x1 = max(pts.map(\.0).max()!, x0 + 1e-9)
        let y0 = min(0, pts.map(\.1).min()!), y1 = max(pts.map(\.1).max()!, y0 + 1e-9)
        let (l, r, t, b) = (48.0, 10.0, 22.0, 24.0)
        let w = Double(width) - l - r, h = Double(height) - t - b
        func px(_ x: Double) -> Double { l + (x - x0) / (x1 - x0) * w }
        func py(_ y: Double) -> Double { t + (1 - (y - y0) / (y1 - y0)) * h }
        let poly = pts.map { String(format: "%.1f,%.1f", px($0.0), py($0.1)) }.joined(separator: " ")
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" role="img" aria-label="\(escape(title))">
        <text x="\(Int(l))" y="15" font-size="13" font-weight="bold">\(escape(title))</text>
        <line x1="\(l)" y1="\(t + h)" x2="\(l + w)" y2="\(t + h)" stroke="#999"/><line x1="\(l)" y1="\(t)" x2="\(l)" y2="\(t + h)" stroke="#999"/>
        <text x="\(l - 4)" y="\(t + 4)" font-size="10" text-anchor="end">\(String(format: "%.3g", y1))</text>
        <text x="\(l - 4)" y="\(t + h)" font-size="10" text-anchor="end">\(String(format: "%.3g", y0))</text>
        <text x="\(l)" y="\(Double(height) - 6)" font-size="10">\(String(format: "%.3g", x0))</text>
        <text x="\(l + w)" y="\(Double(height) - 6)" font-size="10" text-anchor="end">\(String(format: "%.3g", x1)) epochs</text>
        <polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="\(poly)"/>
        </svg>
        """
    }

    /// A full page: title, a metadata block, then free HTML sections.
    public static func page(title: String, meta: [(String, String)], body: String) -> String {
        let m = meta.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined()
        return """
        <!DOCTYPE html><html><head><meta charset="utf-8"><title>\(escape(title))</title>\(style)</head><body>
        <h1>\(escape(title))</h1><table class="meta">\(m)</table>
        \(body)
        </body></html>
        """
    }

    /// A table of image rows: each row is a label and image paths (relative to the page).
    public static func imageTable(headers: [String], rows: [(String, [String?])]) -> String {
        let head = "<tr><th></th>" + headers.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
        let body = rows.map { label, imgs in
            "<tr><td>\(escape(label))</td>" + imgs.map { p in
                p.map { "<td><a href=\"\(url($0))\"><img src=\"\(url($0))\" alt=\"\(escape($0))\"></a></td>" } ?? "<td></td>"
            }.joined() + "</tr>"
        }.joined(separator: "\n")
        return "<table>\(head)\n\(body)</table>"
    }
}
