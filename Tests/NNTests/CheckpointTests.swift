import XCTest
import Foundation
import Tensors
import NN
import TestSupport

/// A temporary folder per test and a small network with every kind of state (conv weights,
/// batch-norm buffers, a dropout generator).
class CheckpointTestCase: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func makeNet(_ seed: UInt64) -> Sequential {
        var rng = RNG(seed: seed)
        return Sequential(Conv2d(2, 3, kernelSize: 3, padding: 1, rng: &rng), BatchNorm2d(3), ReLU(),
                          Dropout(p: 0.5, rng: &rng), Conv2d(3, 1, kernelSize: 1, rng: &rng))
    }
}

final class CheckpointTests: CheckpointTestCase {
    /// One training step: forward, loss, backward, Adam.
    func step(_ net: Sequential, _ opt: Adam, _ x: Tensor) throws -> Float {
        opt.zeroGrad()
        let loss = mean(try net(x) * 1)
        try loss.backward()
        opt.step()
        return loss.item
    }

    /// Saving after two steps and resuming gives exactly the same third and fourth steps
    /// (weights, buffers, Adam moments and steps, dropout generator, trainer RNG).
    func testResumeIsExact() throws {
        var rng = RNG(seed: 99)
        let x = Tensor.randn([2, 2, 5, 5], rng: &rng)
        let a = makeNet(1), optA = Adam(a.namedParameters(), lr: 1e-2, betas: (0.5, 0.999))
        _ = try step(a, optA, x); _ = try step(a, optA, x)
        let url = dir.appendingPathComponent("a.safetensors")
        try Checkpoint(modules: [("netG", a)], optimizers: [("G", optA)], metadata: ["epoch": "2"]).save(to: url, rng: rng)
        let l3 = try step(a, optA, x), l4 = try step(a, optA, x)

        let b = makeNet(777), optB = Adam(b.namedParameters(), lr: 5)
        let (meta, savedRNG, _) = try Checkpoint.load(from: url, modules: [("netG", b)], optimizers: [("G", optB)])
        XCTAssertEqual(meta["epoch"], "2")
        XCTAssertEqual(savedRNG?.stateWords, rng.stateWords)
        XCTAssertEqual(optB.lr, 1e-2)
        XCTAssertEqual(try step(b, optB, x), l3)
        XCTAssertEqual(try step(b, optB, x), l4)
        for ((ka, ta), (kb, tb)) in zip(a.stateDict(), b.stateDict()) {
            XCTAssertEqual(ka, kb)
            XCTAssertEqual(ta.data, tb.data, ka)
        }
    }

    func testRoundTripAndNoTempFilesLeft() throws {
        let url = dir.appendingPathComponent("t.safetensors")
        let t1 = try Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]), t2 = Tensor(scalar: 7)
        try SafeTensors.write([("a", t1), ("b.c", t2)], metadata: ["config": "{\"ngf\": 64}"], to: url)
        try SafeTensors.write([("a", t1), ("b.c", t2)], metadata: ["config": "{\"ngf\": 64}"], to: url)   // overwrite
        let f = try SafeTensors.read(url)
        XCTAssertEqual(f.tensors.map(\.0), ["a", "b.c"])
        XCTAssertEqual(f.byName["a"]?.shape, [2, 3])
        XCTAssertEqual(f.byName["a"]?.data, t1.data)
        XCTAssertEqual(f.byName["b.c"]?.shape, [])
        XCTAssertEqual(f.metadata["config"], "{\"ngf\": 64}")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["t.safetensors"])
        let bytes = try Data(contentsOf: url)
        XCTAssertEqual((8 + Int(bytes[0])) % 8, 0, "data is 8-byte aligned")
    }

    func testWriteIntoMissingFolderFailsCleanly() throws {
        let url = dir.appendingPathComponent("no/such/dir/x.safetensors")
        XCTAssertThrowsError(try SafeTensors.write([("a", Tensor(zeros: [1]))], to: url)) {
            XCTAssertTrue("\($0)".contains("x.safetensors"), "\($0)")
        }
    }

    func testReadsOtherDtypes() throws {
        // A hand-made file: F16 [2] = (1.0, -2.0), I64 [1] = 5, BF16 [1] = 1.5.
        let header = #"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"I64","shape":[1],"data_offsets":[4,12]},"c":{"dtype":"BF16","shape":[1],"data_offsets":[12,14]}}"#
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(Data(header.utf8))
        d.append(contentsOf: [0x00, 0x3C, 0x00, 0xC0])                       // f16 1.0, -2.0
        d.append(contentsOf: [5, 0, 0, 0, 0, 0, 0, 0])                       // i64 5
        d.append(contentsOf: [0xC0, 0x3F])                                   // bf16 1.5
        let f = try SafeTensors.decode(d, path: "mem")
        XCTAssertEqual(f.byName["a"]?.data, [1, -2])
        XCTAssertEqual(f.byName["b"]?.data, [5])
        XCTAssertEqual(f.byName["c"]?.data, [1.5])
    }

    /// Damaged and forged files are rejected with an error naming the file; no crash, no
    /// allocation sized by a lying header.
    func testDamagedAndForgedFilesAreRejected() throws {
        let good = try SafeTensors.encode([("w", try Tensor(shape: [4], data: [1, 2, 3, 4]))], metadata: ["k": "v"])
        func header(_ json: String, data: Int) -> Data {
            var d = Data()
            var n = UInt64(json.utf8.count).littleEndian
            withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
            d.append(Data(json.utf8))
            d.append(Data(count: data))
            return d
        }
        var lyingLength = good
        lyingLength.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        var flipped = good
        flipped[8] = UInt8(ascii: "[")
        let cases: [(String, Data)] = [
            ("empty", Data()),
            ("short", Data([1, 2, 3])),
            ("truncated", good.prefix(good.count - 3)),
            ("header longer than file", good.prefix(20)),
            ("lying header length", lyingLength),
            ("not an object", flipped),
            ("garbage json", header("{not json", data: 0)),
            ("huge shape", header(#"{"w":{"dtype":"F32","shape":[1000000000000,1000000000000],"data_offsets":[0,16]}}"#, data: 16)),
            ("negative dim", header(#"{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}"#, data: 16)),
            ("offsets past end", header(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: 8)),
            ("size mismatch", header(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, data: 16)),
            ("overlap", header(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: 12)),
            ("trailing bytes", header(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: 8)),
            ("unknown dtype", header(#"{"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}"#, data: 4)),
            ("missing fields", header(#"{"w":{"dtype":"F32"}}"#, data: 0)),
            ("metadata not strings", header(#"{"__metadata__":{"a":1}}"#, data: 0)),
            ("fractional offsets", header(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}}"#, data: 4)),
        ]
        for (what, data) in cases {
            XCTAssertThrowsError(try SafeTensors.decode(data, path: "/x/\(what).safetensors"), what) { e in
                XCTAssertTrue("\(e)".contains("/x/\(what).safetensors"), "\(what): \(e)")
            }
        }
        XCTAssertNoThrow(try SafeTensors.decode(good, path: "good"))
        // Every truncation of a valid file is rejected.
        for cut in 0..<good.count { XCTAssertThrowsError(try SafeTensors.decode(good.prefix(cut), path: "cut")) }
        // A missing file names itself.
        XCTAssertThrowsError(try SafeTensors.read(dir.appendingPathComponent("missing.safetensors"))) {
            XCTAssertTrue("\($0)".contains("missing.safetensors"))
        }
    }

    func testLoadingIntoWrongArchitectureNamesTheKey() throws {
        let url = dir.appendingPathComponent("n.safetensors")
        try Checkpoint(modules: [("netG", makeNet(1))]).save(to: url)
        var rng = RNG(seed: 0)
        let other = Sequential(Conv2d(2, 5, kernelSize: 3, padding: 1, rng: &rng))
        XCTAssertThrowsError(try Checkpoint.load(from: url, modules: [("netG", other)])) { e in
            XCTAssertTrue("\(e)".contains("netG.0.weight") && "\(e)".contains("n.safetensors"), "\(e)")
        }
    }
}
