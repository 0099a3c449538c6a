import XCTest
import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import Pipelines
import Evaluation
import TranslateCLI
import Perceptual

final class CIMLECLITests: CLITestCase {
    /// A folder of small high-resolution images.
    func hrFolder() throws -> URL {
        let d = tmp.appendingPathComponent("hr")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        for i in 0..<3 { try ImageFile.write(try makeImage(width: 40 + 8 * i, height: 36, seed: UInt64(i + 3)), to: d.appendingPathComponent("h\(i).png")) }
        return d
    }

    func srOptions(_ root: URL, name: String, rounds: Int = 2, lpips: Float = 0) -> CIMLETrainOptions {
        var m = CIMLEConfig(task: .superResolution, inputNc: 3, levels: 2, widths: [8, 8], noiseChannels: 2)
        m.scale = 2; m.resBlocks = 1; m.lpipsWeight = lpips
        m.levelCandidates = [3, 2]; m.poolSize = 4; m.visits = 2
        var o = CIMLETrainOptions(dataroot: root.path, name: name, model: m)
        o.checkpointsDir = tmp.appendingPathComponent("runs").path
        o.cimleData.patchSize = 32
        o.batchSize = 2; o.epochs = rounds; o.samples = 1; o.seed = 4
        return o
    }

    /// x8 and x16 (hierarchical: one x2 level per octave, codes selected level by level): a
    /// tiny run of each trains with 4 and 5 levels, and apply writes samples at 8 and 16 times
    /// the input's size that are consistent with it and differ between codes.
    func testScalesEightAndSixteen() throws {
        let root = try hrFolder()
        let lrDir = tmp.appendingPathComponent("lr")
        try FileManager.default.createDirectory(at: lrDir, withIntermediateDirectories: true)
        let lr = try makeImage(width: 7, height: 5, seed: 3)
        try ImageFile.write(lr, to: lrDir.appendingPathComponent("tiny.png"))
        for (scale, levels) in [(8, 4), (16, 5)] {
            var m = CIMLEConfig(task: .superResolution, inputNc: 3, levels: levels, widths: [8] + Array(repeating: 4, count: levels - 1), noiseChannels: 2)
            m.scale = scale; m.resBlocks = 1; m.lpipsWeight = 0
            m.levelCandidates = Array(repeating: 2, count: levels); m.poolSize = 2; m.visits = 1
            var o = CIMLETrainOptions(dataroot: root.path, name: "x\(scale)", model: m)
            o.checkpointsDir = tmp.appendingPathComponent("runs").path
            o.cimleData.patchSize = 32
            o.batchSize = 2; o.epochs = 1; o.samples = 1
            let t = try CIMLETrainer(options: o, resume: false)
            t.progressEnabled = false
            try t.run()
            let out = tmp.appendingPathComponent("up\(scale)")
            let job = try SampleApplyJob(model: try LoadedCIMLE(path: t.runDir.path), inputs: [lrDir.path], output: out.path, samples: 2, seed: 0)
            job.quiet = true
            XCTAssertEqual(try job.run().written, 1)
            let s0 = try ImageFile.read(out.appendingPathComponent("tiny_s00.png")).image
            let s1 = try ImageFile.read(out.appendingPathComponent("tiny_s01.png")).image
            XCTAssertEqual([s0.width, s0.height], [7 * scale, 5 * scale])
            XCTAssertNotEqual(s0.pixels, s1.pixels, "x\(scale): different codes, different samples")
            XCTAssertGreaterThan(try ImageMetrics.psnr(s0.resized(width: 7, height: 5), lr), 40, "x\(scale) consistency")
        }
    }

    /// --min-patch-detail: out-of-range values are refused naming the flag before anything is
    /// written; a run with it trains, keeps it in its configuration (and so on --resume), and
    /// a configuration written before the setting existed decodes with 0 (every crop kept).
    func testMinPatchDetailIsValidatedStoredAndOptional() throws {
        let root = try hrFolder()
        for bad: Float in [-0.1, 1, .nan] {
            var o = srOptions(root, name: "bad")
            o.cimleData.minPatchDetail = bad
            XCTAssertThrowsError(try o.validateMethod()) { e in
                XCTAssertTrue("\(e)".contains("--min-patch-detail"), "\(e)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("runs/bad").path))
        XCTAssertThrowsError(try TrainCIMLESR.parse(["--dataroot", root.path, "--name", "x", "--min-patch-detail", "abc"]))
        var o = srOptions(root, name: "detail", rounds: 1)
        o.cimleData.minPatchDetail = 0.01
        let t = try CIMLETrainer(options: o, resume: false)
        t.progressEnabled = false
        try t.run()
        let saved = try JSONDecoder().decode(CIMLETrainOptions.self, from: Data(contentsOf: t.runDir.appendingPathComponent("config.json")))
        XCTAssertEqual(saved.cimleData.minPatchDetail, 0.01)
        let old = try JSONDecoder().decode(CIMLEData.self, from: Data(#"{"patchSize": 48}"#.utf8))
        XCTAssertEqual(old.patchSize, 48)
        XCTAssertEqual(old.minPatchDetail, 0)
    }

    func testSuperResolutionTrainsResumesExactlyAppliesAndEvaluates() throws {
        let root = try hrFolder()
        let a = try CIMLETrainer(options: srOptions(root, name: "straight"), resume: false)
        a.progressEnabled = false
        try a.run()
        let b1 = try CIMLETrainer(options: srOptions(root, name: "resumed"), resume: false)
        b1.progressEnabled = false
        try b1.run(stopAfterEpochs: 1)
        let b2 = try CIMLETrainer(options: srOptions(root, name: "resumed"), resume: true)
        b2.progressEnabled = false
        XCTAssertEqual(b2.startEpoch, 1)
        try b2.run()
        let fa = try SafeTensors.read(a.latestURL), fb = try SafeTensors.read(b2.latestURL)
        XCTAssertEqual(fa.tensors.map(\.0), fb.tensors.map(\.0))
        for ((k, ta), (_, tb)) in zip(fa.tensors, fb.tensors) { XCTAssertEqual(ta.data, tb.data, k) }
        XCTAssertEqual(fa.metadata["kind"], "cimle")
        // A finished 1-round run lengthened to 2 rounds on resume equals the 2-round run.
        let c1 = try CIMLETrainer(options: srOptions(root, name: "short", rounds: 1), resume: false)
        c1.progressEnabled = false
        try c1.run()
        let c2 = try CIMLETrainer(options: srOptions(root, name: "short", rounds: 1), resume: true)
        try c2.extend(toEpochs: 2)
        c2.progressEnabled = false
        try c2.run()
        let fc = try SafeTensors.read(c2.latestURL)
        for ((k, ta), (_, tc)) in zip(fa.tensors, fc.tensors) { XCTAssertEqual(ta.data, tc.data, "lengthened \(k)") }
        // 2 rounds x ceil(2 visits x 4 items / 2 per batch) steps.
        let log = try String(contentsOf: a.runDir.appendingPathComponent("loss_log.jsonl"), encoding: .utf8)
        XCTAssertEqual(log.split(separator: "\n").count, 8)
        let html = try String(contentsOf: a.runDir.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("epoch002_00_sample2.png") && html.contains("bicubic"))

        // apply --samples 3 on low-resolution files: <name>_s<k>.png at twice the size.
        let lrDir = tmp.appendingPathComponent("lr")
        try FileManager.default.createDirectory(at: lrDir, withIntermediateDirectories: true)
        try ImageFile.write(try makeImage(width: 17, height: 13, seed: 1), to: lrDir.appendingPathComponent("small.png"))
        let model = try LoadedCIMLE(path: a.runDir.path)
        let out = tmp.appendingPathComponent("up")
        let job = try SampleApplyJob(model: model, inputs: [lrDir.path], output: out.path, samples: 3, seed: 0)
        job.quiet = true
        let r = try job.run()
        XCTAssertEqual(r.written, 1)
        let s0 = try ImageFile.read(out.appendingPathComponent("small_s00.png")).image
        let s2 = try ImageFile.read(out.appendingPathComponent("small_s02.png")).image
        XCTAssertEqual([s0.width, s0.height], [34, 26])
        XCTAssertNotEqual(s0.pixels, s2.pixels, "different codes, different samples")
        // The outputs are consistent with their input.
        XCTAssertGreaterThan(try ImageMetrics.psnr(s0.resized(width: 17, height: 13), try ImageFile.read(lrDir.appendingPathComponent("small.png")).image), 40)
        XCTAssertTrue(try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8).contains("bicubic"))
        // Never over the inputs; flags that do not apply to cIMLE are refused by name.
        try ImageFile.write(try makeImage(width: 8, height: 8, seed: 2), to: lrDir.appendingPathComponent("small_s00.png"))
        assertThrows("sample name of an input", contains: ["--output", "small_s00.png"]) {
            _ = try SampleApplyJob(model: model, inputs: [lrDir.path], output: lrDir.path, samples: 1, seed: 0)
        }
        try FileManager.default.removeItem(at: lrDir.appendingPathComponent("small_s00.png"))
        let cmd = try Apply.parse(["--model", a.runDir.path, "--input", lrDir.path, "--output", tmp.appendingPathComponent("o3").path, "--load-size", "64"])
        assertThrows("--load-size with cIMLE", contains: ["--load-size", "cIMLE"]) { try cmd.run() }
        // A run with a decaying learning rate cannot be lengthened.
        var lin = srOptions(root, name: "linear", rounds: 1)
        lin.lrPolicy = .linear; lin.epochsDecay = 1; lin.epochs = 0
        let l1 = try CIMLETrainer(options: lin, resume: false)
        l1.progressEnabled = false
        try l1.run()
        let l2 = try CIMLETrainer(options: lin, resume: true)
        assertThrows("lengthen a decaying run", contains: ["--rounds", "constant"]) { try l2.extend(toEpochs: 3) }

        // eval on the high-resolution folder: PSNR-Y against bicubic, LR consistency, diversity.
        var c = EvalConfig(); c.nnSize = 32; c.trials = 20
        let ev = try EvalJob(sampler: model, dataroot: root.path, phase: "test", trainPhase: nil, samples: 4, maxInputs: 2,
                             config: c, lpipsWeights: nil, output: tmp.appendingPathComponent("ev").path, shownInputs: 2)
        ev.quiet = true
        let m = try ev.run().metrics
        let fid = try XCTUnwrap(m["fidelity"] as? [String: Any])
        XCTAssertNotNil(fid["psnr_y"] as? Double)
        XCTAssertNotNil(fid["bicubic_psnr_y"] as? Double)
        XCTAssertGreaterThan(try XCTUnwrap(fid["lr_consistency_psnr"] as? Double), 40)
        XCTAssertGreaterThan(try XCTUnwrap((m["diversity"] as? [String: Any])?["pairwise_l1"] as? Double), 0)
        // Super-resolution diversity: the samples' high-frequency std, and a duplicate threshold
        // calibrated on near-copies at SR scale (stated in the report).
        XCTAssertGreaterThan(try XCTUnwrap((m["diversity"] as? [String: Any])?["high_frequency_std"] as? Double), 0)
        let calibration = try XCTUnwrap((m["birthday"] as? [String: Any])?["calibration"] as? String)
        XCTAssertTrue(calibration.contains("x2 super-resolution scale"), calibration)
    }

    func testLayoutFromClassIdsTrainsWithLPIPSAndSamples() throws {
        // CamVid-like: train/x.png photos, trainannot/x.png class ids (3 classes).
        let root = tmp.appendingPathComponent("cv")
        for sub in ["train", "trainannot"] { try FileManager.default.createDirectory(at: root.appendingPathComponent(sub), withIntermediateDirectories: true) }
        for i in 0..<3 {
            try ImageFile.write(try makeImage(width: 48, height: 40, seed: UInt64(i + 20)), to: root.appendingPathComponent("train/f\(i).jpg"))
            let ids = (0..<(48 * 40)).map { UInt8(($0 % 48) / 16) }
            try ImageFile.write(try Image(width: 48, height: 40, channels: 1, pixels: ids), to: root.appendingPathComponent("trainannot/f\(i).png"))
        }
        var m = CIMLEConfig(task: .image(.layout), inputNc: 3, levels: 2, widths: [8, 8], noiseChannels: 2)
        m.lpipsWeight = 0.5; m.levelCandidates = [2, 2]; m.poolSize = 2; m.visits = 1
        // A label map of another size than its photo is refused, naming both.
        let mismatched = tmp.appendingPathComponent("mm")
        for sub in ["train", "trainannot"] { try FileManager.default.createDirectory(at: mismatched.appendingPathComponent(sub), withIntermediateDirectories: true) }
        try ImageFile.write(try makeImage(width: 64, height: 64, seed: 1), to: mismatched.appendingPathComponent("train/p.jpg"))
        try ImageFile.write(try Image(width: 32, height: 48, channels: 1, pixels: [UInt8](repeating: 1, count: 32 * 48)),
                            to: mismatched.appendingPathComponent("trainannot/p.png"))
        var mo = CIMLETrainOptions(dataroot: mismatched.path, name: "mm", model: m)
        mo.checkpointsDir = tmp.appendingPathComponent("runs").path
        mo.setLayout(LayoutOptions(numClasses: 3, width: 32, height: 32))
        mo.batchSize = 1; mo.epochs = 1; mo.samples = 1
        let mt = try CIMLETrainer(options: mo, resume: false)
        mt.progressEnabled = false
        assertThrows("size mismatch", contains: ["trainannot/p.png", "32 x 48", "train/p.jpg", "64 x 64"]) { try mt.run() }
        var o = CIMLETrainOptions(dataroot: root.path, name: "lay", model: m)
        o.checkpointsDir = tmp.appendingPathComponent("runs").path
        o.setLayout(LayoutOptions(numClasses: 3, width: 32, height: 32))
        o.batchSize = 2; o.epochs = 1; o.samples = 1
        let t = try CIMLETrainer(options: o, resume: false)
        t.progressEnabled = false
        try t.run()
        let log = try String(contentsOf: t.runDir.appendingPathComponent("loss_log.jsonl"), encoding: .utf8)
        XCTAssertTrue(log.contains("\"lpips\""))
        let model = try LoadedCIMLE(path: t.runDir.path)
        let job = try SampleApplyJob(model: model, inputs: [root.appendingPathComponent("trainannot").path],
                                    output: tmp.appendingPathComponent("gen").path, samples: 2, seed: 1)
        job.quiet = true
        XCTAssertEqual(try job.run().written, 3)
        let g = try ImageFile.read(tmp.appendingPathComponent("gen/f0_s01.png")).image
        // Generated at the 32 x 32 working size, written at the label map's 48 x 40.
        XCTAssertEqual([g.width, g.height, g.channels], [48, 40, 3])
        // x.png and x.jpg of one folder would both become x_s00.png: refused naming both.
        let twins = tmp.appendingPathComponent("twins")
        try FileManager.default.createDirectory(at: twins, withIntermediateDirectories: true)
        for ext in ["png", "jpg"] { try ImageFile.write(try makeImage(width: 8, height: 8, seed: 1), to: twins.appendingPathComponent("x.\(ext)")) }
        assertThrows("twins", contains: ["x.jpg", "x.png", "x_s00.png"]) {
            _ = try SampleApplyJob(model: model, inputs: [twins.path], output: tmp.appendingPathComponent("gt").path, samples: 1, seed: 0)
        }
        // eval on the labelled split (as in training): fidelity, diversity, birthday test.
        var c = EvalConfig(); c.nnSize = 32; c.trials = 20
        let ev = try EvalJob(sampler: model, dataroot: root.path, phase: "train", trainPhase: nil, samples: 3, maxInputs: nil,
                             config: c, lpipsWeights: nil, output: tmp.appendingPathComponent("ev").path, shownInputs: 2)
        ev.quiet = true
        let em = try ev.run().metrics
        XCTAssertEqual(em["inputs"] as? Int, 3)
        XCTAssertNotNil((em["fidelity"] as? [String: Any])?["lpips"] as? Double)
        XCTAssertGreaterThan(try XCTUnwrap((em["diversity"] as? [String: Any])?["pairwise_l1"] as? Double), 0)
        XCTAssertTrue((em["diversity"] as? [String: Any])?["high_frequency_std"] is NSNull, "no high-frequency std outside super-resolution")
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("ev/index_files/items/0/input.png").path))
        // A label map with a class beyond --num-classes is refused, naming the file.
        let bad = tmp.appendingPathComponent("bad")
        try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
        try ImageFile.write(try Image(width: 8, height: 8, channels: 1, pixels: Array(repeating: 7, count: 64)), to: bad.appendingPathComponent("b.png"))
        let jb = try SampleApplyJob(model: model, inputs: [bad.path], output: tmp.appendingPathComponent("gb").path, samples: 1, seed: 0)
        jb.quiet = true
        let rb = try jb.run()
        XCTAssertEqual(rb.failed.count, 1)
        XCTAssertTrue(rb.failed[0].hasSuffix("b.png"))
    }

    func testPaletteFitRecoversTheColours() throws {
        let colours = [[0, 0, 255], [255, 0, 0], [20, 200, 20]]
        var px: [UInt8] = []
        var rng = RNG(seed: 1)
        for i in 0..<(30 * 30) { for c in colours[i % 3] { px.append(UInt8(max(0, min(255, c + rng.nextInt(9) - 4)))) } }
        let img = try Image(width: 30, height: 30, channels: 3, pixels: px)
        let p = try LayoutCodec.fitPalette([img], numClasses: 3, rng: &rng)
        for c in colours { XCTAssertTrue(p.contains { q in zip(q, c).allSatisfy { abs($0 - $1) <= 2 } }, "\(c) in \(p)") }
        let ids = try LayoutCodec.ids(img, format: .palette, numClasses: 3, palette: p, path: "x")
        XCTAssertEqual(Set(ids).count, 3)
    }
}
