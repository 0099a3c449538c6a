/// Element types of torch storages, with their legacy storage class and dtype names.
enum TorchDType: String, CaseIterable, Equatable {
    case float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool

    var itemSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// `torch.<name>` of the legacy typed storage class (`torch.FloatStorage`, ...).
    var storageClass: String {
        switch self {
        case .float32: return "FloatStorage"
        case .float16: return "HalfStorage"
        case .bfloat16: return "BFloat16Storage"
        case .float64: return "DoubleStorage"
        case .int64: return "LongStorage"
        case .int32: return "IntStorage"
        case .int16: return "ShortStorage"
        case .int8: return "CharStorage"
        case .uint8: return "ByteStorage"
        case .bool: return "BoolStorage"
        }
    }

    /// Names under which `torch.<name>` is this dtype (`torch.float32`, `torch.float`, ...).
    var dtypeNames: [String] {
        switch self {
        case .float32: return ["float32", "float"]
        case .float16: return ["float16", "half"]
        case .bfloat16: return ["bfloat16"]
        case .float64: return ["float64", "double"]
        case .int64: return ["int64", "long"]
        case .int32: return ["int32", "int"]
        case .int16: return ["int16", "short"]
        case .int8: return ["int8"]
        case .uint8: return ["uint8"]
        case .bool: return ["bool"]
        }
    }
}

/// The only globals a checkpoint pickle may name. They are interpreted, never executed.
enum PickleGlobal: Equatable {
    case orderedDict
    case rebuildTensorV2, rebuildTensor, rebuildParameter, rebuildParameterWithState
    case storageClass(TorchDType)
    case dtype(TorchDType)

    static let allowlist: [String: PickleGlobal] = {
        var m: [String: PickleGlobal] = [
            "collections.OrderedDict": .orderedDict,
            "torch._utils._rebuild_tensor_v2": .rebuildTensorV2,
            "torch._utils._rebuild_tensor": .rebuildTensor,
            "torch._utils._rebuild_parameter": .rebuildParameter,
            "torch._utils._rebuild_parameter_with_state": .rebuildParameterWithState,
        ]
        for t in TorchDType.allCases {
            m["torch.\(t.storageClass)"] = .storageClass(t)
            for n in t.dtypeNames { m["torch.\(n)"] = .dtype(t) }
        }
        return m
    }()

    var name: String {
        PickleGlobal.allowlist.first { $0.value == self }.map(\.key) ?? "?"
    }
}

/// A value on the pickle machine's stack. Containers live in the unpickler's arenas and are
/// referred to by index, so values are flat: no recursion when they are freed, however deep a
/// forged file nests them, and reference cycles (a list appended to itself) leak nothing.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits: its little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    /// A byte string; only its length is kept.
    case bytes(Int)
    case tuple(Int)
    case list(Int)
    case dict(Int)
    case global(PickleGlobal)
    case storage(Int)
    case tensor(Int)

    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case let .global(g): return "global \(g.name)"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

extension PickleValue: CustomStringConvertible {
    /// Scalars by value (for error messages), containers by kind.
    var description: String {
        switch self {
        case let .bool(b): return b ? "True" : "False"
        case let .int(i): return String(i)
        case let .float(d): return String(d)
        case let .string(s): return "'\(s.prefix(64))'"
        default: return kind
        }
    }
}

/// A dict of the pickle machine: insertion-ordered; str and int keys are unique.
struct PickleDict {
    enum Key: Hashable { case str(String), int(Int) }
    var keys: [PickleValue] = []
    var values: [PickleValue] = []
    var positions: [Key: Int] = [:]

    mutating func set(_ k: PickleValue, _ v: PickleValue) {
        let hk: Key?
        switch k {
        case let .string(s): hk = .str(s)
        case let .int(i): hk = .int(i)
        default: hk = nil
        }
        if let hk, let at = positions[hk] { values[at] = v; return }
        if let hk { positions[hk] = keys.count }
        keys.append(k)
        values.append(v)
    }
}

/// A storage named by a persistent id: `key` is its record (zip entry `data/<key>` or legacy
/// record), `rootCount` the element count claimed for that record, and [base, base + count)
/// the elements this reference covers (a legacy storage view, or the whole record).
struct StorageRef {
    let key: String
    let dtype: TorchDType
    let rootCount: Int
    let base: Int
    let count: Int
}

/// `storage.as_strided(size, stride, offset)`, checked to lie inside the storage.
struct TensorRef {
    let storage: Int
    let offset: Int
    let shape: [Int]
    let strides: [Int]
    let count: Int
}

/// A restricted pickle machine for the pickles `torch.save` writes (protocols 2-5 opcodes,
/// plus the harmless ones of protocol 1). It never calls anything: GLOBAL/STACK_GLOBAL only
/// resolve names in `PickleGlobal.allowlist` (anything else is refused, naming the global),
/// REDUCE/NEWOBJ interpret those few callables (`OrderedDict()`, `_rebuild_tensor_v2(...)`),
/// and BINPERSID turns torch's `('storage', <StorageClass>, key, location, numel[, view])` ids
/// into `StorageRef`s. Every length is checked against the remaining bytes before reading,
/// and the stack, marks and memo are bounded.
final class Unpickler {
    static let maxStack = 1 << 20
    static let maxMemo = 1 << 22
    /// Tuples, lists, sets and dicts created by one file (a state dict makes about 5 per tensor).
    static let maxContainers = 1 << 24
    static let maxRank = 64
    static let maxLineLength = 1024

    private let raw: UnsafeRawBufferPointer
    private var pos: Int
    private let path: String
    /// Names the pickle being read in errors ("data.pkl").
    var what: String
    /// Whether BINPERSID (torch's storage references) may appear: only in the data pickle.
    var allowPersistentIDs: Bool

    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    /// Arenas: tuples and lists (and sets, kept as lists), dicts, storages, tensors.
    private(set) var sequences: [[PickleValue]] = []
    private(set) var dicts: [PickleDict] = []
    private(set) var storages: [StorageRef] = []
    private(set) var tensors: [TensorRef] = []
    /// Claimed (dtype, element count) of every storage record named so far.
    private(set) var roots: [String: (dtype: TorchDType, count: Int)] = [:]
    private(set) var rootOrder: [String] = []

    /// Reads pickles from `raw`, the first one starting at byte `start`; byte offsets in
    /// errors are offsets into `raw`.
    init(_ raw: UnsafeRawBufferPointer, start: Int = 0, path: String, what: String, allowPersistentIDs: Bool) {
        self.raw = raw
        self.pos = max(0, min(start, raw.count))
        self.path = path
        self.what = what
        self.allowPersistentIDs = allowPersistentIDs
    }

    /// Offset just past the STOP opcode of the last `load()`.
    var endOffset: Int { pos }

    private func fail(_ reason: String) -> TorchImportError {
        .invalidFile(path: path, reason: "\(what): \(reason)")
    }

    private func unsupported(_ reason: String) -> TorchImportError {
        .unsupported(path: path, reason: "\(what): \(reason)")
    }

    // MARK: Reading

    private func byte() throws -> UInt8 {
        guard pos < raw.count else { throw fail("ends at byte \(pos) without a STOP opcode (truncated?)") }
        defer { pos += 1 }
        return raw[pos]
    }

    private func int<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        let size = MemoryLayout<T>.size
        guard size <= raw.count - pos else { throw fail("\(what) at byte \(pos) runs past the end (truncated?)") }
        defer { pos += size }
        return T(littleEndian: raw.loadUnaligned(fromByteOffset: pos, as: T.self))
    }

    private func take(_ length: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        guard length >= 0, length <= raw.count - pos else {
            throw fail("\(what) of \(length) bytes at byte \(pos) runs past the end (\(raw.count - pos) bytes left)")
        }
        defer { pos += length }
        return UnsafeRawBufferPointer(rebasing: raw[pos ..< pos + length])
    }

    /// A newline-terminated ASCII line (GLOBAL's module and name).
    private func line(_ what: String) throws -> String {
        let start = pos
        let limit = min(raw.count, pos + Self.maxLineLength)
        var p = pos
        while p < limit, raw[p] != 0x0A { p += 1 }
        guard p < limit else { throw fail("\(what) at byte \(start) has no newline within \(Self.maxLineLength) bytes") }
        pos = p + 1
        return String(decoding: UnsafeRawBufferPointer(rebasing: raw[start ..< p]), as: UTF8.self)
    }

    /// A length field as a non-negative Int.
    private func length<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> Int {
        let v = try int(T.self, what)
        guard let n = Int(exactly: v), n >= 0 else { throw fail("\(what) \(v) is negative or too large") }
        return n
    }

    // MARK: Stack

    private func push(_ v: PickleValue) throws {
        guard stack.count < Self.maxStack else { throw fail("stack exceeds \(Self.maxStack) entries") }
        stack.append(v)
    }

    private func pop(_ op: String) throws -> PickleValue {
        guard let last = stack.last, stack.count > (marks.last ?? 0) else { throw fail("\(op) at byte \(pos - 1): stack underflow") }
        stack.removeLast()
        return last
    }

    private func top(_ op: String) throws -> PickleValue {
        guard let last = stack.last, stack.count > (marks.last ?? 0) else { throw fail("\(op) at byte \(pos - 1): stack underflow") }
        return last
    }

    /// The values pushed since the last MARK, which is removed.
    private func popMark(_ op: String) throws -> [PickleValue] {
        guard let m = marks.popLast() else { throw fail("\(op) at byte \(pos - 1) without a MARK") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private func newSequence(_ items: [PickleValue], tuple: Bool) throws -> PickleValue {
        guard sequences.count + dicts.count < Self.maxContainers else { throw fail("more than \(Self.maxContainers) containers") }
        sequences.append(items)
        return tuple ? .tuple(sequences.count - 1) : .list(sequences.count - 1)
    }

    private func newDict(_ pairs: [PickleValue] = []) throws -> PickleValue {
        guard pairs.count % 2 == 0 else { throw fail("odd number of items (\(pairs.count)) for a dict at byte \(pos - 1)") }
        guard sequences.count + dicts.count < Self.maxContainers else { throw fail("more than \(Self.maxContainers) containers") }
        var d = PickleDict()
        for i in stride(from: 0, to: pairs.count, by: 2) { d.set(pairs[i], pairs[i + 1]) }
        dicts.append(d)
        return .dict(dicts.count - 1)
    }

    private func memoize(_ index: Int) throws {
        guard memo.count < Self.maxMemo || memo[index] != nil else { throw fail("memo exceeds \(Self.maxMemo) entries") }
        memo[index] = try top("PUT")
    }

    private func items(_ v: PickleValue) -> [PickleValue]? {
        switch v {
        case let .tuple(i), let .list(i): return sequences[i]
        default: return nil
        }
    }

    // MARK: Running

    /// Runs the machine from the current offset to the next STOP and returns its result.
    func load() throws -> PickleValue {
        stack.removeAll(keepingCapacity: true)
        marks.removeAll()
        memo.removeAll()
        while true {
            let at = pos
            let op = try byte()
            switch op {
            case 0x80: // PROTO
                let v = try byte()
                guard v <= 5 else { throw unsupported("pickle protocol \(v) (at most 5 is known)") }
            case 0x95: // FRAME: a length hint for the bytes that follow
                let n = try length(UInt64.self, "FRAME length")
                guard n <= raw.count - pos else { throw fail("FRAME of \(n) bytes at byte \(at) runs past the end") }
            case 0x2E: // STOP
                let result = try pop("STOP")
                stack.removeAll()
                marks.removeAll()
                return result
            case 0x28: // MARK
                guard marks.count < Self.maxStack else { throw fail("more than \(Self.maxStack) open MARKs") }
                marks.append(stack.count)
            case 0x7D: try push(try newDict())                            // EMPTY_DICT
            case 0x5D: try push(try newSequence([], tuple: false))            // EMPTY_LIST
            case 0x29: try push(try newSequence([], tuple: true))             // EMPTY_TUPLE
            case 0x8F: try push(try newSequence([], tuple: false))            // EMPTY_SET (kept as a list)
            case 0x4E: try push(.none)                                    // NONE
            case 0x88: try push(.bool(true))                              // NEWTRUE
            case 0x89: try push(.bool(false))                             // NEWFALSE
            case 0x4A: try push(.int(Int(try int(Int32.self, "BININT"))))             // BININT
            case 0x4B: try push(.int(Int(try byte())))                                 // BININT1
            case 0x4D: try push(.int(Int(try int(UInt16.self, "BININT2"))))           // BININT2
            case 0x8A: // LONG1
                let n = Int(try byte())
                try push(Self.long(try take(n, "LONG1")))
            case 0x8B: // LONG4
                let n = try length(Int32.self, "LONG4 length")
                try push(Self.long(try take(n, "LONG4")))
            case 0x47: // BINFLOAT: big-endian double
                let bits = try int(UInt64.self, "BINFLOAT")
                try push(.float(Double(bitPattern: bits.byteSwapped)))
            case 0x58: // BINUNICODE
                let n = try length(UInt32.self, "BINUNICODE length")
                try push(.string(String(decoding: try take(n, "BINUNICODE"), as: UTF8.self)))
            case 0x8C: // SHORT_BINUNICODE
                let n = Int(try byte())
                try push(.string(String(decoding: try take(n, "SHORT_BINUNICODE"), as: UTF8.self)))
            case 0x8D: // BINUNICODE8
                let n = try length(UInt64.self, "BINUNICODE8 length")
                try push(.string(String(decoding: try take(n, "BINUNICODE8"), as: UTF8.self)))
            case 0x54: // BINSTRING (Python 2 str): latin-1
                let n = try length(Int32.self, "BINSTRING length")
                try push(.string(String(try take(n, "BINSTRING").map { Character(Unicode.Scalar($0)) })))
            case 0x55: // SHORT_BINSTRING
                let n = Int(try byte())
                try push(.string(String(try take(n, "SHORT_BINSTRING").map { Character(Unicode.Scalar($0)) })))
            case 0x42: try push(.bytes(try take(try length(UInt32.self, "BINBYTES length"), "BINBYTES").count))
            case 0x43: try push(.bytes(try take(Int(try byte()), "SHORT_BINBYTES").count))
            case 0x8E: try push(.bytes(try take(try length(UInt64.self, "BINBYTES8 length"), "BINBYTES8").count))
            case 0x96: try push(.bytes(try take(try length(UInt64.self, "BYTEARRAY8 length"), "BYTEARRAY8").count))
            case 0x74: try push(try newSequence(try popMark("TUPLE"), tuple: true))      // TUPLE
            case 0x85: // TUPLE1
                let a = try pop("TUPLE1")
                try push(try newSequence([a], tuple: true))
            case 0x86: // TUPLE2
                let b = try pop("TUPLE2"), a = try pop("TUPLE2")
                try push(try newSequence([a, b], tuple: true))
            case 0x87: // TUPLE3
                let c = try pop("TUPLE3"), b = try pop("TUPLE3"), a = try pop("TUPLE3")
                try push(try newSequence([a, b, c], tuple: true))
            case 0x6C: try push(try newSequence(try popMark("LIST"), tuple: false))      // LIST
            case 0x64: try push(try newDict(try popMark("DICT")))                  // DICT
            case 0x91: try push(try newSequence(try popMark("FROZENSET"), tuple: true))  // FROZENSET
            case 0x61: // APPEND
                let v = try pop("APPEND")
                guard case let .list(i) = try top("APPEND") else { throw fail("APPEND at byte \(at) to a \(try top("APPEND").kind)") }
                sequences[i].append(v)
            case 0x65, 0x90: // APPENDS, ADDITEMS
                let vs = try popMark("APPENDS")
                guard case let .list(i) = try top("APPENDS") else { throw fail("APPENDS at byte \(at) to a \(try top("APPENDS").kind)") }
                sequences[i].append(contentsOf: vs)
            case 0x73: // SETITEM
                let v = try pop("SETITEM"), k = try pop("SETITEM")
                guard case let .dict(i) = try top("SETITEM") else { throw fail("SETITEM at byte \(at) on a \(try top("SETITEM").kind)") }
                dicts[i].set(k, v)
            case 0x75: // SETITEMS
                let vs = try popMark("SETITEMS")
                guard vs.count % 2 == 0 else { throw fail("SETITEMS at byte \(at) with an odd number of items") }
                guard case let .dict(i) = try top("SETITEMS") else { throw fail("SETITEMS at byte \(at) on a \(try top("SETITEMS").kind)") }
                for j in stride(from: 0, to: vs.count, by: 2) { dicts[i].set(vs[j], vs[j + 1]) }
            case 0x71: try memoize(Int(try byte()))                               // BINPUT
            case 0x72: try memoize(Int(try int(UInt32.self, "LONG_BINPUT")))      // LONG_BINPUT
            case 0x94: try memoize(memo.count)                                    // MEMOIZE
            case 0x68, 0x6A: // BINGET, LONG_BINGET
                let i = op == 0x68 ? Int(try byte()) : Int(try int(UInt32.self, "LONG_BINGET"))
                guard let v = memo[i] else { throw fail("GET at byte \(at) of memo entry \(i), which was never stored") }
                try push(v)
            case 0x30: // POP
                if stack.count > (marks.last ?? 0) { stack.removeLast() } else { _ = try popMark("POP") }
            case 0x31: _ = try popMark("POP_MARK")                                // POP_MARK
            case 0x32: try push(try top("DUP"))                                    // DUP
            case 0x63: // GLOBAL
                let module = try line("GLOBAL module"), name = try line("GLOBAL name")
                try push(.global(try global(module, name)))
            case 0x93: // STACK_GLOBAL
                let n = try pop("STACK_GLOBAL"), m = try pop("STACK_GLOBAL")
                guard case let .string(module) = m, case let .string(name) = n else {
                    throw fail("STACK_GLOBAL at byte \(at) needs two strings, got \(m.kind) and \(n.kind)")
                }
                try push(.global(try global(module, name)))
            case 0x52: // REDUCE
                let args = try pop("REDUCE"), f = try pop("REDUCE")
                try push(try call(f, args, at: at))
            case 0x81: // NEWOBJ
                let args = try pop("NEWOBJ"), cls = try pop("NEWOBJ")
                try push(try newObject(cls, args, at: at))
            case 0x92: // NEWOBJ_EX
                let kwargs = try pop("NEWOBJ_EX"), args = try pop("NEWOBJ_EX"), cls = try pop("NEWOBJ_EX")
                if case let .dict(i) = kwargs, !dicts[i].keys.isEmpty {
                    throw unsupported("NEWOBJ_EX at byte \(at) with keyword arguments")
                }
                try push(try newObject(cls, args, at: at))
            case 0x62: // BUILD: object state (OrderedDict._metadata of a state dict, tensor attributes)
                let state = try pop("BUILD")
                let obj = try top("BUILD")
                switch obj {
                case .dict, .tensor: _ = state
                default: throw unsupported("BUILD at byte \(at) on a \(obj.kind)")
                }
            case 0x51: // BINPERSID
                let pid = try pop("BINPERSID")
                try push(try persistentLoad(pid, at: at))
            case 0x50, 0x49, 0x4C, 0x46, 0x53, 0x56, 0x70, 0x67, 0x69, 0x6F, 0x82, 0x83, 0x84, 0x97, 0x98:
                let names: [UInt8: String] = [0x50: "PERSID", 0x49: "INT", 0x4C: "LONG", 0x46: "FLOAT", 0x53: "STRING",
                                              0x56: "UNICODE", 0x70: "PUT", 0x67: "GET", 0x69: "INST", 0x6F: "OBJ",
                                              0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x97: "NEXT_BUFFER",
                                              0x98: "READONLY_BUFFER"]
                throw unsupported("pickle opcode \(names[op] ?? "?") at byte \(at) is not supported (torch.save writes protocol 2)")
            default:
                throw fail("invalid pickle opcode 0x\(String(op, radix: 16)) at byte \(at)")
            }
        }
    }

    /// LONG1/LONG4 payload: little-endian two's complement.
    static func long(_ b: UnsafeRawBufferPointer) -> PickleValue {
        if b.isEmpty { return .int(0) }
        if b.count > 8 { return .bigInt(Array(b)) }
        var v: UInt64 = b[b.count - 1] & 0x80 != 0 ? ~0 : 0
        for (i, x) in b.enumerated() {
            v &= ~(UInt64(0xFF) << (8 * UInt64(i)))
            v |= UInt64(x) << (8 * UInt64(i))
        }
        return .int(Int(Int64(bitPattern: v)))
    }

    private func global(_ module: String, _ name: String) throws -> PickleGlobal {
        let full = "\(module).\(name)"
        guard let g = PickleGlobal.allowlist[full] else { throw TorchImportError.forbiddenGlobal(path: path, global: full) }
        return g
    }

    private func newObject(_ cls: PickleValue, _ args: PickleValue, at: Int) throws -> PickleValue {
        guard case .global(.orderedDict) = cls, let a = items(args), a.isEmpty else {
            throw unsupported("NEWOBJ at byte \(at) of a \(cls.kind) (only OrderedDict() can be created this way)")
        }
        return try newDict()
    }

    // MARK: Interpreting the allowlisted callables

    private func call(_ f: PickleValue, _ argsValue: PickleValue, at: Int) throws -> PickleValue {
        guard case let .global(g) = f else { throw fail("REDUCE at byte \(at) calls a \(f.kind)") }
        guard let args = items(argsValue) else { throw fail("REDUCE at byte \(at): arguments of \(g.name) are a \(argsValue.kind), not a tuple") }
        func bad(_ s: String) -> TorchImportError { fail("REDUCE at byte \(at): \(g.name)\(s)") }
        switch g {
        case .orderedDict:
            if args.isEmpty { return try newDict() }
            // OrderedDict([(k, v), ...])
            guard args.count == 1, let pairs = items(args[0]) else { throw bad(" with arguments other than () or a list of pairs") }
            var flat: [PickleValue] = []
            for p in pairs {
                guard let kv = items(p), kv.count == 2 else { throw bad(": an item is not a (key, value) pair") }
                flat += kv
            }
            return try newDict(flat)
        case .rebuildTensorV2, .rebuildTensor:
            // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            // _rebuild_tensor(storage, storage_offset, size, stride)
            let expected = g == .rebuildTensor ? 4...4 : 6...7
            guard expected.contains(args.count) else { throw bad(" with \(args.count) arguments") }
            guard case let .storage(s) = args[0] else { throw bad(": first argument is a \(args[0].kind), not a storage") }
            guard case let .int(offset) = args[1] else { throw bad(": storage offset is a \(args[1].kind)") }
            let shape = try intTuple(args[2], "size", bad)
            let strides = try intTuple(args[3], "stride", bad)
            return .tensor(try makeTensor(storage: s, offset: offset, shape: shape, strides: strides, bad))
        case .rebuildParameter, .rebuildParameterWithState:
            // _rebuild_parameter(data, requires_grad, backward_hooks[, state])
            guard args.count == (g == .rebuildParameter ? 3 : 4) else { throw bad(" with \(args.count) arguments") }
            guard case .tensor = args[0] else { throw bad(": data is a \(args[0].kind), not a tensor") }
            return args[0]
        case .storageClass, .dtype:
            throw unsupported("REDUCE at byte \(at) calls \(g.name), which this reader does not interpret")
        }
    }

    private func intTuple(_ v: PickleValue, _ what: String, _ bad: (String) -> TorchImportError) throws -> [Int] {
        guard let xs = items(v) else { throw bad(": \(what) is a \(v.kind), not a tuple") }
        guard xs.count <= Self.maxRank else { throw bad(": \(what) has \(xs.count) dimensions (at most \(Self.maxRank))") }
        return try xs.map {
            guard case let .int(i) = $0, i >= 0 else { throw bad(": \(what) \(xs.map(\.kind)) holds a negative or non-integer entry") }
            return i
        }
    }

    /// Validates a strided view against its storage: every element it addresses,
    /// offset + sum((size_i - 1) * stride_i) at the largest, lies inside the storage.
    private func makeTensor(storage s: Int, offset: Int, shape: [Int], strides: [Int],
                            _ bad: (String) -> TorchImportError) throws -> Int {
        let st = storages[s]
        guard shape.count == strides.count else { throw bad(": size \(shape) and stride \(strides) differ in rank") }
        guard offset >= 0, offset <= st.count else {
            throw bad(": storage offset \(offset) outside the storage of \(st.count) elements")
        }
        var count = 1, last = offset
        for n in shape {
            let (c, o1) = count.multipliedReportingOverflow(by: n)
            guard !o1 else { throw bad(": size \(shape) overflows") }
            count = c
        }
        if count > 0 {
            for (n, stride) in zip(shape, strides) {
                let (span, o1) = (n - 1).multipliedReportingOverflow(by: stride)
                let (l, o2) = last.addingReportingOverflow(span)
                guard !o1, !o2 else { throw bad(": view size \(shape) stride \(strides) overflows") }
                last = l
            }
            guard last < st.count else {
                throw bad(": view (offset \(offset), size \(shape), stride \(strides)) reaches element \(last) of a storage of \(st.count) elements")
            }
        }
        tensors.append(TensorRef(storage: s, offset: offset, shape: shape, strides: strides, count: count))
        return tensors.count - 1
    }

    /// torch's persistent ids: ('storage', <StorageClass>, key, location, numel[, view_metadata]),
    /// view_metadata = None or (view_key, offset, size) in elements (legacy storage views).
    private func persistentLoad(_ pid: PickleValue, at: Int) throws -> PickleValue {
        guard allowPersistentIDs else { throw fail("persistent id at byte \(at) outside the data pickle") }
        guard let t = items(pid), t.count == 5 || t.count == 6 else {
            throw fail("persistent id at byte \(at) is a \(pid.kind) of \(items(pid)?.count ?? 0) items, not ('storage', type, key, location, numel)")
        }
        guard case .string("storage") = t[0] else { throw unsupported("persistent id at byte \(at) of kind \(t[0]) (only 'storage')") }
        let dtype: TorchDType
        switch t[1] {
        case let .global(.storageClass(d)), let .global(.dtype(d)): dtype = d
        default: throw fail("persistent id at byte \(at): storage type is a \(t[1].kind)")
        }
        let key: String
        switch t[2] {
        case let .string(s): key = s
        case let .int(i): key = String(i)
        default: throw fail("persistent id at byte \(at): storage key is a \(t[2].kind)")
        }
        guard case let .int(n) = t[4], n >= 0, n <= Int.max / 8 else {
            throw fail("persistent id at byte \(at): storage '\(key)' has element count \(t[4]), not a valid size")
        }
        if let r = roots[key] {
            guard r.dtype == dtype, r.count == n else {
                throw fail("storage '\(key)' is named as \(r.count) x \(r.dtype.rawValue) and as \(n) x \(dtype.rawValue)")
            }
        } else {
            roots[key] = (dtype, n)
            rootOrder.append(key)
        }
        var base = 0, count = n
        if t.count == 6, let view = items(t[5]) {
            guard view.count == 3, case let .int(o) = view[1], case let .int(c) = view[2], o >= 0, c >= 0, c <= n, o <= n - c else {
                throw fail("persistent id at byte \(at): storage view of '\(key)' is not (key, offset, size) inside its \(n) elements")
            }
            base = o; count = c
        } else if t.count == 6, case .none = t[5] {
        } else if t.count == 6 {
            throw fail("persistent id at byte \(at): view metadata is a \(t[5].kind)")
        }
        storages.append(StorageRef(key: key, dtype: dtype, rootCount: n, base: base, count: count))
        return .storage(storages.count - 1)
    }

    // MARK: Inspecting results

    func sequence(_ i: Int) -> [PickleValue] { sequences[i] }
    func dict(_ i: Int) -> PickleDict { dicts[i] }
}
