import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import Pipelines
import Pages
import Evaluation

/// apply/eval flags of the one-pass GAN models that mean nothing to a code sampler: refused by name.
func refuseGANFlags(_ model: Translator, loadSize: Int?, direction: Direction?, testMode: TestMode?) throws {
    for (flag, given) in [("--load-size", loadSize != nil), ("--direction", direction != nil), ("--test-mode", testMode != nil)] where given {
        throw TranslateError.invalidFlag(flag: flag, reason: "does not apply to \(model.method.title), which samples latent codes (super-resolution keeps the image size; the other tasks use the model's working size)")
    }
}

/// `translate apply --model M --samples K` for a code sampler: K outputs per input file, named
/// `<name>_s<k>.png`, and a page with the input (and bicubic upscaling for super-resolution)
/// beside the samples.
public final class SampleApplyJob {
    let model: CodeSampler
    let dataset: ImageDataset
    let output: URL
    let count: Int
    let seed: UInt64
    public var quiet = false

    public init(model: CodeSampler, inputs: [String], output: String, samples: Int, seed: UInt64) throws {
        self.model = model
        let roots = inputs.map { URL(fileURLWithPath: $0) }
        for r in roots where !FileManager.default.fileExists(atPath: r.path) { throw TranslateError.notFound(path: r.path, what: "--input") }
        // Inputs are listed as the task reads them (labels as stored); each is decoded in `run`.
        dataset = try ImageDataset(roots: roots, options: model.fileOptions)
        self.output = URL(fileURLWithPath: output)
        count = samples
        self.seed = seed
        let inputPaths = Set((0..<dataset.count).map { resolvedPath(URL(fileURLWithPath: dataset.sourcePath($0))) })
        // Samples are named by the input's name without its extension: x.jpg and x.png would collide.
        var stems: [String: Int] = [:]
        for i in 0..<dataset.count {
            if let j = stems.updateValue(i, forKey: stem(i)) {
                throw TranslateError.invalidFlag(flag: "--input", reason: "\(dataset.sourcePath(j)) and \(dataset.sourcePath(i)) would both be written as \(stem(i))_s00.png; rename one or translate them separately")
            }
        }
        for i in 0..<dataset.count {
            let dst = resolvedPath(sampleURL(i, 0))
            if inputPaths.contains(dst) { throw TranslateError.invalidFlag(flag: "--output", reason: "\(output) would overwrite the input \(dst)") }
        }
    }

    func stem(_ i: Int) -> String { (dataset.relativePath(i) as NSString).deletingPathExtension }
    func sampleURL(_ i: Int, _ k: Int) -> URL { output.appendingPathComponent(stem(i) + String(format: "_s%02d.png", k)) }

    /// Under mpirun rank r samples inputs r, r + N, ... (an input's codes depend on the seed and
    /// its index, so the files are those of one process) and rank 0 writes the one page.
    public func run() throws -> (written: Int, failed: [String], summary: String) {
        let t0 = Date()
        let fm = FileManager.default
        let comm = Distribution.current
        try fm.createDirectory(at: output, withIntermediateDirectories: true)
        if comm.isRoot { for s in dataset.skipped { stderrLine("warning: skipping \(s): \(ImageDataset.whySkipped(s))") } }
        var failed: [String] = [], rows: [(String, [String?])] = []
        var rowItems: [Int] = [], failedItems: [Int] = []
        var extraHeaders: [String] = []
        let assets = output.appendingPathComponent("index_files")
        for i in Distribution.workPositions(count: dataset.count, rank: comm.rank, size: comm.size) {
            let started = Date()
            do {
                let path = dataset.sourcePath(i)
                let img = try ImageFile.read(URL(fileURLWithPath: path)).image
                let (shown, extra, outs) = try model.samples(for: img, path: path, count: count, seed: seed, index: i)
                extraHeaders = extra.map(\.0)
                var cells: [String?] = []
                for (name, image) in [("input", shown)] + extra {
                    let u = assets.appendingPathComponent(stem(i) + "_\(name).png")
                    try fm.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try ImageFile.write(image, to: u)
                    cells.append("index_files/" + stem(i) + "_\(name).png")
                }
                for (k, o) in outs.enumerated() {
                    let u = sampleURL(i, k)
                    try fm.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try ImageFile.write(o, to: u)
                    cells.append(stem(i) + String(format: "_s%02d.png", k))
                }
                rows.append((dataset.relativePath(i), cells))
                rowItems.append(i)
                if !quiet {
                    var u = rusage()
                    getrusage(RUSAGE_SELF.rawValue, &u)
                    stderrLine(String(format: "%d/%d %@: %d sample(s) of %dx%d, %.1f s, peak memory %.2f GB", i + 1, dataset.count, dataset.relativePath(i),
                                      count, outs[0].width, outs[0].height, Date().timeIntervalSince(started), Double(u.ru_maxrss) / 1_048_576))
                }
            } catch {
                stderrLine("error: \(error)")
                failed.append(dataset.sourcePath(i))
                failedItems.append(i)
            }
        }
        if comm.size > 1 {
            let part = ApplyShard(rows: rows.map { ApplyShard.Row(name: $0.0, cells: $0.1) }, rowItems: rowItems, scores: [],
                                  failed: failed, failedItems: failedItems, headers: extraHeaders)
            let parts = try comm.allGather(part)
            // Rank 0 reports every rank's failures (and exits non-zero for them).
            guard comm.isRoot else { return (rows.count, [], "") }
            let merged = ApplyShard.merge(parts)
            rows = merged.rows.map { ($0.name, $0.cells) }
            failed = merged.failed
            extraHeaders = parts.compactMap(\.headers).max { $0.count < $1.count } ?? []
        }
        let headers = [model.data.taskDefinition.inputName] + extraHeaders + (0..<count).map { model.columnName($0) }
        let meta: [(String, String)] = [("model", model.url.path), ("generator", model.summary),
                                        ("samples per input", "\(count) (seed \(seed))"), ("inputs", "\(rows.count)")]
        try writeText(HTMLReport.page(title: "translate apply (\(model.method.rawValue))", meta: meta, body: HTMLReport.imageTable(headers: headers, rows: rows)),
                      to: output.appendingPathComponent("index.html"))
        let summary = "wrote \(count) sample(s) for each of \(rows.count) input(s) in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s into \(output.path); open \(output.appendingPathComponent("index.html").path)"
        return (rows.count, failed, summary)
    }
}

extension EvalJob {
    /// Evaluates a cIMLE model: super-resolution on a folder of high-resolution images
    /// (cropped to a multiple of the scale, inputs made by bicubic downscaling), layouts on a
    /// labelled split (as in training), paired translation and colorization on a split of
    /// pairs or colour photos (as apply translates them).
    public convenience init(sampler m: CodeSampler, dataroot: String, phase: String, trainPhase: String?, samples: Int,
                     maxInputs: Int?, config: EvalConfig, lpipsWeights: String?, output: String, shownInputs: Int) throws {
        var config = config
        let root = URL(fileURLWithPath: dataroot)
        guard FileManager.default.fileExists(atPath: root.path) else { throw TranslateError.notFound(path: root.path, what: "--dataroot") }
        let seed = config.seed
        var describe: [(String, String)] = [("model", m.url.path), ("generator", m.summary), ("noise source", "latent codes")]
        let src: EvalSource
        // Super-resolution makes its inputs from the images; the other tasks read their data.
        switch m.superResolutionScale == nil ? m.task : nil {
        case nil:
            let s = m.superResolutionScale!
            config.srScale = s
            let split = root.appendingPathComponent(phase)
            let dir = FileManager.default.fileExists(atPath: split.path) ? split : root
            let ds = try ImageDataset(roots: [dir], options: DataOptions(mode: .single, preprocess: .none, flip: false))
            let n = min(ds.count, maxInputs ?? Int.max)
            func pair(_ i: Int) throws -> (lr: Image, hr: Image) {
                let p = try SuperResolution.evaluationPair(try Image(tensor: try ds.load(i).input), scale: s)
                return (p.lowRes, p.highRes)
            }
            src = EvalSource(count: n, item: { i in
                let (lr, hr) = try pair(i)
                let outs = try m.sampleTensors(lr.tensor(), count: samples, seed: seed, index: i).map { try Image(tensor: $0) }
                return EvalItem(name: ds.relativePath(i), input: lr, target: hr, samples: outs, lowRes: lr)
            }, reals: { try (0..<n).map { try pair($0).hr } }, trainCount: 0, train: { _ in throw TranslateError.invalidFlag(flag: "--train-phase", reason: "none") },
            trainName: { _ in "" }, describe: [], deterministic: false)
            describe.append(("images", "\(dir.path) (\(n)), high resolution cropped to multiples of \(s), inputs by bicubic downscaling"))
        case let task?:
            // The task's held-out split, read as apply reads it; samples at the input's size.
            let def = task.definition
            func dataset(_ p: String) throws -> (ImageDataset, DatasetLayout) {
                let (o, layout) = try def.heldOut(root: root, phase: p, model: m.data, mode: m.data.mode, direction: m.data.direction, maxItems: nil)
                return (try ImageDataset(roots: layout.folders, options: o), layout)
            }
            func target(_ ds: ImageDataset, _ i: Int) throws -> Image {
                let s = try ds.load(i)
                return try m.data.displayImage(s.target!, isInput: false, lightness: s.input)
            }
            let (test, testLayout) = try dataset(phase)
            var train: ImageDataset?
            if let tp = trainPhase, let (t, l) = try? dataset(tp), l.folders != testLayout.folders { train = t }
            let n = min(test.count, maxInputs ?? Int.max)
            src = EvalSource(count: n, item: { i in
                let s = try test.load(i)
                let (h, w) = (s.input.shape[2], s.input.shape[3])
                let outs = try m.sampleImages(s.input, width: w, height: h, count: samples, seed: seed, index: i)
                return EvalItem(name: test.relativePath(i), input: try m.data.displayImage(s.input, isInput: true),
                                target: try m.data.displayImage(s.target!, isInput: false, lightness: s.input), samples: outs)
            }, reals: { try (0..<n).map { try target(test, $0) } }, trainCount: train?.count ?? 0,
            train: { try target(train!, $0) }, trainName: { train?.relativePath($0) ?? "" }, describe: [], deterministic: false)
            let size = def.workingSize(m.data)
            describe.append(("split", "\(testLayout) (\(n) \(def.items), generated at \(size.width)x\(size.height) and made the size of each input)"))
            if let t = train { describe.append(("training images", "\(t.count) of \(trainPhase!)")) }
        }
        describe.append(("samples per input", "\(samples)"))
        var s2 = src
        s2.describe = describe
        try self.init(source: s2, config: config, lpipsWeights: lpipsWeights, output: output, samples: samples, shownInputs: shownInputs)
    }
}
