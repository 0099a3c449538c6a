import Tensors
import NN

/// A generator conditioned on an image and a latent code: G(x, z).
public protocol CodeConditionedGenerator: Module {
    /// Length of the latent code.
    var nz: Int { get }
    /// (N, inputNc, H, W) in [-1, 1] and (N, nz) -> (N, outputNc, H, W) in (-1, 1), for any H, W >= 1.
    func forward(_ x: Tensor, z: Tensor) throws -> Tensor
}

/// Where the code enters BicycleGAN's generator (`--where-add`): concatenated to the input
/// image only (`G_Unet_add_input`), or to the input of every down-sampling conv
/// (`G_Unet_add_all`, the reference's default).
public enum WhereAdd: String, CaseIterable, Codable {
    case input, all
}

/// z (N, nz) broadcast over the planes of x: (N, nz, H, W), as `z.view(N, nz, 1, 1).expand(...)`;
/// the gradient sums back over the planes.
func spatialCode(_ z: Tensor, like x: Tensor, network: String) throws -> Tensor {
    guard z.rank == 2, z.shape[0] == x.shape[0] else {
        throw NetworkError.invalidOption("\(network): the code must be (N, nz) with the input's N = \(x.shape[0]), got shape \(z.shape)")
    }
    let (n, nz) = (z.shape[0], z.shape[1])
    return try z.reshaped([n, nz, 1, 1]) + Tensor(zeros: [n, nz, x.shape[2], x.shape[3]])
}

/// One level of `G_Unet_add_all` (the reference's `UnetBlock_with_z`): the code is
/// concatenated to the block's input before its down conv, and the block's submodule gets
/// the same code. Always with biases (the reference's default Conv2d), norm slots left out
/// when `norm == .none` (as the reference, whose indices then move).
///
/// Children (keys as PyTorch): `down`, `submodule`, `up`, each a `Sequential`:
/// - outermost: down [0 Conv2d(inputNc + nz -> inner)], up [0 ReLU, 1 up (2 inner -> outer), 2 Tanh]
/// - innermost: down [0 LeakyReLU(0.2), 1 Conv2d(outer + nz -> inner)], up [0 ReLU, 1 up (inner -> outer), 2 norm]
/// - middle: down [0 LeakyReLU(0.2), 1 Conv2d(outer + nz -> inner), 2 norm],
///   up [0 ReLU, 1 up (2 inner -> outer), 2 norm, (3 Dropout(0.5))]
/// Down convs are 4x4 stride 2 pad 1. Non-outermost blocks return `cat([up(...), x], 1)`.
public final class UnetBlockWithZ: Module {
    public let nz: Int
    public let isOutermost: Bool
    public let down: Sequential, up: Sequential
    public let submodule: UnetBlockWithZ?

    public init(inputNc: Int, outerNc: Int, innerNc: Int, nz: Int, submodule: UnetBlockWithZ?, outermost: Bool = false,
                norm: Norm = .instance, useDropout: Bool = false, upsampling: Upsampling = .transposed, rng: inout RNG) {
        self.nz = nz; self.isOutermost = outermost; self.submodule = submodule
        let conv = Conv2d(inputNc + nz, innerNc, kernelSize: 4, stride: 2, padding: 1, bias: true, rng: &rng)
        func normLayer(_ c: Int) -> [Module] { norm == .none ? [] : [norm.layer(c)] }
        if outermost {
            down = Sequential([conv])
            up = Sequential(ReLU(), upLayer(innerNc * 2, outerNc, bias: true, upsampling, rng: &rng), Tanh())
        } else if submodule == nil {
            down = Sequential(LeakyReLU(negativeSlope: 0.2), conv)
            up = Sequential([ReLU(), upLayer(innerNc, outerNc, bias: true, upsampling, rng: &rng)] + normLayer(outerNc))
        } else {
            down = Sequential([LeakyReLU(negativeSlope: 0.2), conv] + normLayer(innerNc))
            var u: [Module] = [ReLU(), upLayer(innerNc * 2, outerNc, bias: true, upsampling, rng: &rng)] + normLayer(outerNc)
            if useDropout { u.append(Dropout(p: 0.5, rng: &rng)) }
            up = Sequential(u)
        }
    }

    override public var children: [(String, Module)] {
        [("down", down)] + (submodule.map { [("submodule", $0 as Module)] } ?? []) + [("up", up)]
    }

    /// (N, C, H, W), (N, nz) -> (N, C + outer, H, W), or (N, outer, H, W) for the outermost block.
    public func forward(_ x: Tensor, z: Tensor) throws -> Tensor {
        let xz = nz > 0 ? try cat([x, try spatialCode(z, like: x, network: "UnetBlockWithZ")], dim: 1) : x
        let inner = try down(xz)
        let y = try up(try submodule.map { try $0.forward(inner, z: z) } ?? inner)
        return isOutermost ? y : try cat([y, x], dim: 1)
    }
}

/// BicycleGAN's U-Net with the code added at every level (`G_Unet_add_all`; `unet_256`:
/// numDowns 8, `unet_128`: 7). Channels from the outside in ngf, 2ngf, 4ngf, 8ngf...; the
/// innermost block and the 8ngf block above it always exist, so numDowns >= 6; Dropout (with
/// `useDropout`) in the numDowns - 5 middle 8ngf blocks. Keys `model.down.0.weight`,
/// `model.submodule.down.1.weight`, ... Any input size works (padded as `UnetGenerator`).
public final class UnetAddAllGenerator: Module, CodeConditionedGenerator {
    public let inputNc: Int, outputNc: Int, nz: Int, numDowns: Int, ngf: Int
    public let model: UnetBlockWithZ

    public init(inputNc: Int = 3, outputNc: Int = 3, nz: Int = 8, numDowns: Int = 8, ngf: Int = 64, norm: Norm = .instance,
                useDropout: Bool = false, upsampling: Upsampling = .transposed,
                initType: InitType? = .xavier, initGain: Float = 0.02, rng: inout RNG) throws {
        guard (6...16).contains(numDowns) else {
            throw NetworkError.invalidOption("UnetAddAllGenerator: numDowns must be 6 to 16 (the code-at-every-level U-Net has at least the levels ngf, 2ngf, 4ngf, 8ngf, 8ngf and the innermost), got \(numDowns)")
        }
        guard inputNc >= 1, outputNc >= 1, ngf >= 1, nz >= 0 else {
            throw NetworkError.invalidOption("UnetAddAllGenerator: inputNc, outputNc and ngf must be positive and nz not negative, got \(inputNc), \(outputNc), \(ngf), \(nz)")
        }
        self.inputNc = inputNc; self.outputNc = outputNc; self.nz = nz; self.numDowns = numDowns; self.ngf = ngf
        // Built from the inside out, as the reference.
        var block = UnetBlockWithZ(inputNc: ngf * 8, outerNc: ngf * 8, innerNc: ngf * 8, nz: nz, submodule: nil, norm: norm,
                                   upsampling: upsampling, rng: &rng)
        for _ in 0..<(numDowns - 5) {
            block = UnetBlockWithZ(inputNc: ngf * 8, outerNc: ngf * 8, innerNc: ngf * 8, nz: nz, submodule: block, norm: norm,
                                   useDropout: useDropout, upsampling: upsampling, rng: &rng)
        }
        for (outer, inner) in [(ngf * 4, ngf * 8), (ngf * 2, ngf * 4), (ngf, ngf * 2)] {
            block = UnetBlockWithZ(inputNc: outer, outerNc: outer, innerNc: inner, nz: nz, submodule: block, norm: norm,
                                   upsampling: upsampling, rng: &rng)
        }
        model = UnetBlockWithZ(inputNc: inputNc, outerNc: outputNc, innerNc: ngf, nz: nz, submodule: block, outermost: true,
                               norm: norm, upsampling: upsampling, rng: &rng)
        super.init()
        if let t = initType { initWeights(t, gain: initGain, rng: &rng) }
    }

    override public var children: [(String, Module)] { [("model", model)] }

    public func forward(_ x: Tensor, z: Tensor) throws -> Tensor {
        try checkInput(x, channels: inputNc, network: "UnetAddAllGenerator")
        try checkCode(z, nz: nz, batch: x.shape[0], network: "UnetAddAllGenerator")
        let m = 1 << numDowns
        return try runPadded(x, height: (x.shape[2] + m - 1) / m * m, width: (x.shape[3] + m - 1) / m * m) { try model.forward($0, z: z) }
    }
}

/// BicycleGAN's U-Net with the code concatenated to the input image only (`G_Unet_add_input`):
/// a `UnetGenerator` on inputNc + nz channels whose blocks return `cat([model(x), x])` and
/// whose convs all have biases. Keys as `UnetGenerator` (`model.model.0.weight`, ...).
public final class UnetAddInputGenerator: Module, CodeConditionedGenerator {
    public let inputNc: Int, outputNc: Int, nz: Int
    public let unet: UnetGenerator

    public init(inputNc: Int = 3, outputNc: Int = 3, nz: Int = 8, numDowns: Int = 8, ngf: Int = 64, norm: Norm = .instance,
                useDropout: Bool = false, upsampling: Upsampling = .transposed,
                initType: InitType? = .xavier, initGain: Float = 0.02, rng: inout RNG) throws {
        guard nz >= 0 else { throw NetworkError.invalidOption("UnetAddInputGenerator: nz must not be negative, got \(nz)") }
        self.inputNc = inputNc; self.outputNc = outputNc; self.nz = nz
        unet = try UnetGenerator(inputNc: inputNc + nz, outputNc: outputNc, numDowns: numDowns, ngf: ngf, norm: norm, useDropout: useDropout,
                                 upsampling: upsampling, skipOrder: .outputFirst, alwaysBias: true, initType: initType, initGain: initGain, rng: &rng)
    }

    override public var children: [(String, Module)] { unet.children }

    public func forward(_ x: Tensor, z: Tensor) throws -> Tensor {
        try checkInput(x, channels: inputNc, network: "UnetAddInputGenerator")
        try checkCode(z, nz: nz, batch: x.shape[0], network: "UnetAddInputGenerator")
        return try unet(nz > 0 ? try cat([x, try spatialCode(z, like: x, network: "UnetAddInputGenerator")], dim: 1) : x)
    }
}

func checkCode(_ z: Tensor, nz: Int, batch: Int, network: String) throws {
    guard z.rank == 2, z.shape[0] == batch, z.shape[1] == nz else {
        throw NetworkError.invalidOption("\(network): expected a code of shape [\(batch), \(nz)], got \(z.shape)")
    }
}

/// The residual block of BicycleGAN's encoder (`BasicBlock`): conv path
/// [norm, LeakyReLU(0.2), Conv 3x3 (in -> in), norm, LeakyReLU(0.2), [Conv 3x3 (in -> out), AvgPool 2]]
/// plus the shortcut [AvgPool 2, Conv 1x1 (in -> out)]; halves the side. Children `conv` and
/// `shortcut` (keys `conv.2.weight`, `conv.5.0.weight`, `shortcut.1.weight` with InstanceNorm;
/// norm slots are left out with `.none`, as the reference).
public final class EncoderBasicBlock: Module {
    public let conv: Sequential, shortcut: Sequential

    public init(inplanes: Int, outplanes: Int, norm: Norm, rng: inout RNG) {
        func normLayer(_ c: Int) -> [Module] { norm == .none ? [] : [norm.layer(c)] }
        let convMeanpool = Sequential(Conv2d(inplanes, outplanes, kernelSize: 3, padding: 1, bias: true, rng: &rng), AvgPool2d(kernelSize: 2))
        conv = Sequential(normLayer(inplanes) + [LeakyReLU(negativeSlope: 0.2), Conv2d(inplanes, inplanes, kernelSize: 3, padding: 1, bias: true, rng: &rng)]
                          + normLayer(inplanes) + [LeakyReLU(negativeSlope: 0.2), convMeanpool])
        shortcut = Sequential(AvgPool2d(kernelSize: 2), Conv2d(inplanes, outplanes, kernelSize: 1, bias: true, rng: &rng))
    }

    override public var children: [(String, Module)] { [("conv", conv), ("shortcut", shortcut)] }

    /// (N, in, H, W) -> (N, out, H/2, W/2)
    override public func callAsFunction(_ x: Tensor) throws -> Tensor { try conv(x) + shortcut(x) }
}

/// Encoder architectures (`--net-e`): the reference's `resnet_256` (5 levels) and
/// `resnet_128` (4), and smaller ones for small images. Each ends in an 8x8 average pool, so
/// it takes sides from 8 * 2^levels up to just below twice that (256-511 for resnet-256).
public enum EncoderArch: String, CaseIterable, Codable {
    case resnet256 = "resnet-256", resnet128 = "resnet-128", resnet64 = "resnet-64", resnet32 = "resnet-32"

    /// The reference's n_blocks: the first conv plus n - 1 residual blocks, each halving the side.
    public var levels: Int {
        switch self {
        case .resnet256: return 5
        case .resnet128: return 4
        case .resnet64: return 3
        case .resnet32: return 2
        }
    }

    /// The input sides it encodes.
    public var sides: ClosedRange<Int> { (8 << levels)...(16 << levels) - 1 }
}

/// BicycleGAN's encoder E (`E_ResNet`, VAE-like): an image (N, inputNc, H, W) -> (mu, logvar),
/// each (N, nz). Children `fc`, `fcVar`, `conv`: `conv` = [0 Conv 4x4 s2 p1 (inputNc -> nef), 1 ..< levels
/// EncoderBasicBlock (nef * min(4, n) -> nef * min(4, n + 1)), LeakyReLU(0.2), AvgPool2d(8)];
/// `fc` = [Linear(-> nz)] gives mu and `fcVar` = [Linear(-> nz)] the log-variance.
public final class ResNetEncoder: Module {
    public let inputNc: Int, nz: Int, nef: Int, arch: EncoderArch
    public let conv: Sequential, fc: Sequential, fcVar: Sequential

    public init(inputNc: Int = 3, nz: Int = 8, nef: Int = 64, arch: EncoderArch = .resnet256, norm: Norm = .instance,
                initType: InitType? = .xavier, initGain: Float = 0.02, rng: inout RNG) throws {
        guard inputNc >= 1, nz >= 1, nef >= 1 else {
            throw NetworkError.invalidOption("ResNetEncoder: inputNc, nz and nef must be positive, got \(inputNc), \(nz), \(nef)")
        }
        self.inputNc = inputNc; self.nz = nz; self.nef = nef; self.arch = arch
        var layers: [Module] = [Conv2d(inputNc, nef, kernelSize: 4, stride: 2, padding: 1, bias: true, rng: &rng)]
        var width = nef
        for n in 1..<arch.levels {
            width = nef * min(4, n + 1)
            layers.append(EncoderBasicBlock(inplanes: nef * min(4, n), outplanes: width, norm: norm, rng: &rng))
        }
        layers += [LeakyReLU(negativeSlope: 0.2), AvgPool2d(kernelSize: 8)]
        conv = Sequential(layers)
        fc = Sequential([Linear(width, nz, rng: &rng)])
        fcVar = Sequential([Linear(width, nz, rng: &rng)])
        super.init()
        if let t = initType { initWeights(t, gain: initGain, rng: &rng) }
    }

    /// In the reference's registration order (fc first).
    override public var children: [(String, Module)] { [("fc", fc), ("fcVar", fcVar), ("conv", conv)] }

    /// (N, inputNc, H, W) with H, W in `arch.sides` -> (mu (N, nz), logvar (N, nz)).
    public func forward(_ x: Tensor) throws -> (mu: Tensor, logvar: Tensor) {
        try checkInput(x, channels: inputNc, network: "ResNetEncoder")
        guard arch.sides.contains(x.shape[2]), arch.sides.contains(x.shape[3]) else {
            throw NetworkError.invalidOption("ResNetEncoder (\(arch.rawValue)): takes images of \(arch.sides.lowerBound) to \(arch.sides.upperBound) pixels a side, got \(x.shape[3])x\(x.shape[2])")
        }
        // (N, C, H, W) -> (N, width, 1, 1) -> (N, width)
        let h = try conv(x)
        let flat = try h.reshaped([x.shape[0], h.count / x.shape[0]])
        return (try fc(flat), try fcVar(flat))
    }
}
