import Foundation
import Evaluation
import Tensors
import NN
import ImageIO
import Datasets
import Pipelines
import Pages

/// A generator restored from a training checkpoint or an exported model file: pix2pix's G,
/// or one of CycleGAN's two (G_A for a-to-b, G_B for b-to-a).
public struct LoadedGenerator {
    public let url: URL
    public let method: Method
    public let netG: Module
    /// The checkpoint key prefix of the chosen generator (`netG.`, `netG_A.`, `netG_B.`).
    public let prefix: String
    public let inputNc: Int, outputNc: Int
    public let defaultTestMode: TestMode
    /// The data direction the model was trained with (pix2pix datasets).
    public let trainedDirection: Direction
    /// How the training pairs were stored (aligned or paired), when the file records it.
    public let trainedDataMode: DatasetMode?
    /// What the model was trained to do (colorization: L in, ab out).
    public let task: ImageTask
    public let metadata: [String: String]

    /// `path`: a .safetensors file, or a folder holding model.safetensors or latest.safetensors.
    /// `direction` picks CycleGAN's generator (default a-to-b); pix2pix models ignore it.
    public init(path: String, direction: Direction? = nil) throws {
        try self.init(file: try ModelFile.open(try resolveModelURL(path)), direction: direction)
    }

    public init(file m: ModelFile, direction: Direction? = nil) throws {
        url = m.url
        method = m.method
        metadata = m.metadata
        var rng = RNG(seed: 0)
        switch m.method {
        case .cyclegan:
            let o = try m.options(CycleGANTrainOptions.self)
            // An exported CycleGAN generator records which one it is.
            let stored = m.metadata["generator"]
            let wantB = stored.map { $0 == "netG_B" } ?? (direction == .bToA)
            if let stored, let direction, (direction == .bToA) != (stored == "netG_B") {
                throw TranslateError.invalidFlag(flag: "--direction", reason: "\(url.path) holds only \(stored) (\(stored == "netG_B" ? "b-to-a" : "a-to-b"))")
            }
            let c = o.model
            inputNc = wantB ? c.outputNc : c.inputNc
            outputNc = wantB ? c.inputNc : c.outputNc
            netG = try CycleGAN.makeGenerator(c, inputNc: inputNc, outputNc: outputNc, rng: &rng)
            prefix = wantB ? "netG_B." : "netG_A."
            defaultTestMode = o.testMode
            trainedDirection = o.data.direction
            trainedDataMode = o.data.mode
            task = o.data.task
        case .pix2pix:
            let o = try m.options(Pix2PixTrainOptions.self)
            inputNc = o.model.inputNc; outputNc = o.model.outputNc
            var spec = o.model.generator
            spec.initType = nil
            netG = try spec.make(rng: &rng)
            prefix = "netG."
            defaultTestMode = o.testMode
            trainedDirection = o.data.direction
            trainedDataMode = o.data.mode
            task = o.data.task
        case .cimle:
            throw TranslateError.badModel(path: url.path, reason: "a conditional IMLE model: this command's GAN path does not take it")
        }
        do { try netG.loadStateDict(m.file.byName, prefix: prefix, strict: false) } catch let e as ModuleError {
            throw TranslateError.badModel(path: url.path, reason: "generator weights do not fit its configuration: \(e)")
        }
    }

    /// What `export` wrote, e.g. "CycleGAN's G_B (netG_B, b-to-a)".
    public var generatorDescription: String {
        switch method {
        case .cyclegan: return prefix == "netG_B." ? "CycleGAN's G_B (netG_B, b-to-a)" : "CycleGAN's G_A (netG_A, a-to-b)"
        default: return "the \(method.rawValue) generator (netG, \(task == .colorization ? "colorization" : trainedDirection.rawValue))"
        }
    }

    /// Writes the generator alone (weights and buffers, optionally float16) with its configuration.
    public func export(to out: URL, fp16: Bool) throws {
        var meta = metadata.filter { ["config", "epoch", "steps", "test_mode"].contains($0.key) }
        meta["kind"] = method.kindField(generatorOnly: true)
        if method == .cyclegan { meta["generator"] = String(prefix.dropLast()) }
        try SafeTensors.write(netG.stateDict(prefix: prefix), metadata: meta, to: out, dtype: fp16 ? .f16 : .f32)
    }
}

/// `translate apply`: batch-wise translation of files, folders or a paired dataset, with an
/// index.html of the results and, when targets exist, L1 and PSNR.
public final class ApplyJob {
    public let generator: LoadedGenerator
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
    public init(modelPath: String, inputs: [String], dataroot: String?, datasetMode: DatasetMode = .auto, phase: String = "test",
                numTest: Int? = nil, direction: Direction?,
                output: String, batchSize: Int, testMode: TestMode?, seed: UInt64, loadSize: Int?) throws {
        generator = try LoadedGenerator(path: modelPath, direction: direction)
        let g = generator
        var data: DataOptions
        let roots: [URL]
        if g.task == .colorization && loadSize != nil {
            throw TranslateError.invalidFlag(flag: "--load-size", reason: "colorization keeps each photo's size (its L is the input)")
        }
        if g.task == .colorization {
            // Photos in, colour out: L of each input (gray or colour) is kept.
            data = DataOptions(mode: .single, preprocess: .none, flip: false, inputNc: Colorization.inputNc, outputNc: Colorization.outputNc,
                               maxItems: dataroot == nil ? nil : numTest)
            data.task = .colorization
            if let root = dataroot {
                let layout = try Colorization.layout(root: URL(fileURLWithPath: root), phase: phase)
                roots = layout.folders
                layoutLine = "\(layout)"
                scoresTargets = true
            } else {
                roots = inputs.map { URL(fileURLWithPath: $0) }
            }
        } else if let root = dataroot {
            if g.method == .cyclegan {
                throw TranslateError.invalidFlag(flag: "--dataroot", reason: "CycleGAN models translate files or folders: use --input (and --direction to pick G_A or G_B)")
            }
            let layout = try DatasetLayout.paired(root: URL(fileURLWithPath: root), phase: phase, mode: datasetMode,
                                                  cycleGANCommand: "a CycleGAN model with translate apply")
            if layout.detected, let trained = g.trainedDataMode, trained != layout.mode, [.aligned, .paired].contains(trained) {
                stderrLine("note: the model was trained on \(trained.rawValue) data; \(layout)")
            }
            data = DataOptions(mode: layout.mode, direction: try resolvedDirection(direction, trained: g.trainedDirection),
                               preprocess: .none, flip: false, inputNc: g.inputNc, outputNc: g.outputNc, maxItems: numTest)
            roots = [layout.folder]
            layoutLine = "\(layout)"
            scoresTargets = true
        } else {
            data = DataOptions(mode: .single, direction: .aToB, preprocess: .none, flip: false,
                               inputNc: g.inputNc, outputNc: g.outputNc)
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
            stderrLine("dataset: \(l): \(dataset.count) " + (data.task == .colorization ? "photos" : "pairs, \(data.direction.rawValue)"))
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

    public func run() throws -> String {
        let r = try translateAll()
        var s = "translated \(r.translated) image(s) in \(String(format: "%.1f", r.seconds)) s (\(String(format: "%.2f", Double(r.translated) / max(r.seconds, 1e-9))) img/s) into \(output.path); open \(output.appendingPathComponent("index.html").path)"
        if let l1 = r.meanL1, let p = r.meanPSNR { s += String(format: "\nmean L1 %.4f (0-1 scale), mean PSNR %.2f dB over %d pair(s)", l1, p, r.translated) }
        if !r.failed.isEmpty {
            throw TranslateError.io(path: r.failed[0], reason: "\(r.failed.count) input(s) could not be translated (first: \(r.failed[0])); \(r.translated) other(s) were written. " + s)
        }
        return s
    }

    /// Translates every item; images of equal size are batched. Unreadable inputs are
    /// reported and skipped (the others are still written); the caller turns them into a
    /// non-zero exit.
    public func translateAll() throws -> Result {
        let t0 = Date()
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        for s in dataset.skipped { stderrLine("warning: skipping \(s): not an image file") }
        var failed: [String] = []
        var rows: [(String, [String?])] = []
        var scores: [(Double, Double)] = []
        var pending: [(Int, Sample)] = []
        let hasTargets = scoresTargets
        let colour = dataset.options.task == .colorization
        let assets = output.appendingPathComponent("index_files")

        func flush() throws {
            guard !pending.isEmpty else { return }
            let batch = try stack(pending.map { $0.1.input })
            let out = try generator.netG.translate(batch, mode: testMode)
            for (k, (i, sample)) in pending.enumerated() {
                let img = colour ? try Colorization.merge(l: batch, ab: out, index: k) : try Image(tensor: out, index: k)
                let dst = outputURL(i)
                try FileManager.default.createDirectory(at: dst.deletingLastPathComponent(), withIntermediateDirectories: true)
                try ImageFile.write(img, to: dst)
                let rel = dataset.relativePath(i)
                var cells: [String?] = [nil, rel]
                if hasTargets || dataset.options.mode == .single {
                    let inURL = assets.appendingPathComponent("input").appendingPathComponent(pageImageName(rel))
                    try FileManager.default.createDirectory(at: inURL.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try ImageFile.write(try Image(tensor: sample.input), to: inURL)
                    cells[0] = "index_files/input/" + pageImageName(rel)
                }
                if hasTargets, let t = sample.target {
                    let timg = colour ? try Colorization.merge(l: sample.input, ab: t) : try Image(tensor: t)
                    let tURL = assets.appendingPathComponent("target").appendingPathComponent(pageImageName(rel))
                    try FileManager.default.createDirectory(at: tURL.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try ImageFile.write(timg, to: tURL)
                    cells.append("index_files/target/" + pageImageName(rel))
                    scores.append(Self.psnr(img, timg))
                }
                rows.append((rel, cells))
            }
            pending.removeAll()
        }

        for i in 0..<dataset.count {
            var sample: Sample
            do { sample = try dataset.load(i) } catch {
                stderrLine("error: \(error)")
                failed.append(dataset.sourcePath(i))
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
