import XCTest
import Foundation
import Tensors
import ImageIO
import Datasets
import NN
import TranslateCLI
@testable import Pipelines

/// Methods and tasks combine: pix2pix on class-id layouts, cIMLE on plain paired folders and
/// on colorization, each trained, applied and evaluated from the command line.
final class TaskMethodTests: CLITestCase {
    /// A CamVid-like split: photos in <split>/, class ids (0..<classes) in <split>annot/.
    func makeCamVid(_ root: URL, splits: [String], count: Int, width: Int = 40, height: Int = 30, classes: Int = 5) throws {
        for split in splits {
            for sub in [split, split + "annot"] {
                try FileManager.default.createDirectory(at: root.appendingPathComponent(sub), withIntermediateDirectories: true)
            }
            for i in 0..<count {
                try ImageFile.write(try makeImage(width: width, height: height, seed: UInt64(i + 7 * split.count)), to: root.appendingPathComponent("\(split)/f\(i).png"))
                let ids = (0..<(width * height)).map { UInt8(($0 % width * classes / width + i) % classes) }
                try ImageFile.write(try Image(width: width, height: height, channels: 1, pixels: ids), to: root.appendingPathComponent("\(split)annot/f\(i).png"))
            }
        }
    }

    func testPix2PixTrainsOnClassIdLayouts() throws {
        let root = tmp.appendingPathComponent("camvid")
        try makeCamVid(root, splits: ["train", "test"], count: 2)
        let runs = tmp.appendingPathComponent("runs")
        let r = try run(["train", "pix2pix", "--task", "layout", "--num-classes", "5", "--width", "32", "--height", "32",
                         "--dataroot", root.path, "--name", "lay", "--checkpoints-dir", runs.path,
                         "--net-g", "unet-32", "--ngf", "4", "--ndf", "4", "--epochs", "1", "--epochs-decay", "0", "--quiet"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("2 layouts"), r.err)
        let g = try LoadedGenerator(path: runs.appendingPathComponent("lay").path)
        XCTAssertEqual(g.inputNc, 5)
        XCTAssertEqual(g.task, .layout)
        // The training page shows the labels in colour (3 channels), the photo and the output.
        let shown = try ImageFile.read(runs.appendingPathComponent("lay/images/sample00_input.png")).image
        XCTAssertEqual([shown.width, shown.height, shown.channels], [32, 32, 3])
        // Label files in, photos out at the label's size.
        let a = try run(["apply", "--model", runs.appendingPathComponent("lay").path, "--input", root.appendingPathComponent("testannot").path,
                         "--output", tmp.appendingPathComponent("o").path])
        XCTAssertEqual(a.status, 0, a.err)
        let out = try ImageFile.read(tmp.appendingPathComponent("o/f0.png")).image
        XCTAssertEqual([out.width, out.height, out.channels], [40, 30, 3])
        // The labelled split, scored against its photos at the working size.
        let s = try run(["apply", "--model", runs.appendingPathComponent("lay").path, "--dataroot", root.path, "--output", tmp.appendingPathComponent("s").path])
        XCTAssertEqual(s.status, 0, s.err)
        XCTAssertTrue(s.out.contains("mean PSNR"), s.out)
        let e = try run(["eval", "--model", runs.appendingPathComponent("lay").path, "--dataroot", root.path, "--output", tmp.appendingPathComponent("e").path,
                         "--samples", "2"])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.lowercased().contains("lpips"), e.out)
        // The same data and layout flags train cIMLE (more classes than 1 or 3 channels).
        let c = try run(["train", "cimle-layout", "--num-classes", "5", "--width", "32", "--height", "32", "--levels", "2", "--widths", "8,8",
                         "--noise-channels", "2", "--pool-size", "2", "--visits", "1", "--level-candidates", "2,2", "--rounds", "1",
                         "--lpips-weight", "0", "--dataroot", root.path, "--name", "cl", "--checkpoints-dir", runs.path, "--quiet"])
        XCTAssertEqual(c.status, 0, c.err)
        // A class id beyond --num-classes names the file.
        let bad = tmp.appendingPathComponent("bad")
        try makeCamVid(bad, splits: ["train"], count: 1, classes: 7)
        try expectFailure(["train", "pix2pix", "--task", "layout", "--num-classes", "5", "--width", "32", "--height", "32",
                           "--dataroot", bad.path, "--name", "bad", "--checkpoints-dir", runs.path,
                           "--net-g", "unet-32", "--ngf", "4", "--ndf", "4", "--epochs", "1", "--epochs-decay", "0", "--quiet"], mentions: "trainannot/f0.png")
        // A folder of photos without a label folder is refused before training.
        let photos = tmp.appendingPathComponent("photos/train")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        try ImageFile.write(try makeImage(width: 40, height: 30, seed: 1), to: photos.appendingPathComponent("p.png"))
        try expectFailure(["train", "pix2pix", "--task", "layout", "--num-classes", "5", "--width", "32", "--height", "32",
                           "--dataroot", tmp.appendingPathComponent("photos").path, "--name", "nolabels", "--checkpoints-dir", runs.path,
                           "--net-g", "unet-32", "--ngf", "4", "--ndf", "4", "--quiet"], mentions: "trainannot: no such folder")
        // A missing label map names the photo and the folder it was looked for in.
        try FileManager.default.removeItem(at: root.appendingPathComponent("trainannot/f1.png"))
        try expectFailure(["train", "pix2pix", "--task", "layout", "--num-classes", "5", "--width", "32", "--height", "32",
                           "--dataroot", root.path, "--name", "missing", "--checkpoints-dir", runs.path,
                           "--net-g", "unet-32", "--ngf", "4", "--ndf", "4", "--epochs", "1", "--epochs-decay", "0", "--quiet"], mentions: "train/f1.png")
    }

    func testCIMLETrainsOnPairedFolders() throws {
        let root = tmp.appendingPathComponent("pairs")
        for split in ["train", "test"] {
            for side in ["A", "B"] {
                let dir = root.appendingPathComponent("\(split)/\(side)")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for i in 0..<3 { try ImageFile.write(try makeImage(width: 36, height: 36, seed: UInt64(i + (side == "A" ? 0 : 50))), to: dir.appendingPathComponent("p\(i).png")) }
            }
        }
        let runs = tmp.appendingPathComponent("runs")
        let args = ["train", "cimle", "--dataroot", root.path, "--name", "pc", "--checkpoints-dir", runs.path,
                    "--load-size", "36", "--crop-size", "32", "--levels", "2", "--widths", "8,8", "--noise-channels", "2",
                    "--pool-size", "3", "--visits", "1", "--level-candidates", "2,2", "--lpips-weight", "0", "--quiet"]
        let r = try run(args + ["--rounds", "1"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("paired folders A/ B/"), r.err)
        // Resuming for a second round is bit-identical to two rounds in one go.
        let r2 = try run(args + ["--rounds", "2", "--resume"])
        XCTAssertEqual(r2.status, 0, r2.err)
        let straight = try run(args.map { $0 == "pc" ? "pc2" : $0 } + ["--rounds", "2"])
        XCTAssertEqual(straight.status, 0, straight.err)
        let w1 = try SafeTensors.read(runs.appendingPathComponent("pc/latest.safetensors")).byName
        let w2 = try SafeTensors.read(runs.appendingPathComponent("pc2/latest.safetensors")).byName
        XCTAssertEqual(Set(w1.keys), Set(w2.keys))
        for (k, t) in w1 where k.hasPrefix("netG.") { XCTAssertEqual(t.data, w2[k]!.data, k) }
        // Three samples per input at the input's size, different from one another.
        let input = tmp.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        try ImageFile.write(try makeImage(width: 44, height: 20, seed: 4), to: input.appendingPathComponent("x.png"))
        let a = try run(["apply", "--model", runs.appendingPathComponent("pc").path, "--input", input.path, "--samples", "3",
                         "--output", tmp.appendingPathComponent("o").path])
        XCTAssertEqual(a.status, 0, a.err)
        let s0 = try ImageFile.read(tmp.appendingPathComponent("o/x_s00.png")).image
        let s1 = try ImageFile.read(tmp.appendingPathComponent("o/x_s01.png")).image
        XCTAssertEqual([s0.width, s0.height, s0.channels], [44, 20, 3])
        XCTAssertNotEqual(s0.pixels, s1.pixels, "samples of different codes differ")
        let e = try run(["eval", "--model", runs.appendingPathComponent("pc").path, "--dataroot", root.path, "--output", tmp.appendingPathComponent("e").path,
                         "--samples", "2"])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.lowercased().contains("psnr"), e.out)
        // A CycleGAN layout is refused as for pix2pix.
        let unpaired = tmp.appendingPathComponent("unpaired")
        for d in ["trainA", "trainB"] {
            try FileManager.default.createDirectory(at: unpaired.appendingPathComponent(d), withIntermediateDirectories: true)
            try ImageFile.write(try makeImage(width: 36, height: 36, seed: 1), to: unpaired.appendingPathComponent("\(d)/a.png"))
        }
        try expectFailure(["train", "cimle", "--dataroot", unpaired.path, "--name", "u", "--checkpoints-dir", runs.path, "--quiet"], mentions: "cyclegan")
    }

    func testCIMLEColorization() throws {
        let root = tmp.appendingPathComponent("photos")
        for d in ["train", "test"] {
            let dir = root.appendingPathComponent(d)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for i in 0..<3 { try ImageFile.write(try makeImage(width: 40, height: 34, seed: UInt64(i + d.count * 10)), to: dir.appendingPathComponent("\(i).png")) }
        }
        let runs = tmp.appendingPathComponent("runs")
        let r = try run(["train", "cimle-colorization", "--dataroot", root.path, "--name", "cc", "--checkpoints-dir", runs.path,
                         "--load-size", "34", "--crop-size", "32", "--levels", "2", "--widths", "8,8", "--noise-channels", "2",
                         "--pool-size", "3", "--visits", "1", "--level-candidates", "2,2", "--rounds", "1", "--quiet"])
        XCTAssertEqual(r.status, 0, r.err)
        let m = try LoadedCIMLE(path: runs.appendingPathComponent("cc").path)
        XCTAssertEqual([m.options.model.inputNc, m.options.model.outputNc], [1, 2])
        XCTAssertEqual(m.options.model.lpipsWeight, 0)
        // A gray photo gets several colourings at its size, each keeping its lightness.
        let input = tmp.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        let gray = try makeImage(width: 27, height: 19, seed: 5).converted(toChannels: 1)
        try ImageFile.write(gray, to: input.appendingPathComponent("g.png"))
        let a = try run(["apply", "--model", runs.appendingPathComponent("cc").path, "--input", input.path, "--samples", "2",
                         "--output", tmp.appendingPathComponent("o").path])
        XCTAssertEqual(a.status, 0, a.err)
        let c = try ImageFile.read(tmp.appendingPathComponent("o/g_s01.png")).image
        XCTAssertEqual([c.width, c.height, c.channels], [27, 19, 3])
        let (l0, _) = Colorization.split(gray.converted(toChannels: 3)), (l1, _) = Colorization.split(c)
        let dl = zip(l0.data, l1.data).map { abs($0 - $1) }.max() ?? 1
        XCTAssertLessThan(dl, 0.05, "the output keeps the input's L (up to 8-bit rounding after gamut clipping)")
        let e = try run(["eval", "--model", runs.appendingPathComponent("cc").path, "--dataroot", root.path, "--output", tmp.appendingPathComponent("e").path,
                         "--samples", "3"])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.lowercased().contains("pairwise"), e.out)
        // LPIPS cannot score ab: refused naming the flag.
        try expectFailure(["train", "cimle-colorization", "--dataroot", root.path, "--name", "bad", "--checkpoints-dir", runs.path,
                           "--load-size", "34", "--crop-size", "32", "--levels", "2", "--lpips-weight", "0.5", "--quiet"], mentions: "--lpips-weight")
    }
}
