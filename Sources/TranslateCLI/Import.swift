import ArgumentParser
import Foundation
import Tensors
import NN
import Datasets
import Pipelines
import TorchImport

/// Architectures a reference checkpoint can be imported as.
/// Converts a generator state dict written by the PyTorch reference (`torch.save`, zip or
/// legacy format; parsed, never executed) into a model file that `translate apply` runs.
public enum TorchModelImporter {
    public struct Report { public var loaded: Int; public var ignored: [String] }

    public static func importGenerator(pth: URL, arch: GeneratorArch, ngf: Int, norm: Norm, dropout: Bool, nBlocks: Int?,
                                       inputNc: Int, outputNc: Int, output: URL, fp16: Bool) throws -> Report {
        let (tensors, ignoredLeaves) = try TorchCheckpoint.read(pth)
        var state = Dictionary(tensors, uniquingKeysWith: { a, _ in a })
        // Some published checkpoints wrap the state dict or prefix keys with "module." (DataParallel).
        if state.keys.allSatisfy({ $0.hasPrefix("module.") }) {
            state = Dictionary(uniqueKeysWithValues: state.map { (String($0.key.dropFirst(7)), $0.value) })
        }
        var rng = RNG(seed: 0)
        let net: Module
        var meta: [String: String] = ["imported_from": pth.lastPathComponent, "test_mode": TestMode.paper.rawValue]
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        // The reference publishes pix2pix generators as U-Nets and CycleGAN's as ResNets.
        let spec = GeneratorSpec(arch: arch, inputNc: inputNc, outputNc: outputNc, ngf: ngf, norm: norm, dropout: dropout,
                                 blocks: nBlocks, initType: nil)
        net = try spec.make(rng: &rng)
        if arch.isUNet {
            var o = Pix2PixTrainOptions(dataroot: "", name: pth.deletingPathExtension().lastPathComponent)
            o.model.netG = arch
            o.model.ngf = ngf; o.model.norm = norm; o.model.dropout = dropout
            o.model.inputNc = inputNc; o.model.outputNc = outputNc
            meta["kind"] = Method.pix2pix.kindField(generatorOnly: true)
            meta["config"] = String(decoding: try enc.encode(o), as: UTF8.self)
        } else {
            var o = CycleGANTrainOptions(dataroot: "", name: pth.deletingPathExtension().lastPathComponent)
            o.model.netG = arch
            o.model.nBlocks = nBlocks
            o.model.ngf = ngf; o.model.norm = norm; o.model.dropout = dropout
            o.model.inputNc = inputNc; o.model.outputNc = outputNc
            meta["kind"] = Method.cyclegan.kindField(generatorOnly: true)
            meta["generator"] = "netG_A"
            meta["config"] = String(decoding: try enc.encode(o), as: UTF8.self)
        }
        // The reference's keys are ours. Old checkpoints may carry InstanceNorm running stats
        // and every BatchNorm has num_batches_tracked: those are not part of our models.
        let mine = Set(net.stateDict().map(\.0))
        let extra = state.keys.filter { !mine.contains($0) }.sorted()
        let unexpected = extra.filter { !($0.hasSuffix("num_batches_tracked") || $0.hasSuffix("running_mean") || $0.hasSuffix("running_var")) }
        guard unexpected.isEmpty else {
            throw TranslateError.badModel(path: pth.path, reason: "keys that a \(arch.rawValue) (ngf \(ngf), norm \(norm.rawValue)) does not have: \(unexpected.prefix(6).joined(separator: ", "))\(unexpected.count > 6 ? " ..." : "") - check --net-g, --ngf, --norm")
        }
        do { try net.loadStateDict(state, strict: false) } catch let e as ModuleError {
            throw TranslateError.badModel(path: pth.path, reason: "does not fit \(arch.rawValue) with ngf \(ngf), norm \(norm.rawValue)\(dropout ? ", dropout" : ""): \(e)")
        }
        let prefix = arch.isUNet ? "netG." : "netG_A."
        try SafeTensors.write(net.stateDict(prefix: prefix), metadata: meta, to: output, dtype: fp16 ? .f16 : .f32)
        return Report(loaded: mine.count, ignored: extra + ignoredLeaves)
    }
}

public struct Import: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert a PyTorch generator checkpoint (.pth from the pix2pix/CycleGAN reference) into a translate model.",
        discussion: """
        The file is parsed, never executed: only plain tensor state dicts are accepted. Examples: \
        a reference pix2pix model (latest_net_G.pth): --net-g unet-256 --norm batch --dropout; \
        a reference CycleGAN generator (e.g. horse2zebra.pth): --net-g resnet-9blocks --norm instance.
        """)
    public init() {}

    @Option(help: "The .pth file (torch.save of a generator's state_dict).") var pth: String
    @Option(help: "The architecture it holds (U-Nets become pix2pix models, ResNets CycleGAN generators).") var netG: GeneratorArch
    @Option(help: "Filters in the first conv layer.") var ngf = 64
    @Option(help: "Normalisation layers.") var norm: Norm?
    @Flag(help: "The U-Net has dropout layers (pix2pix models do; affects test-time behaviour only).") var dropout = false
    @Option(help: "Residual blocks, if not 9 or 6 as the architecture name says.") var nBlocks: Int?
    @Option(help: "Input channels.") var inputNc = 3
    @Option(help: "Output channels.") var outputNc = 3
    @Option(help: "The model file to write (.safetensors).") var output: String
    @Flag(help: "Store weights as float16.") var fp16 = false

    public func validate() throws {
        if ngf < 1 { throw ValidationError("--ngf must be positive, got \(ngf)") }
        if let n = nBlocks, n < 0 { throw ValidationError("--n-blocks must be at least 0, got \(n)") }
        if ![1, 3].contains(inputNc) || ![1, 3].contains(outputNc) { throw ValidationError("--input-nc and --output-nc must be 1 or 3") }
    }

    public func run() throws {
        let n = norm ?? (netG.isUNet ? .batch : .instance)
        try refuseOverwriting(URL(fileURLWithPath: output), input: URL(fileURLWithPath: pth), flag: "--output")
        let r = try TorchModelImporter.importGenerator(pth: URL(fileURLWithPath: pth), arch: netG, ngf: ngf, norm: n, dropout: dropout,
                                                        nBlocks: nBlocks, inputNc: inputNc, outputNc: outputNc,
                                                        output: URL(fileURLWithPath: output), fp16: fp16)
        print("imported \(r.loaded) tensors into \(output)" + (r.ignored.isEmpty ? "" : "; ignored \(r.ignored.count) entries (\(r.ignored.prefix(4).joined(separator: ", "))\(r.ignored.count > 4 ? ", ..." : ""))"))
    }
}
