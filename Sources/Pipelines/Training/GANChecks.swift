import Foundation
import NN

/// The model settings both GANs share (so one set of flags fills either).
public protocol GANConfigCommon {
    var inputNc: Int { get set }
    var outputNc: Int { get set }
    var ngf: Int { get set }
    var ndf: Int { get set }
    var netD: DiscriminatorArch { get set }
    var nLayersD: Int { get set }
    var upsampling: Upsampling { get set }
    var lr: Float { get set }
    var beta1: Float { get set }
    var initType: InitType { get set }
    var initGain: Float { get set }
}

extension Pix2PixConfig: GANConfigCommon {}
extension CycleGANConfig: GANConfigCommon {}

/// Range checks shared by every GAN configuration, read from flags or from a file: each
/// error names the flag. Sizes are bounded so that no value makes an allocation that cannot succeed.
public enum GANChecks {
    public static func finite(_ v: Float, _ flag: String, in range: ClosedRange<Float>, openLow: Bool = false) throws {
        guard v.isFinite, range.contains(v), !(openLow && v == range.lowerBound) else {
            throw TranslateError.invalidFlag(flag: flag, reason: "must be a finite number \(openLow ? "above" : "from") \(range.lowerBound) to \(range.upperBound), got \(v)")
        }
    }

    public static func int(_ v: Int, _ flag: String, in range: ClosedRange<Int>) throws {
        guard range.contains(v) else { throw TranslateError.invalidFlag(flag: flag, reason: "must be between \(range.lowerBound) and \(range.upperBound), got \(v)") }
    }

    public static func common<C: GANConfigCommon>(_ c: C) throws {
        try int(c.ngf, "--ngf", in: 1...1024)
        try int(c.ndf, "--ndf", in: 1...1024)
        try int(c.nLayersD, "--n-layers-d", in: 1...8)
        try finite(c.lr, "--lr", in: 0...1, openLow: true)
        try finite(c.beta1, "--beta1", in: 0...0.9999)
        try finite(c.initGain, "--init-gain", in: 0...100, openLow: true)
    }

    /// `--lambda-gp`, `--n-critic`, `--r1-gamma`, and WGAN-GP's refusal of BatchNorm critics.
    public static func penalties(_ p: GANPenalties?, mode: GANMode, norm: Norm) throws {
        let p = p ?? GANPenalties()
        try finite(p.lambdaGP, "--lambda-gp", in: 0...1e6)
        try int(p.nCritic, "--n-critic", in: 1...100)
        try finite(p.r1Gamma, "--r1-gamma", in: 0...1e6)
        if mode == .wgangp && norm == .batch {
            throw TranslateError.invalidFlag(flag: "--gan-mode", reason: "wgangp penalises the gradient of each sample's critic value, but a BatchNorm discriminator normalises over the batch, so each sample's value depends on the others and the per-sample penalty is not valid; use --norm instance or --norm none")
        }
    }

    /// The smallest memory a training step at these sizes needs (the decoded and resized
    /// images and the generator's first activations with their gradients); refused when it
    /// is more than the machine has, before anything is allocated.
    public static func memory(loadSize: Int, cropSize: Int, batchSize: Int, ngf: Int) throws {
        let side = Double(max(loadSize, cropSize))
        let images = side * side * 3 * 4 * 2 * Double(batchSize)
        let activations = Double(cropSize) * Double(cropSize) * Double(ngf) * 4 * 4 * Double(batchSize)
        let need = images + activations
        let have = Double(ProcessInfo.processInfo.physicalMemory)
        if need > have {
            throw TranslateError.invalidFlag(flag: "--load-size", reason: String(format: "--load-size %d / --crop-size %d with --batch-size %d and --ngf %d need at least %.1f GB, more than this machine's %.1f GB", loadSize, cropSize, batchSize, ngf, need / 1e9, have / 1e9))
        }
    }
}
