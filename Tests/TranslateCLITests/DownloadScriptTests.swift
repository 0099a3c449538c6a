import XCTest
import Foundation

/// datasets/download.sh and models/download.sh, run by tools/test_downloads.sh against a
/// mirror of tiny archives on this machine (file:// URLs and a loopback HTTP server): good,
/// truncated, corrupted and wrongly laid out archives, checksums, interrupted downloads,
/// skipping existing data, and tiny torch checkpoints converted with the built `translate`.
final class DownloadScriptTests: XCTestCase {
    /// The repository root, from this file's path (Tests/TranslateCLITests/<file>).
    private var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The `translate` executable built next to the test bundle (as ExecutableTests finds it).
    private func translateExecutable() throws -> URL {
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("translate")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        struct MissingExecutable: Error, CustomStringConvertible {
            let bundle: String
            var description: String { "no translate executable near the test bundle \(bundle): build the package (swift build -c release) first" }
        }
        throw MissingExecutable(bundle: Bundle.main.bundleURL.path)
    }

    func testDownloadScriptsAgainstLoopbackMirror() throws {
        let script = repositoryRoot.appendingPathComponent("tools/test_downloads.sh")
        guard FileManager.default.fileExists(atPath: script.path) else {
            return XCTFail("missing \(script.path)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["bash", script.path]
        p.currentDirectoryURL = repositoryRoot
        var env = ProcessInfo.processInfo.environment
        env["TRANSLATE_BIN"] = try translateExecutable().path
        env["TRANSLATE_NO_BLAS_CORETYPE"] = "1"
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        let last = output.split(separator: "\n").last.map(String.init) ?? ""
        if output.contains("SKIP:") {
            return XCTFail("tools/test_downloads.sh could not run (install its tools with `bash tools/install-deps.sh --tests`):\n\(output)")
        }
        XCTAssertEqual(p.terminationStatus, 0, "tools/test_downloads.sh failed:\n\(output)")
        XCTAssertTrue(last.hasSuffix(" passed, 0 failed"), "unexpected last line '\(last)':\n\(output)")
        XCTAssertFalse(last.hasPrefix("0 passed"), "nothing was tested:\n\(output)")
    }
}
