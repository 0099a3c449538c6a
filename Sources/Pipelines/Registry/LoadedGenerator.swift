import Foundation
import Tensors
import NN
import Datasets

/// A one-pass generator restored from a training checkpoint or an exported model file:
/// pix2pix's G, or one of CycleGAN's two (G_A for a-to-b, G_B for b-to-a). Each method's
/// folder says how its file becomes one (`Pix2Pix/Pix2PixTranslator.swift`,
/// `CycleGAN/CycleGANTranslator.swift`).
public final class LoadedGenerator: BatchTranslator {
    public let url: URL
    public let method: Method
    public let netG: Module
    /// The checkpoint key prefix of the chosen generator (`netG.`, `netG_A.`, `netG_B.`).
    public let prefix: String
    public let inputNc: Int, outputNc: Int
    public let defaultTestMode: TestMode
    public let data: DataOptions
    public let metadata: [String: String]
    /// The summary's name of the generator, e.g. "CycleGAN's G_B (netG_B, b-to-a)".
    let name: String

    /// The data direction the model was trained with (pix2pix datasets).
    public var trainedDirection: Direction { data.direction }
    /// How the training pairs were stored (aligned or paired).
    public var trainedDataMode: DatasetMode? { data.mode }
    public var noise: NoiseSource { netG.hasDropout && defaultTestMode == .paper ? .dropout : .none }
    public var parameterCount: Int { netG.parameterCount }
    public var summary: String { name }

    init(file m: ModelFile, netG: Module, prefix: String, inputNc: Int, outputNc: Int, testMode: TestMode, data: DataOptions, name: String) throws {
        url = m.url; method = m.method; metadata = m.metadata
        self.netG = netG; self.prefix = prefix; self.inputNc = inputNc; self.outputNc = outputNc
        defaultTestMode = testMode; self.data = data; self.name = name
        do { try netG.loadStateDict(m.file.byName, prefix: prefix, strict: false) } catch let e as ModuleError {
            throw TranslateError.badModel(path: url.path, reason: "generator weights do not fit its configuration: \(e)")
        }
    }

    /// `path`: a .safetensors file, or a folder holding model.safetensors or latest.safetensors.
    /// `direction` picks CycleGAN's generator (default a-to-b); pix2pix models ignore it.
    public convenience init(path: String, direction: Direction? = nil) throws {
        try self.init(file: try ModelFile.open(path: path), direction: direction)
    }

    public convenience init(file m: ModelFile, direction: Direction? = nil) throws {
        switch m.method {
        case .pix2pix: try self.init(pix2pix: m)
        case .cyclegan: try self.init(cyclegan: m, direction: direction)
        default:
            throw TranslateError.badModel(path: m.url.path, reason: "\(m.method.title): not a one-pass generator")
        }
    }

    /// Writes the generator alone (weights and buffers, optionally float16) with its configuration.
    public func export(to out: URL, fp16: Bool) throws {
        var meta = metadata.filter { ["config", "epoch", "steps", "test_mode", "generator"].contains($0.key) }
        meta["kind"] = method.kindField(generatorOnly: true)
        meta["generator"] = meta["generator"] ?? (prefix == "netG." ? nil : String(prefix.dropLast()))
        try SafeTensors.write(netG.stateDict(prefix: prefix), metadata: meta, to: out, dtype: fp16 ? .f16 : .f32)
    }
}
