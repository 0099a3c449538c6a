import Tensors
import Foundation

/// PyTorch's default for conv weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
/// (kaiming_uniform with a = sqrt(5)).
func defaultUniform(_ shape: [Int], fanIn: Int, rng: inout RNG) -> Tensor {
    let bound = fanIn > 0 ? 1 / Float(fanIn).squareRoot() : 0
    return Tensor.rand(shape, low: -bound, high: bound, rng: &rng, requiresGrad: true)
}

public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Size2, padding: Size2, dilation: Size2
    public let paddingMode: PaddingMode

    /// weight (out, in, kH, kW); `paddingMode` .reflect pads the input before an unpadded conv.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Size2, stride: Size2 = 1, padding: Size2 = 0,
                dilation: Size2 = 1, bias: Bool = true, paddingMode: PaddingMode = .constant, rng: inout RNG) {
        let fanIn = inChannels * kernelSize.h * kernelSize.w
        weight = defaultUniform([outChannels, inChannels, kernelSize.h, kernelSize.w], fanIn: fanIn, rng: &rng)
        self.bias = bias ? defaultUniform([outChannels], fanIn: fanIn, rng: &rng) : nil
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.paddingMode = paddingMode
    }
    override public var localParameters: [(String, Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        if paddingMode != .constant && padding != 0 {
            let p = try pad(x, left: padding.w, right: padding.w, top: padding.h, bottom: padding.h, mode: paddingMode)
            return try conv2d(p, weight: weight, bias: bias, stride: stride, padding: 0, dilation: dilation)
        }
        return try conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation)
    }
}

public final class ConvTranspose2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Size2, padding: Size2, outputPadding: Size2, dilation: Size2

    /// weight (in, out, kH, kW) as PyTorch.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Size2, stride: Size2 = 1, padding: Size2 = 0,
                outputPadding: Size2 = 0, dilation: Size2 = 1, bias: Bool = true, rng: inout RNG) {
        // PyTorch computes fan_in from weight.size(1) = out channels for transposed convs.
        let fanIn = outChannels * kernelSize.h * kernelSize.w
        weight = defaultUniform([inChannels, outChannels, kernelSize.h, kernelSize.w], fanIn: fanIn, rng: &rng)
        self.bias = bias ? defaultUniform([outChannels], fanIn: fanIn, rng: &rng) : nil
        self.stride = stride; self.padding = padding; self.outputPadding = outputPadding; self.dilation = dilation
    }
    override public var localParameters: [(String, Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try convTranspose2d(x, weight: weight, bias: bias, stride: stride, padding: padding,
                            outputPadding: outputPadding, dilation: dilation)
    }
}

/// A fully connected layer (`nn.Linear`): (N, in) -> (N, out), y = x W^T + b, weight
/// (out, in) as PyTorch, PyTorch's default init U(-1/sqrt(in), 1/sqrt(in)) for both.
/// Computed as a 1x1 convolution of the (N, in, 1, 1) view.
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let inFeatures: Int, outFeatures: Int

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout RNG) {
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        weight = defaultUniform([outFeatures, inFeatures], fanIn: inFeatures, rng: &rng)
        self.bias = bias ? defaultUniform([outFeatures], fanIn: inFeatures, rng: &rng) : nil
    }
    override public var localParameters: [(String, Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }
    /// (N, in) -> (N, out)
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 2, x.shape[1] == inFeatures else {
            throw TensorError.shapeMismatch(op: "Linear(\(inFeatures), \(outFeatures))", shapes: [x.shape, weight.shape])
        }
        let n = x.shape[0]
        // (N, in, 1, 1) * (out, in, 1, 1) -> (N, out, 1, 1)
        let y = try conv2d(try x.reshaped([n, inFeatures, 1, 1]), weight: try weight.reshaped([outFeatures, inFeatures, 1, 1]), bias: bias)
        return try y.reshaped([n, outFeatures])
    }
}

/// Average pooling (`nn.AvgPool2d`; stride defaults to the kernel size).
public final class AvgPool2d: Module {
    public let kernelSize: Size2, stride: Size2, padding: Size2, countIncludePad: Bool
    public init(kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0, countIncludePad: Bool = true) {
        self.kernelSize = kernelSize; self.stride = stride ?? kernelSize; self.padding = padding; self.countIncludePad = countIncludePad
    }
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try avgPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding, countIncludePad: countIncludePad)
    }
}

public final class BatchNorm2d: Module {
    public let weight: Tensor?, bias: Tensor?
    public let runningMean: Tensor?, runningVar: Tensor?
    public let eps: Float, momentum: Float
    /// In training mode, normalise each sample by its own statistics and leave the running
    /// stats alone: exactly what batch size 1 does, for batched inference under the pix2pix
    /// test protocol (batch statistics at test time).
    public var perSampleStatistics = false

    public init(_ numFeatures: Int, eps: Float = 1e-5, momentum: Float = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true) {
        weight = affine ? Tensor(repeating: 1, shape: [numFeatures], requiresGrad: true) : nil
        bias = affine ? Tensor(zeros: [numFeatures], requiresGrad: true) : nil
        runningMean = trackRunningStats ? Tensor(zeros: [numFeatures]) : nil
        runningVar = trackRunningStats ? Tensor(repeating: 1, shape: [numFeatures]) : nil
        self.eps = eps; self.momentum = momentum
    }
    override public var localParameters: [(String, Tensor)] {
        [("weight", weight), ("bias", bias)].compactMap { n, t in t.map { (n, $0) } }
    }
    override public var localBuffers: [(String, Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVar)].compactMap { n, t in t.map { (n, $0) } }
    }
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        if training && perSampleStatistics { return try instanceNorm(x, weight: weight, bias: bias, eps: eps) }
        // Without running stats, batch statistics are used in eval mode too (as PyTorch).
        let useBatch = training || runningMean == nil
        return try batchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                             training: useBatch, momentum: momentum, eps: eps,
                             across: training ? SynchronizedBatchNorm.communicator : nil)
    }
}

/// Synchronised BatchNorm (`--sync-bn`), as a scope: inside `SynchronizedBatchNorm.$communicator
/// .withValue(comm) { ... }` every BatchNorm2d in training mode (and not per-sample) normalises
/// over the batches of all of `comm`'s ranks. The trainer opens the scope around its training
/// steps only, which every rank runs in step; anything rank 0 does alone (report samples) is
/// outside it.
public enum SynchronizedBatchNorm {
    @TaskLocal public static var communicator: Communicator?
}

extension Module {
    /// Whether any BatchNorm2d is below this module.
    public var containsBatchNorm: Bool { namedModules().contains { $0.1 is BatchNorm2d } }
}

public final class InstanceNorm2d: Module {
    public let weight: Tensor?, bias: Tensor?
    public let eps: Float

    /// affine false by default, no running statistics (PyTorch defaults).
    public init(_ numFeatures: Int, eps: Float = 1e-5, affine: Bool = false) {
        weight = affine ? Tensor(repeating: 1, shape: [numFeatures], requiresGrad: true) : nil
        bias = affine ? Tensor(zeros: [numFeatures], requiresGrad: true) : nil
        self.eps = eps
    }
    override public var localParameters: [(String, Tensor)] {
        [("weight", weight), ("bias", bias)].compactMap { n, t in t.map { (n, $0) } }
    }
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try instanceNorm(x, weight: weight, bias: bias, eps: eps)
    }
}

public final class ReLU: Module {
    override public init() {}
    override public func callAsFunction(_ x: Tensor) throws -> Tensor { relu(x) }
}

public final class LeakyReLU: Module {
    public let negativeSlope: Float
    public init(negativeSlope: Float = 0.01) { self.negativeSlope = negativeSlope }
    override public func callAsFunction(_ x: Tensor) throws -> Tensor { leakyReLU(x, negativeSlope: negativeSlope) }
}

public final class Tanh: Module {
    override public init() {}
    override public func callAsFunction(_ x: Tensor) throws -> Tensor { tanh(x) }
}

public final class Sigmoid: Module {
    override public init() {}
    override public func callAsFunction(_ x: Tensor) throws -> Tensor { sigmoid(x) }
}

/// Dropout with its own generator, forked from the model's seeded RNG at construction so
/// that masks are reproducible; its state is saved with the model (`rngStates`).
public final class Dropout: Module {
    public let p: Float
    public var rng: RNG
    public init(p: Float = 0.5, rng: inout RNG) {
        self.p = p
        self.rng = RNG(seed: rng.next())
    }
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try dropout(x, p: p, training: training, rng: &rng)
    }
}

public final class ReflectionPad2d: Module {
    public let left: Int, right: Int, top: Int, bottom: Int
    public init(_ padding: Int) { left = padding; right = padding; top = padding; bottom = padding }
    public init(left: Int, right: Int, top: Int, bottom: Int) {
        self.left = left; self.right = right; self.top = top; self.bottom = bottom
    }
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try pad(x, left: left, right: right, top: top, bottom: bottom, mode: .reflect)
    }
}

public final class ZeroPad2d: Module {
    public let left: Int, right: Int, top: Int, bottom: Int
    public init(_ padding: Int) { left = padding; right = padding; top = padding; bottom = padding }
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try pad(x, left: left, right: right, top: top, bottom: bottom, mode: .constant)
    }
}

/// Max pooling (`nn.MaxPool2d`; stride defaults to the kernel size).
public final class MaxPool2d: Module {
    public let kernelSize: Size2, stride: Size2, padding: Size2
    public init(kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0) {
        self.kernelSize = kernelSize; self.stride = stride ?? kernelSize; self.padding = padding
    }
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try maxPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

/// Nearest or bilinear upsampling by an integer factor (`nn.Upsample`).
public final class Upsample: Module {
    public enum Mode: String, CaseIterable { case nearest, bilinear }
    public let scaleFactor: Int, mode: Mode
    public init(scaleFactor: Int, mode: Mode = .nearest) { self.scaleFactor = scaleFactor; self.mode = mode }
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        switch mode {
        case .nearest: return try upsampleNearest(x, scaleFactor: scaleFactor)
        case .bilinear: return try upsampleBilinear(x, scaleFactor: scaleFactor)
        }
    }
}

extension Module {
    /// Re-seeds every Dropout generator below this module from one seed (in module order),
    /// so that a sampling run is reproducible whatever ran before it.
    public func reseedDropout(_ seed: UInt64) {
        var rng = RNG(seed: seed)
        for (_, m) in namedModules() { if let d = m as? Dropout { d.rng = RNG(seed: rng.next()) } }
    }
    /// Whether a forward pass in training mode draws random numbers (any Dropout with p > 0).
    public var hasDropout: Bool { namedModules().contains { ($0.1 as? Dropout).map { $0.p > 0 } ?? false } }

    /// States of every Dropout generator, keyed by module path (for exact resume).
    public var rngStates: [(String, RNG)] {
        namedModules().compactMap { path, m in (m as? Dropout).map { (path, $0.rng) } }
    }
    public func setRNGStates(_ states: [String: RNG]) {
        for (path, m) in namedModules() { if let d = m as? Dropout, let s = states[path] { d.rng = s } }
    }
}

extension Module {
    /// Switches `perSampleStatistics` on every BatchNorm2d below this module.
    public func setPerSampleBatchStatistics(_ on: Bool) {
        for (_, m) in namedModules() { (m as? BatchNorm2d)?.perSampleStatistics = on }
    }

    /// Runs `body` and then restores every dropout generator, so that a look at the model
    /// (samples for a report) does not change the course of training.
    public func preservingRandomState<R>(_ body: () throws -> R) rethrows -> R {
        let saved = Dictionary(rngStates, uniquingKeysWith: { a, _ in a })
        defer { setRNGStates(saved) }
        return try body()
    }
}
