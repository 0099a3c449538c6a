import Tensors
import NN

/// Generator architectures (`--net-g`), the reference's names. One list for every method:
/// pix2pix and CycleGAN take each of them, as in the reference.
public enum GeneratorArch: String, CaseIterable, Codable {
    case unet256 = "unet-256", unet128 = "unet-128", unet64 = "unet-64", unet32 = "unet-32"
    case resnet9 = "resnet-9blocks", resnet6 = "resnet-6blocks"

    public var isUNet: Bool { numDowns != nil }

    /// Down-sampling levels of a U-Net (the reference's num_downs), nil for ResNets.
    public var numDowns: Int? {
        switch self {
        case .unet256: return 8
        case .unet128: return 7
        case .unet64: return 6
        case .unet32: return 5
        case .resnet9, .resnet6: return nil
        }
    }

    /// Residual blocks of a ResNet generator, nil for U-Nets.
    public var residualBlocks: Int? {
        switch self {
        case .resnet9: return 9
        case .resnet6: return 6
        default: return nil
        }
    }
}

/// Everything that builds one generator: the one construction site of every method's
/// generators (training, apply, export, import).
public struct GeneratorSpec: Equatable {
    public var arch: GeneratorArch
    public var inputNc: Int, outputNc: Int
    public var ngf: Int
    public var norm: Norm
    public var dropout: Bool
    public var upsampling: Upsampling
    /// Residual blocks when not the architecture's (imported models, small tests).
    public var blocks: Int?
    /// nil: no initialisation (the weights are about to be loaded).
    public var initType: InitType?
    public var initGain: Float

    public init(arch: GeneratorArch, inputNc: Int, outputNc: Int, ngf: Int, norm: Norm, dropout: Bool,
                upsampling: Upsampling = .transposed, blocks: Int? = nil, initType: InitType? = .normal, initGain: Float = 0.02) {
        self.arch = arch; self.inputNc = inputNc; self.outputNc = outputNc; self.ngf = ngf; self.norm = norm
        self.dropout = dropout; self.upsampling = upsampling; self.blocks = blocks; self.initType = initType; self.initGain = initGain
    }

    public func make(rng: inout RNG) throws -> Module {
        if let downs = arch.numDowns {
            return try UnetGenerator(inputNc: inputNc, outputNc: outputNc, numDowns: downs, ngf: ngf, norm: norm, useDropout: dropout,
                                     upsampling: upsampling, initType: initType, initGain: initGain, rng: &rng)
        }
        return try ResnetGenerator(inputNc: inputNc, outputNc: outputNc, ngf: ngf, norm: norm, useDropout: dropout,
                                   nBlocks: blocks ?? arch.residualBlocks ?? 9, upsampling: upsampling,
                                   initType: initType, initGain: initGain, rng: &rng)
    }
}

/// Everything that builds one discriminator.
public struct DiscriminatorSpec: Equatable {
    public var arch: DiscriminatorArch
    public var inputNc: Int
    public var ndf: Int
    /// Layers of `n-layers` (`basic` is 3).
    public var nLayers: Int
    public var norm: Norm
    public var initType: InitType
    public var initGain: Float

    public init(arch: DiscriminatorArch, inputNc: Int, ndf: Int, nLayers: Int, norm: Norm, initType: InitType, initGain: Float) {
        self.arch = arch; self.inputNc = inputNc; self.ndf = ndf; self.nLayers = nLayers; self.norm = norm
        self.initType = initType; self.initGain = initGain
    }

    public func make(rng: inout RNG) throws -> Module {
        switch arch {
        case .basic, .nLayers:
            return try NLayerDiscriminator(inputNc: inputNc, ndf: ndf, nLayers: arch == .basic ? 3 : nLayers, norm: norm,
                                           initType: initType, initGain: initGain, rng: &rng)
        case .pixel:
            return try PixelDiscriminator(inputNc: inputNc, ndf: ndf, norm: norm, initType: initType, initGain: initGain, rng: &rng)
        }
    }
}
