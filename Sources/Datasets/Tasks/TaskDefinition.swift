import Foundation
import ImageIO
import Tensors

/// Everything a task does with data, in one place: a task is one type conforming to this
/// protocol (one file in `Tasks/`) plus its line in `ImageTask.definition`.
///
/// The defaults are paired image translation's: images in and out, read as the files are,
/// preprocessed as the reference (resize, crop, flip) and shown as they are. A task
/// overrides what it does differently. Every requirement gets the run's or the model's
/// `DataOptions`, which carry the task's own settings (`DataOptions.layout` for layouts).
///
/// What the commands ask of a task:
/// - training: `prepare` (the data options the task fixes), `validate`, `trainingLayout`
///   (where its files are), `checkListed`, then `sample` per item;
/// - apply and eval: `heldOut` (a split with targets), `fileOptions` + `fileInput` (inputs
///   given as files), `input(image:)` (one decoded image), `networkInput` (to a working
///   side), `outputImage` (a network output as an image of the input's size), `display`.
public protocol TaskDefinition: Sendable {
    /// What the task is, for pages and messages ("image translation").
    var title: String { get }
    /// What one item is, in the plural ("pairs", "photos", "layouts").
    var items: String { get }
    /// What an input is called on pages ("input", "layout").
    var inputName: String { get }
    /// Whether the reference's preprocessing (--load-size, --crop-size, --preprocess) applies.
    var resizes: Bool { get }
    /// The channels the task fixes (nil: --input-nc / --output-nc choose).
    func fixedChannels(_ o: DataOptions) -> (input: Int, output: Int)?

    /// Sets what the task fixes in `o` (mode, channels, preprocessing), from its own settings.
    func prepare(_ o: inout DataOptions)
    /// Checks `o` for this task (channels, mode, its own settings); errors name the flag.
    func validate(_ o: DataOptions) throws
    /// The working size of the network's input, and the flag that sets it.
    func workingSize(_ o: DataOptions) -> (width: Int, height: Int, flag: String)
    /// Where the training data under `root` is for `phase` (the mode resolved).
    func trainingLayout(root: URL, phase: String, options o: DataOptions) throws -> DatasetLayout
    /// Checks on a listed dataset before anything is decoded (`firstFile`: its first input file).
    func checkListed(_ o: DataOptions, firstFile: String) throws

    /// Training sample of item `index`; all randomness from `rng`.
    func sample(_ ds: ImageDataset, _ index: Int, rng: inout RNG) throws -> Sample
    /// Inference sample of item `index` at its decoded size (no preprocessing).
    func load(_ ds: ImageDataset, _ index: Int) throws -> Sample

    /// The data options and layout of a held-out split with targets (apply --dataroot, eval),
    /// read at its decoded size as `load` reads it; `model`: the model's data options;
    /// `mode` and `direction`: as given (or the model's).
    func heldOut(root: URL, phase: String, model o: DataOptions, mode: DatasetMode, direction: Direction,
                 maxItems: Int?) throws -> (options: DataOptions, layout: DatasetLayout)
    /// How input files (apply --input) are read for a model with data options `o`.
    func fileOptions(model o: DataOptions, inputNc: Int) -> DataOptions
    /// A sample read with `fileOptions` made the model's input (layouts: label map to one-hot).
    func fileInput(_ s: Sample, model o: DataOptions) throws -> Sample
    /// The network input of one decoded image at its size (`path` names it in errors).
    func input(image: Image, path: String, model o: DataOptions) throws -> Tensor
    /// `x` (a `load`ed or `input(image:)` input) at the working side `side` (nil: as it is).
    func networkInput(_ x: Tensor, side: Int?, model o: DataOptions) throws -> Tensor
    /// Item `index` of the network output `y` as an image of `width` x `height`, `input`
    /// being the input `y` was made from at that size (colorization takes its L).
    func outputImage(_ y: Tensor, index: Int, input: Tensor, width: Int, height: Int, model o: DataOptions) throws -> Image
    /// A tensor of this task's data as an image for pages (`isInput`: the network's input side;
    /// `lightness`: colorization's L for an ab tensor).
    func display(_ t: Tensor, isInput: Bool, lightness: Tensor?, index: Int, options o: DataOptions) throws -> Image
    /// Why `--load-size` cannot be given at inference (nil: it can).
    func fixedSizeReason(model o: DataOptions) -> String?
}

extension TaskDefinition {
    public var resizes: Bool { true }
    public var inputName: String { "input" }
    public func fixedChannels(_ o: DataOptions) -> (input: Int, output: Int)? { nil }
    public func prepare(_ o: inout DataOptions) {}

    public func validate(_ o: DataOptions) throws {
        guard [1, 3].contains(o.inputNc) else { throw DatasetError.invalidOptions("--input-nc must be 1 or 3, got \(o.inputNc)") }
        guard [1, 3].contains(o.outputNc) else { throw DatasetError.invalidOptions("--output-nc must be 1 or 3, got \(o.outputNc)") }
    }

    public func workingSize(_ o: DataOptions) -> (width: Int, height: Int, flag: String) { (o.cropSize, o.cropSize, "--crop-size") }

    public func trainingLayout(root: URL, phase: String, options o: DataOptions) throws -> DatasetLayout {
        switch o.mode {
        case .unaligned: return try DatasetLayout.unpaired(root: root, phase: phase)
        case .single:
            let phaseDir = root.appendingPathComponent(phase)
            return DatasetLayout(mode: .single, folder: FileManager.default.fileExists(atPath: phaseDir.path) ? phaseDir : root, detected: false)
        case .auto, .aligned, .paired: return try DatasetLayout.paired(root: root, phase: phase, mode: o.mode)
        }
    }

    public func checkListed(_ o: DataOptions, firstFile: String) throws {}

    /// Decodes, preprocesses (`ImageDataset.params`/`transform`, shared by input and target)
    /// and makes tensors with `tensors`.
    public func sample(_ ds: ImageDataset, _ index: Int, rng: inout RNG) throws -> Sample {
        var (input, target, inPath, tgtPath) = try images(ds, index)
        let (ow, oh) = (input.width, input.height)
        let p = try ds.params(width: ow, height: oh, path: inPath, rng: &rng)
        input = try ds.transform(input, p)
        target = try target.map { try ds.transform($0, p) }
        return tensors(input, target, inPath, tgtPath, ow, oh)
    }

    public func load(_ ds: ImageDataset, _ index: Int) throws -> Sample {
        let (input, target, inPath, tgtPath) = try images(ds, index)
        return tensors(input, target, inPath, tgtPath, input.width, input.height)
    }

    /// Input and target images of item `index` after direction and channel conversion.
    func images(_ ds: ImageDataset, _ index: Int) throws -> (Image, Image?, String, String?) {
        let (a, b, pa, pb) = try ds.directedSides(index)
        return (ds.channels(a, ds.options.inputNc, path: pa), b.map { ds.channels($0, ds.options.outputNc, path: pb ?? pa) }, pa, pb)
    }

    /// The sample of (preprocessed) images.
    func tensors(_ input: Image, _ target: Image?, _ inPath: String, _ tgtPath: String?, _ ow: Int, _ oh: Int) -> Sample {
        Sample(input: input.tensor(), target: target?.tensor(), inputPath: inPath, targetPath: tgtPath, originalWidth: ow, originalHeight: oh)
    }

    public func heldOut(root: URL, phase: String, model o: DataOptions, mode: DatasetMode, direction: Direction,
                        maxItems: Int?) throws -> (options: DataOptions, layout: DatasetLayout) {
        let layout = try DatasetLayout.paired(root: root, phase: phase, mode: mode, cycleGANCommand: "a CycleGAN model (--input, with --direction)")
        let d = DataOptions(mode: layout.mode, direction: direction, preprocess: .none, flip: false,
                            inputNc: o.inputNc, outputNc: o.outputNc, maxItems: maxItems)
        return (d, layout)
    }

    public func fileOptions(model o: DataOptions, inputNc: Int) -> DataOptions {
        DataOptions(mode: .single, direction: .aToB, preprocess: .none, flip: false, inputNc: inputNc, outputNc: o.outputNc)
    }

    public func fileInput(_ s: Sample, model o: DataOptions) throws -> Sample { s }

    public func input(image: Image, path: String, model o: DataOptions) throws -> Tensor {
        image.converted(toChannels: o.inputNc).tensor()
    }

    public func networkInput(_ x: Tensor, side: Int?, model o: DataOptions) throws -> Tensor {
        guard let s = side, x.shape[2] != s || x.shape[3] != s else { return x }
        return try Image(tensor: x).resized(width: s, height: s, filter: .bicubic).tensor()
    }

    public func outputImage(_ y: Tensor, index: Int, input: Tensor, width: Int, height: Int, model o: DataOptions) throws -> Image {
        let img = try Image(tensor: y, index: index)
        return img.width == width && img.height == height ? img : img.resized(width: width, height: height, filter: .bicubic)
    }

    public func display(_ t: Tensor, isInput: Bool, lightness: Tensor?, index: Int, options o: DataOptions) throws -> Image {
        try Image(tensor: t, index: index)
    }

    public func fixedSizeReason(model o: DataOptions) -> String? { nil }
}

/// Paired image translation: the defaults.
public struct TranslationTask: TaskDefinition {
    public init() {}
    public var title: String { "image translation" }
    public var items: String { "pairs" }
}
