import Foundation
@testable import Datasets
import ImageIO
import Tensors
import TestSupport
import XCTest

/// A deterministic test image: value (x*7 + y*13 + c*50 + seed*31) % 256.
func makeImage(_ w: Int, _ h: Int, channels: Int = 3, seed: Int = 0) throws -> Image {
    var p = [UInt8]()
    for y in 0..<h { for x in 0..<w { for c in 0..<channels { p.append(UInt8((x * 7 + y * 13 + c * 50 + seed * 31) % 256)) } } }
    return try Image(width: w, height: h, channels: channels, pixels: p)
}

/// `[A | B]` side by side.
func sideBySide(_ a: Image, _ b: Image) throws -> Image {
    var p = [UInt8]()
    for y in 0..<a.height {
        p += a.pixels[(y * a.width * a.channels)..<((y + 1) * a.width * a.channels)]
        p += b.pixels[(y * b.width * b.channels)..<((y + 1) * b.width * b.channels)]
    }
    return try Image(width: a.width + b.width, height: a.height, channels: a.channels, pixels: p)
}

final class DatasetTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("datasets-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func write(_ img: Image, _ rel: String) throws -> URL {
        let url = tmp.appendingPathComponent(rel)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try ImageFile.write(img, to: url)
        return url
    }

    func folder(_ rel: String) throws -> URL {
        let url = tmp.appendingPathComponent(rel)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Asserts a DatasetError whose description contains every string in `contains`.
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

    var fixed: DataOptions { DataOptions(mode: .aligned, preprocess: .none, flip: false) }

    // MARK: Modes

    func testAlignedSplitAndDirection() throws {
        let a = try makeImage(4, 4, seed: 1), b = try makeImage(4, 4, seed: 2)
        let url = try write(try sideBySide(a, b), "train/1.png")
        var rng = RNG(seed: 0)
        let ds = try ImageDataset(roots: [tmp.appendingPathComponent("train")], options: fixed)
        XCTAssertEqual(ds.count, 1)
        XCTAssertEqual(ds.relativePath(0), "1.png")
        let s = try ds.sample(0, rng: &rng)
        XCTAssertEqual(try Image(tensor: s.input), a)
        XCTAssertEqual(try Image(tensor: XCTUnwrap(s.target)), b)
        XCTAssertEqual(s.inputPath, url.path)
        XCTAssertEqual([s.originalWidth, s.originalHeight], [4, 4])

        var o = fixed
        o.direction = .bToA
        let swapped = try ImageDataset(roots: [tmp.appendingPathComponent("train")], options: o).sample(0, rng: &rng)
        XCTAssertEqual(try Image(tensor: swapped.input), b)
        XCTAssertEqual(try Image(tensor: XCTUnwrap(swapped.target)), a)
    }

    func testAlignedOddWidthIsAnError() throws {
        let url = try write(try makeImage(9, 4), "odd/x.png")
        let ds = try ImageDataset(roots: [tmp.appendingPathComponent("odd")], options: fixed)
        let e = assertDatasetError([url.path, "even", "9"]) { _ = try ds.load(0) }
        XCTAssertEqual(e, .oddWidth(path: url.path, width: 9))
    }

    func testPairedFoldersMatchNamesIncludingSubfolders() throws {
        let pairs: [(String, String, Int)] = [("A/x.png", "B/x.png", 1), ("A/sub/y.png", "B/sub/y.png", 2), ("A/z.png", "B/z.jpg", 3)]
        for (ra, rb, seed) in pairs {
            _ = try write(try makeImage(8, 8, seed: seed), "p/" + ra)
            _ = try write(try makeImage(8, 8, seed: seed + 10), "p/" + rb)
        }
        let ds = try ImageDataset(roots: [tmp.appendingPathComponent("p")], options: DataOptions(mode: .paired, preprocess: .none, flip: false))
        XCTAssertEqual(ds.count, 3)
        XCTAssertEqual((0..<3).map(ds.relativePath), ["sub/y.png", "x.png", "z.png"])
        for i in 0..<2 {
            let s = try ds.load(i)
            let seed = i == 0 ? 2 : 1
            XCTAssertEqual(try Image(tensor: s.input), try makeImage(8, 8, seed: seed))
            XCTAssertEqual(try Image(tensor: XCTUnwrap(s.target)), try makeImage(8, 8, seed: seed + 10))
            XCTAssertTrue(try XCTUnwrap(s.targetPath).hasSuffix("B/" + ds.relativePath(i)))
        }
        XCTAssertTrue(try XCTUnwrap(ds.load(2).targetPath).hasSuffix("B/z.jpg"))
    }

    func testUnmatchedNamesAreListed() throws {
        for n in ["a", "b", "c"] { _ = try write(try makeImage(4, 4), "p/A/\(n).png") }
        for n in ["a", "d"] { _ = try write(try makeImage(4, 4), "p/B/\(n).png") }
        let root = tmp.appendingPathComponent("p")
        let e = assertDatasetError([root.path, "A/b.png", "A/c.png", "B/d.png"]) {
            _ = try ImageDataset(roots: [root], options: DataOptions(mode: .paired))
        }
        XCTAssertEqual(e, .unpaired(root: root.path, onlyInA: ["A/b.png", "A/c.png"], onlyInB: ["B/d.png"]))
    }

    func testPairsOfDifferentSizesNameBothFiles() throws {
        let a = try write(try makeImage(8, 8), "p/A/x.png")
        let b = try write(try makeImage(8, 6), "p/B/x.png")
        let ds = try ImageDataset(roots: [tmp.appendingPathComponent("p")], options: DataOptions(mode: .paired, preprocess: .none))
        var rng = RNG(seed: 1)
        _ = assertDatasetError([a.path, b.path, "8 x 8", "8 x 6"]) { _ = try ds.sample(0, rng: &rng) }
    }

    func testEmptyMissingAndIncompleteRoots() throws {
        let empty = try folder("empty")
        try Data("x".utf8).write(to: empty.appendingPathComponent("readme.txt"))
        let e1 = assertDatasetError([empty.path, "no images", "1 non-image"]) {
            _ = try ImageDataset(roots: [empty], options: DataOptions(mode: .single))
        }
        XCTAssertEqual(e1, .empty(path: empty.path, skipped: 1))
        let missing = tmp.appendingPathComponent("nowhere")
        let e2 = assertDatasetError([missing.path]) { _ = try ImageDataset(roots: [missing], options: DataOptions(mode: .aligned)) }
        XCTAssertEqual(e2, .missingRoot(path: missing.path))
        _ = try write(try makeImage(4, 4), "half/A/x.png")
        _ = assertDatasetError([tmp.appendingPathComponent("half/B").path]) {
            _ = try ImageDataset(roots: [tmp.appendingPathComponent("half")], options: DataOptions(mode: .paired))
        }
        let txt = tmp.appendingPathComponent("notes.txt")
        try Data("x".utf8).write(to: txt)
        _ = assertDatasetError([txt.path, "not an image"]) { _ = try ImageDataset(roots: [txt], options: DataOptions(mode: .single)) }
    }

    func testNonImageFilesAreSkippedAndRecorded() throws {
        _ = try write(try makeImage(4, 4), "d/b.png")
        _ = try write(try makeImage(4, 4), "d/sub/a.jpg")
        _ = try write(try makeImage(4, 4), "d/.hidden.png")
        _ = try write(try makeImage(4, 4), "d/.cache/c.png")
        try Data("x".utf8).write(to: try folder("d").appendingPathComponent("notes.txt"))
        try Data("x".utf8).write(to: try folder("d/sub").appendingPathComponent("README"))
        let ds = try ImageDataset(roots: [tmp.appendingPathComponent("d")], options: DataOptions(mode: .single))
        XCTAssertEqual((0..<ds.count).map(ds.relativePath), ["b.png", "sub/a.jpg"])
        XCTAssertEqual(ds.skipped, [tmp.appendingPathComponent("d/notes.txt").path, tmp.appendingPathComponent("d/sub/README").path])
        // Files given directly, and maxItems.
        let files = try ImageDataset(roots: [tmp.appendingPathComponent("d/sub/a.jpg"), tmp.appendingPathComponent("d/b.png")],
                                     options: DataOptions(mode: .single, maxItems: 1))
        XCTAssertEqual(files.count, 1)
        XCTAssertEqual(files.relativePath(0), "a.jpg")
    }

    func testCorruptImageIsReportedWhenLoadedAndByTheLoader() throws {
        _ = try write(try makeImage(8, 4), "c/a.png")
        let bad = tmp.appendingPathComponent("c/b.png")
        try Data("this is not a PNG".utf8).write(to: bad)
        _ = try write(try makeImage(8, 4), "c/c.png")
        let ds = try ImageDataset(roots: [tmp.appendingPathComponent("c")], options: fixed)
        XCTAssertEqual(ds.count, 3)
        let e = assertDatasetError([bad.path, "not a PNG file"]) { _ = try ds.load(1) }
        if case .image(.corrupt(let path, _))? = e { XCTAssertEqual(path, bad.path) } else { XCTFail("expected .image(.corrupt), got \(String(describing: e))") }

        let loader = EpochLoader(dataset: ds, batchSize: 1, shuffle: false, seed: 0, epoch: 0)
        XCTAssertEqual(try loader.next()?.indices, [0])
        _ = assertDatasetError([bad.path]) { _ = try loader.next() }
        XCTAssertNil(try loader.next(), "the epoch ends after an error")
    }

    // MARK: Channels

    func testChannelConversion() throws {
        let gray = try makeImage(8, 4, channels: 1, seed: 3)
        _ = try write(gray, "g/gray.png")
        let ds = try ImageDataset(roots: [tmp.appendingPathComponent("g")], options: DataOptions(mode: .single, preprocess: .none, flip: false))
        let s = try ds.load(0)
        XCTAssertEqual(s.input.shape, [1, 3, 4, 8])
        XCTAssertEqual(try Image(tensor: s.input), gray.converted(toChannels: 3))
        XCTAssertNil(s.target)

        let rgbA = try makeImage(4, 4, seed: 4), rgbB = try makeImage(4, 4, seed: 5)
        _ = try write(try sideBySide(rgbA, rgbB), "rgb/ab.png")
        let ds1 = try ImageDataset(roots: [tmp.appendingPathComponent("rgb")],
                                   options: DataOptions(mode: .aligned, preprocess: .none, flip: false, inputNc: 1, outputNc: 3))
        let s1 = try ds1.load(0)
        XCTAssertEqual(s1.input.shape, [1, 1, 4, 4])
        XCTAssertEqual(try Image(tensor: s1.input), rgbA.converted(toChannels: 1))
        XCTAssertEqual(try Image(tensor: XCTUnwrap(s1.target)), rgbB)
        // b-to-a: the input side is B, converted to inputNc.
        let ds2 = try ImageDataset(roots: [tmp.appendingPathComponent("rgb")],
                                   options: DataOptions(mode: .aligned, direction: .bToA, preprocess: .none, flip: false, inputNc: 1, outputNc: 1))
        let s2 = try ds2.load(0)
        XCTAssertEqual(try Image(tensor: s2.input), rgbB.converted(toChannels: 1))
        XCTAssertEqual(try Image(tensor: XCTUnwrap(s2.target)), rgbA.converted(toChannels: 1))
    }

    // MARK: Preprocessing

    func testPreprocessSizes() throws {
        _ = try write(try makeImage(40, 30), "s/a.png")
        _ = try write(try makeImage(37, 23), "odd/b.png")
        func size(_ p: Preprocess, load: Int, crop: Int, root: String = "s", seed: UInt64 = 0) throws -> [Int] {
            let ds = try ImageDataset(roots: [tmp.appendingPathComponent(root)],
                                      options: DataOptions(mode: .single, preprocess: p, loadSize: load, cropSize: crop))
            var rng = RNG(seed: seed)
            return try ds.sample(0, rng: &rng).input.shape
        }
        for seed in 0..<4 as Range<UInt64> {
            XCTAssertEqual(try size(.resizeAndCrop, load: 20, crop: 16, seed: seed), [1, 3, 16, 16])
            XCTAssertEqual(try size(.crop, load: 99, crop: 16, seed: seed), [1, 3, 16, 16])
            XCTAssertEqual(try size(.scaleWidthAndCrop, load: 20, crop: 12, seed: seed), [1, 3, 12, 12])
        }
        XCTAssertEqual(try size(.resizeAndCrop, load: 16, crop: 16), [1, 3, 16, 16])
        XCTAssertEqual(try size(.scaleWidth, load: 20, crop: 8), [1, 3, 15, 20])      // 20 * 30 / 40
        XCTAssertEqual(try size(.scaleWidth, load: 20, crop: 18), [1, 3, 18, 20])     // at least crop
        XCTAssertEqual(try size(.scaleWidth, load: 40, crop: 30), [1, 3, 30, 40])     // unchanged
        XCTAssertEqual(try size(.none, load: 1, crop: 1), [1, 3, 32, 40])             // 30/4 = 7.5 -> 8 (half to even)
        XCTAssertEqual(try size(.none, load: 1, crop: 1, root: "odd"), [1, 3, 24, 36])  // 37 -> 36, 23 -> 24
        XCTAssertEqual(try size(.crop, load: 1, crop: 23, root: "odd"), [1, 3, 23, 23])
        let small = tmp.appendingPathComponent("s/a.png").path
        _ = assertDatasetError([small, "40 x 30", "32"]) { _ = try size(.crop, load: 1, crop: 32) }
        // Inference keeps the decoded size.
        let ds = try ImageDataset(roots: [tmp.appendingPathComponent("odd")], options: DataOptions(mode: .single, preprocess: .none))
        let s = try ds.load(0)
        XCTAssertEqual(s.input.shape, [1, 3, 23, 37])
        XCTAssertEqual([s.originalWidth, s.originalHeight], [37, 23])
        // Sides that round to 0 become 4.
        XCTAssertEqual([ImageDataset.makeMultiple(try makeImage(1, 6), base: 4)].map { [$0.width, $0.height] }, [[4, 8]])
    }

    /// The reference's order of operations: resize (bicubic), crop at (x, y), flip; x, y and the
    /// flip drawn in that order.
    func testResizeCropFlipFollowsTheReference() throws {
        let img = try makeImage(30, 20, seed: 6)
        _ = try write(img, "r/a.png")
        let ds = try ImageDataset(roots: [tmp.appendingPathComponent("r")],
                                  options: DataOptions(mode: .single, preprocess: .resizeAndCrop, loadSize: 24, cropSize: 16))
        var flips = Set<Bool>()
        for seed in 0..<8 as Range<UInt64> {
            var rng = RNG(seed: seed), copy = rng
            let s = try ds.sample(0, rng: &rng)
            let x = copy.nextInt(24 - 16 + 1), y = copy.nextInt(24 - 16 + 1), flip = copy.nextDouble() > 0.5
            flips.insert(flip)
            var expected = try img.resized(width: 24, height: 24, filter: .bicubic).cropped(x: x, y: y, width: 16, height: 16)
            if flip { expected = expected.flippedHorizontally() }
            XCTAssertEqual(try Image(tensor: s.input), expected, "seed \(seed)")
            XCTAssertEqual(rng, copy, "exactly three draws")
        }
        XCTAssertEqual(flips, [true, false])
    }

    func testCropAndFlipAreSharedByAAndB() throws {
        let a = try makeImage(20, 18, seed: 7)
        _ = try write(a, "p/A/x.png")
        _ = try write(a, "p/B/x.png")
        _ = try write(try sideBySide(a, a), "al/x.png")
        for (root, mode) in [("p", DatasetMode.paired), ("al", .aligned)] {
            for p in [Preprocess.resizeAndCrop, .crop, .scaleWidthAndCrop] {
                let ds = try ImageDataset(roots: [tmp.appendingPathComponent(root)],
                                          options: DataOptions(mode: mode, preprocess: p, loadSize: 20, cropSize: 12))
                var distinct = Set<[Float]>()
                for seed in 0..<10 as Range<UInt64> {
                    var rng = RNG(seed: seed)
                    let s = try ds.sample(0, rng: &rng)
                    XCTAssertEqual(s.input.data, try XCTUnwrap(s.target).data, "\(mode) \(p) seed \(seed)")
                    distinct.insert(s.input.data)
                }
                XCTAssertGreaterThan(distinct.count, 3, "\(mode) \(p): crops and flips vary with the seed")
            }
        }
    }

    // MARK: Loader

    func alignedDataset(_ n: Int) throws -> ImageDataset {
        for i in 0..<n { _ = try write(try sideBySide(try makeImage(8, 8, seed: i), try makeImage(8, 8, seed: i + 100)), "e/\(i).png") }
        return try ImageDataset(roots: [tmp.appendingPathComponent("e")],
                                options: DataOptions(mode: .aligned, preprocess: .resizeAndCrop, loadSize: 10, cropSize: 8))
    }

    func drain(_ l: EpochLoader) throws -> [Batch] {
        var out: [Batch] = []
        while let b = try l.next() { out.append(b) }
        return out
    }

    func testSameSeedAndEpochGiveIdenticalBatches() throws {
        let ds = try alignedDataset(10)
        let a = try drain(EpochLoader(dataset: ds, batchSize: 3, shuffle: true, seed: 5, epoch: 2))
        let b = try drain(EpochLoader(dataset: ds, batchSize: 3, shuffle: true, seed: 5, epoch: 2))
        XCTAssertEqual(a.map(\.indices), b.map(\.indices))
        XCTAssertEqual(a.map(\.input.data), b.map(\.input.data))
        XCTAssertEqual(a.map { $0.target?.data }, b.map { $0.target?.data })
        let c = try drain(EpochLoader(dataset: ds, batchSize: 3, shuffle: true, seed: 5, epoch: 3))
        XCTAssertNotEqual(a.flatMap(\.indices), c.flatMap(\.indices), "another epoch, another order")
        XCTAssertEqual(a.flatMap(\.indices).sorted(), Array(0..<10))
        XCTAssertEqual(c.flatMap(\.indices).sorted(), Array(0..<10))
        let d = try drain(EpochLoader(dataset: ds, batchSize: 3, shuffle: true, seed: 6, epoch: 2))
        XCTAssertNotEqual(a.flatMap(\.indices), d.flatMap(\.indices), "another seed, another order")
        let plain = try drain(EpochLoader(dataset: ds, batchSize: 4, shuffle: false, seed: 5, epoch: 2))
        XCTAssertEqual(plain.map(\.indices), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
    }

    func testBackgroundLoaderMatchesASynchronousRun() throws {
        let ds = try alignedDataset(10)
        for (bs, dropLast, expected) in [(3, false, 4), (3, true, 3), (1, false, 10), (10, false, 1), (16, true, 0)] {
            let loader = EpochLoader(dataset: ds, batchSize: bs, shuffle: true, seed: 11, epoch: 1, dropLast: dropLast)
            XCTAssertEqual(loader.batchCount, expected)
            let batches = try drain(loader)
            XCTAssertEqual(batches.count, expected, "batch size \(bs), dropLast \(dropLast)")
            let order = EpochLoader.order(count: 10, shuffle: true, seed: 11, epoch: 1)
            for (k, b) in batches.enumerated() {
                let idx = Array(order[(k * bs)..<min((k + 1) * bs, 10)])
                XCTAssertEqual(b.indices, idx)
                XCTAssertEqual(b.input.shape, [idx.count, 3, 8, 8])
                XCTAssertEqual(b.paths, idx.map { tmp.appendingPathComponent("e/\($0).png").path })
                let sync = try EpochLoader.makeBatch(ds, idx, seed: 11, epoch: 1)
                XCTAssertEqual(b.input.data, sync.input.data)
                XCTAssertEqual(b.target?.data, sync.target?.data)
                // ... which is sample() with the item's own generator.
                var rng = EpochLoader.augmentationRNG(seed: 11, epoch: 1, index: idx[0])
                XCTAssertEqual(try ds.sample(idx[0], rng: &rng).input.data, Array(b.input.data.prefix(3 * 64)))
            }
        }
    }

    func testCancelAndDeinitStopTheThread() throws {
        let ds = try alignedDataset(12)
        let loader = EpochLoader(dataset: ds, batchSize: 1, shuffle: true, seed: 1, epoch: 0)
        XCTAssertNotNil(try loader.next())
        loader.cancel()
        XCTAssertNil(try loader.next())
        for _ in 0..<20 { _ = EpochLoader(dataset: ds, batchSize: 1, shuffle: true, seed: 1, epoch: 0) }  // deinit right away
        do {
            let l = EpochLoader(dataset: ds, batchSize: 2, shuffle: false, seed: 1, epoch: 0)
            Thread.sleep(forTimeInterval: 0.05)  // let the queue fill up and the producer block
            _ = try l.next()
        }
    }

    func testMixedSizesInABatchNameTheFiles() throws {
        _ = try write(try makeImage(20, 10), "m/a.png")
        _ = try write(try makeImage(20, 30), "m/b.png")
        let ds = try ImageDataset(roots: [tmp.appendingPathComponent("m")],
                                  options: DataOptions(mode: .single, preprocess: .scaleWidth, loadSize: 16, cropSize: 4))
        let loader = EpochLoader(dataset: ds, batchSize: 2, shuffle: false, seed: 0, epoch: 0)
        _ = assertDatasetError([tmp.appendingPathComponent("m/a.png").path, tmp.appendingPathComponent("m/b.png").path, "--batch-size 1"]) {
            _ = try loader.next()
        }
    }

    // MARK: Options

    func testOptionsCodableAndValidation() throws {
        let o = DataOptions(mode: .paired, direction: .bToA, preprocess: .scaleWidth, loadSize: 300, cropSize: 200, flip: false,
                            inputNc: 1, outputNc: 3, maxItems: 7)
        let data = try JSONEncoder().encode(o)
        XCTAssertEqual(try JSONDecoder().decode(DataOptions.self, from: data), o)
        let minimal = try JSONDecoder().decode(DataOptions.self, from: Data(#"{"mode":"aligned"}"#.utf8))
        XCTAssertEqual(minimal, DataOptions(mode: .aligned))
        XCTAssertEqual(Direction(rawValue: "b-to-a"), .bToA)
        XCTAssertEqual(Preprocess.allCases.map(\.rawValue), ["resize-and-crop", "crop", "scale-width", "scale-width-and-crop", "none"])
        _ = try write(try makeImage(8, 8), "v/a.png")
        let root = tmp.appendingPathComponent("v")
        _ = assertDatasetError(["--load-size 100", "--crop-size 256"]) {
            _ = try ImageDataset(roots: [root], options: DataOptions(mode: .single, loadSize: 100))
        }
        _ = assertDatasetError(["--input-nc"]) { _ = try ImageDataset(roots: [root], options: DataOptions(mode: .single, inputNc: 2)) }
        XCTAssertNoThrow(try ImageDataset(roots: [root], options: DataOptions(mode: .single, preprocess: .crop, loadSize: 100)))
    }
}
