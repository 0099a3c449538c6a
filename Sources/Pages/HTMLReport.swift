import Foundation

/// HTML pages that people open: training reports with sample translations per epoch and
/// loss curves as inline SVG (Chart.swift), and the result pages of `apply` and `eval`. No
/// external scripts or styles: a page is one file next to its images.
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
