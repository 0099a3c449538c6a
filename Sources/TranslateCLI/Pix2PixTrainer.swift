import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import Pipelines

/// Everything a pix2pix training run is made of; stored in every checkpoint (`config`).
public struct Pix2PixTrainOptions: Codable, Equatable {
    public var dataroot: String
    public var phase = "train"
    public var name: String
    public var checkpointsDir = "models"
    public var model = Pix2PixConfig()
    public var data = DataOptions(mode: .aligned)
    public var batchSize = 1
    public var epochs = 100
    public var epochsDecay = 100
    public var lrPolicy = LRPolicy.linear
    public var lrDecayIters = 50
    public var seed: UInt64 = 0
    public var saveEpochFreq = 5
    public var maxItems: Int?
    public var samples = 4
    public var testMode = TestMode.paper

    public init(dataroot: String, name: String) { self.dataroot = dataroot; self.name = name }

    public var totalEpochs: Int { epochs + epochsDecay }
    public var schedule: LRSchedule {
        switch lrPolicy {
        case .linear: return .linear(nEpochs: epochs, nEpochsDecay: epochsDecay)
        case .step: return .step(stepSize: lrDecayIters, gamma: 0.1)
        case .cosine: return .cosine(tMax: totalEpochs)
        case .constant: return .constant
        }
    }
    public var runDirectory: URL { URL(fileURLWithPath: checkpointsDir).appendingPathComponent(name) }
}

public enum LRPolicy: String, CaseIterable, Codable { case linear, step, cosine, constant }

/// One line of the loss log (`loss_log.jsonl`).
public struct LossRecord: Codable, Equatable {
    public var epoch: Int, step: Int, lr: Float
    public var losses: [String: Float]
    public var seconds: Double
}

/// Trains pix2pix: data, model, schedule, progress, checkpoints (`latest.safetensors` every
/// epoch and `epoch_N.safetensors` every `saveEpochFreq`), loss log and HTML report, all in
/// `<checkpointsDir>/<name>/`. Resuming continues exactly where the last checkpoint was.
public final class Pix2PixTrainer {
    public var options: Pix2PixTrainOptions
    public let model: Pix2Pix
    public let dataset: ImageDataset
    public private(set) var startEpoch = 0
    public private(set) var history: [LossRecord] = []
    public var progressEnabled = true
    var rng: RNG

    public var runDir: URL { options.runDirectory }
    public var latestURL: URL { runDir.appendingPathComponent("latest.safetensors") }

    public init(options: Pix2PixTrainOptions, resume: Bool) throws {
        var opts = options
        let run = opts.runDirectory
        let latest = run.appendingPathComponent("latest.safetensors")
        var savedMeta: [String: String]?
        if resume {
            guard FileManager.default.fileExists(atPath: latest.path) else {
                throw CLIError.notFound(path: latest.path, what: "checkpoint to resume from (--resume)")
            }
            // The saved configuration defines the run; the command line may not change it.
            let file = try SafeTensors.read(latest)
            guard let text = file.metadata["config"], let saved = try? JSONDecoder().decode(Pix2PixTrainOptions.self, from: Data(text.utf8)) else {
                throw CLIError.badModel(path: latest.path, reason: "checkpoint has no readable pix2pix configuration")
            }
            opts = saved
            savedMeta = file.metadata
        } else if FileManager.default.fileExists(atPath: latest.path) {
            throw CLIError.runExists(path: run.path)
        }
        self.options = opts
        try Self.validate(opts)
        var data = opts.data
        data.inputNc = opts.model.inputNc
        data.outputNc = opts.model.outputNc
        data.maxItems = opts.maxItems
        let root = URL(fileURLWithPath: opts.dataroot)
        guard FileManager.default.fileExists(atPath: root.path) else { throw CLIError.notFound(path: root.path, what: "--dataroot") }
        let phaseDir = root.appendingPathComponent(opts.phase)
        let dataDir = FileManager.default.fileExists(atPath: phaseDir.path) ? phaseDir : root
        dataset = try ImageDataset(roots: [dataDir], options: data)
        rng = RNG(seed: opts.seed)
        model = try Pix2Pix(config: opts.model, rng: &rng)
        if resume {
            let (meta, savedRNG) = try Checkpoint.load(from: latest, modules: model.modules, optimizers: model.optimizers)
            startEpoch = Int(meta["epoch"] ?? "") ?? 0
            if let r = savedRNG { rng = r }
            _ = savedMeta
            history = Self.readLog(run.appendingPathComponent("loss_log.jsonl")).filter { $0.epoch <= startEpoch }
        }
    }

    static func validate(_ o: Pix2PixTrainOptions) throws {
        func bad(_ flag: String, _ why: String) -> CLIError { .invalidFlag(flag: flag, reason: why) }
        if o.batchSize < 1 { throw bad("--batch-size", "must be at least 1, got \(o.batchSize)") }
        if o.epochs < 0 || o.epochsDecay < 0 || o.totalEpochs < 1 { throw bad("--epochs", "epochs + epochs-decay must be at least 1 (got \(o.epochs) + \(o.epochsDecay))") }
        if o.model.ngf < 1 { throw bad("--ngf", "must be positive") }
        if o.model.ndf < 1 { throw bad("--ndf", "must be positive") }
        if o.model.lr <= 0 { throw bad("--lr", "must be positive") }
        if ![1, 3].contains(o.model.inputNc) { throw bad("--input-nc", "must be 1 or 3, got \(o.model.inputNc)") }
        if ![1, 3].contains(o.model.outputNc) { throw bad("--output-nc", "must be 1 or 3, got \(o.model.outputNc)") }
        if o.data.cropSize < 1 || o.data.loadSize < o.data.cropSize && [.resizeAndCrop, .scaleWidthAndCrop].contains(o.data.preprocess) {
            throw bad("--crop-size", "must be between 1 and --load-size (\(o.data.loadSize)), got \(o.data.cropSize)")
        }
        if o.saveEpochFreq < 1 { throw bad("--save-epoch-freq", "must be at least 1") }
        if o.name.isEmpty || o.name.contains("/") { throw bad("--name", "must be a non-empty folder name without '/'") }
    }

    static func readLog(_ url: URL) -> [LossRecord] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(LossRecord.self, from: Data($0.utf8)) }
    }

    func configJSON() throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return String(decoding: try enc.encode(options), as: UTF8.self)
    }

    /// Saves `latest` (and `epoch_N` on the save frequency) after `epoch` completed epochs.
    func saveCheckpoint(epoch: Int) throws {
        let meta = ["config": try configJSON(), "epoch": "\(epoch)", "kind": "pix2pix",
                    "test_mode": options.testMode.rawValue, "steps": "\(history.last?.step ?? 0)"]
        let ck = Checkpoint(modules: model.modules, optimizers: model.optimizers, metadata: meta)
        try ck.save(to: latestURL, rng: rng)
        if epoch % options.saveEpochFreq == 0 || epoch == options.totalEpochs {
            try ck.save(to: runDir.appendingPathComponent("epoch_\(epoch).safetensors"), rng: rng)
        }
    }

    /// Runs the remaining epochs. `stopAfterEpochs` ends early (tests and staged runs).
    public func run(stopAfterEpochs: Int? = nil) throws {
        try FileManager.default.createDirectory(at: runDir.appendingPathComponent("images"), withIntermediateDirectories: true)
        try writeText(try configJSON() + "\n", to: runDir.appendingPathComponent("config.json"))
        let total = options.totalEpochs
        let endEpoch = min(total, stopAfterEpochs.map { startEpoch + $0 } ?? total)
        let perEpoch = (dataset.count + options.batchSize - 1) / options.batchSize
        let progress = ProgressBar(totalSteps: perEpoch * (endEpoch - startEpoch))
        progress.enabled = progressEnabled
        var step = history.last?.step ?? 0
        // Rewrite the log without lines of epochs that the checkpoint does not contain.
        let logURL = runDir.appendingPathComponent("loss_log.jsonl")
        try writeText(history.map(Self.jsonLine).joined(), to: logURL)
        let log = try FileHandle(forWritingTo: logURL)
        defer { try? log.close() }
        log.seekToEndOfFile()
        if !dataset.skipped.isEmpty {
            stderrLine("note: skipped \(dataset.skipped.count) non-image file(s) in the dataroot, e.g. \(dataset.skipped[0])")
        }
        for epoch in startEpoch..<endEpoch {
            let lr = options.schedule.lr(base: options.model.lr, epoch: epoch)
            model.setLearningRate(lr)
            let loader = EpochLoader(dataset: dataset, batchSize: options.batchSize, shuffle: true, seed: options.seed, epoch: epoch)
            var i = 0
            var running: [Float] = [0, 0, 0, 0]
            while let batch = try loader.next() {
                guard let target = batch.target else {
                    throw CLIError.invalidFlag(flag: "--dataset-mode", reason: "pix2pix needs paired data (aligned or paired), got items without targets")
                }
                let t0 = Date()
                let losses = try model.trainStep(input: batch.input, target: target)
                step += 1; i += 1
                running = zip(running, losses.values).map { $0 * 0.9 + $1 * 0.1 }
                if i == 1 { running = losses.values }
                let rec = LossRecord(epoch: epoch + 1, step: step, lr: lr,
                                     losses: Dictionary(uniqueKeysWithValues: zip(Pix2Pix.Losses.names, losses.values)),
                                     seconds: Date().timeIntervalSince(t0))
                history.append(rec)
                log.write(Data(Self.jsonLine(rec).utf8))
                progress.update(epoch: epoch + 1, epochs: total, step: i, steps: loader.batchCount,
                                images: batch.input.shape[0], losses: Array(zip(Pix2Pix.Losses.names, running)))
            }
            try saveCheckpoint(epoch: epoch + 1)
            try writeSamples(epoch: epoch + 1)
            try writeReport(epoch: epoch + 1)
            startEpoch = epoch + 1
        }
    }

    static func jsonLine(_ r: LossRecord) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return (String(data: (try? enc.encode(r)) ?? Data(), encoding: .utf8) ?? "") + "\n"
    }

    /// Input | output | target PNGs of the first `samples` items, without changing training's
    /// random state (dropout generators are restored, running statistics untouched).
    func writeSamples(epoch: Int) throws {
        let dir = runDir.appendingPathComponent("images")
        for i in 0..<min(options.samples, dataset.count) {
            let s = try dataset.load(i)
            let out = try model.netG.preservingRandomState { try model.netG.translate(s.input, mode: options.testMode) }
            let base = String(format: "epoch%03d_%02d", epoch, i)
            try ImageFile.write(try Image(tensor: out), to: dir.appendingPathComponent("\(base)_output.png"))
            if epoch == 1 || !FileManager.default.fileExists(atPath: dir.appendingPathComponent(String(format: "sample%02d_input.png", i)).path) {
                try ImageFile.write(try Image(tensor: s.input), to: dir.appendingPathComponent(String(format: "sample%02d_input.png", i)))
                if let t = s.target { try ImageFile.write(try Image(tensor: t), to: dir.appendingPathComponent(String(format: "sample%02d_target.png", i))) }
            }
        }
    }

    /// index.html: loss curves (per-epoch means) and the samples of every epoch, newest first.
    func writeReport(epoch: Int) throws {
        var charts = ""
        for name in Pix2Pix.Losses.names {
            var byEpoch: [Int: (Double, Int)] = [:]
            for r in history { if let v = r.losses[name] { let e = byEpoch[r.epoch] ?? (0, 0); byEpoch[r.epoch] = (e.0 + Double(v), e.1 + 1) } }
            let epochs = byEpoch.keys.sorted()
            charts += HTMLReport.svgChart(title: name, xs: epochs.map(Double.init), ys: epochs.map { byEpoch[$0]!.0 / Double(byEpoch[$0]!.1) })
        }
        let n = min(options.samples, dataset.count)
        var sections = ""
        for e in stride(from: epoch, through: 1, by: -1) {
            let rows: [(String, [String?])] = (0..<n).map { i in
                (dataset.relativePath(i), [String(format: "images/sample%02d_input.png", i), String(format: "images/epoch%03d_%02d_output.png", e, i),
                                           String(format: "images/sample%02d_target.png", i)])
            }
            sections += "<h3>Epoch \(e)</h3>" + HTMLReport.imageTable(headers: ["input", "output", "target"], rows: rows)
        }
        let last = history.last
        let meta: [(String, String)] = [
            ("run", options.name), ("dataroot", options.dataroot), ("epoch", "\(epoch) of \(options.totalEpochs)"),
            ("steps", "\(last?.step ?? 0)"), ("generator", "\(options.model.netG.rawValue), ngf \(options.model.ngf), norm \(options.model.norm.rawValue)"),
            ("test-time mode of the samples", options.testMode == .paper ? "paper (batch statistics, dropout on)" : "eval (running statistics, no dropout)"),
            ("learning rate", String(format: "%.3g", last?.lr ?? options.model.lr)),
        ]
        let body = "<h2>Losses (mean per epoch)</h2><div class=\"curves\">\(charts)</div><h2>Samples</h2>\(sections)"
        try writeText(HTMLReport.page(title: "pix2pix: \(options.name)", meta: meta, body: body), to: runDir.appendingPathComponent("index.html"))
    }
}
