import XCTest
import Foundation
import TranslateCLI
import ImageIO
@testable import Pipelines

/// `train pix2pix --gan-mode wgangp` end to end on tiny shapes, and the refusals of bad
/// penalty values, BatchNorm critics and BicycleGAN's wgangp, each naming its flag.
final class WGANGPCLITests: CLITestCase {
    func testPix2PixWGANGPTrainsEndToEnd() throws {
        let root = try makeAligned(tmp.appendingPathComponent("data/train"), count: 2)
        let runs = tmp.appendingPathComponent("runs")
        let r = try run(["train", "pix2pix", "--dataroot", root.path, "--name", "wgan", "--checkpoints-dir", runs.path,
                         "--net-g", "unet-32", "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32",
                         "--norm", "instance", "--gan-mode", "wgangp", "--lambda-gp", "5", "--n-critic", "2", "--r1-gamma", "0.5",
                         "--epochs", "1", "--epochs-decay", "0", "--quiet"])
        XCTAssertEqual(r.status, 0, r.err)
        let runDir = runs.appendingPathComponent("wgan")
        let log = try String(contentsOf: runDir.appendingPathComponent("loss_log.jsonl"), encoding: .utf8)
        let records = try lossRecords(runDir)
        XCTAssertEqual(records.count, 2, log)
        for rec in records {
            XCTAssertEqual(Set(rec.losses.keys), ["G_GAN", "G_L1", "D_real", "D_fake", "D_gp", "W_dist", "D_R1"], log)
            XCTAssertTrue(rec.losses.values.allSatisfy(\.isFinite), log)
            XCTAssertGreaterThan(rec.losses["D_gp"]!, 0)
            XCTAssertEqual(rec.losses["W_dist"]!, -(rec.losses["D_real"]! + rec.losses["D_fake"]!), accuracy: 1e-5)
        }
        // --n-critic 2: the first step updates the critic only and reports no generator losses yet.
        XCTAssertEqual(records[0].losses["G_L1"], 0, log)
        XCTAssertGreaterThan(records[1].losses["G_L1"]!, 0, log)
        let html = try String(contentsOf: runDir.appendingPathComponent("index.html"), encoding: .utf8)
        for name in ["D_gp", "W_dist", "D_R1"] { XCTAssertTrue(html.contains(name), "the training page lacks \(name)") }
        let config = try String(contentsOf: runDir.appendingPathComponent("config.json"), encoding: .utf8)
        XCTAssertTrue(config.contains("\"lambdaGP\"") && config.contains("\"nCritic\""), config)
    }

    /// `train cyclegan --gan-mode wgangp` end to end: both critics report their penalty and
    /// Wasserstein estimate (gp_A/B, W_dist_A/B) with finite values under --n-critic 2, and the
    /// run resumes for a second epoch.
    func testCycleGANWGANGPTrainsEndToEnd() throws {
        let root = tmp.appendingPathComponent("unpaired")
        for dom in ["trainA", "trainB"] {
            let d = root.appendingPathComponent(dom)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<2 { try ImageFile.write(try makeImage(width: 32, height: 32, seed: UInt64(dom == "trainA" ? i : 10 + i)), to: d.appendingPathComponent("\(i).png")) }
        }
        let runs = tmp.appendingPathComponent("runs")
        let args = ["train", "cyclegan", "--dataroot", root.path, "--name", "cw", "--checkpoints-dir", runs.path,
                    "--net-g", "resnet-6blocks", "--ngf", "2", "--ndf", "2", "--load-size", "34", "--crop-size", "32",
                    "--gan-mode", "wgangp", "--n-critic", "2", "--epochs-decay", "0", "--samples", "1", "--quiet"]
        let r = try run(args + ["--epochs", "1"])
        XCTAssertEqual(r.status, 0, r.err)
        func records() throws -> [LossRecord] { try lossRecords(runs.appendingPathComponent("cw")) }
        let recs = try records()
        XCTAssertEqual(recs.count, 2)
        for rec in recs {
            for k in ["gp_A", "gp_B", "W_dist_A", "W_dist_B"] {
                XCTAssertNotNil(rec.losses[k], "\(k) missing: \(rec.losses.keys.sorted())")
                XCTAssertTrue(rec.losses[k]?.isFinite ?? false, k)
            }
            XCTAssertGreaterThan(rec.losses["gp_A"]!, 0)
        }
        let resumed = try run(args + ["--epochs", "2", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertEqual(try records().count, 4)
    }

    func testBadPenaltyValuesAreRefusedNamingTheFlag() throws {
        let base = ["--dataroot", "d", "--name", "n", "--norm", "instance", "--gan-mode", "wgangp"]
        for (args, flag) in [(["--lambda-gp", "-1"], "--lambda-gp"), (["--n-critic", "0"], "--n-critic"),
                             (["--r1-gamma", "-2"], "--r1-gamma"), (["--lambda-gp", "nan"], "--lambda-gp")] {
            XCTAssertThrowsError(try TrainPix2Pix.parse(base + args).trainOptions.validateMethod(), "\(args)") { e in
                XCTAssertTrue(TrainPix2Pix.message(for: e).contains(flag), "\(args): \(TrainPix2Pix.message(for: e))")
            }
            XCTAssertThrowsError(try TrainCycleGAN.parse(base + args).trainOptions.validateMethod(), "cyclegan \(args)") { e in
                XCTAssertTrue(TrainCycleGAN.message(for: e).contains(flag), "cyclegan \(args): \(TrainCycleGAN.message(for: e))")
            }
        }
        // The executable refuses them too, before touching the data.
        try expectFailure(["train", "pix2pix"] + base + ["--n-critic", "0"], mentions: "--n-critic")
        try expectFailure(["train", "pix2pix"] + base + ["--lambda-gp", "-1"], mentions: "--lambda-gp")
    }

    func testBatchNormCriticAndBicycleGANAreRefused() throws {
        try expectFailure(["train", "pix2pix", "--dataroot", "d", "--name", "n", "--norm", "batch", "--gan-mode", "wgangp"], mentions: "--norm instance")
        assertThrows("BicycleGAN wgangp", contains: ["--gan-mode", "wgangp"]) {
            var o = BicycleGANTrainOptions(dataroot: "d", name: "n")
            o.model.ganMode = .wgangp
            try o.validateMethod()
        }
        // Defaults keep the configuration as before the flags existed.
        XCTAssertNil(try TrainPix2Pix.parse(["--dataroot", "d", "--name", "n"]).trainOptions.model.penalties)
    }
}
