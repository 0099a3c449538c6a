import Foundation
import Tensors
import NN
import ImageIO
import Datasets

/// A cIMLE generator loaded from a checkpoint or exported model, ready to sample.
public final class LoadedCIMLE: CodeSampler {
    public let url: URL
    public let options: CIMLETrainOptions
    public let cimle: CIMLE
    public let metadata: [String: String]
    public var tile: Int?

    public var method: Method { .cimle }
    public var data: DataOptions { options.data }
    public var noise: NoiseSource { .code }
    public var defaultTestMode: TestMode { .eval }
    public var parameterCount: Int { cimle.netG.parameterCount }
    public var cimleTask: CIMLETask { options.model.task }
    public var superResolutionScale: Int? { cimleTask.upsamples ? options.model.scale : nil }
    public var summary: String { "the cIMLE generator (netG, \(taskTitle))" }

    public convenience init(path: String) throws {
        try self.init(file: try ModelFile.open(path: path))
    }

    public init(file m: ModelFile) throws {
        try m.require(.cimle, for: "this cIMLE command")
        url = m.url
        metadata = m.metadata
        let o = try m.options(CIMLETrainOptions.self)
        options = o
        var rng = RNG(seed: 0)
        do { cimle = try CIMLE(config: o.model, lpips: nil, rng: &rng) } catch {
            throw TranslateError.badModel(path: url.path, reason: "\(error)")
        }
        do { try cimle.netG.loadStateDict(m.file.byName, prefix: "netG.", strict: false) } catch {
            throw TranslateError.badModel(path: url.path, reason: "generator weights do not fit its configuration: \(error)")
        }
    }

    /// "x4 super-resolution", "layout to image", ...
    public var taskTitle: String {
        cimleTask.imageTask?.title ?? "x\(options.model.scale) super-resolution"
    }

    /// How input files are read: as the task reads them (class-id label maps as stored, one
    /// channel); super-resolution's as RGB.
    public var fileOptions: DataOptions {
        guard let task = cimleTask.imageTask else { return DataOptions(mode: .single, preprocess: .none, flip: false) }
        return task.definition.fileOptions(model: data, inputNc: 3)
    }

    /// The side the image-conditioned tasks work at (the training crop size).
    var workingSide: Int { options.data.cropSize }

    /// `count` samples of a network input, seeded by (seed, index) so any subset is reproducible.
    public func sampleTensors(_ x: Tensor, count: Int, seed: UInt64, index: Int) throws -> [Tensor] {
        var rng = RNG(seed: seed &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15)
        return try cimle.samples(x, count: count, rng: &rng, tile: tile)
    }

    /// Super-resolution: the image itself is the input and samples are `scale` times larger.
    /// The other tasks: the task's input of the image at the working side (the training crop
    /// size; layouts have their own), samples made images of the input's size by the task
    /// (colorization joins the resized ab with the image's own L).
    public func samples(for img: Image, path: String, count: Int, seed: UInt64, index: Int) throws
        -> (shown: Image, extra: [(String, Image)], samples: [Image]) {
        guard let task = cimleTask.imageTask?.definition else {
            let rgb = img.converted(toChannels: 3)
            let outs = try sampleTensors(rgb.tensor(), count: count, seed: seed, index: index).map { try Image(tensor: $0) }
            let bicubic = rgb.resized(width: outs[0].width, height: outs[0].height, filter: .bicubic)
            return (img, [("bicubic", bicubic)], outs)
        }
        let x = try task.input(image: img, path: path, model: data)
        let outs = try sampleImages(x, width: img.width, height: img.height, count: count, seed: seed, index: index)
        return (try task.display(x, isInput: true, lightness: nil, index: 0, options: data), [], outs)
    }

    /// `count` samples of the task input `x` (at its size, as `ImageDataset.load` or the
    /// task's `input(image:)` gives it) made at the working side, as images of `width` x `height`.
    public func sampleImages(_ x: Tensor, width: Int, height: Int, count: Int, seed: UInt64, index: Int) throws -> [Image] {
        let task = data.taskDefinition
        return try sampleTensors(try task.networkInput(x, side: workingSide, model: data), count: count, seed: seed, index: index).map {
            try task.outputImage($0, index: 0, input: x, width: width, height: height, model: data)
        }
    }

    /// Exports the generator alone with its configuration.
    public func export(to out: URL, fp16: Bool) throws {
        var meta = metadata.filter { ["config", "epoch", "steps"].contains($0.key) }
        meta["kind"] = Method.cimle.kindField(generatorOnly: true)
        try SafeTensors.write(cimle.netG.stateDict(prefix: "netG."), metadata: meta, to: out, dtype: fp16 ? .f16 : .f32)
    }
}
