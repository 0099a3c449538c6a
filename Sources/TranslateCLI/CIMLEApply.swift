import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import Pipelines
import Pages
import Evaluation

/// A model file or run folder: the .safetensors file it means.
func resolveModelURL(_ path: String) throws -> URL {
    let url = URL(fileURLWithPath: path)
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
        throw TranslateError.notFound(path: url.path, what: "--model")
    }
    guard isDir.boolValue else { return url }
    let candidates = ["model.safetensors", "latest.safetensors"].map { url.appendingPathComponent($0) }
    guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
        throw TranslateError.notFound(path: url.path, what: "model.safetensors or latest.safetensors in --model folder")
    }
    return found
}

/// A cIMLE generator loaded from a checkpoint or exported model, ready to sample.
public final class LoadedCIMLE {
    public let url: URL
    public let options: CIMLETrainOptions
    public let cimle: CIMLE
    public let metadata: [String: String]

    public convenience init(path: String) throws {
        try self.init(file: try ModelFile.open(try resolveModelURL(path)))
    }

    public init(file m: ModelFile) throws {
        try m.require(.cimle, for: "this cIMLE command")
        url = m.url
        metadata = m.metadata
        let file = m.file
        let o = try m.options(CIMLETrainOptions.self)
        options = o
        var rng = RNG(seed: 0)
        do { cimle = try CIMLE(config: o.model, lpips: nil, rng: &rng) } catch {
            throw TranslateError.badModel(path: url.path, reason: "\(error)")
        }
        do { try cimle.netG.loadStateDict(file.byName, prefix: "netG.", strict: false) } catch {
            throw TranslateError.badModel(path: url.path, reason: "generator weights do not fit its configuration: \(error)")
        }
    }

    var task: CIMLETask { options.model.task }

    /// apply/eval flags of the GAN models that mean nothing here: refused by name.
    static func refuseGANFlags(loadSize: Int?, direction: Direction?, testMode: TestMode?) throws {
        for (flag, given) in [("--load-size", loadSize != nil), ("--direction", direction != nil), ("--test-mode", testMode != nil)] where given {
            throw TranslateError.invalidFlag(flag: flag, reason: "does not apply to cIMLE models (super-resolution keeps the image size; layouts use the model's working size)")
        }
    }

    /// The network input for an image: the image itself (super-resolution, RGB), or the
    /// one-hot label map at the working size (layouts; `labelPath` names it in errors), and
    /// the class ids for display.
    func input(_ img: Image, labelPath: String) throws -> (x: Tensor, ids: [Int]?) {
        switch task {
        case .superResolution:
            return (img.converted(toChannels: 3).tensor(), nil)
        case .layout:
            let d = options.cimleData
            let ids = try LayoutCodec.ids(img, format: d.labelFormat, numClasses: d.numClasses, palette: d.palette, path: labelPath)
            let small = try LayoutCodec.resize(ids, width: img.width, height: img.height, toWidth: d.width, toHeight: d.height)
            return (try LayoutCodec.oneHot(small, width: d.width, height: d.height, numClasses: d.numClasses), small)
        }
    }

    /// `count` samples for one input, seeded by (seed, index) so any subset is reproducible.
    func samples(_ x: Tensor, count: Int, seed: UInt64, index: Int) throws -> [Image] {
        var rng = RNG(seed: seed &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15)
        return try cimle.samples(x, count: count, rng: &rng).map { try Image(tensor: $0) }
    }

    /// Exports the generator alone with its configuration.
    public func export(to out: URL, fp16: Bool) throws {
        var meta = metadata.filter { ["config", "epoch", "steps"].contains($0.key) }
        meta["kind"] = Method.cimle.kindField(generatorOnly: true)
        try SafeTensors.write(cimle.netG.stateDict(prefix: "netG."), metadata: meta, to: out, dtype: fp16 ? .f16 : .f32)
    }
}

/// `translate apply --model CIMLE --samples K`: K outputs per input file, named
/// `<name>_s<k>.png`, and a page with the input (and bicubic upscaling for super-resolution)
/// beside the samples.
public final class CIMLEApplyJob {
    let model: LoadedCIMLE
    let dataset: ImageDataset
    let output: URL
    let count: Int
    let seed: UInt64
    public var quiet = false

    public init(model: LoadedCIMLE, inputs: [String], output: String, samples: Int, seed: UInt64) throws {
        self.model = model
        let roots = inputs.map { URL(fileURLWithPath: $0) }
        for r in roots where !FileManager.default.fileExists(atPath: r.path) { throw TranslateError.notFound(path: r.path, what: "--input") }
        // Labels are read as stored (1 channel for ids); low-resolution images as RGB.
        let c = model.task == .layout && model.options.cimleData.labelFormat == .ids ? 1 : 3
        dataset = try ImageDataset(roots: roots, options: DataOptions(mode: .single, preprocess: .none, flip: false, inputNc: c, outputNc: c))
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

    public func run() throws -> (written: Int, failed: [String], summary: String) {
        let t0 = Date()
        let fm = FileManager.default
        try fm.createDirectory(at: output, withIntermediateDirectories: true)
        for s in dataset.skipped { stderrLine("warning: skipping \(s): not an image file") }
        var failed: [String] = [], rows: [(String, [String?])] = []
        let assets = output.appendingPathComponent("index_files")
        for i in 0..<dataset.count {
            do {
                let path = dataset.sourcePath(i)
                let img = try ImageFile.read(URL(fileURLWithPath: path)).image
                let (x, ids) = try model.input(img, labelPath: path)
                let outs = try model.samples(x, count: count, seed: seed, index: i)
                var cells: [String?] = []
                let shown = assets.appendingPathComponent(stem(i) + "_input.png")
                try fm.createDirectory(at: shown.deletingLastPathComponent(), withIntermediateDirectories: true)
                if let ids {
                    let d = model.options.cimleData
                    try ImageFile.write(try LayoutCodec.colorize(ids, width: d.width, height: d.height, palette: d.palette, numClasses: d.numClasses), to: shown)
                    cells.append("index_files/" + stem(i) + "_input.png")
                } else {
                    try ImageFile.write(img, to: shown)
                    let bic = assets.appendingPathComponent(stem(i) + "_bicubic.png")
                    try ImageFile.write(img.converted(toChannels: 3).resized(width: outs[0].width, height: outs[0].height, filter: .bicubic), to: bic)
                    cells += ["index_files/" + stem(i) + "_input.png", "index_files/" + stem(i) + "_bicubic.png"]
                }
                for (k, var o) in outs.enumerated() {
                    // Layouts are generated at the model's working size; outputs come back at the input's.
                    if ids != nil && (o.width != img.width || o.height != img.height) {
                        o = o.resized(width: img.width, height: img.height, filter: .bicubic)
                    }
                    let u = sampleURL(i, k)
                    try fm.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try ImageFile.write(o, to: u)
                    cells.append(stem(i) + String(format: "_s%02d.png", k))
                }
                rows.append((dataset.relativePath(i), cells))
                if !quiet { stderrLine("\(i + 1)/\(dataset.count) \(dataset.relativePath(i)): \(count) sample(s)") }
            } catch {
                stderrLine("error: \(error)")
                failed.append(dataset.sourcePath(i))
            }
        }
        let headers = (model.task == .layout ? ["layout"] : ["input", "bicubic"]) + (0..<count).map { "sample \($0)" }
        let meta: [(String, String)] = [("model", model.url.path), ("task", model.task == .layout ? "layout to image" : "x\(model.options.model.scale) super-resolution"),
                                        ("samples per input", "\(count) (seed \(seed))"), ("inputs", "\(rows.count)")]
        try writeText(HTMLReport.page(title: "translate apply (cIMLE)", meta: meta, body: HTMLReport.imageTable(headers: headers, rows: rows)),
                      to: output.appendingPathComponent("index.html"))
        let summary = "wrote \(count) sample(s) for each of \(rows.count) input(s) in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s into \(output.path); open \(output.appendingPathComponent("index.html").path)"
        return (rows.count, failed, summary)
    }
}

extension EvalJob {
    /// Evaluates a cIMLE model: super-resolution on a folder of high-resolution images
    /// (cropped to a multiple of the scale, inputs made by bicubic downscaling), layouts on a
    /// labelled split (as in training).
    public convenience init(cimle m: LoadedCIMLE, dataroot: String, phase: String, trainPhase: String?, samples: Int,
                     maxInputs: Int?, config: EvalConfig, lpipsWeights: String?, output: String, shownInputs: Int) throws {
        var config = config
        let root = URL(fileURLWithPath: dataroot)
        guard FileManager.default.fileExists(atPath: root.path) else { throw TranslateError.notFound(path: root.path, what: "--dataroot") }
        let seed = config.seed
        var describe: [(String, String)] = [("model", m.url.path), ("model kind", "cimle (\(m.task.rawValue))"), ("noise source", "latent codes")]
        let src: EvalSource
        switch m.task {
        case .superResolution:
            let s = m.options.model.scale
            config.srScale = s
            let split = root.appendingPathComponent(phase)
            let dir = FileManager.default.fileExists(atPath: split.path) ? split : root
            let ds = try ImageDataset(roots: [dir], options: DataOptions(mode: .single, preprocess: .none, flip: false))
            let n = min(ds.count, maxInputs ?? Int.max)
            func pair(_ i: Int) throws -> (lr: Image, hr: Image) {
                let img = try Image(tensor: try ds.load(i).input)
                let w = img.width / s * s, h = img.height / s * s
                let hr = try img.cropped(x: 0, y: 0, width: w, height: h)
                return (hr.resized(width: w / s, height: h / s, filter: .bicubic), hr)
            }
            src = EvalSource(count: n, item: { i in
                let (lr, hr) = try pair(i)
                let outs = try m.samples(lr.tensor(), count: samples, seed: seed, index: i)
                return EvalItem(name: ds.relativePath(i), input: lr, target: hr, samples: outs, lowRes: lr)
            }, reals: { try (0..<n).map { try pair($0).hr } }, trainCount: 0, train: { _ in throw TranslateError.invalidFlag(flag: "--train-phase", reason: "none") },
            trainName: { _ in "" }, describe: [], deterministic: false)
            describe.append(("images", "\(dir.path) (\(n)), high resolution cropped to multiples of \(s), inputs by bicubic downscaling"))
        case .layout:
            let d = m.options.cimleData
            func dataset(_ p: String) throws -> ImageDataset? {
                let dir = root.appendingPathComponent(p)
                guard FileManager.default.fileExists(atPath: dir.path) else { return nil }
                var o = m.options.data
                o.maxItems = nil
                return try ImageDataset(roots: [dir], options: o)
            }
            guard let test = try dataset(phase) else { throw TranslateError.notFound(path: root.appendingPathComponent(phase).path, what: "--phase \(phase) split") }
            let train = try trainPhase.flatMap { try dataset($0) }
            let n = min(test.count, maxInputs ?? Int.max)
            func pair(_ ds: ImageDataset, _ i: Int) throws -> (ids: [Int], photo: Image) { try CIMLEModel.layoutPair(try ds.load(i), d) }
            src = EvalSource(count: n, item: { i in
                let (ids, photo) = try pair(test, i)
                let outs = try m.samples(try LayoutCodec.oneHot(ids, width: d.width, height: d.height, numClasses: d.numClasses), count: samples, seed: seed, index: i)
                let shown = try LayoutCodec.colorize(ids, width: d.width, height: d.height, palette: d.palette, numClasses: d.numClasses)
                return EvalItem(name: test.relativePath(i), input: shown, target: photo, samples: outs)
            }, reals: { try (0..<n).map { try pair(test, $0).photo } }, trainCount: train?.count ?? 0,
            train: { try pair(train!, $0).photo }, trainName: { train?.relativePath($0) ?? "" }, describe: [], deterministic: false)
            describe.append(("split", "\(root.appendingPathComponent(phase).path) (\(n) layouts at \(d.width)x\(d.height))"))
            if let t = train { describe.append(("training images", "\(t.count) photos of \(trainPhase!)/")) }
        }
        describe.append(("samples per input", "\(samples)"))
        var s2 = src
        s2.describe = describe
        try self.init(source: s2, config: config, lpipsWeights: lpipsWeights, output: output, samples: samples, shownInputs: shownInputs)
    }
}
