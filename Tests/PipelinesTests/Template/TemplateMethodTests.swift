import XCTest
import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import TestSupport
@testable import Pipelines

/// The method template trains through the shared trainer: checkpoints, loss log, page, and
/// a falling L1 on pairs it can fit.
final class TemplateMethodTests: XCTestCase {
    func testTemplateTrains() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("template-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let split = tmp.appendingPathComponent("data/train")
        try FileManager.default.createDirectory(at: split, withIntermediateDirectories: true)
        var rng = RNG(seed: 1)
        for i in 0..<2 {
            // Aligned [A | B]: B is A mirrored, something L1 regression can learn.
            let a = (0..<(32 * 32 * 3)).map { _ in UInt8(rng.nextInt(256)) }
            var px = [UInt8](repeating: 0, count: 64 * 32 * 3)
            for y in 0..<32 { for x in 0..<32 { for c in 0..<3 {
                px[(y * 64 + x) * 3 + c] = a[(y * 32 + x) * 3 + c]
                px[(y * 64 + 32 + x) * 3 + c] = a[(y * 32 + 31 - x) * 3 + c]
            } } }
            try ImageFile.write(try Image(width: 64, height: 32, channels: 3, pixels: px), to: split.appendingPathComponent("\(i).png"))
        }
        var o = TemplateTrainOptions(dataroot: tmp.appendingPathComponent("data").path, name: "t")
        o.checkpointsDir = tmp.appendingPathComponent("runs").path
        o.data.preprocess = .none
        o.data.flip = false
        o.epochs = 30
        o.model.lr = 0.002
        let t = try GANTrainer<TemplateModel>(options: o, resume: false)
        t.progressEnabled = false
        try t.run()
        let log = try String(contentsOf: t.runDir.appendingPathComponent("loss_log.jsonl"), encoding: .utf8)
            .split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let l1 = log.compactMap { ($0["losses"] as? [String: Double])?["L1"] }
        XCTAssertEqual(l1.count, 60)
        XCTAssertLessThan(l1.suffix(4).reduce(0, +) / 4, 0.8 * l1.prefix(4).reduce(0, +) / 4, "L1 falls: \(l1)")
        for f in ["latest.safetensors", "index.html"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: t.runDir.appendingPathComponent(f).path), f)
        }
    }
}
