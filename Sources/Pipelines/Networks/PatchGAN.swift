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
        let layers = Self.layers(inputNc: inputNc, ndf: ndf, nLayers: nLayers, norm: norm, innerBias: norm.useBias, rng: &rng)
        model = Sequential(layers)
        super.init()
        if let t = initType { initWeights(t, gain: initGain, rng: &rng) }
    }

    /// The layers of the `model` Sequential; the inner convs have a bias iff `innerBias`.
    static func layers(inputNc: Int, ndf: Int, nLayers: Int, norm: Norm, innerBias: Bool, rng: inout RNG) -> [Module] {
        var layers: [Module] = [Conv2d(inputNc, ndf, kernelSize: 4, stride: 2, padding: 1, bias: true, rng: &rng),
                                LeakyReLU(negativeSlope: 0.2)]
        var mult = 1
        for n in 1..<nLayers {
            let prev = mult
            mult = min(1 << n, 8)
            layers += [Conv2d(ndf * prev, ndf * mult, kernelSize: 4, stride: 2, padding: 1, bias: innerBias, rng: &rng),
                       norm.layer(ndf * mult), LeakyReLU(negativeSlope: 0.2)]
        }
        let prev = mult
        mult = min(1 << min(nLayers, 3), 8)
        layers += [Conv2d(ndf * prev, ndf * mult, kernelSize: 4, stride: 1, padding: 1, bias: innerBias, rng: &rng),
                   norm.layer(ndf * mult), LeakyReLU(negativeSlope: 0.2),
                   Conv2d(ndf * mult, 1, kernelSize: 4, stride: 1, padding: 1, bias: true, rng: &rng)]
        return layers
    }

    override public var children: [(String, Module)] { [("model", model)] }

    /// Side of the logit map for an input side (each s2 conv: floor(s/2); each s1 conv: s - 1).
    public func outputSide(_ side: Int) -> Int { Self.outputSide(side, nLayers: nLayers) }

    static func outputSide(_ side: Int, nLayers: Int) -> Int {
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

/// BicycleGAN's multi-scale PatchGAN (`D_NLayersMulti`; `basic_256_multi` = nLayers 3,
/// `basic_128_multi` = 2, with numD 2): numD PatchGANs, the i-th (ndf / 2^i filters, rounded
/// half to even as Python's `round`) on the input average-pooled i times (3x3, stride 2,
/// pad 1, padding not counted). Every conv has a bias whatever the norm, as the reference.
/// Children `model_0`, `model_1`, ... (numD 1: `model`), each the `Sequential` of
/// `NLayerDiscriminator`, so keys are `model_1.2.weight`, ...
public final class MultiscaleDiscriminator: Module {
    public let inputNc: Int, ndf: Int, nLayers: Int, numD: Int, norm: Norm
    public let models: [Sequential]

    public init(inputNc: Int, ndf: Int = 64, nLayers: Int = 3, numD: Int = 2, norm: Norm = .instance,
                initType: InitType? = .xavier, initGain: Float = 0.02, rng: inout RNG) throws {
        guard inputNc >= 1, nLayers >= 1, (1...4).contains(numD), Self.filters(ndf, scale: numD - 1) >= 1 else {
            throw NetworkError.invalidOption("MultiscaleDiscriminator: inputNc and nLayers must be positive, numD 1 to 4 and ndf large enough for every scale (ndf / 2^(numD-1) >= 1), got \(inputNc), \(nLayers), \(numD), \(ndf)")
        }
        self.inputNc = inputNc; self.ndf = ndf; self.nLayers = nLayers; self.numD = numD; self.norm = norm
        models = (0..<numD).map { i in
            Sequential(NLayerDiscriminator.layers(inputNc: inputNc, ndf: Self.filters(ndf, scale: i), nLayers: nLayers, norm: norm,
                                                  innerBias: true, rng: &rng))
        }
        super.init()
        if let t = initType { initWeights(t, gain: initGain, rng: &rng) }
    }

    /// Filters of the scale-`i` discriminator: round(ndf / 2^i), halves to even.
    static func filters(_ ndf: Int, scale i: Int) -> Int { Int((Double(ndf) / Double(1 << i)).rounded(.toNearestOrEven)) }

    override public var children: [(String, Module)] {
        numD == 1 ? [("model", models[0])] : models.enumerated().map { ("model_\($0.offset)", $0.element) }
    }

    /// The smallest input side every scale gives a non-empty logit map for.
    public func minimumSide() -> Int {
        var side = 1
        while !(0..<numD).allSatisfy({ NLayerDiscriminator.outputSide(Self.pooledSide(side, times: $0), nLayers: nLayers) >= 1 }) { side += 1 }
        return side
    }

    static func pooledSide(_ side: Int, times: Int) -> Int {
        var s = side
        for _ in 0..<times { s = (s - 1) / 2 + 1 }
        return s
    }

    /// (N, inputNc, H, W) -> one logit map per scale, finest first.
    public func forward(_ x: Tensor) throws -> [Tensor] {
        try checkInput(x, channels: inputNc, network: "MultiscaleDiscriminator")
        let m = minimumSide()
        guard x.shape[2] >= m, x.shape[3] >= m else {
            throw NetworkError.invalidOption("MultiscaleDiscriminator: input \(x.shape[2])x\(x.shape[3]) is too small for \(numD) scales of \(nLayers) layers (at least \(m)x\(m))")
        }
        var out: [Tensor] = []
        var h = x
        for (i, model) in models.enumerated() {
            out.append(try model(h))
            // (N, C, H, W) -> (N, C, floor((H - 1) / 2) + 1, ...)
            if i + 1 < numD { h = try avgPool2d(h, kernelSize: 3, stride: 2, padding: 1, countIncludePad: false) }
        }
        return out
    }
}

/// The GAN loss summed over the scales of a multi-scale discriminator, as the reference's
/// `GANLoss` on a list of predictions.
public func ganLoss(_ predictions: [Tensor], targetIsReal: Bool, mode: GANMode) throws -> Tensor {
    var total: Tensor?
    for p in predictions {
        let l = try ganLoss(p, targetIsReal: targetIsReal, mode: mode)
        total = try total.map { try $0 + l } ?? l
    }
    guard let total else { throw NetworkError.invalidOption("ganLoss: no predictions") }
    return total
}
