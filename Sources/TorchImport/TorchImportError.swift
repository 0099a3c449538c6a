import Foundation

/// Why a `torch.save` file could not be read. Every message starts with the file's path.
public enum TorchImportError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or read.
    case unreadable(path: String, reason: String)
    /// Neither a zip archive (torch >= 1.6) nor a legacy pickle checkpoint.
    case unsupportedFormat(path: String, reason: String)
    /// Damaged, truncated or inconsistent: lengths, offsets or sizes that do not add up.
    case invalidFile(path: String, reason: String)
    /// The pickle names a global outside the allowlist (`os.system`, `builtins.eval`, ...).
    /// Nothing is ever executed; the file is refused as a whole.
    case forbiddenGlobal(path: String, global: String)
    /// A well-formed file that uses something this reader does not implement (compressed
    /// zip entries, big-endian storages, complex or quantized dtypes, ...).
    case unsupported(path: String, reason: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case let .unreadable(p, _), let .unsupportedFormat(p, _), let .invalidFile(p, _),
             let .forbiddenGlobal(p, _), let .unsupported(p, _):
            return p
        }
    }

    public var description: String {
        switch self {
        case let .unreadable(p, r):
            return "\(p): cannot read: \(r)"
        case let .unsupportedFormat(p, r):
            return "\(p): not a torch.save checkpoint: \(r)"
        case let .invalidFile(p, r):
            return "\(p): damaged or invalid torch checkpoint: \(r)"
        case let .forbiddenGlobal(p, g):
            return "\(p): refused: the pickle references the global '\(g)', which is not one of the "
                + "tensor-rebuilding globals this reader allows (torch.load without weights_only would call it)"
        case let .unsupported(p, r):
            return "\(p): unsupported torch checkpoint: \(r)"
        }
    }
}

extension TorchImportError: LocalizedError { public var errorDescription: String? { description } }
