import Foundation
@testable import Datasets
import ImageIO
import Tensors
import TestSupport
import XCTest

/// Unaligned mode (CycleGAN): `<root>/<phase>A`, `<root>/<phase>B`, independent sides.
final class UnalignedTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("unaligned-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    @discardableResult
    func write(_ img: Image, _ rel: String) throws -> URL {
        let url = tmp.appendingPathComponent(rel)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try ImageFile.write(img, to: url)
        return url
    }

    /// `nA` images in trainA (seeds 0..<nA) and `nB` in trainB (seeds 100...), w x h, under `root`.
    func makeDomains(_ root: String = "u", nA: Int, nB: Int, w: Int = 8, h: Int = 8, phase: String = "train") throws -> URL {
        for i in 0..<nA { try write(try makeImage(w, h, seed: i), "\(root)/\(phase)A/a\(i).png") }
        for i in 0..<nB { try write(try makeImage(w, h, seed: 100 + i), "\(root)/\(phase)B/b\(i).png") }
        return tmp.appendingPathComponent(root)
    }

    var fixed: DataOptions { DataOptions(mode: .unaligned, preprocess: .none, flip: false) }

    func assertDatasetError(_ contains: [String], file: StaticString = #filePath, line: UInt = #line,
                            _ body: () throws -> Void) -> DatasetError? {
        do {
            try body()
            XCTFail("expected an error mentioning \(contains)", file: file, line: line)
        } catch let e as DatasetError {
            for s in contains { XCTAssertTrue(e.description.contains(s), "'\(s)' not in: \(e.description)", file: file, line: line) }
            return e
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
        return nil
    }

    func testLengthsAndListing() throws {
        let root = try makeDomains(nA: 3, nB: 5)
        let ds = try ImageDataset(roots: [root], options: fixed)
        XCTAssertEqual(ds.count, 5, "max(|A|, |B|)")
        XCTAssertEqual(ds.count(.a), 3)
        XCTAssertEqual(ds.count(.b), 5)
        XCTAssertEqual((0..<3).map { ds.relativePath(.a, $0) }, ["a0.png", "a1.png", "a2.png"])
        XCTAssertEqual((0..<5).map { ds.relativePath(.b, $0) }, (0..<5).map { "b\($0).png" })
        // load(i): A[i % |A|] with B[i % |B|]
        let s = try ds.load(4)
        XCTAssertEqual(try Image(tensor: s.input), try makeImage(8, 8, seed: 1))
        XCTAssertEqual(try Image(tensor: XCTUnwrap(s.target)), try makeImage(8, 8, seed: 104))
        XCTAssertEqual(s.inputPath, root.appendingPathComponent("trainA/a1.png").path)
        XCTAssertEqual(s.targetPath, root.appendingPathComponent("trainB/b4.png").path)
        XCTAssertEqual(ds.relativePath(4), "a1.png")
        XCTAssertEqual(ds.sourcePath(4), s.inputPath)
        // Each domain on its own.
        let b3 = try ds.load(.b, 3)
        XCTAssertEqual(try Image(tensor: b3.input), try makeImage(8, 8, seed: 103))
        XCTAssertNil(b3.target)
        XCTAssertThrowsError(try ds.load(.a, 3))
        XCTAssertThrowsError(try ds.load(5))
        var rng = RNG(seed: 0)
        XCTAssertThrowsError(try ds.sample(5, rng: &rng))

        let more = try ImageDataset(roots: [try makeDomains("v", nA: 4, nB: 2)], options: fixed)
        XCTAssertEqual(more.count, 4)
        // maxItems cuts each domain.
        var o = fixed
        o.maxItems = 2
        let cut = try ImageDataset(roots: [root], options: o)
        XCTAssertEqual([cut.count, cut.count(.a), cut.count(.b)], [2, 2, 2])
        // Several roots: concatenated per domain.
        let both = try ImageDataset(roots: [root, tmp.appendingPathComponent("v")], options: fixed)
        XCTAssertEqual([both.count, both.count(.a), both.count(.b)], [7, 7, 7])
    }

    func testRandomBIsDrawnFromTheItemGeneratorAndSerialBIsNot() throws {
        let root = try makeDomains(nA: 2, nB: 7)
        let ds = try ImageDataset(roots: [root], options: fixed)
        var seen = Set<String>()
        for seed in 0..<100 as Range<UInt64> {
            var rng = RNG(seed: seed), replay = rng
            let s = try ds.sample(1, rng: &rng)
            let j = replay.nextInt(7)
            XCTAssertEqual(s.targetPath, root.appendingPathComponent("trainB/b\(j).png").path)
            XCTAssertEqual(try Image(tensor: XCTUnwrap(s.target)), try makeImage(8, 8, seed: 100 + j))
            XCTAssertEqual(try Image(tensor: s.input), try makeImage(8, 8, seed: 1), "A is serial")
            seen.insert(try XCTUnwrap(s.targetPath))
        }
        XCTAssertEqual(seen.count, 7, "every B image gets drawn")

        var o = fixed
        o.serialB = true
        let serial = try ImageDataset(roots: [root], options: o)
        for i in 0..<serial.count {
            var rng = RNG(seed: UInt64(i) + 9)
            let s = try serial.sample(i, rng: &rng)
            XCTAssertEqual(s.inputPath, root.appendingPathComponent("trainA/a\(i % 2).png").path)
            XCTAssertEqual(s.targetPath, root.appendingPathComponent("trainB/b\(i).png").path)
        }
    }

    /// A's crop and flip, then B's, each x, y, flip as the reference's get_params, all from the
    /// item's generator (after the B index unless serialB): independent, unlike aligned mode.
    func testIndependentCropsAndFlips() throws {
        let img = try makeImage(30, 20, seed: 6)
        let root = tmp.appendingPathComponent("same")
        try write(img, "same/trainA/x.png")
        try write(img, "same/trainB/x.png")
        for serialB in [false, true] {
            let o = DataOptions(mode: .unaligned, preprocess: .resizeAndCrop, loadSize: 24, cropSize: 16, serialB: serialB)
            let ds = try ImageDataset(roots: [root], options: o)
            var differ = 0
            for seed in 0..<16 as Range<UInt64> {
                var rng = RNG(seed: seed), replay = rng
                let s = try ds.sample(0, rng: &rng)
                if !serialB { XCTAssertEqual(replay.nextInt(1), 0) }
                let resized = img.resized(width: 24, height: 24, filter: .bicubic)
                func expected() throws -> Image {
                    let x = replay.nextInt(24 - 16 + 1), y = replay.nextInt(24 - 16 + 1), flip = replay.nextDouble() > 0.5
                    let c = try resized.cropped(x: x, y: y, width: 16, height: 16)
                    return flip ? c.flippedHorizontally() : c
                }
                XCTAssertEqual(try Image(tensor: s.input), try expected(), "A, seed \(seed)")
                XCTAssertEqual(try Image(tensor: XCTUnwrap(s.target)), try expected(), "B, seed \(seed)")
                XCTAssertEqual(rng, replay, "six draws (+ the B index)")
                if s.input.data != s.target?.data { differ += 1 }
            }
            XCTAssertGreaterThan(differ, 12, "the same file on both sides gets different crops and flips")
        }
    }

    func testDeterministicPerSeedAndEpoch() throws {
        let root = try makeDomains(nA: 5, nB: 6, w: 12, h: 10)
        let ds = try ImageDataset(roots: [root], options: DataOptions(mode: .unaligned, loadSize: 12, cropSize: 8))
        func drain(_ l: EpochLoader) throws -> [Batch] {
            var out: [Batch] = []
            while let b = try l.next() { out.append(b) }
            return out
        }
        let a = try drain(EpochLoader(dataset: ds, batchSize: 2, shuffle: true, seed: 3, epoch: 1))
        let b = try drain(EpochLoader(dataset: ds, batchSize: 2, shuffle: true, seed: 3, epoch: 1))
        XCTAssertEqual(a.flatMap(\.indices).sorted(), Array(0..<6))
        XCTAssertEqual(a.map(\.indices), b.map(\.indices))
        XCTAssertEqual(a.map(\.input.data), b.map(\.input.data))
        XCTAssertEqual(a.map { $0.target?.data }, b.map { $0.target?.data })
        XCTAssertEqual(a.first?.input.shape, [2, 3, 8, 8])
        XCTAssertEqual(a.first?.target?.shape, [2, 3, 8, 8])
        // Same items, another epoch: other B draws and crops.
        func targets(_ epoch: Int) throws -> [[Float]] {
            try (0..<6).map { i in
                var rng = EpochLoader.augmentationRNG(seed: 3, epoch: epoch, index: i)
                return try XCTUnwrap(ds.sample(i, rng: &rng).target).data
            }
        }
        XCTAssertEqual(try targets(1), try targets(1))
        XCTAssertNotEqual(try targets(1), try targets(2))
    }

    func testDirectionSwapsTheSidesAndChannels() throws {
        let root = tmp.appendingPathComponent("d")
        try write(try makeImage(12, 12, seed: 1), "d/trainA/a.png")
        try write(try makeImage(12, 12, channels: 1, seed: 2), "d/trainB/b.png")   // grayscale
        try write(try makeImage(12, 12, seed: 3), "d/trainB/c.png")
        let o = DataOptions(mode: .unaligned, preprocess: .resizeAndCrop, loadSize: 12, cropSize: 8, inputNc: 3, outputNc: 1)
        var r = o
        r.direction = .bToA
        r.inputNc = 1; r.outputNc = 3
        let ab = try ImageDataset(roots: [root], options: o), ba = try ImageDataset(roots: [root], options: r)
        for seed in 0..<6 as Range<UInt64> {
            var r1 = RNG(seed: seed), r2 = RNG(seed: seed)
            let s1 = try ab.sample(0, rng: &r1), s2 = try ba.sample(0, rng: &r2)
            XCTAssertEqual(s1.input.shape, [1, 3, 8, 8])
            XCTAssertEqual(s1.target?.shape, [1, 1, 8, 8])
            XCTAssertEqual(s2.input.data, s1.target?.data, "b-to-a: input = the B image")
            XCTAssertEqual(s2.target?.data, s1.input.data)
            XCTAssertEqual(s2.inputPath, s1.targetPath)
            XCTAssertEqual(s2.targetPath, s1.inputPath)
        }
        // Grayscale files are converted to the side's channel count.
        let gray = try makeImage(12, 12, channels: 1, seed: 2)
        XCTAssertEqual(try Image(tensor: ab.load(.b, 0).input), gray.converted(toChannels: 1))
        XCTAssertEqual(try Image(tensor: ab.load(.a, 0).input).channels, 3)
        var rgb = fixed
        rgb.direction = .bToA
        let ds3 = try ImageDataset(roots: [root], options: rgb)
        XCTAssertEqual(try Image(tensor: ds3.load(0).input), gray.converted(toChannels: 3))
        XCTAssertEqual(try Image(tensor: ds3.load(.b, 0).input), gray.converted(toChannels: 3))
        XCTAssertEqual(ds3.relativePath(1), "c.png", "b-to-a: the input side's file")
        XCTAssertEqual(ds3.sourcePath(1), root.appendingPathComponent("trainB/c.png").path)
    }

    func testPhaseSelectsTheFolders() throws {
        let root = try makeDomains(nA: 2, nB: 2)
        _ = try makeDomains(nA: 3, nB: 1, phase: "test")
        var o = fixed
        o.phase = "test"
        let ds = try ImageDataset(roots: [root], options: o)
        XCTAssertEqual([ds.count(.a), ds.count(.b)], [3, 1])
        XCTAssertEqual(try ds.load(0).inputPath, root.appendingPathComponent("testA/a0.png").path)
        o.phase = "a/b"
        _ = assertDatasetError(["--phase"]) { _ = try ImageDataset(roots: [root], options: o) }
        o.phase = ""
        _ = assertDatasetError(["--phase"]) { _ = try ImageDataset(roots: [root], options: o) }
    }

    func testMissingOrEmptyFoldersAreNamed() throws {
        try write(try makeImage(4, 4), "m/trainA/a.png")
        let root = tmp.appendingPathComponent("m")
        let e = assertDatasetError([root.appendingPathComponent("trainB").path, "trainA/ and trainB/"]) {
            _ = try ImageDataset(roots: [root], options: fixed)
        }
        if case .missingFolder? = e {} else { XCTFail("expected .missingFolder, got \(String(describing: e))") }
        let onlyB = tmp.appendingPathComponent("n")
        try write(try makeImage(4, 4), "n/trainB/b.png")
        _ = assertDatasetError([onlyB.appendingPathComponent("trainA").path]) {
            _ = try ImageDataset(roots: [onlyB], options: fixed)
        }
        var o = fixed
        o.phase = "test"
        _ = assertDatasetError([root.appendingPathComponent("testA").path, "testA/ and testB/"]) {
            _ = try ImageDataset(roots: [root], options: o)
        }
        // An empty domain folder, and a file instead of a folder.
        try FileManager.default.createDirectory(at: root.appendingPathComponent("trainB"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: root.appendingPathComponent("trainB/notes.txt"))
        let e2 = assertDatasetError([root.appendingPathComponent("trainB").path, "no images"]) {
            _ = try ImageDataset(roots: [root], options: fixed)
        }
        XCTAssertEqual(e2, .empty(path: root.appendingPathComponent("trainB").path, skipped: 1))
        let file = try write(try makeImage(4, 4), "f.png")
        _ = assertDatasetError([file.path, "trainA/"]) { _ = try ImageDataset(roots: [file], options: fixed) }
    }

    func testOptionsCodableWithTheNewFields() throws {
        let o = DataOptions(mode: .unaligned, direction: .bToA, preprocess: .crop, loadSize: 300, cropSize: 200, flip: false,
                            inputNc: 1, outputNc: 3, maxItems: 7, phase: "test", serialB: true)
        XCTAssertEqual(try JSONDecoder().decode(DataOptions.self, from: try JSONEncoder().encode(o)), o)
        // JSON written before these fields existed still decodes, with the defaults.
        let old = #"{"mode":"aligned","direction":"b-to-a","preprocess":"none","loadSize":286,"cropSize":256,"flip":true,"inputNc":3,"outputNc":3}"#
        let d = try JSONDecoder().decode(DataOptions.self, from: Data(old.utf8))
        XCTAssertEqual(d.phase, "train")
        XCTAssertFalse(d.serialB)
        XCTAssertEqual(d, DataOptions(mode: .aligned, direction: .bToA, preprocess: .none))
        XCTAssertEqual(DatasetMode(rawValue: "unaligned"), .unaligned)
    }
}
