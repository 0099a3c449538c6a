import Foundation

// MARK: - Charts
//
// One SVG chart for every page: `chart` draws a frame (title, axes with round or data ticks,
// grid lines, vertical marks, legend, a note in the corner) around series drawn as lines,
// dots, faint raw values (a min-max band once thinned) or histogram outlines. Loss curves,
// the line charts and histograms of `eval` are presets of it.

extension HTMLReport {
    /// Series colours, in order.
    public static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]

    /// One series of a chart.
    public struct Series {
        public enum Style: Equatable, Sendable {
            /// A solid line this many pixels wide (one point: a dot).
            case line(width: Double)
            /// Raw values behind a smoothed curve: thin and faint, a min-max band once thinned;
            /// they widen the y range only up to their 2nd and 98th percentiles.
            case faint
            /// A histogram's step outline, faintly filled down to 0 (the points are the outline).
            case outline
        }

        /// The legend entry (nil: none).
        public var name: String?
        public var points: [(x: Double, y: Double)]
        /// nil: the palette's colour for the series' position.
        public var color: String?
        public var style: Style
        /// A dot at every (drawn) point.
        public var dots: Bool

        public init(_ name: String?, _ points: [(x: Double, y: Double)], color: String? = nil, style: Style = .line(width: 1.5), dots: Bool = false) {
            self.name = name; self.points = points; self.color = color; self.style = style; self.dots = dots
        }
    }

    /// A vertical line across the plot at `x`.
    public struct Mark {
        public var x: Double
        public var label: String
        /// true: black, labelled at the bottom (a threshold); false: faint and dashed, labelled
        /// at the top, labels thinned to about 10 (epoch ends).
        public var strong: Bool

        public init(x: Double, label: String, strong: Bool = false) { self.x = x; self.label = label; self.strong = strong }
    }

    /// One axis: its label (empty: none), linear or logarithmic (base 10), a fixed range (else
    /// the data's) and where the ticks go.
    public struct Axis {
        public enum Ticks: Sendable {
            /// Round values (1, 2, 2.5 or 5 times a power of ten; 1, 2, 5 per decade on a log axis).
            case round
            /// At the data's distinct values when there are at most 12 of them (e.g. k = 1, 2, 5), else round.
            case data
        }

        public var label: String
        public var log: Bool
        public var range: ClosedRange<Double>?
        public var ticks: Ticks

        public init(_ label: String = "", log: Bool = false, range: ClosedRange<Double>? = nil, ticks: Ticks = .round) {
            self.label = label; self.log = log; self.range = range; self.ticks = ticks
        }
    }

    /// A stable 32-bit FNV-1a hash (element ids that do not change between runs).
    static func fnv(_ s: String) -> UInt32 {
        s.utf8.reduce(2166136261 as UInt32) { ($0 ^ UInt32($1)) &* 16777619 }
    }

    /// Round axis ticks within lo...hi (about `count` steps of 1, 2, 2.5 or 5 times a power of
    /// ten); `[lo]` for an empty or non-finite range.
    public static func ticks(_ lo: Double, _ hi: Double, count: Int = 4) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite, (hi - lo).isFinite else { return [lo] }
        let raw = (hi - lo) / Double(max(count, 1))
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var k = (lo / step).rounded(.up), out: [Double] = []
        while k * step <= hi + step * 1e-9 {
            let t = k * step
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            k += 1
        }
        return out
    }

    /// Ticks of a logarithmic axis within lo...hi (both > 0): 1, 2 and 5 times the powers of
    /// ten, only the powers when that gives more than 10, round linear ticks when under 2.
    public static func logTicks(_ lo: Double, _ hi: Double) -> [Double] {
        guard lo > 0, hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let tol = 1e-9
        var all: [Double] = [], powers: [Double] = []
        for e in Int(floor(log10(lo)))...Int(ceil(log10(hi))) {
            for m in [1.0, 2, 5] {
                let v = m * pow(10, Double(e))
                guard v >= lo * (1 - tol) && v <= hi * (1 + tol) else { continue }
                all.append(v)
                if m == 1 { powers.append(v) }
            }
        }
        if all.count > 10 { return powers }
        return all.count >= 2 ? all : ticks(lo, hi)
    }

    /// Labels for tick values: the fewest decimals that tell every tick apart and stay within
    /// 1 % of the smallest gap (`log`: of each value), trailing zeros dropped; exponent
    /// notation from 1e5 up and below 1e-3 (for the largest tick, or for each on a log axis).
    public static func tickLabels(_ values: [Double], log: Bool = false) -> [String] {
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return values.map { _ in "" } }
        func exponent(_ a: Double) -> Bool { a >= 1e5 || (a > 0 && a < 1e-3) }
        let largest = finite.map(abs).max()!
        let distinct = Array(Set(finite)).sorted()
        let step = zip(distinct, distinct.dropFirst()).map { $1 - $0 }.min() ?? max(largest, 1)
        func text(_ v: Double, _ digits: Int) -> String {
            guard v.isFinite else { return "" }
            if v == 0 { return "0" }
            let sci = exponent(log ? abs(v) : largest)
            let s = String(format: sci ? "%.\(digits)e" : "%.\(digits)f", v)
            let parts = s.split(separator: "e", maxSplits: 1)
            var mantissa = String(parts[0])
            if mantissa.contains(".") {
                while mantissa.hasSuffix("0") { mantissa.removeLast() }
                if mantissa.hasSuffix(".") { mantissa.removeLast() }
            }
            return parts.count > 1 ? mantissa + "e" + parts[1] : mantissa
        }
        for digits in 0...12 {
            let labels = values.map { text($0, digits) }
            let close = zip(values, labels).allSatisfy { v, l in
                !v.isFinite || abs((Double(l) ?? .nan) - v) <= (log ? abs(v) : step) * 0.01
            }
            if close && Set(zip(values, labels).filter { $0.0.isFinite }.map(\.1)).count == distinct.count { return labels }
        }
        return values.map { $0.isFinite ? "\($0)" : "" }
    }

    /// The counts of the finite values in lo...hi in `bins` equal bins (the last one closed).
    public static func histogramBins(_ values: [Double], lo: Double, hi: Double, bins: Int) -> [Int] {
        var c = [Int](repeating: 0, count: max(bins, 0))
        guard bins > 0, lo.isFinite, hi.isFinite, hi > lo else { return c }
        for x in values where x.isFinite && x >= lo && x <= hi {
            c[min(bins - 1, Int((x - lo) / (hi - lo) * Double(bins)))] += 1
        }
        return c
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

    // MARK: The chart

    /// A chart as an SVG element. Points that cannot be drawn (NaN, infinite, <= 0 on a log
    /// axis) are left out; without any the frame says "no data". The y range is the data's
    /// (`faint` series up to their 2nd-98th percentile, so one spike does not flatten the
    /// rest), from 0 when the data are closer to 0 than half their spread, 4 % of air.
    /// Series longer than `maxPoints` are thinned (faint ones to a min-max band).
    public static func chart(title: String, x xAxis: Axis, y yAxis: Axis = Axis(), series: [Series], marks: [Mark] = [],
                             note: (text: String, color: String)? = nil, width: Int = 440, height: Int = 240, maxPoints: Int = 600) -> String {
        func tx(_ v: Double) -> Double { xAxis.log ? log10(v) : v }
        func ty(_ v: Double) -> Double { yAxis.log ? log10(v) : v }
        let clean = series.map { s in
            s.points.filter { $0.x.isFinite && $0.y.isFinite && (!xAxis.log || $0.x > 0) && (!yAxis.log || $0.y > 0) }
        }
        let points = clean.flatMap { $0 }

        // The x range, in axis units (log10 on a log axis).
        var x0 = 0.0, x1 = 1.0
        if let r = xAxis.range, r.lowerBound.isFinite, r.upperBound.isFinite, !xAxis.log || r.lowerBound > 0 {
            (x0, x1) = (tx(r.lowerBound), tx(r.upperBound))
        } else if !points.isEmpty {
            (x0, x1) = (points.map { tx($0.x) }.min()!, points.map { tx($0.x) }.max()!)
        }
        if !(x1 > x0) { x0 -= 0.5; x1 += 0.5 }

        // The y range.
        var y0 = Double.infinity, y1 = -Double.infinity
        for (s, p) in zip(series, clean) where !p.isEmpty {
            let ys = p.map { ty($0.y) }
            if s.style == .faint {
                let sorted = ys.sorted()
                let q = { (f: Double) in sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count - 1) * f).rounded())))] }
                y0 = min(y0, q(0.02)); y1 = max(y1, q(0.98))
            } else {
                y0 = min(y0, ys.min()!); y1 = max(y1, ys.max()!)
                if s.style == .outline && !yAxis.log { y0 = min(y0, 0) }
            }
        }
        if let r = yAxis.range, r.lowerBound.isFinite, r.upperBound.isFinite, r.upperBound > r.lowerBound, !yAxis.log || r.lowerBound > 0 {
            (y0, y1) = (ty(r.lowerBound), ty(r.upperBound))
        } else {
            if !(y0 <= y1) { (y0, y1) = (0, 1) }  // no data
            if !yAxis.log && y0 >= 0 && y0 < (y1 - y0) * 0.5 { y0 = 0 }  // losses, shares: from 0 unless far from it
            if !(y1 > y0) { let d = max(abs(y0) * 0.1, 1e-3); y0 -= d; y1 += d }
            let air = (y1 - y0) * 0.04
            y1 += air
            if y0 != 0 || yAxis.log { y0 -= air }
        }

        let (l, r, t, b) = (50.0, 12.0, 24.0, 34.0)
        let w = Double(width) - l - r, h = Double(height) - t - b
        func px(_ v: Double) -> Double { l + (tx(v) - x0) / (x1 - x0) * w }
        func py(_ v: Double) -> Double { t + (1 - (ty(v) - y0) / (y1 - y0)) * h }
        func pt(_ v: (x: Double, y: Double)) -> String { String(format: "%.1f,%.1f", px(v.x), py(v.y)) }
        func inX(_ v: Double) -> Bool { v.isFinite && (!xAxis.log || v > 0) && tx(v) >= x0 - 1e-12 && tx(v) <= x1 + 1e-12 }
        let e = escape
        let id = "clip" + String(fnv(title + xAxis.label), radix: 16)

        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"\(e(title))\">"
        s += String(format: "<defs><clipPath id=\"%@\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath></defs>", id, l - 3, t - 3, w + 6, h + 6)
        s += "<text x=\"\(Int(l))\" y=\"15\" font-size=\"13\" font-weight=\"bold\">\(e(title))</text>"

        // y: grid lines and labels; x: labels, thinned where they would overlap.
        let yTicks = axisTicks(yAxis, y0, y1, data: points.map(\.y)).filter { !yAxis.log || $0 > 0 }.filter { v in
            let u = ty(v); return u >= y0 - 1e-12 && u <= y1 + 1e-12
        }
        for (v, label) in zip(yTicks, tickLabels(yTicks, log: yAxis.log)) {
            let y = py(v)
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", l, y, l + w, y)
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%@</text>", l - 4, y + 3.5, label)
        }
        let xTicks = axisTicks(xAxis, x0, x1, data: points.map(\.x)).filter(inX)
        var lastRight = -Double.infinity
        for (v, label) in zip(xTicks, tickLabels(xTicks, log: xAxis.log)) {
            let x = px(v), half = Double(label.count) * 3 + 2
            guard x - half >= lastRight else { continue }
            lastRight = x + half
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">%@</text>", x, t + h + 12, label)
        }

        // Marks: every one as a line; faint ones' labels thinned to about 10.
        let faintMarks = marks.filter { !$0.strong }
        let every = max(1, (faintMarks.count + 9) / 10)
        for (k, m) in faintMarks.enumerated() where inX(m.x) {
            let x = px(m.x)
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\" stroke-dasharray=\"3,3\"/>", x, t, x, t + h)
            if (k + 1) % every == 0 || k == faintMarks.count - 1 {
                s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"#888\" text-anchor=\"end\">%@</text>", x - 2, t + 9, e(m.label))
            }
        }
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>",
                    l, t + h, l + w, t + h, l, t, l, t + h)
        if !xAxis.label.isEmpty {
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">%@</text>", l + w / 2, Double(height) - 4, e(xAxis.label))
        }
        if !yAxis.label.isEmpty {
            s += String(format: "<text transform=\"translate(10,%.1f) rotate(-90)\" font-size=\"10\" text-anchor=\"middle\">%@</text>", t + h / 2, e(yAxis.label))
        }
        if points.isEmpty {
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#888\" text-anchor=\"middle\">no data</text>", l + w / 2, t + h / 2)
        }

        // The series, clipped to the plot (and 3 px around it, so that dots on the edge show).
        s += "<g clip-path=\"url(#\(id))\">"
        let longest = zip(series, clean).filter { $0.0.style != .outline }.map(\.1.count).max() ?? 0
        let bucket = max(1, (longest + maxPoints - 1) / max(maxPoints, 1))
        for (n, (ser, p)) in zip(series, clean).enumerated() where !p.isEmpty {
            let c = ser.color ?? palette[n % palette.count]
            // Every bucket-th point and the last.
            let thinned = bucket == 1 ? p : stride(from: 0, to: p.count, by: bucket).map { p[$0] } + ((p.count - 1) % bucket == 0 ? [] : [p[p.count - 1]])
            switch ser.style {
            case .faint where p.count == 1:
                s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%@\"/>", px(p[0].x), py(p[0].y), c)
            case .faint where bucket == 1:
                s += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-opacity=\"0.25\" stroke-width=\"1\" points=\"" + p.map(pt).joined(separator: " ") + "\"/>"
            case .faint:
                var top: [String] = [], bottom: [String] = []
                for i in stride(from: 0, to: p.count, by: bucket) {
                    let chunk = p[i..<min(i + bucket, p.count)]
                    let x = chunk.map(\.x).reduce(0, +) / Double(chunk.count)
                    top.append(pt((x, chunk.map(\.y).max()!))); bottom.append(pt((x, chunk.map(\.y).min()!)))
                }
                s += "<polygon fill=\"\(c)\" fill-opacity=\"0.15\" stroke=\"none\" points=\"" + (top + bottom.reversed()).joined(separator: " ") + "\"/>"
            case .line(let lw):
                if p.count > 1 {
                    s += String(format: "<polyline fill=\"none\" stroke=\"%@\" stroke-width=\"%g\" points=\"", c, lw) + thinned.map(pt).joined(separator: " ") + "\"/>"
                } else if !ser.dots {
                    s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>", px(p[0].x), py(p[0].y), c)
                }
            case .outline:
                s += "<polyline fill=\"\(c)\" fill-opacity=\"0.15\" stroke=\"\(c)\" stroke-width=\"1.2\" points=\"" + p.map(pt).joined(separator: " ") + "\"/>"
            }
            if ser.dots {
                for q in thinned { s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%@\"/>", px(q.x), py(q.y), c) }
            }
        }
        s += "</g>"

        for m in marks where m.strong && inX(m.x) {
            let x = px(m.x)
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" stroke-dasharray=\"4,3\"/>", x, t, x, t + h)
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">%@</text>", x + 3, t + h - 6, e(m.label))
        }
        // Legend: top right inside the plot, on a white halo so that it reads over the data.
        for (k, (n, ser)) in series.enumerated().filter({ $0.element.name != nil }).enumerated() {
            let c = ser.color ?? palette[n % palette.count]
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\" fill=\"%@\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">%@</text>",
                        l + w - 4, t + 12 + Double(k) * 13, c, e(ser.name!))
        }
        if let note {
            s += String(format: "<text x=\"%.1f\" y=\"15\" font-size=\"11\" text-anchor=\"end\" fill=\"%@\">%@</text>", l + w, e(note.color), e(note.text))
        }
        return s + "</svg>"
    }

    /// Ticks of `axis` for the range lo...hi in axis units (log10 on a log axis), in data units.
    static func axisTicks(_ axis: Axis, _ lo: Double, _ hi: Double, data: [Double]) -> [Double] {
        if axis.ticks == .data {
            let d = Array(Set(data.filter { $0.isFinite && (!axis.log || $0 > 0) })).sorted()
            if !d.isEmpty && d.count <= 12 { return d }
        }
        return axis.log ? logTicks(pow(10, lo), pow(10, hi)) : ticks(lo, hi)
    }

    // MARK: Presets

    /// Lines with a dot at every point, of several named series against x (ticks at the x
    /// values when there are few), optionally on a log x axis or a fixed y range.
    public static func lineChart(title: String, xLabel: String, series: [(String, [(Double, Double)])], logX: Bool = false,
                                 yRange: ClosedRange<Double>? = nil, width: Int = 440, height: Int = 240) -> String {
        chart(title: title, x: Axis(xLabel, log: logX, ticks: .data), y: Axis(range: yRange),
              series: series.map { Series($0.0, $0.1.map { (x: $0.0, y: $0.1) }, dots: true) }, width: width, height: height)
    }

    /// A line chart of one series against x.
    public static func svgChart(title: String, xs: [Double], ys: [Double], xLabel: String = "epochs", width: Int = 420, height: Int = 200) -> String {
        lossChart(title: title, xs: xs, raw: [], smoothed: ys, xLabel: xLabel, width: width, height: height)
    }

    /// A loss curve: the raw values faint behind the smoothed ones against x (steps), with
    /// faint vertical marks (e.g. epoch ends) and the last smoothed value in the corner.
    public static func lossChart(title: String, xs: [Double], raw: [Double], smoothed: [Double], marks: [(Double, String)] = [],
                                 xLabel: String = "step", width: Int = 380, height: Int = 210, maxPoints: Int = 600) -> String {
        let rw = zip(xs, raw).map { (x: $0.0, y: $0.1) }, sm = zip(xs, smoothed).map { (x: $0.0, y: $0.1) }
        let last = sm.last { $0.x.isFinite && $0.y.isFinite }
        return chart(title: title, x: Axis(xLabel), series: [Series(nil, rw, color: palette[0], style: .faint),
                                                             Series(nil, sm, color: palette[0], style: .line(width: 1.8))],
                     marks: marks.map { Mark(x: $0.0, label: $0.1) }, note: last.map { ("last " + String(format: "%.4g", $0.y), palette[0]) },
                     width: width, height: height, maxPoints: maxPoints)
    }

    /// Overlaid histograms (outlines of the share of each series' values per bin, the legend
    /// with their counts) over one range, with an optional vertical marker (a threshold).
    public static func histogram(title: String, xLabel: String, series: [(String, [Double])], marker: (String, Double)? = nil,
                                 bins: Int = 30, width: Int = 440, height: Int = 240) -> String {
        let bins = max(bins, 1)
        let all = series.flatMap(\.1).filter(\.isFinite) + (marker.map { [$0.1] }?.filter(\.isFinite) ?? [])
        var lo = all.min() ?? 0, hi = all.max() ?? 1
        if !(hi > lo) { let d = max(abs(lo) * 0.1, 1e-3); lo -= d; hi += d }  // one value: in the middle
        let edges = (0...bins).map { lo + (hi - lo) * Double($0) / Double(bins) }
        let outlines = series.map { name, values -> Series in
            let n = values.filter(\.isFinite).count
            guard n > 0 else { return Series("\(name) (0)", [], style: .outline) }
            let share = histogramBins(values, lo: lo, hi: hi, bins: bins).map { Double($0) / Double(n) }
            var p: [(x: Double, y: Double)] = [(lo, 0)]
            for (i, v) in share.enumerated() { p += [(edges[i], v), (edges[i + 1], v)] }
            p.append((hi, 0))
            return Series("\(name) (\(n))", p, style: .outline)
        }
        return chart(title: title, x: Axis(xLabel, range: lo...hi), y: Axis("share per bin"), series: outlines,
                     marks: marker.map { [Mark(x: $0.1, label: $0.0, strong: true)] } ?? [], width: width, height: height)
    }

    /// A horizontal colour bar (a legend for a colour map): `stops` are (0...1, CSS colour),
    /// labelled `low` on the left and `high` on the right.
    public static func colorBar(stops: [(Double, String)], low: String, high: String, width: Int = 150) -> String {
        let id = "bar" + String(fnv(stops.map { "\($0.0)\($0.1)" }.joined()), radix: 16)
        let gradient = stops.map { String(format: "<stop offset=\"%.2f\" stop-color=\"%@\"/>", $0.0, escape($0.1)) }.joined()
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"26\"><defs><linearGradient id=\"\(id)\">\(gradient)</linearGradient></defs>"
            + "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"10\" fill=\"url(#\(id))\"/>"
            + "<text x=\"0\" y=\"22\" font-size=\"10\">\(escape(low))</text>"
            + "<text x=\"\(width)\" y=\"22\" font-size=\"10\" text-anchor=\"end\">\(escape(high))</text>"
            + "</svg>"
    }
}
