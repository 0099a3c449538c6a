import Foundation
import Tensors
import NN
import ImageIO
import Datasets

/// Which latent codes a BicycleGAN model translates with (`translate apply` flags).
public enum LatentCodes: Equatable {
    /// `--samples K`: K codes from N(0, I) per input, seeded by (seed, input index).
    case random
    /// `--sync-z`: the same K codes for every input (the reference's `--sync`), seeded by the seed alone.
    case synced
    /// `--style IMAGE`: the encoder's mean code of an example target (the reference's
    /// test-time encoding), one output per input in that style.
    case style(code: Tensor, image: Image)
    /// `--interpolate K`: K codes evenly spaced on the line from one random code to another
    /// (both ends included); with `synced` the same two ends for every input.
    case interpolate(synced: Bool)

    public static func == (a: LatentCodes, b: LatentCodes) -> Bool {
        switch (a, b) {
        case (.random, .random), (.synced, .synced): return true
        case let (.interpolate(x), .interpolate(y)): return x == y
        case let (.style(c1, _), .style(c2, _)): return c1.data == c2.data
        default: return false
        }
    }
}

/// A BicycleGAN generator (and encoder) loaded from a checkpoint or exported model, ready to
/// sample: `apply --samples/--sync-z/--interpolate/--style` and `eval --samples`.
public final class LoadedBicycleGAN: LatentCodeSampler {
    public let url: URL
    public let options: BicycleGANTrainOptions
    public let netG: Module & CodeConditionedGenerator
    /// Nil when the file holds no encoder (then `--style` is refused).
    public let netE: ResNetEncoder?
    public let metadata: [String: String]
    public var tile: Int?
    /// The codes `sampleTensors` uses; `.random` unless apply says otherwise.
    public var codes = LatentCodes.random

    public var method: Method { .bicyclegan }
    public var data: DataOptions { options.data }
    public var noise: NoiseSource { .code }
    public var defaultTestMode: TestMode { .eval }
    public var parameterCount: Int { netG.parameterCount + (netE?.parameterCount ?? 0) }
    public var superResolutionScale: Int? { nil }
    public var nz: Int { options.model.nz }
    public var summary: String { "the BicycleGAN generator and encoder (netG, netE, \(options.data.direction.rawValue), nz \(nz))" }

    public convenience init(path: String) throws {
        try self.init(file: try ModelFile.open(path: path))
    }

    public init(file m: ModelFile) throws {
        try m.require(.bicyclegan, for: "this BicycleGAN command")
        url = m.url
        metadata = m.metadata
        let o = try m.options(BicycleGANTrainOptions.self)
        options = o
        var rng = RNG(seed: 0)
        do {
            netG = try o.model.makeGenerator(initType: nil, rng: &rng)
            try netG.loadStateDict(m.file.byName, prefix: "netG.", strict: false)
        } catch {
            throw TranslateError.badModel(path: url.path, reason: "generator weights do not fit its configuration: \(error)")
        }
        if m.file.byName.keys.contains(where: { $0.hasPrefix("netE.") }) {
            do {
                let e = try o.model.makeEncoder(initType: nil, rng: &rng)
                try e.loadStateDict(m.file.byName, prefix: "netE.", strict: false)
                netE = e
            } catch {
                throw TranslateError.badModel(path: url.path, reason: "encoder weights do not fit its configuration: \(error)")
            }
        } else {
            netE = nil
        }
    }

    /// How input files are read: as RGB (or gray) images at their own size.
    public var fileOptions: DataOptions { data.taskDefinition.fileOptions(model: data, inputNc: options.model.inputNc) }

    /// The encoder's mean code of an example target image (the style), at the training crop
    /// size. Errors name `--style`: no encoder in the file, a channel count other than the
    /// model's output side.
    public func styleCode(_ image: Image, path: String) throws -> Tensor {
        guard let netE else {
            throw TranslateError.invalidFlag(flag: "--style", reason: "\(url.path) holds no encoder (netE), so it cannot encode an example; use a training checkpoint or a file exported by this version")
        }
        guard image.channels == options.model.outputNc else {
            throw TranslateError.invalidFlag(flag: "--style", reason: "\(path) has \(image.channels) channel(s); the model's outputs (what the encoder reads) have \(options.model.outputNc)")
        }
        let side = options.data.cropSize
        return try BicycleGAN.encode(netE, image.resized(width: side, height: side, filter: .bicubic).tensor())
    }

    /// The codes of input `index`: (count, nz).
    public func codeMatrix(count: Int, seed: UInt64, index: Int) throws -> Tensor {
        func rng(_ synced: Bool) -> RNG { RNG(seed: synced ? seed : seed &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15) }
        switch codes {
        case .random, .synced:
            var r = rng(codes == .synced)
            return Tensor.randn([count, nz], rng: &r)
        case let .style(code, _):
            return try Tensor(shape: [count, nz], data: (0..<count).flatMap { _ in code.data })
        case let .interpolate(synced):
            var r = rng(synced)
            let ends = Tensor.randn([2, nz], rng: &r)
            var out: [Float] = []
            for k in 0..<count {
                let t = count == 1 ? 0 : Float(k) / Float(count - 1)
                for j in 0..<nz { out.append(ends.data[j] * (1 - t) + ends.data[nz + j] * t) }
            }
            return try Tensor(shape: [count, nz], data: out)
        }
    }

    /// `count` outputs for a network input x (1, inputNc, H, W), one per code, at x's size.
    public func sampleTensors(_ x: Tensor, count: Int, seed: UInt64, index: Int) throws -> [Tensor] {
        let z = try codeMatrix(count: count, seed: seed, index: index)
        return try (0..<count).map { k in
            try BicycleGAN.generate(netG, x, z: try narrow(z, dim: 0, start: k, length: 1))
        }
    }

    public func sampleImages(_ x: Tensor, width: Int, height: Int, count: Int, seed: UInt64, index: Int) throws -> [Image] {
        let task = data.taskDefinition
        return try sampleTensors(try task.networkInput(x, side: nil, model: data), count: count, seed: seed, index: index).map {
            try task.outputImage($0, index: 0, input: x, width: width, height: height, model: data)
        }
    }

    /// The input as the page shows it, the style image (with `--style`) and the outputs at the input's size.
    public func samples(for img: Image, path: String, count: Int, seed: UInt64, index: Int) throws
        -> (shown: Image, extra: [(String, Image)], samples: [Image]) {
        let task = data.taskDefinition
        let x = try task.input(image: img, path: path, model: data)
        let outs = try sampleImages(x, width: img.width, height: img.height, count: count, seed: seed, index: index)
        var extra: [(String, Image)] = []
        if case let .style(_, image) = codes { extra.append(("style", image)) }
        return (try task.display(x, isInput: true, lightness: nil, index: 0, options: data), extra, outs)
    }

    /// The page's name of output column k.
    public func columnName(_ k: Int) -> String {
        switch codes {
        case .random: return "sample \(k)"
        case .synced: return "code \(k) (synced)"
        case .style: return "in the style"
        case .interpolate: return "step \(k)"
        }
    }

    /// Writes the generator and the encoder (for `--style`) with the configuration.
    public func export(to out: URL, fp16: Bool) throws {
        var meta = metadata.filter { ["config", "epoch", "steps"].contains($0.key) }
        meta["kind"] = Method.bicyclegan.kindField(generatorOnly: true)
        let tensors = netG.stateDict(prefix: "netG.") + (netE?.stateDict(prefix: "netE.") ?? [])
        try SafeTensors.write(tensors, metadata: meta, to: out, dtype: fp16 ? .f16 : .f32)
    }
}
