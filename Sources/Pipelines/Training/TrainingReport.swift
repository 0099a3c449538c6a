import Foundation
import Pages

/// The curves of a training page, from the per-step loss log.
public enum TrainingCurves {
    /// One loss against the step: the raw values, an EMA over about 1/10 of the steps (no
    /// smoothing below 20 steps, at most 200) and a mark at the last step of each epoch.
    public struct Series {
        public var steps: [Double], raw: [Double], smoothed: [Double]
        public var marks: [(Double, String)]
    }

    public static func span(count: Int) -> Double { count < 20 ? 1 : min(200, max(2, (Double(count) / 10).rounded())) }

    public static func series(_ history: [LossRecord], loss name: String) -> Series {
        let recs = history.filter { $0.losses[name] != nil }
        let raw = recs.map { Double($0.losses[name]!) }
        return Series(steps: recs.map { Double($0.step) }, raw: raw, smoothed: HTMLReport.smooth(raw, span: span(count: raw.count)),
                      marks: epochMarks(history))
    }

    /// (last step of the epoch, "e<N>") for each epoch in the log.
    public static func epochMarks(_ history: [LossRecord], unit: String = "e") -> [(Double, String)] {
        var last: [Int: Int] = [:]
        for r in history { last[r.epoch] = max(last[r.epoch] ?? 0, r.step) }
        return last.keys.sorted().map { (Double(last[$0]!), "\(unit)\($0)") }
    }

    /// The learning rate against the step (one point per epoch's first step is enough, but
    /// every step is cheap and shows the schedule's shape exactly).
    public static func learningRate(_ history: [LossRecord]) -> (steps: [Double], lr: [Double]) {
        (history.map { Double($0.step) }, history.map { Double($0.lr) })
    }

    /// The charts of every loss (raw faint, smoothed) and of the learning rate.
    public static func charts(_ history: [LossRecord], lossNames: [String], unit: String = "epoch") -> String {
        guard !history.isEmpty else { return "<p class=\"meta\">no steps yet</p>" }
        let marks = epochMarks(history, unit: unit == "round" ? "r" : "e")
        var out = ""
        for name in lossNames {
            let s = series(history, loss: name)
            out += HTMLReport.lossChart(title: name, xs: s.steps, raw: s.raw, smoothed: s.smoothed, marks: marks)
        }
        let lr = learningRate(history)
        if Set(lr.lr).count > 1 {
            out += HTMLReport.lossChart(title: "learning rate", xs: lr.steps, raw: [], smoothed: lr.lr, marks: marks)
        }
        return out
    }
}

extension GANTrainer {
    /// "round" for cIMLE (one round of code selection and training per epoch), else "epoch".
    var reportUnit: String { Model.method.epochUnit }

    /// index.html: the run's state, loss curves per step (raw faint, smoothed), the samples of
    /// every epoch (newest first; all but the newest 2 folded) and the configuration as a
    /// key | value table.
    func writeReport(epoch: Int) throws {
        let unit = reportUnit
        let Unit = unit.prefix(1).uppercased() + unit.dropFirst()
        var sections = ""
        for e in stride(from: epoch, through: 1, by: -1) {
            let rows: [(String, [String?])] = (0..<sampleCount).map { i in
                (dataset.relativePath(i), columns.map { c in
                    fixedColumns.contains(c) ? String(format: "images/sample%02d_%@.png", i, c) : String(format: "images/epoch%03d_%02d_%@.png", e, i, c)
                })
            }
            let table = HTMLReport.imageTable(headers: columns, rows: rows)
            sections += epoch - e < 2 ? "<h3>\(Unit) \(e)</h3>" + table
                : "<details><summary>\(Unit) \(e)</summary>\(table)</details>"
        }
        let last = history.last
        let stepsThisRun = history.filter { $0.epoch == epoch }.count
        let stepTime = history.suffix(50).map(\.seconds)
        var meta: [(String, String)] = [
            ("run", "\(Model.method.rawValue): \(options.name)"), ("dataroot", options.dataroot),
            (unit, "\(epoch) of \(options.totalEpochs)"),
            ("steps", "\(last?.step ?? 0) (\(stepsThisRun) in \(unit) \(epoch), batch size \(options.batchSize))"),
            ("test-time mode of the samples", options.testMode == .paper ? "paper (batch statistics, dropout on)" : "eval (running statistics, no dropout)"),
            ("learning rate", String(format: "%.3g", last?.lr ?? options.baseLR)),
        ]
        if !stepTime.isEmpty {
            let mean = stepTime.reduce(0, +) / Double(stepTime.count)
            meta.append(("time per step", String(format: "%.3f s (mean of the last %d steps), %.2f img/s", mean, stepTime.count,
                                                 mean > 0 ? Double(options.batchSize) / mean : 0)))
        }
        meta.append(("updated", ISO8601DateFormatter().string(from: Date())))
        let n = history.count
        let span = TrainingCurves.span(count: n)
        let legend = span > 1 ? String(format: "faint: every step; solid: exponential moving average over about %.0f steps", span) : "one point per step"
        let body = """
        <h2>Losses</h2><p class="legend">x: training step (dashed lines: end of each \(unit)); \(legend).</p>
        <div class="curves">\(TrainingCurves.charts(history, lossNames: model.lossNamesInUse, unit: unit))</div>
        <h2>Configuration</h2>\(HTMLReport.configTable(json: try configJSON()))
        <h2>Samples</h2>\(sections)
        """
        try writeText(HTMLReport.page(title: "\(Model.method.rawValue): \(options.name)", meta: meta, body: body), to: runDir.appendingPathComponent("index.html"))
    }
}
