import Foundation
import Tensors
import Datasets

extension LoadedGenerator {
    /// One of CycleGAN's generators: G_A (a-to-b, the default) or G_B (b-to-a). An exported
    /// file records which one it holds; asking it for the other is an error naming --direction.
    convenience init(cyclegan m: ModelFile, direction: Direction?) throws {
        let o = try m.options(CycleGANTrainOptions.self)
        let stored = m.metadata["generator"]
        let wantB = stored.map { $0 == "netG_B" } ?? (direction == .bToA)
        if let stored, let direction, (direction == .bToA) != (stored == "netG_B") {
            throw TranslateError.invalidFlag(flag: "--direction", reason: "\(m.url.path) holds only \(stored) (\(stored == "netG_B" ? "b-to-a" : "a-to-b"))")
        }
        let c = o.model
        let (inNc, outNc) = wantB ? (c.outputNc, c.inputNc) : (c.inputNc, c.outputNc)
        var rng = RNG(seed: 0)
        try self.init(file: m, netG: try CycleGAN.makeGenerator(c, inputNc: inNc, outputNc: outNc, rng: &rng),
                      prefix: wantB ? "netG_B." : "netG_A.", inputNc: inNc, outputNc: outNc, testMode: o.testMode, data: o.data,
                      name: wantB ? "CycleGAN's G_B (netG_B, b-to-a)" : "CycleGAN's G_A (netG_A, a-to-b)")
    }
}
