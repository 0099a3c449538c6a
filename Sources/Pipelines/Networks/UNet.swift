import Tensors
import NN

/// How the up path of a U-Net doubles the resolution.
/// - transposed: ConvTranspose2d 4x4 stride 2 pad 1, as the reference.
/// - resizeConv: nearest Upsample(2) -> ReflectionPad2d(1) -> Conv2d 3x3 (Odena et al.'s
///   resize-convolution, against checkerboard artifacts). It sits at the same `Sequential`
///   index as the transposed conv would, as a nested `Sequential`, so its keys are
///   `<index>.2.weight` / `<index>.2.bias` instead of `<index>.weight` / `<index>.bias`.
public enum Upsampling: String, CaseIterable, Codable {
    case transposed, resizeConv
}

/// The layer that maps (N, inC, H, W) to (N, outC, 2H, 2W) on the up path.
func upLayer(_ inC: Int, _ outC: Int, bias: Bool, _ upsampling: Upsampling, rng: inout RNG) -> Module {
    switch upsampling {
    case .transposed:
        return ConvTranspose2d(inC, outC, kernelSize: 4, stride: 2, padding: 1, bias: bias, rng: &rng)
    case .resizeConv:
        return Sequential(Upsample(scaleFactor: 2, mode: .nearest), ReflectionPad2d(1),
                          Conv2d(inC, outC, kernelSize: 3, bias: bias, rng: &rng))
    }
}

/// One level of the U-Net: `x -> [down path, submodule, up path]`, with the skip
/// concatenation `cat([x, model(x)], 1)` for every level except the outermost.
///
/// `skipOrder` says which side of the concatenation the block's input goes to: pix2pix's
/// blocks return `cat([x, model(x)])`, BicycleGAN's `cat([model(x), x])`.
///
/// Child `model` is a `Sequential` with the reference's indices (keys as PyTorch):
/// - outermost: [0 down Conv2d(inputNc -> inner), 1 submodule, 2 ReLU, 3 up (2*inner -> outer, bias), 4 Tanh]
/// - innermost: [0 LeakyReLU(0.2), 1 down Conv2d(outer -> inner), 2 ReLU, 3 up (inner -> outer), 4 norm]
/// - middle:    [0 LeakyReLU(0.2), 1 down Conv2d(outer -> inner), 2 norm, 3 submodule, 4 ReLU,
///               5 up (2*inner -> outer), 6 norm, (7 Dropout(0.5))]
/// Down convs are 4x4 stride 2 pad 1. Every conv except the outermost up conv has a bias
/// iff `norm.useBias` (so with BatchNorm even the first conv has none, as the reference). With `norm == .none` the norm slots hold a `NoNorm` (no keys), as the
/// reference's `Identity`.
public final class UnetSkipConnectionBlock: Module {
    public enum Position {
        case outermost(submodule: UnetSkipConnectionBlock)
        case middle(submodule: UnetSkipConnectionBlock)
        case innermost
    }

    /// Where the skip connection puts the block's input in the concatenation.
    public enum SkipOrder { case inputFirst, outputFirst }

    public let isOutermost: Bool
    public let skipOrder: SkipOrder
    public let model: Sequential

    /// outerNc: channels of the block's input (and of its up-path output); innerNc: channels
    /// after the down conv; inputNc: the input channels when they differ from outerNc
    /// (only the outermost block, where the input is the image).
    public init(outerNc: Int, innerNc: Int, inputNc: Int? = nil, position: Position, norm: Norm = .batch,
                useDropout: Bool = false, upsampling: Upsampling = .transposed, skipOrder: SkipOrder = .inputFirst,
                alwaysBias: Bool = false, rng: inout RNG) {
        let inC = inputNc ?? outerNc
        // BicycleGAN's blocks give every conv a bias whatever the norm (`alwaysBias`).
        let useBias = alwaysBias || norm.useBias
        self.skipOrder = skipOrder
        switch position {
        case let .outermost(sub):
            isOutermost = true
            // (N, inC, H, W) -> (N, inner, H/2, W/2) -> sub -> (N, 2 inner, H/2, W/2) -> (N, outer, H, W)
            // As the reference: the down conv follows the bias rule, the up conv always has a bias.
            let down = Conv2d(inC, innerNc, kernelSize: 4, stride: 2, padding: 1, bias: useBias, rng: &rng)
            let up = upLayer(innerNc * 2, outerNc, bias: true, upsampling, rng: &rng)
            model = Sequential(down, sub, ReLU(), up, Tanh())
        case .innermost:
            isOutermost = false
            // (N, outer, H, W) -> (N, inner, H/2, W/2) -> (N, outer, H, W); no norm on the down path
            let down = Conv2d(inC, innerNc, kernelSize: 4, stride: 2, padding: 1, bias: useBias, rng: &rng)
            let up = upLayer(innerNc, outerNc, bias: useBias, upsampling, rng: &rng)
            model = Sequential(LeakyReLU(negativeSlope: 0.2), down, ReLU(), up, norm.layer(outerNc))
        case let .middle(sub):
            isOutermost = false
            let down = Conv2d(inC, innerNc, kernelSize: 4, stride: 2, padding: 1, bias: useBias, rng: &rng)
            let up = upLayer(innerNc * 2, outerNc, bias: useBias, upsampling, rng: &rng)
            var layers: [Module] = [LeakyReLU(negativeSlope: 0.2), down, norm.layer(innerNc), sub,
                                    ReLU(), up, norm.layer(outerNc)]
            if useDropout { layers.append(Dropout(p: 0.5, rng: &rng)) }
            model = Sequential(layers)
        }
    }

    override public var children: [(String, Module)] { [("model", model)] }

    /// (N, outer, H, W) -> (N, 2 outer, H, W), or (N, outer, H, W) for the outermost block.
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        if isOutermost { return try model(x) }
        let y = try model(x)
        return try cat(skipOrder == .inputFirst ? [x, y] : [y, x], dim: 1)
    }
}

/// The pix2pix U-Net generator (`unet_256`: numDowns 8; `unet_128`: 7), keys exactly as the
/// reference's state dict (`model.model.0.weight`, `model.model.1.model.1.weight`, ...).
///
/// Channels from the outside in: ngf, 2ngf, 4ngf, 8ngf, then 8ngf for the remaining
/// levels; Dropout(0.5) (with `useDropout`) only in the numDowns - 5 middle 8ngf blocks.
///
/// Any input size works: sides that are not multiples of 2^numDowns are padded (reflect,
/// split evenly before/after; replicate where the pad is not smaller than the side) up to the
/// next multiple, and the output is cropped back to the input size.
///
/// Initialisation: layers are first built with PyTorch's per-layer defaults from `rng`;
/// then, unless `initType` is nil, the reference's `init_weights(initType, initGain)` is
/// applied with the same `rng` (conv weights N(0, 0.02), biases 0, BatchNorm weights
/// N(1, 0.02)), as the reference's `define_G` does.
public final class UnetGenerator: Module {
    public let inputNc: Int, outputNc: Int, numDowns: Int, ngf: Int
    public let norm: Norm, useDropout: Bool, upsampling: Upsampling
    /// The outermost block.
    public let model: UnetSkipConnectionBlock

    public init(inputNc: Int = 3, outputNc: Int = 3, numDowns: Int = 8, ngf: Int = 64, norm: Norm = .batch,
                useDropout: Bool = false, upsampling: Upsampling = .transposed,
                skipOrder: UnetSkipConnectionBlock.SkipOrder = .inputFirst, alwaysBias: Bool = false,
                initType: InitType? = .normal, initGain: Float = 0.02, rng: inout RNG) throws {
        guard numDowns >= 5 else {
            throw NetworkError.invalidOption("UnetGenerator: numDowns must be at least 5 (the levels ngf, 2ngf, 4ngf, 8ngf and the innermost 8ngf block), got \(numDowns)")
        }
        guard numDowns <= 16 else {
            throw NetworkError.invalidOption("UnetGenerator: numDowns must be at most 16 (inputs are padded to multiples of 2^numDowns), got \(numDowns)")
        }
        guard inputNc >= 1, outputNc >= 1, ngf >= 1 else {
            throw NetworkError.invalidOption("UnetGenerator: inputNc, outputNc and ngf must be positive, got \(inputNc), \(outputNc), \(ngf)")
        }
        self.inputNc = inputNc; self.outputNc = outputNc; self.numDowns = numDowns; self.ngf = ngf
        self.norm = norm; self.useDropout = useDropout; self.upsampling = upsampling
        // Built from the inside out, as the reference.
        var block = UnetSkipConnectionBlock(outerNc: ngf * 8, innerNc: ngf * 8, position: .innermost, norm: norm,
                                            upsampling: upsampling, skipOrder: skipOrder, alwaysBias: alwaysBias, rng: &rng)
        for _ in 0..<(numDowns - 5) {
            block = UnetSkipConnectionBlock(outerNc: ngf * 8, innerNc: ngf * 8, position: .middle(submodule: block),
                                            norm: norm, useDropout: useDropout, upsampling: upsampling, skipOrder: skipOrder,
                                            alwaysBias: alwaysBias, rng: &rng)
        }
        for (outer, inner) in [(ngf * 4, ngf * 8), (ngf * 2, ngf * 4), (ngf, ngf * 2)] {
            block = UnetSkipConnectionBlock(outerNc: outer, innerNc: inner, position: .middle(submodule: block),
                                            norm: norm, upsampling: upsampling, skipOrder: skipOrder, alwaysBias: alwaysBias, rng: &rng)
        }
        model = UnetSkipConnectionBlock(outerNc: outputNc, innerNc: ngf, inputNc: inputNc,
                                        position: .outermost(submodule: block), norm: norm,
                                        upsampling: upsampling, skipOrder: skipOrder, alwaysBias: alwaysBias, rng: &rng)
        super.init()
        if let t = initType { initWeights(t, gain: initGain, rng: &rng) }
    }

    override public var children: [(String, Module)] { [("model", model)] }

    /// Input sides are padded to multiples of this (2^numDowns).
    public var sizeMultiple: Int { 1 << numDowns }

    /// (N, inputNc, H, W) in [-1, 1] -> (N, outputNc, H, W) in (-1, 1), for any H, W >= 1.
    /// Throws `NetworkError` for a wrong channel count or a non-4-d input.
    public func forward(_ x: Tensor) throws -> Tensor {
        try checkInput(x, channels: inputNc, network: "UnetGenerator")
        let m = sizeMultiple
        return try runPadded(x, height: (x.shape[2] + m - 1) / m * m, width: (x.shape[3] + m - 1) / m * m) { try model($0) }
    }

    override public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(x) }
}

/// Reflection where it is defined (both pads smaller than the side), else replication.
func padMode(_ before: Int, _ after: Int, side: Int) -> PaddingMode {
    max(before, after) < side ? .reflect : .replicate
}

/// Pads x (N, C, H, W) to (N, C, height, width), half before and half after each side (reflect,
/// or replicate where reflection is undefined), runs `body`, and crops its output back to H x W.
func runPadded(_ x: Tensor, height: Int, width: Int, _ body: (Tensor) throws -> Tensor) throws -> Tensor {
    let H = x.shape[2], W = x.shape[3]
    let padH = height - H, padW = width - W
    if padH == 0 && padW == 0 { return try body(x) }
    let top = padH / 2, left = padW / 2
    // (N, C, H, W) -> (N, C, height, width)
    var h = x
    if padH > 0 { h = try pad(h, left: 0, right: 0, top: top, bottom: padH - top, mode: padMode(top, padH - top, side: H)) }
    if padW > 0 { h = try pad(h, left: left, right: padW - left, top: 0, bottom: 0, mode: padMode(left, padW - left, side: W)) }
    var y = try body(h)
    // (N, C', height, width) -> (N, C', H, W)
    if padH > 0 { y = try narrow(y, dim: 2, start: top, length: H) }
    if padW > 0 { y = try narrow(y, dim: 3, start: left, length: W) }
    return y
}
