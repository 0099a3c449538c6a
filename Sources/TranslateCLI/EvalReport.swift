import Foundation
import Pipelines
import Pages
import ImageIO
import Evaluation
import Perceptual

/// The numbers, the summary table, metrics.json and the HTML page of `translate eval`.
struct EvalReport {
    let evaluator: Evaluator
    let whole: SetResult
    let names: [String]
    let describe: [(String, String)]
    let deterministic: Bool
    let failed: [String]
    let seconds: Double

    struct GridRow {
        var name: String
        var input: String?, target: String?
        var samples: [String] = []
        var std: String?
        /// The standard deviation (0-1 scale) shown at full colour in `std` (nil: the old
        /// gray image, white = 0.25).
        var stdScale: Double?
        var closest: (String, String, Float, Int, Int)?
        var scores: String?
        init(name: String) { self.name = name }

        /// Saves the visible per-pixel standard deviation of `samples` (two or more) as
        /// `<base>/std.png` and records its scale.
        mutating func setStd(samples: [Image], base: String, save: (Image, String) throws -> String) throws {
            guard let v = try EvalReport.visibleStd(samples) else { return }
            std = try save(v.image, base + "/std.png")
            stdScale = v.scale
        }
    }

    // MARK: - The standard-deviation image

    /// Colour stops (inferno-like: black, purple, orange, yellow) for 0...1.
    static let stdColors: [(Double, (Double, Double, Double))] = [
        (0, (0, 0, 4)), (0.25, (87, 16, 110)), (0.5, (188, 55, 84)), (0.75, (249, 142, 9)), (1, (252, 255, 164)),
    ]

    static func stdColor(_ v: Double) -> (UInt8, UInt8, UInt8) {
        let x = min(max(v.isFinite ? v : 0, 0), 1)
        let k = min(stdColors.count - 2, Int(x * Double(stdColors.count - 1)))
        let (a, ca) = stdColors[k], (b, cb) = stdColors[k + 1]
        let t = (x - a) / (b - a)
        func mix(_ p: Double, _ q: Double) -> UInt8 { UInt8((p + (q - p) * t).rounded()) }
        return (mix(ca.0, cb.0), mix(ca.1, cb.1), mix(ca.2, cb.2))
    }

    /// The per-pixel standard deviation across same-size samples (mean over channels, 0-1
    /// scale), coloured so that it is visible however small: the 99.5th percentile of the
    /// image (`scale`) is drawn at full colour (yellow), 0 black. nil for fewer than two
    /// samples; identical samples give a black image with scale 0.
    static func visibleStd(_ samples: [Image]) throws -> (image: Image, scale: Double)? {
        guard samples.count >= 2, let first = samples.first else { return nil }
        for s in samples where s.width != first.width || s.height != first.height || s.channels != first.channels {
            throw TranslateError.io(path: "std", reason: "samples of different sizes (\(s.width)x\(s.height) vs \(first.width)x\(first.height))")
        }
        let n = first.width * first.height, C = first.channels, k = Double(samples.count)
        var sd = [Double](repeating: 0, count: n)
        for p in 0..<n {
            var acc = 0.0
            for c in 0..<C {
                var s1 = 0.0, s2 = 0.0
                for img in samples { s1 += Double(img.pixels[p * C + c]) }
                let m = s1 / k
                for img in samples { let d = Double(img.pixels[p * C + c]) - m; s2 += d * d }
                acc += (s2 / k).squareRoot() / 255
            }
            sd[p] = acc / Double(C)
        }
        let sorted = sd.sorted()
        let scale = sorted[min(n - 1, Int(Double(n - 1) * 0.995))] > 0 ? sorted[min(n - 1, Int(Double(n - 1) * 0.995))] : (sorted.last ?? 0)
        var px = [UInt8](repeating: 0, count: n * 3)
        for p in 0..<n {
            let (r, g, b) = stdColor(scale > 0 ? sd[p] / scale : 0)
            px[p * 3] = r; px[p * 3 + 1] = g; px[p * 3 + 2] = b
        }
        return (try Image(width: first.width, height: first.height, channels: 3, pixels: px), scale)
    }

    /// A small horizontal colour bar: 0 ... `scale` (std on the 0-1 scale).
    static func stdLegend(scale: Double, width: Int = 150) -> String {
        HTMLReport.colorBar(stops: stdColors.map { ($0.0, String(format: "rgb(%.0f,%.0f,%.0f)", $0.1.0, $0.1.1, $0.1.2)) },
                            low: "0", high: scale > 0 ? String(format: "%.3g", scale) : "0 (identical)", width: width)
    }

    struct Pair { var kind: String, a: String, b: String, label: String, distance: Float }

    static func db(_ v: Double) -> String { v.isInfinite ? "inf (identical)" : String(format: "%.2f dB", v) }
    static func f(_ v: Double?, _ digits: Int = 4) -> String {
        guard let v else { return "n/a" }
        if v.isInfinite { return "inf" }
        return v.isNaN ? "n/a" : String(format: "%.\(digits)f", v)
    }
    /// A JSON value: numbers, "inf" for infinities, null for missing or NaN.
    static func json(_ v: Double?) -> Any {
        guard let v, !v.isNaN else { return NSNull() }
        return v.isInfinite ? (v > 0 ? "inf" : "-inf") : v
    }

    var items: [ItemResult] { evaluator.items }
    var config: EvalConfig { evaluator.config }
    /// How the duplicate threshold was calibrated (report and metrics.json).
    var calibrationText: String {
        let q = "duplicate = LPIPS below the \(Int(config.thresholdQuantile * 100))th percentile of real image vs "
        let copy = "(1-px shift, 2% brightness, noise 2/255)"
        let tail = "; an automated stand-in for the human judgement of Arora et al."
        if let sc = config.srScale {
            return q + "a near-copy at x\(sc) super-resolution scale (per input): its own bicubic low band, which the low-resolution input fixes for every sample, with the detail of a near-copy \(copy); across inputs, a near-copy of the whole image" + tail
        }
        return q + "a near-copy of itself \(copy)" + tail
    }
    var hasTargets: Bool { items.contains { !$0.l1.isEmpty } }

    /// Mean over every sample of every input (nil when nothing was measured).
    func mean(_ key: KeyPath<ItemResult, [Double]>) -> Double? {
        let v = items.flatMap { $0[keyPath: key] }
        return v.isEmpty ? nil : SampleStatistics.mean(v)
    }
    /// LR consistency over all samples: the mean of the finite PSNRs and how many samples
    /// are exact (infinite PSNR: the downscale equals the input), so that a few exact samples
    /// do not turn the mean into infinity.
    var lrConsistency: (meanFinite: Double?, exact: Int, count: Int)? {
        let v = items.flatMap(\.lrConsistency)
        guard !v.isEmpty else { return nil }
        let finite = v.filter(\.isFinite)
        return (finite.isEmpty ? nil : SampleStatistics.mean(finite), v.count - finite.count, v.count)
    }
    func meanOpt(_ key: KeyPath<ItemResult, Double?>) -> Double? {
        let v = items.compactMap { $0[keyPath: key] }
        return v.isEmpty ? nil : SampleStatistics.mean(v)
    }
    var ks: [Int] { config.ks.filter { k in items.contains { $0.l1.count >= k } } }
    func bestOfK(_ key: KeyPath<ItemResult, [Double]>, lower: Bool) -> [(k: Int, value: Double)] {
        SampleStatistics.bestOfK(items.map { $0[keyPath: key] }.filter { !$0.isEmpty }, ks: ks, lowerIsBetter: lower)
    }
    var perInputCurve: BirthdayTest.Curve? { BirthdayTest.average(items.compactMap(\.birthday)) }
    var collisionSizes: [Int?] { items.compactMap(\.birthday).map(\.collisionSize) }
    var nnOutMedian: Double? { whole.nnOutputs.isEmpty ? nil : SampleStatistics.median(whole.nnOutputs.map { Double($0.distance) }) }
    var nnRealMedian: Double? { whole.nnReals.isEmpty ? nil : SampleStatistics.median(whole.nnReals.map { Double($0.distance) }) }

    func curveJSON(_ c: BirthdayTest.Curve?) -> Any {
        guard let c else { return NSNull() }
        return ["sizes": c.sizes, "duplicate_fraction": c.fractions,
                "collision_size": c.collisionSize.map { $0 as Any } ?? NSNull(),
                "support_estimate": c.supportEstimate.map { $0 as Any } ?? NSNull()] as [String: Any]
    }

    func metrics() -> [String: Any] {
        var m: [String: Any] = ["inputs": items.count, "samples_per_input": items.map { max($0.l1.count, 1) }.max() ?? 0,
                                "deterministic_generator": deterministic, "failed": failed,
                                "seconds": seconds, "lpips": "LPIPS v\(evaluator.config.lpipsVersion.rawValue) AlexNet (models/lpips_alexnet)"]
        m["setup"] = Dictionary(describe.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        if hasTargets {
            var fid: [String: Any] = ["l1": Self.json(mean(\.l1)), "mse": Self.json(mean(\.mse)), "psnr": Self.json(mean(\.psnr)),
                                      "ssim": Self.json(mean(\.ssim)), "lpips": Self.json(mean(\.lpips)),
                                      "note": "means over every sample of every input; L1 and MSE on the 0-1 scale; PSNR peak 255"]
            if config.srScale != nil {
                fid["psnr_y"] = Self.json(mean(\.psnrY)); fid["psnr_y_border"] = config.srScale!
                fid["bicubic_psnr_y"] = Self.json(meanOpt(\.bicubicPSNRY))
            }
            if let c = lrConsistency {
                fid["lr_consistency_psnr"] = Self.json(c.meanFinite ?? .infinity)
                fid["lr_consistency_exact_samples"] = c.exact
            }
            m["fidelity"] = fid
            var best: [String: Any] = [:]
            for (name, key, lower) in [("l1", \ItemResult.l1, true), ("psnr", \ItemResult.psnr, false), ("lpips", \ItemResult.lpips, true)] {
                best[name] = Dictionary(bestOfK(key, lower: lower).map { ("\($0.k)", Self.json($0.value)) }, uniquingKeysWith: { a, _ in a })
            }
            if config.srScale != nil {
                best["psnr_y"] = Dictionary(bestOfK(\.psnrY, lower: false).map { ("\($0.k)", Self.json($0.value)) }, uniquingKeysWith: { a, _ in a })
            }
            m["best_of_k"] = best
        }
        m["diversity"] = ["pairwise_lpips": Self.json(meanOpt(\.pairLPIPS)), "pairwise_l1": Self.json(meanOpt(\.pairL1)),
                          "pixel_std": Self.json(meanOpt(\.stdMean)),
                          "high_frequency_std": Self.json(meanOpt(\.hfStdMean)),
                          "protocol": "mean distance of consecutive samples (0-1, 1-2, ...) of the same input, averaged over inputs (BicycleGAN)"] as [String: Any]
        let cs = collisionSizes
        m["birthday"] = [
            "threshold_lpips": Double(evaluator.threshold), "threshold_lpips_set": Double(evaluator.thresholdNN),
            "calibration": calibrationText,
            "calibration_distances": ["count": evaluator.calibration.count,
                                      "median": Self.json(SampleStatistics.median(evaluator.calibration)),
                                      "median_set": Self.json(SampleStatistics.median(evaluator.calibrationNN))] as [String: Any],
            "per_input": curveJSON(perInputCurve),
            "per_input_collision_at_2": cs.filter { $0 == 2 }.count,
            "per_input_no_collision": cs.filter { $0 == nil }.count,
            "per_input_median_collision_size": Self.json(cs.compactMap { $0 }.isEmpty ? nil : SampleStatistics.median(cs.compactMap { $0 }.map(Double.init))),
            "across_outputs": curveJSON(whole.acrossOutputs),
            "across_reals": curveJSON(whole.acrossReals),
            "closest_outputs": whole.closestOutputs.map { ["a": names[$0.i], "b": names[$0.j], "lpips": Double($0.distance)] as [String: Any] },
        ] as [String: Any]
        if whole.trainCount > 0 {
            m["memorisation"] = ["training_images": whole.trainCount, "size": config.nnSize,
                                 "nn_lpips_outputs_median": Self.json(nnOutMedian), "nn_lpips_heldout_median": Self.json(nnRealMedian),
                                 "nn_lpips_outputs": whole.nnOutputs.map { Double($0.distance) },
                                 "nn_lpips_heldout": whole.nnReals.map { Double($0.distance) },
                                 "note": "LPIPS to the nearest training target at \(config.nnSize)x\(config.nnSize); outputs much closer than held-out real images suggest memorisation"] as [String: Any]
        }
        return m
    }

    func curveText(_ c: BirthdayTest.Curve?) -> String {
        guard let c else { return "n/a" }
        let pts = zip(c.sizes, c.fractions).prefix(6).map { "s=\($0.0): \(Int(($0.1 * 100).rounded()))%" }.joined(separator: ", ")
        let verdict = c.collisionSize.map { "duplicates in half the batches at s = \($0) (support ~ \($0 * $0))" }
            ?? "no size up to \(c.sizes.last ?? 0) reaches half (support > \((c.sizes.last ?? 0) * (c.sizes.last ?? 0)))"
        return "\(verdict); \(pts)"
    }

    /// The table printed at the end of a run.
    func summaryTable() -> String {
        var rows: [(String, String)] = [("inputs", "\(items.count)"), ("samples per input", "\(items.map { max($0.l1.count, $0.birthday == nil ? 1 : 2) }.max() ?? 0)")]
        if hasTargets {
            rows += [("L1 (0-1)", Self.f(mean(\.l1))), ("MSE (0-1)", Self.f(mean(\.mse), 5)), ("PSNR", Self.f(mean(\.psnr), 2) + " dB"),
                     ("SSIM", Self.f(mean(\.ssim))), ("LPIPS", Self.f(mean(\.lpips)))]
            if config.srScale != nil {
                rows.append(("PSNR-Y (border \(config.srScale!))", Self.f(mean(\.psnrY), 2) + " dB, bicubic " + Self.f(meanOpt(\.bicubicPSNRY), 2) + " dB"))
                let by = bestOfK(\.psnrY, lower: false)
                if by.count > 1 { rows.append(("best-of-k PSNR-Y", by.map { "k=\($0.k) \(Self.f($0.value, 2))" }.joined(separator: ", "))) }
            }
            if let c = lrConsistency {
                let value = c.meanFinite.map { Self.f($0, 2) + " dB" } ?? "exact"
                rows.append(("LR consistency (PSNR)", c.exact == 0 ? value : value + " (mean of the others; \(c.exact) of \(c.count) samples exact)"))
            }
            let bl = bestOfK(\.lpips, lower: true), bp = bestOfK(\.psnr, lower: false)
            if bl.count > 1 {
                rows.append(("best-of-k LPIPS", bl.map { "k=\($0.k) \(Self.f($0.value, 3))" }.joined(separator: ", ")))
                rows.append(("best-of-k PSNR", bp.map { "k=\($0.k) \(Self.f($0.value, 2))" }.joined(separator: ", ")))
            }
        }
        rows += [("pairwise LPIPS (diversity)", Self.f(meanOpt(\.pairLPIPS))), ("pairwise L1 (diversity)", Self.f(meanOpt(\.pairL1))),
                 ("per-pixel std (0-1)", Self.f(meanOpt(\.stdMean)))]
        if let sc = config.srScale { rows.append(("high-frequency std (0-1)", Self.f(meanOpt(\.hfStdMean)) + " (between samples, of each minus its x\(sc) bicubic down- and up-scaling)")) }
        rows += [("duplicate threshold", String(format: "LPIPS %.4f (per input), %.4f (set, %dpx)", evaluator.threshold, evaluator.thresholdNN, config.nnSize)),
                 ("birthday, per input", curveText(perInputCurve)),
                 ("birthday, across outputs", curveText(whole.acrossOutputs)),
                 ("birthday, across real images", curveText(whole.acrossReals))]
        if whole.trainCount > 0 {
            rows.append(("nearest training neighbour", "median LPIPS outputs \(Self.f(nnOutMedian)) vs held-out real \(Self.f(nnRealMedian))"))
        }
        if deterministic { rows.append(("note", "deterministic generator: samples identical by construction")) }
        if !failed.isEmpty { rows.append(("failed", "\(failed.count)")) }
        let w = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: w, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }

    // MARK: - Page

    func html(grid: [GridRow], pairs: [Pair]) -> String {
        var body = "<h2>Summary</h2><pre>\(HTMLReport.escape(summaryTable()))</pre>"
        var charts: [String] = []
        if hasTargets {
            let bl = bestOfK(\.lpips, lower: true), bp = bestOfK(\.psnr, lower: false), b1 = bestOfK(\.l1, lower: true)
            if bl.count > 1 {
                charts.append(HTMLReport.lineChart(title: "best-of-k LPIPS (lower is better)", xLabel: "k samples", series: [("LPIPS", bl.map { (Double($0.k), $0.value) })]))
                charts.append(HTMLReport.lineChart(title: "best-of-k PSNR (dB)", xLabel: "k samples", series: [("PSNR", bp.map { (Double($0.k), $0.value) })]))
                charts.append(HTMLReport.lineChart(title: "best-of-k L1 (0-1)", xLabel: "k samples", series: [("L1", b1.map { (Double($0.k), $0.value) })]))
            }
        }
        let curves: [(String, BirthdayTest.Curve?)] = [("per input", perInputCurve), ("across outputs", whole.acrossOutputs), ("across real images", whole.acrossReals)]
        let cs = curves.compactMap { n, c in c.map { c in (n, zip(c.sizes, c.fractions).map { (Double($0.0), $0.1) }) } }
        if !cs.isEmpty {
            charts.append(HTMLReport.lineChart(title: "birthday test: batches with a duplicate", xLabel: "batch size s", series: cs, logX: true, yRange: 0...1))
        }
        let within = items.flatMap(\.withinDistances).map(Double.init)
        if !within.isEmpty {
            charts.append(HTMLReport.histogram(title: "LPIPS between samples of one input", xLabel: "LPIPS",
                                         series: [("sample pairs", within), ("real vs near-copy", evaluator.calibration)],
                                         marker: ("threshold", Double(evaluator.threshold))))
        }
        if !whole.nnOutputs.isEmpty {
            charts.append(HTMLReport.histogram(title: "nearest training neighbour (LPIPS)", xLabel: "LPIPS",
                                         series: [("outputs", whole.nnOutputs.map { Double($0.distance) }), ("held-out real", whole.nnReals.map { Double($0.distance) })]))
        }
        body += "<h2>Plots</h2><div class=\"curves\">" + charts.joined() + "</div>"
        body += """
        <p class="meta">Birthday test (Arora, Risteski &amp; Zhang): batches of s samples are drawn at random and a batch counts \
        when it holds a pair closer than the duplicate threshold. The original asks people to judge near-duplicates; here the \
        threshold is calibrated on real images, an automated variant: \(calibrationText) If duplicates \
        appear in about half the batches at size s, the support is about s&sup2;.</p>
        """
        // Image grid.
        let maxSamples = grid.map(\.samples.count).max() ?? 0
        var t = "<table><tr><th>input</th><th>input image</th>" + (grid.contains { $0.target != nil } ? "<th>target</th>" : "")
        let scaled = grid.contains { $0.stdScale != nil }
        t += (0..<maxSamples).map { "<th>sample \($0)</th>" }.joined()
            + (scaled ? "<th>per-pixel std<br><span class=\"meta\">scaled per image: black 0, yellow = the value under it</span></th>" : "<th>per-pixel std (white = 0.25)</th>")
            + "<th>closest pair</th></tr>"
        let showTarget = grid.contains { $0.target != nil }
        // Image columns share about 1000 px so that the grid fits a laptop screen.
        let imageColumns = 2 + (showTarget ? 1 : 0) + maxSamples + 1
        let side = max(80, min(160, 1000 / max(imageColumns, 1)))
        func img(_ p: String?, _ w: Int? = nil) -> String {
            p.map { "<td><a href=\"\(HTMLReport.url($0))\"><img src=\"\(HTMLReport.url($0))\" loading=\"lazy\" style=\"max-width:\(w ?? side)px\"></a></td>" } ?? "<td></td>"
        }
        for r in grid {
            t += "<tr><td>\(HTMLReport.escape(r.name))<br><span class=\"meta\">\(HTMLReport.escape(r.scores ?? ""))</span></td>" + img(r.input)
            if showTarget { t += img(r.target) }
            t += r.samples.map { img($0) }.joined() + String(repeating: "<td></td>", count: maxSamples - r.samples.count)
            if let p = r.std, let sc = r.stdScale {
                t += "<td><a href=\"\(HTMLReport.url(p))\"><img src=\"\(HTMLReport.url(p))\" loading=\"lazy\" style=\"max-width:\(side)px\"></a><br>\(Self.stdLegend(scale: sc, width: side))</td>"
            } else { t += img(r.std) }
            if let c = r.closest {
                let half = max(48, side / 2)
                t += "<td><img src=\"\(HTMLReport.url(c.0))\" style=\"max-width:\(half)px\"><img src=\"\(HTMLReport.url(c.1))\" style=\"max-width:\(half)px\"><br>"
                t += String(format: "samples %d, %d: LPIPS %.4f%@</td>", c.3, c.4, c.2, c.2 < evaluator.threshold ? " (duplicate)" : "")
            } else { t += "<td></td>" }
            t += "</tr>\n"
        }
        body += "<h2>Samples</h2><div class=\"wide\">" + t + "</table></div>"
        if !pairs.isEmpty {
            body += "<h2>Closest pairs</h2><table><tr><th>kind</th><th>a</th><th>b</th><th>LPIPS</th></tr>"
            for p in pairs {
                let kind = p.kind == "train" ? "output vs nearest training image" : "two outputs of different inputs"
                body += "<tr><td>\(kind)<br><span class=\"meta\">\(HTMLReport.escape(p.label))</span></td>\(img(p.a))\(img(p.b))<td>\(String(format: "%.4f", p.distance))</td></tr>"
            }
            body += "</table>"
        }
        var meta = describe
        meta.append(("time", String(format: "%.1f s", seconds)))
        if !failed.isEmpty { meta.append(("failed", failed.joined(separator: "; "))) }
        return HTMLReport.page(title: "translate eval", meta: meta, body: body)
    }
}
