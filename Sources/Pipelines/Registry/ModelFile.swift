import Foundation
import NN

/// How a generator was trained. Each method has its folder under `Pipelines/`; this list is
/// the registry: a new method adds its case here and nowhere else reads the `kind` field.
public enum Method: String, CaseIterable, Codable, Sendable {
    case pix2pix
    case cyclegan
    case cimle
    case bicyclegan

    /// What the method is, for `info` and messages.
    public var title: String {
        switch self {
        case .pix2pix: return "pix2pix (conditional GAN on pairs)"
        case .cyclegan: return "CycleGAN (two generators on unpaired sets)"
        case .cimle: return "conditional IMLE (cIMLE: several outputs per input)"
        case .bicyclegan: return "BicycleGAN (a GAN with a latent code and an encoder: several outputs per input)"
        }
    }

    /// A training epoch's name in progress lines and pages ("round" for cIMLE's pool rounds).
    public var epochUnit: String { self == .cimle ? "round" : "epoch" }

    /// The `kind` metadata value of a training checkpoint or (`generatorOnly`) of an exported
    /// or imported generator file.
    public func kindField(generatorOnly: Bool) -> String { generatorOnly ? rawValue + "-generator" : rawValue }
}

/// A model file opened for any command: its bytes, what it holds and how it was trained.
/// `open` is the one place that reads the `kind` field; commands ask `method`.
public struct ModelFile {
    public let url: URL
    public let file: SafeTensors.File
    public let method: Method
    /// An exported or imported generator (weights only), not a training checkpoint.
    public let generatorOnly: Bool

    public var metadata: [String: String] { file.metadata }

    /// Reads `url` and its `kind`. A file without a kind, or with one this version does not
    /// know, is refused naming the file (it is not assumed to be pix2pix).
    public static func open(_ url: URL) throws -> ModelFile {
        let file = try SafeTensors.read(url)
        guard let kind = file.metadata["kind"] else {
            let what = file.metadata["net"] != nil ? " (it looks like a perceptual-metric network, not a generator)" : ""
            throw TranslateError.badModel(path: url.path, reason: "no 'kind' field: not a model written by translate train, export or import\(what)")
        }
        let generatorOnly = kind.hasSuffix("-generator")
        let base = generatorOnly ? String(kind.dropLast("-generator".count)) : kind
        guard let method = Method(rawValue: base) else {
            throw TranslateError.badModel(path: url.path, reason: "kind '\(kind.prefix(60))' is not one this version knows (\(Method.allCases.map(\.rawValue).joined(separator: ", ")), each also as <kind>-generator)")
        }
        return ModelFile(url: url, file: file, method: method, generatorOnly: generatorOnly)
    }

    /// The training options stored in `config`, decoded as `T`; the error says which field
    /// did not decode (not a silent fallback to another kind).
    public func options<T: Decodable>(_ type: T.Type) throws -> T {
        guard let text = metadata["config"] else {
            throw TranslateError.badModel(path: url.path, reason: "no 'config' field (the training options of this \(method.rawValue) model)")
        }
        do { return try JSONDecoder().decode(T.self, from: Data(text.utf8)) } catch let e as DecodingError {
            throw TranslateError.badModel(path: url.path, reason: "its \(method.rawValue) configuration does not decode: \(describe(e))")
        }
    }

    /// Throws unless the file holds a model of `method`.
    public func require(_ wanted: Method, for what: String) throws {
        guard method == wanted else {
            throw TranslateError.badModel(path: url.path, reason: "\(what) needs a \(wanted.rawValue) model; this file holds \(method.title)")
        }
    }
}

/// "key 'model.ngf': expected Int, found a string", without Swift's debug noise.
func describe(_ e: DecodingError) -> String {
    func path(_ c: [CodingKey]) -> String { c.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
    switch e {
    case let .keyNotFound(k, ctx): return "field '\((path(ctx.codingPath) + (ctx.codingPath.isEmpty ? "" : ".") + k.stringValue))' is missing"
    case let .typeMismatch(t, ctx): return "field '\(path(ctx.codingPath))' is not a \(t)"
    case let .valueNotFound(t, ctx): return "field '\(path(ctx.codingPath))' is null, expected \(t)"
    case let .dataCorrupted(ctx):
        return ctx.codingPath.isEmpty ? "not valid JSON" : "field '\(path(ctx.codingPath))': \(ctx.debugDescription)"
    @unknown default: return "\(e)"
    }
}
