import XCTest
import Foundation
import Tensors
import ImageIO
import Datasets
import TranslateCLI
@testable import Pipelines

/// The colorization task: L in, ab out, trained with the pix2pix objective; apply colours
/// photos at their own size; eval scores against the colour originals.
final class ColorizationTests: CLITestCase {
    func testSplitAndMergeRecoverThePhoto() throws {
        let img = try makeImage(width: 9, height: 7, seed: 3)
        let (l, ab) = Colorization.split(img)
        XCTAssertEqual(l.shape, [1, 1, 7, 9]); XCTAssertEqual(ab.shape, [1, 2, 7, 9])
        XCTAssertTrue(l.data.allSatisfy { $0 >= -1 && $0 <= 1 })
        XCTAssertTrue(ab.data.allSatisfy { abs($0) <= 1.2 })
        let back = try Colorization.merge(l: l, ab: ab)
        XCTAssertEqual(back.channels, 3)
        XCTAssertLessThanOrEqual(zip(back.pixels, img.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0, 1)
        // A gray photo has no colour.
        let (_, ab0) = Colorization.split(img.converted(toChannels: 1))
        XCTAssertLessThan(ab0.data.map(abs).max() ?? 1, 1e-3)
    }

    func testTrainApplyEval() throws {
        let root = tmp.appendingPathComponent("flowers")
        for d in ["trainA", "trainB", "testA"] {
            let dir = root.appendingPathComponent(d)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for i in 0..<2 { try ImageFile.write(try makeImage(width: 40, height: 36, seed: UInt64(i + d.count * 10)), to: dir.appendingPathComponent("\(i).png")) }
        }
        let runs = tmp.appendingPathComponent("runs")
        let r = try run(["train", "colorization", "--dataroot", root.path, "--name", "c", "--checkpoints-dir", runs.path,
                         "--net-g", "unet-32", "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32",
                         "--epochs", "1", "--epochs-decay", "0", "--quiet"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("trainA") && r.err.contains("trainB"), "both domains are read: \(r.err)")
        XCTAssertTrue(r.out.contains("4 photos") || r.err.contains("4 photos"), r.out + r.err)
        // A gray and a colour input, odd sizes: colour outputs at the input's size.
        let input = tmp.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        try ImageFile.write(try makeImage(width: 23, height: 17, seed: 9).converted(toChannels: 1), to: input.appendingPathComponent("gray.png"))
        try ImageFile.write(try makeImage(width: 30, height: 21, seed: 8), to: input.appendingPathComponent("colour.png"))
        let a = try run(["apply", "--model", runs.appendingPathComponent("c").path, "--input", input.path, "--output", tmp.appendingPathComponent("o").path])
        XCTAssertEqual(a.status, 0, a.err)
        let g = try ImageFile.read(tmp.appendingPathComponent("o/gray.png")).image
        XCTAssertEqual([g.width, g.height, g.channels], [23, 17, 3])
        let c = try ImageFile.read(tmp.appendingPathComponent("o/colour.png")).image
        XCTAssertEqual([c.width, c.height, c.channels], [30, 21, 3])
        // Scored against the colour originals of testA.
        let s = try run(["apply", "--model", runs.appendingPathComponent("c").path, "--dataroot", root.path, "--output", tmp.appendingPathComponent("s").path])
        XCTAssertEqual(s.status, 0, s.err)
        XCTAssertTrue(s.out.contains("mean PSNR"), s.out)
        let e = try run(["eval", "--model", runs.appendingPathComponent("c").path, "--dataroot", root.path, "--output", tmp.appendingPathComponent("e").path,
                         "--samples", "2"])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.lowercased().contains("psnr"), e.out)
    }
}
