import Tensors

/// Base class of layers and networks: named children, parameters and buffers with
/// PyTorch-style dotted keys (`model.1.weight`, `running_mean`), train/eval mode, freezing.
open class Module {
    /// Training mode (batch statistics, dropout on) or eval mode.
    public private(set) var training = true

    public init() {}

    /// Direct sub-modules, in registration order, with their key segment.
    open var children: [(String, Module)] { [] }
    /// This module's own trainable tensors (not its children's).
    open var localParameters: [(String, Tensor)] { [] }
    /// This module's own non-trainable state (running statistics).
    open var localBuffers: [(String, Tensor)] { [] }

    open func callAsFunction(_ x: Tensor) throws -> Tensor { x }

    /// All parameters, depth first, keys joined with dots.
    public func namedParameters(prefix: String = "") -> [(String, Tensor)] {
        localParameters.map { (prefix + $0.0, $0.1) } +
            children.flatMap { $0.1.namedParameters(prefix: prefix + $0.0 + ".") }
    }

    public func namedBuffers(prefix: String = "") -> [(String, Tensor)] {
        localBuffers.map { (prefix + $0.0, $0.1) } +
            children.flatMap { $0.1.namedBuffers(prefix: prefix + $0.0 + ".") }
    }

    /// Every sub-module (this one first) with its key path.
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        [(prefix, self)] + children.flatMap { $0.1.namedModules(prefix: prefix.isEmpty ? $0.0 : prefix + "." + $0.0) }
    }

    public var parameters: [Tensor] { namedParameters().map(\.1) }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Parameters and buffers, as PyTorch's `state_dict()` (without `num_batches_tracked`).
    public func stateDict(prefix: String = "") -> [(String, Tensor)] {
        namedParameters(prefix: prefix) + namedBuffers(prefix: prefix)
    }

    /// Copies values from `state` into this module's parameters and buffers. Every key of
    /// this module must be present with the same shape; with `strict`, no extra keys.
    /// All or nothing: everything is checked first (`validateStateDict`), so a failed load
    /// leaves the module as it was.
    public func loadStateDict(_ state: [String: Tensor], prefix: String = "", strict: Bool = true) throws {
        try validateStateDict(state, prefix: prefix, strict: strict)
        for (key, t) in stateDict(prefix: prefix) { t.data = state[key]!.data }
    }

    /// The checks of `loadStateDict` without loading: every key of this module present with
    /// its shape; with `strict`, no other key under `prefix`.
    public func validateStateDict(_ state: [String: Tensor], prefix: String = "", strict: Bool = true) throws {
        let mine = stateDict(prefix: prefix)
        var missing: [String] = []
        for (key, t) in mine {
            guard let src = state[key] else { missing.append(key); continue }
            guard src.shape == t.shape else {
                throw ModuleError.stateShapeMismatch(key: key, expected: t.shape, found: src.shape)
            }
        }
        if !missing.isEmpty { throw ModuleError.missingKeys(missing) }
        if strict {
            let known = Set(mine.map(\.0))
            let extra = state.keys.filter { $0.hasPrefix(prefix) && !known.contains($0) }.sorted()
            if !extra.isEmpty { throw ModuleError.unexpectedKeys(extra) }
        }
    }

    /// Keys (as `stateDict(prefix:)` names them) of the parameters and buffers that hold NaN
    /// or infinite values; empty when all are finite. A model with any gives NaN outputs.
    public func nonFiniteParameters(prefix: String = "") -> [String] {
        findNonFinite(stateDict(prefix: prefix)).map(\.name)
    }

    /// Sets training or eval mode on this module and all children.
    public func train(_ on: Bool = true) {
        training = on
        for (_, c) in children { c.train(on) }
    }

    public func eval() { train(false) }

    /// Freezes (false) or unfreezes (true) all parameters: frozen ones get no gradient,
    /// but gradients still flow through the module to its input.
    public func requiresGrad(_ on: Bool) { for p in parameters { p.requiresGrad = on } }

    public func zeroGrad() { for p in parameters { p.zeroGrad() } }
}

public enum ModuleError: Error, CustomStringConvertible, Equatable {
    case stateShapeMismatch(key: String, expected: [Int], found: [Int])
    case missingKeys([String])
    case unexpectedKeys([String])

    public var description: String {
        switch self {
        case let .stateShapeMismatch(key, e, f): return "state dict: '\(key)' has shape \(f), the model expects \(e)"
        case let .missingKeys(k): return "state dict: missing keys \(k.prefix(10).joined(separator: ", "))\(k.count > 10 ? " (+\(k.count - 10) more)" : "")"
        case let .unexpectedKeys(k): return "state dict: unexpected keys \(k.prefix(10).joined(separator: ", "))\(k.count > 10 ? " (+\(k.count - 10) more)" : "")"
        }
    }
}

/// Runs modules in order; children are keyed "0", "1", ... as `nn.Sequential`.
public final class Sequential: Module {
    public private(set) var layers: [Module]
    public init(_ layers: [Module]) { self.layers = layers }
    public convenience init(_ layers: Module...) { self.init(layers) }
    override public var children: [(String, Module)] { layers.enumerated().map { (String($0.offset), $0.element) } }
    public func append(_ m: Module) { layers.append(m) }
    override public func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = x
        for l in layers { h = try l(h) }
        return h
    }
}

/// A tensor that holds NaN or infinite values, with how many of each.
public struct NonFiniteTensor: Equatable, CustomStringConvertible {
    public let name: String
    public let nan: Int
    public let infinite: Int
    public let count: Int

    public var description: String {
        let parts = [nan > 0 ? "\(nan) NaN" : nil, infinite > 0 ? "\(infinite) infinite" : nil].compactMap { $0 }
        return "'\(name)' (\(parts.joined(separator: " and ")) of \(count) values)"
    }
}

/// Counts NaN and infinite values (NaN, +inf, -inf) in `values`.
public func nonFiniteCounts(_ values: [Float]) -> (nan: Int, infinite: Int) {
    values.withUnsafeBufferPointer { p -> (Int, Int) in
        // A cheap pass first: an exponent of all ones marks NaN and inf alike.
        var any: UInt32 = 0
        for x in p { any |= (x.bitPattern & 0x7F80_0000) == 0x7F80_0000 ? 1 : 0 }
        if any == 0 { return (0, 0) }
        var nan = 0, inf = 0
        for x in p where !x.isFinite { if x.isNaN { nan += 1 } else { inf += 1 } }
        return (nan, inf)
    }
}

/// The tensors among `tensors` that hold NaN or infinite values, in order.
public func findNonFinite(_ tensors: [(String, Tensor)]) -> [NonFiniteTensor] {
    tensors.compactMap { name, t in
        let (nan, inf) = nonFiniteCounts(t.data)
        return nan + inf == 0 ? nil : NonFiniteTensor(name: name, nan: nan, infinite: inf, count: t.count)
    }
}

/// "'a' (1 NaN of 4 values), 'b' (2 infinite of 9 values)", at most `limit` named.
public func describeNonFinite(_ found: [NonFiniteTensor], limit: Int = 5) -> String {
    found.prefix(limit).map(\.description).joined(separator: ", ")
        + (found.count > limit ? " (+\(found.count - limit) more)" : "")
}
