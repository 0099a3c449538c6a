import Foundation
import Tensors
import NN
import ImageIO
import Datasets

public enum LRPolicy: String, CaseIterable, Codable { case linear, step, cosine, constant }

/// The options every training run has; stored in every checkpoint (`config`).
public protocol TrainingRunOptions: Codable, Equatable {
    var dataroot: String { get set }
    var phase: String { get set }
    var name: String { get set }
    var checkpointsDir: String { get set }
    var data: DataOptions { get set }
    var batchSize: Int { get set }
    var epochs: Int { get set }
    var epochsDecay: Int { get set }
    var lrPolicy: LRPolicy { get set }
    var lrDecayIters: Int { get set }
    var seed: UInt64 { get set }
    var saveEpochFreq: Int { get set }
    var maxItems: Int? { get set }
    var samples: Int { get set }
    var testMode: TestMode { get }
    /// The initial learning rate.
    var baseLR: Float { get }
    /// Channel counts of the model's input and output sides.
    var channels: (input: Int, output: Int) { get }
    /// The method's own checks (its config's ranges, which data it takes); errors name the
    /// flag. `validate()` runs them after the checks every run shares.
    func validateMethod() throws
}

extension TrainingRunOptions {
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

    /// Every check of these options, errors naming the flag: what every run shares, then
    /// the method's own. The command (before anything is read) and the trainer (after a
    /// resume has merged the saved options) both call this one check.
    public func validate() throws {
        try validateCommon()
        try validateMethod()
    }

    /// Checks the options shared by all models; errors name the flag.
    func validateCommon() throws {
        func bad(_ flag: String, _ why: String) -> TranslateError { .invalidFlag(flag: flag, reason: why) }
        // The data as the model will read it: the task checks its channels and settings.
        var d = data
        (d.inputNc, d.outputNc) = channels
        do { try d.validate() } catch let e as DatasetError { throw TranslateError.invalidFlag(flag: firstFlag(in: "\(e)") ?? "--dataroot", reason: "\(e)") }
        if batchSize < 1 || batchSize > 1024 { throw bad("--batch-size", "must be between 1 and 1024, got \(batchSize)") }
        if epochs < 0 || epochsDecay < 0 || totalEpochs < 1 { throw bad("--epochs", "epochs + epochs-decay must be at least 1 (got \(epochs) + \(epochsDecay))") }
        if epochs > 100_000 || epochsDecay > 100_000 { throw bad("--epochs", "--epochs and --epochs-decay must be at most 100000") }
        if !(baseLR > 0 && baseLR <= 1) { throw bad("--lr", "must be a finite number above 0 and at most 1, got \(baseLR)") }
        if let m = maxItems, m < 1 { throw bad("--max-items", "must be at least 1, got \(m)") }
        if samples < 0 || samples > 100 { throw bad("--samples", "must be between 0 and 100, got \(samples)") }
        if data.cropSize < 1 || data.loadSize < data.cropSize && [.resizeAndCrop, .scaleWidthAndCrop].contains(data.preprocess) {
            throw bad("--crop-size", "must be between 1 and --load-size (\(data.loadSize)), got \(data.cropSize)")
        }
        if saveEpochFreq < 1 { throw bad("--save-epoch-freq", "must be at least 1") }
        if name.isEmpty || name == "." || name == ".." || name.contains("/") || name.contains("\0") || name.hasPrefix("-") {
            throw bad("--name", "must be a folder name inside --checkpoints-dir: not empty, '.' or '..', without '/' or NUL, not starting with '-'; got '\(name)'")
        }
    }
}

/// A model that the trainer can train: its step, its state and what its report shows.
public protocol TrainableModel: AnyObject {
    associatedtype Options: TrainingRunOptions
    /// "pix2pix", "cyclegan": written into checkpoints.
    static var method: Method { get }
    static var lossNames: [String] { get }
    /// The losses this model's configuration reports (`lossNames` plus optional terms).
    var lossNamesInUse: [String] { get }
    init(options: Options, rng: inout RNG) throws
    var modules: [(String, Module)] { get }
    var optimizers: [(String, Adam)] { get }
    func setLearningRate(_ lr: Float)
    /// One optimisation step; returns the losses in `lossNames` order.
    func trainStep(_ batch: Batch, rng: inout RNG) throws -> [Float]
    /// Images for the report: (column name, [1, C, H, W] tensor) for one loaded sample.
    func reportImages(_ sample: Sample, mode: TestMode) throws -> [(String, Tensor)]
    /// State beyond modules and optimizers (e.g. CycleGAN's history buffers).
    var extraState: [(String, Tensor)] { get }
    func restoreExtraState(_ tensors: [String: Tensor]) throws
    /// Models with their own epochs (cIMLE: a round of code selection on a fresh pool, then
    /// optimiser steps on it) return its batches here; nil means the dataset's shuffled batches.
    func customEpoch(_ epoch: Int, dataset: ImageDataset, batchSize: Int, rng: inout RNG, showProgress: Bool) throws -> EpochPlan?
    /// Batches per custom epoch (for the progress bar), or nil.
    func customEpochLength(dataset: ImageDataset, batchSize: Int) -> Int?
    /// Names of the report's columns that do not change between epochs.
    var fixedReportColumns: Set<String> { get }
    /// Whether an epoch's last batch is left out when it is smaller than the batch size
    /// (BicycleGAN splits every batch in two halves, as the reference, which skips it).
    static var dropsPartialBatches: Bool { get }
}

/// The batches of one custom epoch.
public struct EpochPlan {
    public var count: Int
    public var next: () throws -> Batch?
    public init(count: Int, next: @escaping () throws -> Batch?) { self.count = count; self.next = next }
}

extension TrainableModel {
    public func customEpoch(_ epoch: Int, dataset: ImageDataset, batchSize: Int, rng: inout RNG, showProgress: Bool) throws -> EpochPlan? { nil }
    public func customEpochLength(dataset: ImageDataset, batchSize: Int) -> Int? { nil }
    public var fixedReportColumns: Set<String> { ["input", "target", "real_A", "real_B"] }
    public var lossNamesInUse: [String] { Self.lossNames }
    public static var dropsPartialBatches: Bool { false }
}

/// One line of the loss log (`loss_log.jsonl`).
public struct LossRecord: Codable, Equatable {
    public var epoch: Int, step: Int, lr: Float
    public var losses: [String: Float]
    public var seconds: Double
}

/// Trains a model: data, schedule, progress, checkpoints (`latest.safetensors` every epoch
/// and `epoch_N.safetensors` every `saveEpochFreq`), loss log and HTML report, all in
/// `<checkpointsDir>/<name>/`. Resuming continues exactly where the last checkpoint was.
public final class GANTrainer<Model: TrainableModel> {
    public private(set) var options: Model.Options
    public let model: Model
    public let dataset: ImageDataset
    /// Where the data was found and how it makes items (printed when training starts).
    public let layout: DatasetLayout
    public private(set) var startEpoch = 0
    public private(set) var history: [LossRecord] = []
    public var progressEnabled = true
    var rng: RNG
    /// The job's processes (`Distribution.current` when the trainer was made); one process
    /// unless run under mpirun (see DataParallel.swift).
    public let communicator: Communicator
    /// With more than one rank: this rank's generator for training steps (the shared `rng`
    /// then only draws what every rank must draw alike: cIMLE's pools and codes).
    var stepRNG: RNG
    /// `--check-replicas`: compare a checksum of every rank's parameters after each epoch.
    public var checkReplicasEnabled = false
    /// `--sync-bn`: under mpirun, BatchNorm layers in the training steps normalise over all
    /// ranks' batches (`SynchronizedBatchNorm`); one process: no change.
    public var synchronizedBatchNorm = false

    public var runDir: URL { options.runDirectory }
    public var latestURL: URL { runDir.appendingPathComponent("latest.safetensors") }

    /// `resume`: continue the run in `options.runDirectory` from its `latest.safetensors`; its
    /// saved configuration defines the run. With `defaults` (the options the command line
    /// gives when no optional flag is set), flags that differ from their defaults are changes:
    /// `ResumeChanges.allowed` ones (longer runs, save and page frequencies) are applied and
    /// listed in `resumeNotes`; any other change is refused naming its flag.
    public init(options: Model.Options, resume: Bool, defaults: Model.Options? = nil) throws {
        var opts = options
        let latest = opts.runDirectory.appendingPathComponent("latest.safetensors")
        if resume {
            guard FileManager.default.fileExists(atPath: latest.path) else {
                throw TranslateError.notFound(path: latest.path, what: "checkpoint to resume from (--resume)")
            }
            let file = try ModelFile.open(latest)
            try file.require(Model.method, for: "resuming \(Model.method.rawValue) training")
            guard !file.generatorOnly else {
                throw TranslateError.badModel(path: latest.path, reason: "an exported generator holds no training state (optimizers, discriminators): it cannot be resumed")
            }
            let saved = try file.options(Model.Options.self)
            if let defaults {
                (opts, resumeNotes) = try ResumeChanges.apply(saved: saved, given: options, defaults: defaults)
            } else {
                opts = saved
                if let note = ResumeChanges.datarootNote(saved: saved.dataroot, given: options.dataroot) { resumeNotes.append(note) }
                opts.dataroot = options.dataroot
                opts.checkpointsDir = options.checkpointsDir
                opts.name = options.name
            }
        } else if FileManager.default.fileExists(atPath: latest.path) {
            throw TranslateError.runExists(path: opts.runDirectory.path)
        }
        try opts.validate()
        var data = opts.data
        data.inputNc = opts.channels.input
        data.outputNc = opts.channels.output
        data.maxItems = opts.maxItems
        let root = URL(fileURLWithPath: opts.dataroot)
        guard FileManager.default.fileExists(atPath: root.path) else { throw TranslateError.notFound(path: root.path, what: "--dataroot") }
        // The run must not be written into the data it reads (its samples would become data).
        let runPath = opts.runDirectory.standardizedFileURL.resolvingSymlinksInPath().path
        let dataPath = root.standardizedFileURL.resolvingSymlinksInPath().path
        if runPath == dataPath || runPath.hasPrefix(dataPath + "/") || dataPath.hasPrefix(runPath + "/") {
            throw TranslateError.invalidFlag(flag: "--checkpoints-dir", reason: "the run folder \(opts.runDirectory.path) is inside (or holds) the --dataroot \(root.path); write runs elsewhere")
        }
        let layout = try data.taskDefinition.trainingLayout(root: root, phase: opts.phase, options: data)
        // The detected mode is part of the run: checkpoints, apply and eval remember it.
        data.mode = layout.mode
        opts.data.mode = layout.mode
        self.layout = layout
        self.options = opts
        dataset = try ImageDataset(roots: layout.folders, options: data)
        if Model.dropsPartialBatches && dataset.count < opts.batchSize * Distribution.current.size {
            throw TranslateError.invalidFlag(flag: "--batch-size", reason: "\(Model.method.rawValue) trains on full batches only and --dataroot has \(dataset.count) item(s), fewer than one batch of \(opts.batchSize)\(Distribution.current.size > 1 ? " per rank" : "")")
        }
        rng = RNG(seed: opts.seed)
        communicator = Distribution.current
        stepRNG = Self.rankRNG(seed: opts.seed, rank: communicator.rank)
        model = try Model(options: opts, rng: &rng)
        if resume {
            let (meta, savedRNG, tensors) = try Checkpoint.load(from: latest, modules: model.modules, optimizers: model.optimizers)
            do { try model.restoreExtraState(tensors) } catch {
                throw TranslateError.badModel(path: latest.path, reason: "\(error)")
            }
            // Checkpoint.load has validated these fields where present; a resumable
            // checkpoint must hold the epoch and its generator state.
            startEpoch = try Checkpoint.requiredIntField(meta, "epoch", in: 0...Checkpoint.maxEpochs, path: latest.path)
            startBatch = try Checkpoint.intField(meta, "epoch_batches", in: 0...Checkpoint.maxCounter, path: latest.path) ?? 0
            guard let r = savedRNG else {
                throw TranslateError.badModel(path: latest.path, reason: "field 'rng' (the training generator's state) is missing: this file cannot be resumed bit-exactly")
            }
            rng = r
            let savedRanks = try Checkpoint.intField(meta, "ranks", in: 1...1 << 20, path: latest.path) ?? 1
            try restoreRankRNG(meta, savedRanks: savedRanks)
            let log = Self.readLog(opts.runDirectory.appendingPathComponent("loss_log.jsonl"))
            if let steps = try Checkpoint.intField(meta, "steps", in: 0...Checkpoint.maxCounter, path: latest.path) {
                history = log.filter { $0.step <= steps }
            } else {
                history = log.filter { $0.epoch <= startEpoch }
            }
        }
        // Every replica starts from rank 0's state (after a resume too), as DDP.
        broadcastState()
        reseedDropout(rank: communicator.rank)
    }

    /// What `--resume` changed (one line each), empty when nothing changed.
    public internal(set) var resumeNotes: [String] = []
    /// Batches of epoch `startEpoch` that the checkpoint already contains (a mid-epoch stop).
    public private(set) var startBatch = 0
    /// Write `latest` every this many steps within an epoch (0: only at the end of epochs).
    public var saveLatestFreq = 0
    /// Polled after every step: when it has a signal, the trainer writes a checkpoint of the
    /// current step and throws `TrainingInterrupted`.
    public var stop: StopRequest?
    /// Stop after this many seconds of `run` (the user's --time-limit): the step running at
    /// the limit completes, a checkpoint of it is written and `TrainingInterrupted` is thrown
    /// with the `.timeLimit` cause. Models with their own epochs (cIMLE rounds) stop at the
    /// end of the round running at the limit, since a round cannot be resumed half-way.
    public var timeLimit: TimeInterval?

    /// Whether every epoch is already done.
    public var isFinished: Bool { startEpoch >= options.totalEpochs }

    /// Lengthens a resumed run with a constant learning rate (more cIMLE rounds): the
    /// schedule of the epochs already done does not change, so the result equals a run
    /// started with the longer length.
    public func extend(toEpochs n: Int) throws {
        guard n > options.totalEpochs else { return }
        guard options.lrPolicy == .constant else {
            throw TranslateError.invalidFlag(flag: "--rounds", reason: "only runs with a constant learning rate can be lengthened")
        }
        options.epochs = n - options.epochsDecay
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

    /// Saves `latest` (and `epoch_N` on the save frequency) after `epoch` completed epochs and
    /// `batches` batches of the next one (a mid-epoch checkpoint: `latest` only).
    /// Every rank calls it (it gathers the ranks' generators); rank 0 writes.
    func saveCheckpoint(epoch: Int, batches: Int = 0) throws {
        var meta = ["config": try configJSON(), "epoch": "\(epoch)", "epoch_batches": "\(batches)", "kind": Model.method.kindField(generatorOnly: false),
                    "test_mode": options.testMode.rawValue, "steps": "\(history.last?.step ?? 0)"]
        if communicator.size > 1 {
            meta["ranks"] = "\(communicator.size)"
            meta["rank_rngs"] = gatheredRankRNGs()
        }
        guard communicator.isRoot else { return }
        var ck = Checkpoint(modules: model.modules, optimizers: model.optimizers, metadata: meta)
        ck.extraTensors = model.extraState
        try ck.save(to: latestURL, rng: rng)
        if batches == 0 && (epoch % options.saveEpochFreq == 0 || epoch == options.totalEpochs) {
            try ck.save(to: runDir.appendingPathComponent("epoch_\(epoch).safetensors"), rng: rng)
        }
    }

    /// Runs the remaining epochs. `stopAfterEpochs` ends early (tests and staged runs).
    public func run(stopAfterEpochs: Int? = nil) throws {
        // Only rank 0 writes: the lock, config, log, checkpoints, samples, page, progress.
        let root = communicator.isRoot, ranks = communicator.size
        if synchronizedBatchNorm && !model.modules.contains(where: { $0.1.containsBatchNorm }) {
            throw TranslateError.invalidFlag(flag: "--sync-bn", reason: "\(Model.method.rawValue) here has no BatchNorm layers (--norm instance or none, or a method without them), so there are no statistics to synchronise")
        }
        let syncBN: Communicator? = synchronizedBatchNorm && ranks > 1 ? communicator : nil
        let lock = root ? try RunLock(folder: runDir) : nil
        defer { withExtendedLifetime(lock) {} }
        if root {
            // Temporary files of a run killed mid-write (kill -9, power loss): never the checkpoint.
            for url in removeStaleTemporaries(in: runDir) {
                stderrLine("note: removed \(url.lastPathComponent), a partial write left by a process that no longer runs")
            }
            try FileManager.default.createDirectory(at: runDir.appendingPathComponent("images"), withIntermediateDirectories: true)
            try writeText(try configJSON() + "\n", to: runDir.appendingPathComponent("config.json"))
        }
        let total = options.totalEpochs
        let endEpoch = min(total, stopAfterEpochs.map { startEpoch + $0 } ?? total)
        guard startEpoch < endEpoch else { return }
        let shardCount = (dataset.count + ranks - 1) / ranks
        let perEpoch = model.customEpochLength(dataset: dataset, batchSize: options.batchSize)
            ?? (Model.dropsPartialBatches ? shardCount / options.batchSize : (shardCount + options.batchSize - 1) / options.batchSize)
        let progress = ProgressBar(totalSteps: max(perEpoch * max(endEpoch - startEpoch, 0) - startBatch, 0), unitName: reportUnit)
        progress.enabled = progressEnabled && root
        var step = history.last?.step ?? 0
        // Rewrite the log without lines of epochs that the checkpoint does not contain.
        let logURL = runDir.appendingPathComponent("loss_log.jsonl")
        if root { try writeText(history.map(Self.jsonLine).joined(), to: logURL) }
        let log = root ? try FileHandle(forWritingTo: logURL) : nil
        defer { try? log?.close() }
        _ = try? log?.seekToEnd()
        if root && !dataset.skipped.isEmpty {
            stderrLine("note: skipped \(dataset.skipped.count) file(s) in the dataroot, e.g. \(dataset.skipped[0]): \(ImageDataset.whySkipped(dataset.skipped[0]))")
        }
        let names = model.lossNamesInUse
        let started = Date()
        /// Why this rank wants to stop now (a signal, or the time limit once `timed`), if it does.
        func stopCause(timed: Bool) -> TrainingInterrupted.Cause? {
            if let sig = stop?.signal { return .signal(sig) }
            if timed, let limit = timeLimit, Date().timeIntervalSince(started) >= limit { return .timeLimit(limit) }
            return nil
        }
        /// The cause every rank acts on: any rank's request stops all of them at the same step
        /// (mpirun forwards SIGINT and SIGTERM to every rank; clocks differ slightly).
        func agreedCause(_ local: TrainingInterrupted.Cause?, _ anyRank: Bool) -> TrainingInterrupted.Cause? {
            guard ranks > 1 else { return local }
            guard anyRank else { return nil }
            return local ?? (timeLimit != nil && stop?.signal == nil ? .timeLimit(timeLimit!) : .signal(SIGTERM))
        }
        for epoch in startEpoch..<endEpoch {
            let lr = options.schedule.lr(base: options.baseLR, epoch: epoch)
            model.setLearningRate(lr)
            let plan: EpochPlan
            let custom = try model.customEpoch(epoch, dataset: dataset, batchSize: options.batchSize, rng: &rng, showProgress: progressEnabled && root)
            // A mid-epoch checkpoint resumes with the batches it had not trained on: the
            // epoch's order and each item's augmentation depend only on (seed, epoch, item).
            let skip = epoch == startEpoch && custom == nil ? startBatch : 0
            if let custom {
                plan = custom
            } else {
                let loader = EpochLoader(dataset: dataset, batchSize: options.batchSize, shuffle: true, seed: options.seed,
                                         epoch: epoch, dropLast: Model.dropsPartialBatches, startBatch: skip, shard: (communicator.rank, ranks))
                plan = EpochPlan(count: loader.batchCount, next: loader.next)
            }
            var i = skip
            var running = [Float](repeating: 0, count: names.count)
            while let batch = try plan.next() {
                let t0 = Date()
                let stepLosses = try SynchronizedBatchNorm.$communicator.withValue(syncBN) {
                    try ranks > 1 ? model.trainStep(batch, rng: &stepRNG) : model.trainStep(batch, rng: &rng)
                }
                // Read after the step, so that a signal during it stops here.
                let localCause = stopCause(timed: custom == nil)
                let (losses, stopAsked) = combine(stepLosses, stopRequested: localCause != nil)
                step += 1; i += 1
                if let bad = zip(names, losses).first(where: { !$0.1.isFinite }) {
                    throw TranslateError.badModel(path: runDir.path, reason: "the loss \(bad.0) became \(bad.1.isNaN ? "NaN" : "infinite") at step \(step) (epoch \(epoch + 1), batch \(i)); training stopped without saving, so \(latestURL.lastPathComponent) keeps the last good state. A lower --lr (or other loss weights) usually avoids this")
                }
                running = i == skip + 1 ? losses : zip(running, losses).map { $0 * 0.9 + $1 * 0.1 }
                let rec = LossRecord(epoch: epoch + 1, step: step, lr: lr, losses: Dictionary(uniqueKeysWithValues: zip(names, losses)),
                                     seconds: Date().timeIntervalSince(t0))
                history.append(rec)
                do { try log?.write(contentsOf: Data(Self.jsonLine(rec).utf8)) } catch {
                    throw TranslateError.io(path: logURL.path, reason: "cannot write the loss log: \(ioReason(error))")
                }
                for note in dataset.conversions.drainNewLines() { progress.message(note) }
                progress.update(epoch: epoch + 1, epochs: total, step: i, steps: plan.count,
                                images: batch.input.shape[0] * ranks, losses: Array(zip(names, running)))
                guard i < plan.count else { break }
                if let cause = agreedCause(localCause, stopAsked) {
                    if custom == nil {
                        progress.status("saving checkpoint")
                        try saveCheckpoint(epoch: epoch, batches: i)
                        throw TrainingInterrupted(cause: cause, epoch: epoch, batches: i, batchesInEpoch: plan.count, step: step,
                                                  checkpoint: latestURL.path, midEpoch: true)
                    }
                    throw TrainingInterrupted(cause: cause, epoch: epoch, batches: i, batchesInEpoch: plan.count, step: step,
                                              checkpoint: latestURL.path, midEpoch: false)
                }
                if custom == nil && saveLatestFreq > 0 && step % saveLatestFreq == 0 {
                    progress.status("saving checkpoint")
                    try saveCheckpoint(epoch: epoch, batches: i)
                }
            }
            progress.status("saving checkpoint")
            try saveCheckpoint(epoch: epoch + 1)
            if checkReplicasEnabled { try checkReplicas(after: "epoch \(epoch + 1)") }
            if root {
                progress.status("writing samples")
                try writeSamples(epoch: epoch + 1)
                progress.status("writing page")
                try writeReport(epoch: epoch + 1)
            }
            startEpoch = epoch + 1
            startBatch = 0
            if epoch + 1 == endEpoch && root {
                let summary = dataset.conversions.summary
                if !summary.isEmpty {
                    progress.finish()
                    stderrLine("conversions made while reading the data (the model saw the converted images):")
                    for line in summary { stderrLine("  " + line) }
                }
            }
            let localCause = stopCause(timed: true)
            let (_, stopAsked) = combine([], stopRequested: localCause != nil)
            if let cause = agreedCause(localCause, stopAsked), epoch + 1 < endEpoch {
                throw TrainingInterrupted(cause: cause, epoch: epoch + 1, batches: 0, batchesInEpoch: plan.count, step: step,
                                          checkpoint: latestURL.path, midEpoch: false)
            }
        }
    }

    static func jsonLine(_ r: LossRecord) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return (String(data: (try? enc.encode(r)) ?? Data(), encoding: .utf8) ?? "") + "\n"
    }

    /// The report images of the first `samples` items: fixed ones (inputs, targets) once,
    /// model outputs every epoch; training's random state is not changed.
    var sampleCount: Int { min(options.samples, dataset.count) }
    var columns: [String] = []
    var fixedColumns: Set<String> { model.fixedReportColumns }

    func writeSamples(epoch: Int) throws {
        let dir = runDir.appendingPathComponent("images")
        var cols: [String] = []
        for i in 0..<sampleCount {
            let s = try dataset.load(i)
            let modules = model.modules.map(\.1)
            let images = try preserving(modules) { try model.reportImages(s, mode: options.testMode) }
            cols = images.map(\.0)
            let shownInput = images.first { $0.0 == "input" }?.1 ?? s.input
            for (name, t) in images {
                let file = fixedColumns.contains(name) ? String(format: "sample%02d_%@.png", i, name) : String(format: "epoch%03d_%02d_%@.png", epoch, i, name)
                let url = dir.appendingPathComponent(file)
                if fixedColumns.contains(name) && FileManager.default.fileExists(atPath: url.path) { continue }
                // Layout inputs in label colours; colorization's ab in colour with the input's L.
                try ImageFile.write(try options.data.displayImage(t, isInput: name == "input", lightness: shownInput), to: url)
            }
        }
        columns = cols
    }

    /// Runs `body` and restores every dropout generator of `modules` afterwards.
    func preserving<R>(_ modules: [Module], _ body: () throws -> R) throws -> R {
        let saved = modules.map { Dictionary($0.rngStates, uniquingKeysWith: { a, _ in a }) }
        defer { for (m, s) in zip(modules, saved) { m.setRNGStates(s) } }
        return try body()
    }
}


/// The first command-line flag ("--name") a message mentions.
func firstFlag(in message: String) -> String? {
    guard let r = message.range(of: "--") else { return nil }
    let name = message[r.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" }
    return name.isEmpty ? nil : "--" + name
}
