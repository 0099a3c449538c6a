/// Bounds-checked little-endian reads from a byte buffer. Every read names what it was
/// reading, so a truncated file says which field ran past the end.
struct ByteView {
    let raw: UnsafeRawBufferPointer
    let fail: (String) -> TorchImportError

    var count: Int { raw.count }

    /// Whether `length` bytes starting at `offset` lie inside the buffer (overflow-safe).
    func contains(_ offset: Int, _ length: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= raw.count && length <= raw.count - offset
    }

    func int<T: FixedWidthInteger>(_ offset: Int, _: T.Type, _ what: @autoclosure () -> String) throws -> T {
        guard contains(offset, MemoryLayout<T>.size) else {
            throw fail("\(what()) at byte \(offset) lies past the end of the data (\(raw.count) bytes): truncated?")
        }
        return T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// A UInt64 field as an Int (refusing values beyond Int.max).
    func size64(_ offset: Int, _ what: @autoclosure () -> String) throws -> Int {
        let v = try int(offset, UInt64.self, what())
        guard let i = Int(exactly: v) else { throw fail("\(what()) \(v) is out of range") }
        return i
    }

    func bytes(_ offset: Int, _ length: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        guard contains(offset, length) else {
            throw fail("\(what()) (\(length) bytes at byte \(offset)) lies past the end of the data (\(raw.count) bytes): truncated?")
        }
        return UnsafeRawBufferPointer(rebasing: raw[offset ..< offset + length])
    }
}

/// The directory of a zip archive whose entries are read in place, as torch writes them:
/// STORED (uncompressed), with zip64 end records and extra fields for large files.
///
/// Layout read: the end-of-central-directory record (EOCD, signature PK\x05\x06, searched
/// backwards over the last 64 KiB + 22 bytes), the zip64 EOCD locator just before it and the
/// zip64 EOCD record it points to (if present), the central directory (PK\x01\x02 per entry,
/// zip64 extra field 0x0001 for sizes/offsets stored as 0xFFFFFFFF), and each entry's local
/// header (PK\x03\x04) to find where its data starts. Sizes come from the central directory.
/// CRC-32s are not checked (torch.load does not check them either; torch can write zeros).
struct StoredZip {
    struct Entry {
        let name: String
        let flags: UInt16
        let method: UInt16
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    /// Entries in central-directory order.
    let entries: [Entry]
    let index: [String: Int]
    private let bytes: ByteView
    private let unsupported: (String) -> TorchImportError

    static let eocdSignature: UInt32 = 0x0605_4B50
    static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    static let zip64EOCDSignature: UInt32 = 0x0606_4B50
    static let centralSignature: UInt32 = 0x0201_4B50
    static let localSignature: UInt32 = 0x0403_4B50

    init(_ raw: UnsafeRawBufferPointer, fail: @escaping (String) -> TorchImportError,
         unsupported: @escaping (String) -> TorchImportError) throws {
        let b = ByteView(raw: raw, fail: { fail("zip: " + $0) })
        self.bytes = b
        self.unsupported = unsupported
        // 1. End of central directory: 22 bytes + a comment of at most 65535 bytes.
        var eocd = -1
        if raw.count >= 22 {
            var p = raw.count - 22
            let lowest = max(0, raw.count - 22 - 0xFFFF)
            while p >= lowest {
                if raw[p] == 0x50, raw[p + 1] == 0x4B, raw[p + 2] == 0x05, raw[p + 3] == 0x06 {
                    let commentLength = Int(try b.int(p + 20, UInt16.self, "EOCD comment length"))
                    if p + 22 + commentLength <= raw.count { eocd = p; break }
                }
                p -= 1
            }
        }
        guard eocd >= 0 else {
            throw b.fail("no end-of-central-directory record (the file is truncated or not a zip archive)")
        }
        let disk = try b.int(eocd + 4, UInt16.self, "EOCD disk number")
        let cdDisk = try b.int(eocd + 6, UInt16.self, "EOCD central directory disk")
        var entryCount = Int(try b.int(eocd + 10, UInt16.self, "EOCD entry count"))
        var cdSize = Int(try b.int(eocd + 12, UInt32.self, "EOCD central directory size"))
        var cdOffset = Int(try b.int(eocd + 16, UInt32.self, "EOCD central directory offset"))
        var cdLimit = eocd   // the central directory ends before this
        // 2. Zip64: a locator right before the EOCD points to the zip64 EOCD record.
        if eocd >= 20, try b.int(eocd - 20, UInt32.self, "zip64 locator") == Self.zip64LocatorSignature {
            let locator = eocd - 20
            let record = try b.size64(locator + 8, "zip64 EOCD offset")
            guard record <= locator - 56 else {
                throw b.fail("zip64 end-of-central-directory record at byte \(record) overlaps its locator at byte \(locator)")
            }
            guard try b.int(record, UInt32.self, "zip64 EOCD signature") == Self.zip64EOCDSignature else {
                throw b.fail("no zip64 end-of-central-directory record at byte \(record) where the locator points")
            }
            guard try b.int(record + 16, UInt32.self, "zip64 EOCD disk") == 0,
                  try b.int(record + 20, UInt32.self, "zip64 EOCD central directory disk") == 0 else {
                throw unsupported("zip archives split over several disks are not supported")
            }
            entryCount = try b.size64(record + 32, "zip64 entry count")
            cdSize = try b.size64(record + 40, "zip64 central directory size")
            cdOffset = try b.size64(record + 48, "zip64 central directory offset")
            cdLimit = record
        } else if entryCount == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            throw b.fail("the end-of-central-directory record needs zip64 values but there is no zip64 locator")
        }
        guard disk == 0, cdDisk == 0 else {
            throw unsupported("zip archives split over several disks are not supported")
        }
        guard cdOffset <= cdLimit, cdSize <= cdLimit - cdOffset else {
            throw b.fail("central directory (\(cdSize) bytes at byte \(cdOffset)) does not end before the end records at byte \(cdLimit)")
        }
        guard entryCount <= cdSize / 46 else {
            throw b.fail("\(entryCount) entries cannot fit in a central directory of \(cdSize) bytes")
        }
        // 3. Central directory entries.
        var entries: [Entry] = []
        entries.reserveCapacity(entryCount)
        var index: [String: Int] = [:]
        var p = cdOffset
        let cdEnd = cdOffset + cdSize
        for i in 0..<entryCount {
            guard p <= cdEnd - 46, try b.int(p, UInt32.self, "central directory entry \(i)") == Self.centralSignature else {
                throw b.fail("central directory entry \(i) at byte \(p) is missing or has a bad signature")
            }
            let flags = try b.int(p + 8, UInt16.self, "entry flags")
            let method = try b.int(p + 10, UInt16.self, "entry method")
            var compressed = Int(try b.int(p + 20, UInt32.self, "entry compressed size"))
            var size = Int(try b.int(p + 24, UInt32.self, "entry size"))
            let nameLength = Int(try b.int(p + 28, UInt16.self, "entry name length"))
            let extraLength = Int(try b.int(p + 30, UInt16.self, "entry extra length"))
            let commentLength = Int(try b.int(p + 32, UInt16.self, "entry comment length"))
            var local = Int(try b.int(p + 42, UInt32.self, "entry local header offset"))
            let recordLength = 46 + nameLength + extraLength + commentLength
            guard recordLength <= cdEnd - p else {
                throw b.fail("central directory entry \(i) runs past the end of the central directory")
            }
            let name = String(decoding: try b.bytes(p + 46, nameLength, "entry name"), as: UTF8.self)
            // Zip64 extended information: only the fields saturated in the fixed record, in order.
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = try b.int(e, UInt16.self, "extra field id")
                let length = Int(try b.int(e + 2, UInt16.self, "extra field length"))
                guard length <= extraEnd - (e + 4) else { throw b.fail("entry '\(name)': extra field runs past its record") }
                if id == 0x0001 {
                    var q = e + 4
                    func next(_ what: String) throws -> Int {
                        guard q + 8 <= e + 4 + length else { throw b.fail("entry '\(name)': zip64 extra field lacks the \(what)") }
                        defer { q += 8 }
                        return try b.size64(q, "entry '\(name)' zip64 \(what)")
                    }
                    if size == 0xFFFF_FFFF { size = try next("size") }
                    if compressed == 0xFFFF_FFFF { compressed = try next("compressed size") }
                    if local == 0xFFFF_FFFF { local = try next("local header offset") }
                }
                e += 4 + length
            }
            guard index[name] == nil else { throw b.fail("entry '\(name)' appears twice") }
            index[name] = entries.count
            entries.append(Entry(name: name, flags: flags, method: method, compressedSize: compressed, size: size,
                                 localHeaderOffset: local))
            p += recordLength
        }
        self.entries = entries
        self.index = index
    }

    func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The bytes of a stored entry, in place. Refuses compressed or encrypted entries.
    func data(_ entry: Entry) throws -> UnsafeRawBufferPointer {
        let name = entry.name
        guard entry.flags & 1 == 0 else { throw unsupported("zip entry '\(name)' is encrypted") }
        guard entry.method == 0 else {
            let kind = entry.method == 8 ? "deflate" : "method \(entry.method)"
            throw unsupported("zip entry '\(name)' is compressed (\(kind)); torch.save writes uncompressed (stored) entries, re-save the checkpoint with torch.save")
        }
        guard entry.compressedSize == entry.size else {
            throw bytes.fail("stored entry '\(name)' has compressed size \(entry.compressedSize) != size \(entry.size)")
        }
        let h = entry.localHeaderOffset
        guard try bytes.int(h, UInt32.self, "local header of '\(name)'") == Self.localSignature else {
            throw bytes.fail("entry '\(name)': no local header at byte \(h)")
        }
        let nameLength = Int(try bytes.int(h + 26, UInt16.self, "local name length of '\(name)'"))
        let extraLength = Int(try bytes.int(h + 28, UInt16.self, "local extra length of '\(name)'"))
        let localName = try bytes.bytes(h + 30, nameLength, "local name of '\(name)'")
        guard localName.elementsEqual(name.utf8) else {
            throw bytes.fail("entry '\(name)': its local header names '\(String(decoding: localName, as: UTF8.self))'")
        }
        return try bytes.bytes(h + 30 + nameLength + extraLength, entry.size, "data of entry '\(name)'")
    }
}
