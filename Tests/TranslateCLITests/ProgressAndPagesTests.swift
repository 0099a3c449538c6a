import XCTest
import Foundation
import ImageIO
@testable import TranslateCLI
@testable import Pipelines
import Pages
import Evaluation
import Perceptual
import TestSupport

/// The progress line (width, moving rate, status) and the pages (training curves per step,
/// the configuration table, the visible standard-deviation image).
final class ProgressAndPagesTests: CLITestCase {
    /// A bar on a fake clock that collects what it writes.
    final class Fake {
        var t = 0.0
        var out = ""
        lazy var bar = ProgressBar(totalSteps: 100, tty: true, columns: 80, clock: { [weak self] in self?.t ?? 0 }, write: { [weak self] in self?.out += $0 })
        init() { _ = bar }  // created at t = 0
    }

    let longLosses: [(String, Float)] = (0..<12).map { ("generator_adversarial_loss_\($0)", Float($0) * 1234.5678 + 0.000123) }
    let pix2pix: [(String, Float)] = [("G_GAN", 0.6931), ("G_L1", 12.345678), ("D_real", 0.70012), ("D_fake", 0.6899)]

    func testLineNeverExceedsTheWidth() {
        let f = Fake()
        for k in 1...5 { f.t += 0.5; f.bar.update(epoch: 1, epochs: 200, step: k, steps: 400, images: 4, losses: longLosses) }
        for width in [200, 120, 80, 60, 40, 30, 20, 12, 5, 1] {
            for losses in [longLosses, pix2pix, []] {
                for label in [nil, "round 3: choosing codes"] {
                    f.bar.label = label
                    let s = f.bar.line(epoch: 123, epochs: 200, step: 399, steps: 400, losses: losses, width: width)
                    XCTAssertLessThanOrEqual(s.count, width, "\(width): \(s)")
                    XCTAssertFalse(s.contains("\n"))
                    let st = f.bar.line(epoch: 123, epochs: 200, step: 399, steps: 400, losses: [], status: "saving checkpoint", width: width)
                    XCTAssertLessThanOrEqual(st.count, width, "\(width): \(st)")
                }
            }
        }
        f.bar.label = nil
        // 80 columns: the head, the step of this epoch, rate, ETA and all of pix2pix's losses.
        let s80 = f.bar.line(epoch: 3, epochs: 10, step: 17, steps: 400, losses: pix2pix, width: 80)
        for part in ["epoch 3/10", "17/400", "img/s", "ETA", "G_GAN 0.69", "G_L1 12", "D_real 0.7", "D_fake 0.69"] {
            XCTAssertTrue(s80.contains(part), "\(part) in \(s80)")
        }
        // 40 columns: still the head, the count and the ETA.
        let s40 = f.bar.line(epoch: 3, epochs: 10, step: 17, steps: 400, losses: longLosses, width: 40)
        for part in ["epoch 3/10", "17/400", "ETA"] { XCTAssertTrue(s40.contains(part), "\(part) in \(s40)") }
        // Long names: shortened and dropped from the end, never cut in the middle.
        let s80long = f.bar.line(epoch: 3, epochs: 10, step: 17, steps: 400, losses: longLosses, width: 80)
        XCTAssertTrue(s80long.contains("gen_adv_"), s80long)
        XCTAssertFalse(s80long.contains("gen_adv_11"), s80long)
        XCTAssertLessThanOrEqual(s80long.count, 80)
        // Wide: the full names with 4 digits and a 20-character bar.
        let wide = f.bar.line(epoch: 3, epochs: 10, step: 200, steps: 400, losses: pix2pix, width: 200)
        XCTAssertTrue(wide.contains("G_L1 12.35") && wide.contains("[##########..........]"), wide)
    }

    func testUnitNameAndTerminalOutput() {
        let f = Fake()
        f.bar.unitName = "round"
        f.t = 1
        f.bar.update(epoch: 2, epochs: 28, step: 1, steps: 3, images: 8, losses: [("loss", 0.25)])
        XCTAssertTrue(f.out.hasPrefix("\r\u{1B}[Kround 2/28 "), f.out)
        XCTAssertTrue(f.out.contains(" 1/3 "), f.out)
        // Every drawn line fits 79 columns (80 minus one, so the cursor never wraps).
        for _ in 0..<3 { f.t += 1; f.bar.update(epoch: 2, epochs: 28, step: 2, steps: 3, images: 8, losses: longLosses) }
        for l in f.out.components(separatedBy: "\r\u{1B}[K") { XCTAssertLessThanOrEqual(l.replacingOccurrences(of: "\n", with: "").count, 79, l) }
    }

    func testMovingRateReactsToASlowDown() {
        let f = Fake()
        for k in 1...40 { f.t += 0.1; f.bar.update(epoch: 1, epochs: 1, step: k, steps: 100, images: 2, losses: []) }
        XCTAssertEqual(f.bar.rate, 20, accuracy: 1e-6)
        XCTAssertEqual(f.bar.eta, 60 * 0.1, accuracy: 1e-6)
        for k in 41...60 { f.t += 1; f.bar.update(epoch: 1, epochs: 1, step: k, steps: 100, images: 2, losses: []) }
        // The last 20 steps took 1 s each: 2 img/s (the rate since the start would be 4.2).
        XCTAssertEqual(f.bar.rate, 2, accuracy: 1e-6)
        XCTAssertEqual(f.bar.eta, 40, accuracy: 1e-6)
        XCTAssertTrue(f.bar.line(epoch: 1, epochs: 1, step: 60, steps: 100, losses: [], width: 80).contains("2.0 img/s ETA 00:40"))
        // Slower than 1 img/s reads as seconds per image.
        XCTAssertEqual(ProgressBar.rateText(0.25), "4 s/img")
    }

    func testStatusShowsInTheLineAndIsNotCountedAsAStep() {
        let f = Fake()
        for k in 1...5 { f.t += 1; f.bar.update(epoch: 1, epochs: 2, step: k, steps: 10, images: 1, losses: pix2pix) }
        f.out = ""
        f.bar.status("saving checkpoint")
        XCTAssertTrue(f.out.hasPrefix("\r\u{1B}[Kepoch 1/2 ") && f.out.hasSuffix("| saving checkpoint"), f.out)
        XCTAssertTrue(f.out.contains(" 5/10 "), f.out)
        // The 100 s of saving are not a step's time.
        f.t += 100
        f.bar.update(epoch: 1, epochs: 2, step: 6, steps: 10, images: 1, losses: pix2pix)
        XCTAssertEqual(f.bar.rate, 1, accuracy: 1e-6)
        // After the end of an epoch the line is closed; a status goes on the next line and
        // finish() clears it; a new epoch's preparation is not a step's time either.
        for k in 7...10 { f.t += 1; f.bar.update(epoch: 1, epochs: 2, step: k, steps: 10, images: 1, losses: pix2pix) }
        XCTAssertTrue(f.out.hasSuffix("\n"))
        f.out = ""
        f.bar.status("writing page")
        XCTAssertEqual(f.out, "\r\u{1B}[Kepoch 1/2: writing page")
        f.t += 50
        f.bar.update(epoch: 2, epochs: 2, step: 1, steps: 10, images: 1, losses: pix2pix)
        XCTAssertEqual(f.bar.rate, 1, accuracy: 1e-6)
        f.out = ""
        f.bar.status("saving checkpoint")
        f.bar.finish()
        // An open line is redrawn without the status and ended.
        XCTAssertTrue(f.out.hasSuffix("\n") && !f.out.components(separatedBy: "\r\u{1B}[K").last!.contains("saving"), f.out)
        f.out = ""
        f.bar.finish()
        XCTAssertEqual(f.out, "")
    }

    func testNonTerminalPrintsWholeLinesAndNoStatus() {
        var out = ""
        var t = 0.0
        let bar = ProgressBar(totalSteps: 4, tty: false, columns: 40, clock: { t }, write: { out += $0 })
        for k in 1...4 { t += 1; bar.update(epoch: 1, epochs: 1, step: k, steps: 4, images: 1, losses: longLosses) }
        bar.status("writing page")
        bar.finish()
        let lines = out.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)  // the first step and the end of the epoch (10 s apart otherwise)
        for l in lines { XCTAssertLessThanOrEqual(l.count, 40) }
        XCTAssertFalse(out.contains("\r") || out.contains("writing"))
    }

    // MARK: - Pages

    func testCurvesPerStepAndSmoothing() throws {
        let history = (1...6).map { LossRecord(epoch: 1, step: $0, lr: 2e-4, losses: ["G_L1": Float(10 - $0), "D_real": 0.5], seconds: 0.1) }
        let s = TrainingCurves.series(history, loss: "G_L1")
        XCTAssertEqual(s.steps, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(s.raw, [9, 8, 7, 6, 5, 4])
        XCTAssertEqual(s.marks.map(\.1), ["e1"])
        // A constant stays constant, a step up is followed gradually.
        for v in HTMLReport.smooth([3, 3, 3, 3], span: 9) { XCTAssertEqual(v, 3, accuracy: 1e-12) }
        let sm = HTMLReport.smooth([0, 0, 0, 10, 10, 10, 10, 10, 10, 10], span: 4)
        XCTAssertEqual(sm[2], 0)
        XCTAssertTrue(sm[3] > 0 && sm[3] < sm[4] && sm[9] < 10 && sm[9] > 9, "\(sm)")
        // A one-epoch run: a real curve of 6 points, not one.
        let svg = HTMLReport.lossChart(title: "G_L1", xs: s.steps, raw: s.raw, smoothed: s.smoothed, marks: s.marks)
        let polys = svg.components(separatedBy: "points=\"").dropFirst().map { $0.prefix { $0 != "\"" }.split(separator: " ").count }
        XCTAssertEqual(polys, [6, 6], svg)
        XCTAssertTrue(svg.contains(">step<"))
        // Long runs: at most ~600 points per series.
        let n = 5000
        let big = HTMLReport.lossChart(title: "x", xs: (0..<n).map(Double.init), raw: (0..<n).map { sin(Double($0)) },
                                       smoothed: HTMLReport.smooth((0..<n).map { sin(Double($0)) }, span: 100))
        XCTAssertLessThan(big.count, 60_000)
        XCTAssertEqual(HTMLReport.ticks(0, 1), [0, 0.25, 0.5, 0.75, 1])
        XCTAssertEqual(HTMLReport.ticks(0, 9.3), [0, 2.5, 5, 7.5])
    }

    func testConfigurationTable() throws {
        let html = HTMLReport.configTable(json: #"{"batchSize":1,"data":{"loadSize":143,"flip":true,"mean":[0.5,0.5]},"lr":0.0002,"name":"a<b","maxItems":null,"palette":[[1,2,3],[4,5,6]],"runs":[{"b":1}]}"#)
        for row in ["<th>palette</th><td>[[1, 2, 3], [4, 5, 6]]</td>", "<th>runs[0].b</th><td>1</td>","<th>batchSize</th><td>1</td>", "<th>data.loadSize</th><td>143</td>", "<th>data.flip</th><td>true</td>",
                    "<th>data.mean</th><td>[0.5, 0.5]</td>", "<th>lr</th><td>0.0002</td>", "<th>name</th><td>a&lt;b</td>", "<th>maxItems</th><td>null</td>"] {
            XCTAssertTrue(html.contains(row), row)
        }
    }

    /// Super-resolution LR consistency with some exact samples (infinite PSNR): the report
    /// gives the mean of the finite values and the count of exact ones, not "inf".
    func testLRConsistencyCountsExactSamples() throws {
        let repo = fixturesURL.deletingLastPathComponent().deletingLastPathComponent()
        let ev = Evaluator(lpips: try LPIPS.load(repo.appendingPathComponent("models/lpips_alexnet/model.safetensors")))
        var a = ItemResult(name: "a"), b = ItemResult(name: "b")
        a.lrConsistency = [60, .infinity]
        b.lrConsistency = [62]
        let thumb = try makeImage(width: 4, height: 4, seed: 1)
        ev.adopt([(a, thumb), (b, thumb)])
        let report = EvalReport(evaluator: ev, whole: SetResult(), names: ["a", "b"], describe: [], deterministic: false, failed: [], seconds: 0)
        let c = try XCTUnwrap(report.lrConsistency)
        XCTAssertEqual(c.meanFinite, 61)
        XCTAssertEqual(c.exact, 1)
        XCTAssertEqual(c.count, 3)
    }

    func testStdImageIsVisible() throws {
        let a = try makeImage(width: 16, height: 12, seed: 1)
        var b = a
        // A one-level difference in a corner: std 0.5/255 = 0.002 there, which the old gray
        // image (white = 0.25) drew as black.
        for p in 0..<(4 * 16) { b.pixels[p * 3] = a.pixels[p * 3] < 255 ? a.pixels[p * 3] + 1 : 254 }
        let v = try XCTUnwrap(try EvalReport.visibleStd([a, b]))
        XCTAssertEqual(v.scale, 0.5 / 255 / 3, accuracy: 1e-9)
        XCTAssertEqual(v.image.channels, 3)
        XCTAssertEqual(Array(v.image.pixels[0..<3]), [252, 255, 164])  // full colour
        XCTAssertEqual(Array(v.image.pixels[(16 * 11) * 3..<(16 * 11) * 3 + 3]), [0, 0, 4])  // unchanged: black
        XCTAssertEqual(try EvalReport.visibleStd([a, a])?.scale, 0)
        XCTAssertNil(try EvalReport.visibleStd([a]))
        XCTAssertTrue(EvalReport.stdLegend(scale: 0.00065).contains("0.00065"))
        var row = EvalReport.GridRow(name: "x")
        var saved: [String] = []
        try row.setStd(samples: [a, b], base: "items/0") { _, p in saved.append(p); return "index_files/" + p }
        XCTAssertEqual(saved, ["items/0/std.png"])
        XCTAssertEqual(row.std, "index_files/items/0/std.png")
        XCTAssertNotNil(row.stdScale)
    }

    /// A one-epoch run of 3 steps: curves with 3 points per loss, the configuration as
    /// rows, no doubled extensions.
    func testTrainingPage() throws {
        let root = try makeAligned(tmp.appendingPathComponent("d/train"), count: 3).deletingLastPathComponent()
        let t = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "page", epochs: 1, decay: 0), resume: false)
        t.progressEnabled = false
        try t.run()
        let html = try String(contentsOf: t.runDir.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<th>data.loadSize</th><td>36</td>"), html)
        XCTAssertTrue(html.contains("<th>model.ngf</th><td>4</td>"))
        XCTAssertFalse(html.contains(".png.png"))
        XCTAssertTrue(html.contains("images/epoch001_00_output.png"))
        let svgs = html.components(separatedBy: "<svg").dropFirst()
        XCTAssertEqual(svgs.count, 4, "one chart per loss")  // constant lr: no lr chart
        for svg in svgs {
            let pts = svg.components(separatedBy: "points=\"").dropFirst().map { $0.prefix { $0 != "\"" }.split(separator: " ").count }
            XCTAssertEqual(pts.last, 3, String(svg.prefix(300)))
        }
    }
}
