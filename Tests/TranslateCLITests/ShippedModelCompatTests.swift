import XCTest
import Foundation
import ImageIO
import NN
import TestSupport
import Evaluation

/// The shipped models (models/*) read by today's code give the outputs the commit before the
/// pipeline redesign gave (Tests/Fixtures/compat/shipped_models.json, tools/make_compat_fixture.py):
/// the same size and 16x16 thumbnails within half a grey level (exact pixels depend on the
/// BLAS kernel of the CPU; a model read wrongly is off by tens of grey levels).
final class ShippedModelCompatTests: CLITestCase {
    struct Expected: Decodable { var width: Int; var height: Int; var thumb: [[[Double]]] }
    struct FixtureFile: Decodable { var made_by: String; var outputs: [String: Expected] }

    func testShippedModelsGiveTheSameOutputs() throws {
        let repo = fixturesURL.deletingLastPathComponent().deletingLastPathComponent()
        let fx = try JSONDecoder().decode(FixtureFile.self, from: Data(contentsOf: fixturesURL.appendingPathComponent("compat/shipped_models.json")))
        let ck = "Tests/Fixtures/compat/checkpoints/"
        let cases: [(model: String, tag: String, path: String, input: String, extra: [String])] = [
            ("facades_label2photo", "default", "models/facades_label2photo", "datasets/samples/facades_labels/facade_1.png", []),
            ("facades_cimle", "samples2", "models/facades_cimle", "datasets/samples/facades_labels/facade_1.png", ["--samples", "2"]),
            ("sr_x4", "default", "models/sr_x4", "datasets/samples/sr_lowres/chelsea.png", []),
            // Training checkpoints written by that commit (a cIMLE layout run keeps its layout
            // settings in the older place, cimleData).
            ("ckpt_pix2pix", "default", ck + "pix2pix_4111d81.safetensors", ck + "x.png", []),
            ("ckpt_cimle_layout", "samples2", ck + "cimle_layout_4111d81.safetensors", ck + "l.png", ["--samples", "2"]),
        ]
        var checked = 0
        for c in cases {
            let out = tmp.appendingPathComponent(c.model)
            let r = try run(["apply", "--model", repo.appendingPathComponent(c.path).path,
                             "--input", repo.appendingPathComponent(c.input).path, "--output", out.path, "--quiet"] + c.extra)
            XCTAssertEqual(r.status, 0, r.err)
            for (key, want) in fx.outputs where key.hasPrefix(c.model + "__" + c.tag + "/") {
                let file = String(key.split(separator: "/").last!)
                let img = try ImageFile.read(out.appendingPathComponent(file)).image.converted(toChannels: 3)
                XCTAssertEqual([img.width, img.height], [want.width, want.height], key)
                var worst = 0.0
                for y in 0..<16 { for x in 0..<16 { for ch in 0..<3 {
                    var s = 0.0, n = 0.0
                    for yy in (y * img.height / 16)..<((y + 1) * img.height / 16) {
                        for xx in (x * img.width / 16)..<((x + 1) * img.width / 16) { s += Double(img.pixels[(yy * img.width + xx) * 3 + ch]); n += 1 }
                    }
                    worst = max(worst, abs(s / n - want.thumb[y][x][ch]))
                } } }
                XCTAssertLessThan(worst, 0.5, "\(key): 16x16 thumbnails differ from those of \(fx.made_by) by up to \(worst) grey levels")
                checked += 1
            }
        }
        XCTAssertEqual(checked, fx.outputs.count, "every recorded output was compared")
        XCTAssertEqual(checked, 7)
    }

    /// The older cIMLE layout checkpoint resumes for another round with today's code (its
    /// settings are read from where that commit kept them).
    func testOlderCheckpointResumes() throws {
        let repo = fixturesURL.deletingLastPathComponent().deletingLastPathComponent()
        let data = tmp.appendingPathComponent("cam")
        for sub in ["train", "trainannot"] { try FileManager.default.createDirectory(at: data.appendingPathComponent(sub), withIntermediateDirectories: true) }
        for i in 0..<2 {
            try ImageFile.write(try makeImage(width: 32, height: 32, seed: UInt64(i)), to: data.appendingPathComponent("train/\(i).png"))
            try ImageFile.write(try Image(width: 32, height: 32, channels: 1, pixels: (0..<1024).map { UInt8($0 % 32 * 4 / 32) }),
                                to: data.appendingPathComponent("trainannot/\(i).png"))
        }
        let run1 = tmp.appendingPathComponent("runs/lay_old")
        try FileManager.default.createDirectory(at: run1, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: repo.appendingPathComponent("Tests/Fixtures/compat/checkpoints/cimle_layout_4111d81.safetensors"),
                                         to: run1.appendingPathComponent("latest.safetensors"))
        let r = try run(["train", "cimle-layout", "--dataroot", data.path, "--name", "lay_old", "--checkpoints-dir", tmp.appendingPathComponent("runs").path,
                         "--num-classes", "4", "--width", "32", "--height", "32", "--levels", "2", "--widths", "8,8", "--noise-channels", "2",
                         "--pool-size", "2", "--visits", "1", "--level-candidates", "2,2", "--lpips-weight", "0", "--rounds", "2", "--resume", "--quiet"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("resuming"), r.err)
        XCTAssertTrue(r.err.contains("--dataroot cam -> "), "the moved data is said: \(r.err)")
        let meta = try SafeTensors.read(run1.appendingPathComponent("latest.safetensors")).metadata
        XCTAssertEqual(meta["epoch"], "2")
    }

    /// A very wide strip (4000 x 8) is upscaled by the shipped x4 model in seconds: the
    /// consistency projection is banded (it used to be a dense inverse of the 4000-wide
    /// downscale, which did not finish).
    /// The shipped x8 model: two samples of a 40x30 crop of the sample photo at 320x240, each
    /// consistent with the input (its bicubic downscale within 40 dB), different from each
    /// other, and the same bits for the same seed.
    func testShippedX8ModelSamples() throws {
        let repo = fixturesURL.deletingLastPathComponent().deletingLastPathComponent()
        let photo = try ImageFile.read(repo.appendingPathComponent("datasets/samples/sr_lowres/chelsea.png")).image
        var px: [UInt8] = []
        for y in 20..<50 { for x in 40..<80 { for c in 0..<3 { px.append(photo.pixels[(y * photo.width + x) * 3 + c]) } } }
        let crop = try Image(width: 40, height: 30, channels: 3, pixels: px)
        let input = tmp.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        try ImageFile.write(crop, to: input.appendingPathComponent("crop.png"))
        var outs: [[Image]] = []
        for name in ["a", "b"] {
            let r = try run(["apply", "--model", repo.appendingPathComponent("models/sr_x8").path, "--input", input.path,
                             "--output", tmp.appendingPathComponent(name).path, "--samples", "2", "--quiet"])
            XCTAssertEqual(r.status, 0, r.err)
            outs.append(try (0..<2).map { try ImageFile.read(tmp.appendingPathComponent("\(name)/crop_s0\($0).png")).image })
        }
        XCTAssertEqual([outs[0][0].width, outs[0][0].height], [320, 240])
        XCTAssertNotEqual(outs[0][0].pixels, outs[0][1].pixels, "different codes, different samples")
        XCTAssertEqual(outs[0].map(\.pixels), outs[1].map(\.pixels), "same seed, same bits")
        for s in outs[0] { XCTAssertGreaterThan(try ImageMetrics.psnr(s.resized(width: 40, height: 30), crop), 40) }
    }

    func testWideStripSuperResolution() throws {
        let repo = fixturesURL.deletingLastPathComponent().deletingLastPathComponent()
        let strip = tmp.appendingPathComponent("strip.png")
        try ImageFile.write(try makeImage(width: 4000, height: 8, seed: 3), to: strip)
        let t0 = Date()
        let r = try run(["apply", "--model", repo.appendingPathComponent("models/sr_x4").path, "--input", strip.path,
                         "--output", tmp.appendingPathComponent("o").path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.err)
        let out = try ImageFile.read(tmp.appendingPathComponent("o/strip_s00.png")).image
        XCTAssertEqual([out.width, out.height], [16000, 32])
        XCTAssertLessThan(Date().timeIntervalSince(t0), 60)
    }
}
