import XCTest
import Foundation
import Tensors
import ImageIO
import Pipelines
import Evaluation
import TranslateCLI
import Perceptual

final class EvalCLITests: CLITestCase {
    /// A tiny pix2pix model (U-Net-64, whose innermost block has dropout) trained on train/,
    /// with a val/ split.
    func trainedModel(name: String = "ev", seed: UInt64 = 5) throws -> (model: URL, root: URL) {
        let root = tmp.appendingPathComponent("d")
        try makeAligned(root.appendingPathComponent("train"), count: 3, side: 64)
        let val = root.appendingPathComponent("val")
        try FileManager.default.createDirectory(at: val, withIntermediateDirectories: true)
        for i in 0..<4 {
            try ImageFile.write(try makeImage(width: 128, height: 64, seed: UInt64(50 + i)), to: val.appendingPathComponent("v\(i).png"))
        }
        var o = tinyOptions(dataroot: root, name: name, epochs: 1, decay: 0)
        o.seed = seed
        o.model.dropout = true
        o.model.netG = .unet64
        o.data.loadSize = 70
        o.data.cropSize = 64
        let t = try Pix2PixTrainer(options: o, resume: false)
        t.progressEnabled = false
        try t.run()
        return (t.runDir, root)
    }

    var smallConfig: EvalConfig { var c = EvalConfig(); c.nnSize = 32; c.trials = 50; return c }

    func json(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent("metrics.json"))) as? [String: Any])
    }

    func testModelOnPairedSplitWritesMetricsAndPage() throws {
        let (model, root) = try trainedModel()
        func run(_ out: String) throws -> [String: Any] {
            let job = try EvalJob(modelPath: model.path, dataroot: root.path, phase: "val", trainPhase: "train", direction: nil,
                                  samples: 5, batchSize: 2, testMode: .paper, maxInputs: nil, loadSize: nil, config: smallConfig,
                                  lpipsWeights: nil, output: tmp.appendingPathComponent(out).path)
            job.quiet = true
            let r = try job.run()
            print(r.summary)
            XCTAssertTrue(r.failed.isEmpty)
            return try json(tmp.appendingPathComponent(out))
        }
        let m = try run("e1")
        XCTAssertEqual(m["inputs"] as? Int, 4)
        XCTAssertEqual(m["deterministic_generator"] as? Bool, false)
        let fid = try XCTUnwrap(m["fidelity"] as? [String: Any])
        for k in ["l1", "mse", "psnr", "ssim", "lpips"] { XCTAssertNotNil(fid[k] as? Double, k) }
        let best = try XCTUnwrap(m["best_of_k"] as? [String: Any])
        let bl = try XCTUnwrap(best["lpips"] as? [String: Double])
        XCTAssertEqual(Set(bl.keys), ["1", "2", "5"])
        XCTAssertLessThanOrEqual(bl["5"]!, bl["1"]!)
        let div = try XCTUnwrap(m["diversity"] as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(div["pairwise_lpips"] as? Double), 0, "dropout makes samples differ")
        let b = try XCTUnwrap(m["birthday"] as? [String: Any])
        XCTAssertNotNil(b["per_input"] as? [String: Any])
        XCTAssertNotNil(b["across_outputs"] as? [String: Any])
        let mem = try XCTUnwrap(m["memorisation"] as? [String: Any])
        XCTAssertEqual(mem["training_images"] as? Int, 3)
        XCTAssertEqual((mem["nn_lpips_outputs"] as? [Double])?.count, 4)
        let html = try String(contentsOf: tmp.appendingPathComponent("e1/index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<svg"))
        XCTAssertTrue(html.contains("best-of-k"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("e1/index_files/items/0/sample4.png").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("e1/index_files/items/0/std.png").path))
        // Same seed, same numbers.
        var m2 = try run("e2")
        var m1 = m
        m1["seconds"] = nil; m2["seconds"] = nil; m1["setup"] = nil; m2["setup"] = nil
        XCTAssertEqual(try JSONSerialization.data(withJSONObject: m1, options: .sortedKeys),
                       try JSONSerialization.data(withJSONObject: m2, options: .sortedKeys))
    }

    /// `--model` twice: both models on the same inputs, one side-by-side report, each
    /// model's own report in its folder; the same file twice, another task, an unknown
    /// LPIPS version are refused.
    func testSeveralModelsSideBySide() throws {
        let (a, root) = try trainedModel(name: "alpha", seed: 5)
        let (b, _) = try trainedModel(name: "beta", seed: 6)
        let out = tmp.appendingPathComponent("cmp")
        let r = try run(["eval", "--model", a.path, "--model", b.path, "--dataroot", root.path, "--phase", "val", "--samples", "4",
                         "--nn-size", "32", "--lpips-version", "0.0", "--output", out.path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.err)
        for label in ["alpha", "beta"] { XCTAssertTrue(r.out.contains(label), r.out) }
        XCTAssertTrue(r.out.contains("best-of-4 PSNR"), r.out)
        let m = try json(out)
        XCTAssertEqual(m["order"] as? [String], ["alpha", "beta"])
        XCTAssertEqual(m["lpips"] as? String, "LPIPS v0.0 AlexNet (models/lpips_alexnet)")
        let models = try XCTUnwrap(m["models"] as? [String: [String: Any]])
        for label in ["alpha", "beta"] {
            let mm = try XCTUnwrap(models[label]?["metrics"] as? [String: Any])
            XCTAssertEqual(mm["inputs"] as? Int, 4)
            let best = try XCTUnwrap((mm["best_of_k"] as? [String: Any])?["lpips"] as? [String: Double])
            XCTAssertEqual(Set(best.keys), ["1", "2", "3", "4"], "every k up to the sample count")
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("\(label)/index.html").path))
        }
        // Different weights, same inputs: the fidelity differs, the real-image calibration does not.
        let fa = try XCTUnwrap((models["alpha"]?["metrics"] as? [String: Any])?["fidelity"] as? [String: Any])
        let fb = try XCTUnwrap((models["beta"]?["metrics"] as? [String: Any])?["fidelity"] as? [String: Any])
        XCTAssertNotEqual(fa["l1"] as? Double, fb["l1"] as? Double)
        let ba = try XCTUnwrap((models["alpha"]?["metrics"] as? [String: Any])?["birthday"] as? [String: Any])
        let bb = try XCTUnwrap((models["beta"]?["metrics"] as? [String: Any])?["birthday"] as? [String: Any])
        XCTAssertEqual(ba["threshold_lpips"] as? Double, bb["threshold_lpips"] as? Double)
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("Side by side") && html.contains("<svg") && html.contains("alpha/index_files/items/0/sample0.png")
                      && html.contains("beta/index_files/items/0/sample0.png"))
        // Refusals, each naming the flag or file.
        try expectFailure(["eval", "--model", a.path, "--model", a.deletingLastPathComponent().path + "/" + a.lastPathComponent,
                           "--dataroot", root.path, "--phase", "val"], mentions: "is the same model file as")
        try expectFailure(["eval", "--model", a.path, "--dataroot", root.path, "--lpips-version", "0.2"], mentions: "--lpips-version")
        var gray = tinyOptions(dataroot: root, name: "gray", epochs: 1, decay: 0)
        gray.data.outputNc = 1
        let g = try Pix2PixTrainer(options: gray, resume: false)
        g.progressEnabled = false
        try g.run()
        try expectFailure(["eval", "--model", a.path, "--model", g.runDir.path, "--dataroot", root.path, "--phase", "val"],
                          mentions: "must share their task")
    }

    func testEvalModeIsFlaggedAsCollapsed() throws {
        let (model, root) = try trainedModel()
        let out = tmp.appendingPathComponent("det")
        let job = try EvalJob(modelPath: model.path, dataroot: root.path, phase: "val", trainPhase: nil, direction: nil,
                              samples: 4, batchSize: 4, testMode: .eval, maxInputs: 2, loadSize: nil, config: smallConfig,
                              lpipsWeights: nil, output: out.path)
        job.quiet = true
        _ = try job.run()
        let m = try json(out)
        XCTAssertEqual(m["deterministic_generator"] as? Bool, true)
        XCTAssertEqual((m["diversity"] as? [String: Any])?["pairwise_lpips"] as? Double, 0)
        let b = try XCTUnwrap(m["birthday"] as? [String: Any])
        XCTAssertEqual((b["per_input"] as? [String: Any])?["collision_size"] as? Int, 2)
        XCTAssertEqual(b["per_input_collision_at_2"] as? Int, 2)
        XCTAssertNil(m["memorisation"])
    }

    func testFolderComparison() throws {
        let t = tmp.appendingPathComponent("t"), p = tmp.appendingPathComponent("p"), s = tmp.appendingPathComponent("s")
        for d in [t, p, s] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        for i in 0..<3 {
            let img = try makeImage(width: 40, height: 36, seed: UInt64(i + 9))
            try ImageFile.write(img, to: t.appendingPathComponent("im\(i).png"))
            try ImageFile.write(img, to: p.appendingPathComponent("im\(i).png"))
            for k in 0..<3 { try ImageFile.write(try makeImage(width: 40, height: 36, seed: UInt64(100 * i + k)), to: s.appendingPathComponent("im\(i)_s\(k).png")) }
        }
        try ImageFile.write(try makeImage(width: 40, height: 36, seed: 1), to: p.appendingPathComponent("stray.png"))
        // Identical folders: L1 0, PSNR inf, SSIM 1, LPIPS 0.
        let job = try EvalJob(predictions: p.path, targets: t.path, train: nil, config: smallConfig, lpipsWeights: nil,
                              output: tmp.appendingPathComponent("same").path)
        job.quiet = true
        let r = try job.run()
        print(r.summary)
        let fid = try XCTUnwrap(r.metrics["fidelity"] as? [String: Any])
        XCTAssertEqual(fid["l1"] as? Double, 0)
        XCTAssertEqual(fid["psnr"] as? String, "inf")
        XCTAssertEqual(try XCTUnwrap(fid["ssim"] as? Double), 1, accuracy: 1e-12)
        XCTAssertEqual(fid["lpips"] as? Double, 0)
        XCTAssertTrue(r.summary.contains("PSNR") && r.summary.contains("inf"))
        // Three samples per target named <name>_s<k>: diversity and best-of-k.
        let job2 = try EvalJob(predictions: s.path, targets: t.path, train: t.path, config: smallConfig, lpipsWeights: nil,
                               output: tmp.appendingPathComponent("samples").path)
        job2.quiet = true
        let r2 = try job2.run()
        XCTAssertEqual(r2.metrics["samples_per_input"] as? Int, 3)
        XCTAssertGreaterThan(try XCTUnwrap((r2.metrics["diversity"] as? [String: Any])?["pairwise_lpips"] as? Double), 0)
        let mem = try XCTUnwrap(r2.metrics["memorisation"] as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(mem["nn_lpips_heldout_median"] as? Double), 0, accuracy: 1e-4, "the targets are the training set")
        // Nothing matches: a clear error naming the flag.
        let other = tmp.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try ImageFile.write(try makeImage(width: 40, height: 36, seed: 1), to: other.appendingPathComponent("zzz.png"))
        assertThrows("no match", contains: ["--pred", "other"]) {
            _ = try EvalJob(predictions: other.path, targets: t.path, train: nil, config: self.smallConfig, lpipsWeights: nil,
                            output: self.tmp.appendingPathComponent("x").path)
        }
    }

    func testMismatchedSizesAreReportedPerFile() throws {
        let t = tmp.appendingPathComponent("t"), p = tmp.appendingPathComponent("p")
        for d in [t, p] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        try ImageFile.write(try makeImage(width: 40, height: 36, seed: 1), to: t.appendingPathComponent("a.png"))
        try ImageFile.write(try makeImage(width: 40, height: 36, seed: 1), to: p.appendingPathComponent("a.png"))
        try ImageFile.write(try makeImage(width: 40, height: 36, seed: 2), to: t.appendingPathComponent("b.png"))
        try ImageFile.write(try makeImage(width: 48, height: 36, seed: 2), to: p.appendingPathComponent("b.png"))
        let job = try EvalJob(predictions: p.path, targets: t.path, train: nil, config: smallConfig, lpipsWeights: nil,
                              output: tmp.appendingPathComponent("o").path)
        job.quiet = true
        let r = try job.run()
        XCTAssertEqual(r.failed.count, 1)
        XCTAssertTrue(r.failed[0].contains("b"), r.failed[0])
        XCTAssertEqual(r.metrics["inputs"] as? Int, 1)
    }
}
