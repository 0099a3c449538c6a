import Foundation
import NN
import Datasets
import Tensors
import Pipelines
import Pages
import Evaluation

/// `translate eval --model A --model B ...`: every model evaluated on the same inputs with
/// the same protocol (split, samples per input, seed, LPIPS version, duplicate threshold
/// calibrated on the same real images), each into `<output>/<label>/` with its own report,
/// then one side-by-side report in `<output>`: a table, overlaid curves (best-of-k, birthday
/// test) and a grid with the same inputs in every model's column.
final class EvalComparison {
    struct Entry {
        let label: String
        let translator: Translator
    }

    let models: [Entry]
    let output: URL
    let makeJob: (Translator, String) throws -> EvalJob
    var quiet = false
    /// Samples of each model shown per input in the grid.
    var shownSamples = 3

    init(models: [Entry], output: URL, makeJob: @escaping (Translator, String) throws -> EvalJob) {
        self.models = models
        self.output = output
        self.makeJob = makeJob
    }

    /// What must agree between models compared on one dataset: that they read the same
    /// inputs and targets from it. Paired or not, super-resolution scale, output channels,
    /// the side of the pairs used as input, and colorization (whose input is made from the
    /// target) apart from the rest. A translation and a layout model (a label image read as
    /// colours or as classes) of one paired split see the same files, so they compare.
    static func taskSignature(_ t: Translator, direction: Direction?) -> String {
        var parts = [t.unpaired ? "unpaired domains" : "paired images"]
        if t.task == .colorization { parts.append("colorization") }
        if let s = (t as? CodeSampler)?.superResolutionScale { parts.append("x\(s) super-resolution") }
        parts.append("\(t.data.outputNc)-channel outputs")
        if !t.unpaired && t.task != .colorization { parts.append("direction \((direction ?? t.data.direction).rawValue)") }
        return parts.joined(separator: ", ")
    }

    /// Opens the models of `--model`, refusing a file given twice and models of different tasks.
    static func open(_ paths: [String], direction: Direction?) throws -> [Entry] {
        var seen: [String: String] = [:]
        var entries: [Entry] = []
        var labels = Set<String>()
        for path in paths {
            let url = try ModelFile.resolve(path).standardizedFileURL.resolvingSymlinksInPath()
            if let first = seen[url.path] {
                throw TranslateError.invalidFlag(flag: "--model", reason: "\(path) is the same model file as \(first) (\(url.path)): give each model once")
            }
            seen[url.path] = path
            let t = try ModelFile.open(url).translator(direction: direction)
            if let e = entries.first {
                let a = taskSignature(e.translator, direction: direction), b = taskSignature(t, direction: direction)
                guard a == b else {
                    throw TranslateError.invalidFlag(flag: "--model", reason: "\(path) was trained for \(b), but \(e.translator.url.path) for \(a): models compared on one dataset must share their task")
                }
            }
            // A label from the file (a run folder's name for model.safetensors / latest.safetensors), unique.
            let stem = url.deletingPathExtension().lastPathComponent
            var base = ["model", "latest"].contains(stem) ? url.deletingLastPathComponent().lastPathComponent : stem
            base = String(base.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "_" })
            if base.isEmpty || base.hasPrefix(".") { base = "model" + base }
            var label = base, n = 2
            while labels.contains(label) || label == "index_files" { label = "\(base)-\(n)"; n += 1 }
            labels.insert(label)
            entries.append(Entry(label: label, translator: t))
        }
        return entries
    }

    struct Result {
        var summary: String
        var failed: [String]
        var metrics: [String: Any]
    }

    func run() throws -> Result {
        let t0 = Date()
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        var results: [(Entry, EvalJob.Result)] = []
        for (i, m) in models.enumerated() {
            if !quiet && Distribution.current.isRoot { stderrLine("model \(i + 1) of \(models.count): \(m.label) (\(m.translator.method.title), \(m.translator.url.path))") }
            let job = try makeJob(m.translator, output.appendingPathComponent(m.label).path)
            results.append((m, try job.run()))
        }
        // A sharded evaluation: the other ranks measured their share; rank 0 reports.
        guard Distribution.current.isRoot else { return Result(summary: "", failed: [], metrics: [:]) }
        let reports = results.map { $0.1.report! }
        let inputs = reports.map { Set($0.names) }
        let common = inputs.dropFirst().reduce(inputs[0]) { $0.intersection($1) }
        var notes: [String] = []
        for (e, r) in results where Set(r.report!.names) != common {
            notes.append("\(e.label) evaluated \(r.report!.names.count) inputs, \(common.count) in common with every model (the others failed)")
        }
        if Set(reports.map(\.evaluator.threshold)).count > 1 {
            notes.append("the duplicate thresholds differ: each is calibrated on the real images at that model's output size, so the models' outputs differ in size; compare models trained at one size for one protocol")
        }
        let table = comparisonRows(reports)
        let summary = textTable(header: ["metric"] + models.map(\.label), rows: table)
            + (notes.isEmpty ? "" : "\n" + notes.map { "note: " + $0 }.joined(separator: "\n"))
        var metrics: [String: Any] = ["lpips": reports[0].metrics()["lpips"] ?? NSNull(), "inputs": common.count,
                                      "seconds": Date().timeIntervalSince(t0)]
        metrics["models"] = Dictionary(uniqueKeysWithValues: results.map { e, r in
            (e.label, ["path": e.translator.url.path, "method": e.translator.method.rawValue, "report": "\(e.label)/index.html",
                       "metrics": r.metrics] as [String: Any])
        })
        metrics["order"] = models.map(\.label)
        let json = try JSONSerialization.data(withJSONObject: metrics, options: [.prettyPrinted, .sortedKeys])
        try writeAtomically(json, to: output.appendingPathComponent("metrics.json"))
        try writeText(html(results: results, rows: table, notes: notes, seconds: Date().timeIntervalSince(t0)),
                      to: output.appendingPathComponent("index.html"))
        let failed = results.flatMap { e, r in r.failed.map { "\(e.label): \($0)" } }
        return Result(summary: summary + "\nwrote \(output.appendingPathComponent("metrics.json").path); open \(output.appendingPathComponent("index.html").path)",
                      failed: failed, metrics: metrics)
    }

    // MARK: - The table

    /// Rows of (metric, one value per model).
    func comparisonRows(_ reports: [EvalReport]) -> [(String, [String])] {
        typealias R = EvalReport
        var rows: [(String, [String])] = []
        func row(_ name: String, _ value: (EvalReport) -> String) { rows.append((name, reports.map(value))) }
        rows.append(("method", models.map { $0.translator.method.title }))
        rows.append(("noise source", zip(models, reports).map { m, r in r.deterministic ? "none (deterministic)" : m.translator.noise.rawValue }))
        row("inputs") { "\($0.items.count)" }
        if reports.contains(where: \.hasTargets) {
            row("L1 (0-1)") { R.f($0.mean(\.l1)) }
            row("PSNR (dB)") { R.f($0.mean(\.psnr), 2) }
            row("SSIM") { R.f($0.mean(\.ssim)) }
            row("LPIPS") { R.f($0.mean(\.lpips)) }
            // k = 1, 5, 10, 20 and the largest k (the curves on the page have every k).
            let ks = Set(reports.flatMap { $0.ks })
            let shown = Set([1, 5, 10, 20].filter { ks.contains($0) } + [ks.max() ?? 1]).sorted()
            for k in shown {
                row("best-of-\(k) LPIPS") { r in R.f(r.bestOfK(\.lpips, lower: true).first { $0.k == k }?.value, 4) }
            }
            for k in shown {
                row("best-of-\(k) PSNR (dB)") { r in R.f(r.bestOfK(\.psnr, lower: false).first { $0.k == k }?.value, 2) }
            }
        }
        row("pairwise LPIPS (diversity)") { R.f($0.meanOpt(\.pairLPIPS)) }
        row("pairwise L1 (diversity)") { R.f($0.meanOpt(\.pairL1)) }
        row("per-pixel std (0-1)") { R.f($0.meanOpt(\.stdMean)) }
        if reports.contains(where: { $0.config.srScale != nil }) { row("high-frequency std (0-1, SR)") { R.f($0.meanOpt(\.hfStdMean)) } }
        row("duplicate threshold (LPIPS)") { String(format: "%.4f", $0.evaluator.threshold) }
        row("birthday per input: duplicate at s=2") { r in
            let cs = r.collisionSizes
            return cs.isEmpty ? "n/a" : "\(cs.filter { $0 == 2 }.count) of \(cs.count) inputs"
        }
        row("birthday per input: median collision size") { r in
            let c = r.collisionSizes.compactMap { $0 }
            let none = r.collisionSizes.filter { $0 == nil }.count
            return (c.isEmpty ? "none" : R.f(SampleStatistics.median(c.map(Double.init)), 1)) + (none > 0 ? " (\(none) without)" : "")
        }
        row("birthday across outputs: collision size") { r in
            r.whole.acrossOutputs.map { c in c.collisionSize.map { "\($0) (support ~ \($0 * $0))" } ?? "> \(c.sizes.last ?? 0)" } ?? "n/a"
        }
        row("birthday across real images: collision size") { r in
            r.whole.acrossReals.map { c in c.collisionSize.map { "\($0) (support ~ \($0 * $0))" } ?? "> \(c.sizes.last ?? 0)" } ?? "n/a"
        }
        if reports.contains(where: { $0.whole.trainCount > 0 }) {
            row("nearest training neighbour (median LPIPS)") { r in
                r.whole.trainCount > 0 ? "\(R.f(r.nnOutMedian)) (held-out real \(R.f(r.nnRealMedian)))" : "n/a"
            }
        }
        row("time (s)") { String(format: "%.0f", $0.seconds) }
        return rows
    }

    func textTable(header: [String], rows: [(String, [String])]) -> String {
        let all = [header] + rows.map { [$0.0] + $0.1 }
        let widths = (0..<header.count).map { c in all.map { $0[c].count }.max() ?? 0 }
        return all.map { r in
            r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    // MARK: - The page

    func html(results: [(Entry, EvalJob.Result)], rows: [(String, [String])], notes: [String], seconds: Double) -> String {
        let esc = HTMLReport.escape, labels = results.map { $0.0.label }
        var body = "<h2>Side by side</h2><div class=\"wide\"><table><tr><th>metric</th>"
            + labels.map { "<th><a href=\"\(HTMLReport.url($0 + "/index.html"))\">\(esc($0))</a></th>" }.joined() + "</tr>"
        for (name, values) in rows {
            body += "<tr><th>\(esc(name))</th>" + values.map { "<td>\(esc($0))</td>" }.joined() + "</tr>"
        }
        body += "</table></div>"
        if !notes.isEmpty { body += "<p class=\"meta\">" + notes.map(esc).joined(separator: "<br>") + "</p>" }
        let reports = results.map { $0.1.report! }
        var charts: [String] = []
        if reports.contains(where: \.hasTargets) {
            let bl = zip(labels, reports).map { l, r in (l, r.bestOfK(\.lpips, lower: true).map { (Double($0.k), $0.value) }) }
            let bp = zip(labels, reports).map { l, r in (l, r.bestOfK(\.psnr, lower: false).map { (Double($0.k), $0.value) }) }
            if bl.contains(where: { $0.1.count > 1 }) {
                charts.append(HTMLReport.lineChart(title: "best-of-k LPIPS (lower is better)", xLabel: "k samples", series: bl))
                charts.append(HTMLReport.lineChart(title: "best-of-k PSNR (dB)", xLabel: "k samples", series: bp))
            }
        }
        func curve(_ c: BirthdayTest.Curve?) -> [(Double, Double)]? { c.map { zip($0.sizes, $0.fractions).map { (Double($0.0), $0.1) } } }
        let perInput = zip(labels, reports).compactMap { l, r in curve(r.perInputCurve).map { (l, $0) } }
        if !perInput.isEmpty {
            charts.append(HTMLReport.lineChart(title: "birthday test per input: batches with a duplicate", xLabel: "batch size s",
                                               series: perInput, logX: true, yRange: 0...1))
        }
        var across = zip(labels, reports).compactMap { l, r in curve(r.whole.acrossOutputs).map { (l, $0) } }
        if let real = curve(reports[0].whole.acrossReals) { across.append(("real images", real)) }
        if !across.isEmpty {
            charts.append(HTMLReport.lineChart(title: "birthday test across outputs of different inputs", xLabel: "batch size s",
                                               series: across, logX: true, yRange: 0...1))
        }
        let within = zip(labels, reports).map { l, r in (l, r.items.flatMap(\.withinDistances).map(Double.init)) }.filter { !$0.1.isEmpty }
        if !within.isEmpty {
            charts.append(HTMLReport.histogram(title: "LPIPS between samples of one input", xLabel: "LPIPS", series: within,
                                               marker: ("threshold", Double(reports[0].evaluator.threshold))))
        }
        if !charts.isEmpty { body += "<h2>Plots</h2><div class=\"curves\">" + charts.joined() + "</div>" }
        body += grid(results)
        var meta: [(String, String)] = [("LPIPS", "v\(reports[0].config.lpipsVersion.rawValue) AlexNet")]
        meta += reports[0].describe.filter { ["split", "inputs", "samples per input", "training images"].contains($0.0) }
        for (e, _) in results { meta.append((e.label, "\(e.translator.method.title): \(e.translator.url.path)")) }
        meta.append(("time", String(format: "%.1f s", seconds)))
        return HTMLReport.page(title: "translate eval: \(labels.count) models", meta: meta, body: body)
    }

    /// The same inputs in every model's column: input, target, then the first samples of each model.
    func grid(_ results: [(Entry, EvalJob.Result)]) -> String {
        let first = results[0].1.grid
        let byName = results.map { e, r in (e.label, Dictionary(r.grid.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })) }
        let rows = first.filter { row in byName.allSatisfy { $0.1[row.name] != nil } }
        guard !rows.isEmpty else { return "" }
        let showTarget = rows.contains { $0.target != nil }
        let side = max(64, min(128, 1000 / max(2 + results.count * shownSamples, 1)))
        func img(_ p: String?) -> String {
            p.map { "<a href=\"\(HTMLReport.url($0))\"><img src=\"\(HTMLReport.url($0))\" loading=\"lazy\" style=\"max-width:\(side)px\"></a>" } ?? ""
        }
        let base0 = results[0].0.label + "/"
        var t = "<table><tr><th>input</th><th>input image</th>" + (showTarget ? "<th>target</th>" : "")
            + byName.map { "<th>\(HTMLReport.escape($0.0))</th>" }.joined() + "</tr>"
        for r in rows {
            t += "<tr><td>\(HTMLReport.escape(r.name))</td><td>\(img(r.input.map { base0 + $0 }))</td>"
            if showTarget { t += "<td>\(img(r.target.map { base0 + $0 }))</td>" }
            for (label, g) in byName {
                let row = g[r.name]!
                t += "<td style=\"white-space:nowrap\">" + row.samples.prefix(shownSamples).map { img(label + "/" + $0) }.joined()
                    + "<br><span class=\"meta\">\(HTMLReport.escape(row.scores ?? ""))</span></td>"
            }
            t += "</tr>\n"
        }
        return "<h2>Samples</h2><p class=\"meta\">The first \(shownSamples) samples of each model for the same inputs; each model's own page shows more.</p><div class=\"wide\">" + t + "</table></div>"
    }
}
