import XCTest
import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import Pipelines
import TranslateCLI
import TestSupport

/// Hostile command lines and faults at the command level: each class gives a clear error
/// naming the flag or path and a non-zero exit, and nothing is lost.
final class HostileCLITests: CLITestCase {
    var root: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        root = try makeAligned(tmp.appendingPathComponent("d/train"), count: 2).deletingLastPathComponent()
    }

    func trainArgs(_ name: String, dir: String? = nil) -> [String] {
        ["train", "pix2pix", "--dataroot", root.path, "--name", name, "--checkpoints-dir", dir ?? tmp.appendingPathComponent("runs").path,
         "--net-g", "unet-32", "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32",
         "--epochs", "1", "--epochs-decay", "0", "--quiet"]
    }

    /// A process with its standard error on `err` (a file handle), to its end.
    func runProcess(_ args: [String], stderr err: FileHandle, shell: String? = nil) throws -> Process {
        let p = Process()
        if let shell {
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = ["-c", shell + " \"$@\"", "bash", try executable.path] + args
        } else {
            p.executableURL = try executable
            p.arguments = args
        }
        var env = ProcessInfo.processInfo.environment
        env["TRANSLATE_NO_BLAS_CORETYPE"] = "1"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        return p
    }

    func testRunNamesStayInsideTheCheckpointsFolder() throws {
        for bad in ["..", ".", "a/b", "-x"] {
            let r = try run(trainArgs(bad))
            XCTAssertNotEqual(r.status, 0, bad)
            XCTAssertTrue(r.err.contains("--name"), "\(bad): \(r.err)")
        }
        // A run written into the dataset it reads would train on its own samples next time.
        let r = try run(trainArgs("train", dir: root.path))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("--checkpoints-dir") && r.err.contains("--dataroot"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("train/latest.safetensors").path))
    }

    func testHyperParametersOutOfRangeAreRefusedByName() throws {
        for (flag, value) in [("--lr", "nan"), ("--lr", "1e8"), ("--beta1", "2"), ("--lambda-l1", "-1"), ("--ngf", "100000"),
                              ("--load-size", "100000"), ("--samples", "-1"), ("--init-gain", "inf"), ("--batch-size", "0")] {
            var args = trainArgs("h")
            if let i = args.firstIndex(of: flag) { args[i + 1] = value } else { args += [flag, value] }
            let r = try run(args)
            XCTAssertNotEqual(r.status, 0, "\(flag) \(value)")
            XCTAssertTrue(r.err.contains(flag), "\(flag) \(value): \(r.err)")
            XCTAssertFalse(r.err.contains("EncodingError"), r.err)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("runs/h/latest.safetensors").path))
    }

    /// A second writer of one run is refused while the first holds it; the lock goes with
    /// its holder, so a killed process never blocks.
    func testTwoTrainingsOnOneRunAreRefused() throws {
        let o = tinyOptions(dataroot: root, name: "locked", epochs: 1, decay: 0)
        do {
            let held = try RunLock(folder: o.runDirectory)
            let t = try Pix2PixTrainer(options: o, resume: false)
            t.progressEnabled = false
            assertThrows("second writer", contains: ["another training is writing this run", "process \(getpid())"]) { try t.run() }
            withExtendedLifetime(held) {}
        }
        let t = try Pix2PixTrainer(options: o, resume: false)
        t.progressEnabled = false
        XCTAssertNoThrow(try t.run())
    }

    /// A loss that becomes NaN stops the run naming the step; the last good checkpoint stays.
    func testNonFiniteLossStopsWithoutSaving() throws {
        let t = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "nan", epochs: 2, decay: 0), resume: false)
        t.progressEnabled = false
        try t.run(stopAfterEpochs: 1)
        let before = try Data(contentsOf: t.latestURL)
        let r = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "nan", epochs: 2, decay: 0), resume: true)
        r.progressEnabled = false
        for p in r.model.netG.parameters { p.data = [Float](repeating: .nan, count: p.data.count) }
        assertThrows("nan loss", contains: ["became NaN", "step 3", "keeps the last good state"]) { try r.run() }
        XCTAssertEqual(try Data(contentsOf: t.latestURL), before)
    }

    /// Outputs that are their own inputs (also through a symbolic link) are refused.
    func testOutputsNeverReplaceTheirInputs() throws {
        XCTAssertEqual(try run(trainArgs("src")).status, 0)
        let latest = tmp.appendingPathComponent("runs/src/latest.safetensors")
        let before = try Data(contentsOf: latest)
        let ex = try run(["export", "--model", tmp.appendingPathComponent("runs/src").path, "--output", latest.path])
        XCTAssertNotEqual(ex.status, 0)
        XCTAssertTrue(ex.err.contains("--output") && ex.err.contains("destroy the source"), ex.err)
        XCTAssertEqual(try Data(contentsOf: latest), before)
        let pth = tmp.appendingPathComponent("g.pth")
        try Data("not really".utf8).write(to: pth)
        let im = try run(["import", "--pth", pth.path, "--net-g", "unet-32", "--ngf", "4", "--output", pth.path])
        XCTAssertNotEqual(im.status, 0)
        XCTAssertTrue(im.err.contains("--output"), im.err)
        XCTAssertEqual(try String(contentsOf: pth, encoding: .utf8), "not really")
        // apply --output reaching the input folder through a link.
        let inputs = tmp.appendingPathComponent("inputs")
        try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
        try ImageFile.write(try makeImage(width: 32, height: 32, seed: 4), to: inputs.appendingPathComponent("x.png"))
        let link = tmp.appendingPathComponent("link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: inputs)
        let original = try Data(contentsOf: inputs.appendingPathComponent("x.png"))
        let ap = try run(["apply", "--model", tmp.appendingPathComponent("runs/src").path, "--input", inputs.path, "--output", link.path])
        XCTAssertNotEqual(ap.status, 0)
        XCTAssertTrue(ap.err.contains("would overwrite the input"), ap.err)
        XCTAssertEqual(try Data(contentsOf: inputs.appendingPathComponent("x.png")), original)
        // An --output that is an existing file.
        let file = tmp.appendingPathComponent("afile")
        try Data().write(to: file)
        let af = try run(["apply", "--model", tmp.appendingPathComponent("runs/src").path, "--input", inputs.path, "--output", file.path])
        XCTAssertNotEqual(af.status, 0)
        XCTAssertTrue(af.err.contains("--output") && af.err.contains("is a file"), af.err)
    }

    /// Standard error on /dev/full does not crash; a file-size limit fails the checkpoint
    /// write with a message and a non-zero exit instead of killing the process.
    func testWritesThatFail() throws {
        XCTAssertEqual(try run(trainArgs("m")).status, 0)
        let full = try XCTUnwrap(FileHandle(forWritingAtPath: "/dev/full"))
        let p = try runProcess(["apply", "--model", tmp.appendingPathComponent("runs/m").path, "--input", root.appendingPathComponent("train").path,
                                "--output", tmp.appendingPathComponent("o").path], stderr: full)
        XCTAssertEqual(p.terminationReason, .exit)
        XCTAssertEqual(p.terminationStatus, 0)
        let errURL = tmp.appendingPathComponent("err.txt")
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let errFile = try FileHandle(forWritingTo: errURL)
        let q = try runProcess(trainArgs("limited"), stderr: errFile, shell: "ulimit -f 16; exec")
        try errFile.close()
        let text = try String(contentsOf: errURL, encoding: .utf8)
        XCTAssertEqual(q.terminationReason, .exit, text)
        XCTAssertNotEqual(q.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("runs/limited"), text)
    }

    /// Conversions are said once per kind with the first file, then counted.
    func testConversionsAreSaidOnceAndCounted() throws {
        let images = fixturesURL.appendingPathComponent("images")
        let input = tmp.appendingPathComponent("mixed")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        for (src, dst) in [("gray_alpha.png", "a1.png"), ("palette_trns.png", "a2.png"), ("gray16.png", "g.png"), ("rgb.png", "r.png")] {
            try FileManager.default.copyItem(at: images.appendingPathComponent(src), to: input.appendingPathComponent(dst))
        }
        XCTAssertEqual(try run(trainArgs("m")).status, 0)
        let r = try run(["apply", "--model", tmp.appendingPathComponent("runs/m").path, "--input", input.path,
                         "--output", tmp.appendingPathComponent("o").path])
        XCTAssertEqual(r.status, 0, r.err)
        let alphaLines = r.err.split(separator: "\n").filter { $0.hasPrefix("note:") && $0.contains("alpha channel dropped") }
        XCTAssertEqual(alphaLines.count, 1, r.err)
        XCTAssertTrue(alphaLines.first?.contains("a1.png") ?? false, r.err)
        XCTAssertTrue(r.err.contains("alpha channel dropped: 2 files (first: \(input.appendingPathComponent("a1.png").path))"), r.err)
        XCTAssertTrue(r.err.contains("16-bit"), r.err)
        let page = try String(contentsOf: tmp.appendingPathComponent("o/index.html"), encoding: .utf8)
        XCTAssertTrue(page.contains("conversions"), "the page says what was converted")
    }

    /// A resume removes partial writes of killed processes and refuses a damaged counter by name.
    func testResumeCleansPartialWritesAndRefusesDamagedCounters() throws {
        XCTAssertEqual(try run(trainArgs("m")).status, 0)
        let runDir = tmp.appendingPathComponent("runs/m")
        let stale = runDir.appendingPathComponent(".latest.safetensors.99999999.77.tmp")
        try Data(count: 100).write(to: stale)
        var args = trainArgs("m") + ["--resume"]
        args[args.firstIndex(of: "--epochs")! + 1] = "2"
        let r = try run(args)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("removed \(stale.lastPathComponent)"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))

        let latest = runDir.appendingPathComponent("latest.safetensors")
        let f = try SafeTensors.read(latest)
        var meta = f.metadata
        meta["epoch"] = "two"
        try SafeTensors.write(f.tensors, metadata: meta, to: latest)
        args[args.firstIndex(of: "--epochs")! + 1] = "3"
        let q = try run(args)
        XCTAssertNotEqual(q.status, 0)
        XCTAssertTrue(q.err.contains("latest.safetensors") && q.err.contains("'epoch'"), q.err)
    }

    /// A model file's kind is read in one place: a file without one, or with an unknown one,
    /// or whose configuration does not decode, is refused naming the file and the field.
    func testModelFilesWithoutAKnownKindAreRefused() throws {
        XCTAssertEqual(try run(trainArgs("m")).status, 0)
        let latest = tmp.appendingPathComponent("runs/m/latest.safetensors")
        let f = try SafeTensors.read(latest)
        func variant(_ name: String, _ edit: (inout [String: String]) -> Void) throws -> String {
            var meta = f.metadata
            edit(&meta)
            let url = tmp.appendingPathComponent(name + ".safetensors")
            try SafeTensors.write(f.tensors, metadata: meta, to: url)
            return url.path
        }
        let out = tmp.appendingPathComponent("o").path
        let input = root.appendingPathComponent("train").path
        try expectFailure(["apply", "--model", try variant("nokind") { $0["kind"] = nil }, "--input", input, "--output", out],
                          mentions: "nokind.safetensors: no 'kind' field")
        try expectFailure(["apply", "--model", try variant("alien") { $0["kind"] = "stylegan" }, "--input", input, "--output", out],
                          mentions: "kind 'stylegan' is not one this version knows")
        try expectFailure(["apply", "--model", try variant("badcfg") { $0["config"] = #"{"model": 3}"# }, "--input", input, "--output", out],
                          mentions: "configuration does not decode")
        try expectFailure(["info", try variant("nokind2") { $0["kind"] = nil }], mentions: "no 'kind' field")
        // The shipped perceptual network is named as what it is.
        let lpips = fixturesURL.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("models/lpips_alexnet").path
        try expectFailure(["apply", "--model", lpips, "--input", input, "--output", out], mentions: "perceptual-metric network")
        // A pix2pix checkpoint given to cycle evaluation is refused by method.
        let i = try run(["info", latest.path])
        XCTAssertTrue(i.out.contains("pix2pix (conditional GAN on pairs), training checkpoint"), i.out)
    }

    /// `--threads` on any command: the same checkpoint and outputs at 1 and 5 threads; a bad
    /// value is refused naming the flag.
    func testThreadsFlagGivesTheSameBits() throws {
        XCTAssertEqual(try run(["--threads", "1"] + trainArgs("t1")).status, 0)
        XCTAssertEqual(try run(trainArgs("t5") + ["--threads=5"]).status, 0)
        let a = try SafeTensors.read(tmp.appendingPathComponent("runs/t1/latest.safetensors"))
        let b = try SafeTensors.read(tmp.appendingPathComponent("runs/t5/latest.safetensors"))
        XCTAssertEqual(a.tensors.map(\.0), b.tensors.map(\.0))
        for ((k, x), (_, y)) in zip(a.tensors, b.tensors) {
            XCTAssertTrue(zip(x.data, y.data).allSatisfy { $0.bitPattern == $1.bitPattern }, k)
        }
        let input = root.appendingPathComponent("train").path
        for t in ["1", "3"] {
            XCTAssertEqual(try run(["apply", "--threads", t, "--model", tmp.appendingPathComponent("runs/t1").path, "--input", input,
                                    "--output", tmp.appendingPathComponent("out\(t)").path, "--quiet"]).status, 0)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: input).filter { $0.hasSuffix(".png") }
        XCTAssertFalse(names.isEmpty)
        for n in names {
            XCTAssertEqual(try Data(contentsOf: tmp.appendingPathComponent("out1/\(n)")), try Data(contentsOf: tmp.appendingPathComponent("out3/\(n)")), n)
        }
        try expectFailure(["--threads", "many", "list"], mentions: "--threads 'many'")
        try expectFailure(["list", "--threads", "-1"], mentions: "--threads '-1'")
    }

    /// A file whose name is not valid UTF-8 cannot be opened by name through Foundation:
    /// it is skipped with that reason (not called "not an image file"), the others are read.
    func testInvalidUTF8NameIsNamedAsSuch() throws {
        let pred = tmp.appendingPathComponent("pred"), target = tmp.appendingPathComponent("target")
        for d in [pred, target] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            try ImageFile.write(try makeImage(width: 32, height: 32, seed: 1), to: d.appendingPathComponent("a.png"))
        }
        // b<0xff>.png, made with the C library (Swift strings cannot hold the byte).
        let png = try Data(contentsOf: pred.appendingPathComponent("a.png"))
        var bytes = Array((pred.path + "/b").utf8) + [0xff] + Array(".png".utf8) + [0]
        let fd = bytes.withUnsafeMutableBufferPointer { p in p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { open($0, O_WRONLY | O_CREAT, 0o644) } }
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = png.withUnsafeBytes { write(fd, $0.baseAddress, png.count) }
        close(fd)
        let r = try run(["eval", "--pred", pred.path, "--target", target.path, "--output", tmp.appendingPathComponent("e").path, "--quiet"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("not valid UTF-8"), r.err)
        XCTAssertFalse(r.err.contains("not an image file"), r.err)
    }
}
