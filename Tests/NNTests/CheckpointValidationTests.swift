import XCTest
import Foundation
import Tensors
import NN
import TestSupport

/// Damaged checkpoint fields: each is refused naming the file and the field, and a refused
/// load leaves the modules and optimizers exactly as they were.
final class CheckpointValidationTests: CheckpointTestCase {
    /// A valid checkpoint after one Adam step, as tensors and metadata to tamper with.
    func validState() throws -> (tensors: [(String, Tensor)], meta: [String: String]) {
        var rng = RNG(seed: 5)
        let net = makeNet(1), opt = Adam(net.namedParameters(), lr: 2e-4, betas: (0.5, 0.999))
        opt.zeroGrad()
        try mean(try net(Tensor.randn([2, 2, 5, 5], rng: &rng))).backward()
        opt.step()
        let url = dir.appendingPathComponent("valid.safetensors")
        try Checkpoint(modules: [("netG", net)], optimizers: [("G", opt)],
                       metadata: ["epoch": "3", "epoch_batches": "7", "steps": "100"]).save(to: url, rng: rng)
        let f = try SafeTensors.read(url)
        return (f.tensors, f.metadata)
    }

    func assertRefused(_ tensors: [(String, Tensor)], _ meta: [String: String], _ what: String, mentions: [String],
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let url = dir.appendingPathComponent("bad.safetensors")
        try SafeTensors.write(tensors, metadata: meta, to: url)
        let net = makeNet(42), opt = Adam(net.namedParameters(), lr: 7)
        let before = net.stateDict().map { $0.1.data }
        XCTAssertThrowsError(try Checkpoint.load(from: url, modules: [("netG", net)], optimizers: [("G", opt)]), what, file: file, line: line) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("bad.safetensors"), "\(what): the file is named: \(s)", file: file, line: line)
            for m in mentions { XCTAssertTrue(s.contains(m), "\(what): '\(m)' in \(s)", file: file, line: line) }
        }
        XCTAssertEqual(net.stateDict().map { $0.1.data }, before, "\(what): a refused load changes nothing", file: file, line: line)
        XCTAssertEqual(opt.lr, 7, "\(what): the optimizer is unchanged", file: file, line: line)
    }

    func testValidStateLoads() throws {
        let (t, m) = try validState()
        let url = dir.appendingPathComponent("ok.safetensors")
        try SafeTensors.write(t, metadata: m, to: url)
        let net = makeNet(42), opt = Adam(net.namedParameters(), lr: 7)
        let (meta, rng, _) = try Checkpoint.load(from: url, modules: [("netG", net)], optimizers: [("G", opt)])
        XCTAssertEqual(meta["epoch"], "3")
        XCTAssertNotNil(rng)
        XCTAssertEqual(opt.lr, 2e-4)
        XCTAssertEqual(try Checkpoint.requiredIntField(meta, "epoch", in: 0...10, path: "p"), 3)
        XCTAssertNil(try Checkpoint.intField(meta, "absent", in: 0...10, path: "p"))
    }

    func testDamagedMetadataFieldsAreNamed() throws {
        let (t, m) = try validState()
        func with(_ key: String, _ value: String?) -> [String: String] { var c = m; c[key] = value; return c }
        let rngKey = m.keys.first { $0.hasPrefix("rng.netG.") }!
        let cases: [(String, [String: String], [String])] = [
            ("format", with("format", "something-else"), ["'format'"]),
            ("epoch text", with("epoch", "three"), ["'epoch'", "not an integer"]),
            ("epoch negative", with("epoch", "-1"), ["'epoch'", "outside"]),
            ("epoch huge", with("epoch", "99999999999999999999"), ["'epoch'"]),
            ("epoch plus", with("epoch", "+3"), ["'epoch'"]),
            ("steps spaces", with("steps", " 100"), ["'steps'"]),
            ("batches", with("epoch_batches", "1e3"), ["'epoch_batches'"]),
            ("rng short", with("rng", "1,2,3"), ["'rng'", "generator state"]),
            ("rng zero", with("rng", "0,0,0,0"), ["'rng'"]),
            ("rng not hex", with("rng", "1,2,3,zz"), ["'rng'"]),
            ("dropout rng missing", with(rngKey, nil), [rngKey, "missing"]),
            ("dropout rng extra", with("rng.netG.9", "1,2,3,4"), ["rng.netG.9", "no dropout layer"]),
            ("lr", with("optim.G.lr", "nan"), ["optim.G.lr"]),
            ("lr negative", with("optim.G.lr", "-0.1"), ["optim.G.lr", ">= 0"]),
            ("beta1", with("optim.G.beta1", "1.5"), ["optim.G.beta1", "[0, 1)"]),
            ("eps", with("optim.G.eps", "0"), ["optim.G.eps"]),
            ("weight decay missing", with("optim.G.weight_decay", nil), ["optim.G.weight_decay", "missing"]),
            ("steps count", with("optim.G.steps", "1,2"), ["optim.G.steps", "values for"]),
            ("steps value", with("optim.G.steps", m["optim.G.steps"]!.replacingOccurrences(of: "1", with: "x")), ["optim.G.steps"]),
        ]
        for (what, meta, mentions) in cases { try assertRefused(t, meta, what, mentions: mentions) }
    }

    func testNonFiniteAndNegativeTensorsAreNamed() throws {
        let (t, m) = try validState()
        func poisoned(_ suffix: String, _ value: Float) -> [(String, Tensor)] {
            t.map { name, x in
                guard name.hasSuffix(suffix) else { return (name, x) }
                var d = x.data; d[0] = value
                return (name, try! Tensor(shape: x.shape, data: d))
            }
        }
        try assertRefused(poisoned("0.weight", .nan), m, "NaN weight", mentions: ["netG.0.weight", "NaN"])
        try assertRefused(poisoned("4.bias", .infinity), m, "inf bias", mentions: ["netG.4.bias", "infinite"])
        try assertRefused(poisoned("running_var", -1), m, "negative variance", mentions: ["running_var", "negative"])
        try assertRefused(poisoned("0.weight.exp_avg_sq", -1), m, "negative moment", mentions: ["exp_avg_sq", "negative"])
        try assertRefused(t.filter { !$0.0.hasSuffix("0.weight.exp_avg") }, m, "missing moment", mentions: ["exp_avg"])
    }

    func testDivergedStateIsNeverSavedOverTheLastGoodOne() throws {
        let url = dir.appendingPathComponent("latest.safetensors")
        let net = makeNet(1)
        try Checkpoint(modules: [("netG", net)]).save(to: url)
        let good = try Data(contentsOf: url)
        net.stateDict()[0].1.data[0] = .nan
        XCTAssertThrowsError(try Checkpoint(modules: [("netG", net)]).save(to: url)) { e in
            XCTAssertTrue("\(e)".contains("NaN") && "\(e)".contains("previous checkpoint is kept"), "\(e)")
        }
        XCTAssertEqual(try Data(contentsOf: url), good)
        XCTAssertEqual(net.nonFiniteParameters(), ["0.weight"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["latest.safetensors"])
    }

    func testStaleTemporariesOfDeadProcessesAreRemoved() throws {
        // A pid that cannot be running (beyond pid_max), one that is (ours), and other files.
        let dead = dir.appendingPathComponent(".latest.safetensors.99999999.1234.tmp")
        let mine = dir.appendingPathComponent(".latest.safetensors.\(getpid()).55.tmp")
        let other = dir.appendingPathComponent(".notes.tmp")
        for u in [dead, mine, other] { try Data([1]).write(to: u) }
        let removed = removeStaleTemporaries(in: dir)
        XCTAssertEqual(removed.map(\.lastPathComponent), [dead.lastPathComponent])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: mine.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: other.path))
        XCTAssertEqual(removeStaleTemporaries(in: dir.appendingPathComponent("missing")), [])
    }

    func testReadingAFolderOrAFifoSaysSo() throws {
        XCTAssertThrowsError(try SafeTensors.read(dir)) { XCTAssertTrue("\($0)".contains("a folder"), "\($0)") }
        let fifo = dir.appendingPathComponent("pipe.safetensors")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        XCTAssertThrowsError(try SafeTensors.read(fifo)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
    }
}
