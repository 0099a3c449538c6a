@testable import Datasets
import ImageIO
import Tensors
import TestSupport
import XCTest

/// Super-resolution training crops: the detail filter (`--min-patch-detail`).
final class SuperResolutionPatchTests: XCTestCase {
    /// 256 x 64: the left 192 columns flat grey, the right 64 random noise.
    func mostlyFlat() throws -> Image {
        var rng = RNG(seed: 3)
        var p = [UInt8]()
        for _ in 0..<64 { for x in 0..<256 { for _ in 0..<3 { p.append(x < 192 ? 128 : UInt8(rng.nextInt(256))) } } }
        return try Image(width: 256, height: 64, channels: 3, pixels: p)
    }

    func testDetailMeasuresWhatBicubicCannotRecover() throws {
        let img = try mostlyFlat()
        let flat = try img.cropped(x: 0, y: 0, width: 64, height: 64), noise = try img.cropped(x: 192, y: 0, width: 64, height: 64)
        XCTAssertEqual(SuperResolution.detail(flat, low: flat.resized(width: 16, height: 16, filter: .bicubic)), 0)
        XCTAssertGreaterThan(SuperResolution.detail(noise, low: noise.resized(width: 16, height: 16, filter: .bicubic)), 0.1)
    }

    func testFilterRedrawsFlatCropsAndZeroKeepsTheOldStream() throws {
        let img = try mostlyFlat()
        var flatWithout = 0, flatWith = 0
        var a = RNG(seed: 11), b = RNG(seed: 11)
        for _ in 0..<40 {
            let p0 = try SuperResolution.trainingPair(img, patch: 32, scale: 4, rng: &a)
            let p1 = try SuperResolution.trainingPair(img, patch: 32, scale: 4, minDetail: 0.02, rng: &b)
            let hr0 = try Image(tensor: p0.y), hr1 = try Image(tensor: p1.y)
            if SuperResolution.detail(hr0, low: try Image(tensor: p0.x)) < 0.02 { flatWithout += 1 }
            if SuperResolution.detail(hr1, low: try Image(tensor: p1.x)) < 0.02 { flatWith += 1 }
        }
        // 5 of every 7 crop positions are entirely flat; with the filter a flat crop needs 10 flat draws in a row
        XCTAssertGreaterThan(flatWithout, 15)
        XCTAssertLessThanOrEqual(flatWith, 2)
        // with 0 the filter draws nothing extra: the same crops as before it existed
        var c = RNG(seed: 5), d = RNG(seed: 5)
        for _ in 0..<5 {
            let p0 = try SuperResolution.trainingPair(img, patch: 32, scale: 4, rng: &c)
            let p1 = try SuperResolution.trainingPair(img, patch: 32, scale: 4, minDetail: 0, rng: &d)
            XCTAssertEqual(p0.y.data, p1.y.data)
        }
        XCTAssertEqual(c.nextInt(1 << 30), d.nextInt(1 << 30))
    }
}
