import Foundation
import ImageIO
import TestSupport
import XCTest

/// Hostile and damaged input: decompression bombs, pathological progressive JPEGs,
/// truncated JPEGs, and the conversion notes a command prints once per run. The fixtures
/// many_scans.jpg, bomb_16k.png and wide.png are written by tools/fuzz/make_hostile_fixtures.py;
/// fuzz_*.jpg / fuzz_*.png are inputs found by tools/fuzz/run.sh (see tools/fuzz/README.md).
final class HostileInputTests: XCTestCase {
    // MARK: Decompression bombs (class: sizes claimed by a header)

    func testDecompressionBombIsRefusedBeforeAllocatingNamingFileAndClaimedSize() throws {
        let url = fixture("bomb_16k.png")
        XCTAssertLessThan(try Data(contentsOf: url).count, 200, "a 128-byte file claims 805 MB of pixels")
        let t = Date()
        let e = assertImageError(url.path, ["16384 x 16384", "268435456 pixels", "67108864", "DecodeLimits.maxPixels"]) {
            _ = try ImageFile.read(url)
        }
        if case .limitExceeded = e {} else { XCTFail("expected .limitExceeded, got \(String(describing: e))") }
        XCTAssertLessThan(Date().timeIntervalSince(t), 1, "refused from the header, without decoding")

        // Raising the pixel limit alone: the memory estimate (16384 * 16384 * 3 bytes, and the
        // copy Image keeps) still refuses it, before allocating.
        let e2 = assertImageError(url.path, ["16384 x 16384", "would need about 1.61 GB", "DecodeLimits.maxBytes"]) {
            _ = try ImageFile.read(url, limits: DecodeLimits(maxPixels: 1 << 30))
        }
        if case .limitExceeded = e2 {} else { XCTFail("expected .limitExceeded") }

        // The same class in a JPEG: SOF claims 16384 x 16384.
        var bytes = [UInt8](try Data(contentsOf: fixture("gray.jpg")))
        guard let i = (0..<(bytes.count - 1)).first(where: { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 }) else {
            return XCTFail("no SOF0 marker")
        }
        bytes[i + 5] = 0x40; bytes[i + 6] = 0x00
        bytes[i + 7] = 0x40; bytes[i + 8] = 0x00
        let e3 = assertImageError("bomb.jpg", ["JPEG header claims 16384 x 16384", "DecodeLimits.maxPixels"]) {
            _ = try ImageFile.decode(Data(bytes), path: "bomb.jpg")
        }
        if case .limitExceeded = e3 {} else { XCTFail("expected .limitExceeded") }
    }

    func testLimitsAreValuesCallersPass() throws {
        XCTAssertEqual(DecodeLimits.standard, DecodeLimits())
        XCTAssertEqual(DecodeLimits.standard.maxPixels, 64 << 20)
        XCTAssertEqual(DecodeLimits.standard.maxJPEGScans, 1000)

        // A side limit: a complete, valid 100000 x 1 PNG (few pixels, one absurd side).
        let wide = fixture("wide.png")
        let e = assertImageError(wide.path, ["100000 x 1", "65535", "DecodeLimits.maxSide"]) { _ = try ImageFile.read(wide) }
        if case .limitExceeded = e {} else { XCTFail("expected .limitExceeded") }
        let d = try ImageFile.read(wide, limits: DecodeLimits(maxSide: 100_000))
        XCTAssertEqual([d.image.width, d.image.height, d.image.channels], [100_000, 1, 1])
        XCTAssertEqual(Array(d.image.pixels[0..<256]), (0..<256).map { UInt8($0) })

        // A pixel limit below a fixture's size refuses it; the same file decodes by default.
        let rgb = fixture("rgb.png")  // 7 x 5
        _ = assertImageError(rgb.path, ["7 x 5", "(35 pixels)", "limit of 34 pixels"]) {
            _ = try ImageFile.read(rgb, limits: DecodeLimits(maxPixels: 34))
        }
        XCTAssertNoThrow(try ImageFile.read(rgb, limits: DecodeLimits(maxPixels: 35)))

        // Memory: the estimate counts the input, the output and its copy, codec buffers.
        for name in ["progressive.jpg", "rgb16.png", "gray.jpg", "interlaced.png"] {
            let e = assertImageError(fixture(name).path, ["would need about", "DecodeLimits.maxBytes"]) {
                _ = try ImageFile.read(fixture(name), limits: DecodeLimits(maxBytes: 20_000))
            }
            if case .limitExceeded = e {} else { XCTFail("expected .limitExceeded for \(name)") }
        }
        // The file itself larger than the memory limit: refused before reading it.
        let dir = try temporaryFolder(self)
        let big = dir.appendingPathComponent("big.png")
        try Data(repeating: 0, count: 5000).write(to: big)
        _ = assertImageError(big.path, ["5000 bytes", "DecodeLimits.maxBytes"]) {
            _ = try ImageFile.read(big, limits: DecodeLimits(maxBytes: 4000))
        }
        // Nonsense limits are the caller's error.
        XCTAssertThrowsError(try ImageFile.read(rgb, limits: DecodeLimits(maxPixels: 0))) {
            XCTAssertEqual($0 as? ImageIOError, .invalidArgument("DecodeLimits.maxPixels must be at least 1, got 0"))
        }
        // Scaled limits for a larger pixel budget keep the standard ratios.
        let s = DecodeLimits.scaled(toMaxPixels: 256 << 20)
        XCTAssertEqual(s.maxPixels, 256 << 20)
        XCTAssertEqual(s.maxBytes, 16 * (256 << 20))
        XCTAssertEqual(s.maxJPEGScanPixels, 100 * (256 << 20))
        XCTAssertEqual(DecodeLimits.scaled(toMaxPixels: 1000).maxBytes, DecodeLimits.standard.maxBytes)
    }

    // MARK: Progressive JPEGs with too many scans (class: decoding time chosen by the file)

    func testProgressiveJPEGWithThousandsOfScansIsRefusedQuickly() throws {
        let url = fixture("many_scans.jpg")  // 1024 scans of an 8 x 8 gray image
        let t = Date()
        let e = assertImageError(url.path, ["more than 1000 scans", "DecodeLimits.maxJPEGScans"]) { _ = try ImageFile.read(url) }
        if case .limitExceeded = e {} else { XCTFail("expected .limitExceeded") }
        XCTAssertLessThan(Date().timeIntervalSince(t), 1)
        // It is a valid file: with a higher limit it decodes (flat gray).
        let d = try ImageFile.read(url, limits: DecodeLimits(maxJPEGScans: 2000))
        XCTAssertEqual([d.image.width, d.image.height, d.image.channels], [8, 8, 1])
        XCTAssertEqual(Set(d.image.pixels), [128])
        XCTAssertEqual(d.notes, [])

        // An ordinary progressive JPEG has 10 scans.
        XCTAssertNoThrow(try ImageFile.read(fixture("progressive.jpg"), limits: DecodeLimits(maxJPEGScans: 10)))
        _ = assertImageError(fixture("progressive.jpg").path, ["more than 9 scans"]) {
            _ = try ImageFile.read(fixture("progressive.jpg"), limits: DecodeLimits(maxJPEGScans: 9))
        }
        XCTAssertNoThrow(try ImageFile.read(fixture("gray.jpg"), limits: DecodeLimits(maxJPEGScans: 1)))
    }

    func testFewScansOverALargeImageAreBoundedToo() throws {
        // 500 scans (below maxJPEGScans) over 4096 x 4096 pixels: each scan re-reads the whole
        // image, 8.4 * 10^9 pixels in all; refused once the scans cover maxJPEGScanPixels
        // (100 * 2^26 = 400 scans of 2^24 pixels).
        let data = manyScansJPEG(side: 4096, scans: 500)
        XCTAssertLessThan(data.count, 100_000)
        let t = Date()
        let e = assertImageError("scans.jpg", ["first 401 scans already cover", "DecodeLimits.maxJPEGScanPixels"]) {
            _ = try ImageFile.decode(data, path: "scans.jpg")
        }
        if case .limitExceeded = e {} else { XCTFail("expected .limitExceeded") }
        let refused = Date().timeIntervalSince(t)
        print("  500 scans over 4096 x 4096: refused after \(String(format: "%.2f", refused)) s")
        XCTAssertLessThan(refused, 10)
        // A lower budget refuses sooner; a file of few scans decodes.
        _ = assertImageError("scans.jpg", ["first 11 scans"]) {
            _ = try ImageFile.decode(data, path: "scans.jpg", limits: DecodeLimits(maxJPEGScanPixels: 10 << 24))
        }
        let d = try ImageFile.decode(manyScansJPEG(side: 64, scans: 3), path: "few.jpg")
        XCTAssertEqual([d.image.width, d.image.height], [64, 64])
    }

    // MARK: Truncated JPEGs

    func testJPEGMissingOnlyItsEndMarkerDecodesWithANote() throws {
        for name in ["progressive.jpg", "gray.jpg", "exif6.jpg", "cmyk.jpg"] {
            let data = try Data(contentsOf: fixture(name))
            XCTAssertEqual(Array(data.suffix(2)), [0xFF, 0xD9], name)
            let full = try ImageFile.decode(data, path: name)
            let cut = try ImageFile.decode(data.prefix(data.count - 2), path: "cut-" + name)
            XCTAssertEqual(cut.image, full.image, "\(name) without EOI decodes to the same pixels")
            XCTAssertEqual(Set(cut.conversions.map(\.kind)), Set(full.conversions.map(\.kind) + [.missingEndMarker]), name)
            XCTAssertEqual(cut.conversions.count, full.conversions.count + 1, name)
            XCTAssertFalse(full.conversions.contains { $0.kind == .missingEndMarker })
            let note = cut.conversions.first { $0.kind == .missingEndMarker }
            XCTAssertEqual(note?.path, "cut-" + name)
            XCTAssertEqual(note?.text, "JPEG ends without its end-of-image marker (all pixel data present; decoded)")
        }
    }

    func testJPEGTruncatedInsideItsDataIsRefusedAsTruncated() throws {
        // Decision: a JPEG whose pixel data is cut would decode as a partly gray image (libjpeg
        // fills what is missing); it is refused, saying it is truncated and roughly where.
        let gray = try Data(contentsOf: fixture("gray.jpg"))
        _ = assertImageError("g.jpg", ["corrupt JPEG: truncated: the file ends inside the pixel data", "of 24"]) {
            _ = try ImageFile.decode(gray.prefix(gray.count - 3), path: "g.jpg")
        }
        _ = assertImageError("g.jpg", ["truncated"]) { _ = try ImageFile.decode(gray.prefix(gray.count / 2), path: "g.jpg") }

        // Progressive, cut exactly between two scans: the image would lack its later scans.
        let prog = [UInt8](try Data(contentsOf: fixture("progressive.jpg")))
        let sos = (0..<(prog.count - 1)).filter { prog[$0] == 0xFF && prog[$0 + 1] == 0xDA }
        XCTAssertEqual(sos.count, 10)
        // Scans 9 and 10 and the tables before them missing (cut before the DHT that precedes scan 9).
        guard let lastGoodEnd = (0..<sos[8]).last(where: { prog[$0] == 0xFF && prog[$0 + 1] != 0 && prog[$0 + 1] != 0xDA && $0 > sos[7] }) else {
            return XCTFail("no marker between scans 8 and 9")
        }
        let e = assertImageError("p.jpg", ["truncated", "the file ends after scan 8 of a progressive JPEG", "later scans are missing"]) {
            _ = try ImageFile.decode(Data(prog.prefix(lastGoodEnd)), path: "p.jpg")
        }
        if case .corrupt = e {} else { XCTFail("expected .corrupt") }
        // Cut inside a scan header or table: also "truncated".
        _ = assertImageError("p.jpg", ["truncated"]) { _ = try ImageFile.decode(Data(prog.prefix(sos[8] + 5)), path: "p.jpg") }
        _ = assertImageError("p.jpg", ["truncated"]) { _ = try ImageFile.decode(Data(prog.prefix(200)), path: "p.jpg") }
        // Damaged (not truncated) pixel data still names what libjpeg saw.
        var damaged = gray
        guard let sosAt = (0..<(gray.count - 1)).first(where: { gray[$0] == 0xFF && gray[$0 + 1] == 0xDA }) else {
            return XCTFail("no SOS")
        }
        let start = sosAt + 10
        for k in start..<(start + 40) { damaged[k] = 0xFF; damaged[k + 1] = 0x55 }
        _ = assertImageError("d.jpg", ["corrupt JPEG"]) { _ = try ImageFile.decode(damaged, path: "d.jpg") }
    }

    // MARK: Conversion notes, once per run

    func testConversionNotesSayEachKindOncePerRunWithAnExample() throws {
        var notes = ConversionNotes()
        XCTAssertTrue(notes.isEmpty)
        var printed: [String] = []
        for name in ["rgb.png", "rgba.png", "palette_trns.png", "rgba.png", "rgb16.png", "gray16.png", "cmyk.jpg", "exif6.jpg", "gray_alpha.png"] {
            let d = try ImageFile.read(fixture(name))
            XCTAssertEqual(d.path, fixture(name).path)
            XCTAssertTrue(d.conversions.allSatisfy { $0.path == d.path })
            printed += notes.record(d)
        }
        let kinds = notes.entries.map(\.kind)
        XCTAssertEqual(kinds, [.alphaDropped, .paletteExpanded, .sixteenBitScaled, .cmykConverted, .exifOrientation])
        XCTAssertEqual(printed, [
            "note: \(fixture("rgba.png").path): alpha channel dropped (said once; later files are counted)",
            "note: \(fixture("palette_trns.png").path): palette expanded (said once; later files are counted)",
            "note: \(fixture("rgb16.png").path): 16-bit samples scaled to 8 bits (said once; later files are counted)",
            "note: \(fixture("cmyk.jpg").path): CMYK converted to RGB (no colour management) (said once; later files are counted)",
            "note: \(fixture("exif6.jpg").path): rotated per EXIF orientation 6 (said once; later files are counted)",
        ])
        XCTAssertEqual(notes.summary[0], "alpha channel dropped: 4 files (first: \(fixture("rgba.png").path))")
        XCTAssertEqual(notes.summary[2], "16-bit samples scaled to 8 bits: 2 files (first: \(fixture("rgb16.png").path))")
        XCTAssertEqual(notes.record([]), [])

        // Channel conversions done by a caller (a gray file for a 3-channel model).
        let g = try ImageFile.read(fixture("gray.png"))
        let c = ConversionNote.channelConversion(from: g.image.channels, to: 3, path: g.path)
        XCTAssertEqual(c?.kind, .grayExpanded)
        XCTAssertNil(ConversionNote.channelConversion(from: 3, to: 3, path: g.path))
        XCTAssertEqual(ConversionNote.channelConversion(from: 3, to: 1, path: "x")?.kind, .colorToGray)

        // Collected elsewhere (another loader thread) and merged.
        var other = ConversionNotes()
        other.record(try ImageFile.read(fixture("rgba.png")))
        other.record([c].compactMap { $0 })
        notes.merge(other)
        XCTAssertEqual(notes.entries.first { $0.kind == .alphaDropped }?.count, 5)
        XCTAssertEqual(notes.entries.last?.kind, .grayExpanded)
        XCTAssertEqual(notes.entries.last?.first.path, g.path)
    }

    // MARK: Inputs found by fuzzing (tools/fuzz), kept as regression tests

    func testFuzzFindingsGiveClearErrorsNotCrashes() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: imagesURL.path).filter { $0.hasPrefix("fuzz_") }.sorted()
        for name in names {
            do {
                let d = try ImageFile.read(fixture(name))
                XCTAssertEqual(d.image.pixels.count, d.image.width * d.image.height * d.image.channels, name)
            } catch let e as ImageIOError {
                XCTAssertTrue(e.description.hasPrefix(fixture(name).path), e.description)
                XCTAssertGreaterThan(e.description.count, fixture(name).path.count + 10, e.description)
            }
        }
    }
}

/// A gray progressive JPEG of side x side pixels with `scans` scans: one DC scan, then AC scans
/// that code the whole image as EOB runs (16384 blocks a symbol), so each costs a few bytes but
/// makes the decoder visit every block (as tools/fuzz/make_hostile_fixtures.py, larger).
func manyScansJPEG(side: Int, scans: Int) -> Data {
    precondition(side % 512 == 0 || side <= 64)
    func marker(_ code: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [0xFF, code, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload
    }
    let blocks = (side / 8) * (side / 8)
    var out: [UInt8] = [0xFF, 0xD8]
    out += marker(0xDB, [0] + [UInt8](repeating: 1, count: 64))
    out += marker(0xC2, [8, UInt8(side >> 8), UInt8(side & 0xFF), UInt8(side >> 8), UInt8(side & 0xFF), 1, 1, 0x11, 0])
    func table(_ cls: UInt8, _ sym: UInt8) -> [UInt8] { [cls, 1] + [UInt8](repeating: 0, count: 15) + [sym] }
    out += marker(0xC4, table(0x00, 0))     // DC: category 0 only, code "0"
    let ac: UInt8 = blocks >= 16384 ? 0xE0 : 0x00  // EOB14 (runs of 16384) or EOB0 (one block)
    out += marker(0xC4, table(0x10, ac))
    out += marker(0xDA, [1, 1, 0, 0, 0, 0]) + [UInt8](repeating: 0x00, count: (blocks + 7) / 8)
    // AC scan data: "0" + 14 zero bits per EOB14 run, or "0" per block; padded with ones.
    let symbols = blocks >= 16384 ? blocks / 16384 : blocks
    let bits = symbols * (blocks >= 16384 ? 15 : 1)
    var data = [UInt8](repeating: 0, count: (bits + 7) / 8)
    if bits % 8 != 0 { data[data.count - 1] = UInt8((1 << (8 - bits % 8)) - 1) }
    for _ in 1..<max(scans, 2) { out += marker(0xDA, [1, 1, 0, 1, 63, 0]) + data }
    return Data(out + [0xFF, 0xD9])
}
