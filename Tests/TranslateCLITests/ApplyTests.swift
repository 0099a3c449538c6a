import XCTest
import Foundation
import Tensors
import NN
import ImageIO
import Pipelines
import TranslateCLI

final class ApplyTests: CLITestCase {
    /// Trains one tiny epoch and returns the run folder.
    func trainedRun(inputNc: Int = 3, outputNc: Int = 3) throws -> URL {
        let root = try makeAligned(tmp.appendingPathComponent("d/train"), count: 2).deletingLastPathComponent()
        var o = tinyOptions(dataroot: root, name: "m\(inputNc)\(outputNc)", epochs: 1, decay: 0)
        o.model.inputNc = inputNc; o.model.outputNc = outputNc
        o.data.inputNc = inputNc; o.data.outputNc = outputNc
        let t = try Pix2PixTrainer(options: o, resume: false)
        t.progressEnabled = false
        try t.run()
        return t.runDir
    }

    func testTranslatesFoldersKeepingNamesSizesAndStructure() throws {
        let run = try trainedRun()
        let inDir = tmp.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: inDir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try ImageFile.write(try makeImage(width: 37, height: 23, seed: 1), to: inDir.appendingPathComponent("a.png"))
        try ImageFile.write(try makeImage(width: 40, height: 32, seed: 2), to: inDir.appendingPathComponent("sub/b.jpg"))
        try ImageFile.write(try makeImage(width: 40, height: 32, seed: 3), to: inDir.appendingPathComponent("sub/c.png"))
        try Data("not an image".utf8).write(to: inDir.appendingPathComponent("notes.txt"))
        let out = tmp.appendingPathComponent("out")
        let job = try ApplyJob(modelPath: run.path, inputs: [inDir.path], dataroot: nil, datasetMode: .aligned, direction: nil,
                               output: out.path, batchSize: 2, testMode: .eval, seed: 0, loadSize: nil)
        job.quiet = true
        let r = try job.translateAll()
        XCTAssertEqual(r.translated, 3)
        XCTAssertTrue(r.failed.isEmpty)
        let a = try ImageFile.read(out.appendingPathComponent("a.png")).image
        XCTAssertEqual([a.width, a.height, a.channels], [37, 23, 3])
        // --samples is for cIMLE models.
        let cmd = try Apply.parse(["--model", run.path, "--input", inDir.path, "--output", tmp.appendingPathComponent("o2").path, "--samples", "3"])
        assertThrows("--samples with pix2pix", contains: ["--samples", "translate eval"]) { try cmd.run() }
        let b = try ImageFile.read(out.appendingPathComponent("sub/b.jpg")).image
        XCTAssertEqual([b.width, b.height], [40, 32])
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("sub/c.png") && html.contains("eval (running statistics"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("notes.txt").path))
        // Batching does not change results in eval mode.
        let out1 = tmp.appendingPathComponent("out1")
        let job1 = try ApplyJob(modelPath: run.path, inputs: [inDir.path], dataroot: nil, datasetMode: .aligned, direction: nil,
                                output: out1.path, batchSize: 1, testMode: .eval, seed: 0, loadSize: nil)
        job1.quiet = true
        _ = try job1.translateAll()
        XCTAssertEqual(try ImageFile.read(out1.appendingPathComponent("sub/c.png")).image,
                       try ImageFile.read(out.appendingPathComponent("sub/c.png")).image)
    }

    /// In paper mode each image uses its own statistics: batched == one at a time (no dropout
    /// difference: dropout masks depend on the batch layout, so compare a model without it).
    func testPaperModeBatchStatisticsArePerImage() throws {
        var rng = RNG(seed: 1)
        let g = try UnetGenerator(inputNc: 3, outputNc: 3, numDowns: 5, ngf: 4, norm: .batch, useDropout: false, rng: &rng)
        let x = Tensor.randn([3, 3, 32, 32], rng: &rng)
        let batched = try g.translate(x, mode: .paper)
        for i in 0..<3 {
            let one = try g.translate(try narrow(x, dim: 0, start: i, length: 1), mode: .paper)
            let part = try narrow(batched, dim: 0, start: i, length: 1)
            for j in 0..<one.count { XCTAssertEqual(one.data[j], part.data[j], accuracy: 1e-5) }
        }
        XCTAssertTrue(g.training, "mode restored")
        let bn = g.namedModules().compactMap { $0.1 as? BatchNorm2d }.first!
        XCTAssertEqual(bn.runningMean!.data, [Float](repeating: 0, count: bn.runningMean!.count), "running stats untouched")
    }

    func testDatarootTargetsAreScoredAndGrayscaleStaysSingleChannel() throws {
        let run = try trainedRun(inputNc: 1, outputNc: 1)
        let val = try makeAligned(tmp.appendingPathComponent("val"), count: 2)
        let out = tmp.appendingPathComponent("o")
        let job = try ApplyJob(modelPath: run.path, inputs: [], dataroot: val.path, datasetMode: .aligned, direction: nil,
                               output: out.path, batchSize: 4, testMode: .paper, seed: 0, loadSize: nil)
        job.quiet = true
        let r = try job.translateAll()
        XCTAssertEqual(r.translated, 2)
        XCTAssertNotNil(r.meanL1); XCTAssertNotNil(r.meanPSNR)
        let img = try ImageFile.read(out.appendingPathComponent("000.png")).image
        XCTAssertEqual(img.channels, 1)
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("target") && html.contains("PSNR"))
    }

    func testCorruptInputsAreReportedOthersWrittenAndInputsNeverOverwritten() throws {
        let run = try trainedRun()
        let inDir = tmp.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: inDir, withIntermediateDirectories: true)
        try ImageFile.write(try makeImage(width: 32, height: 32, seed: 1), to: inDir.appendingPathComponent("good.png"))
        try Data("this is text".utf8).write(to: inDir.appendingPathComponent("fake.jpg"))
        let out = tmp.appendingPathComponent("out")
        let job = try ApplyJob(modelPath: run.path, inputs: [inDir.path], dataroot: nil, datasetMode: .aligned, direction: nil,
                               output: out.path, batchSize: 2, testMode: .eval, seed: 0, loadSize: nil)
        job.quiet = true
        assertThrows("corrupt input", contains: ["fake.jpg"]) { _ = try job.run() }
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("good.png").path))
        assertThrows("output over input", contains: ["--output"]) {
            _ = try ApplyJob(modelPath: run.path, inputs: [inDir.path], dataroot: nil, datasetMode: .aligned, direction: nil,
                             output: inDir.path, batchSize: 1, testMode: .eval, seed: 0, loadSize: nil)
        }
        assertThrows("missing model", contains: ["nomodel"]) {
            _ = try ApplyJob(modelPath: tmp.appendingPathComponent("nomodel").path, inputs: [inDir.path], dataroot: nil,
                             datasetMode: .aligned, direction: nil, output: out.path, batchSize: 1, testMode: .eval, seed: 0, loadSize: nil)
        }
        let junk = tmp.appendingPathComponent("junk.safetensors")
        try Data(repeating: 7, count: 100).write(to: junk)
        assertThrows("damaged model", contains: ["junk.safetensors"]) {
            _ = try ApplyJob(modelPath: junk.path, inputs: [inDir.path], dataroot: nil, datasetMode: .aligned, direction: nil,
                             output: out.path, batchSize: 1, testMode: .eval, seed: 0, loadSize: nil)
        }
        assertThrows("missing input", contains: ["missing.png"]) {
            _ = try ApplyJob(modelPath: run.path, inputs: [tmp.appendingPathComponent("missing.png").path], dataroot: nil,
                             datasetMode: .aligned, direction: nil, output: out.path, batchSize: 1, testMode: .eval, seed: 0, loadSize: nil)
        }
    }

    func testExportFP16IsSmallerAndTranslatesAlike() throws {
        let run = try trainedRun()
        let full = try LoadedGenerator(path: run.path)
        let half = tmp.appendingPathComponent("g16.safetensors")
        try full.export(to: half, fp16: true)
        let h = try LoadedGenerator(path: half.path)
        var rng = RNG(seed: 4)
        let x = Tensor.randn([1, 3, 32, 32], rng: &rng)
        let a = try full.netG.translate(x, mode: .eval), b = try h.netG.translate(x, mode: .eval)
        for i in 0..<a.count { XCTAssertEqual(a.data[i], b.data[i], accuracy: 2e-2) }
        let fullSize = try Data(contentsOf: run.appendingPathComponent("latest.safetensors")).count
        XCTAssertLessThan(try Data(contentsOf: half).count, fullSize / 4)
    }
}
