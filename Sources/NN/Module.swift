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
    public func loadStateDict(_ state: [String: Tensor], prefix: String = "", strict: Bool = true) throws {
        let mine = stateDict(prefix: prefix)
        var missing: [String] = []
        for (key, t) in mine {
            guard let src = state[key] else { missing.append(key); continue }
            guard src.shape == t.shape else {
                throw ModuleError.stateShapeMismatch(key: key, expected: t.shape, found: src.shape)
            }
            t.data = src.data
        }
        if !missing.isEmpty { throw ModuleError.missingKeys(missing) }
        if strict {
            let known = Set(mine.map(\.0))
            let extra = state.keys.filter { $0.hasPrefix(prefix) && !known.contains($0) }.sorted()
            if !extra.isEmpty { throw ModuleError.unexpectedKeys(extra) }
        }
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
