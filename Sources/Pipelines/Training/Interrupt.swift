import Foundation
import Dispatch

/// A request to stop training, set by SIGINT or SIGTERM (or by a test). The trainer polls it
/// after every step, writes a checkpoint of that step and throws `TrainingInterrupted`.
/// A second signal while the first is being handled ends the process at once (the last
/// checkpoint written stays valid: checkpoints are written through a rename).
public final class StopRequest: @unchecked Sendable {  // state behind `lock`
    private let lock = NSLock()
    private var received: Int32?
    private var sources: [DispatchSourceSignal] = []
    private var installed: [Int32] = []

    public init() {}

    /// The first signal received, or nil.
    public var signal: Int32? { lock.lock(); defer { lock.unlock() }; return received }

    /// Records `sig`; returns false when a signal had already been recorded.
    @discardableResult
    public func request(_ sig: Int32) -> Bool {
        lock.lock(); defer { lock.unlock() }
        if received != nil { return false }
        received = sig
        return true
    }

    /// Handles SIGINT and SIGTERM until `uninstall()`. `announce: false` (ranks above 0 under
    /// mpirun, which forwards the signal to every rank) handles them without a message.
    public func installSignalHandlers(announce: Bool = true) {
        for sig in [SIGINT, SIGTERM] {
            Foundation.signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { [weak self] in
                guard let self else { return }
                if self.request(sig) {
                    if announce { stderrLine("\n\(sig == SIGINT ? "interrupted (Ctrl-C)" : "terminated (SIGTERM)"): finishing this step, then writing a checkpoint; a second Ctrl-C stops at once without one") }
                } else {
                    stderrLine("\nsecond signal: stopping now; the last checkpoint written is kept")
                    exit(128 + sig)
                }
            }
            src.resume()
            sources.append(src)
            installed.append(sig)
        }
    }

    public func uninstall() {
        for s in sources { s.cancel() }
        for sig in installed { Foundation.signal(sig, SIG_DFL) }
        sources = []; installed = []
    }

    deinit { uninstall() }
}

/// Training stopped on a signal or at its time limit after a checkpoint was written.
public struct TrainingInterrupted: Error, CustomStringConvertible {
    public enum Cause: Equatable, Sendable {
        case signal(Int32)
        /// --time-limit, in seconds.
        case timeLimit(TimeInterval)
    }
    public var cause: Cause
    /// Completed epochs and batches of the next epoch in the checkpoint.
    public var epoch: Int, batches: Int, batchesInEpoch: Int
    public var step: Int
    public var checkpoint: String
    /// False when the current epoch (a cIMLE round) could not be kept: the checkpoint is the
    /// one written at the end of the last complete epoch.
    public var midEpoch: Bool

    /// The process's exit status: 128 + the signal, as a shell reports a killed program; 0
    /// at the time limit (the run did what was asked).
    public var exitCode: Int32 {
        switch cause {
        case .signal(let s): return 128 + s
        case .timeLimit: return 0
        }
    }

    public var description: String {
        if case .timeLimit(let t) = cause {
            let limit = String(format: "%g minutes", t / 60)
            if midEpoch { return "time limit (\(limit)) reached at step \(step) (epoch \(epoch + 1), batch \(batches) of \(batchesInEpoch)); checkpoint written to \(checkpoint)" }
            return "time limit (\(limit)) reached after epoch \(epoch) (step \(step)); checkpoint written to \(checkpoint)"
        }
        if midEpoch {
            return "stopped at step \(step) (epoch \(epoch + 1), batch \(batches) of \(batchesInEpoch)); checkpoint written to \(checkpoint)"
        }
        if batches == 0 { return "stopped after epoch \(epoch) (step \(step)); checkpoint written to \(checkpoint)" }
        return "stopped at step \(step) in round \(epoch + 1); a round cannot be resumed half-way, so \(checkpoint) holds the end of round \(epoch) and --resume repeats round \(epoch + 1)"
    }
}

/// Which options `--resume` may change, and how a changed flag is named in messages.
enum ResumeChanges {
    /// Configuration keys (flattened JSON paths) that may change on resume.
    static let allowed: Set<String> = ["epochs", "epochsDecay", "saveEpochFreq", "samples"]

    /// Flags whose name is not the kebab-case of their key.
    static let flagNames: [String: String] = [
        "data.flip": "--no-flip", "model.dropout": "--no-dropout / --dropout", "data.serialB": "--serial-batches",
        "data.mode": "--dataset-mode", "model.lr": "--lr", "data.maxItems": "--max-items",
    ]

    static func flag(_ key: String) -> String {
        if let f = flagNames[key] { return f }
        let last = key.split(separator: ".").last.map(String.init) ?? key
        var out = "--"
        for ch in last {
            if ch.isUppercase { out += "-" + ch.lowercased() } else { out.append(ch) }
        }
        return out
    }

    /// The options as flat `path -> value` strings.
    static func flatten<O: Encodable>(_ o: O) throws -> [String: String] {
        let obj = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(o))
        var out: [String: String] = [:]
        func walk(_ v: Any, _ key: String) {
            if let d = v as? [String: Any] {
                for (k, x) in d { walk(x, key.isEmpty ? k : key + "." + k) }
            } else if let a = v as? [Any] {
                out[key] = "[" + a.map { "\($0)" }.joined(separator: ", ") + "]"
            } else {
                out[key] = "\(v)"
            }
        }
        walk(obj, "")
        return out
    }

    /// A note when the command line's --dataroot is another folder than the saved one (paths,
    /// not spellings: the same folder given another way is no change).
    static func datarootNote(saved: String, given: String) -> String? {
        let a = URL(fileURLWithPath: given).standardizedFileURL.resolvingSymlinksInPath().path
        let b = URL(fileURLWithPath: saved).standardizedFileURL.resolvingSymlinksInPath().path
        return a == b ? nil : "--dataroot \(saved) -> \(given) (the data is read from where the command line points)"
    }

    /// The saved options with the allowed changes of `given` (flags that differ from
    /// `defaults`) applied, and a note per change; a change of anything else is refused.
    static func apply<O: TrainingRunOptions>(saved: O, given: O, defaults: O) throws -> (O, [String]) {
        let s = try flatten(saved), g = try flatten(given), d = try flatten(defaults)
        var notes: [String] = []
        // The run and its data are where the command line points (a moved run or dataset
        // resumes from its new folder; a different folder is said).
        let location: Set<String> = ["checkpointsDir", "name", "dataroot"]
        if let note = datarootNote(saved: saved.dataroot, given: given.dataroot) { notes.append(note) }
        for key in g.keys.sorted() where g[key] != d[key] && g[key] != s[key] && !location.contains(key) {
            guard allowed.contains(key) else {
                throw TranslateError.invalidFlag(flag: flag(key), reason: "cannot change when resuming: the run was trained with \(s[key] ?? "none"), the command line gives \(g[key] ?? "none"). Resume without it, or start a new run with another --name")
            }
            notes.append("\(flag(key)) \(s[key] ?? "none") -> \(g[key] ?? "none")")
        }
        var out = saved
        out.checkpointsDir = given.checkpointsDir
        out.name = given.name
        out.dataroot = given.dataroot
        out.epochs = given.epochs == defaults.epochs ? saved.epochs : given.epochs
        out.epochsDecay = given.epochsDecay == defaults.epochsDecay ? saved.epochsDecay : given.epochsDecay
        out.saveEpochFreq = given.saveEpochFreq == defaults.saveEpochFreq ? saved.saveEpochFreq : given.saveEpochFreq
        out.samples = given.samples == defaults.samples ? saved.samples : given.samples
        return (out, notes)
    }
}
