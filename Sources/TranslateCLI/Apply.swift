import Foundation
import Evaluation
import Tensors
import NN
import ImageIO
import Datasets
import Pipelines
import Pages

/// `translate apply`: batch-wise translation of files, folders or a paired dataset, with an
/// index.html of the results and, when targets exist, L1 and PSNR.
public final class ApplyJob {
    public let generator: BatchTranslator
    public let dataset: ImageDataset
    public let output: URL
    public let batchSize: Int
    public let testMode: TestMode
    public let loadSize: Int?
    public var quiet = false
    var rng: RNG
    /// What was found at --dataroot (nil for --input).
    var layoutLine: String?
    /// Targets exist and are scored (a --dataroot).
    var scoresTargets = false

    public struct Result {
        public var translated: Int
        public var failed: [String]
        public var meanL1: Double?
        public var meanPSNR: Double?
        public var seconds: Double
    }

    /// `dataroot`: a paired dataset, read from its `phase` split (or the folder itself when it
    /// is a split), laid out as `datasetMode` says or as detected; at most `numTest` pairs.
    public convenience init(modelPath: String, inputs: [String], dataroot: String?, datasetMode: DatasetMode = .auto, phase: String = "test",
                numTest: Int? = nil, direction: Direction?,
                output: String, batchSize: Int, testMode: TestMode?, seed: UInt64, loadSize: Int?) throws {
        try self.init(generator: try LoadedGenerator(path: modelPath, direction: direction), inputs: inputs, dataroot: dataroot,
                      datasetMode: datasetMode, phase: phase, numTest: numTest, direction: direction, output: output,
                      batchSize: batchSize, testMode: testMode, seed: seed, loadSize: loadSize)
    }

    public init(generator g: BatchTranslator, inputs: [String], dataroot: String?, datasetMode: DatasetMode = .auto, phase: String = "test",
                numTest: Int? = nil, direction: Direction?,
                output: String, batchSize: Int, testMode: TestMode?, seed: UInt64, loadSize: Int?) throws {
        generator = g
        var data: DataOptions
        let roots: [URL]
        let task = g.data.taskDefinition
        if loadSize != nil, let why = task.fixedSizeReason(model: g.data) { throw TranslateError.invalidFlag(flag: "--load-size", reason: why) }
        if let root = dataroot {
            if g.unpaired {
                throw TranslateError.invalidFlag(flag: "--dataroot", reason: "CycleGAN models translate files or folders: use --input (and --direction to pick G_A or G_B)")
            }
            // A held-out split with targets, read as the task reads it at its decoded size.
            let (d, layout) = try task.heldOut(root: URL(fileURLWithPath: root), phase: phase, model: g.data, mode: datasetMode,
                                               direction: try resolvedDirection(direction, trained: g.data.direction), maxItems: numTest)
            if layout.detected, g.data.mode != layout.mode, [.aligned, .paired].contains(g.data.mode) {
                stderrLine("note: the model was trained on \(g.data.mode.rawValue) data; \(layout)")
            }
            data = d
            roots = layout.folders
            layoutLine = "\(layout)"
            scoresTargets = true
        } else {
            // Files as the task reads them (label maps as stored; colorization: their L).
            data = task.fileOptions(model: g.data, inputNc: g.inputNc)
            roots = inputs.map { URL(fileURLWithPath: $0) }
        }
        for r in roots where !FileManager.default.fileExists(atPath: r.path) {
            throw TranslateError.notFound(path: r.path, what: dataroot == nil ? "--input" : "--dataroot")
        }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDir), !isDir.boolValue {
            throw TranslateError.invalidFlag(flag: "--output", reason: "\(output) is a file; --output is the folder the results go into")
        }
        dataset = try ImageDataset(roots: roots, options: data)
        if let l = layoutLine, !quiet {
            stderrLine("dataset: \(l): \(dataset.count) \(task.items)" + (data.task == .translation ? ", \(data.direction.rawValue)" : ""))
        }
        self.output = URL(fileURLWithPath: output)
        self.batchSize = batchSize
        self.testMode = testMode ?? g.defaultTestMode
        self.loadSize = loadSize
        rng = RNG(seed: seed)
        // Never write over an input.
        let inputPaths = Set((0..<dataset.count).map { resolvedPath(URL(fileURLWithPath: dataset.sourcePath($0))) })
        for i in 0..<dataset.count where inputPaths.contains(resolvedPath(outputURL(i))) {
            throw TranslateError.invalidFlag(flag: "--output", reason: "\(output) would overwrite the input \(dataset.sourcePath(i))")
        }
    }

    func outputURL(_ i: Int) -> URL { output.appendingPathComponent(dataset.relativePath(i)) }

    /// L1 (0-1 scale) and PSNR (dB; 99 stands for identical images, to keep means finite).
    static func psnr(_ a: Image, _ b: Image) -> (l1: Double, psnr: Double) {
        guard let l1 = try? ImageMetrics.l1(a, b), let mse = try? ImageMetrics.mse(a, b) else { return (.nan, .nan) }
        return (l1, mse == 0 ? 99 : ImageMetrics.psnr(mse: mse))
    }

    /// The summary line; empty on ranks above 0 of a sharded run (rank 0 reports for all).
    public func run() throws -> String {
        let r = try translateAll()
        guard Distribution.current.isRoot else { return "" }
        var s = "translated \(r.translated) image(s) in \(String(format: "%.1f", r.seconds)) s (\(String(format: "%.2f", Double(r.translated) / max(r.seconds, 1e-9))) img/s) into \(output.path); open \(output.appendingPathComponent("index.html").path)"
        if let l1 = r.meanL1, let p = r.meanPSNR { s += String(format: "\nmean L1 %.4f (0-1 scale), mean PSNR %.2f dB over %d pair(s)", l1, p, r.translated) }
        if !r.failed.isEmpty {
            throw TranslateError.io(path: r.failed[0], reason: "\(r.failed.count) input(s) could not be translated (first: \(r.failed[0])); \(r.translated) other(s) were written. " + s)
        }
        return s
    }

    /// Translates every item; images of equal size are batched. Unreadable inputs are
    /// reported and skipped (the others are still written); the caller turns them into a
    /// non-zero exit. Under mpirun rank r translates items r, r + N, ... and writes their
    /// files; rank 0 gathers the rows, scores and failures in item order and writes the one
    /// index.html, so that the files equal a single process's.
    public func translateAll() throws -> Result {
        let t0 = Date()
        let comm = Distribution.current
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        if comm.isRoot { for s in dataset.skipped { stderrLine("warning: skipping \(s): \(ImageDataset.whySkipped(s))") } }
        var failed: [String] = []
        var rows: [(String, [String?])] = []
        var scores: [(Double, Double)] = []
        var rowItems: [Int] = [], failedItems: [Int] = []
        var pending: [(Int, Sample)] = []
        let hasTargets = scoresTargets
        let model = generator.data, task = model.taskDefinition
        // Files come out at their own size (layouts: the label map's); held-out splits and
        // --load-size at the size the network saw.
        let atOriginalSize = !hasTargets && loadSize == nil
        let assets = output.appendingPathComponent("index_files")

        func flush() throws {
            guard !pending.isEmpty else { return }
            let batch = try stack(pending.map { $0.1.input })
            let out = try generator.netG.translate(batch, mode: testMode)
            for (k, (i, sample)) in pending.enumerated() {
                let (w, h) = atOriginalSize ? (sample.originalWidth, sample.originalHeight) : (out.shape[3], out.shape[2])
                let img = try task.outputImage(out, index: k, input: batch, width: w, height: h, model: model)
                let dst = outputURL(i)
                try FileManager.default.createDirectory(at: dst.deletingLastPathComponent(), withIntermediateDirectories: true)
                try ImageFile.write(img, to: dst)
                let rel = dataset.relativePath(i)
                var cells: [String?] = [nil, rel]
                if hasTargets || dataset.options.mode == .single {
                    let inURL = assets.appendingPathComponent("input").appendingPathComponent(pageImageName(rel))
                    try FileManager.default.createDirectory(at: inURL.deletingLastPathComponent(), withIntermediateDirectories: true)
                    let shown = try model.displayImage(sample.input, isInput: true)
                    try ImageFile.write(shown, to: inURL)
                    cells[0] = "index_files/input/" + pageImageName(rel)
                }
                if hasTargets, let t = sample.target {
                    let timg = try model.displayImage(t, isInput: false, lightness: sample.input)
                    let tURL = assets.appendingPathComponent("target").appendingPathComponent(pageImageName(rel))
                    try FileManager.default.createDirectory(at: tURL.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try ImageFile.write(timg, to: tURL)
                    cells.append("index_files/target/" + pageImageName(rel))
                    scores.append(Self.psnr(img, timg))
                }
                rows.append((rel, cells))
                rowItems.append(i)
            }
            pending.removeAll()
        }

        let mine = Set(Distribution.workPositions(count: dataset.count, rank: comm.rank, size: comm.size))
        for i in 0..<dataset.count where mine.contains(i) {
            var sample: Sample
            do {
                sample = try dataset.load(i)
                if !hasTargets { sample = try task.fileInput(sample, model: model) }
            } catch {
                stderrLine("error: \(error)")
                failed.append(dataset.sourcePath(i))
                failedItems.append(i)
                continue
            }
            if !quiet { for note in dataset.conversions.drainNewLines() { stderrLine(note) } }
            if let s = loadSize {
                sample.input = try resizeTensor(sample.input, to: s)
                if let t = sample.target { sample.target = try resizeTensor(t, to: s) }
            }
            if let first = pending.first, first.1.input.shape.dropFirst() != sample.input.shape.dropFirst() { try flush() }
            pending.append((i, sample))
            if pending.count == batchSize { try flush() }
            if !quiet && (i + 1) % 50 == 0 { stderrLine("\(i + 1)/\(dataset.count)") }
        }
        try flush()
        if comm.size > 1 {
            let part = ApplyShard(rows: rows.map { ApplyShard.Row(name: $0.0, cells: $0.1) }, rowItems: rowItems,
                                  scores: scores.map { [$0.0, $0.1] }, failed: failed, failedItems: failedItems)
            let parts = try comm.allGather(part)
            guard comm.isRoot else { return Result(translated: rows.count, failed: failed, meanL1: nil, meanPSNR: nil, seconds: Date().timeIntervalSince(t0)) }
            let merged = ApplyShard.merge(parts)
            rows = merged.rows.map { ($0.name, $0.cells) }
            scores = merged.scores.map { ($0[0], $0[1]) }
            failed = merged.failed
        }
        let l1 = scores.isEmpty ? nil : scores.map(\.0).reduce(0, +) / Double(scores.count)
        let ps = scores.isEmpty ? nil : scores.map(\.1).reduce(0, +) / Double(scores.count)
        var meta: [(String, String)] = [("model", generator.url.path), ("images", "\(rows.count)"),
                                        ("test-time mode", testMode == .paper ? "paper (batch statistics of each image, dropout on)" : "eval (running statistics, no dropout)")]
        if let l1, let ps { meta += [("mean L1 (0-1)", String(format: "%.4f", l1)), ("mean PSNR", String(format: "%.2f dB", ps))] }
        if !failed.isEmpty { meta.append(("failed", failed.joined(separator: ", "))) }
        let conversions = dataset.conversions.summary
        if !conversions.isEmpty {
            meta.append(("conversions", conversions.joined(separator: "; ")))
            if !quiet { stderrLine("conversions made while reading the inputs: " + conversions.joined(separator: "; ")) }
        }
        let table = HTMLReport.imageTable(headers: hasTargets ? ["input", "output", "target"] : ["input", "output"], rows: rows)
        try writeText(HTMLReport.page(title: "translate apply", meta: meta, body: table), to: output.appendingPathComponent("index.html"))
        return Result(translated: rows.count, failed: failed, meanL1: l1, meanPSNR: ps, seconds: Date().timeIntervalSince(t0))
    }

    func resizeTensor(_ t: Tensor, to s: Int) throws -> Tensor {
        try Image(tensor: t).resized(width: s, height: s, filter: .bicubic).tensor()
    }
}

/// The direction to use on a paired model: the given one, with a warning when it contradicts
/// the training direction, or the training direction.
func resolvedDirection(_ given: Direction?, trained: Direction) throws -> Direction {
    guard let given else { return trained }
    if given != trained {
        stderrLine("warning: --direction \(given.rawValue) contradicts the model's training direction \(trained.rawValue): the \(given == .aToB ? "A" : "B") side is fed to a generator trained on the \(trained == .aToB ? "A" : "B") side")
    }
    return given
}

/// One rank's share of a sharded apply, gathered by rank 0.
struct ApplyShard: Codable {
    struct Row: Codable { var name: String; var cells: [String?] }
    var rows: [Row], rowItems: [Int]
    var scores: [[Double]]
    var failed: [String], failedItems: [Int]
    /// Column headers a rank found (code samplers' extra columns; nil for one-pass models).
    var headers: [String]? = nil

    /// All ranks' rows, scores and failures in item order (scores belong to rows when targets exist).
    static func merge(_ parts: [ApplyShard]) -> (rows: [Row], scores: [[Double]], failed: [String]) {
        let rows = parts.flatMap { p in zip(p.rowItems, p.rows.indices).map { ($0.0, p, $0.1) } }.sorted { $0.0 < $1.0 }
        let scored = parts.allSatisfy { $0.scores.count == $0.rows.count }
        let failed = parts.flatMap { zip($0.failedItems, $0.failed) }.sorted { $0.0 < $1.0 }.map(\.1)
        return (rows.map { $0.1.rows[$0.2] }, scored ? rows.map { $0.1.scores[$0.2] } : [], failed)
    }
}
