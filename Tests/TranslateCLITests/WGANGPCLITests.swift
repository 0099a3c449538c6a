import XCTest
import Foundation
import TranslateCLI
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
        let records = try log.split(separator: "\n").map { try JSONDecoder().decode(LossRecord.self, from: Data($0.utf8)) }
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
