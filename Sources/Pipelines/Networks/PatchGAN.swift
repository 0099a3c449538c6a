import Tensors
import NN

/// The PatchGAN discriminator (`basic` = nLayers 3, 70x70 receptive field), keys exactly as
/// the reference (`model.0.weight`, `model.2.weight`, `model.3.running_mean`, ...).
///
/// Child `model` is a `Sequential`:
///   Conv 4x4 s2 p1 (inputNc -> ndf, bias), LeakyReLU(0.2);
///   for n in 1..<nLayers: Conv 4x4 s2 p1 (ndf*min(2^(n-1), 8) -> ndf*min(2^n, 8)), norm, LeakyReLU(0.2);
///   Conv 4x4 **s1** p1 (-> ndf*min(2^nLayers, 8)), norm, LeakyReLU(0.2);
///   Conv 4x4 s1 p1 (-> 1, bias): raw logits.
/// The inner convs have a bias iff `norm.useBias`. A 256x256 input gives a 30x30 map.
///
/// Initialisation as `UnetGenerator`: PyTorch layer defaults, then `init_weights` unless
/// `initType` is nil.
public final class NLayerDiscriminator: Module {
    public let inputNc: Int, ndf: Int, nLayers: Int, norm: Norm
    public let model: Sequential

    public init(inputNc: Int, ndf: Int = 64, nLayers: Int = 3, norm: Norm = .batch,
                initType: InitType? = .normal, initGain: Float = 0.02, rng: inout RNG) throws {
        guard inputNc >= 1, ndf >= 1, nLayers >= 1 else {
            throw NetworkError.invalidOption("NLayerDiscriminator: inputNc, ndf and nLayers must be positive, got \(inputNc), \(ndf), \(nLayers)")
        }
        self.inputNc = inputNc; self.ndf = ndf; self.nLayers = nLayers; self.norm = norm
        let useBias = norm.useBias
        var layers: [Module] = [Conv2d(inputNc, ndf, kernelSize: 4, stride: 2, padding: 1, bias: true, rng: &rng),
                                LeakyReLU(negativeSlope: 0.2)]
        var mult = 1
        for n in 1..<nLayers {
            let prev = mult
            mult = min(1 << n, 8)
            layers += [Conv2d(ndf * prev, ndf * mult, kernelSize: 4, stride: 2, padding: 1, bias: useBias, rng: &rng),
                       norm.layer(ndf * mult), LeakyReLU(negativeSlope: 0.2)]
        }
        let prev = mult
        mult = min(1 << min(nLayers, 3), 8)
        layers += [Conv2d(ndf * prev, ndf * mult, kernelSize: 4, stride: 1, padding: 1, bias: useBias, rng: &rng),
                   norm.layer(ndf * mult), LeakyReLU(negativeSlope: 0.2),
                   Conv2d(ndf * mult, 1, kernelSize: 4, stride: 1, padding: 1, bias: true, rng: &rng)]
        model = Sequential(layers)
        super.init()
        if let t = initType { initWeights(t, gain: initGain, rng: &rng) }
    }

    override public var children: [(String, Module)] { [("model", model)] }

    /// Side of the logit map for an input side (each s2 conv: floor(s/2); each s1 conv: s - 1).
    public func outputSide(_ side: Int) -> Int {
        var s = side
        for _ in 0..<nLayers { s = s >= 2 ? (s - 2) / 2 + 1 : 0 }
        return max(s - 2, 0)
    }

    /// (N, inputNc, H, W) -> (N, 1, outputSide(H), outputSide(W)) logits.
    public func forward(_ x: Tensor) throws -> Tensor {
        try checkInput(x, channels: inputNc, network: "NLayerDiscriminator")
        guard outputSide(x.shape[2]) >= 1, outputSide(x.shape[3]) >= 1 else {
            throw NetworkError.invalidOption("NLayerDiscriminator: input \(x.shape[2])x\(x.shape[3]) is too small for \(nLayers) layers (the logit map would be empty)")
        }
        return try model(x)
    }

    override public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(x) }
}

/// The reference's 1x1 PatchGAN (`pixel`): one logit per pixel. Child `net` (as the
/// reference): Conv 1x1 (inputNc -> ndf, bias), LeakyReLU(0.2), Conv 1x1 (ndf -> 2ndf,
/// bias iff `norm.useBias`), norm, LeakyReLU(0.2), Conv 1x1 (2ndf -> 1, bias iff `norm.useBias`).
public final class PixelDiscriminator: Module {
    public let inputNc: Int, ndf: Int, norm: Norm
    public let net: Sequential

    public init(inputNc: Int, ndf: Int = 64, norm: Norm = .batch,
                initType: InitType? = .normal, initGain: Float = 0.02, rng: inout RNG) throws {
        guard inputNc >= 1, ndf >= 1 else {
            throw NetworkError.invalidOption("PixelDiscriminator: inputNc and ndf must be positive, got \(inputNc), \(ndf)")
        }
        self.inputNc = inputNc; self.ndf = ndf; self.norm = norm
        let useBias = norm.useBias
        net = Sequential(Conv2d(inputNc, ndf, kernelSize: 1, bias: true, rng: &rng),
                         LeakyReLU(negativeSlope: 0.2),
                         Conv2d(ndf, ndf * 2, kernelSize: 1, bias: useBias, rng: &rng),
                         norm.layer(ndf * 2),
                         LeakyReLU(negativeSlope: 0.2),
                         Conv2d(ndf * 2, 1, kernelSize: 1, bias: useBias, rng: &rng))
        super.init()
        if let t = initType { initWeights(t, gain: initGain, rng: &rng) }
    }

    override public var children: [(String, Module)] { [("net", net)] }

    /// (N, inputNc, H, W) -> (N, 1, H, W) logits.
    public func forward(_ x: Tensor) throws -> Tensor {
        try checkInput(x, channels: inputNc, network: "PixelDiscriminator")
        return try net(x)
    }

    override public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(x) }
}
