import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import Pipelines
import Evaluation
import Perceptual

/// Where `translate eval` gets its items: a model run on a dataset split, or two folders.
struct EvalSource {
    var count: Int
    /// Item i: its samples (running the generator if needed), target and input.
    var item: (Int) throws -> EvalItem
    /// Real images for the duplicate-threshold calibration and the real-set birthday test.
    var reals: () throws -> [Image]
    /// Training images for the memorisation check (0 when there are none).
    var trainCount: Int
    var train: (Int) throws -> Image
    var trainName: (Int) -> String
    var describe: [(String, String)]
    /// Whether the samples are identical by construction (no noise source).
    var deterministic: Bool
}

/// `translate eval`: fidelity (L1, MSE, PSNR, SSIM, LPIPS, optional PSNR-Y), diversity
/// (pairwise LPIPS/L1 of samples of one input, per-pixel std), best-of-k, the birthday
/// test per input and over the output set, and nearest-training-neighbour distances.
/// Writes metrics.json and index.html (SVG plots, image grids) into `output`.
public final class EvalJob {
    let source: EvalSource
    let evaluator: Evaluator
    public let output: URL
    let samplesPerInput: Int
    let shownInputs: Int
    public var quiet = false

    public struct Result {
        public var summary: String
        public var metrics: [String: Any]
        public var failed: [String]
        /// The numbers and the page's image grid, for a comparison of several models (nil
        /// on the ranks other than 0 of a sharded evaluation).
        var report: EvalReport?
        var grid: [EvalReport.GridRow]
    }

    /// Evaluates a model: `samples` outputs per input of `dataroot`'s `phase` split.
    public convenience init(modelPath: String, dataroot: String, phase: String, trainPhase: String?,
                            direction: Direction?, samples: Int, batchSize: Int, testMode: TestMode?,
                            maxInputs: Int?, loadSize: Int?, config: EvalConfig, lpipsWeights: String?,
                            output: String, shownInputs: Int = 12) throws {
        try self.init(generator: try LoadedGenerator(path: modelPath, direction: direction), dataroot: dataroot, phase: phase,
                      trainPhase: trainPhase, direction: direction, samples: samples, batchSize: batchSize, testMode: testMode,
                      maxInputs: maxInputs, loadSize: loadSize, config: config, lpipsWeights: lpipsWeights, output: output,
                      shownInputs: shownInputs)
    }

    /// Evaluates a one-pass generator (its only noise: dropout in paper test mode).
    public convenience init(generator g: BatchTranslator, dataroot: String, phase: String, trainPhase: String?,
                            direction: Direction?, samples: Int, batchSize: Int, testMode: TestMode?,
                            maxInputs: Int?, loadSize: Int?, config: EvalConfig, lpipsWeights: String?,
                            output: String, shownInputs: Int = 12) throws {
        let mode = testMode ?? g.defaultTestMode
        let root = URL(fileURLWithPath: dataroot)
        guard FileManager.default.fileExists(atPath: root.path) else { throw TranslateError.notFound(path: root.path, what: "--dataroot") }
        let deterministic = mode == .eval || !g.netG.hasDropout
        let seed = config.seed
        func resize(_ img: Image) -> Image { loadSize.map { img.resized(width: $0, height: $0, filter: .bicubic) } ?? img }
        func sample(_ x: Image, _ index: Int) throws -> [Image] { try sampleTensor(x.tensor(), index) { try Image(tensor: $0, index: $1) } }
        /// `samples` outputs for the network input `t`, each made an image by `image(batch, k)`.
        func sampleTensor(_ t: Tensor, _ index: Int, _ image: (Tensor, Int) throws -> Image) throws -> [Image] {
            if deterministic {
                let out = try image(try g.netG.translate(t, mode: mode), 0)
                return Array(repeating: out, count: samples)
            }
            // Dropout masks from (seed, input index): the same whatever ran before.
            g.netG.reseedDropout(seed &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15)
            var out: [Image] = []
            while out.count < samples {
                let b = min(batchSize, samples - out.count)
                let y = try g.netG.translate(try stack(Array(repeating: t, count: b)), mode: mode)
                for k in 0..<b { out.append(try image(y, k)) }
            }
            return out
        }
        var describe: [(String, String)] = [("model", g.url.path), ("model kind", g.method.rawValue),
            ("test-time mode", mode == .paper ? "paper (dropout on, per-image batch statistics)" : "eval (running statistics, no dropout)"),
            ("noise source", deterministic ? "none: the generator is deterministic in this mode, so its samples are identical by construction" : "dropout masks (seeded per input)")]
        var src: EvalSource
        if g.unpaired {
            let dir = direction ?? .aToB
            let (inDom, outDom): (ImageDataset.Domain, ImageDataset.Domain) = dir == .aToB ? (.a, .b) : (.b, .a)
            var o = DataOptions(mode: .unaligned, direction: .aToB, preprocess: .none, flip: false, inputNc: 3, outputNc: 3)
            o.phase = phase
            o.maxItems = nil
            let test = try ImageDataset(roots: [root], options: o)
            var trainSet: ImageDataset?
            if let tp = trainPhase {
                var ot = o; ot.phase = tp
                trainSet = try? ImageDataset(roots: [root], options: ot)
                if trainSet == nil { stderrLine("note: no \(tp)A/ and \(tp)B/ in \(root.path): no memorisation check") }
            }
            func img(_ ds: ImageDataset, _ d: ImageDataset.Domain, _ i: Int) throws -> Image {
                resize(try Image(tensor: try ds.load(d, i).input))
            }
            let n = min(test.count(inDom), maxInputs ?? Int.max)
            src = EvalSource(
                count: n,
                item: { i in
                    let x = try img(test, inDom, i)
                    return EvalItem(name: test.relativePath(inDom, i), input: x, samples: try sample(x, i))
                },
                reals: { try (0..<test.count(outDom)).map { try img(test, outDom, $0) } },
                trainCount: trainSet?.count(outDom) ?? 0,
                train: { try img(trainSet!, outDom, $0) },
                trainName: { trainSet?.relativePath(outDom, $0) ?? "" },
                describe: [], deterministic: deterministic)
            describe += [("inputs", "\(phase)\(inDom.rawValue)/ (\(n) images), \(dir.rawValue)"),
                         ("real images", "\(phase)\(outDom.rawValue)/ (unpaired: no fidelity scores)")]
            if let t = trainSet { describe.append(("training images", "\(t.options.phase)\(outDom.rawValue)/ (\(t.count(outDom)))")) }
        } else {
            // The task's held-out split, read as apply reads it (decoded size, or --load-size).
            let task = g.data.taskDefinition
            if loadSize != nil, let why = task.fixedSizeReason(model: g.data) { throw TranslateError.invalidFlag(flag: "--load-size", reason: why) }
            let dir = try resolvedDirection(direction, trained: g.data.direction)
            func dataset(_ p: String) throws -> (ImageDataset, DatasetLayout) {
                let (o, layout) = try task.heldOut(root: root, phase: p, model: g.data, mode: .auto, direction: dir, maxItems: nil)
                return (try ImageDataset(roots: layout.folders, options: o), layout)
            }
            let (test, testLayout) = try dataset(phase)
            var trainSet: ImageDataset?
            if let tp = trainPhase {
                // The training split is optional: without one there is no memorisation check.
                if let (t, l) = try? dataset(tp), l.folders != testLayout.folders { trainSet = t } else {
                    stderrLine("note: no \(tp) split in \(root.path): no memorisation check")
                }
            }
            func item(_ ds: ImageDataset, _ i: Int) throws -> Sample {
                var s = try ds.load(i)
                if let ls = loadSize {
                    s.input = try Image(tensor: s.input).resized(width: ls, height: ls, filter: .bicubic).tensor()
                    s.target = try s.target.map { try Image(tensor: $0).resized(width: ls, height: ls, filter: .bicubic).tensor() }
                }
                return s
            }
            func target(_ s: Sample) throws -> Image { try g.data.displayImage(s.target!, isInput: false, lightness: s.input) }
            let n = min(test.count, maxInputs ?? Int.max)
            src = EvalSource(
                count: n,
                item: { i in
                    let s = try item(test, i)
                    let outs = try sampleTensor(s.input, i) { y, k in
                        try task.outputImage(y, index: k, input: s.input, width: y.shape[3], height: y.shape[2], model: g.data)
                    }
                    return EvalItem(name: test.relativePath(i), input: try g.data.displayImage(s.input, isInput: true), target: try target(s), samples: outs)
                },
                reals: { try (0..<n).map { try target(try item(test, $0)) } },
                trainCount: trainSet?.count ?? 0,
                train: { try target(try item(trainSet!, $0)) },
                trainName: { trainSet?.relativePath($0) ?? "" },
                describe: [], deterministic: deterministic)
            describe += [("split", "\(testLayout) (\(n) \(task.items)\(g.data.task == .translation ? ", \(dir.rawValue)" : ""))")]
            if let t = trainSet { describe.append(("training images", "\(t.count) targets of \(trainPhase!)")) }
        }
        describe.append(("samples per input", "\(samples)"))
        src.describe = describe
        try self.init(source: src, config: config, lpipsWeights: lpipsWeights, output: output, samples: samples, shownInputs: shownInputs)
    }

    /// Compares two folders: every target has one prediction with the same relative name
    /// (any image extension) or several samples named `<name>_s<k>` or `<name>/<anything>`.
    public convenience init(predictions: String, targets: String, train: String?, config: EvalConfig,
                            lpipsWeights: String?, output: String, shownInputs: Int = 12) throws {
        func listing(_ dir: String, _ flag: String) throws -> ImageDataset {
            let u = URL(fileURLWithPath: dir)
            guard FileManager.default.fileExists(atPath: u.path) else { throw TranslateError.notFound(path: u.path, what: flag) }
            return try ImageDataset(roots: [u], options: DataOptions(mode: .single, preprocess: .none, flip: false))
        }
        let pred = try listing(predictions, "--pred"), tgt = try listing(targets, "--target")
        for s in pred.skipped + tgt.skipped { stderrLine("warning: skipping \(s): \(ImageDataset.whySkipped(s))") }
        func stem(_ rel: String) -> String { (rel as NSString).deletingPathExtension }
        var keys: [String] = [], index: [String: Int] = [:]
        for i in 0..<tgt.count { let k = stem(tgt.relativePath(i)); index[k] = i; keys.append(k) }
        var groups: [String: [(Int, Int)]] = [:]  // key -> (sample number, pred index)
        var unmatched: [String] = []
        let sampleName = try NSRegularExpression(pattern: "^(.*)_s(\\d+)$")
        for i in 0..<pred.count {
            let p = stem(pred.relativePath(i))
            if index[p] != nil { groups[p, default: []].append((-1, i)); continue }
            let ns = p as NSString
            if let m = sampleName.firstMatch(in: p, range: NSRange(location: 0, length: ns.length)),
               index[ns.substring(with: m.range(at: 1))] != nil {
                groups[ns.substring(with: m.range(at: 1)), default: []].append((Int(ns.substring(with: m.range(at: 2))) ?? 0, i))
                continue
            }
            let parent = (p as NSString).deletingLastPathComponent
            if index[parent] != nil { groups[parent, default: []].append((0, i)); continue }
            unmatched.append(pred.sourcePath(i))
        }
        if !unmatched.isEmpty { stderrLine("warning: \(unmatched.count) prediction(s) match no target (first: \(unmatched[0]))") }
        let matched = keys.filter { groups[$0] != nil }
        guard !matched.isEmpty else {
            throw TranslateError.invalidFlag(flag: "--pred", reason: "no file in \(predictions) matches a file of --target \(targets) by relative name (or <name>_s<k>, <name>/...)")
        }
        for k in keys where groups[k] == nil { stderrLine("warning: no prediction for target \(tgt.sourcePath(index[k]!))") }
        func read(_ path: String) throws -> Image { try ImageFile.read(URL(fileURLWithPath: path)).image }
        func matchChannels(_ a: Image, _ c: Int) -> Image { a.channels == c ? a : a.converted(toChannels: 3) }
        var trainSet: ImageDataset?
        if let t = train { trainSet = try listing(t, "--train") }
        let sizes = matched.map { groups[$0]!.count }
        let src = EvalSource(
            count: matched.count,
            item: { i in
                let k = matched[i]
                let t = try read(tgt.sourcePath(index[k]!))
                var samples = try groups[k]!.sorted { ($0.0, pred.relativePath($0.1)) < ($1.0, pred.relativePath($1.1)) }.map { try read(pred.sourcePath($0.1)) }
                let c = samples.allSatisfy({ $0.channels == t.channels }) ? t.channels : 3
                samples = samples.map { matchChannels($0, c) }
                return EvalItem(name: k, target: matchChannels(t, c), samples: samples)
            },
            reals: { try matched.map { try read(tgt.sourcePath(index[$0]!)) } },
            trainCount: trainSet?.count ?? 0,
            train: { try read(trainSet!.sourcePath($0)) },
            trainName: { trainSet?.relativePath($0) ?? "" },
            describe: [("predictions", predictions), ("targets", "\(targets) (\(matched.count) matched of \(keys.count))"),
                       ("samples per input", sizes.min() == sizes.max() ? "\(sizes[0])" : "\(sizes.min()!)-\(sizes.max()!)")]
                + (train.map { [("training images", "\($0) (\(trainSet!.count))")] } ?? []),
            deterministic: false)
        try self.init(source: src, config: config, lpipsWeights: lpipsWeights, output: output,
                      samples: sizes.max() ?? 1, shownInputs: shownInputs)
    }

    init(source: EvalSource, config: EvalConfig, lpipsWeights: String?, output: String, samples: Int, shownInputs: Int) throws {
        self.source = source
        let net: LPIPS
        do { net = try LPIPS.shipped(path: lpipsWeights, version: config.lpipsVersion) } catch {
            throw TranslateError.badModel(path: lpipsWeights ?? "models/lpips_alexnet/model.safetensors", reason: "\(error)")
        }
        evaluator = Evaluator(lpips: net, config: config)
        self.output = URL(fileURLWithPath: output)
        samplesPerInput = samples
        self.shownInputs = shownInputs
    }

    public func run() throws -> Result {
        let t0 = Date()
        let fm = FileManager.default
        // Under mpirun every rank evaluates its share of the inputs (positions r, r + N, ...);
        // rank 0 gathers the measurements and the shown images in input order, then does the
        // set-wide part (birthday test across outputs, nearest training neighbours) and
        // writes everything, so the report equals a single process's.
        let comm = Distribution.current
        let root = comm.isRoot
        let assets = output.appendingPathComponent("index_files")
        if root { try fm.createDirectory(at: assets, withIntermediateDirectories: true) }
        func write(_ files: [EvalShard.File]) throws {
            for f in files {
                let u = assets.appendingPathComponent(f.path)
                try fm.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
                try ImageFile.write(f.image.image, to: u)
            }
        }
        let reals = try source.reals()
        if !quiet && root { stderrLine("calibrating the duplicate threshold on \(reals.count) real image(s)") }
        try evaluator.calibrate(reals: reals)
        var mine = EvalShard()
        let bar = ProgressBar(totalSteps: source.count)
        bar.label = "eval"
        bar.enabled = !quiet && root
        let positions = Distribution.workPositions(count: source.count, rank: comm.rank, size: comm.size)
        for (done, i) in positions.enumerated() {
            let item: EvalItem
            let r: ItemResult
            do {
                item = try source.item(i)
                r = try evaluator.measure(item, index: i)
            } catch {
                if comm.size == 1 { stderrLine("error: \(error)") }
                mine.items.append(.init(index: i, failed: "\(error)"))
                continue
            }
            var entry = EvalShard.Item(index: i, name: item.name, result: r, thumbnail: evaluator.thumbnail(item.samples[0]))
            if i < shownInputs {
                // The grid row of this input; its images travel to rank 0 with the numbers.
                var files: [EvalShard.File] = []
                func save(_ img: Image, _ rel: String) -> String {
                    files.append(EvalShard.File(path: rel, image: .init(img)))
                    return "index_files/" + rel
                }
                let base = "items/\(i)"
                var row = EvalReport.GridRow(name: item.name)
                row.input = item.input.map { save($0, base + "/input.png") }
                row.target = item.target.map { save($0, base + "/target.png") }
                let shown = source.deterministic ? 1 : min(item.samples.count, 6)
                for k in 0..<shown { row.samples.append(save(item.samples[k], base + "/sample\(k).png")) }
                try row.setStd(samples: item.samples, base: base, save: save)
                if let c = r.closest {
                    row.closest = (save(item.samples[c.i], base + "/closest_a.png"), save(item.samples[c.j], base + "/closest_b.png"), c.distance, c.i, c.j)
                }
                row.scores = r.lpips.first.map { String(format: "LPIPS %.3f, PSNR %@", $0, EvalReport.db(r.psnr[0])) }
                entry.row = EvalShard.Row(row)
                entry.files = files
            }
            mine.items.append(entry)
            bar.update(epoch: 1, epochs: 1, step: min(source.count, (done + 1) * comm.size), steps: source.count, images: item.samples.count * comm.size,
                       losses: r.pairLPIPS.map { [("pairLPIPS", Float($0))] } ?? [])
        }
        let gathered = comm.size > 1 ? try comm.allGather(mine) : [mine]
        guard root else {
            return Result(summary: "", metrics: [:], failed: mine.items.compactMap(\.failed), report: nil, grid: [])
        }
        let all = gathered.flatMap(\.items).sorted { $0.index < $1.index }
        var failed: [String] = []
        var grid: [EvalReport.GridRow] = []
        var names: [String] = []
        for e in all {
            if let f = e.failed {
                if comm.size > 1 { stderrLine("error: \(f)") }
                failed.append(f)
                continue
            }
            evaluator.adopt([(try e.result!.itemResult(), try e.thumbnail!.image)])
            names.append(e.name)
            if let row = e.row {
                try write(e.files)
                grid.append(row.gridRow)
            }
        }
        guard !evaluator.items.isEmpty else {
            throw TranslateError.io(path: failed.first ?? output.path, reason: "no input could be evaluated")
        }
        func save(_ img: Image, _ rel: String) throws -> String {
            try write([EvalShard.File(path: rel, image: .init(img))])
            return "index_files/" + rel
        }
        if !quiet && source.trainCount > 0 { stderrLine("nearest training neighbours: \(source.trainCount) training image(s)") }
        let set = try evaluator.finish(trainCount: source.trainCount, train: source.train)
        // Images of the closest pairs across the set and of the nearest training neighbours.
        var pairs: [EvalReport.Pair] = []
        for (n, p) in set.closestOutputs.prefix(3).enumerated() {
            pairs.append(EvalReport.Pair(kind: "outputs", a: try save(evaluator.firstOutputs[p.i], "pairs/out\(n)a.png"),
                                         b: try save(evaluator.firstOutputs[p.j], "pairs/out\(n)b.png"),
                                         label: "\(names[p.i]) vs \(names[p.j])", distance: p.distance))
        }
        let nnSorted = set.nnOutputs.enumerated().filter { $0.element.train >= 0 }.sorted { $0.element.distance < $1.element.distance }
        for (n, e) in nnSorted.prefix(4).enumerated() {
            pairs.append(EvalReport.Pair(kind: "train", a: try save(evaluator.firstOutputs[e.offset], "pairs/nn\(n)a.png"),
                                         b: try save(evaluator.thumbnail(try source.train(e.element.train)), "pairs/nn\(n)b.png"),
                                         label: "\(names[e.offset]) vs training \(source.trainName(e.element.train))", distance: e.element.distance))
        }
        let report = EvalReport(evaluator: evaluator, whole: set, names: names, describe: source.describe,
                                deterministic: source.deterministic, failed: failed, seconds: Date().timeIntervalSince(t0))
        let metrics = report.metrics()
        let json = try JSONSerialization.data(withJSONObject: metrics, options: [.prettyPrinted, .sortedKeys])
        try writeAtomically(json, to: output.appendingPathComponent("metrics.json"))
        try writeText(report.html(grid: grid, pairs: pairs), to: output.appendingPathComponent("index.html"))
        return Result(summary: report.summaryTable() + "\nwrote \(output.appendingPathComponent("metrics.json").path); open \(output.appendingPathComponent("index.html").path)",
                      metrics: metrics, failed: failed, report: report, grid: grid)
    }
}
