import ArgumentParser
import Foundation
import Tensors
import NN
import Datasets
import ImageIO
import Pipelines


/// `translate`: the root command.
public struct TranslateCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "translate",
        abstract: "Image-to-image translation on the CPU: pix2pix, CycleGAN, BicycleGAN and conditional IMLE training, translation and evaluation.",
        discussion: """
        Every command takes --threads N: the threads it computes with (ours and OpenBLAS's). The default \
        is TRANSLATE_THREADS when set, else the CPUs this process may use (its affinity mask, capped by \
        a container's CPU quota). Results are bit-identical for every thread count. Under mpirun \
        (Open MPI, loaded at run time; --distributed asks for it explicitly) train runs data-parallel and \
        apply shards its inputs; see docs/GUIDE.md.
        """,
        version: "translate \(TranslateVersion.current)",
        subcommands: [Train.self, Apply.self, Eval.self, Export.self, Import.self, Info.self, List.self])
    public init() {}

    /// Runs the command line `args` (without the program name) after rewriting the
    /// reference's option spellings; exits.
    public static func main(arguments args: [String]) -> Never {
        let (rewritten, notes) = ReferenceNames.rewrite(args)
        for n in notes { stderrLine(n) }
        // A file larger than `ulimit -f` must fail its write (EFBIG), not kill the process.
        signal(SIGXFSZ, SIG_IGN)
        let env = ProcessInfo.processInfo.environment
        var mpi: MPICommunicator?
        do {
            let (parallelism, afterThreads) = try threads(in: rewritten, environment: env)
            let (distributed, rest) = distributedFlag(in: afterThreads)
            if distributed || Distribution.startedByMPIRun(env) {
                mpi = try MPICommunicator.start(environment: env, requestedBy: distributed ? "--distributed" : "a process started by mpirun (OMPI_COMM_WORLD_SIZE is set)")
            }
            let communicator: Communicator = mpi ?? SingleProcess()
            var command = try parseAsRoot(rest)
            try communicator.run { try parallelism.run { try command.run() } }
        } catch {
            // One failing rank ends the whole job, naming itself; the others are stopped
            // by MPI_Abort wherever they wait.
            if let mpi, mpi.size > 1 {
                let code = (error as? ExitCode)?.rawValue ?? 1
                if code != 0 {
                    // An interrupted run (every rank stops at the same step) ends cleanly.
                    if error is ExitCode { mpi.barrier(); mpi.finish(); Foundation.exit(code) }
                    stderrLine("translate: \(mpi.rankDescription) failed, ending the job: \(fullMessage(for: userFacing(error)))")
                    mpi.abort(code: code)
                }
            }
            mpi?.finish()
            exit(withError: userFacing(error))
        }
        mpi?.finish()
        Foundation.exit(0)
    }

    /// `--distributed` (every command takes it: run as one rank of an MPI job even where
    /// `mpirun` did not set `OMPI_COMM_WORLD_SIZE`) removed from `args`.
    static func distributedFlag(in args: [String]) -> (Bool, [String]) {
        var rest: [String] = []
        var found = false
        for (i, a) in args.enumerated() {
            if a == "--" { rest += args[i...]; break }
            if a == "--distributed" { found = true } else { rest.append(a) }
        }
        return (found, rest)
    }

    /// `--threads N` (or `--threads=N`), which every command takes, removed from `args`; else
    /// `TRANSLATE_THREADS`; else the CPUs this process may use (affinity and cgroup quota).
    /// N may be `auto` (or 0). A bad value is an error naming the flag or the variable.
    static func threads(in args: [String], environment: [String: String]) throws -> (Parallelism, [String]) {
        var rest: [String] = []
        var given: Parallelism?
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--" { rest += args[i...]; break }
            if a == "--threads" {
                guard i + 1 < args.count else { throw ValidationError("--threads needs a value: a number of threads, or auto") }
                given = try Parallelism.parse(args[i + 1], source: "--threads")
                i += 2
                continue
            }
            if a.hasPrefix("--threads=") {
                given = try Parallelism.parse(String(a.dropFirst("--threads=".count)), source: "--threads")
                i += 1
                continue
            }
            rest.append(a)
            i += 1
        }
        if let given { return (given, rest) }
        if let v = environment[Parallelism.environmentVariable] {
            return (try Parallelism.parse(v, source: Parallelism.environmentVariable), rest)
        }
        return (Parallelism(threads: Parallelism.availableCPUs()), rest)
    }

    /// System errors that reach the top say which path and why, in words.
    static func userFacing(_ error: Error) -> Error {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return error }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path ?? "a file"
        return TranslateError.io(path: path, reason: ioReason(error))
    }
}

public struct Train: ParsableCommand {
    public static let configuration = CommandConfiguration(abstract: "Train a model.", subcommands: [TrainPix2Pix.self, TrainColorization.self, TrainCycleGAN.self, TrainCIMLE.self, TrainCIMLEColorization.self, TrainCIMLESR.self, TrainCIMLELayout.self, TrainBicycleGAN.self])
    public init() {}
}

public struct TrainPix2Pix: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "pix2pix",
        abstract: "Train pix2pix (U-Net generator + PatchGAN) on paired images.",
        discussion: """
        Writes <checkpoints-dir>/<name>/: latest.safetensors (every epoch), epoch_N.safetensors, \
        loss_log.jsonl, config.json, images/ and index.html (samples per epoch and loss curves). \
        --resume continues a run exactly from latest.safetensors with its saved configuration.
        """)
    public init() {}

    @OptionGroup var common: TrainingFlags
    @Option(help: "How pairs are stored: auto detects A/ + B/ folders (paired) or [A | B] images about twice as wide as high (aligned).") var datasetMode = DatasetMode.auto
    @Option(help: "translation: image pairs; layout: label maps (class ids or a palette, see the layout flags) to photos; colorization: as translate train colorization.") var task = ImageTask.translation
    @OptionGroup var layout: LayoutFlags
    @OptionGroup var objective: Pix2PixFlags

    public func validate() throws {
        try common.refuseChannels(fixedBy: task, layout: layout.options)
        if ![.auto, .aligned, .paired].contains(datasetMode) {
            throw ValidationError("--dataset-mode must be auto, aligned or paired for pix2pix (it needs pairs), got \(datasetMode.rawValue); unpaired data trains with translate train cyclegan")
        }
        try trainOptions.validate()
    }

    public var trainOptions: Pix2PixTrainOptions {
        var o = Pix2PixTrainOptions(dataroot: common.dataroot, name: common.name)
        common.fillRun(&o)
        common.fill(&o.model)
        objective.fill(&o)
        o.data = common.dataOptions(mode: datasetMode)
        if task == .layout { o.data.layout = layout.options }
        o.setTask(task)
        return o
    }

    public func run() throws {
        let defaults = try Self.parse(["--dataroot", common.dataroot, "--name", common.name] + (task == .translation ? [] : ["--task", task.rawValue])).trainOptions
        var options = trainOptions
        if !common.resume { try options.data.fitPalette(root: options.dataroot, phase: options.phase, seed: options.seed) }
        let t = try Pix2PixTrainer(options: options, resume: common.resume, defaults: defaults)
        let what = "\(t.dataset.count) \(task.definition.items) (\(task == .translation ? t.options.data.direction.rawValue : task.title))"
        try runTraining(t, flags: common.run, saveLatestFreq: common.saveLatestFreq, command: "pix2pix",
                        describe: "training pix2pix on \(what); G \(t.model.netG.parameterCount) parameters, D \(t.model.netD.parameterCount)")
    }
}

/// The pix2pix objective's own flags (`train pix2pix` and `train colorization`).
public struct Pix2PixFlags: ParsableArguments {
    public init() {}
    @Option(help: "Generator.") var netG = GeneratorArch.unet256
    @Option(help: "Normalisation layers.") var norm = Norm.batch
    @Flag(help: "No dropout in the generator.") var noDropout = false
    @Option(help: "GAN objective (wgangp: Wasserstein critic with gradient penalty; needs --norm instance or none).") var ganMode = GANMode.vanilla
    @OptionGroup var penalty: GANPenaltyFlags
    @Option(help: "Weight of the L1 loss.") var lambdaL1: Float = 100
    @Option(help: "Test-time behaviour for the samples: paper (batch statistics, dropout on) or eval.") var testMode = TestMode.paper

    func fill(_ o: inout Pix2PixTrainOptions) {
        o.model.netG = netG; o.model.norm = norm; o.model.dropout = !noDropout; o.model.ganMode = ganMode; o.model.lambdaL1 = lambdaL1
        o.model.penalties = penalty.penalties
        o.testMode = testMode
    }
}

/// `translate train colorization`: the colorization task with the pix2pix objective, as the
/// reference's colorization model.
public struct TrainColorization: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "colorization",
        abstract: "Train colorization (pix2pix objective): lightness L in, colour ab out, in CIE Lab.",
        discussion: """
        --dataroot holds colour photos: a <phase>/ folder, or <phase>A/ and <phase>B/ (both are read: \
        any unpaired set), or the photos themselves (searched recursively). Each photo is resized, \
        cropped and flipped as for pix2pix, then split into L (the input, L / 50 - 1) and ab (the \
        target, ab / 110), as the reference's colorization model. translate apply colours gray or \
        colour photos (keeping their L) at their own size.
        """)
    public init() {}

    @OptionGroup var common: TrainingFlags
    @OptionGroup var objective: Pix2PixFlags

    public func validate() throws {
        try common.refuseChannels(fixedBy: .colorization)
        try trainOptions.validate()
    }

    public var trainOptions: Pix2PixTrainOptions {
        var o = Pix2PixTrainOptions(dataroot: common.dataroot, name: common.name)
        common.fillRun(&o)
        common.fill(&o.model)
        objective.fill(&o)
        o.data = common.dataOptions(mode: .single)
        o.setTask(.colorization)
        return o
    }

    public func run() throws {
        let defaults = try Self.parse(["--dataroot", common.dataroot, "--name", common.name]).trainOptions
        let t = try Pix2PixTrainer(options: trainOptions, resume: common.resume, defaults: defaults)
        try runTraining(t, flags: common.run, saveLatestFreq: common.saveLatestFreq, command: "colorization",
                        describe: "training colorization (pix2pix objective) on \(t.dataset.count) photos; G \(t.model.netG.parameterCount) parameters, D \(t.model.netD.parameterCount)")
    }
}

/// Runs a trainer for a command: resume and dataset lines, SIGINT/SIGTERM handling (a
/// checkpoint of the current step, the command that continues, exit status 128 + signal).
/// `command` is the subcommand after `translate train` (e.g. `pix2pix`); `unit` "epoch" or "round".
/// `flags`: the run flags every method shares (--quiet, --resume, --check-replicas,
/// --sync-bn, --time-limit).
func runTraining<M: TrainableModel>(_ trainer: GANTrainer<M>, flags: RunFlags, saveLatestFreq: Int,
                                    command: String, unit: String = "epoch", describe: String) throws {
    let resume = flags.resume
    trainer.progressEnabled = !flags.quiet
    trainer.saveLatestFreq = saveLatestFreq
    trainer.checkReplicasEnabled = flags.checkReplicas
    trainer.synchronizedBatchNorm = flags.syncBN
    trainer.timeLimit = flags.timeLimit.map { $0 * 60 }
    let o = trainer.options
    // Under mpirun only rank 0 speaks.
    let comm = trainer.communicator
    let stderrLine: (String) -> Void = { if comm.isRoot { Pipelines.stderrLine($0) } }
    let print: (String) -> Void = { if comm.isRoot { Swift.print($0) } }
    if comm.size > 1 {
        stderrLine("data-parallel: \(comm.size) ranks x --batch-size \(o.batchSize) = \(comm.size * o.batchSize) images per step; the learning rate is not scaled (the linear rule would be --lr \(o.baseLR) x \(comm.size))")
    }
    if resume {
        for n in trainer.resumeNotes { stderrLine("resume: changed \(n)") }
        if trainer.isFinished {
            print("\(trainer.runDir.path) has finished all \(o.totalEpochs) \(unit)s already; nothing to do. To train longer, resume with a larger \(unit == "round" ? "--rounds" : "--epochs or --epochs-decay")")
            return
        }
        let at = trainer.startBatch > 0 ? "at \(unit) \(trainer.startEpoch + 1), batch \(trainer.startBatch)" : "after \(unit) \(trainer.startEpoch)"
        stderrLine("resuming \(trainer.runDir.path) \(at) of \(o.totalEpochs)")
    }
    stderrLine("dataset: \(trainer.layout.datasetSummary(trainer.dataset))")
    stderrLine(describe)
    let stop = StopRequest()
    stop.installSignalHandlers(announce: comm.isRoot)
    defer { stop.uninstall() }
    trainer.stop = stop
    do { try trainer.run() } catch let e as TrainingInterrupted {
        stderrLine(e.description)
        stderrLine("continue with: translate train \(command) --dataroot \(shellQuoted(o.dataroot)) --name \(shellQuoted(o.name)) --checkpoints-dir \(shellQuoted(o.checkpointsDir)) --resume")
        if e.exitCode == 0 {
            print("stopped at the time limit: \(trainer.runDir.path) (latest.safetensors; the page shows the completed epochs)")
            return
        }
        throw ExitCode(e.exitCode)
    }
    print("done: \(trainer.runDir.path)/index.html")
}

/// `s` as one shell word.
func shellQuoted(_ s: String) -> String {
    let plain = s.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }
    return plain && !s.isEmpty ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

public struct Apply: ParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Translate images with a trained generator.",
        discussion: """
        Inputs are files or folders (searched recursively; non-image files are skipped with a warning), \
        or a paired --dataroot whose targets are shown and scored (L1, PSNR). Outputs keep the input's \
        file names, folder structure and size; index.html shows input | output (| target).
        """)
    public init() {}

    @Option(help: "A checkpoint or exported model (.safetensors), or a run folder (uses its latest.safetensors).") var model: String
    @Option(parsing: .upToNextOption, help: "Image files or folders to translate.") var input: [String] = []
    @Option(help: "pix2pix: a paired dataset (aligned or A/ B/ folders) to translate and score against its targets. CycleGAN: a folder with testA/ and testB/ to translate both ways and score the cycle reconstruction.") var dataroot: String?
    @Option(help: "How pairs are stored in --dataroot: auto detects A/ + B/ folders (paired) or [A | B] images (aligned).") var datasetMode = DatasetMode.auto
    @Option(help: "The split of --dataroot to translate (the folder itself when it is a split).") var phase = "test"
    @Option(help: "Translate at most this many pairs of --dataroot (default: all).") var numTest: Int?
    @Option(help: "With a run folder as --model: the checkpoint to use, latest or an epoch number (epoch_N.safetensors).") var epoch: String?
    @Option(help: "CycleGAN: a-to-b runs G_A, b-to-a runs G_B. pix2pix with --dataroot: which side is the input (default: as trained).") var direction: Direction?
    @Option(help: "Folder for the results.") var output: String
    @Option(help: "Images per forward pass (images of the same size are batched).") var batchSize = 4
    @Option(help: "paper: batch statistics of each image and dropout on (the pix2pix protocol); eval: running statistics, no dropout.") var testMode: TestMode?
    @Option(help: "Seed for the dropout masks in paper mode.") var seed: UInt64 = 0
    @Option(help: "Resize inputs to this size first (square); by default images keep their size.") var loadSize: Int?
    @Option(help: "cIMLE and BicycleGAN models: outputs per input (written as <name>_s<k>.png; default 1), each from its own code. Layout models generate at their working size and resize each output to its input's size.") var samples: Int?
    @Flag(help: "BicycleGAN: the same --samples codes (or --interpolate ends) for every input, so that a column of the page shows one code.") var syncZ = false
    @Option(help: "BicycleGAN: an example target image; its encoded code (the encoder's mean) translates every input in its style.") var style: String?
    @Option(help: "BicycleGAN: K outputs per input from codes evenly spaced between two random codes (ends included).") var interpolate: Int?
    @Option(help: "Super-resolution models: generate inputs larger than N x N pixels in tiles of N x N (default 128), so that memory depends on the tile, not the photo; outputs equal untiled ones up to rounding.") var tile: Int?
    @Flag(help: "No progress output.") var quiet = false

    public func validate() throws {
        if let t = tile, t < 8 || t > 8192 { throw ValidationError("--tile must be between 8 and 8192, got \(t)") }
        if input.isEmpty && dataroot == nil { throw ValidationError("give --input FILE_OR_DIR... or --dataroot DIR") }
        if ![.auto, .aligned, .paired].contains(datasetMode) {
            throw ValidationError("--dataset-mode must be auto, aligned or paired (a CycleGAN model with --dataroot reads testA/ and testB/ by itself), got \(datasetMode.rawValue)")
        }
        if let n = numTest, n < 1 { throw ValidationError("--num-test must be at least 1, got \(n)") }
        if numTest != nil && dataroot == nil { throw ValidationError("--num-test goes with --dataroot") }
        if !input.isEmpty && dataroot != nil { throw ValidationError("--input and --dataroot cannot be combined") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if let s = loadSize, s < 1 { throw ValidationError("--load-size must be positive, got \(s)") }
        if let k = samples, k < 1 || k > 1000 { throw ValidationError("--samples must be between 1 and 1000, got \(k)") }
        if let k = interpolate, k < 2 || k > 1000 { throw ValidationError("--interpolate must be between 2 and 1000, got \(k)") }
        if style != nil {
            for (flag, given) in [("--samples", samples != nil), ("--sync-z", syncZ), ("--interpolate", interpolate != nil)] where given {
                throw ValidationError("--style and \(flag) cannot be combined: --style translates every input with the one code of the example")
            }
        }
        if interpolate != nil && samples != nil { throw ValidationError("--interpolate and --samples cannot be combined: --interpolate K already gives K outputs per input") }
    }

    /// The latent-code flags given (for refusing them on models without such codes).
    var latentFlags: [String] {
        [("--sync-z", syncZ), ("--style", style != nil), ("--interpolate", interpolate != nil)].filter(\.1).map(\.0)
    }

    /// Sets the codes a BicycleGAN-like sampler draws from the flags; returns the outputs per input.
    func configureCodes(_ sampler: CodeSampler) throws -> Int {
        guard var latent = sampler as? LatentCodeSampler else {
            if let flag = latentFlags.first {
                throw TranslateError.invalidFlag(flag: flag, reason: "needs a model with one latent code per output and an encoder (BicycleGAN); \(sampler.url.path) holds \(sampler.method.title), whose codes are noise maps")
            }
            return samples ?? 1
        }
        if let path = style {
            let url = URL(fileURLWithPath: path)
            guard FileManager.default.fileExists(atPath: url.path) else { throw TranslateError.notFound(path: url.path, what: "--style image") }
            let image: Image
            do { image = try ImageFile.read(url).image } catch {
                throw TranslateError.invalidFlag(flag: "--style", reason: "cannot read \(path): \(error)")
            }
            latent.codes = .style(code: try latent.styleCode(image, path: path), image: image)
            return 1
        }
        if let k = interpolate { latent.codes = .interpolate(synced: syncZ); return k }
        latent.codes = syncZ ? .synced : .random
        return samples ?? 1
    }

    public func run() throws {
        let model = try checkpointPath(model: self.model, epoch: epoch)
        let translator = try ModelFile.open(path: model).translator(direction: direction)
        if var sampler = translator as? CodeSampler {
            if let t = tile {
                guard sampler.superResolutionScale != nil else { throw TranslateError.invalidFlag(flag: "--tile", reason: "only super-resolution models generate in tiles") }
                sampler.tile = t
            }
            guard dataroot == nil else {
                throw TranslateError.invalidFlag(flag: "--dataroot", reason: "models that sample latent codes translate files or folders given with --input (use translate eval --dataroot to score them)")
            }
            try refuseGANFlags(sampler, loadSize: loadSize, direction: direction, testMode: testMode)
            let count = try configureCodes(sampler)
            let job = try SampleApplyJob(model: sampler, inputs: input, output: output, samples: count, seed: seed)
            job.quiet = quiet
            let r = try job.run()
            if !r.summary.isEmpty { print(r.summary) }
            if !r.failed.isEmpty { throw TranslateError.io(path: r.failed[0], reason: "\(r.failed.count) input(s) could not be translated; \(r.written) other(s) were written") }
            return
        }
        guard let generator = translator as? BatchTranslator else {
            throw TranslateError.badModel(path: translator.url.path, reason: "\(translator.method.title) cannot be applied by this version")
        }
        if tile != nil { throw TranslateError.invalidFlag(flag: "--tile", reason: "only super-resolution models generate in tiles") }
        if samples != nil {
            throw TranslateError.invalidFlag(flag: "--samples", reason: "only models that sample latent codes draw several outputs here; for pix2pix's dropout samples use translate eval --samples")
        }
        if let flag = latentFlags.first {
            throw TranslateError.invalidFlag(flag: flag, reason: "needs a model with a latent code and an encoder (BicycleGAN); \(generator.url.path) holds \(generator.method.title), which has none")
        }
        if let root = dataroot, generator.unpaired {
            let job = try CycleEvalJob(file: try ModelFile.open(path: model), dataroot: root, phase: phase, output: output, loadSize: loadSize,
                                       testMode: testMode, maxItems: numTest)
            let r = try job.run()
            guard Distribution.current.isRoot else { return }
            print(String(format: "cycle L1 (0-1 scale): A->B->A %.4f over %d, B->A->B %.4f over %d; open %@/index.html",
                         r.cycleL1["A"] ?? .nan, r.counts["A"] ?? 0, r.cycleL1["B"] ?? .nan, r.counts["B"] ?? 0, output))
            if !r.failed.isEmpty { throw TranslateError.io(path: r.failed[0], reason: "\(r.failed.count) test image(s) could not be read") }
            return
        }
        let job = try ApplyJob(generator: generator, inputs: input, dataroot: dataroot, datasetMode: datasetMode, phase: phase,
                               numTest: numTest, direction: direction, output: output, batchSize: batchSize, testMode: testMode,
                               seed: seed, loadSize: loadSize)
        job.quiet = quiet
        let summary = try job.run()
        if !summary.isEmpty { print(summary) }
    }
}

public struct Export: ParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Write a generator-only model file (optionally float16) from a checkpoint or run folder.")
    public init() {}
    @Option(help: "A checkpoint, or a run folder.") var model: String
    @Option(help: "The model file to write (.safetensors).") var output: String
    @Option(help: "CycleGAN: which generator (a-to-b = G_A, b-to-a = G_B).") var direction: Direction?
    @Flag(help: "Store weights as float16 (half the size).") var fp16 = false

    public func run() throws {
        let precision = fp16 ? "float16" : "float32"
        try refuseOverwriting(URL(fileURLWithPath: output), input: try ModelFile.resolve(model), flag: "--output")
        let t = try ModelFile.open(path: model).translator(direction: direction)
        try t.export(to: URL(fileURLWithPath: output), fp16: fp16)
        print("wrote \(t.summary), \(t.parameterCount) parameters, \(precision), from \(t.url.path) to \(output)")
    }
}

/// `--model` with `--epoch`: `latest` or `N` picks `latest.safetensors` or `epoch_N.safetensors`
/// of a run folder; without `--epoch` the path is used as it is.
func checkpointPath(model: String, epoch: String?) throws -> String {
    guard let epoch else { return model }
    let dir = URL(fileURLWithPath: model)
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
        throw TranslateError.invalidFlag(flag: "--epoch", reason: "needs a run folder as --model, and \(model) is not a folder")
    }
    let name: String
    if epoch == "latest" { name = "latest.safetensors" } else if let n = Int(epoch), n >= 0 { name = "epoch_\(n).safetensors" } else {
        throw TranslateError.invalidFlag(flag: "--epoch", reason: "must be latest or an epoch number, got '\(epoch)'")
    }
    let url = dir.appendingPathComponent(name)
    guard FileManager.default.fileExists(atPath: url.path) else {
        let have = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [])
            .compactMap { f -> Int? in f.hasPrefix("epoch_") && f.hasSuffix(".safetensors") ? Int(f.dropFirst(6).dropLast(12)) : nil }.sorted()
        throw TranslateError.invalidFlag(flag: "--epoch", reason: "\(url.path) does not exist; \(model) holds " +
            (have.isEmpty ? "no numbered checkpoints" : "epochs " + have.map(String.init).joined(separator: ", ")) + " and latest")
    }
    return url.path
}
