import Tensors
import Foundation

/// A training checkpoint: every module's parameters and buffers, every optimizer's state,
/// dropout generator states and the trainer's RNG, plus JSON configuration, in one
/// safetensors file. Tensor keys: `<module>.<state key>`, `optim.<optimizer>.<param>.exp_avg`.
public struct Checkpoint {
    public var modules: [(String, Module)]
    public var optimizers: [(String, Adam)]
    /// Free-form configuration (JSON text), epoch counters, etc.
    public var metadata: [String: String]
    /// Further named tensors (e.g. history buffers), stored under `extra.<name>`.
    public var extraTensors: [(String, Tensor)] = []

    public init(modules: [(String, Module)], optimizers: [(String, Adam)] = [], metadata: [String: String] = [:]) {
        self.modules = modules; self.optimizers = optimizers; self.metadata = metadata
    }

    public func save(to url: URL, rng: RNG? = nil) throws {
        var tensors: [(String, Tensor)] = []
        var meta = metadata
        meta["format"] = "translate-checkpoint-1"
        for (name, m) in modules {
            tensors += m.stateDict(prefix: name + ".")
            for (path, r) in m.rngStates { meta["rng.\(name).\(path)"] = Checkpoint.encode(r) }
        }
        for (name, opt) in optimizers {
            tensors += try opt.stateTensors(prefix: "optim.\(name).")
            for (k, v) in opt.stateMetadata { meta["optim.\(name).\(k)"] = v }
        }
        tensors += extraTensors.map { ("extra." + $0.0, $0.1) }
        if let rng { meta["rng"] = Checkpoint.encode(rng) }
        try SafeTensors.write(tensors, metadata: meta, to: url)
    }

    /// Loads into the given modules and optimizers; returns the metadata, the saved RNG and
    /// the extra tensors (without their `extra.` prefix).
    @discardableResult
    public static func load(from url: URL, modules: [(String, Module)], optimizers: [(String, Adam)] = []) throws
        -> (metadata: [String: String], rng: RNG?, extra: [String: Tensor]) {
        let file = try SafeTensors.read(url)
        let byName = file.byName
        func wrap<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch let e as ModuleError {
                throw CheckpointError.invalidFile(path: url.path, reason: e.description)
            }
        }
        for (name, m) in modules {
            try wrap { try m.loadStateDict(byName, prefix: name + ".", strict: false) }
            var states: [String: RNG] = [:]
            for (path, _) in m.rngStates {
                if let s = file.metadata["rng.\(name).\(path)"], let r = decodeRNG(s) { states[path] = r }
            }
            m.setRNGStates(states)
        }
        for (name, opt) in optimizers {
            let prefix = "optim.\(name)."
            var meta: [String: String] = [:]
            for (k, v) in file.metadata where k.hasPrefix(prefix) { meta[String(k.dropFirst(prefix.count))] = v }
            try wrap { try opt.loadState(tensors: byName, prefix: prefix, metadata: meta) }
        }
        var extra: [String: Tensor] = [:]
        for (k, t) in file.tensors where k.hasPrefix("extra.") { extra[String(k.dropFirst(6))] = t }
        return (file.metadata, file.metadata["rng"].flatMap(decodeRNG), extra)
    }

    static func encode(_ r: RNG) -> String { r.stateWords.map { String($0, radix: 16) }.joined(separator: ",") }
    static func decodeRNG(_ s: String) -> RNG? {
        let w = s.split(separator: ",").compactMap { UInt64($0, radix: 16) }
        return w.count == 4 ? RNG(stateWords: w) : nil
    }
}
