import Foundation
import Tensors
import NN

/// Reads state dicts written by `torch.save(state_dict, path)` without executing anything:
/// no Python, no pickle callables, only a restricted pickle machine (`Unpickler`) that knows
/// how torch describes tensors.
///
/// Two layouts are accepted:
/// - zip (torch >= 1.6, the default): `<archive>/data.pkl` (the pickle), `<archive>/data/<key>`
///   (each storage's raw little-endian bytes, STORED), `<archive>/byteorder`, `<archive>/version`.
/// - legacy (`_use_new_zipfile_serialization=False`): consecutive pickles of the magic number
///   0x1950a86a20f9469cfc6c, the protocol version 1001 and a sys-info dict, then the data
///   pickle, then the list of storage keys, then per key an 8-byte little-endian element
///   count followed by the raw bytes.
/// Tensors are `_rebuild_tensor_v2(storage, offset, size, stride, ...)` views of storages;
/// each is copied out contiguously (honouring offset and strides) and converted to Float32.
///
/// Everything is validated before it is allocated: lengths against the remaining bytes,
/// storage records against `numel * itemsize`, views against their storage, the total number
/// of output elements against the storage bytes actually present. A damaged or forged file
/// gives a `TorchImportError` naming the file; globals outside the allowlist (`os.system`,
/// `builtins.eval`, `torch.storage._load_from_bytes`, ...) are refused by name.
public enum TorchCheckpoint {
    /// Containers (dicts, lists, tuples) nested deeper than this are refused.
    public static let maxNestingDepth = 32
    /// Output elements allowed per byte of storage data present (float32 storages need at
    /// most 1/4; the slack admits tensors sharing a storage and small expanded views),
    /// plus a fixed allowance.
    static let elementsPerStorageByte = 4
    static let extraElements = 1 << 20
    /// Visits of the flattening walk (a forged pickle can make a DAG with exponentially many paths).
    static let maxVisits = 1 << 22

    /// torch's legacy magic number 0x1950a86a20f9469cfc6c, as LONG1 little-endian bytes.
    static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    static let legacyProtocolVersion = 1001

    /// Longest key accepted after flattening (bytes), and the most key text in all.
    public static let maxKeyLength = 4096
    static let maxKeyBytes = 1 << 26

    /// Reads the state dict at `url`. Returns its tensors in file order with dotted keys (nested
    /// dicts, lists and tuples are flattened: `{"state_dict": {"a": t}}` gives `state_dict.a`),
    /// and the keys of non-tensor leaves (`epoch`, `opt.lr`, ...) in `ignored`.
    ///
    /// Tensors holding NaN or infinite values (float64 values beyond the float32 range become
    /// infinite) are refused, naming them, unless `allowNonFinite`: a model with them outputs NaN.
    public static func read(_ url: URL, allowNonFinite: Bool = false) throws -> (tensors: [(String, Tensor)], ignored: [String]) {
        var st = stat()
        guard stat(url.path, &st) == 0 else {
            let e = errno
            throw TorchImportError.unreadable(path: url.path, reason: String(cString: strerror(e)))
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw TorchImportError.unreadable(path: url.path, reason: st.st_mode & S_IFMT == S_IFDIR ? "a folder, not a file" : "not a regular file")
        }
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw TorchImportError.unreadable(path: url.path, reason: (error as NSError).localizedDescription)
        }
        return try read(data: data, path: url.path, allowNonFinite: allowNonFinite)
    }

    /// Reads a state dict from the bytes of a `torch.save` file; `path` names it in errors.
    public static func read(data: Data, path: String, allowNonFinite: Bool = false) throws -> (tensors: [(String, Tensor)], ignored: [String]) {
        let result = try data.withUnsafeBytes { try parse($0, path: path) }
        if !allowNonFinite {
            let bad = findNonFinite(result.tensors)
            if !bad.isEmpty {
                throw TorchImportError.invalidFile(path: path, reason: "\(bad.count) tensor(s) hold NaN or infinite values: \(describeNonFinite(bad)); a model with them outputs NaN (export a state from before the training diverged)")
            }
        }
        return result
    }

    // MARK: Format detection

    static func parse(_ raw: UnsafeRawBufferPointer, path: String) throws -> (tensors: [(String, Tensor)], ignored: [String]) {
        guard !raw.isEmpty else { throw TorchImportError.invalidFile(path: path, reason: "the file is empty (0 bytes)") }
        if raw.count >= 4, raw[0] == 0x50, raw[1] == 0x4B, (raw[2], raw[3]) == (3, 4) || (raw[2], raw[3]) == (5, 6) {
            return try readZip(raw, path: path)
        }
        if raw[0] == 0x80 { return try readLegacy(raw, path: path) }
        if raw.count >= 262, Array(raw[257 ..< 262]) == Array("ustar".utf8) {
            throw TorchImportError.unsupportedFormat(path: path, reason: "a tar archive (the format of torch < 0.4) is not supported; re-save it with a recent torch")
        }
        if raw.count >= 9, raw[8] == UInt8(ascii: "{") {
            throw TorchImportError.unsupportedFormat(path: path, reason: "this looks like a safetensors file (read it with SafeTensors.read)")
        }
        let head = raw.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw TorchImportError.unsupportedFormat(path: path, reason: "unrecognised contents (first bytes \(head)); expected a zip archive (torch >= 1.6) or a legacy pickle (torch < 1.6)")
    }

    // MARK: Zip layout

    static func readZip(_ raw: UnsafeRawBufferPointer, path: String) throws -> (tensors: [(String, Tensor)], ignored: [String]) {
        let zip = try StoredZip(raw, fail: { .invalidFile(path: path, reason: $0) },
                                unsupported: { .unsupported(path: path, reason: $0) })
        // <archive>/data.pkl, with <archive> any single folder name (torch uses the file's stem).
        let pickles = zip.entries.filter { $0.name.hasSuffix("/data.pkl") && $0.name.split(separator: "/", omittingEmptySubsequences: false).count == 2 }
        guard pickles.count == 1, let pickle = pickles.first else {
            if pickles.isEmpty {
                throw TorchImportError.unsupportedFormat(path: path, reason: "a zip archive without <archive>/data.pkl (not written by torch.save; \(zip.entries.count) entries)")
            }
            throw TorchImportError.invalidFile(path: path, reason: "zip: several archives (\(pickles.map(\.name).joined(separator: ", ")))")
        }
        let prefix = String(pickle.name.dropLast("data.pkl".count))
        if zip.entry(prefix + "constants.pkl") != nil {
            throw TorchImportError.unsupported(path: path, reason: "a TorchScript archive (torch.jit.save); export its state_dict() with torch.save instead")
        }
        if let e = zip.entry(prefix + "byteorder") {
            let order = String(decoding: try zip.data(e), as: UTF8.self)
            guard order == "little" else {
                throw TorchImportError.unsupported(path: path, reason: "storages are stored with byte order '\(order.prefix(16))'; only little-endian files are supported")
            }
        }
        let u = Unpickler(try zip.data(pickle), path: path, what: pickle.name, allowPersistentIDs: true)
        let root = try u.load()
        var records: [String: UnsafeRawBufferPointer] = [:]
        for key in u.rootOrder {
            guard let r = u.roots[key] else { continue }
            let name = prefix + "data/" + key
            guard let e = zip.entry(name) else {
                throw TorchImportError.invalidFile(path: path, reason: "storage '\(key)' has no zip entry \(name)")
            }
            let bytes = try zip.data(e)
            guard bytes.count == r.count * r.dtype.itemSize else {
                throw TorchImportError.invalidFile(path: path, reason: "entry \(name) holds \(bytes.count) bytes, but the pickle claims \(r.count) x \(r.dtype.rawValue) (\(r.count * r.dtype.itemSize) bytes)")
            }
            records[key] = bytes
        }
        return try assemble(u, root, records, path: path)
    }

    // MARK: Legacy layout

    static func readLegacy(_ raw: UnsafeRawBufferPointer, path: String) throws -> (tensors: [(String, Tensor)], ignored: [String]) {
        let u = Unpickler(raw, path: path, what: "legacy magic number", allowPersistentIDs: false)
        let magic = try u.load()
        guard case let .bigInt(m) = magic, m == legacyMagic else {
            throw TorchImportError.unsupportedFormat(path: path, reason: "a pickle (\(magic.kind)) that does not start with torch's magic number: not written by torch.save")
        }
        u.what = "legacy protocol version"
        let version = try u.load()
        guard case .int(legacyProtocolVersion) = version else {
            throw TorchImportError.unsupported(path: path, reason: "legacy protocol version \(version) (only \(legacyProtocolVersion))")
        }
        u.what = "legacy sys info"
        guard case let .dict(info) = try u.load() else {
            throw TorchImportError.invalidFile(path: path, reason: "legacy sys info is not a dict")
        }
        let sys = u.dict(info)
        for (k, v) in zip(sys.keys, sys.values) {
            if case .string("little_endian") = k, case .bool(false) = v {
                throw TorchImportError.unsupported(path: path, reason: "written on a big-endian machine; only little-endian files are supported")
            }
        }
        u.what = "data pickle"
        u.allowPersistentIDs = true
        let root = try u.load()
        u.what = "storage key list"
        u.allowPersistentIDs = false
        let keysValue = try u.load()
        guard case let .list(keyList) = keysValue else {
            throw TorchImportError.invalidFile(path: path, reason: "the storage key list is a \(keysValue.kind)")
        }
        // Records: per key, u64 element count then count * itemsize bytes.
        let bytes = ByteView(raw: raw, fail: { .invalidFile(path: path, reason: $0) })
        var records: [String: UnsafeRawBufferPointer] = [:]
        var p = u.endOffset
        for value in u.sequence(keyList) {
            guard case let .string(key) = value else {
                throw TorchImportError.invalidFile(path: path, reason: "the storage key list holds a \(value.kind)")
            }
            guard let r = u.roots[key] else {
                throw TorchImportError.invalidFile(path: path, reason: "storage '\(key)' in the key list is not used by the data pickle (its element type is unknown)")
            }
            guard records[key] == nil else {
                throw TorchImportError.invalidFile(path: path, reason: "storage '\(key)' appears twice in the key list")
            }
            let count = try bytes.size64(p, "element count of storage '\(key)'")
            guard count == r.count else {
                throw TorchImportError.invalidFile(path: path, reason: "storage '\(key)' record at byte \(p) holds \(count) elements, the pickle claims \(r.count)")
            }
            records[key] = try bytes.bytes(p + 8, count * r.dtype.itemSize, "storage '\(key)' (\(count) x \(r.dtype.rawValue))")
            p += 8 + count * r.dtype.itemSize
        }
        for key in u.rootOrder where records[key] == nil {
            throw TorchImportError.invalidFile(path: path, reason: "storage '\(key)' has no data record")
        }
        return try assemble(u, root, records, path: path)
    }

    // MARK: Flattening and copying out

    static func assemble(_ u: Unpickler, _ root: PickleValue, _ records: [String: UnsafeRawBufferPointer],
                         path: String) throws -> (tensors: [(String, Tensor)], ignored: [String]) {
        guard case .dict = root else {
            throw TorchImportError.unsupported(path: path, reason: "the top-level object is a \(root.kind), not a dict of tensors (a state dict)")
        }
        var leaves: [(String, Int)] = []
        var ignored: [String] = []
        var seen = Set<String>()
        var visits = 0, keyBytes = 0
        func walk(_ v: PickleValue, _ key: String, _ depth: Int) throws {
            visits += 1
            guard visits <= maxVisits else {
                throw TorchImportError.invalidFile(path: path, reason: "more than \(maxVisits) values to walk (shared containers?)")
            }
            func child(_ k: String) throws -> String {
                let length = key.utf8.count + 1 + k.utf8.count
                guard length <= maxKeyLength else {
                    throw TorchImportError.invalidFile(path: path, reason: "a key of \(length) bytes after flattening (at most \(maxKeyLength)): '\(key.prefix(40))...'")
                }
                keyBytes += length
                guard keyBytes <= maxKeyBytes else {
                    throw TorchImportError.invalidFile(path: path, reason: "more than \(maxKeyBytes) bytes of keys after flattening (shared containers under long keys?)")
                }
                return key.isEmpty ? k : key + "." + k
            }
            func descend(_ pairs: [(String, PickleValue)]) throws {
                guard depth < maxNestingDepth else {
                    throw TorchImportError.invalidFile(path: path, reason: "containers nested deeper than \(maxNestingDepth) levels at '\(key.prefix(200))'")
                }
                for (k, x) in pairs { try walk(x, try child(k), depth + 1) }
            }
            switch v {
            case let .dict(i):
                let d = u.dict(i)
                try descend(zip(d.keys, d.values).map { (keyName($0.0), $0.1) })
            case let .list(i), let .tuple(i):
                try descend(u.sequence(i).enumerated().map { (String($0.offset), $0.element) })
            case let .tensor(t):
                guard seen.insert(key).inserted else {
                    throw TorchImportError.invalidFile(path: path, reason: "key '\(key.prefix(200))' occurs twice after flattening")
                }
                leaves.append((key, t))
            default:
                ignored.append(key)
            }
        }
        try walk(root, "", 0)

        // Bound the output by the storage bytes actually present before allocating any of it.
        let storageBytes = records.values.reduce(0) { $0 + $1.count }
        let budget = elementsPerStorageByte * storageBytes + extraElements
        var total = 0
        for (key, t) in leaves {
            let (sum, overflow) = total.addingReportingOverflow(u.tensors[t].count)
            total = overflow ? Int.max : sum
            guard u.tensors[t].count <= budget, total <= budget else {
                throw TorchImportError.invalidFile(path: path, reason: "tensor '\(key)' brings the output to \(total) elements, more than \(budget) for \(storageBytes) bytes of storage (forged sizes or strides?)")
            }
        }
        var tensors: [(String, Tensor)] = []
        tensors.reserveCapacity(leaves.count)
        for (key, t) in leaves {
            let ref = u.tensors[t]
            let s = u.storages[ref.storage]
            guard let bytes = records[s.key] else {
                throw TorchImportError.invalidFile(path: path, reason: "tensor '\(key)': storage '\(s.key)' has no data")
            }
            let values = try gather(bytes, s.dtype, start: s.base + ref.offset, shape: ref.shape, strides: ref.strides,
                                    count: ref.count, key: key, path: path)
            do { tensors.append((key, try Tensor(shape: ref.shape, data: values))) } catch {
                throw TorchImportError.invalidFile(path: path, reason: "tensor '\(key)': \(error)")
            }
        }
        return (tensors, ignored)
    }

    static func keyName(_ k: PickleValue) -> String {
        switch k {
        case let .string(s): return s
        case let .int(i): return String(i)
        case let .bool(b): return b ? "True" : "False"
        case let .float(d): return String(d)
        case .none: return "None"
        default: return "<\(k.kind)>"
        }
    }

    /// Copies the strided view out of a storage's little-endian bytes, contiguously, as Float32.
    static func gather(_ raw: UnsafeRawBufferPointer, _ dtype: TorchDType, start: Int, shape: [Int], strides: [Int],
                       count: Int, key: String, path: String) throws -> [Float] {
        guard count > 0 else { return [] }
        // Re-check the extent against the bytes themselves (the pickle's claims were checked
        // against each other already): the last element addressed must be inside `raw`.
        var last = start
        for (n, s) in zip(shape, strides) { last += (n - 1) * s }
        guard start >= 0, last < raw.count / dtype.itemSize else {
            throw TorchImportError.invalidFile(path: path, reason: "tensor '\(key)' reaches element \(last) of a storage of \(raw.count / dtype.itemSize)")
        }
        switch dtype {
        case .float32: return strided(raw, UInt32.self, start, shape, strides, count) { Float(bitPattern: $0) }
        case .float16: return strided(raw, UInt16.self, start, shape, strides, count) { Float(Float16(bitPattern: $0)) }
        case .bfloat16: return strided(raw, UInt16.self, start, shape, strides, count) { Float(bitPattern: UInt32($0) << 16) }
        case .float64: return strided(raw, UInt64.self, start, shape, strides, count) { Float(Double(bitPattern: $0)) }
        case .int64: return strided(raw, UInt64.self, start, shape, strides, count) { Float(Int64(bitPattern: $0)) }
        case .int32: return strided(raw, UInt32.self, start, shape, strides, count) { Float(Int32(bitPattern: $0)) }
        case .int16: return strided(raw, UInt16.self, start, shape, strides, count) { Float(Int16(bitPattern: $0)) }
        case .int8: return strided(raw, UInt8.self, start, shape, strides, count) { Float(Int8(bitPattern: $0)) }
        case .uint8: return strided(raw, UInt8.self, start, shape, strides, count) { Float($0) }
        case .bool: return strided(raw, UInt8.self, start, shape, strides, count) { $0 != 0 ? 1 : 0 }
        }
    }

    /// Row-major walk over `shape`: an odometer over the outer dimensions, a strided loop
    /// over the last. Element i of the storage is the little-endian T at byte i * size(T).
    @inline(__always)
    static func strided<T: FixedWidthInteger>(_ raw: UnsafeRawBufferPointer, _: T.Type, _ start: Int, _ shape: [Int],
                                               _ strides: [Int], _ count: Int, _ convert: (T) -> Float) -> [Float] {
        let size = MemoryLayout<T>.size
        @inline(__always) func load(_ i: Int) -> Float {
            convert(T(littleEndian: raw.loadUnaligned(fromByteOffset: i * size, as: T.self)))
        }
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            let rank = shape.count
            guard rank > 0 else { out[0] = load(start); initialized = 1; return }
            let inner = shape[rank - 1], innerStride = strides[rank - 1]
            var index = [Int](repeating: 0, count: rank - 1)
            var base = start, o = 0
            outer: while true {
                var p = base
                for _ in 0 ..< inner { out[o] = load(p); o += 1; p += innerStride }
                var d = rank - 2
                while d >= 0 {
                    index[d] += 1
                    base += strides[d]
                    if index[d] < shape[d] { continue outer }
                    base -= strides[d] * shape[d]
                    index[d] = 0
                    d -= 1
                }
                break
            }
            initialized = o
        }
    }
}
