import XCTest
import Foundation
import Tensors
import NN
import ImageIO
import Pipelines
import TranslateCLI

final class TrainTests: CLITestCase {
    /// 2 epochs straight and 1 epoch + resume + 1 epoch give bit-identical checkpoints.
    func testResumeIsExact() throws {
        let data = try makeAligned(tmp.appendingPathComponent("data/train"), count: 3)
        let root = data.deletingLastPathComponent()
        let a = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "straight"), resume: false)
        a.progressEnabled = false
        try a.run()
        let b1 = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "resumed"), resume: false)
        b1.progressEnabled = false
        try b1.run(stopAfterEpochs: 1)
        // The command line of a resumed run may differ: the checkpoint's configuration wins.
        var changed = tinyOptions(dataroot: root, name: "resumed")
        changed.model.ngf = 99
        let b2 = try Pix2PixTrainer(options: changed, resume: true)
        b2.progressEnabled = false
        XCTAssertEqual(b2.startEpoch, 1)
        XCTAssertEqual(b2.options.model.ngf, 4)
        try b2.run()
        let fa = try SafeTensors.read(a.latestURL), fb = try SafeTensors.read(b2.latestURL)
        XCTAssertEqual(fa.tensors.map(\.0), fb.tensors.map(\.0))
        XCTAssertGreaterThan(fa.tensors.count, 20)
        for ((k, ta), (_, tb)) in zip(fa.tensors, fb.tensors) { XCTAssertEqual(ta.data, tb.data, k) }
        XCTAssertEqual(fa.metadata["epoch"], "2")
        XCTAssertEqual(fa.metadata["rng"], fb.metadata["rng"])
        // Training moved the weights, the loss log has one line per step, the report exists.
        let run = a.runDir
        let log = try String(contentsOf: run.appendingPathComponent("loss_log.jsonl"), encoding: .utf8)
        XCTAssertEqual(log.split(separator: "\n").count, 6)
        // Same losses, steps and rates in both logs (the seconds per step naturally differ).
        func records(_ text: String) throws -> [LossRecord] {
            try text.split(separator: "\n").map { var r = try JSONDecoder().decode(LossRecord.self, from: Data($0.utf8)); r.seconds = 0; return r }
        }
        XCTAssertEqual(try records(try String(contentsOf: b2.runDir.appendingPathComponent("loss_log.jsonl"), encoding: .utf8)),
                       try records(log))
        let html = try String(contentsOf: run.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<svg") && html.contains("epoch002_00_output.png") && html.contains("G_L1"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("images/epoch002_00_output.png").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("epoch_2.safetensors").path))
    }

    func testSameSeedSameBitsDifferentSeedDifferent() throws {
        let root = try makeAligned(tmp.appendingPathComponent("d/train"), count: 2).deletingLastPathComponent()
        var weights: [[Float]] = []
        for (name, seed) in [("s1", UInt64(1)), ("s1b", UInt64(1)), ("s2", UInt64(2))] {
            var o = tinyOptions(dataroot: root, name: name, epochs: 1, decay: 0)
            o.seed = seed
            let t = try Pix2PixTrainer(options: o, resume: false)
            t.progressEnabled = false
            try t.run()
            weights.append(t.model.netG.parameters.flatMap(\.data))
        }
        XCTAssertEqual(weights[0], weights[1])
        XCTAssertNotEqual(weights[0], weights[2])
    }

    func testBadInputsGiveClearErrorsAndKeepFiles() throws {
        let root = try makeAligned(tmp.appendingPathComponent("d/train"), count: 2).deletingLastPathComponent()
        assertThrows("missing dataroot", contains: ["nope"]) {
            _ = try Pix2PixTrainer(options: tinyOptions(dataroot: tmp.appendingPathComponent("nope"), name: "x"), resume: false)
        }
        let empty = tmp.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        assertThrows("empty dataroot", contains: ["empty"]) {
            _ = try Pix2PixTrainer(options: tinyOptions(dataroot: empty, name: "x"), resume: false)
        }
        assertThrows("resume without run", contains: ["latest.safetensors", "--resume"]) {
            _ = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "never"), resume: true)
        }
        // A finished run is not overwritten by a new one of the same name.
        let t = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "run", epochs: 1, decay: 0), resume: false)
        t.progressEnabled = false
        try t.run()
        let before = try Data(contentsOf: t.latestURL)
        assertThrows("run exists", contains: ["run", "--resume"]) {
            _ = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "run"), resume: false)
        }
        XCTAssertEqual(try Data(contentsOf: t.latestURL), before)
        // A damaged checkpoint: resume refuses with the file's name and leaves it as it was.
        let damaged = before.prefix(before.count / 2)
        try damaged.write(to: t.latestURL)
        assertThrows("damaged checkpoint", contains: ["latest.safetensors"]) {
            _ = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "run"), resume: true)
        }
        XCTAssertEqual(try Data(contentsOf: t.latestURL), damaged)
        // Option values the trainer rejects name their flag.
        var o = tinyOptions(dataroot: root, name: "bad")
        o.batchSize = 0
        assertThrows("batch size", contains: ["--batch-size"]) { _ = try Pix2PixTrainer(options: o, resume: false) }
    }

    func testCommandLineParsingAndUnknownValues() throws {
        let cmd = try TrainPix2Pix.parse(["--dataroot", "d", "--name", "n", "--net-g", "unet-128", "--gan-mode", "lsgan",
                                          "--direction", "b-to-a", "--no-flip", "--epochs", "3", "--epochs-decay", "2"])
        let o = cmd.trainOptions
        XCTAssertEqual(o.model.netG, .unet128)
        XCTAssertEqual(o.model.ganMode, .lsgan)
        XCTAssertEqual(o.data.direction, .bToA)
        XCTAssertFalse(o.data.flip)
        XCTAssertEqual(o.totalEpochs, 5)
        // Defaults are the reference's.
        let d = try TrainPix2Pix.parse(["--dataroot", "d", "--name", "n"]).trainOptions
        XCTAssertEqual(d.model.lambdaL1, 100); XCTAssertEqual(d.model.lr, 0.0002); XCTAssertEqual(d.model.beta1, 0.5)
        XCTAssertEqual(d.data.loadSize, 286); XCTAssertEqual(d.data.cropSize, 256); XCTAssertEqual(d.model.netG, .unet256)
        XCTAssertEqual(d.epochs, 100); XCTAssertEqual(d.epochsDecay, 100); XCTAssertEqual(d.checkpointsDir, "models")
        for (args, flag) in [(["--net-g", "unet-999"], "--net-g"), (["--gan-mode", "wgangp"], "--gan-mode"),
                             (["--norm", "group"], "--norm"), (["--batch-size", "0"], "--batch-size"),
                             (["--bogus-flag"], "--bogus-flag"), (["--input-nc", "2"], "--input-nc"),
                             (["--dataset-mode", "unaligned"], "--dataset-mode")] {
            XCTAssertThrowsError(try TrainPix2Pix.parse(["--dataroot", "d", "--name", "n"] + args)) { e in
                let msg = TrainPix2Pix.message(for: e)
                XCTAssertTrue(msg.contains(flag), "\(args): \(msg)")
            }
        }
    }
}
