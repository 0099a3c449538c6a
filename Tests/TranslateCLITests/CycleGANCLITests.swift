import XCTest
import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import Pipelines
import TranslateCLI
import Evaluation

final class CycleGANCLITests: CLITestCase {
    /// trainA/ (3 images) and trainB/ (2 images, one grayscale) of different sizes.
    func makeUnaligned() throws -> URL {
        let root = tmp.appendingPathComponent("unaligned")
        for (dom, n) in [("trainA", 3), ("trainB", 2)] {
            let d = root.appendingPathComponent(dom)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<n {
                let gray = dom == "trainB" && i == 1
                try ImageFile.write(try makeImage(width: 36 + 4 * i, height: 40, channels: gray ? 1 : 3, seed: UInt64(10 * n + i)),
                                    to: d.appendingPathComponent("\(i).png"))
            }
        }
        return root
    }

    func tiny(_ root: URL, name: String) -> CycleGANTrainOptions {
        var o = CycleGANTrainOptions(dataroot: root.path, name: name)
        o.checkpointsDir = tmp.appendingPathComponent("runs").path
        o.model.netG = .resnet6
        o.model.ngf = 2; o.model.ndf = 2
        o.model.poolSize = 2          // small, so that the buffer fills and its random swaps matter
        o.data.loadSize = 34; o.data.cropSize = 32
        o.epochs = 1; o.epochsDecay = 1
        o.seed = 3; o.samples = 1
        return o
    }

    func testResumeIsExactIncludingHistoryBuffers() throws {
        let root = try makeUnaligned()
        let a = try CycleGANTrainer(options: tiny(root, name: "straight"), resume: false)
        a.progressEnabled = false
        XCTAssertEqual(a.dataset.count, 3, "epoch length is max(|A|, |B|)")
        try a.run()
        let b1 = try CycleGANTrainer(options: tiny(root, name: "resumed"), resume: false)
        b1.progressEnabled = false
        try b1.run(stopAfterEpochs: 1)
        XCTAssertEqual(b1.model.poolA.images.count, 2)
        let b2 = try CycleGANTrainer(options: tiny(root, name: "resumed"), resume: true)
        b2.progressEnabled = false
        XCTAssertEqual(b2.model.poolA.images.map(\.data), b1.model.poolA.images.map(\.data))
        try b2.run()
        let fa = try SafeTensors.read(a.latestURL), fb = try SafeTensors.read(b2.latestURL)
        XCTAssertEqual(fa.tensors.map(\.0), fb.tensors.map(\.0))
        XCTAssertTrue(fa.tensors.contains { $0.0 == "extra.pool_A.0" })
        for ((k, ta), (_, tb)) in zip(fa.tensors, fb.tensors) { XCTAssertEqual(ta.data, tb.data, k) }
        let html = try String(contentsOf: a.runDir.appendingPathComponent("index.html"), encoding: .utf8)
        for s in ["rec_A", "fake_B", "cycle_A", "idt_B", "<svg"] { XCTAssertTrue(html.contains(s), s) }
    }

    /// WGAN-GP with three critic steps per generator step: a run resumed after its first
    /// epoch (steps 1-3; step 4 updates the critic only) logs what the uninterrupted run
    /// logs, the generators' losses of step 3 included, and ends with the same weights.
    func testResumeWithCriticStepsLogsTheSameLosses() throws {
        let root = try makeUnaligned()
        func options(_ name: String) -> CycleGANTrainOptions {
            var o = tiny(root, name: name)
            o.model.ganMode = .wgangp
            o.model.norm = .instance
            o.model.penalties = GANPenalties(lambdaGP: 10, nCritic: 3)
            return o
        }
        let a = try CycleGANTrainer(options: options("straight"), resume: false)
        a.progressEnabled = false
        try a.run()
        let b1 = try CycleGANTrainer(options: options("resumed"), resume: false)
        b1.progressEnabled = false
        try b1.run(stopAfterEpochs: 1)
        let b2 = try CycleGANTrainer(options: options("resumed"), resume: true)
        b2.progressEnabled = false
        try b2.run()
        func losses(_ t: CycleGANTrainer) throws -> [[String: Float]] { try lossRecords(t.runDir).map(\.losses) }
        let (la, lb) = (try losses(a), try losses(b2))
        XCTAssertEqual(la.count, 6)
        XCTAssertEqual(la, lb)
        for k in ["G_A", "cycle_A", "G_B", "cycle_B"] {
            XCTAssertEqual(lb[3][k], lb[2][k], k)
            XCTAssertNotEqual(lb[3][k] ?? 0, 0, k)
        }
        let fa = try SafeTensors.read(a.latestURL), fb = try SafeTensors.read(b2.latestURL)
        XCTAssertTrue(fa.tensors.contains { $0.0 == "extra.last_generator_losses" })
        for ((k, ta), (_, tb)) in zip(fa.tensors, fb.tensors) { XCTAssertEqual(ta.data, tb.data, k) }
    }

    func testApplyPicksTheGeneratorByDirectionAndExports() throws {
        let root = try makeUnaligned()
        var o = tiny(root, name: "m")
        o.epochsDecay = 0
        let t = try CycleGANTrainer(options: o, resume: false)
        t.progressEnabled = false
        try t.run()
        var rng = RNG(seed: 2)
        let x = Tensor.rand([1, 3, 28, 30], low: -1, high: 1, rng: &rng)
        let gA = try LoadedGenerator(path: t.runDir.path, direction: .aToB)
        let gB = try LoadedGenerator(path: t.runDir.path, direction: .bToA)
        XCTAssertEqual(gA.prefix, "netG_A.")
        XCTAssertEqual(gB.prefix, "netG_B.")
        let ya = try gA.netG.translate(x, mode: .eval), yb = try gB.netG.translate(x, mode: .eval)
        XCTAssertEqual(ya.data, try t.model.netGA.translate(x, mode: .eval).data)
        XCTAssertEqual(yb.data, try t.model.netGB.translate(x, mode: .eval).data)
        XCTAssertEqual(ya.shape, [1, 3, 28, 30], "any size (not a multiple of 4) is kept")
        // An exported G_B remembers which generator it is and refuses the other direction.
        let file = tmp.appendingPathComponent("gB.safetensors")
        try gB.export(to: file, fp16: false)
        let e = try LoadedGenerator(path: file.path)
        XCTAssertEqual(try e.netG.translate(x, mode: .eval).data, yb.data)
        assertThrows("wrong direction", contains: ["--direction", "netG_B"]) { _ = try LoadedGenerator(path: file.path, direction: .aToB) }
        // apply on a folder with b-to-a.
        let inDir = tmp.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: inDir, withIntermediateDirectories: true)
        try ImageFile.write(try makeImage(width: 30, height: 22, seed: 9), to: inDir.appendingPathComponent("x.png"))
        let job = try ApplyJob(modelPath: t.runDir.path, inputs: [inDir.path], dataroot: nil, datasetMode: .aligned, direction: .bToA,
                               output: tmp.appendingPathComponent("out").path, batchSize: 2, testMode: nil, seed: 0, loadSize: nil)
        job.quiet = true
        XCTAssertEqual(try job.translateAll().translated, 1)
        assertThrows("missing trainB", contains: ["trainB"]) {
            try FileManager.default.removeItem(at: root.appendingPathComponent("trainB"))
            _ = try CycleGANTrainer(options: tiny(root, name: "x"), resume: false)
        }
    }

    func testCommandLineDefaultsAreTheReferences() throws {
        let o = try TrainCycleGAN.parse(["--dataroot", "d", "--name", "n"]).trainOptions
        XCTAssertEqual(o.model.ganMode, .lsgan)
        XCTAssertEqual(o.model.lambdaA, 10); XCTAssertEqual(o.model.lambdaB, 10); XCTAssertEqual(o.model.lambdaIdentity, 0.5)
        XCTAssertEqual(o.model.poolSize, 50); XCTAssertEqual(o.model.netG, .resnet9); XCTAssertEqual(o.model.norm, .instance)
        XCTAssertFalse(o.model.dropout)
        XCTAssertEqual(o.data.mode, .unaligned)
        XCTAssertThrowsError(try TrainCycleGAN.parse(["--dataroot", "d", "--name", "n", "--net-g", "resnet-12blocks"]))
    }
}

final class CycleEvalTests: CLITestCase {
    func testCycleEvaluationWritesPageAndScores() throws {
        let root = tmp.appendingPathComponent("u")
        for dom in ["trainA", "trainB", "testA", "testB"] {
            let d = root.appendingPathComponent(dom)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<2 { try ImageFile.write(try makeImage(width: 32, height: 32, seed: UInt64(dom.count * 7 + i)), to: d.appendingPathComponent("\(i).png")) }
        }
        var o = CycleGANTrainOptions(dataroot: root.path, name: "c")
        o.checkpointsDir = tmp.appendingPathComponent("runs").path
        o.model.netG = .resnet6; o.model.ngf = 2; o.model.ndf = 2
        o.data.loadSize = 34; o.data.cropSize = 32; o.epochs = 1; o.epochsDecay = 0; o.samples = 1
        let t = try CycleGANTrainer(options: o, resume: false)
        t.progressEnabled = false
        try t.run()
        let out = tmp.appendingPathComponent("eval")
        let r = try CycleEvalJob(modelPath: t.runDir.path, dataroot: root.path, output: out.path, loadSize: 24, testMode: nil).run()
        XCTAssertEqual(r.counts, ["A": 2, "B": 2])
        XCTAssertGreaterThan(r.cycleL1["A"] ?? 0, 0)
        XCTAssertLessThan(r.cycleL1["A"] ?? 1, 1)
        let rec = try ImageFile.read(out.appendingPathComponent("testA/rec/0.png")).image
        XCTAssertEqual([rec.width, rec.height], [24, 24])
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("cycle L1") && html.contains("reconstructed A"))
        // translate eval on the unpaired split: distribution checks only (no targets), the
        // generator is deterministic, memorisation against trainB/.
        var c = EvalConfig(); c.nnSize = 32; c.trials = 20
        let ev = try EvalJob(modelPath: t.runDir.path, dataroot: root.path, phase: "test", trainPhase: "train", direction: .aToB,
                             samples: 3, batchSize: 2, testMode: nil, maxInputs: nil, loadSize: nil, config: c, lpipsWeights: nil,
                             output: tmp.appendingPathComponent("ev").path)
        ev.quiet = true
        let m = try ev.run().metrics
        XCTAssertEqual(m["inputs"] as? Int, 2)
        XCTAssertNil(m["fidelity"])
        XCTAssertEqual(m["deterministic_generator"] as? Bool, true)
        XCTAssertEqual(((m["birthday"] as? [String: Any])?["across_reals"] as? [String: Any])?["sizes"] as? [Int], [2])
        XCTAssertEqual((m["memorisation"] as? [String: Any])?["training_images"] as? Int, 2)
        // A pix2pix model cannot be cycle-evaluated.
        XCTAssertThrowsError(try CycleEvalJob(modelPath: tmp.appendingPathComponent("none").path, dataroot: root.path, output: out.path,
                                              loadSize: nil, testMode: nil))
    }
}
