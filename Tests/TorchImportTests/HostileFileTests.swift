import XCTest
import Foundation
import Tensors
import TestSupport
@testable import TorchImport

/// Tampered, truncated, random and forged files: every one gives a `TorchImportError` whose
/// message starts with the file's path; nothing crashes, nothing runs, nothing huge is allocated.
final class HostileFileTests: XCTestCase {
    /// Reads and returns the error, failing if there is none or it is of another type.
    @discardableResult
    func readError(_ data: Data, path: String = "forged.pth", _ what: String = "",
                   file: StaticString = #filePath, line: UInt = #line) -> TorchImportError? {
        do {
            let r = try TorchCheckpoint.read(data: data, path: path)
            XCTFail("\(what): read \(r.tensors.count) tensors from a bad file", file: file, line: line)
        } catch let e as TorchImportError {
            XCTAssertEqual(e.path, path, what, file: file, line: line)
            XCTAssertTrue(e.description.hasPrefix(path + ": "), "\(what): \(e)", file: file, line: line)
            return e
        } catch {
            XCTFail("\(what): not a TorchImportError: \(error)", file: file, line: line)
        }
        return nil
    }

    func readError(_ url: URL, file: StaticString = #filePath, line: UInt = #line) -> TorchImportError? {
        do {
            _ = try TorchCheckpoint.read(url)
            XCTFail("\(url.lastPathComponent): read a bad file", file: file, line: line)
        } catch let e as TorchImportError {
            XCTAssertEqual(e.path, url.path, file: file, line: line)
            XCTAssertTrue(e.description.hasPrefix(url.path + ": "), "\(e)", file: file, line: line)
            return e
        } catch {
            XCTFail("not a TorchImportError: \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: Fixtures made by the script

    func testGlobalsOutsideTheAllowlistAreRefusedByName() {
        for (file, global) in [("evil_os_system.pth", "os.system"), ("evil_reduce.pth", "posix.system"),
                               ("evil_eval_stack_global.pth", "builtins.eval")] {
            let url = torchFixture(file)
            XCTAssertEqual(readError(url), .forbiddenGlobal(path: url.path, global: global), file)
            XCTAssertTrue(readError(url)?.description.contains("'\(global)'") ?? false, file)
        }
    }

    func testStorageClaimLargerThanItsEntry() {
        let e = readError(torchFixture("storage_too_large.pth"))
        guard case let .invalidFile(_, reason)? = e else { return XCTFail("\(String(describing: e))") }
        XCTAssertTrue(reason.contains("archive/data/0") && reason.contains("24 bytes") && reason.contains("1000"), reason)
    }

    func testViewOutsideItsStorage() {
        let e = readError(torchFixture("view_out_of_bounds.pth"))
        guard case let .invalidFile(_, reason)? = e else { return XCTFail("\(String(describing: e))") }
        XCTAssertTrue(reason.contains("[100]") && reason.contains("6 elements"), reason)
    }

    func testCompressedEntriesAreRefused() {
        let e = readError(torchFixture("compressed.pth"))
        guard case let .unsupported(_, reason)? = e else { return XCTFail("\(String(describing: e))") }
        XCTAssertTrue(reason.contains("compressed (deflate)"), reason)
    }

    // MARK: Truncation, garbage, empty

    /// Every strict prefix of the small fixtures, and 64 cuts of the U-Net, in both formats.
    func testEveryTruncationIsAnError() throws {
        for name in ["views.pth", "views_legacy.pth", "nested.pth"] {
            let data = try Data(contentsOf: torchFixture(name))
            for n in 0 ..< data.count { readError(data.prefix(n), path: name, "\(name) cut at \(n)") }
        }
        for name in ["unet_small.pth", "unet_small_legacy.pth"] {
            let data = try Data(contentsOf: torchFixture(name))
            for i in 0 ..< 64 {
                let n = i * data.count / 64 + i
                readError(data.prefix(n), path: name, "\(name) cut at \(n)")
            }
            readError(data.prefix(data.count - 1), path: name, "\(name) minus its last byte")
        }
    }

    func testRandomBytesAndEmptyAndMissingFiles() throws {
        var rng = RNG(seed: 11)
        for size in [1, 2, 3, 4, 21, 22, 100, 1000, 70_000] {
            let random = (0 ..< size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // Raw, and behind each format's signature so that both parsers see garbage.
            readError(Data(random), path: "random.pth", "random \(size)")
            readError(Data([0x50, 0x4B, 0x03, 0x04] + random), path: "random.pth", "zip + random \(size)")
            readError(Data([0x80, 0x02] + random), path: "random.pth", "pickle + random \(size)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("torch-import-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty.pth")
        try Data().write(to: empty)
        XCTAssertEqual(readError(empty), .invalidFile(path: empty.path, reason: "the file is empty (0 bytes)"))
        let missing = dir.appendingPathComponent("missing.pth")
        guard case .unreadable? = readError(missing) else { return XCTFail("missing file") }
        // A safetensors file is recognised as the wrong format.
        let st = fixturesURL.appendingPathComponent("torch_import/views_expected.safetensors")
        guard case let .unsupportedFormat(_, reason)? = readError(st) else { return XCTFail("safetensors") }
        XCTAssertTrue(reason.contains("safetensors"), reason)
    }

    /// Random byte changes in the pickle and zip-directory regions of real files: each read
    /// either succeeds or throws a TorchImportError; the process survives all of them.
    func testMutatedFilesNeverCrash() throws {
        var rng = RNG(seed: 5)
        var failures = 0, successes = 0
        for name in ["views.pth", "views_legacy.pth", "unet_small.pth", "unet_small_legacy.pth"] {
            let original = [UInt8](try Data(contentsOf: torchFixture(name)))
            let head = min(original.count, 4096), tail = min(original.count, 2048)
            for _ in 0 ..< 250 {
                var bytes = original
                for _ in 0 ..< 1 + Int(rng.next() % 4) {
                    let r = Int(rng.next() % UInt64(head + tail))
                    let i = r < head ? r : original.count - tail + (r - head)
                    bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                }
                do {
                    _ = try TorchCheckpoint.read(data: Data(bytes), path: name)
                    successes += 1
                } catch let e as TorchImportError {
                    XCTAssertEqual(e.path, name)
                    failures += 1
                }
            }
        }
        XCTAssertEqual(failures + successes, 1000)
        XCTAssertGreaterThan(failures, 100)
    }

    // MARK: Forged pickles

    /// Globals that would run code under torch.load(weights_only=False), in a legacy file.
    func testForgedGlobalsAreRefusedBeforeAnythingElse() {
        for (module, name) in [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
                               ("__builtin__", "getattr"), ("torch.storage", "_load_from_bytes"),
                               ("subprocess", "Popen"), ("torch", "load"), ("numpy.core.multiarray", "_reconstruct"),
                               ("collections", "OrderedDictX"), ("torch._utils", "_rebuild_tensor_v2x")] {
            var p = PickleBuilder()
            p.global("collections", "OrderedDict"); p.op(0x29, 0x52)
            p.str("x"); p.global(module, name); p.str("echo hi"); p.op(0x85, 0x52, 0x73); p.stop()
            let e = readError(legacyFile(p.bytes, keys: [], records: []), "\(module).\(name)")
            XCTAssertEqual(e, .forbiddenGlobal(path: "forged.pth", global: "\(module).\(name)"))
            // The same through STACK_GLOBAL (protocol 4), inside a zip.
            var q = PickleBuilder(bytes: [0x80, 0x04])
            q.str(module); q.str(name); q.op(0x93); q.stop()
            XCTAssertEqual(readError(torchZip(q.bytes, storages: []), "stack \(module).\(name)"),
                           .forbiddenGlobal(path: "forged.pth", global: "\(module).\(name)"))
        }
    }

    func testForgedLengthsAndCountsAreCheckedBeforeAllocating() {
        let tiny = floatBytes([1, 2, 3, 4])
        func spec(numel: Int = 4, offset: Int = 0, size: [Int], stride: [Int]) -> PickleBuilder.TensorSpec {
            .init(key: "0", dtype: "FloatStorage", numel: numel, offset: offset, size: size, stride: stride)
        }
        let cases: [(String, PickleBuilder.TensorSpec, String)] = [
            ("huge numel", spec(numel: 1 << 60, size: [4], stride: [1]), "1152921504606846976, not a valid size"),
            ("numel beyond the entry", spec(numel: 1 << 40, size: [4], stride: [1]), "holds"),
            ("stride 0 bomb", spec(size: [1 << 20, 1 << 20], stride: [0, 0]), "more than"),
            ("size overflow", spec(size: [Int.max / 2, 4], stride: [0, 0]), "overflows"),
            ("stride overflow", spec(size: [3], stride: [Int.max]), "overflows"),
            ("negative size", spec(size: [-1], stride: [1]), "negative"),
            ("offset past the end", spec(offset: 5, size: [0], stride: [1]), "storage offset 5"),
            ("last element past the end", spec(offset: 1, size: [2, 2], stride: [2, 1]), "reaches element 4"),
            ("rank mismatch", spec(size: [2, 2], stride: [1]), "differ in rank"),
        ]
        for (what, t, message) in cases {
            let pkl = PickleBuilder.stateDict([("t", t)])
            for (format, data) in [("zip", torchZip(pkl, storages: [("0", tiny)])),
                                   ("legacy", legacyFile(pkl, keys: ["0"], records: [(4, tiny)]))] {
                let e = readError(data, "\(what) (\(format))")
                XCTAssertTrue(e?.description.contains(message) ?? false, "\(what) (\(format)): \(String(describing: e))")
            }
        }
        // Legacy record counts that disagree with the pickle or run past the end.
        let pkl = PickleBuilder.stateDict([("t", spec(size: [4], stride: [1]))])
        XCTAssertTrue(readError(legacyFile(pkl, keys: ["0"], records: [(5, tiny)]))?.description.contains("holds 5 elements") ?? false)
        XCTAssertTrue(readError(legacyFile(pkl, keys: ["0"], records: [(4, Array(tiny.prefix(10)))]))?.description.contains("past the end") ?? false)
        XCTAssertTrue(readError(legacyFile(pkl, keys: [], records: []))?.description.contains("no data record") ?? false)
        XCTAssertTrue(readError(legacyFile(pkl, keys: ["0", "1"], records: [(4, tiny)]))?.description.contains("not used") ?? false)
        XCTAssertTrue(readError(torchZip(pkl, storages: []))?.description.contains("no zip entry archive/data/0") ?? false)
        // Length fields far beyond the file.
        for (op, width) in [(UInt8(0x58), 4), (0x8D, 8), (0x8E, 8), (0x42, 4), (0x8B, 4), (0x95, 8)] {
            var p = PickleBuilder()
            p.op(op); p.bytes += Array(repeating: 0x7F, count: width); p.stop()
            let e = readError(torchZip(p.bytes, storages: []), "opcode \(op) with a huge length")
            XCTAssertTrue(e?.description.contains("past the end") ?? false, "\(String(describing: e))")
        }
    }

    func testForgedStructuresAreRefused() {
        func inZip(_ build: (inout PickleBuilder) -> Void) -> TorchImportError? {
            var p = PickleBuilder()
            build(&p)
            return readError(torchZip(p.bytes, storages: []))
        }
        func dictWith(_ p: inout PickleBuilder, _ value: (inout PickleBuilder) -> Void) {
            p.op(0x7D); p.str("a"); value(&p); p.op(0x73); p.stop()
        }
        // 200,000 nested tuples: no deep recursion anywhere (parsing, walking or freeing).
        var e = inZip { p in dictWith(&p) { p in p.op(0x29); for _ in 0 ..< 200_000 { p.op(0x85) } } }
        XCTAssertTrue(e?.description.contains("nested deeper than 32") ?? false, "\(String(describing: e))")
        // A list that contains itself.
        e = inZip { p in dictWith(&p) { p in p.op(0x5D, 0x71, 0, 0x68, 0, 0x61) } }
        XCTAssertTrue(e?.description.contains("nested deeper") ?? false, "\(String(describing: e))")
        // Shared lists doubling 30 times: 2^30 paths to walk.
        e = inZip { p in
            dictWith(&p) { p in
                p.op(0x5D, 0x71, 0, 0x30)                 // L0 = [] into memo 0, POP
                for _ in 0 ..< 30 { p.op(0x68, 0, 0x68, 0, 0x86, 0x71, 0, 0x30) }   // memo 0 = (memo 0, memo 0)
                p.op(0x68, 0)
            }
        }
        // Refused by whichever bound it reaches first: the values walked or the key text.
        XCTAssertTrue(["values to walk", "bytes of keys"].contains { e?.description.contains($0) ?? false }, "\(String(describing: e))")
        // Stack underflow, missing memo, SETITEM on a list, unknown and text opcodes, no STOP.
        XCTAssertTrue(inZip { $0.op(0x73, 0x2E) }?.description.contains("stack underflow") ?? false)
        XCTAssertTrue(inZip { $0.op(0x68, 7, 0x2E) }?.description.contains("memo entry 7") ?? false)
        XCTAssertTrue(inZip { $0.op(0x5D, 0x4E, 0x4E, 0x73, 0x2E) }?.description.contains("SETITEM") ?? false)
        XCTAssertTrue(inZip { $0.op(0xFF, 0x2E) }?.description.contains("invalid pickle opcode 0xff") ?? false)
        XCTAssertTrue(inZip { $0.op(0x49) }?.description.contains("INT") ?? false)
        XCTAssertTrue(inZip { $0.op(0x4E) }?.description.contains("without a STOP") ?? false)
        // REDUCE of an allowlisted name that is not a callable we interpret.
        e = inZip { p in p.global("torch", "FloatStorage"); p.op(0x29, 0x52, 0x2E) }
        guard case .unsupported? = e else { return XCTFail("\(String(describing: e))") }
        // A tensor at the top level, not a state dict.
        var p = PickleBuilder()
        p.tensor(.init(key: "0", dtype: "FloatStorage", numel: 1, offset: 0, size: [], stride: []))
        p.stop()
        e = readError(torchZip(p.bytes, storages: [("0", floatBytes([1]))]))
        XCTAssertTrue(e?.description.contains("not a dict of tensors") ?? false, "\(String(describing: e))")
    }

    func testUnsupportedLayoutsAreNamed() {
        let pkl = PickleBuilder.stateDict([("t", .init(key: "0", dtype: "FloatStorage", numel: 1, offset: 0, size: [1], stride: [1]))])
        let one = floatBytes([1])
        guard case let .unsupported(_, r1)? = readError(torchZip(pkl, storages: [("0", one)], byteorder: "big")) else { return XCTFail() }
        XCTAssertTrue(r1.contains("byte order 'big'"), r1)
        guard case let .unsupported(_, r2)? = readError(legacyFile(pkl, keys: ["0"], records: [(1, one)], littleEndian: false)) else { return XCTFail() }
        XCTAssertTrue(r2.contains("big-endian"), r2)
        guard case let .unsupported(_, r3)? = readError(storedZip([("m/data.pkl", pkl), ("m/constants.pkl", [0x80, 2, 0x4E, 0x2E])])) else { return XCTFail() }
        XCTAssertTrue(r3.contains("TorchScript"), r3)
        guard case let .unsupportedFormat(_, r4)? = readError(storedZip([("a/b.txt", [1, 2, 3])])) else { return XCTFail() }
        XCTAssertTrue(r4.contains("data.pkl"), r4)
        guard case let .unsupportedFormat(_, r5)? = readError(Data([0x80, 0x02, 0x4E, 0x2E])) else { return XCTFail() }
        XCTAssertTrue(r5.contains("magic number"), r5)
        var tar = [UInt8](repeating: 0, count: 512)
        tar.replaceSubrange(257 ..< 262, with: Array("ustar".utf8))
        guard case let .unsupportedFormat(_, r6)? = readError(Data(tar)) else { return XCTFail() }
        XCTAssertTrue(r6.contains("tar"), r6)
        // The same good pickle reads in both layouts (the builders themselves are right).
        XCTAssertEqual(try TorchCheckpoint.read(data: torchZip(pkl, storages: [("0", one)]), path: "ok.pth").tensors.first?.1.data, [1])
        XCTAssertEqual(try TorchCheckpoint.read(data: legacyFile(pkl, keys: ["0"], records: [(1, one)]), path: "ok.pth").tensors.first?.1.data, [1])
    }
}
