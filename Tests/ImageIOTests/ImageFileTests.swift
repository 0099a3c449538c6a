import Foundation
import ImageIO
import TestSupport
import XCTest

/// Fixtures written by tools/make_image_fixtures.py.
let imagesURL = fixturesURL.appendingPathComponent("images")

func fixture(_ name: String) -> URL { imagesURL.appendingPathComponent(name) }

/// pattern(x, y, c) of make_image_fixtures.py.
func pattern(_ w: Int, _ h: Int, _ c: Int) -> [UInt8] {
    var p = [UInt8]()
    for y in 0..<h { for x in 0..<w { for k in 0..<c { p.append(UInt8((x * 37 + y * 61 + k * 97 + 11) % 256)) } } }
    return p
}

/// A fresh temporary folder, removed at the end of the test.
func temporaryFolder(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("imageio-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

func maxDiff(_ a: Image, _ b: Image) -> Int {
    zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
}

func randomImage(_ w: Int, _ h: Int, _ c: Int, seed: UInt64) throws -> Image {
    var g = SystemRandomNumberGeneratorSeeded(seed)
    return try Image(width: w, height: h, channels: c, pixels: (0..<(w * h * c)).map { _ in UInt8(truncatingIfNeeded: g.next()) })
}

/// Small deterministic generator for test data (splitmix64).
struct SystemRandomNumberGeneratorSeeded: RandomNumberGenerator {
    var s: UInt64
    init(_ seed: UInt64) { s = seed }
    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A smooth RGB image (JPEG-friendly).
func smoothImage(_ w: Int, _ h: Int, channels: Int) throws -> Image {
    var p = [UInt8]()
    for y in 0..<h {
        for x in 0..<w {
            let r = 128 + 100 * sin(Double(x) / 5) * cos(Double(y) / 7)
            let g = 40 + 180 * Double(x) / Double(w - 1)
            let b = 220 - 150 * Double(y) / Double(h - 1)
            let v = [r, g, b].map { UInt8(max(0, min(255, $0.rounded()))) }
            p.append(contentsOf: channels == 3 ? v : [v[0]])
        }
    }
    return try Image(width: w, height: h, channels: channels, pixels: p)
}

/// Asserts that `body` throws an ImageIOError whose description contains `path` and each of `contains`.
func assertImageError(_ path: String, _ contains: [String] = [], file: StaticString = #filePath, line: UInt = #line,
                      _ body: () throws -> Void) -> ImageIOError? {
    do {
        try body()
        XCTFail("expected an error for \(path)", file: file, line: line)
        return nil
    } catch let e as ImageIOError {
        let d = e.description
        XCTAssertTrue(d.hasPrefix(path), "error should start with the path: \(d)", file: file, line: line)
        for s in contains { XCTAssertTrue(d.contains(s), "error should mention '\(s)': \(d)", file: file, line: line) }
        return e
    } catch {
        XCTFail("unexpected error type: \(error)", file: file, line: line)
        return nil
    }
}

final class ImageFileTests: XCTestCase {
    // MARK: Round trips

    func testPNGRoundTripIsBitExact() throws {
        let dir = try temporaryFolder(self)
        for c in [1, 3] {
            let img = try randomImage(13, 9, c, seed: UInt64(c))
            let back = try ImageFile.decode(ImageFile.encodePNG(img), path: "mem.png")
            XCTAssertEqual(back.image, img, "PNG with \(c) channels")
            XCTAssertEqual(back.notes, [])
            XCTAssertEqual(back.path, "mem.png")
            let url = dir.appendingPathComponent("x\(c).PNG")
            try ImageFile.write(img, to: url)
            XCTAssertEqual(try ImageFile.read(url).image, img, "file round trip with \(c) channels")
        }
    }

    func testJPEGRoundTripIsClose() throws {
        let dir = try temporaryFolder(self)
        for c in [1, 3] {
            let img = try smoothImage(40, 32, channels: c)
            let url = dir.appendingPathComponent("x\(c).jpeg")
            try ImageFile.write(img, to: url, quality: 95)
            let back = try ImageFile.read(url).image
            XCTAssertEqual([back.width, back.height, back.channels], [40, 32, c])
            let d = maxDiff(back, img)
            let mean = Double(zip(back.pixels, img.pixels).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(img.pixels.count)
            print("  JPEG q95 round trip, \(c) channels: max abs diff \(d), mean \(mean)")
            XCTAssertLessThanOrEqual(d, 12)
            XCTAssertLessThan(mean, 2)
        }
        // Lower quality: smaller file.
        let img = try smoothImage(40, 32, channels: 3)
        XCTAssertLessThan(try ImageFile.encodeJPEG(img, quality: 20).count, try ImageFile.encodeJPEG(img, quality: 95).count)
    }

    // MARK: PNG variants

    func testDecodesPNGVariants() throws {
        let (w, h) = (7, 5)
        func check(_ name: String, channels: Int, pixels: [UInt8], notes: [String], line: UInt = #line) throws {
            let d = try ImageFile.read(fixture(name))
            XCTAssertEqual([d.image.width, d.image.height, d.image.channels], [w, h, channels], name, line: line)
            XCTAssertEqual(d.image.pixels, pixels, name, line: line)
            XCTAssertEqual(d.notes, notes, name, line: line)
        }
        let gray = pattern(w, h, 1), rgb = pattern(w, h, 3)
        var palette = [UInt8]()
        for y in 0..<h { for x in 0..<w { let i = (x + 3 * y) % 16; for c in 0..<3 { palette.append(UInt8((i * 53 + c * 101 + 7) % 256)) } } }
        var checker = [UInt8]()
        for y in 0..<h { for x in 0..<w { checker.append((x + y) % 2 == 1 ? 255 : 0) } }

        try check("gray.png", channels: 1, pixels: gray, notes: [])
        try check("rgb.png", channels: 3, pixels: rgb, notes: [])
        try check("rgba.png", channels: 3, pixels: rgb, notes: ["alpha channel dropped"])
        try check("gray_alpha.png", channels: 1, pixels: gray, notes: ["alpha channel dropped"])
        try check("palette.png", channels: 3, pixels: palette, notes: ["palette expanded"])
        try check("palette_trns.png", channels: 3, pixels: palette, notes: ["palette expanded", "alpha channel dropped"])
        try check("gray1.png", channels: 1, pixels: checker, notes: ["1, 2 or 4-bit gray samples scaled to 8 bits"])
        try check("rgb16.png", channels: 3, pixels: rgb, notes: ["16-bit samples scaled to 8 bits"])
        try check("gray16.png", channels: 1, pixels: gray, notes: ["16-bit samples scaled to 8 bits"])

        let inter = try ImageFile.read(fixture("interlaced.png"))
        XCTAssertEqual([inter.image.width, inter.image.height, inter.image.channels], [13, 11, 3])
        XCTAssertEqual(inter.image.pixels, pattern(13, 11, 3), "Adam7 interlaced PNG")
    }

    func testFormatIsDetectedFromContentNotName() throws {
        let dir = try temporaryFolder(self)
        let url = dir.appendingPathComponent("actually-a-png.jpg")
        try FileManager.default.copyItem(at: fixture("rgb.png"), to: url)
        XCTAssertEqual(try ImageFile.read(url).image.pixels, pattern(7, 5, 3))
        XCTAssertTrue(ImageFile.isImage(URL(fileURLWithPath: "/a/b.JPEG")))
        XCTAssertTrue(ImageFile.isImage(URL(fileURLWithPath: "b.png")))
        XCTAssertFalse(ImageFile.isImage(URL(fileURLWithPath: "b.gif")))
        XCTAssertFalse(ImageFile.isImage(URL(fileURLWithPath: "README")))
        XCTAssertEqual(ImageFile.extensions, ["jpg", "jpeg", "png"])
    }

    // MARK: JPEG variants against Pillow

    func testDecodesJPEGsLikePillow() throws {
        let cases: [(String, Int, [String])] = [
            ("gray", 1, []),
            ("progressive", 3, []),
            ("cmyk", 3, ["CMYK converted to RGB (no colour management)"]),
            ("exif6", 3, ["rotated per EXIF orientation 6"]),
        ]
        for (name, channels, notes) in cases {
            let ours = try ImageFile.read(fixture(name + ".jpg"))
            let pil = try ImageFile.read(fixture(name + "_pil.png")).image
            XCTAssertEqual(ours.image.channels, channels, name)
            XCTAssertEqual([ours.image.width, ours.image.height], [pil.width, pil.height], name)
            XCTAssertEqual(ours.notes, notes, name)
            let d = maxDiff(ours.image, pil)
            print("  \(name).jpg vs Pillow: max abs diff \(d)")
            XCTAssertLessThanOrEqual(d, 2, "\(name).jpg differs from Pillow's decode by \(d)")
        }
        // exif6 is stored 12 x 8 and displayed 8 x 12.
        let e = try ImageFile.read(fixture("exif6.jpg")).image
        XCTAssertEqual([e.width, e.height], [8, 12])
    }

    // MARK: Errors

    func testCorruptJPEGNamesFileAndLibjpegMessage() throws {
        let dir = try temporaryFolder(self)
        var bytes = [UInt8](try Data(contentsOf: fixture("progressive.jpg")))
        // Make the first Huffman table's code counts sum past 256.
        guard let i = (0..<(bytes.count - 1)).first(where: { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC4 }) else {
            return XCTFail("no DHT marker")
        }
        for k in 0..<16 { bytes[i + 5 + k] = 0xFF }
        let url = dir.appendingPathComponent("bad.jpg")
        try Data(bytes).write(to: url)
        let e = assertImageError(url.path, ["corrupt JPEG", "Huffman"]) { _ = try ImageFile.read(url) }
        if case .corrupt = e {} else { XCTFail("expected .corrupt, got \(String(describing: e))") }
    }

    func testTruncatedFilesAreErrorsNotPartialImages() throws {
        let dir = try temporaryFolder(self)
        // JPEGs cut inside their pixel data (a JPEG missing only its end marker decodes: see
        // HostileInputTests.testJPEGMissingOnlyItsEndMarkerDecodesWithANote).
        for name in ["progressive.jpg", "gray.jpg", "exif6.jpg"] {
            let data = try Data(contentsOf: fixture(name))
            for cut in [data.count / 2, data.count - 3] {
                let url = dir.appendingPathComponent("cut-\(cut)-" + name)
                try data.prefix(cut).write(to: url)
                let e = assertImageError(url.path, ["corrupt JPEG", "truncated"]) { _ = try ImageFile.read(url) }
                if case .corrupt = e {} else { XCTFail("expected .corrupt for \(name) cut at \(cut)") }
            }
        }
        for name in ["rgb.png", "interlaced.png", "palette.png"] {
            let data = try Data(contentsOf: fixture(name))
            for cut in [data.count / 2, data.count - 20, 4] {
                let url = dir.appendingPathComponent("cut-\(cut)-" + name)
                try data.prefix(cut).write(to: url)
                let e = assertImageError(url.path, ["corrupt PNG"]) { _ = try ImageFile.read(url) }
                if case .corrupt = e {} else { XCTFail("expected .corrupt for \(name) cut at \(cut)") }
            }
        }
    }

    func testNonImagesEmptyAndMissingFiles() throws {
        let dir = try temporaryFolder(self)
        let text = dir.appendingPathComponent("notes.jpg")
        try Data("hello world, not a JPEG\n".utf8).write(to: text)
        let e1 = assertImageError(text.path, ["not a JPEG file", "hello wo"]) { _ = try ImageFile.read(text) }
        if case .corrupt = e1 {} else { XCTFail("text named .jpg should be .corrupt") }

        let empty = dir.appendingPathComponent("empty.png")
        try Data().write(to: empty)
        let e2 = assertImageError(empty.path, ["empty"]) { _ = try ImageFile.read(empty) }
        if case .corrupt = e2 {} else { XCTFail("empty file should be .corrupt") }

        let missing = dir.appendingPathComponent("missing.png")
        let e3 = assertImageError(missing.path, ["no such file"]) { _ = try ImageFile.read(missing) }
        if case .unreadable = e3 {} else { XCTFail("missing file should be .unreadable") }

        let folder = dir.appendingPathComponent("folder.png")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let e4 = assertImageError(folder.path, ["folder"]) { _ = try ImageFile.read(folder) }
        if case .unreadable = e4 {} else { XCTFail("a folder should be .unreadable") }

        let gif = dir.appendingPathComponent("anim.gif")
        try Data("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8).write(to: gif)
        let e5 = assertImageError(gif.path, ["GIF"]) { _ = try ImageFile.read(gif) }
        if case .unsupported = e5 {} else { XCTFail("GIF should be .unsupported") }

        let unknown = dir.appendingPathComponent("data.bin")
        try Data([0x00, 0x01, 0x02, 0x03, 0xFE]).write(to: unknown)
        let e6 = assertImageError(unknown.path, ["unknown format", "00 01 02 03 fe"]) { _ = try ImageFile.read(unknown) }
        if case .unsupported = e6 {} else { XCTFail("unknown bytes should be .unsupported") }
    }

    func testAbsurdDimensionsAreRefusedBeforeAllocating() throws {
        let e = assertImageError(fixture("huge.png").path, ["40000 x 40000", "exceeds", "DecodeLimits.maxPixels"]) {
            _ = try ImageFile.read(fixture("huge.png"))
        }
        if case .limitExceeded = e {} else { XCTFail("expected .limitExceeded") }

        // A JPEG whose SOF claims 40000 x 40000.
        var bytes = [UInt8](try Data(contentsOf: fixture("gray.jpg")))
        guard let i = (0..<(bytes.count - 1)).first(where: { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 }) else {
            return XCTFail("no SOF0 marker")
        }
        bytes[i + 5] = 0x9C; bytes[i + 6] = 0x40  // height 40000
        bytes[i + 7] = 0x9C; bytes[i + 8] = 0x40  // width 40000
        let e2 = assertImageError("huge.jpg", ["40000 x 40000"]) { _ = try ImageFile.decode(Data(bytes), path: "huge.jpg") }
        if case .limitExceeded = e2 {} else { XCTFail("expected .limitExceeded") }
    }

    /// Random byte damage must give an image or an ImageIOError, never a crash or exit.
    func testDamagedBytesNeverCrash() throws {
        var g = SystemRandomNumberGeneratorSeeded(42)
        for name in ["progressive.jpg", "gray.jpg", "rgb16.png", "interlaced.png", "palette.png"] {
            let original = [UInt8](try Data(contentsOf: fixture(name)))
            var errors = 0
            for _ in 0..<150 {
                var b = original
                for _ in 0..<(1 + Int(g.next() % 4)) { b[Int(g.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: g.next()) }
                if g.next() % 4 == 0 { b = Array(b.prefix(Int(g.next() % UInt64(b.count)))) }
                do {
                    let d = try ImageFile.decode(Data(b), path: name)
                    XCTAssertEqual(d.image.pixels.count, d.image.width * d.image.height * d.image.channels)
                } catch let e as ImageIOError {
                    errors += 1
                    XCTAssertTrue(e.description.hasPrefix(name), e.description)
                }
            }
            XCTAssertGreaterThan(errors, 0, name)
        }
    }

    // MARK: Writing

    func testAtomicWriteLeavesNoTemporaryFiles() throws {
        let dir = try temporaryFolder(self)
        let img = try randomImage(8, 6, 3, seed: 9)
        let url = dir.appendingPathComponent("out.png")
        try ImageFile.write(img, to: url)
        try ImageFile.write(img.flippedHorizontally(), to: url)  // overwrite
        try ImageFile.write(img, to: dir.appendingPathComponent("out.jpg"), quality: 80)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["out.jpg", "out.png"])
        XCTAssertEqual(try ImageFile.read(url).image, img.flippedHorizontally())
    }

    func testFailedWritesDoNotTouchExistingFiles() throws {
        let dir = try temporaryFolder(self)
        let img = try randomImage(8, 6, 3, seed: 10)
        let url = dir.appendingPathComponent("keep.png")
        try ImageFile.write(img, to: url)
        let before = try Data(contentsOf: url)

        // Missing folder: error names the path, nothing is created.
        let missing = dir.appendingPathComponent("no/such/folder/x.png")
        let e = assertImageError(missing.path, ["does not exist"]) { try ImageFile.write(img, to: missing) }
        if case .unwritable = e {} else { XCTFail("expected .unwritable") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("no").path))

        // An image that cannot be encoded: the existing file is untouched.
        var broken = img
        broken.pixels.removeLast()
        XCTAssertThrowsError(try ImageFile.write(broken, to: url))
        // Bad quality and unknown extension.
        XCTAssertThrowsError(try ImageFile.write(img, to: dir.appendingPathComponent("q.jpg"), quality: 0)) {
            XCTAssertTrue("\($0)".contains("quality"), "\($0)")
        }
        _ = assertImageError(dir.appendingPathComponent("keep.bmp").path, [".bmp"]) {
            try ImageFile.write(img, to: dir.appendingPathComponent("keep.bmp"))
        }
        XCTAssertEqual(try Data(contentsOf: url), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["keep.png"])
    }
}
