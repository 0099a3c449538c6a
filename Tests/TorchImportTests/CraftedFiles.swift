import Foundation

/// Writes protocol-2 pickles opcode by opcode, as torch.save lays out a state dict, so that
/// tests can forge exactly the lie they want to check (sizes, strides, globals, lengths).
struct PickleBuilder {
    var bytes: [UInt8] = [0x80, 0x02]   // PROTO 2

    struct TensorSpec {
        var key: String
        var dtype: String          // legacy storage class: FloatStorage, HalfStorage, ...
        var numel: Int
        var offset: Int
        var size: [Int]
        var stride: [Int]
    }

    mutating func op(_ b: UInt8...) { bytes += b }
    mutating func mark() { op(0x28) }
    mutating func stop() { op(0x2E) }
    /// GLOBAL 'module\nname\n'.
    mutating func global(_ module: String, _ name: String) {
        op(0x63)
        bytes += Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A]
    }
    /// BINUNICODE.
    mutating func str(_ s: String) {
        op(0x58)
        bytes += le(UInt32(s.utf8.count)) + Array(s.utf8)
    }
    /// LONG1 with 8 bytes (any Int).
    mutating func int(_ i: Int) {
        op(0x8A, 8)
        bytes += le(UInt64(bitPattern: Int64(i)))
    }
    mutating func tuple(_ xs: [Int]) {
        mark()
        for x in xs { int(x) }
        op(0x74)
    }

    /// _rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict()).
    mutating func tensor(_ t: TensorSpec) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark(); str("storage"); global("torch", t.dtype); str(t.key); str("cpu"); int(t.numel); op(0x74)
        op(0x51)   // BINPERSID
        int(t.offset)
        tuple(t.size)
        tuple(t.stride)
        op(0x89)   // NEWFALSE
        global("collections", "OrderedDict"); op(0x29, 0x52)
        op(0x74, 0x52)   // TUPLE, REDUCE
    }

    /// OrderedDict() then SETITEM per entry, STOP.
    static func stateDict(_ items: [(String, TensorSpec)]) -> [UInt8] {
        var p = PickleBuilder()
        p.global("collections", "OrderedDict"); p.op(0x29, 0x52)
        for (k, t) in items { p.str(k); p.tensor(t); p.op(0x73) }
        p.stop()
        return p.bytes
    }
}

func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }

func floatBytes(_ xs: [Float]) -> [UInt8] { xs.flatMap { le($0.bitPattern) } }

/// A legacy (torch < 1.6) file: magic, protocol version, sys info, `data`, the key list, then
/// per record an 8-byte element count and the bytes.
func legacyFile(_ data: [UInt8], keys: [String], records: [(count: Int, bytes: [UInt8])], littleEndian: Bool = true) -> Data {
    var out: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
    out += [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E]   // BININT2 1001
    var info = PickleBuilder()
    info.op(0x7D); info.str("little_endian"); info.op(littleEndian ? 0x88 : 0x89, 0x73); info.stop()
    out += info.bytes
    out += data
    var list = PickleBuilder()
    list.op(0x5D); list.mark()
    for k in keys { list.str(k) }
    list.op(0x65); list.stop()
    out += list.bytes
    for r in records { out += le(UInt64(r.count)) + r.bytes }
    return Data(out)
}

/// A zip of STORED entries (CRC fields left 0, as torch.load does not check them). With
/// `zip64`, sizes and offsets are saturated in the fixed records and given in zip64 extra
/// fields, and zip64 end records precede the classic one, as torch writes big files.
func storedZip(_ entries: [(String, [UInt8])], zip64: Bool = false) -> Data {
    var out: [UInt8] = [], central: [UInt8] = []
    let sat32: UInt32 = 0xFFFF_FFFF
    for (name, data) in entries {
        let offset = out.count
        let n = Array(name.utf8)
        let localExtra: [UInt8] = zip64 ? le(UInt16(1)) + le(UInt16(16)) + le(UInt64(data.count)) + le(UInt64(data.count)) : []
        out += le(UInt32(0x0403_4B50)) + le(UInt16(45)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0)) + le(UInt32(0))
        out += le(zip64 ? sat32 : UInt32(data.count)) + le(zip64 ? sat32 : UInt32(data.count))
        out += le(UInt16(n.count)) + le(UInt16(localExtra.count)) + n + localExtra + data
        let extra: [UInt8] = zip64
            ? le(UInt16(1)) + le(UInt16(24)) + le(UInt64(data.count)) + le(UInt64(data.count)) + le(UInt64(offset)) : []
        central += le(UInt32(0x0201_4B50)) + le(UInt16(45)) + le(UInt16(45)) + le(UInt16(0)) + le(UInt16(0))
        central += le(UInt32(0)) + le(UInt32(0))
        central += le(zip64 ? sat32 : UInt32(data.count)) + le(zip64 ? sat32 : UInt32(data.count))
        central += le(UInt16(n.count)) + le(UInt16(extra.count)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(0))
        central += le(UInt32(0)) + le(zip64 ? sat32 : UInt32(offset)) + n + extra
    }
    let cdOffset = out.count
    out += central
    if zip64 {
        let record = out.count
        out += le(UInt32(0x0606_4B50)) + le(UInt64(44)) + le(UInt16(45)) + le(UInt16(45)) + le(UInt32(0)) + le(UInt32(0))
        out += le(UInt64(entries.count)) + le(UInt64(entries.count)) + le(UInt64(central.count)) + le(UInt64(cdOffset))
        out += le(UInt32(0x0706_4B50)) + le(UInt32(0)) + le(UInt64(record)) + le(UInt32(1))
    }
    out += le(UInt32(0x0605_4B50)) + le(UInt16(0)) + le(UInt16(0))
    out += le(zip64 ? UInt16(0xFFFF) : UInt16(entries.count)) + le(zip64 ? UInt16(0xFFFF) : UInt16(entries.count))
    out += le(zip64 ? sat32 : UInt32(central.count)) + le(zip64 ? sat32 : UInt32(cdOffset)) + le(UInt16(0))
    return Data(out)
}

/// A torch-like zip: archive/data.pkl, archive/byteorder, archive/data/<key>, archive/version.
func torchZip(_ pickle: [UInt8], storages: [(String, [UInt8])], byteorder: String = "little") -> Data {
    storedZip([("archive/data.pkl", pickle), ("archive/byteorder", Array(byteorder.utf8))]
        + storages.map { ("archive/data/\($0.0)", $0.1) } + [("archive/version", Array("3\n".utf8))])
}
