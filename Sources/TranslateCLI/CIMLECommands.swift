import ArgumentParser
import Foundation
import Tensors
import ImageIO
import Datasets
import Pipelines
import Perceptual

extension CIMLESelection: ReferenceSpelled {}
extension LabelFormat: ReferenceSpelled {}

/// The flags of every cIMLE training command (the run flags, rounds, pool, selection, distance, generator).
public struct CIMLEFlags: ParsableArguments {
    public init() {}
    @OptionGroup var run: RunFlags
    @Option(help: "Rounds: each draws a fresh pool, chooses codes, then trains on it (with --resume: continue up to this many).") var rounds = 20
    @Option(help: "Pool items per round.") var poolSize = 128
    @Option(help: "Optimiser visits per pool item per round.") var visits = 25
    @Option(help: "Items per optimiser step (default: 16 for super-resolution, 4 for the other tasks).") var batchSize: Int?
    @Option(help: "Code selection: hierarchical (level by level) or flat.") var selection = CIMLESelection.hierarchical
    @Option(help: "Flat selection: codes drawn per pool item.") var candidates = 20
    @Option(help: "Hierarchical selection: codes per level, coarse to fine, comma-separated (default: 16 at the coarsest, halving, at least 4).") var levelCandidates: String?
    @Option(help: "Weight of LPIPS-AlexNet in the distance/loss (0: pixel only; default 0.1 for super-resolution, 1 for layouts and pairs, 0 for colorization).") var lpipsWeight: Float?
    @Option(help: "Weight of the multi-scale pixel L1 in the distance/loss.") var l1Weight: Float = 1
    @Option(help: "Noise channels concatenated at every level.") var noiseChannels: Int?
    @Option(help: "Feature widths per level, coarse to fine, comma-separated.") var widths: String?
    @Option(help: "Residual blocks at the coarsest level.") var resBlocks: Int?
    @Option(help: "Adam learning rate (constant).") var lr: Float = 1e-4

    func ints(_ s: String, _ flag: String) throws -> [Int] {
        let v = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ ($0 ?? 0) > 0 }) else { throw ValidationError("\(flag) must be comma-separated positive integers, got '\(s)'") }
        return v.map { $0! }
    }

    /// The options these flags make are checked by each command with the trainer's own check;
    /// here only what must parse.
    public func validate() throws {
        if let w = widths { _ = try ints(w, "--widths") }
        if let c = levelCandidates { _ = try ints(c, "--level-candidates") }
    }

    /// Fills the shared settings into options whose model has its task defaults.
    func fill(_ o: inout CIMLETrainOptions) throws {
        run.fill(&o)
        o.epochs = rounds; o.epochsDecay = 0; o.lrPolicy = .constant
        if let b = batchSize { o.batchSize = b }
        var m = o.model
        if let w = widths {
            m.widths = try ints(w, "--widths")
            guard m.widths.count == m.levels else {
                throw TranslateError.invalidFlag(flag: "--widths", reason: "needs \(m.levels) values (one per level), got \(m.widths.count)")
            }
        }
        if let n = noiseChannels { m.noiseChannels = n }
        if let r = resBlocks { m.resBlocks = r }
        if let w = lpipsWeight { m.lpipsWeight = w }
        m.l1Weight = l1Weight; m.lr = lr
        m.selection = selection; m.candidates = candidates
        m.poolSize = poolSize; m.visits = visits
        if let c = levelCandidates {
            m.levelCandidates = try ints(c, "--level-candidates")
            guard m.levelCandidates.count == m.levels else {
                throw TranslateError.invalidFlag(flag: "--level-candidates", reason: "needs \(m.levels) values (one per level), got \(m.levelCandidates.count)")
            }
        } else {
            m.levelCandidates = (0..<m.levels).map { max(4, 16 >> $0) }
        }
        o.model = m
    }

    var dataroot: String { run.dataroot }
    var name: String { run.name }
    var resume: Bool { run.resume }
    var quiet: Bool { run.quiet }

    /// `command`: the subcommand after `translate train` (for the line that continues a stopped run).
    func run(_ o: CIMLETrainOptions, what: String, command: String) throws {
        let t = try CIMLETrainer(options: o, resume: resume)
        if resume { try t.extend(toEpochs: rounds) }
        let m = t.options.model
        try runTraining(t, flags: run, saveLatestFreq: 0, command: command, unit: "round",
                        describe: "training cIMLE \(what) on \(t.dataset.count) images; G \(t.model.cimle.netG.parameterCount) parameters, \(m.levels) levels, \(m.noiseChannels) noise channels per level; distance \(m.l1Weight) x L1 + \(m.lpipsWeight) x LPIPS; \(m.selection.rawValue) selection")
    }
}

public struct TrainCIMLESR: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cimle-sr",
        abstract: "Train conditional IMLE super-resolution (several plausible high-resolution images per input).",
        discussion: """
        Trains on high-resolution images (e.g. ../shared/datasets/sr/T91): random patches, low-resolution \
        inputs made by PIL-exact bicubic downscaling. Each round draws --pool-size patches, picks for each \
        the noise code whose output is nearest its target (LPIPS + multi-scale L1), then trains --visits \
        passes with codes fixed. Outputs are projected so that their bicubic downscale equals the input.
        """)
    public init() {}
    @OptionGroup var common: CIMLEFlags
    @Option(help: "Upscaling factor (a power of two).") var scale = 4
    @Option(help: "Side of the high-resolution training patches.") var patchSize = 64
    @Option(help: "Redraw training crops with less detail than this (mean absolute difference, 0-1, between a crop and the bicubic upscale of its downscale; up to 10 crops, the most detailed kept): 0.01 skips flat sky and defocused backgrounds. 0 keeps every crop.") var minPatchDetail: Float = 0
    @Flag(help: "Do not project outputs onto the images consistent with the input.") var noConsistency = false

    public func validate() throws {
        if scale < 2 || scale & (scale - 1) != 0 || scale > 16 { throw ValidationError("--scale must be 2, 4, 8 or 16, got \(scale)") }
        if patchSize < 32 || patchSize % scale != 0 { throw ValidationError("--patch-size must be at least 32 and a multiple of --scale, got \(patchSize)") }
        try trainOptions.validate()
    }

    public var trainOptions: CIMLETrainOptions {
        get throws {
            let levels = scale.trailingZeroBitCount + 1
            var m = CIMLEConfig(task: .superResolution, inputNc: 3, levels: levels,
                                widths: (0..<levels).map { max(32, 64 - 16 * $0) }, noiseChannels: 5)
            m.scale = scale; m.resBlocks = 4; m.consistency = !noConsistency; m.lpipsWeight = 0.1
            var o = CIMLETrainOptions(dataroot: common.dataroot, name: common.name, model: m)
            o.batchSize = 16
            o.cimleData.patchSize = patchSize
            o.cimleData.minPatchDetail = minPatchDetail
            try common.fill(&o)
            return o
        }
    }

    public func run() throws { try common.run(try trainOptions, what: "x\(scale) super-resolution", command: Self.configuration.commandName ?? "") }
}

public struct TrainCIMLELayout: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cimle-layout",
        abstract: "Train conditional IMLE layout-to-image synthesis (several images per label map).",
        discussion: """
        Class-id labels (CamVid: <dataroot>/train/*.jpg with <dataroot>/trainannot/*.png) or colour-coded \
        labels quantised to a palette fitted on the training labels (facades: aligned [photo | labels], \
        --label-format palette --direction b-to-a). One-hot labels plus noise at every level of a \
        cascaded-refinement generator, at --width x --height.
        """)
    public init() {}
    @OptionGroup var common: CIMLEFlags
    @OptionGroup var layout: LayoutFlags
    @Option(help: "Resolution levels.") var levels = 5
    @Option(help: "palette format (aligned files): b-to-a when the label map is the right half (facades).") var direction = Direction.bToA
    @Flag(help: "No random horizontal flips.") var noFlip = false

    public func validate() throws {
        if levels < 2 || levels > 8 { throw ValidationError("--levels must be between 2 and 8, got \(levels)") }
        let m = 1 << (levels - 1)
        if layout.width < 32 || layout.height < 32 || layout.width % m != 0 || layout.height % m != 0 {
            throw ValidationError("--width and --height must be at least 32 and divisible by \(m) (2^(levels-1)), got \(layout.width)x\(layout.height)")
        }
        try trainOptions.validate()
    }

    public var trainOptions: CIMLETrainOptions {
        get throws {
            var m = CIMLEConfig(task: .image(.layout), inputNc: layout.numClasses, levels: levels,
                                widths: (0..<levels).map { max(32, 128 >> max(0, $0 - 1)) }, noiseChannels: 8)
            m.resBlocks = 1; m.lpipsWeight = 1
            var o = CIMLETrainOptions(dataroot: common.dataroot, name: common.name, model: m)
            o.batchSize = 4
            o.setLayout(layout.options, direction: direction, flip: !noFlip)
            try common.fill(&o)
            return o
        }
    }

    public func run() throws {
        var o = try trainOptions
        if !common.resume { try o.data.fitPalette(root: o.dataroot, phase: o.phase, seed: o.seed) }
        try common.run(o, what: "layout-to-image", command: Self.configuration.commandName ?? "")
    }
}

/// The image flags of cIMLE on pairs and photos: pix2pix's preprocessing, declared once in
/// `PreprocessFlags`, plus the generator's depth.
public struct CIMLEImageFlags: ParsableArguments {
    public init() {}
    @OptionGroup var preprocessing: PreprocessFlags
    @Option(help: "Resolution levels (the crop size must be divisible by 2^(levels-1)).") var levels = 5

    public func validate() throws {
        if levels < 2 || levels > 8 { throw ValidationError("--levels must be between 2 and 8, got \(levels)") }
        let m = 1 << (levels - 1)
        if ![.resizeAndCrop, .crop].contains(preprocessing.preprocess) {
            throw ValidationError("--preprocess must be resize-and-crop or crop for cIMLE (a pool's items share one size), got \(preprocessing.preprocess.rawValue)")
        }
        if preprocessing.cropSize < 32 || preprocessing.cropSize % m != 0 {
            throw ValidationError("--crop-size must be at least 32 and divisible by \(m) (2^(levels-1)), got \(preprocessing.cropSize)")
        }
    }

    /// The run of cIMLE on `task` with these flags: the task's data (pix2pix's preprocessing)
    /// and a cascade generator for its full-size condition, as for layouts. LPIPS (weight 1)
    /// joins the distance when the outputs are RGB.
    func trainOptions(_ task: ImageTask, common: CIMLEFlags, mode: DatasetMode, direction: Direction) throws -> CIMLETrainOptions {
        let data = preprocessing.dataOptions(mode: mode, direction: direction, inputNc: 3, outputNc: 3).with(task: task)
        var m = CIMLEConfig(task: .image(task), inputNc: data.inputNc, levels: levels, widths: (0..<levels).map { max(32, 128 >> max(0, $0 - 1)) }, noiseChannels: 8)
        m.outputNc = data.outputNc; m.resBlocks = 1; m.lpipsWeight = data.outputNc == 3 ? 1 : 0
        var o = CIMLETrainOptions(dataroot: common.dataroot, name: common.name, model: m)
        o.batchSize = 4
        o.data = data
        try common.fill(&o)
        return o
    }
}

public struct TrainCIMLE: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cimle",
        abstract: "Train conditional IMLE on paired images (several outputs per input), with pix2pix's data.",
        discussion: """
        --dataroot is a pix2pix dataset: a <phase>/ split (or the folder itself) of aligned [A | B] images or \
        A/ and B/ folders, detected as for train pix2pix. Pairs are resized, cropped and flipped as for \
        pix2pix; each round draws --pool-size of them, picks for each the noise code whose output is \
        nearest its target (LPIPS + multi-scale L1), then trains --visits passes with codes fixed.
        """)
    public init() {}
    @OptionGroup var common: CIMLEFlags
    @OptionGroup var image: CIMLEImageFlags
    @Option(help: "How pairs are stored: auto detects A/ + B/ folders (paired) or [A | B] images (aligned).") var datasetMode = DatasetMode.auto
    @Option(help: "a-to-b translates A into B.") var direction = Direction.aToB

    public func validate() throws {
        if ![.auto, .aligned, .paired].contains(datasetMode) {
            throw ValidationError("--dataset-mode must be auto, aligned or paired (cIMLE needs pairs), got \(datasetMode.rawValue)")
        }
        try trainOptions.validate()
    }

    public var trainOptions: CIMLETrainOptions {
        get throws {
            try image.trainOptions(.translation, common: common, mode: datasetMode, direction: direction)
        }
    }

    public func run() throws { try common.run(try trainOptions, what: "image translation", command: Self.configuration.commandName ?? "") }
}

public struct TrainCIMLEColorization: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cimle-colorization",
        abstract: "Train conditional IMLE colorization: many plausible colourings (ab) of each gray image (L), in CIE Lab.",
        discussion: """
        --dataroot holds colour photos, found as for train colorization (a <phase>/ folder, <phase>A/ and \
        <phase>B/, or the photos themselves). Photos are resized, cropped and flipped as for pix2pix, then \
        split into L (the input) and ab (the target). The distance is the multi-scale L1 on ab (LPIPS \
        needs RGB). translate apply colours gray or colour photos at their size (ab resized, the photo's L kept).
        """)
    public init() {}
    @OptionGroup var common: CIMLEFlags
    @OptionGroup var image: CIMLEImageFlags

    public func validate() throws { try trainOptions.validate() }

    public var trainOptions: CIMLETrainOptions {
        get throws {
            try image.trainOptions(.colorization, common: common, mode: .single, direction: .aToB)
        }
    }

    public func run() throws { try common.run(try trainOptions, what: "colorization", command: Self.configuration.commandName ?? "") }
}
