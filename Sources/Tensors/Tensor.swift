/// A dense Float32 tensor in row-major (NCHW for images) layout, with optional
/// reverse-mode gradient tracking.
///
/// Values live in `data`; `grad` is allocated on first accumulation. An op that
/// produces a tensor from inputs that require gradients records a `Node` on its
/// result: the inputs and a closure that, given the result's gradient, adds into the
/// inputs' gradients. `backward()` walks those nodes in reverse topological order.
public final class Tensor {
    public let shape: [Int]
    /// The values. Every write (assignment, an element, an in-place mutation) goes through
    /// `_modify` and is counted in `version`, in place (no copy).
    @inlinable public var data: [Float] {
        _read { yield storage }
        _modify { _version &+= 1; yield &storage }
    }
    @usableFromInline var storage: [Float]
    @usableFromInline var _version = 0
    /// Changes with every write to `data`, so that values derived from the data can be kept
    /// while it is unchanged (`PackedWeights`).
    public var version: Int { _version }
    /// Accumulated gradient of the same size as `data`, or nil if none yet (or zeroed).
    public var grad: [Float]? {
        get { hasGrad ? gradStorage : nil }
        set {
            if let v = newValue { gradStorage = v; hasGrad = true } else { hasGrad = false }
        }
    }
    /// Gradient buffer, kept across `zeroGrad()` so that training steps reuse it.
    private var gradStorage: [Float] = []
    private var hasGrad = false
    /// Whether gradients flow into (and, for leaves, accumulate in) this tensor.
    public var requiresGrad: Bool
    /// How this tensor was computed; nil for leaves and for tensors made without grad.
    var node: Node?
    /// Optional name for error messages and parameter tables.
    public var name: String?

    public var count: Int { data.count }
    public var rank: Int { shape.count }
    public var isLeaf: Bool { node == nil }

    /// Creates a tensor from values; `data.count` must equal the product of `shape`.
    public init(shape: [Int], data: [Float], requiresGrad: Bool = false) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.invalidArgument("negative dimension in shape \(shape)")
        }
        let n = shape.reduce(1, *)
        guard n == data.count else {
            throw TensorError.invalidArgument("shape \(shape) holds \(n) values but \(data.count) were given")
        }
        self.shape = shape
        self.storage = data
        self.requiresGrad = requiresGrad
    }

    /// Internal unchecked initialiser for op results.
    init(uncheckedShape shape: [Int], data: [Float]) {
        self.shape = shape
        self.storage = data
        self.requiresGrad = false
    }

    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(uncheckedShape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
        self.requiresGrad = requiresGrad
    }

    public convenience init(repeating value: Float, shape: [Int], requiresGrad: Bool = false) {
        self.init(uncheckedShape: shape, data: [Float](repeating: value, count: shape.reduce(1, *)))
        self.requiresGrad = requiresGrad
    }

    /// A 1-d tensor of `values` (shape [values.count]).
    public convenience init(vector values: [Float]) {
        self.init(uncheckedShape: [values.count], data: values)
    }

    /// A 0-d tensor.
    public convenience init(scalar: Float, requiresGrad: Bool = false) {
        self.init(uncheckedShape: [], data: [scalar])
        self.requiresGrad = requiresGrad
    }

    /// Standard normal values times `std` plus `mean`, from the given generator.
    public static func randn(_ shape: [Int], std: Float = 1, mean: Float = 0, rng: inout RNG,
                             requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(zeros: shape, requiresGrad: requiresGrad)
        for i in 0..<t.count { t.data[i] = mean + std * rng.nextNormal() }
        return t
    }

    /// Uniform values in [low, high).
    public static func rand(_ shape: [Int], low: Float = 0, high: Float = 1, rng: inout RNG,
                            requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(zeros: shape, requiresGrad: requiresGrad)
        for i in 0..<t.count { t.data[i] = low + (high - low) * rng.nextFloat() }
        return t
    }

    /// The single value of a one-element tensor.
    public var item: Float { data[0] }

    /// A new leaf with the same values that does not track gradients.
    public func detach() -> Tensor { Tensor(uncheckedShape: shape, data: data) }

    /// Same values, new shape (a copy; gradients flow back through it).
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            guard known > 0, count % known == 0 else { throw TensorError.shapeMismatch(op: "reshape", shapes: [shape, newShape]) }
            s[i] = count / known
        }
        guard s.reduce(1, *) == count, s.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.shapeMismatch(op: "reshape", shapes: [shape, newShape])
        }
        let out = Tensor(uncheckedShape: s, data: data)
        record(out, [self]) { g in self.accumulateGrad(g) }
        recordGraph(out) { [shape] g, _ in [try g.reshaped(shape)] }
        return out
    }

    /// Clears the accumulated gradient (explicit zeroing, as `zero_grad`); the buffer is
    /// kept for reuse by the next backward pass.
    public func zeroGrad() { hasGrad = false }

    /// Drops the gradient and its buffer (intermediate tensors after backward).
    func releaseGrad() { hasGrad = false; gradStorage = [] }

    /// Drops the gradient and frees its buffer (the next backward pass allocates a new one).
    public func releaseGradBuffer() { releaseGrad() }

    /// Adds `g` (same count) into this tensor's gradient.
    @inline(__always)
    public func accumulateGrad(_ g: UnsafeBufferPointer<Float>) {
        withGradForOverwrite { d, fresh in
            if fresh { for i in 0..<d.count { d[i] = g[i] } } else { for i in 0..<d.count { d[i] += g[i] } }
        }
    }

    /// Gives mutable access to this tensor's gradient buffer, zero-filled if it held no gradient.
    @inline(__always)
    public func withGrad<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try withGradForOverwrite { d, fresh in
            if fresh { d.update(repeating: 0) }
            return try body(d)
        }
    }

    /// Gives mutable access to the gradient buffer; `fresh` is true when it holds no gradient
    /// yet, in which case `body` must write every element (e.g. a GEMM with beta 0) instead
    /// of adding. Saves zero-filling large weight gradients every step.
    @inline(__always)
    public func withGradForOverwrite<R>(_ body: (UnsafeMutableBufferPointer<Float>, _ fresh: Bool) throws -> R) rethrows -> R {
        let fresh = !hasGrad
        if fresh {
            // uninitialised: a fresh gradient is written in full (a kept buffer holds stale values anyway)
            if gradStorage.count != count { gradStorage = [Float](unsafeUninitializedCapacity: count) { _, n in n = count } }
            hasGrad = true
        }
        return try gradStorage.withUnsafeMutableBufferPointer { try body($0, fresh) }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = data.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape)\(name.map { " \($0)" } ?? ""): [\(head)\(count > 8 ? ", ..." : "")])"
    }
}

import Foundation

/// Errors thrown by tensor ops: always name the op and the shapes or values involved.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    case shapeMismatch(op: String, shapes: [[Int]])
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, shapes):
            return "\(op): incompatible shapes " + shapes.map { "\($0)" }.joined(separator: " and ")
        case let .invalidArgument(s):
            return s
        }
    }
}

extension TensorError: LocalizedError {
    public var errorDescription: String? { description }
}
