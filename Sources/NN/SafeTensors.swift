import Tensors
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing the safetensors format: an 8-byte little-endian header length N, N
/// bytes of JSON (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
/// {str: str}}`), then the tensors' bytes back to back. Reading validates everything before
/// allocating, so a damaged or forged file gives an error, never a crash or a huge allocation.
public enum SafeTensors {
    /// Largest header accepted (the format's own readers use 100 MB).
    public static let maxHeaderBytes = 100_000_000

    public struct File {
        /// Tensors in file order (converted to Float32).
        public var tensors: [(String, Tensor)]
        public var metadata: [String: String]
        public var byName: [String: Tensor] { Dictionary(tensors, uniquingKeysWith: { a, _ in a }) }
    }

    /// Storage types for writing.
    public enum DType: String { case f32 = "F32", f16 = "F16" }

    /// Serialises tensors (F32, or F16 rounded to nearest) and metadata. F16 refuses finite
    /// values beyond its range (|x| > 65504), which would be stored as infinities.
    public static func encode(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], dtype: DType = .f32) throws -> Data {
        try encode(tensors, metadata: metadata, dtype: dtype, path: "(writing)")
    }

    static func encode(_ tensors: [(String, Tensor)], metadata: [String: String], dtype: DType, path: String) throws -> Data {
        let size = dtype == .f32 ? 4 : 2
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var seen = Set<String>()
        for (name, t) in tensors {
            guard name != "__metadata__", seen.insert(name).inserted else {
                throw CheckpointError.invalidFile(path: path, reason: "duplicate or reserved tensor name '\(name)'")
            }
            header[name] = ["dtype": dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + size * t.count]] as [String: Any]
            offset += size * t.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so that the data starts 8-byte aligned.
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        for (name, t) in tensors {
            if dtype == .f16 {
                if let i = t.data.firstIndex(where: { $0.isFinite && !Float16($0).isFinite }) {
                    throw CheckpointError.unwritable(path: path, reason: "tensor '\(name)' holds \(t.data[i]) (at \(i)), beyond the float16 range (±65504): store it as float32")
                }
                let half = t.data.map { Float16($0).bitPattern.littleEndian }
                half.withUnsafeBytes { out.append(contentsOf: $0) }
                continue
            }
            t.data.withUnsafeBufferPointer { p in
                // Float32 little-endian: the host order on every platform we build for.
                out.append(UnsafeBufferPointer(start: UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: UInt8.self),
                                               count: 4 * p.count))
            }
        }
        return out
    }

    /// Writes atomically: a temporary file in the same folder, flushed, then renamed over `url`.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to url: URL,
                             dtype: DType = .f32) throws {
        let data = try encode(tensors, metadata: metadata, dtype: dtype, path: url.path)
        try writeAtomically(data, to: url)
    }

    /// Parses and validates `data`; `path` names the file in errors.
    public static func decode(_ data: Data, path: String) throws -> File {
        func bad(_ reason: String) -> CheckpointError { .invalidFile(path: path, reason: reason) }
        guard data.count >= 8 else { throw bad("file is \(data.count) bytes, too short for a safetensors header") }
        let n = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | (UInt64($1.element) << (8 * UInt64($1.offset))) }
        guard n >= 2 else { throw bad("header length \(n) is too small") }
        guard n <= UInt64(maxHeaderBytes) else { throw bad("header length \(n) exceeds the limit of \(maxHeaderBytes) bytes") }
        guard n <= UInt64(data.count - 8) else { throw bad("header length \(n) runs past the end of the file (\(data.count) bytes): truncated?") }
        let headerData = data.subdata(in: data.startIndex + 8 ..< data.startIndex + 8 + Int(n))
        guard headerData.first == UInt8(ascii: "{") else { throw bad("header does not start with '{'") }
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: headerData) } catch { throw bad("header is not valid JSON") }
        guard let header = any as? [String: Any] else { throw bad("header is not a JSON object") }
        let dataStart = 8 + Int(n)
        let bufferSize = data.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [(name: String, dtype: String, shape: [Int], begin: Int, end: Int)] = []
        for (key, value) in header {
            if key == "__metadata__" {
                guard let m = value as? [String: Any] else { throw bad("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw bad("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let e = value as? [String: Any], let dtype = e["dtype"] as? String,
                  let shapeAny = e["shape"] as? [Any], let offAny = e["data_offsets"] as? [Any], offAny.count == 2 else {
                throw bad("tensor '\(key)': entry needs dtype, shape and two data_offsets")
            }
            guard shapeAny.count <= maxRank else {
                throw bad("tensor '\(key)': shape has \(shapeAny.count) dimensions (at most \(maxRank))")
            }
            let shape = try shapeAny.map { v -> Int in
                guard let i = jsonInt(v) else {
                    throw bad("tensor '\(key)': shape \(shapeAny.prefix(8)) has a non-integer or negative dimension")
                }
                return i
            }
            let offs = try offAny.map { v -> Int in
                guard let i = jsonInt(v) else {
                    throw bad("tensor '\(key)': data_offsets \(offAny) are not non-negative integers")
                }
                return i
            }
            guard let size = dtypeSize[dtype] else {
                throw bad("tensor '\(key)': unsupported dtype \(dtype) (supported: \(dtypeSize.keys.sorted().joined(separator: ", ")))")
            }
            // Element count with overflow checks, bounded by the buffer size.
            var elements = 1
            for d in shape {
                let (p, o) = elements.multipliedReportingOverflow(by: d)
                guard !o, p <= bufferSize else { throw bad("tensor '\(key)': shape \(shape) is larger than the file's data (\(bufferSize) bytes)") }
                elements = p
            }
            guard offs[0] <= offs[1], offs[1] <= bufferSize else {
                throw bad("tensor '\(key)': data_offsets \(offs) fall outside the data buffer of \(bufferSize) bytes")
            }
            guard offs[1] - offs[0] == elements * size else {
                throw bad("tensor '\(key)': \(offs[1] - offs[0]) bytes for shape \(shape) of \(dtype) (needs \(elements * size))")
            }
            entries.append((key, dtype, shape, offs[0], offs[1]))
        }
        // Offsets must tile the buffer without overlap or holes.
        let sorted = entries.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for e in sorted {
            guard e.begin == cursor else {
                throw bad(e.begin < cursor ? "tensor '\(e.name)' overlaps the previous tensor's bytes" : "gap in the data buffer before tensor '\(e.name)'")
            }
            cursor = e.end
        }
        guard cursor == bufferSize else { throw bad("data buffer has \(bufferSize - cursor) bytes not covered by any tensor (trailing garbage or wrong offsets)") }
        var tensors: [(String, Tensor)] = []
        tensors.reserveCapacity(sorted.count)
        for e in sorted {
            let values = data.withUnsafeBytes { raw -> [Float] in
                convert(UnsafeRawBufferPointer(rebasing: raw[(dataStart + e.begin)..<(dataStart + e.end)]), dtype: e.dtype)
            }
            tensors.append((e.name, try Tensor(shape: e.shape, data: values)))
        }
        return File(tensors: tensors, metadata: metadata)
    }

    /// Most dimensions accepted for one tensor.
    public static let maxRank = 64

    /// A JSON number that is a non-negative integer (not a bool, not a fraction, in range).
    static func jsonInt(_ v: Any) -> Int? {
        guard let n = v as? NSNumber, String(cString: n.objCType) != "c" else { return nil }   // "c": a JSON bool
        let i = n.intValue
        guard i >= 0, n.doubleValue == Double(i) else { return nil }
        return i
    }

    /// Reads and validates the file at `url`, which must be a regular file (not a folder, a
    /// device or a pipe).
    public static func read(_ url: URL) throws -> File {
        let data = try readRegularFile(url)
        return try decode(data, path: url.path)
    }

    /// The bytes of a regular file, memory-mapped; errors are `CheckpointError.unreadable`.
    static func readRegularFile(_ url: URL) throws -> Data {
        var st = stat()
        guard stat(url.path, &st) == 0 else {
            let e = errno
            throw CheckpointError.unreadable(path: url.path, reason: errnoDescription(e))
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            let kind = st.st_mode & S_IFMT == S_IFDIR ? "a folder" : "not a regular file"
            throw CheckpointError.unreadable(path: url.path, reason: "\(kind), not a safetensors file")
        }
        do { return try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw CheckpointError.unreadable(path: url.path, reason: (error as NSError).localizedDescription)
        }
    }

    static let dtypeSize: [String: Int] = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1]

    /// Little-endian bytes of `dtype` to Float32.
    static func convert(_ raw: UnsafeRawBufferPointer, dtype: String) -> [Float] {
        func load<T>(_: T.Type) -> [T] {
            let n = raw.count / MemoryLayout<T>.size
            return (0..<n).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
        }
        switch dtype {
        case "F32": return load(Float.self)
        case "F64": return load(Double.self).map { Float($0) }
        case "F16": return load(UInt16.self).map { Float(Float16(bitPattern: $0)) }
        case "BF16": return load(UInt16.self).map { Float(bitPattern: UInt32($0) << 16) }
        case "I64": return load(Int64.self).map { Float($0) }
        case "I32": return load(Int32.self).map { Float($0) }
        case "I16": return load(Int16.self).map { Float($0) }
        case "I8": return load(Int8.self).map { Float($0) }
        default: return load(UInt8.self).map { Float($0) }   // U8, BOOL
        }
    }
}

/// Writes `data` to `url` through a temporary file in the same folder
/// (`.<name>.<pid>.<random>.tmp`), flushed to disk, then renamed over `url`: a crash, a
/// full disk or a file-size limit never leaves a half-written file under the final name, and
/// a failed write removes its temporary file and leaves any previous file untouched. Errors
/// are `CheckpointError.unwritable` naming `url` and the reason ("no space left on device",
/// "file too large ..."). A file-size limit (`ulimit -f`) raises SIGXFSZ, which kills the
/// process unless it is ignored (`signal(SIGXFSZ, SIG_IGN)`); ignored, the write fails with EFBIG.
public func writeAtomically(_ data: Data, to url: URL) throws {
    let dir = url.deletingLastPathComponent()
    let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
    let previous = FileManager.default.fileExists(atPath: url.path)
    func fail(_ what: String, _ code: Int32) -> CheckpointError {
        .unwritable(path: url.path, reason: "\(errnoDescription(code)) (\(what))" + (previous ? "; the existing file is unchanged" : ""))
    }
    let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
        let e = errno
        throw CheckpointError.unwritable(path: url.path, reason: "cannot create a temporary file in \(dir.path): \(errnoDescription(e))")
    }
    var isOpen = true
    var renamed = false
    defer {
        if isOpen { close(fd) }
        if !renamed { unlink(tmp.path) }
    }
    let (written, code) = data.withUnsafeBytes { writeAll(fd, $0) }
    if let code {
        throw fail("wrote \(written) of \(data.count) bytes to the temporary file \(tmp.lastPathComponent)", code)
    }
    if fsync(fd) != 0 { let e = errno; throw fail("flushing \(tmp.lastPathComponent) to disk", e) }
    isOpen = false
    if close(fd) != 0 { let e = errno; throw fail("closing \(tmp.lastPathComponent)", e) }
    if rename(tmp.path, url.path) != 0 { let e = errno; throw fail("renaming \(tmp.lastPathComponent) over it", e) }
    renamed = true
    // Make the rename itself durable (best effort: not every file system supports it).
    let dfd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd >= 0 { _ = fsync(dfd); close(dfd) }
}

/// Writes all of `raw` to `fd` (retrying short writes and EINTR). Returns the bytes written
/// and, on failure, the errno (ENOSPC for a write that makes no progress).
func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer) -> (written: Int, errno: Int32?) {
    var done = 0
    while done < raw.count {
        let n = write(fd, raw.baseAddress! + done, min(raw.count - done, 1 << 30))
        if n < 0 {
            let e = errno
            if e == EINTR { continue }
            return (done, e)
        }
        if n == 0 { return (done, ENOSPC) }
        done += n
    }
    return (done, nil)
}

/// "no space left on device", "file too large (...)", ...: strerror in lower case, with the
/// causes of the common write failures spelled out.
func errnoDescription(_ code: Int32) -> String {
    switch code {
    case ENOSPC: return "no space left on device"
    case EFBIG: return "file too large (over the file-size limit, ulimit -f, or the file system's maximum)"
    case EDQUOT: return "disk quota exceeded"
    case EROFS: return "read-only file system"
    case EACCES, EPERM: return "permission denied"
    case ENOENT: return "no such file or folder"
    case ENOTDIR: return "a component of the path is not a folder"
    case EIO: return "input/output error"
    default:
        let s = String(cString: strerror(code))
        return s.prefix(1).lowercased() + s.dropFirst()
    }
}

/// Removes the temporary files that `writeAtomically` leaves when its process is killed
/// mid-write (`kill -9`, power loss): names `.<name>.<pid>.<number>.tmp` in `folder` whose
/// process no longer exists (files of running processes, this one included, are kept).
/// Returns what it removed; a missing or unreadable folder removes nothing.
@discardableResult
public func removeStaleTemporaries(in folder: URL) -> [URL] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
    var removed: [URL] = []
    for name in names.sorted() {
        guard let pid = temporaryFilePID(name), pid != getpid() else { continue }
        if kill(pid, 0) == 0 || errno != ESRCH { continue }   // alive (or not ours to judge)
        let url = folder.appendingPathComponent(name)
        var st = stat()
        guard lstat(url.path, &st) == 0, st.st_mode & S_IFMT == S_IFREG || st.st_mode & S_IFMT == S_IFLNK else { continue }
        if unlink(url.path) == 0 { removed.append(url) }
    }
    return removed
}

/// The pid in a `writeAtomically` temporary name `.<name>.<pid>.<number>.tmp`, else nil.
func temporaryFilePID(_ name: String) -> pid_t? {
    guard name.hasPrefix("."), name.hasSuffix(".tmp") else { return nil }
    let parts = name.dropFirst().dropLast(4).split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count >= 3, !parts[..<(parts.count - 2)].joined(separator: ".").isEmpty,
          let random = parts.last, !random.isEmpty, random.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), UInt32(random) != nil,
          let pid = pid_t(parts[parts.count - 2]), pid > 0, parts[parts.count - 2].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
    else { return nil }
    return pid
}

public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case invalidFile(path: String, reason: String)
    case unreadable(path: String, reason: String)
    case unwritable(path: String, reason: String)
    case badMetadata(String)

    public var description: String {
        switch self {
        case let .invalidFile(p, r): return "\(p): not a valid safetensors checkpoint: \(r)"
        case let .unreadable(p, r): return "\(p): cannot read: \(r)"
        case let .unwritable(p, r): return "\(p): cannot write: \(r)"
        case let .badMetadata(r): return "checkpoint metadata: \(r)"
        }
    }
}

extension CheckpointError: LocalizedError { public var errorDescription: String? { description } }
