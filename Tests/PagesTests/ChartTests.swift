import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Pages

/// The SVG charts and page helpers: escaping, ticks, degenerate data, log axes, histograms.
final class ChartTests: XCTestCase {
    /// Parses `svg` as XML (failing the test if it is not well formed) and returns every
    /// element's name and attributes.
    func elements(_ svg: String, file: StaticString = #filePath, line: UInt = #line) -> [(String, [String: String])] {
        final class Collect: NSObject, XMLParserDelegate {
            var found: [(String, [String: String])] = []
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String]) {
                found.append((name, attributes))
            }
        }
        let parser = XMLParser(data: Data(svg.utf8))
        let c = Collect()
        parser.delegate = c
        XCTAssertTrue(parser.parse(), "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")\n\(svg)", file: file, line: line)
        XCTAssertEqual(c.found.first?.0, "svg", file: file, line: line)
        return c.found
    }

    /// Every number in the geometry attributes (x, y, cx, points, ...) of `svg`.
    func coordinates(_ svg: String, file: StaticString = #filePath, line: UInt = #line) -> [String] {
        let geometry: Set<String> = ["x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height", "points", "transform"]
        return elements(svg, file: file, line: line).flatMap { _, attrs in
            attrs.filter { geometry.contains($0.key) }.flatMap { $0.value.split(whereSeparator: { " ,()".contains($0) }).map(String.init) }
        }.filter { !["translate", "rotate"].contains($0) }
    }

    /// The texts of the <text> elements, in order.
    func texts(_ svg: String) -> [String] {
        svg.components(separatedBy: "<text").dropFirst().compactMap { part in
            part.split(separator: ">", maxSplits: 1).last.map { String($0.prefix { $0 != "<" }) }
        }
    }

    /// Well-formed, every coordinate a finite number, no "nan" or "inf" anywhere.
    func assertDrawable(_ svg: String, _ what: String = "", file: StaticString = #filePath, line: UInt = #line) {
        let numbers = coordinates(svg, file: file, line: line)
        XCTAssertFalse(numbers.isEmpty, what, file: file, line: line)
        for n in numbers {
            XCTAssertTrue(Double(n)?.isFinite ?? false, "\(what): not a finite number: \(n)", file: file, line: line)
        }
        XCTAssertFalse(svg.lowercased().contains("nan"), "\(what): \(svg)", file: file, line: line)
        XCTAssertFalse(svg.lowercased().contains("inf"), "\(what): \(svg)", file: file, line: line)
    }

    func testEscaping() {
        XCTAssertEqual(HTMLReport.escape(#"a<b & "c">"#), "a&lt;b &amp; &quot;c&quot;&gt;")
        let title = #"loss <G> & "D""#
        let svgs = [
            HTMLReport.lossChart(title: title, xs: [1, 2, 3], raw: [3, 2, 1], smoothed: [3, 2, 1], marks: [(2, "e<1>")], xLabel: "x & y"),
            HTMLReport.lineChart(title: title, xLabel: "k <samples>", series: [("a<b", [(1, 0.5), (2, 0.25)])]),
            HTMLReport.histogram(title: title, xLabel: "LPIPS & co", series: [("pairs \"x\"", [0.1, 0.2])], marker: ("t<h>", 0.15)),
        ]
        for svg in svgs {
            let els = elements(svg)
            XCTAssertEqual(els.first?.1["aria-label"], title)
            XCTAssertTrue(svg.contains(">loss &lt;G&gt; &amp; &quot;D&quot;</text>"), svg)
            XCTAssertFalse(svg.contains("<G>") || svg.contains("<1>") || svg.contains("<samples>") || svg.contains("a<b") || svg.contains("<h>"))
        }
        XCTAssertTrue(svgs[0].contains(">e&lt;1&gt;<") && svgs[0].contains(">x &amp; y<"))
        XCTAssertTrue(svgs[1].contains(">a&lt;b<") && svgs[1].contains(">k &lt;samples&gt;<"))
        XCTAssertTrue(svgs[2].contains(">pairs &quot;x&quot; (2)<") && svgs[2].contains(">t&lt;h&gt;<"))
        // Pages: the title, metadata and table cells; paths percent-encoded in src and href.
        let page = HTMLReport.page(title: "a<b", meta: [("k&", "v>")], body: HTMLReport.imageTable(headers: ["h\"1"], rows: [("r<", ["im g/x#1.png"])]))
        XCTAssertTrue(page.contains("<title>a&lt;b</title>") && page.contains("<h1>a&lt;b</h1>"))
        XCTAssertTrue(page.contains("<th>k&amp;</th><td>v&gt;</td>") && page.contains("<th>h&quot;1</th>") && page.contains("<td>r&lt;</td>"))
        XCTAssertTrue(page.contains("src=\"im%20g/x%231.png\""), page)
    }

    func testTicksCoverTheDataRange() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let lo = Double.random(in: -1e4...1e4, using: &rng) * pow(10, Double.random(in: -6...0, using: &rng))
            let hi = lo + pow(10, Double.random(in: -6...6, using: &rng))
            let t = HTMLReport.ticks(lo, hi)
            XCTAssertGreaterThanOrEqual(t.count, 2, "\(lo)...\(hi)")
            XCTAssertLessThanOrEqual(t.count, 9, "\(lo)...\(hi)")
            let step = t[1] - t[0]
            XCTAssertTrue(t.first! >= lo - step * 1e-6 && t.first! - step <= lo, "\(lo)...\(hi): \(t)")
            XCTAssertTrue(t.last! <= hi + step * 1e-6 && t.last! + step >= hi, "\(lo)...\(hi): \(t)")
            // The labels tell the ticks apart, however narrow the range.
            XCTAssertEqual(Set(HTMLReport.tickLabels(t)).count, t.count, "\(t) -> \(HTMLReport.tickLabels(t))")
        }
        XCTAssertEqual(HTMLReport.ticks(0, 9.3), [0, 2.5, 5, 7.5])
        XCTAssertEqual(HTMLReport.ticks(-1, 1), [-1, -0.5, 0, 0.5, 1])
        XCTAssertEqual(HTMLReport.tickLabels([0, 0.25, 0.5, 0.75, 1]), ["0", "0.25", "0.5", "0.75", "1"])
        XCTAssertEqual(HTMLReport.tickLabels([16.58, 16.5825, 16.585]), ["16.58", "16.5825", "16.585"])
        XCTAssertEqual(HTMLReport.tickLabels([0, 1e-4, 2e-4]), ["0", "1e-04", "2e-04"])
        XCTAssertEqual(HTMLReport.tickLabels([0, 250_000, 500_000]), ["0", "2.5e+05", "5e+05"])
        // A log axis: each label on its own, within 1 % of its value.
        XCTAssertEqual(HTMLReport.tickLabels([0.02, 0.05, 0.1, 1, 1000, 1e5], log: true), ["0.02", "0.05", "0.1", "1", "1000", "1e+05"])

        // A chart's y ticks lie within its plot and cover the data: every point lies between
        // the lowest and highest tick and at most one step beyond them.
        let ys = [0.3123, 0.3131, 0.3127, 0.3140]
        let svg = HTMLReport.lineChart(title: "k", xLabel: "k", series: [("y", [(1, ys[0]), (2, ys[1]), (5, ys[2]), (10, ys[3])])])
        let grid = elements(svg).filter { $0.0 == "line" && $0.1["stroke"] == "#eee" }.map { Double($0.1["y1"]!)! }
        let dots = elements(svg).filter { $0.0 == "circle" }.map { Double($0.1["cy"]!)! }
        XCTAssertEqual(dots.count, 4)
        XCTAssertGreaterThanOrEqual(grid.count, 3)
        let gap = grid.sorted()[1] - grid.sorted()[0]
        for y in dots { XCTAssertTrue(y >= grid.min()! - gap && y <= grid.max()! + gap, "\(y) vs \(grid)") }
        // Data ticks on x: k = 1, 2, 5, 10.
        XCTAssertTrue(["1", "2", "5", "10"].allSatisfy(texts(svg).contains), "\(texts(svg))")
    }

    func testDegenerateDataGiveValidSVG() {
        let nan = Double.nan, inf = Double.infinity
        let cases: [(String, String)] = [
            ("empty loss", HTMLReport.lossChart(title: "empty", xs: [], raw: [], smoothed: [])),
            ("NaN loss", HTMLReport.lossChart(title: "all missing", xs: [1, 2, 3], raw: [nan, nan, nan], smoothed: [nan, nan, nan])),
            ("NaN x", HTMLReport.lossChart(title: "x missing", xs: [nan, nan], raw: [1, 2], smoothed: [1, 2])),
            ("inf", HTMLReport.lossChart(title: "spike", xs: [1, 2, 3, 4], raw: [1, inf, -inf, 2], smoothed: [1, nan, 1.5, 2])),
            ("constant", HTMLReport.lossChart(title: "constant", xs: [1, 2, 3], raw: [2, 2, 2], smoothed: [2, 2, 2])),
            ("constant 0", HTMLReport.lossChart(title: "zero", xs: [1, 2, 3], raw: [0, 0, 0], smoothed: [0, 0, 0])),
            ("one point", HTMLReport.lossChart(title: "one", xs: [5], raw: [0.5], smoothed: [0.5], marks: [(5, "e1")])),
            ("one x", HTMLReport.svgChart(title: "same x", xs: [3, 3], ys: [1, 2])),
            ("empty lines", HTMLReport.lineChart(title: "no lines", xLabel: "k", series: [])),
            ("NaN lines", HTMLReport.lineChart(title: "missing lines", xLabel: "k", series: [("a", [(1, nan), (nan, 2)])], logX: true)),
            ("constant lines", HTMLReport.lineChart(title: "flat", xLabel: "k", series: [("a", [(1, 7), (2, 7)]), ("b", [(1, 7)])])),
            ("log x <= 0", HTMLReport.lineChart(title: "log", xLabel: "s", series: [("a", [(0, 1), (-1, 2), (4, 0.5)])], logX: true, yRange: 0...1)),
            ("empty histogram", HTMLReport.histogram(title: "none", xLabel: "v", series: [("a", []), ("b", [nan])])),
            ("constant histogram", HTMLReport.histogram(title: "one value", xLabel: "v", series: [("a", [0.5, 0.5, 0.5])], marker: ("m", 0.5))),
            ("NaN marker", HTMLReport.histogram(title: "marker", xLabel: "v", series: [("a", [1, 2])], marker: ("m", nan))),
        ]
        for (name, svg) in cases {
            assertDrawable(svg, name)
        }
        XCTAssertTrue(texts(cases[0].1).contains("no data"))
        XCTAssertTrue(texts(cases[1].1).contains("no data"))
        XCTAssertFalse(texts(cases[4].1).contains("no data"))
        // The constant is drawn in the middle of its range, labelled.
        let flat = elements(cases[4].1).filter { $0.0 == "polyline" }.last!.1["points"]!
        let ys = Set(flat.split(separator: " ").map { $0.split(separator: ",")[1] })
        XCTAssertEqual(ys.count, 1)
        XCTAssertEqual(Double(ys.first!)!, 24 + (210 - 24 - 34) / 2, accuracy: 8)
        XCTAssertTrue(texts(cases[4].1).contains("2"), "\(texts(cases[4].1))")
    }

    func testLogXAxis() {
        let svg = HTMLReport.lineChart(title: "birthday", xLabel: "batch size s", series: [("a", [(1, 0.1), (10, 0.5), (100, 0.9), (1000, 1)])],
                                       logX: true, yRange: 0...1)
        assertDrawable(svg)
        // Equal ratios, equal distances.
        let cx = elements(svg).filter { $0.0 == "circle" }.map { Double($0.1["cx"]!)! }
        XCTAssertEqual(cx.count, 4)
        XCTAssertEqual(cx[1] - cx[0], cx[2] - cx[1], accuracy: 0.11)
        XCTAssertEqual(cx[2] - cx[1], cx[3] - cx[2], accuracy: 0.11)
        XCTAssertEqual(cx[0], 50, accuracy: 0.05)
        XCTAssertEqual(cx[3], 440 - 12, accuracy: 0.05)
        let labels = texts(svg)
        for l in ["1", "10", "100", "1000", "0", "0.5", "1"] { XCTAssertTrue(labels.contains(l), "\(l) in \(labels)") }
        // The fixed y range: 0 at the bottom of the plot, 1 at its top.
        let cy = elements(svg).filter { $0.0 == "circle" }.map { Double($0.1["cy"]!)! }
        XCTAssertEqual(cy[3], 24, accuracy: 0.05)
        XCTAssertEqual(cy[0], 24 + 0.9 * (240 - 24 - 34), accuracy: 0.05)
        // Round log ticks: 1, 2, 5 per decade on a long axis without data ticks.
        XCTAssertEqual(HTMLReport.logTicks(1, 100), [1, 2, 5, 10, 20, 50, 100])
        XCTAssertEqual(HTMLReport.logTicks(1, 1e6), [1, 10, 100, 1000, 1e4, 1e5, 1e6])
        let wide = HTMLReport.chart(title: "wide", x: .init("n", log: true), series: [.init("a", (0...6).map { (x: pow(10, Double($0)), y: Double($0)) })])
        for l in ["1", "10", "100", "1000", "10000", "1e+05", "1e+06"] { XCTAssertTrue(texts(wide).contains(l), "\(l) in \(texts(wide))") }
    }

    func testHistogramBins() {
        XCTAssertEqual(HTMLReport.histogramBins([0, 0.1, 0.5, 0.99, 1, 1.5, -0.1, .nan], lo: 0, hi: 1, bins: 4), [2, 0, 1, 2])
        XCTAssertEqual(HTMLReport.histogramBins([0.25, 0.5, 0.75], lo: 0, hi: 1, bins: 4), [0, 1, 1, 1])
        XCTAssertEqual(HTMLReport.histogramBins([1, 2], lo: 1, hi: 1, bins: 3), [0, 0, 0])
        XCTAssertEqual(HTMLReport.histogramBins((0..<1000).map { Double($0) / 999 }, lo: 0, hi: 1, bins: 10).reduce(0, +), 1000)

        // The drawn outline: shares per bin (summing to 1 per series) on one range; legend
        // with the counts of finite values; the marker inside the range.
        let a = [0.0, 0.0, 0.5, 1.0], b = [0.25, 0.75, .nan]
        let svg = HTMLReport.histogram(title: "h", xLabel: "LPIPS", series: [("a", a), ("b", b)], marker: ("threshold", 0.5), bins: 4)
        assertDrawable(svg)
        let labels = texts(svg)
        XCTAssertTrue(labels.contains("a (4)") && labels.contains("b (2)") && labels.contains("threshold"), "\(labels)")
        let outlines = elements(svg).filter { $0.0 == "polyline" }.map { $0.1["points"]! }
        XCTAssertEqual(outlines.count, 2)
        // Outline: the baseline corner, two corners per bin, the baseline corner.
        let heights = outlines.map { p -> [Double] in
            let ys = p.split(separator: " ").map { Double($0.split(separator: ",")[1])! }
            let base = ys[0]
            return stride(from: 1, to: ys.count - 1, by: 2).map { base - ys[$0] }
        }
        XCTAssertEqual(heights.map(\.count), [4, 4])
        // a: 2, 0, 1, 1 of 4; b: 0, 1, 0, 1 of 2 (shares 0.5 0 0.25 0.25 and 0 0.5 0 0.5).
        let unit = heights[0][0] / 0.5
        XCTAssertGreaterThan(unit, 0)
        for (h, share) in zip(heights[0] + heights[1], [0.5, 0, 0.25, 0.25, 0, 0.5, 0, 0.5]) { XCTAssertEqual(h, share * unit, accuracy: 0.11) }
        let marker = elements(svg).filter { $0.0 == "line" && $0.1["stroke"] == "#000" }
        XCTAssertEqual(marker.count, 1)
        XCTAssertEqual(Double(marker[0].1["x1"]!)!, 50 + 0.5 * (440 - 50 - 12), accuracy: 0.05)
    }

    func testLossChartIsRawAndSmoothedSeries() {
        // The raw values faint, the smoothed solid on top; long series thinned to a band.
        let svg = HTMLReport.lossChart(title: "G", xs: [1, 2, 3, 4], raw: [4, 3, 2, 1], smoothed: [4, 3.5, 3, 2.5], marks: [(2, "e1"), (4, "e2")])
        assertDrawable(svg)
        let polys = elements(svg).filter { $0.0 == "polyline" }
        XCTAssertEqual(polys.count, 2)
        XCTAssertEqual(polys[0].1["stroke-opacity"], "0.25")
        XCTAssertNil(polys[1].1["stroke-opacity"])
        XCTAssertTrue(texts(svg).contains("last 2.5") && texts(svg).contains("e1") && texts(svg).contains("e2"))
        let n = 3000
        let long = HTMLReport.lossChart(title: "long", xs: (0..<n).map(Double.init), raw: (0..<n).map { sin(Double($0)) }, smoothed: (0..<n).map { _ in 0 })
        let els = elements(long)
        XCTAssertEqual(els.filter { $0.0 == "polygon" }.count, 1)
        XCTAssertLessThanOrEqual(els.filter { $0.0 == "polyline" }[0].1["points"]!.split(separator: " ").count, 601)
        // Spikes do not set the range: the 2nd-98th percentile of the raw values does.
        let spiky = HTMLReport.lossChart(title: "spiky", xs: (0..<100).map(Double.init), raw: (0..<100).map { $0 == 50 ? 1000 : 1 + Double($0 % 3) },
                                         smoothed: (0..<100).map { _ in 2 })
        XCTAssertFalse(texts(spiky).contains { Double($0).map { $0 >= 100 } ?? false }, "\(texts(spiky))")
    }

    func testColorBar() {
        let bar = HTMLReport.colorBar(stops: [(0, "rgb(0,0,4)"), (1, "rgb(252,255,164)")], low: "0", high: "0.00065", width: 120)
        let els = elements(bar)
        XCTAssertEqual(els.filter { $0.0 == "stop" }.map { $0.1["stop-color"]! }, ["rgb(0,0,4)", "rgb(252,255,164)"])
        XCTAssertEqual(texts(bar), ["0", "0.00065"])
        let fill = els.first { $0.0 == "rect" }!.1["fill"]!
        XCTAssertEqual(fill, "url(#\(els.first { $0.0 == "linearGradient" }!.1["id"]!))")
    }
}
