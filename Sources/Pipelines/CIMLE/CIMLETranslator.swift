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
        cimleTask.upsamples ? "x\(options.model.scale) super-resolution" : (cimleTask.imageTask?.title ?? cimleTask.rawValue)
    }

    /// Class-id label maps are read as stored (one channel); everything else as RGB.
    public var inputChannels: Int { data.task == .layout && data.layout?.labelFormat == .ids ? 1 : 3 }

    /// The side the image-conditioned tasks work at (the training crop size).
    var workingSide: Int { options.data.cropSize }

    /// `count` samples of a network input, seeded by (seed, index) so any subset is reproducible.
    public func sampleTensors(_ x: Tensor, count: Int, seed: UInt64, index: Int) throws -> [Tensor] {
        var rng = RNG(seed: seed &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15)
        return try cimle.samples(x, count: count, rng: &rng, tile: tile)
    }

    /// Super-resolution: the image itself is the input and samples are `scale` times larger.
    /// Layouts: the label map at the working size, samples resized back to its size.
    /// Translation: the image resized to the working size, likewise. Colorization: L at the
    /// working size; the sampled ab are resized to the image's size and joined with its own L.
    public func samples(for img: Image, path: String, count: Int, seed: UInt64, index: Int) throws
        -> (shown: Image, extra: [(String, Image)], samples: [Image]) {
        func back(_ t: Tensor) throws -> Image {
            let o = try Image(tensor: t)
            return o.width == img.width && o.height == img.height ? o : o.resized(width: img.width, height: img.height, filter: .bicubic)
        }
        switch cimleTask {
        case .superResolution:
            let rgb = img.converted(toChannels: 3)
            let outs = try sampleTensors(rgb.tensor(), count: count, seed: seed, index: index).map { try Image(tensor: $0) }
            let bicubic = rgb.resized(width: outs[0].width, height: outs[0].height, filter: .bicubic)
            return (img, [("bicubic", bicubic)], outs)
        case .layout:
            guard let layout = data.layout else { throw TranslateError.badModel(path: url.path, reason: "a layout model without its layout options") }
            let x = try layout.input(img, path: path)
            let outs = try sampleTensors(x, count: count, seed: seed, index: index).map(back)
            return (try layout.display(x), [], outs)
        case .translation:
            let s = workingSide
            let x = img.converted(toChannels: options.model.inputNc).resized(width: s, height: s, filter: .bicubic).tensor()
            return (img, [], try sampleTensors(x, count: count, seed: seed, index: index).map(back))
        case .colorization:
            let s = workingSide
            let photo = img.converted(toChannels: 3)
            let (l, _) = Colorization.split(photo)
            let (small, _) = Colorization.split(photo.resized(width: s, height: s, filter: .bicubic))
            let outs = try sampleTensors(small, count: count, seed: seed, index: index).map { ab in
                try Colorization.merge(l: l, ab: try withNoGrad { try resizeBilinear(ab, height: img.height, width: img.width) })
            }
            return (try Colorization.lightness(l), [], outs)
        }
    }

    /// Exports the generator alone with its configuration.
    public func export(to out: URL, fp16: Bool) throws {
        var meta = metadata.filter { ["config", "epoch", "steps"].contains($0.key) }
        meta["kind"] = Method.cimle.kindField(generatorOnly: true)
        try SafeTensors.write(cimle.netG.stateDict(prefix: "netG."), metadata: meta, to: out, dtype: fp16 ? .f16 : .f32)
    }
}
