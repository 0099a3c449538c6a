import Foundation

/// Every threshold and switch of the convolution algorithms, as one value. The process
/// default is the measured best (docs/BENCHMARKS.md has the measurements), with
/// `TRANSLATE_WINOGRAD=0` read once from the environment; tests and benchmarks run code
/// under another policy with `policy.run { ... }` (task-local: the forward and backward of
/// that scope see it), never by changing globals.
public struct ConvPolicy: Sendable, Equatable {
    /// Direct correlations for convolutions with at most `directMaxOutputs` outputs.
    public var direct = true
    public static let directMaxOutputs = 4
    /// Bytes of column matrix per chunk of output rows (im2col + GEMM).
    public var chunkBytes = 8 << 20
    /// Winograd at all (F(2x2, 3x3), F(4x4, 3x3), F(2x2, 4x4), F(3x3, 4x4), F(2x2, 2x2) and F(4x4, 2x2) over phase images).
    public var winograd = true
    /// Both channel counts must reach this for any Winograd algorithm.
    public var winogradMinChannels = 32
    /// F(2x2, 4x4) for stride-1 4x4 convolutions (PatchGAN's 256 -> 512 layer).
    public var winograd4x4 = true
    /// F(3x3, 4x4) instead of F(2x2, 4x4) for 4x4 convolutions whose output plane has at
    /// least this many positions (0: every plane; Int.max: never).
    public var winogradK4Tile3MinPositions = 256
    /// F(4x4, 3x3) instead of F(2x2, 3x3) for 3x3 convolutions whose output plane has at
    /// least this many positions (0: every plane; Int.max: never).
    public var winogradTile4MinPositions = 1024
    /// F(2x2, 2x2) over phase images for 4x4 stride-2 padding-1 layers, from this many 2x2
    /// output tiles per image without gradients.
    public var winogradS2 = true
    public var winogradS2MinTiles = 16
    /// F(4x4, 2x2) instead of F(2x2, 2x2) where the output plane's sides are multiples of 4;
    /// with gradients recorded only on output planes of at least this many positions.
    public var winogradS2Tile4 = true
    public var winogradS2Tile4TrainMinPositions = 4096
    /// Planes with at least this many tiles run per image through OpenBLAS; smaller ones as
    /// one packed product over the batch.
    public var winogradS2PerImageTiles = 256
    /// With gradients recorded: from this many tiles (filters derived afresh every call).
    public var winogradS2Training = true
    public var winogradS2TrainMinTiles = 256
    /// Without gradients, planes of at most this many positions (4x4 stride-2 layers; any
    /// geometry up to `fewColumnsMaxPositions`) take one product over all images.
    public var batchedMaxPositions = 256
    /// Up to this many positions that product is the few-column kernel, else the packed one.
    public var fewColumnsMaxPositions = 1
    /// Images' columns packed at most about this many bytes at a time (cache-sized groups).
    public var batchedGroupBytes = 16 << 20
    /// Training steps of two or more images: 4x4 stride-2 layers of at most this many
    /// positions as one product over the images' columns (0: off).
    public var trainingBatchedMaxPositions = 64
    /// Stride-1 input gradients as a convolution of the output gradient (else col2im).
    public var inputGradientAsConv = true
    /// Derived weights (transformed, packed) kept between calls while unchanged, up to
    /// `weightCacheFloats` floats.
    public var weightCache = true
    public var weightCacheFloats = 256 << 20

    public init() {}

    /// The environment variable that turns Winograd off (0, off, false, no).
    public static let winogradVariable = "TRANSLATE_WINOGRAD"

    /// Winograd is on unless the variable says 0 (or off / false / no).
    public static func winogradSetting(_ value: String?) -> Bool {
        guard let v = value?.trimmingCharacters(in: .whitespaces).lowercased() else { return true }
        return !["0", "off", "false", "no"].contains(v)
    }

    /// The defaults with the environment's `TRANSLATE_WINOGRAD`.
    public init(environment: [String: String]) {
        self.init()
        winograd = Self.winogradSetting(environment[Self.winogradVariable])
    }

    /// The policy in effect: the innermost scope's, else the process default.
    public static var current: ConvPolicy { bound?.policy ?? processDefault }
    @TaskLocal static var bound: ConvPolicyScope?
    public static let processDefault = ConvPolicy(environment: ProcessInfo.processInfo.environment)

    /// Runs `body` (its forward and backward passes) under this policy.
    public func run<R>(_ body: () throws -> R) rethrows -> R { try ConvPolicy.$bound.withValue(ConvPolicyScope(self)) { try body() } }

    /// Runs `body` with a scope of its own whose policy it may change as it goes (tests that
    /// compare algorithms step by step); nothing outside the scope sees the changes.
    public static func scoped<R>(_ body: (ConvPolicyScope) throws -> R) rethrows -> R {
        let scope = ConvPolicyScope(current)
        return try $bound.withValue(scope) { try body(scope) }
    }

    /// A copy with `change` applied, for `ConvPolicy.current.with { $0.winograd = false }.run { ... }`.
    public func with(_ change: (inout ConvPolicy) -> Void) -> ConvPolicy {
        var p = self
        change(&p)
        return p
    }
}

/// The policy of one scope (`ConvPolicy.run`, `ConvPolicy.scoped`). Only the code of that
/// scope reads it, on the thread that calls the convolutions.
public final class ConvPolicyScope: @unchecked Sendable {
    public var policy: ConvPolicy
    init(_ policy: ConvPolicy) { self.policy = policy }
}

/// The algorithm of one pass of a convolution (`ConvPlan`'s choices; one file each in
/// `Algorithms/`).
public enum ConvKernel: String, Sendable, CaseIterable {
    /// Direct few-output correlations (`conv2dDirect`), forward and backward.
    case direct
    /// 1x1 stride-1 unpadded: one product per image, no unfolding.
    case pointwise
    /// im2col (a chunk of output rows at a time) + OpenBLAS.
    case im2colGEMM
    /// Winograd F(2x2, 3x3), F(4x4, 3x3), F(2x2, 4x4) and F(3x3, 4x4) (`Winograd`).
    case winograd3x3, winograd3x3Tile4, winograd4x4, winograd4x4Tile3
    /// Winograd F(2x2, 2x2) and F(4x4, 2x2) over phase images (`WinogradS2`).
    case winogradS2, winogradS2Tile4
    /// One product over all images without gradients: the few-column kernel or the packed one.
    case batchedFewColumns, batchedPacked
    /// One product over all images' columns (training, small 4x4 stride-2 planes).
    case batchColumns
    /// The adjoint (conv2d's input gradient) as the stride-1 convolution of the output
    /// gradient, by GEMM or by Winograd.
    case gradientConvGEMM, gradientConvWinograd3x3, gradientConvWinograd3x3Tile4, gradientConvWinograd4x4, gradientConvWinograd4x4Tile3
    /// The adjoint by a product per image and col2im (conv2d's input gradient, a transposed
    /// convolution's forward).
    case gemmCol2im
}

/// What one convolution call ran: its geometry and the algorithm of each pass (nil where
/// the pass is not needed).
public struct ConvPlanRecord: Equatable, Sendable, CustomStringConvertible {
    public var transposed: Bool
    /// channels -> outputs, input plane, kernel, stride, padding.
    public var channels: Int, outputs: Int, height: Int, width: Int, kernel: Int, stride: Int, padding: Int, images: Int
    public var forward: ConvKernel
    public var inputGradient: ConvKernel?
    public var weightGradient: ConvKernel?

    public var description: String {
        "\(transposed ? "convT" : "conv") \(channels)->\(outputs) k\(kernel) s\(stride) p\(padding) on \(height)x\(width) x\(images): forward \(forward.rawValue)"
            + (inputGradient.map { ", input grad \($0.rawValue)" } ?? "") + (weightGradient.map { ", weight grad \($0.rawValue)" } ?? "")
    }
}

/// Collects the plans of the convolutions run inside `trace` (task-local; nothing is kept
/// outside a trace). Tests assert plans with it; `translate-bench plan` prints them.
public final class ConvTrace: @unchecked Sendable {
    private let lock = NSLock()
    private var records: [ConvPlanRecord] = []
    @TaskLocal static var active: ConvTrace?

    /// The plans of every convolution `body` runs (forward passes; their backward choices
    /// are in the same records), in call order.
    public static func trace<R>(_ body: () throws -> R) rethrows -> (result: R, plans: [ConvPlanRecord]) {
        let t = ConvTrace()
        let r = try $active.withValue(t) { try body() }
        return (r, t.records)
    }

    static func record(_ p: ConvPlanRecord) {
        guard let t = active else { return }
        t.lock.lock(); t.records.append(p); t.lock.unlock()
    }
}
