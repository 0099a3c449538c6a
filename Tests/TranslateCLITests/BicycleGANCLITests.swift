import XCTest
import Foundation
import Tensors
import NN
import ImageIO
import Pipelines
import TranslateCLI
import TestSupport

/// BicycleGAN end to end at 64 x 64 (the smallest crop two PatchGAN scales take): exact
/// resume, the train command, and apply's sampling flags with their errors.
final class BicycleGANCLITests: CLITestCase {
    /// The flags of a tiny run: unet-64, resnet-64, widths 2, nz 4.
    let tinyFlags = ["--net-g", "unet-64", "--net-e", "resnet-64", "--ngf", "2", "--nef", "2", "--ndf", "2", "--nz", "4",
                     "--load-size", "68", "--crop-size", "64", "--samples", "1"]

    func bicycleOptions(dataroot: URL, name: String, epochs: Int, decay: Int) throws -> BicycleGANTrainOptions {
        var o = try TrainBicycleGAN.parse(["--dataroot", dataroot.path, "--name", name, "--checkpoints-dir", tmp.appendingPathComponent("runs").path,
                                           "--epochs", "\(epochs)", "--epochs-decay", "\(decay)", "--seed", "3"] + tinyFlags).trainOptions
        o.seed = 3
        return o
    }

    /// 4 steps straight and 2 steps + resume + 2 steps give the same bits (5 pairs, batch 2: two
    /// steps per epoch, the odd pair left out).
    func testResumeIsExact() throws {
        let root = try makeAligned(tmp.appendingPathComponent("data/train"), count: 5, side: 64).deletingLastPathComponent()
        let a = try BicycleGANTrainer(options: try bicycleOptions(dataroot: root, name: "straight", epochs: 1, decay: 1), resume: false)
        a.progressEnabled = false
        try a.run()
        XCTAssertEqual(a.history.count, 4, "two full batches per epoch")
        let b1 = try BicycleGANTrainer(options: try bicycleOptions(dataroot: root, name: "resumed", epochs: 1, decay: 1), resume: false)
        b1.progressEnabled = false
        try b1.run(stopAfterEpochs: 1)
        let b2 = try BicycleGANTrainer(options: try bicycleOptions(dataroot: root, name: "resumed", epochs: 1, decay: 1), resume: true)
        b2.progressEnabled = false
        XCTAssertEqual(b2.startEpoch, 1)
        try b2.run()
        let fa = try SafeTensors.read(a.latestURL), fb = try SafeTensors.read(b2.latestURL)
        XCTAssertEqual(fa.tensors.map(\.0), fb.tensors.map(\.0))
        for prefix in ["netG.", "netE.", "netD.", "netD2.", "optim.G.", "optim.E.", "optim.D.", "optim.D2."] {
            XCTAssertTrue(fa.tensors.contains { $0.0.hasPrefix(prefix) }, "checkpoint holds \(prefix)*")
        }
        for ((k, ta), (_, tb)) in zip(fa.tensors, fb.tensors) { XCTAssertEqual(ta.data, tb.data, k) }
        XCTAssertEqual(fa.metadata["rng"], fb.metadata["rng"])
        XCTAssertEqual(a.history.map(\.losses), b2.history.map(\.losses))
        // Training moved G, and the page shows the encoded and random outputs.
        let html = try String(contentsOf: a.runDir.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("epoch002_00_encoded.png") && html.contains("epoch002_00_random1.png") && html.contains("z_L1"), html)
    }

    /// The command: progress and loss log, then apply's samples, synced codes, styles and
    /// interpolations, and the errors of each flag.
    func testTrainAndSample() throws {
        let root = try makeAligned(tmp.appendingPathComponent("data/train"), count: 2, side: 64).deletingLastPathComponent()
        let runs = tmp.appendingPathComponent("runs").path
        let t = try run(["train", "bicyclegan", "--dataroot", root.path, "--name", "b", "--checkpoints-dir", runs,
                         "--epochs", "1", "--epochs-decay", "0"] + tinyFlags)
        XCTAssertEqual(t.status, 0, t.err)
        XCTAssertTrue(t.err.contains("training bicyclegan on 2 pairs") && t.err.contains("G_GAN2"), t.err)
        let log = try String(contentsOfFile: runs + "/b/loss_log.jsonl", encoding: .utf8)
        XCTAssertEqual(log.split(separator: "\n").count, 1)
        for name in BicycleGAN.Losses.names { XCTAssertTrue(log.contains("\"\(name)\""), name) }
        // --time-limit stops after the step at the limit with a checkpoint and exit status 0
        // (the command once ignored it); --resume finishes the run.
        let limited = ["train", "bicyclegan", "--dataroot", root.path, "--name", "limited", "--checkpoints-dir", runs,
                       "--epochs", "2", "--epochs-decay", "0"] + tinyFlags
        let l = try run(limited + ["--time-limit", "0.000001"])
        XCTAssertEqual(l.status, 0, l.err)
        XCTAssertTrue(l.out.contains("stopped at the time limit"), l.out + l.err)
        XCTAssertEqual(try String(contentsOfFile: runs + "/limited/loss_log.jsonl", encoding: .utf8).split(separator: "\n").count, 1)
        XCTAssertEqual(try run(limited + ["--resume"]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: runs + "/limited/loss_log.jsonl", encoding: .utf8).split(separator: "\n").count, 2)
        let model = runs + "/b"
        let inputs = tmp.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
        for i in 0..<2 { try ImageFile.write(try makeImage(width: 40, height: 48, seed: UInt64(20 + i)), to: inputs.appendingPathComponent("x\(i).png")) }

        // --samples: K files per input at the input's size, the same bits for the same seed.
        for out in ["s1", "s2"] {
            let r = try run(["apply", "--model", model, "--input", inputs.path, "--output", tmp.appendingPathComponent(out).path, "--samples", "3", "--quiet"])
            XCTAssertEqual(r.status, 0, r.err)
        }
        let s = try ImageFile.read(tmp.appendingPathComponent("s1/x0_s02.png")).image
        XCTAssertEqual([s.width, s.height], [40, 48])
        XCTAssertEqual(try Data(contentsOf: tmp.appendingPathComponent("s1/x1_s01.png")), try Data(contentsOf: tmp.appendingPathComponent("s2/x1_s01.png")))
        XCTAssertNotEqual(try Data(contentsOf: tmp.appendingPathComponent("s1/x0_s00.png")), try Data(contentsOf: tmp.appendingPathComponent("s1/x0_s01.png")))
        XCTAssertTrue(try String(contentsOf: tmp.appendingPathComponent("s1/index.html"), encoding: .utf8).contains("sample 2"))

        // --sync-z and --interpolate
        let sync = try run(["apply", "--model", model, "--input", inputs.path, "--output", tmp.appendingPathComponent("sync").path, "--samples", "2", "--sync-z", "--quiet"])
        XCTAssertEqual(sync.status, 0, sync.err)
        XCTAssertTrue(try String(contentsOf: tmp.appendingPathComponent("sync/index.html"), encoding: .utf8).contains("code 1 (synced)"))
        let interp = try run(["apply", "--model", model, "--input", inputs.path, "--output", tmp.appendingPathComponent("int").path, "--interpolate", "4", "--quiet"])
        XCTAssertEqual(interp.status, 0, interp.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("int/x1_s03.png").path))

        // --style: one output per input, the style shown beside it.
        let style = tmp.appendingPathComponent("style.png")
        try ImageFile.write(try makeImage(width: 70, height: 60, seed: 9), to: style)
        let st = try run(["apply", "--model", model, "--input", inputs.path, "--output", tmp.appendingPathComponent("st").path, "--style", style.path, "--quiet"])
        XCTAssertEqual(st.status, 0, st.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("st/x0_s00.png").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("st/x0_s01.png").path))
        XCTAssertTrue(try String(contentsOf: tmp.appendingPathComponent("st/index.html"), encoding: .utf8).contains("in the style"))

        // Bad style images and conflicting flags: errors naming the flag or file, non-zero exit.
        let out = tmp.appendingPathComponent("bad").path
        let base = ["apply", "--model", model, "--input", inputs.path, "--output", out]
        try expectFailure(base + ["--style", tmp.appendingPathComponent("missing.png").path], mentions: "--style")
        let corrupt = tmp.appendingPathComponent("corrupt.png")
        try Data("not a png".utf8).write(to: corrupt)
        try expectFailure(base + ["--style", corrupt.path], mentions: "corrupt.png")
        try expectFailure(base + ["--style", corrupt.path], mentions: "--style")
        let gray = tmp.appendingPathComponent("gray.png")
        try ImageFile.write(try makeImage(width: 64, height: 64, channels: 1, seed: 4), to: gray)
        try expectFailure(base + ["--style", gray.path], mentions: "1 channel(s)")
        try expectFailure(base + ["--style", style.path, "--samples", "2"], mentions: "--style and --samples cannot be combined")
        try expectFailure(base + ["--style", style.path, "--sync-z"], mentions: "--style and --sync-z cannot be combined")
        try expectFailure(base + ["--interpolate", "3", "--samples", "2"], mentions: "--interpolate and --samples cannot be combined")
        try expectFailure(base + ["--interpolate", "1"], mentions: "--interpolate must be between 2 and 1000")
    }

    /// The codes behind the flags: synced codes are the same for every input, random ones are
    /// not; interpolation runs evenly between its two ends; a style is the encoder's mean.
    func testCodes() throws {
        let root = try makeAligned(tmp.appendingPathComponent("data/train"), count: 2, side: 64).deletingLastPathComponent()
        let t = try BicycleGANTrainer(options: try bicycleOptions(dataroot: root, name: "c", epochs: 1, decay: 0), resume: false)
        t.progressEnabled = false
        try t.run()
        let m = try LoadedBicycleGAN(path: t.latestURL.path)
        XCTAssertEqual(m.noise, .code)
        m.codes = .random
        XCTAssertNotEqual(try m.codeMatrix(count: 2, seed: 1, index: 0).data, try m.codeMatrix(count: 2, seed: 1, index: 1).data)
        m.codes = .synced
        XCTAssertEqual(try m.codeMatrix(count: 2, seed: 1, index: 0).data, try m.codeMatrix(count: 2, seed: 1, index: 1).data)
        m.codes = .interpolate(synced: false)
        let z = try m.codeMatrix(count: 3, seed: 1, index: 0)
        for j in 0..<4 { XCTAssertEqual(z.data[4 + j], (z.data[j] + z.data[8 + j]) / 2, accuracy: 1e-6) }
        XCTAssertNotEqual(Array(z.data[0..<4]), Array(z.data[8..<12]))
        let img = try makeImage(width: 64, height: 64, seed: 2)
        let code = try m.styleCode(img, path: "x.png")
        XCTAssertEqual(code.data, try t.model.encode(img.tensor()).data)
        // Exported files keep the encoder, so --style works on them too.
        let exported = tmp.appendingPathComponent("g.safetensors")
        try m.export(to: exported, fp16: false)
        let e = try LoadedBicycleGAN(path: exported.path)
        XCTAssertEqual(try e.styleCode(img, path: "x.png").data, code.data)
    }

    /// Flags of BicycleGAN on models without a latent code, and bad training settings.
    func testRefusals() throws {
        let root = try makeAligned(tmp.appendingPathComponent("data/train"), count: 3, side: 32).deletingLastPathComponent()
        let p = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "p", epochs: 1, decay: 0), resume: false)
        p.progressEnabled = false
        try p.run()
        let base = ["apply", "--model", p.latestURL.path, "--input", root.appendingPathComponent("train").path, "--output", tmp.appendingPathComponent("o").path]
        try expectFailure(base + ["--sync-z"], mentions: "--sync-z")
        try expectFailure(base + ["--style", p.latestURL.path], mentions: "--style")
        try expectFailure(base + ["--interpolate", "3"], mentions: "latent code")
        let train = ["train", "bicyclegan", "--dataroot", root.path, "--name", "x", "--checkpoints-dir", tmp.appendingPathComponent("runs").path]
        try expectFailure(train + ["--batch-size", "3"], mentions: "--batch-size")
        try expectFailure(train + ["--crop-size", "128", "--load-size", "128"], mentions: "--net-e")
        try expectFailure(train + ["--crop-size", "40", "--load-size", "40", "--net-e", "resnet-32"], mentions: "--crop-size")
        try expectFailure(train + ["--net-g", "resnet-9blocks"], mentions: "--net-g")
    }

    /// The shipped models/facades_bicycle reads with today's code: two samples of a sample label
    /// map at its size that differ from each other (the code changes the photo), the same bits
    /// for the same seed, and --style with one of the sample photos.
    func testShippedModelSamples() throws {
        let repo = fixturesURL.deletingLastPathComponent().deletingLastPathComponent()
        let model = repo.appendingPathComponent("models/facades_bicycle").path
        let input = repo.appendingPathComponent("datasets/samples/facades_labels/facade_1.png")
        let size = try ImageFile.read(input).image
        for out in ["a", "b"] {
            let r = try run(["apply", "--model", model, "--input", input.path, "--output", tmp.appendingPathComponent(out).path, "--samples", "2", "--quiet"])
            XCTAssertEqual(r.status, 0, r.err)
        }
        let (s0, s1) = (tmp.appendingPathComponent("a/facade_1_s00.png"), tmp.appendingPathComponent("a/facade_1_s01.png"))
        let img = try ImageFile.read(s0).image
        XCTAssertEqual([img.width, img.height, img.channels], [size.width, size.height, 3])
        XCTAssertNotEqual(try Data(contentsOf: s0), try Data(contentsOf: s1), "two codes gave the same photo")
        XCTAssertEqual(try Data(contentsOf: s1), try Data(contentsOf: tmp.appendingPathComponent("b/facade_1_s01.png")))
        let st = try run(["apply", "--model", model, "--input", input.path, "--output", tmp.appendingPathComponent("st").path, "--style", s1.path, "--quiet"])
        XCTAssertEqual(st.status, 0, st.err)
    }
}
