import Tensors
import NN

/// The reference's `ResnetBlock` (reflect padding): returns `x + conv_block(x)`, no
/// activation after the sum.
///
/// Child `conv_block` is a `Sequential` with the reference's indices (keys as PyTorch):
///   [0 ReflectionPad2d(1), 1 Conv2d 3x3 (dim -> dim), 2 norm, 3 ReLU, (Dropout(0.5)),
///    ReflectionPad2d(1), Conv2d 3x3 (dim -> dim), norm]
/// so the second conv is `conv_block.5` without dropout and `conv_block.6` with it. The convs
/// have a bias iff `norm.useBias`.
public final class ResnetBlock: Module {
    public let dim: Int
    public let convBlock: Sequential

    public init(dim: Int, norm: Norm = .instance, useDropout: Bool = false, rng: inout RNG) {
        self.dim = dim
        let useBias = norm.useBias
        var layers: [Module] = [ReflectionPad2d(1), Conv2d(dim, dim, kernelSize: 3, bias: useBias, rng: &rng),
                                norm.layer(dim), ReLU()]
        if useDropout { layers.append(Dropout(p: 0.5, rng: &rng)) }
        layers += [ReflectionPad2d(1), Conv2d(dim, dim, kernelSize: 3, bias: useBias, rng: &rng), norm.layer(dim)]
        convBlock = Sequential(layers)
    }

    override public var children: [(String, Module)] { [("conv_block", convBlock)] }

    /// (N, dim, H, W) -> (N, dim, H, W); H, W >= 2 (reflection padding 1).
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x + convBlock(x)
    }
}

/// The CycleGAN ResNet generator (`resnet_9blocks`: nBlocks 9; `resnet_6blocks`: 6), keys
/// exactly as the reference's state dict (`model.1.weight`, `model.10.conv_block.1.weight`, ...).
///
/// Child `model` is a `Sequential` with the reference's indices:
///   0 ReflectionPad2d(3), 1 Conv2d 7x7 (inputNc -> ngf), 2 norm, 3 ReLU;
///   4 Conv2d 3x3 s2 p1 (ngf -> 2ngf), 5 norm, 6 ReLU; 7 Conv2d 3x3 s2 p1 (2ngf -> 4ngf), 8 norm, 9 ReLU;
///   10 ..< 10+nBlocks: ResnetBlock(4ngf);
///   then twice: up (4ngf -> 2ngf, then 2ngf -> ngf), norm, ReLU;
///   ReflectionPad2d(3), Conv2d 7x7 (ngf -> outputNc, always with bias), Tanh.
/// Every conv except the last has a bias iff `norm.useBias` (InstanceNorm: yes, BatchNorm: no).
/// With `norm == .none` the norm slots hold a parameter-free `NoNorm`, so indices do not move.
///
/// The up layers: `.transposed` = ConvTranspose2d 3x3 stride 2 pad 1 output_padding 1 (the
/// reference); `.resizeConv` = a nested `Sequential` [nearest Upsample(2), ReflectionPad2d(1),
/// Conv2d 3x3] at the same index, so its keys are `<index>.2.weight` / `<index>.2.bias`.
///
/// Parameters with InstanceNorm, ngf 64, 3 -> 3: 11,378,179 (9 blocks), 7,837,699 (6 blocks).
///
/// Any input size works: the two stride-2 convs need sides that are multiples of 4 (and the
/// residual blocks' reflection padding needs at least 2 at 1/4 scale, so sides of at least 8).
/// Other sides are padded (reflect, split evenly before/after; replicate where the pad is not
/// smaller than the side) and the output is cropped back to the input size.
///
/// Initialisation as `UnetGenerator`: PyTorch layer defaults from `rng`, then the reference's
/// `init_weights(initType, initGain)` unless `initType` is nil.
public final class ResnetGenerator: Module {
    public let inputNc: Int, outputNc: Int, ngf: Int, nBlocks: Int
    public let norm: Norm, useDropout: Bool, upsampling: Upsampling
    public let model: Sequential

    public init(inputNc: Int = 3, outputNc: Int = 3, ngf: Int = 64, norm: Norm = .instance, useDropout: Bool = false,
                nBlocks: Int = 9, upsampling: Upsampling = .transposed,
                initType: InitType? = .normal, initGain: Float = 0.02, rng: inout RNG) throws {
        guard inputNc >= 1, outputNc >= 1, ngf >= 1 else {
            throw NetworkError.invalidOption("ResnetGenerator: inputNc, outputNc and ngf must be positive, got \(inputNc), \(outputNc), \(ngf)")
        }
        guard nBlocks >= 0 else {
            throw NetworkError.invalidOption("ResnetGenerator: nBlocks must be at least 0, got \(nBlocks)")
        }
        self.inputNc = inputNc; self.outputNc = outputNc; self.ngf = ngf; self.nBlocks = nBlocks
        self.norm = norm; self.useDropout = useDropout; self.upsampling = upsampling
        let useBias = norm.useBias
        // (N, inputNc, H, W) -> (N, ngf, H, W)
        var layers: [Module] = [ReflectionPad2d(3), Conv2d(inputNc, ngf, kernelSize: 7, bias: useBias, rng: &rng),
                                norm.layer(ngf), ReLU()]
        // -> (N, 2ngf, H/2, W/2) -> (N, 4ngf, H/4, W/4)
        for i in 0..<2 {
            let mult = 1 << i
            layers += [Conv2d(ngf * mult, ngf * mult * 2, kernelSize: 3, stride: 2, padding: 1, bias: useBias, rng: &rng),
                       norm.layer(ngf * mult * 2), ReLU()]
        }
        for _ in 0..<nBlocks { layers.append(ResnetBlock(dim: ngf * 4, norm: norm, useDropout: useDropout, rng: &rng)) }
        // -> (N, 2ngf, H/2, W/2) -> (N, ngf, H, W)
        for i in 0..<2 {
            let mult = 1 << (2 - i)
            let up: Module
            switch upsampling {
            case .transposed:
                up = ConvTranspose2d(ngf * mult, ngf * mult / 2, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1,
                                     bias: useBias, rng: &rng)
            case .resizeConv:
                up = Sequential(Upsample(scaleFactor: 2, mode: .nearest), ReflectionPad2d(1),
                                Conv2d(ngf * mult, ngf * mult / 2, kernelSize: 3, bias: useBias, rng: &rng))
            }
            layers += [up, norm.layer(ngf * mult / 2), ReLU()]
        }
        // -> (N, outputNc, H, W)
        layers += [ReflectionPad2d(3), Conv2d(ngf, outputNc, kernelSize: 7, bias: true, rng: &rng), Tanh()]
        model = Sequential(layers)
        super.init()
        if let t = initType { initWeights(t, gain: initGain, rng: &rng) }
    }

    override public var children: [(String, Module)] { [("model", model)] }

    /// Input sides are padded to multiples of this.
    public static let sizeMultiple = 4
    /// and to at least this (1/4 scale must allow the blocks' reflection padding of 1).
    public static let minimumSide = 8

    /// The side the network runs at for an input side.
    public static func paddedSide(_ side: Int) -> Int {
        let m = sizeMultiple
        return max(minimumSide, (side + m - 1) / m * m)
    }

    /// (N, inputNc, H, W) in [-1, 1] -> (N, outputNc, H, W) in (-1, 1), for any H, W >= 1.
    /// Throws `NetworkError` for a wrong channel count or a non-4-d input.
    public func forward(_ x: Tensor) throws -> Tensor {
        try checkInput(x, channels: inputNc, network: "ResnetGenerator")
        return try runPadded(x, height: Self.paddedSide(x.shape[2]), width: Self.paddedSide(x.shape[3])) { try model($0) }
    }

    override public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(x) }
}
