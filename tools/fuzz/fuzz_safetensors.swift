// fuzz_safetensors.swift: libFuzzer target for the safetensors reader (Sources/NN/SafeTensors.swift).
//
// Built by tools/fuzz/run.sh as its own module against the NN module (compiled from
// Sources/NN with -sanitize=fuzzer,address, so the reader's branches guide the fuzzer).
// Each input is decoded by `SafeTensors.decode(_:path:)`, the function `SafeTensors.read`
// and `Checkpoint.load` call on a file's bytes, and the result is checked:
//   - a refusal is a CheckpointError.invalidFile whose message starts with the path;
//   - a decoded file has unique tensor names (never "__metadata__"), each tensor holds the
//     product of its shape in values (every value is read, so AddressSanitizer sees a short
//     buffer), and all tensors together hold at most one value per data byte;
//   - the tensors and metadata are encoded again (F32) and decoded back bit-exactly.
// Any failed check aborts, which libFuzzer reports as a crash with the input saved. A Swift
// runtime trap (overflow, index out of range, force unwrap) is reported as a deadly signal.
import Foundation
import NN
import Tensors

let path = "fuzz.safetensors"

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        FileHandle.standardError.write(Data("fuzz_safetensors: check failed: \(message())\n".utf8))
        abort()
    }
}

nonisolated(unsafe) var sink: UInt32 = 0

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // The fuzzer's own buffer, not a copy, so that AddressSanitizer sees reads past its end.
    let bytes = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: data), count: size, deallocator: .none)
    let file: SafeTensors.File
    do {
        file = try SafeTensors.decode(bytes, path: path)
    } catch let e as CheckpointError {
        guard case .invalidFile(path, _) = e else { check(false, "not an invalidFile error naming the file: \(e)"); return 0 }
        check(e.description.hasPrefix(path + ": "), "message does not start with the path: \(e)")
        return 0
    } catch {
        check(false, "not a CheckpointError: \(type(of: error)): \(error)")
        return 0
    }
    var names = Set<String>()
    var total = 0
    var sum: UInt32 = 0
    for (name, t) in file.tensors {
        check(name != "__metadata__", "a tensor named __metadata__")
        check(names.insert(name).inserted, "tensor '\(name)' twice")
        check(t.shape.allSatisfy { $0 >= 0 }, "tensor '\(name)': shape \(t.shape)")
        check(t.shape.reduce(1, *) == t.count, "tensor '\(name)': shape \(t.shape) but \(t.count) values")
        total += t.count
        for x in t.data { sum &+= x.bitPattern }
    }
    sink = sum
    check(total <= max(0, size - 8), "\(total) values from \(size) bytes")

    let again: SafeTensors.File
    do {
        again = try SafeTensors.decode(try SafeTensors.encode(file.tensors, metadata: file.metadata), path: "again")
    } catch {
        check(false, "round trip of a decoded file fails: \(error)")
        return 0
    }
    check(again.metadata == file.metadata, "metadata differs after a round trip")
    let byName = again.byName
    check(byName.count == file.tensors.count, "\(byName.count) tensors after a round trip, \(file.tensors.count) before")
    for (name, t) in file.tensors {
        guard let u = byName[name] else { check(false, "tensor '\(name)' lost in the round trip"); return 0 }
        check(u.shape == t.shape && u.data.map(\.bitPattern) == t.data.map(\.bitPattern),
              "tensor '\(name)' differs after a round trip")
    }
    return 0
}
