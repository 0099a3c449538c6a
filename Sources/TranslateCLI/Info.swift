import ArgumentParser
import Foundation
import Pipelines
import NN

/// The version `translate --version` prints.
public enum TranslateVersion {
    public static let current = "0.5.0"
}

/// What a model file says about itself: kind, architecture, size, progress, training options.
public struct ModelInfo {
    public var path: String
    public var kind: String
    /// (label, value) rows in display order.
    public var rows: [(String, String)]

    /// `path`: a .safetensors file or a folder (model.safetensors or latest.safetensors).
    public init(path: String) throws {
        let url = try ModelFile.resolve(path)
        self.path = url.path
        let modelFile = try ModelFile.open(url)
        let file = modelFile.file
        let meta = file.metadata
        kind = modelFile.method.title + (modelFile.generatorOnly ? ", generator only" : ", training checkpoint")
        var rows: [(String, String)] = [("file", url.path), ("kind", kind)]
        // Parameters and buffers of the networks: not optimiser state or extra training state.
        var byNet: [String: Int] = [:]
        for (k, t) in file.tensors where !k.hasPrefix("optim.") && !k.hasPrefix("extra.") {
            let net = String(k.split(separator: ".").first ?? "")
            if k.hasSuffix("running_mean") || k.hasSuffix("running_var") || k.hasSuffix("num_batches_tracked") { continue }
            byNet[net, default: 0] += t.count
        }
        rows.append(("parameters", byNet.keys.sorted().map { "\($0) \(Self.grouped($0 == "" ? 0 : byNet[$0]!))" }.joined(separator: ", ")))
        rows.append(("training state", file.tensors.contains { $0.0.hasPrefix("optim.") } ? "yes (optimiser state: --resume can continue it)" : "no (weights only)"))
        var config: [String: Any] = [:]
        if let text = meta["config"], let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] {
            config = obj
        }
        let model = config["model"] as? [String: Any] ?? [:]
        let data = config["data"] as? [String: Any] ?? [:]
        let flags: Set<String> = ["dropout", "flip"]
        func str(_ v: Any?, _ key: String = "") -> String? {
            if flags.contains(key), let b = v as? Bool { return b ? "yes" : "no" }
            return v.map { "\($0)" }
        }
        var arch: [String] = []
        for key in ["netG", "task", "ngf", "norm", "netD", "ndf", "nLayersD", "upsampling", "dropout", "levels", "noiseChannels", "ganMode"] {
            if let v = str(model[key], key) { arch.append("\(key) \(v)") }
        }
        if !arch.isEmpty { rows.append(("architecture", arch.joined(separator: ", "))) }
        if let i = str(model["inputNc"]), let o = str(model["outputNc"]) { rows.append(("channels", "\(i) in, \(o) out")) }
        if let e = meta["epoch"] {
            let total = (config["epochs"] as? Int).map { $0 + ((config["epochsDecay"] as? Int) ?? 0) }
            var s = "epoch \(e)" + (total.map { " of \($0)" } ?? "")
            if let b = meta["epoch_batches"], b != "0" { s += " and \(b) batches of the next (stopped mid-epoch)" }
            if let st = meta["steps"] { s += ", \(st) steps" }
            rows.append(("progress", s))
        }
        if let m = str(data["mode"]) { rows.append(("dataset mode", m)) }
        if let d = str(data["direction"]) { rows.append(("direction", d)) }
        if let r = str(config["dataroot"]) { rows.append(("trained on", r + (str(config["phase"]).map { " (phase \($0))" } ?? ""))) }
        if let t = meta["test_mode"] { rows.append(("test-time mode", t)) }
        if let g = meta["generator"] { rows.append(("generator", g)) }
        if let source = meta["source"] { rows.append(("source", source)) }
        for (k, v) in meta.sorted(by: { $0.key < $1.key }) where k.hasPrefix("metric") { rows.append((k, v)) }
        var options: [String] = []
        for key in ["lr", "beta1", "lambdaL1", "lambdaA", "lambdaB", "lambdaIdentity", "poolSize", "lpipsWeight", "l1Weight"] {
            if let v = str(model[key]) { options.append("\(key) \(v)") }
        }
        for key in ["batchSize", "epochs", "epochsDecay", "lrPolicy", "seed"] {
            if let v = str(config[key]) { options.append("\(key) \(v)") }
        }
        for key in ["loadSize", "cropSize", "preprocess", "flip"] {
            if let v = str(data[key], key) { options.append("\(key) \(v)") }
        }
        if !options.isEmpty { rows.append(("training options", options.joined(separator: ", "))) }
        self.rows = rows
    }

    static func grouped(_ n: Int) -> String {
        let s = String(n)
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += "," }
            out.append(ch)
        }
        return out
    }

    public var text: String {
        let w = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: w, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}

public struct Info: ParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Describe a model or checkpoint: kind, architecture, parameters, progress, dataset mode, direction, training options.")
    public init() {}
    @Argument(help: "A model or checkpoint (.safetensors), or a run folder.") var model: String
    @Option(help: "With a run folder: latest or an epoch number.") var epoch: String?

    public func run() throws { print(try ModelInfo(path: try checkpointPath(model: model, epoch: epoch)).text) }
}

/// One training run folder, for `translate list`.
public struct RunSummary: Equatable {
    public var name: String
    public var kind: String
    public var epoch: Int
    public var totalEpochs: Int?
    public var steps: Int?
    public var midEpoch: Bool
    public var modified: Date

    /// The runs in `dir` (folders holding latest.safetensors), by name.
    public static func runs(in dir: URL) throws -> [RunSummary] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else {
            throw TranslateError.notFound(path: dir.path, what: "--checkpoints-dir folder")
        }
        var out: [RunSummary] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let latest = dir.appendingPathComponent(name).appendingPathComponent("latest.safetensors")
            guard FileManager.default.fileExists(atPath: latest.path) else { continue }
            guard let meta = try? SafeTensors.read(latest).metadata else {
                out.append(RunSummary(name: name, kind: "unreadable checkpoint", epoch: 0, totalEpochs: nil, steps: nil, midEpoch: false, modified: .distantPast))
                continue
            }
            var total: Int?
            if let text = meta["config"], let c = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
               let e = c["epochs"] as? Int {
                total = e + ((c["epochsDecay"] as? Int) ?? 0)
            }
            let attrs = try? FileManager.default.attributesOfItem(atPath: latest.path)
            out.append(RunSummary(name: name, kind: meta["kind"] ?? "?", epoch: Int(meta["epoch"] ?? "") ?? 0, totalEpochs: total,
                                  steps: meta["steps"].flatMap { Int($0) }, midEpoch: (meta["epoch_batches"] ?? "0") != "0",
                                  modified: attrs?[.modificationDate] as? Date ?? .distantPast))
        }
        return out
    }

    public var line: String {
        let progress = "\(epoch)/\(totalEpochs.map(String.init) ?? "?")" + (midEpoch ? "+" : "")
        let state = totalEpochs.map { epoch >= $0 ? "finished" : "stopped (--resume continues)" } ?? ""
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm"
        f.locale = Locale(identifier: "en_US_POSIX")
        return [name, kind, progress, steps.map { "\($0) steps" } ?? "", modified == .distantPast ? "" : f.string(from: modified), state]
            .joined(separator: "\t")
    }
}

public struct List: ParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "List the training runs in a checkpoints folder with their progress.")
    public init() {}
    @Option(help: "Where runs are written.") var checkpointsDir = "models"

    public func run() throws {
        let runs = try RunSummary.runs(in: URL(fileURLWithPath: checkpointsDir))
        if runs.isEmpty { print("no training runs in \(checkpointsDir)"); return }
        print("name\tkind\tepoch\tsteps\tlast written\tstate")
        for r in runs { print(r.line) }
    }
}
