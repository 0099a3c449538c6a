// fuzz_torch.swift: libFuzzer targets for the torch.save reader (Sources/TorchImport).
//
// Built by tools/fuzz/run.sh together with the TorchImport sources into one module (so the
// harness reaches the internal Unpickler), against the NN and Tensors modules, twice:
//   - fuzz_torch: `TorchCheckpoint.read(data:path:)`, the function `TorchCheckpoint.read(_:)`
//     (and `translate import`) calls on a file's bytes: format detection, the stored-zip
//     reader, the legacy layout, the unpickler and the tensor assembly, end to end;
//   - fuzz_unpickle (-D FUZZ_UNPICKLE): the restricted unpickler alone on raw pickle bytes,
//     consecutive pickles as in a legacy file, each result flattened by the same
//     `TorchCheckpoint.assemble` with zero-filled storage records of exactly the claimed
//     size (so forged sizes, strides and views reach the strided copy without a zip around them).
// Checks: a refusal is a TorchImportError naming the file (its message starts with the path);
// a result has unique keys, tensors holding the product of their shape in values (every value
// is read, so AddressSanitizer sees a short buffer), and no more values in all than the
// reader's budget for the storage bytes present. Any failed check aborts, which libFuzzer
// reports as a crash with the input saved; a Swift runtime trap is reported as a deadly signal.
import Foundation
import NN
import Tensors

let fuzzPath = "fuzz.pth"

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        FileHandle.standardError.write(Data("fuzz_torch: check failed: \(message())\n".utf8))
        abort()
    }
}

nonisolated(unsafe) var sink: UInt32 = 0

/// A thrown error must be a TorchImportError about `fuzzPath`.
func checkError(_ error: Error) {
    guard let e = error as? TorchImportError else {
        check(false, "not a TorchImportError: \(type(of: error)): \(error)")
        return
    }
    check(e.path == fuzzPath && e.description.hasPrefix(fuzzPath + ": "), "error does not name the file: \(e)")
}

/// Checks a reader's result against the budget for `storageBytes` bytes of storage.
func checkResult(_ tensors: [(String, Tensor)], _ ignored: [String], storageBytes: Int) {
    var keys = Set<String>()
    var total = 0
    var sum: UInt32 = 0
    for (key, t) in tensors {
        check(keys.insert(key).inserted, "key '\(key.prefix(100))' twice")
        check(key.utf8.count <= TorchCheckpoint.maxKeyLength, "a key of \(key.utf8.count) bytes")
        check(t.shape.count <= Unpickler.maxRank, "rank \(t.shape.count)")
        check(t.shape.allSatisfy { $0 >= 0 } && t.shape.reduce(1, *) == t.count,
              "tensor '\(key.prefix(100))': shape \(t.shape) but \(t.count) values")
        total += t.count
        for x in t.data { sum &+= x.bitPattern }
    }
    sink = sum
    let budget = TorchCheckpoint.elementsPerStorageByte * storageBytes + TorchCheckpoint.extraElements
    check(total <= budget, "\(total) values for \(storageBytes) bytes of storage (budget \(budget))")
    // What read(allowNonFinite: false) does with the result.
    let bad = findNonFinite(tensors)
    if !bad.isEmpty { sink &+= UInt32(truncatingIfNeeded: describeNonFinite(bad).utf8.count) }
    _ = ignored.count
}

#if FUZZ_UNPICKLE

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    let u = Unpickler(raw, path: fuzzPath, what: "fuzzed pickle", allowPersistentIDs: true)
    var end = 0
    for _ in 0 ..< 8 where end < size {
        let root: PickleValue
        do { root = try u.load() } catch { checkError(error); return 0 }
        check(u.endOffset > end && u.endOffset <= size, "load() ended at byte \(u.endOffset) (previous \(end), size \(size))")
        end = u.endOffset
        // Storage records of exactly the claimed size, as both layouts require (at most 4 MB
        // in all; each its own allocation, so that AddressSanitizer sees a read past one).
        var records: [String: UnsafeRawBufferPointer] = [:]
        var buffers: [UnsafeMutableRawBufferPointer] = []
        defer { for b in buffers { b.deallocate() } }
        var bytes = 0
        for key in u.rootOrder {
            guard let r = u.roots[key] else { continue }
            let n = r.count * r.dtype.itemSize
            guard n <= (4 << 20) - bytes else { break }
            bytes += n
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: n, alignment: 8)
            b.initializeMemory(as: UInt8.self, repeating: 0)
            buffers.append(b)
            records[key] = UnsafeRawBufferPointer(b)
        }
        let result: (tensors: [(String, Tensor)], ignored: [String])
        do { result = try TorchCheckpoint.assemble(u, root, records, path: fuzzPath) } catch {
            checkError(error)
            continue
        }
        checkResult(result.tensors, result.ignored, storageBytes: bytes)
    }
    return 0
}

#else

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // The fuzzer's own buffer, not a copy, so that AddressSanitizer sees reads past its end.
    let bytes = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: data), count: size, deallocator: .none)
    do {
        let r = try TorchCheckpoint.read(data: bytes, path: fuzzPath, allowNonFinite: true)
        checkResult(r.tensors, r.ignored, storageBytes: size)
    } catch {
        checkError(error)
    }
    return 0
}

#endif
