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
    <style>body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:100%}table{border-collapse:collapse}
    td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}img{max-width:256px;image-rendering:auto}
    .curves{display:flex;flex-wrap:wrap;gap:1em}.meta{color:#555;font-size:.9em}code{background:#f4f4f4;padding:1px 4px}
    .meta td,.kv td{overflow-wrap:anywhere;max-width:60em}.kv{font-size:.85em}.kv th{font-weight:normal;color:#555;font-family:ui-monospace,monospace}
    .kv td{font-family:ui-monospace,monospace}.wide{overflow-x:auto;max-width:100%}.legend{font-size:.85em;color:#555}
    details>summary{cursor:pointer;font-weight:bold;margin:.6em 0}</style>
    """

    /// A stable 32-bit FNV-1a hash (element ids that do not change between runs).
    static func fnv(_ s: String) -> UInt32 {
        s.utf8.reduce(2166136261 as UInt32) { ($0 ^ UInt32($1)) &* 16777619 }
    }

    /// Round axis ticks covering lo...hi (about `count` of them).
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 4) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(max(count, 1))
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var t = (lo / step).rounded(.up) * step, out: [Double] = []
        while t <= hi + step * 1e-9 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return out
    }

    static func tickText(_ v: Double) -> String {
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 1e5 || a < 1e-3 { return String(format: "%.1e", v) }
        return String(format: "%g", (v * 1e4).rounded() / 1e4)
    }

    /// A line chart of one series against x, as an SVG element.
    public static func svgChart(title: String, xs: [Double], ys: [Double], xLabel: String = "epochs", width: Int = 420, height: Int = 200) -> String {
        lossChart(title: title, xs: xs, raw: [], smoothed: ys, xLabel: xLabel, width: width, height: height)
    }

    /// Exponential moving average with the start debiased (TensorBoard's smoothing):
    /// `span` steps (alpha = 2 / (span + 1)); span <= 1 returns the values.
    public static func smooth(_ ys: [Double], span: Double) -> [Double] {
        guard span > 1 else { return ys }
        let alpha = 2 / (span + 1)
        var m = 0.0, w = 0.0
        return ys.map { y in
            guard y.isFinite else { return w > 0 ? m / w : .nan }
            m = (1 - alpha) * m + alpha * y
            w = (1 - alpha) * w + alpha
            return m / w
        }
    }

    /// A loss curve: the raw values faint behind the smoothed ones, against x (steps), with
    /// vertical marks (e.g. epoch ends) and round ticks. The y range follows the 2nd-98th
    /// percentile of the raw values and the smoothed curve, so one spike does not flatten it.
    /// Long series are drawn as at most ~`maxPoints` points (raw: a min-max band).
    public static func lossChart(title: String, xs: [Double], raw: [Double], smoothed: [Double], marks: [(Double, String)] = [],
                                 xLabel: String = "step", width: Int = 380, height: Int = 210, maxPoints: Int = 600) -> String {
        let sm = zip(xs, smoothed).filter { $0.0.isFinite && $0.1.isFinite }
        let rw = zip(xs, raw).filter { $0.0.isFinite && $0.1.isFinite }
        guard !sm.isEmpty || !rw.isEmpty else { return "" }
        let allX = (sm + rw).map(\.0)
        let x0 = allX.min()!, x1 = max(allX.max()!, x0 + 1)
        var lo = sm.map(\.1).min() ?? .infinity, hi = sm.map(\.1).max() ?? -.infinity
        if !rw.isEmpty {
            let sorted = rw.map(\.1).sorted()
            let q = { (p: Double) in sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count - 1) * p).rounded())))] }
            lo = min(lo, q(0.02)); hi = max(hi, q(0.98))
        }
        if lo >= 0 && lo < (hi - lo) * 0.5 { lo = 0 }  // losses: start at 0 unless far from it
        if !(hi > lo) { let d = max(abs(lo) * 0.1, 1e-3); lo -= d; hi += d }
        let pad = (hi - lo) * 0.04
        let yTicks = ticks(lo, hi + pad)
        let y0 = min(lo, yTicks.first ?? lo), y1 = max(hi + pad, yTicks.last ?? hi)
        let (l, r, t, b) = (50.0, 12.0, 24.0, 32.0)
        let w = Double(width) - l - r, h = Double(height) - t - b
        func px(_ x: Double) -> Double { l + (x - x0) / (x1 - x0) * w }
        func py(_ y: Double) -> Double { t + (1 - (y - y0) / (y1 - y0)) * h }
        func pt(_ x: Double, _ y: Double) -> String { String(format: "%.1f,%.1f", px(x), py(y)) }
        let id = "clip" + String(fnv(title + xLabel), radix: 16)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"\(escape(title))\">"
        s += "<defs><clipPath id=\"\(id)\"><rect x=\"\(l)\" y=\"\(t)\" width=\"\(w)\" height=\"\(h)\"/></clipPath></defs>"
        s += "<text x=\"\(Int(l))\" y=\"15\" font-size=\"13\" font-weight=\"bold\">\(escape(title))</text>"
        for v in yTicks {
            let y = py(v)
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", l, y, l + w, y)
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%@</text>", l - 4, y + 3.5, tickText(v))
        }
        // Marks: every one as a faint line, labels thinned to about 10.
        let every = max(1, (marks.count + 9) / 10)
        for (k, m) in marks.enumerated() where m.0 >= x0 && m.0 <= x1 {
            let x = px(m.0)
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\" stroke-dasharray=\"3,3\"/>", x, t, x, t + h)
            if (k + 1) % every == 0 || k == marks.count - 1 {
                s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"#888\" text-anchor=\"end\">%@</text>", x - 2, t + 9, escape(m.1))
            }
        }
        s += "<line x1=\"\(l)\" y1=\"\(t + h)\" x2=\"\(l + w)\" y2=\"\(t + h)\" stroke=\"#999\"/><line x1=\"\(l)\" y1=\"\(t)\" x2=\"\(l)\" y2=\"\(t + h)\" stroke=\"#999\"/>"
        for v in ticks(x0, x1) where v >= x0 && v <= x1 {
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">%@</text>", px(v), t + h + 12, tickText(v))
        }
        s += "<text x=\"\(l + w / 2)\" y=\"\(Double(height) - 4)\" font-size=\"10\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        s += "<g clip-path=\"url(#\(id))\">"
        let bucket = max(1, (max(rw.count, sm.count) + maxPoints - 1) / maxPoints)
        if rw.count > 1 {
            if bucket == 1 {
                s += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-opacity=\"0.25\" stroke-width=\"1\" points=\"" + rw.map { pt($0.0, $0.1) }.joined(separator: " ") + "\"/>"
            } else {
                var top: [String] = [], bottom: [String] = []
                for i in stride(from: 0, to: rw.count, by: bucket) {
                    let chunk = rw[i..<min(i + bucket, rw.count)]
                    let x = chunk.map(\.0).reduce(0, +) / Double(chunk.count)
                    top.append(pt(x, chunk.map(\.1).max()!)); bottom.append(pt(x, chunk.map(\.1).min()!))
                }
                s += "<polygon fill=\"#1f77b4\" fill-opacity=\"0.15\" stroke=\"none\" points=\"" + (top + bottom.reversed()).joined(separator: " ") + "\"/>"
            }
        } else if let p = rw.first, sm.isEmpty {
            s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"#1f77b4\"/>", px(p.0), py(p.1))
        }
        if sm.count > 1 {
            let pts = stride(from: 0, to: sm.count, by: bucket).map { sm[$0] } + ((sm.count - 1) % bucket == 0 ? [] : [sm[sm.count - 1]])
            s += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.8\" points=\"" + pts.map { pt($0.0, $0.1) }.joined(separator: " ") + "\"/>"
        } else if let p = sm.first {
            s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1f77b4\"/>", px(p.0), py(p.1))
        }
        s += "</g>"
        if let last = sm.last {
            s += String(format: "<text x=\"%.1f\" y=\"15\" font-size=\"11\" text-anchor=\"end\" fill=\"#1f77b4\">last %@</text>", l + w, String(format: "%.4g", last.1))
        }
        return s + "</svg>"
    }

    /// A JSON value, decoded without losing what is a boolean or an integer.
    public indirect enum JSONValue: Decodable, Equatable {
        case null, bool(Bool), int(Int64), double(Double), string(String)
        case array([JSONValue]), object([String: JSONValue])

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let i = try? c.decode(Int64.self) { self = .int(i) }
            else if let d = try? c.decode(Double.self) { self = .double(d) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
            else { self = .object(try c.decode([String: JSONValue].self)) }
        }

        var text: String {
            switch self {
            case .null: return "null"
            case .bool(let b): return b ? "true" : "false"
            case .int(let i): return "\(i)"
            case .double(let d): return "\(d)"
            case .string(let s): return s
            case .array(let a): return "[" + a.map(\.text).joined(separator: ", ") + "]"
            case .object(let o): return o.isEmpty ? "{}" : "{" + o.keys.sorted().map { "\($0): \(o[$0]!.text)" }.joined(separator: ", ") + "}"
            }
        }
    }

    /// Nested JSON as sorted `a.b.c` | value rows (arrays of scalars or arrays on one row,
    /// arrays of objects as `a[0].b`).
    public static func flatten(_ v: JSONValue, prefix: String = "") -> [(String, String)] {
        switch v {
        case .object(let d) where !d.isEmpty:
            return d.keys.sorted().flatMap { flatten(d[$0]!, prefix: prefix.isEmpty ? $0 : prefix + "." + $0) }
        case .array(let a) where a.contains(where: { if case .object = $0 { return true }; return false }):
            return a.enumerated().flatMap { flatten($0.element, prefix: "\(prefix)[\($0.offset)]") }
        default:
            return [(prefix, v.text)]
        }
    }

    /// A JSON object (text) as key | value rows, nested keys flattened (`data.loadSize`), in
    /// up to `columns` side-by-side tables.
    public static func configTable(json text: String, columns: Int = 3) -> String {
        guard let v = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else { return "<pre>\(escape(text))</pre>" }
        let rows = flatten(v)
        let per = max(8, (rows.count + columns - 1) / max(columns, 1))
        let tables = stride(from: 0, to: rows.count, by: per).map { keyValueTable(Array(rows[$0..<min($0 + per, rows.count)])) }
        return "<div class=\"curves\">" + tables.joined() + "</div>"
    }

    /// A two-column table of key | value rows.
    public static func keyValueTable(_ rows: [(String, String)], cssClass: String = "kv") -> String {
        "<table class=\"\(cssClass)\">" + rows.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined() + "</table>"
    }

    /// A full page: title, a metadata block, then free HTML sections.
    public static func page(title: String, meta: [(String, String)], body: String) -> String {
        """
        <!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>\(escape(title))</title>\(style)</head><body>
        <h1>\(escape(title))</h1>\(keyValueTable(meta, cssClass: "meta"))
        \(body)
        </body></html>
        """
    }

    /// A table of image rows: each row is a label and image paths (relative to the page).
    /// Wide tables scroll sideways inside the page; images load lazily.
    public static func imageTable(headers: [String], rows: [(String, [String?])]) -> String {
        let head = "<tr><th></th>" + headers.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
        let size = headers.count > 4 ? " style=\"max-width:\(max(96, 1024 / headers.count))px\"" : ""
        let body = rows.map { label, imgs in
            "<tr><td>\(escape(label))</td>" + imgs.map { p in
                p.map { "<td><a href=\"\(url($0))\"><img src=\"\(url($0))\" alt=\"\(escape($0))\" loading=\"lazy\"\(size)></a></td>" } ?? "<td></td>"
            }.joined() + "</tr>"
        }.joined(separator: "\n")
        return "<div class=\"wide\"><table>\(head)\n\(body)</table></div>"
    }
}
