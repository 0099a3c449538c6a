import Foundation
import Tensors
import Datasets

extension LoadedGenerator {
    /// pix2pix's G (`netG.`) of a checkpoint or exported file.
    convenience init(pix2pix m: ModelFile) throws {
        let o = try m.options(Pix2PixTrainOptions.self)
        var rng = RNG(seed: 0)
        var spec = o.model.generator
        spec.initType = nil
        let what = o.data.task == .translation ? o.data.direction.rawValue : o.data.task.rawValue
        try self.init(file: m, netG: try spec.make(rng: &rng), prefix: "netG.", inputNc: o.model.inputNc, outputNc: o.model.outputNc,
                      testMode: o.testMode, data: o.data, name: "the pix2pix generator (netG, \(what))")
    }
}
