import XCTest
import Foundation
import ImageIO
import TranslateCLI
@testable import Pipelines

/// Runs the built `translate` executable: bad input gives a message naming the file or flag
/// on standard error and a non-zero exit status.
final class ExecutableTests: CLITestCase {
    func testBadInputExitsNonZeroNamingFileOrFlag() throws {
        let missing = tmp.appendingPathComponent("no_such_data").path
        try expectFailure(["train", "pix2pix", "--dataroot", missing, "--name", "x", "--checkpoints-dir", tmp.path], mentions: "no_such_data")
        try expectFailure(["train", "pix2pix", "--dataroot", tmp.path, "--name", "x", "--net-g", "unet-7"], mentions: "--net-g")
        try expectFailure(["train", "pix2pix", "--dataroot", tmp.path, "--name", "x", "--gan-mode", "wgangp"], mentions: "--gan-mode")
        try expectFailure(["train", "pix2pix", "--dataroot", tmp.path, "--name", "x", "--frobnicate"], mentions: "--frobnicate")
        try expectFailure(["apply", "--model", tmp.appendingPathComponent("nomodel.safetensors").path, "--input", tmp.path,
                           "--output", tmp.appendingPathComponent("o").path], mentions: "nomodel.safetensors")
        let junk = tmp.appendingPathComponent("junk.safetensors")
        try Data("garbage".utf8).write(to: junk)
        try expectFailure(["apply", "--model", junk.path, "--input", tmp.path, "--output", tmp.appendingPathComponent("o").path],
                          mentions: "junk.safetensors")
        try expectFailure(["apply", "--model", junk.path, "--output", "o"], mentions: "--input")
        try expectFailure(["eval", "--pred", tmp.path, "--target", tmp.path, "--samples", "0"], mentions: "--samples")
        try expectFailure(["eval", "--model", junk.path], mentions: "--dataroot")
        try expectFailure(["eval", "--pred", tmp.appendingPathComponent("no_preds").path, "--target", tmp.path,
                           "--output", tmp.appendingPathComponent("o").path], mentions: "no_preds")
        try expectFailure(["eval", "--model", junk.path, "--dataroot", tmp.path, "--output", tmp.appendingPathComponent("o").path],
                          mentions: "junk.safetensors")
        try expectFailure(["train", "cimle-sr", "--dataroot", tmp.path, "--name", "x", "--scale", "3"], mentions: "--scale")
        try expectFailure(["train", "cimle-layout", "--dataroot", tmp.path, "--name", "x", "--width", "100"], mentions: "--width")
        try expectFailure(["train", "cimle-sr", "--dataroot", tmp.path, "--name", "x", "--level-candidates", "4,x"], mentions: "--level-candidates")
        // An empty training folder.
        let empty = tmp.appendingPathComponent("empty/train")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try expectFailure(["train", "pix2pix", "--dataroot", empty.deletingLastPathComponent().path, "--name", "x",
                           "--checkpoints-dir", tmp.path], mentions: "empty")
    }

    func testHelpListsChoices() throws {
        let r = try run(["train", "pix2pix", "--help"])
        XCTAssertEqual(r.status, 0)
        for s in ["unet-256", "unet-128", "vanilla", "lsgan", "resize-and-crop", "b-to-a", "--lambda-l1", "--resume", "--seed"] {
            XCTAssertTrue(r.out.contains(s), "help lacks \(s)")
        }
    }
}
