import Foundation

/// Errors of the commands: each names the file, folder or flag that was wrong.
public enum CLIError: Error, CustomStringConvertible, Equatable {
    case invalidFlag(flag: String, reason: String)
    case runExists(path: String)
    case notFound(path: String, what: String)
    case badModel(path: String, reason: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidFlag(f, r): return "\(f): \(r)"
        case let .runExists(p): return "\(p) already holds a training run; pass --resume to continue it or choose another --name"
        case let .notFound(p, w): return "\(p): \(w) not found"
        case let .badModel(p, r): return "\(p): \(r)"
        case let .io(p, r): return "\(p): \(r)"
        }
    }
}

extension CLIError: LocalizedError { public var errorDescription: String? { description } }

/// Writes text through a temporary file and a rename.
func writeText(_ text: String, to url: URL) throws {
    do { try Data(text.utf8).write(to: url, options: .atomic) } catch {
        throw CLIError.io(path: url.path, reason: "cannot write: \((error as NSError).localizedDescription)")
    }
}

func stderrLine(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// The name of a page's PNG copy of an image with relative path `rel`: `rel` itself when it
/// is a PNG, else `rel` + ".png" (so `x.jpg` and `x.png` of one folder stay apart).
func pageImageName(_ rel: String) -> String {
    (rel as NSString).pathExtension.lowercased() == "png" ? rel : rel + ".png"
}
