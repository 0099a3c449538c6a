import ArgumentParser
import Foundation
import Tensors
import Datasets
import Pipelines
import Evaluation
import Perceptual

/// `translate eval`.
public struct Eval: ParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Measure fidelity, diversity and mode collapse of a model, or compare two folders of images.",
        discussion: """
        With --model and --dataroot, draws --samples outputs per input of the --phase split (pix2pix: \
        dropout is the noise source in paper test mode; CycleGAN: testA/ -> B, deterministic) and reports \
        L1, MSE, PSNR, SSIM and LPIPS (AlexNet, v0.1 or --lpips-version 0.0) against the targets, best-of-k fidelity, pairwise \
        LPIPS/L1 between samples of the same input, the birthday-paradox test per input and across \
        the output set, and nearest-training-neighbour distances. With --pred and --target, compares \
        two folders matched by relative name (several samples per target as <name>_s<k>.png or \
        <name>/*.png). Writes metrics.json and index.html into --output. With --model given several \
        times, evaluates every model on the same inputs with the same protocol (seed, samples, \
        duplicate threshold) into --output/<model>/ and writes a side-by-side report into --output.
        """)
    public init() {}

    @Option(help: "A translate model (.safetensors, or a folder with model.safetensors / latest.safetensors); repeat to compare models.") var model: [String] = []
    @Option(help: "Dataset folder: a paired split under <dataroot>/<phase> (pix2pix) or <phase>A/, <phase>B/ (CycleGAN).") var dataroot: String?
    @Option(help: "The evaluated split.") var phase = "test"
    @Option(help: "Training split for the memorisation check ('none' to skip).") var trainPhase = "train"
    @Option(help: "Folder of predictions (without --model).") var pred: String?
    @Option(help: "Folder of targets matching --pred by relative name.") var target: String?
    @Option(help: "With --pred: a folder of training images for the memorisation check.") var train: String?
    @Option(help: "Samples per input (20 is the BicycleGAN diversity protocol).") var samples = 20
    @Option(help: "Folder for metrics.json and index.html.") var output = "results/eval"
    @Option(help: "pix2pix: which side is the input (default: as trained); CycleGAN: a-to-b runs G_A on testA/.") var direction: Direction?
    @Option(help: "paper: dropout on, per-image batch statistics; eval: running statistics, no dropout (default: the model's).") var testMode: TestMode?
    @Option(help: "Images per forward pass while sampling.") var batchSize = 8
    @Option(name: [.customLong("max-inputs"), .customLong("num-test")], help: "Evaluate only the first N inputs (--num-test is the reference's name).") var maxInputs: Int?
    @Option(help: "Resize inputs and targets to this square size first.") var loadSize: Int?
    @Option(help: "Seed for the sampling noise and the random batches of the birthday test.") var seed: UInt64 = 0
    @Option(help: "Side (pixels) at which images of different inputs are compared (set-level birthday test, nearest neighbours).") var nnSize = 128
    @Option(help: "Fixed duplicate threshold (LPIPS) instead of the one calibrated on the real images.") var dupThreshold: Float?
    @Option(help: "Super-resolution scale: also report PSNR on the Y channel with this many border pixels cropped.") var scale: Int?
    @Option(help: "LPIPS weights (default: the shipped models/lpips_alexnet/model.safetensors).") var lpipsWeights: String?
    @Option(help: "LPIPS version: 0.1, or 0.0 (the version of BicycleGAN's published diversity numbers).") var lpipsVersion: LPIPSVersion = .v0_1
    @Option(help: "Inputs shown in the page's image grid.") var show = 12
    @Flag(help: "No progress output.") var quiet = false

    public func validate() throws {
        let modelMode = !model.isEmpty || dataroot != nil
        let folderMode = pred != nil || target != nil
        if modelMode && folderMode { throw ValidationError("use either --model with --dataroot, or --pred with --target") }
        if !modelMode && !folderMode { throw ValidationError("give --model PATH --dataroot DIR, or --pred DIR --target DIR") }
        if modelMode && (model.isEmpty || dataroot == nil) { throw ValidationError("--model and --dataroot go together") }
        if folderMode && (pred == nil || target == nil) { throw ValidationError("--pred and --target go together") }
        if train != nil && !folderMode { throw ValidationError("--train is for --pred/--target; with --model use --train-phase") }
        if samples < 1 || samples > 1000 { throw ValidationError("--samples must be between 1 and 1000, got \(samples)") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if let m = maxInputs, m < 1 { throw ValidationError("--max-inputs must be at least 1, got \(m)") }
        if let s = loadSize, s < 32 { throw ValidationError("--load-size must be at least 32 (LPIPS), got \(s)") }
        if nnSize < 32 { throw ValidationError("--nn-size must be at least 32 (LPIPS), got \(nnSize)") }
        if let t = dupThreshold, !(t >= 0) { throw ValidationError("--dup-threshold must be a non-negative LPIPS value, got \(t)") }
        if let s = scale, s < 1 { throw ValidationError("--scale must be at least 1, got \(s)") }
        if show < 0 { throw ValidationError("--show must not be negative, got \(show)") }
    }

    public func run() throws {
        // Under mpirun the inputs are sharded across the ranks (EvalJob.run); only rank 0 reports.
        let root = Distribution.current.isRoot
        var config = EvalConfig()
        config.nnSize = nnSize
        config.duplicateThreshold = dupThreshold
        config.srScale = scale
        config.seed = seed
        config.lpipsVersion = lpipsVersion
        if model.count > 1 {
            let models = try EvalComparison.open(model, direction: direction)
            // Best-of-k at every k up to the sample count, so that the curves of several models can be read off at any k.
            if samples <= 50 { config.ks = Array(1...samples) }
            let comparison = EvalComparison(models: models, output: URL(fileURLWithPath: output)) { translator, out in
                try self.job(for: translator, config: config, output: out)
            }
            comparison.quiet = quiet
            let r = try comparison.run()
            guard root else { return }
            print(r.summary)
            if !r.failed.isEmpty {
                throw TranslateError.io(path: r.failed[0], reason: "\(r.failed.count) input(s) could not be evaluated (the report covers the others)")
            }
            return
        }
        let job: EvalJob
        if let path = model.first {
            job = try self.job(for: try ModelFile.open(path: path).translator(direction: direction), config: config, output: output)
        } else {
            job = try EvalJob(predictions: pred!, targets: target!, train: train, config: config, lpipsWeights: lpipsWeights,
                              output: output, shownInputs: show)
        }
        job.quiet = quiet
        let r = try job.run()
        guard root else { return }
        print(r.summary)
        if !r.failed.isEmpty {
            throw TranslateError.io(path: r.failed[0], reason: "\(r.failed.count) input(s) could not be evaluated (the report covers the others)")
        }
    }

    /// The evaluation of one model on --dataroot, written into `output`.
    func job(for translator: Translator, config: EvalConfig, output: String) throws -> EvalJob {
        let dataroot = dataroot!
        let job: EvalJob
        if let sampler = translator as? CodeSampler {
            try refuseGANFlags(sampler, loadSize: loadSize, direction: direction, testMode: testMode)
            job = try EvalJob(sampler: sampler, dataroot: dataroot, phase: phase, trainPhase: trainPhase == "none" ? nil : trainPhase,
                              samples: samples, maxInputs: maxInputs, config: config, lpipsWeights: lpipsWeights,
                              output: output, shownInputs: show)
        } else {
            guard let g = translator as? BatchTranslator else {
                throw TranslateError.badModel(path: translator.url.path, reason: "\(translator.method.title) cannot be evaluated by this version")
            }
            job = try EvalJob(generator: g, dataroot: dataroot, phase: phase, trainPhase: trainPhase == "none" ? nil : trainPhase,
                              direction: direction, samples: samples, batchSize: batchSize, testMode: testMode,
                              maxInputs: maxInputs, loadSize: loadSize, config: config, lpipsWeights: lpipsWeights,
                              output: output, shownInputs: show)
        }
        job.quiet = quiet
        return job
    }
}

extension LPIPSVersion: ExpressibleByArgument {
    /// "0.0", "0.1", also spelled "v0.0", "v0.1".
    public init?(argument: String) {
        self.init(rawValue: argument.hasPrefix("v") ? String(argument.dropFirst()) : argument)
    }
}
