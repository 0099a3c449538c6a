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

    /// The value of the `format` field that `save` writes.
    public static let formatName = "translate-checkpoint-1"
    /// Largest epoch (or cIMLE round) count accepted from a file.
    public static let maxEpochs = 1_000_000
    /// Largest step or batch count accepted from a file.
    public static let maxCounter = 1 << 40
    /// The trainer's counters, validated by `load` whenever they are present.
    public static let counterFields: [(key: String, range: ClosedRange<Int>)] = [
        ("epoch", 0...maxEpochs), ("epoch_batches", 0...maxCounter), ("steps", 0...maxCounter),
    ]

    public init(modules: [(String, Module)], optimizers: [(String, Adam)] = [], metadata: [String: String] = [:]) {
        self.modules = modules; self.optimizers = optimizers; self.metadata = metadata
    }

    /// Writes atomically (`writeAtomically`). Refuses, before writing anything, a state that
    /// holds NaN or infinite values (a diverged run): the previous file at `url` stays.
    public func save(to url: URL, rng: RNG? = nil) throws {
        var tensors: [(String, Tensor)] = []
        var meta = metadata
        meta["format"] = Checkpoint.formatName
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
        let bad = findNonFinite(tensors)
        guard bad.isEmpty else {
            let kept = FileManager.default.fileExists(atPath: url.path) ? "; the previous checkpoint is kept" : ""
            throw CheckpointError.unwritable(path: url.path, reason: "\(bad.count) tensor(s) hold NaN or infinite values, e.g. \(describeNonFinite(bad, limit: 3)) (the training diverged?); not written\(kept)")
        }
        try SafeTensors.write(tensors, metadata: meta, to: url)
    }

    /// Loads into the given modules and optimizers; returns the metadata, the saved RNG and
    /// the extra tensors (without their `extra.` prefix).
    ///
    /// Everything is validated before any module or optimizer changes, and a damaged file is
    /// refused with `CheckpointError.invalidFile` naming the file and the field: `format`;
    /// the counters of `counterFields` (non-negative decimal integers in range); `rng` and
    /// every `rng.<module>.<path>` (4 hexadecimal words, not all zero; one per Dropout of
    /// each module, no others); every tensor finite (`running_var` also >= 0); each module's
    /// keys present with its shapes; each optimizer's moments (finite, `exp_avg_sq` >= 0),
    /// hyper-parameters and step counts (see `Adam.loadState`). The file is only read.
    @discardableResult
    public static func load(from url: URL, modules: [(String, Module)], optimizers: [(String, Adam)] = []) throws
        -> (metadata: [String: String], rng: RNG?, extra: [String: Tensor]) {
        let file = try SafeTensors.read(url)
        let path = url.path
        func bad(_ reason: String) -> CheckpointError { .invalidFile(path: path, reason: reason) }
        func wrap<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch let e as ModuleError {
                throw bad(e.description)
            } catch let CheckpointError.badMetadata(reason) {
                throw bad(reason)
            }
        }
        let meta = file.metadata
        if let f = meta["format"], f != formatName {
            throw bad("field 'format' is '\(f.prefix(40))', expected '\(formatName)'")
        }
        for (key, range) in counterFields { _ = try intField(meta, key, in: range, path: path) }
        let rng = try rngField(meta, "rng", path: path)

        // Tensors: finite everywhere (weights, buffers, moments, extras).
        let nonFinite = findNonFinite(file.tensors)
        if !nonFinite.isEmpty {
            throw bad("\(nonFinite.count) tensor(s) hold NaN or infinite values: \(describeNonFinite(nonFinite))")
        }
        for (key, t) in file.tensors where key.hasSuffix("running_var") {
            if let i = t.data.firstIndex(where: { $0 < 0 }) {
                throw bad("tensor '\(key)' holds a negative variance (\(t.data[i]) at \(i))")
            }
        }
        let byName = file.byName

        // Modules: keys and shapes, dropout generator states.
        var rngStates: [[String: RNG]] = []
        for (name, m) in modules {
            try wrap { try m.validateStateDict(byName, prefix: name + ".", strict: false) }
            let field = "rng.\(name)."
            let dropoutPaths = Set(m.rngStates.map(\.0))
            var states: [String: RNG] = [:]
            for path in dropoutPaths.sorted() {
                guard let r = try rngField(meta, field + path, path: url.path) else {
                    throw bad("field '\(field + path)' (the state of dropout layer '\(path)' of \(name)) is missing")
                }
                states[path] = r
            }
            for key in meta.keys.sorted() where key.hasPrefix(field) && !dropoutPaths.contains(String(key.dropFirst(field.count))) {
                throw bad("field '\(key)': \(name) has no dropout layer '\(key.dropFirst(field.count))' (a different architecture?)")
            }
            rngStates.append(states)
        }

        // Optimizers: moments, hyper-parameters, step counts.
        var optimizerMeta: [[String: String]] = []
        for (name, opt) in optimizers {
            let prefix = "optim.\(name)."
            var m: [String: String] = [:]
            for (k, v) in meta where k.hasPrefix(prefix) { m[String(k.dropFirst(prefix.count))] = v }
            try wrap { try opt.validateState(tensors: byName, prefix: prefix, metadata: m) }
            optimizerMeta.append(m)
        }

        // Everything is valid: load.
        for ((name, m), states) in zip(modules, rngStates) {
            try wrap { try m.loadStateDict(byName, prefix: name + ".", strict: false) }
            m.setRNGStates(states)
        }
        for ((name, opt), m) in zip(optimizers, optimizerMeta) {
            try wrap { try opt.loadState(tensors: byName, prefix: "optim.\(name).", metadata: m) }
        }
        var extra: [String: Tensor] = [:]
        for (k, t) in file.tensors where k.hasPrefix("extra.") { extra[String(k.dropFirst(6))] = t }
        return (meta, rng, extra)
    }

    /// An integer metadata field: nil when `key` is absent; throws
    /// `CheckpointError.invalidFile(path:reason:)` naming the field when it is present but
    /// not a plain decimal integer (digits, optionally a leading '-') or outside `range`.
    /// For the trainer's own fields: `try Checkpoint.intField(meta, "epoch", in: 0...Checkpoint.maxEpochs, path: p) ?? 0`.
    public static func intField(_ meta: [String: String], _ key: String, in range: ClosedRange<Int>, path: String) throws -> Int? {
        guard let s = meta[key] else { return nil }
        guard let v = parseDecimal(s) else {
            throw CheckpointError.invalidFile(path: path, reason: "field '\(key)' is '\(s.prefix(40))', not an integer")
        }
        guard range.contains(v) else {
            throw CheckpointError.invalidFile(path: path, reason: "field '\(key)' is \(v), outside \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    /// As `intField`, but a missing field is an error too.
    public static func requiredIntField(_ meta: [String: String], _ key: String, in range: ClosedRange<Int>, path: String) throws -> Int {
        guard let v = try intField(meta, key, in: range, path: path) else {
            throw CheckpointError.invalidFile(path: path, reason: "field '\(key)' is missing")
        }
        return v
    }

    /// A generator state field (`rng`, `rng.<module>.<path>`): nil when absent; throws naming
    /// the field unless it is 4 comma-separated hexadecimal words, not all zero.
    public static func rngField(_ meta: [String: String], _ key: String, path: String) throws -> RNG? {
        guard let s = meta[key] else { return nil }
        guard let r = decodeRNG(s) else {
            throw CheckpointError.invalidFile(path: path, reason: "field '\(key)' is '\(s.prefix(80))', not a generator state (4 hexadecimal words, not all zero)")
        }
        return r
    }

    public static func encode(_ r: RNG) -> String { r.stateWords.map { String($0, radix: 16) }.joined(separator: ",") }

    /// Exactly 4 words of 1 to 16 hexadecimal digits, not all zero (xoshiro's one bad state).
    public static func decodeRNG(_ s: String) -> RNG? {
        let fields = s.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count == 4 else { return nil }
        var words: [UInt64] = []
        for f in fields {
            guard (1...16).contains(f.utf8.count), f.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) }),
                  let w = UInt64(f, radix: 16) else { return nil }
            words.append(w)
        }
        guard words.contains(where: { $0 != 0 }) else { return nil }
        return RNG(stateWords: words)
    }
}
