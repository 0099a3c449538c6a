import Foundation
import Tensors
import NN
import ImageIO
import Datasets

/// Where a model's outputs for one input vary from.
public enum NoiseSource: String, Sendable {
    /// Deterministic: one output per input.
    case none
    /// Dropout masks (pix2pix in paper test mode): the generator's only noise.
    case dropout
    /// Latent codes drawn per sample (conditional IMLE, BicycleGAN).
    case code
}

/// A trained generator as `apply`, `eval`, `export` and `info` see it, whatever its method
/// and task. Commands ask these properties (and the two capability protocols below), never
/// the method: a new method conforms here and in `ModelFile.translator`.
public protocol Translator: AnyObject {
    var url: URL { get }
    var method: Method { get }
    var metadata: [String: String] { get }
    /// The data the model was trained on: its task (with a layout's options), channels,
    /// direction, dataset mode and working (crop) size.
    var data: DataOptions { get }
    /// Whether (and from where) several outputs per input differ.
    var noise: NoiseSource { get }
    var defaultTestMode: TestMode { get }
    var parameterCount: Int { get }
    /// What `export` writes, e.g. "CycleGAN's G_B (netG_B, b-to-a)".
    var summary: String { get }
    /// Writes the generator alone (weights and buffers, optionally float16) with its configuration.
    func export(to url: URL, fp16: Bool) throws
}

extension Translator {
    public var task: ImageTask { data.task }
    /// Trained on unpaired domains (CycleGAN): scored by its cycle, not against targets.
    public var unpaired: Bool { data.mode == .unaligned }
}

/// A translator that maps a batch of network inputs to outputs in one pass (pix2pix, CycleGAN).
public protocol BatchTranslator: Translator {
    var inputNc: Int { get }
    var outputNc: Int { get }
    var netG: Module { get }
}

/// A translator that draws outputs from latent codes (cIMLE, BicycleGAN): for each input image, `count` samples
/// at the input's size (super-resolution: the scaled size), seeded by (seed, index) so any
/// subset is reproducible.
public protocol CodeSampler: Translator {
    /// How input files are read (as the task reads them: class-id labels as stored).
    var fileOptions: DataOptions { get }
    /// Samples of a task input at its size (not super-resolution), as images of `width` x `height`.
    func sampleImages(_ x: Tensor, width: Int, height: Int, count: Int, seed: UInt64, index: Int) throws -> [Image]
    /// Super-resolution models: the factor (their inputs are low-resolution images; `task` is
    /// then translation). Nil for the tasks whose outputs have the input's size.
    var superResolutionScale: Int? { get }
    /// Super-resolution: inputs larger than this many pixels a side are generated in tiles of
    /// it (nil: the model's automatic tile); memory then depends on the tile, not the image.
    var tile: Int? { get set }
    /// The input shown on pages, extra reference columns (super-resolution: bicubic) and the samples.
    func samples(for image: Image, path: String, count: Int, seed: UInt64, index: Int) throws
        -> (shown: Image, extra: [(String, Image)], samples: [Image])
    /// `count` outputs for a network input as the task's data makes it (a dataset sample).
    func sampleTensors(_ x: Tensor, count: Int, seed: UInt64, index: Int) throws -> [Tensor]
    /// The page's heading of output column k ("sample k" unless the codes say otherwise).
    func columnName(_ k: Int) -> String
}

extension CodeSampler {
    public func columnName(_ k: Int) -> String { "sample \(k)" }
}

/// A code sampler whose codes are one vector per output, with an encoder (BicycleGAN): the
/// codes can be synced across inputs, interpolated, or encoded from an example.
public protocol LatentCodeSampler: CodeSampler {
    /// The codes the samples use.
    var codes: LatentCodes { get set }
    /// The code of an example target image (`--style`); errors name the flag.
    func styleCode(_ image: Image, path: String) throws -> Tensor
}

extension ModelFile {
    /// The registry's one switch over methods: the translator of this file. `direction`
    /// picks CycleGAN's generator (a-to-b G_A, b-to-a G_B); the others ignore it.
    public func translator(direction: Direction? = nil) throws -> Translator {
        switch method {
        case .pix2pix, .cyclegan: return try LoadedGenerator(file: self, direction: direction)
        case .cimle: return try LoadedCIMLE(file: self)
        case .bicyclegan: return try LoadedBicycleGAN(file: self)
        }
    }

    /// A model file or run folder: the .safetensors file it means (a folder's
    /// model.safetensors, else its latest.safetensors).
    public static func resolve(_ path: String) throws -> URL {
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

    /// `ModelFile.open` of a file or run folder.
    public static func open(path: String) throws -> ModelFile { try open(try resolve(path)) }
}
