import XCTest
import Foundation
import Tensors
import NN
import ImageIO
import TranslateCLI
@testable import Pipelines

/// A temporary folder per test with tiny generated images.
class CLITestCase: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("translate-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// A smooth random RGB (or gray) image.
    func makeImage(width: Int, height: Int, channels: Int = 3, seed: UInt64) throws -> Image {
        var rng = RNG(seed: seed)
        let base = (0..<channels).map { _ in Float(rng.nextInt(200)) }
        var px = [UInt8](repeating: 0, count: width * height * channels)
        for y in 0..<height { for x in 0..<width { for c in 0..<channels {
            let v = base[c] + Float((x * (c + 1) + y * 2) % 40) + Float(rng.nextInt(16))
            px[(y * width + x) * channels + c] = UInt8(min(255, max(0, v)))
        } } }
        return try Image(width: width, height: height, channels: channels, pixels: px)
    }

    /// An aligned dataset: `count` files of (2*side) x side, [A | B].
    @discardableResult
    func makeAligned(_ dir: URL, count: Int, side: Int = 32, ext: String = "png") throws -> URL {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for i in 0..<count {
            try ImageFile.write(try makeImage(width: 2 * side, height: side, seed: UInt64(i + 1)),
                                to: dir.appendingPathComponent(String(format: "%03d.%@", i, ext)))
        }
        return dir
    }

    /// Small but complete pix2pix options: unet-32, ngf 4, ndf 4, crop 32.
    func tinyOptions(dataroot: URL, name: String, epochs: Int = 1, decay: Int = 1) -> Pix2PixTrainOptions {
        var o = Pix2PixTrainOptions(dataroot: dataroot.path, name: name)
        o.checkpointsDir = tmp.appendingPathComponent("runs").path
        o.model.netG = .unet32
        o.model.ngf = 4
        o.model.ndf = 4
        o.data.loadSize = 36
        o.data.cropSize = 32
        o.epochs = epochs
        o.epochsDecay = decay
        o.seed = 5
        o.samples = 1
        return o
    }

    func assertThrows(_ what: String, contains needles: [String], file: StaticString = #filePath, line: UInt = #line,
                      _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), what, file: file, line: line) { e in
            let msg = "\(e)"
            for n in needles { XCTAssertTrue(msg.contains(n), "\(what): '\(msg)' does not mention '\(n)'", file: file, line: line) }
        }
    }

    /// The executable built next to the test bundle.
    var executable: URL {
        get throws {
            var dir = Bundle.main.bundleURL
            for _ in 0..<3 {
                let candidate = dir.appendingPathComponent("translate")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                dir = dir.deletingLastPathComponent()
            }
            throw TranslateError.notFound(path: Bundle.main.bundleURL.path, what: "the translate executable near the test bundle")
        }
    }

    /// Runs the executable to its end: its exit status, standard output and standard error.
    func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        try runProcess(try executable, args)
    }

    /// Runs `program` to its end with `extraEnvironment` added (and the BLAS re-execution off).
    /// The records of a run's `loss_log.jsonl` (`run`: the run folder).
    func lossRecords(_ run: URL) throws -> [LossRecord] {
        try String(contentsOf: run.appendingPathComponent("loss_log.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONDecoder().decode(LossRecord.self, from: Data($0.utf8)) }
    }

    /// A process for `program args` with the test environment (no BLAS core-type re-exec).
    func makeProcess(_ program: URL, _ args: [String], extraEnvironment: [String: String]) -> Process {
        let p = Process()
        p.executableURL = program
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["TRANSLATE_NO_BLAS_CORETYPE"] = "1"
        env.merge(extraEnvironment) { $1 }
        p.environment = env
        return p
    }

    func runProcess(_ program: URL, _ args: [String], extraEnvironment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let p = makeProcess(program, args, extraEnvironment: extraEnvironment)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Starts `program args` in the background (stdout discarded, stderr in the pipe), once
    /// `log` has `lines` lines (a training's loss log) sends `signal`, and returns the process
    /// after it ended with its stderr.
    func signalWhenLogged(_ program: URL, _ args: [String], extraEnvironment: [String: String] = [:],
                          log: URL, lines: Int, signal: Int32) throws -> (process: Process, err: String) {
        let p = makeProcess(program, args, extraEnvironment: extraEnvironment)
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").count < lines { usleep(2000) }
        kill(p.processIdentifier, signal)
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p, errText)
    }

    func expectFailure(_ args: [String], mentions needle: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(args)
        XCTAssertNotEqual(r.status, 0, "\(args) should fail", file: file, line: line)
        XCTAssertTrue(r.err.contains(needle), "\(args): stderr '\(r.err)' does not mention '\(needle)'", file: file, line: line)
    }
}
