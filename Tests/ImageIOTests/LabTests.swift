import XCTest
import Foundation
import ImageIO
import Tensors
import TestSupport

/// CIE Lab against scikit-image. The fixture is written by tools/make_lab_fixture.py:
///
///     rgb = np.array(colours, dtype=np.float32).astype(np.float64)
///     lab = skimage.color.rgb2lab(rgb.reshape(1, -1, 3)).reshape(-1, 3)
///     rgb_out = skimage.color.lab2rgb(lab_in.reshape(1, -1, 3)).reshape(-1, 3)
final class LabTests: XCTestCase {
    struct LabFixture: Decodable {
        var skimage: String
        var rgb: [Double], lab: [Double], lab_in: [Double], rgb_out: [Double]
    }

    func loadFixture() throws -> LabFixture {
        try JSONDecoder().decode(LabFixture.self, from: Data(contentsOf: fixturesURL.appendingPathComponent("lab/lab.json")))
    }

    /// The worst |actual - expected| and the pixel (triple) where it is.
    func worst(_ actual: [Float], _ expected: [Double]) -> (diff: Double, pixel: Int) {
        XCTAssertEqual(actual.count, expected.count)
        var w = 0.0, at = 0
        for (i, (x, y)) in zip(actual, expected).enumerated() where !(abs(Double(x) - y) <= w) {
            w = abs(Double(x) - y); at = i / 3
        }
        return (w, at)
    }

    /// Every 8-bit colour on a grid of `step` levels (0 and 255 included), as one RGB image.
    func cubeImage(step: Int = 15) throws -> Image {
        let levels = Array(stride(from: 0, through: 255, by: step))
        var px = [UInt8]()
        for r in levels { for g in levels { for b in levels { px += [UInt8(r), UInt8(g), UInt8(b)] } } }
        return try Image(width: levels.count * levels.count, height: levels.count, channels: 3, pixels: px)
    }

    func testRGBToLabMatchesScikitImage() throws {
        let f = try loadFixture()
        let lab = LabColor.rgbToLab(f.rgb.map(Float.init))
        let (w, at) = worst(lab, f.lab)
        print("rgb2lab vs scikit-image \(f.skimage): max |diff| \(w) at colour \(at)")
        XCTAssertLessThan(w, 1e-4, "rgb2lab: max |diff| \(w) at colour \(at): rgb \(f.rgb[3 * at ..< 3 * at + 3])")
    }

    func testLabToRGBMatchesScikitImage() throws {
        let f = try loadFixture()
        let rgb = LabColor.labToRgb(f.lab_in.map(Float.init))
        let (w, at) = worst(rgb, f.rgb_out)
        print("lab2rgb vs scikit-image \(f.skimage): max |diff| \(w) at Lab value \(at)")
        XCTAssertLessThan(w, 1e-4, "lab2rgb: max |diff| \(w) at Lab value \(at): \(f.lab_in[3 * at ..< 3 * at + 3])")
        XCTAssertTrue(rgb.allSatisfy { $0 >= 0 && $0 <= 1 }, "lab2rgb results are clipped to [0, 1]")
    }

    func testRoundTripInGamut() throws {
        let f = try loadFixture()
        let cube = try cubeImage(step: 5).pixels.map { Double($0) / 255 }
        for (what, rgb) in [("fixture colours", f.rgb), ("8-bit cube", cube)] {
            let back = LabColor.labToRgb(LabColor.rgbToLab(rgb.map(Float.init)))
            let (w, at) = worst(back, rgb.map { Double(Float($0)) })
            print("\(what): rgb -> lab -> rgb max |diff| \(w)")
            XCTAssertLessThan(w, 1e-5, "\(what): rgb -> lab -> rgb max |diff| \(w) at colour \(at)")
        }
    }

    func testNormalisedRanges() throws {
        let image = try cubeImage()
        let (l, ab) = image.labTensors()
        XCTAssertEqual(l.shape, [1, 1, image.height, image.width])
        XCTAssertEqual(ab.shape, [1, 2, image.height, image.width])
        XCTAssertEqual(l.data.min()!, -1, accuracy: 1e-6, "black is L = 0")
        XCTAssertEqual(l.data.max()!, 1, accuracy: 1e-4, "white is L = 100")
        XCTAssertTrue(l.data.allSatisfy { $0 >= -1 && $0 <= 1 + 1e-6 })
        XCTAssertTrue(ab.data.allSatisfy { abs($0) < 1 }, "ab / 110 within (-1, 1): \(ab.data.min()!) ... \(ab.data.max()!)")
        XCTAssertGreaterThan(ab.data.map(abs).max()!, 0.75, "the normalisation uses most of [-1, 1]")

        // Planar layout, the same numbers as rgbToLab: pixel (x, y) of plane c at c * H * W + y * W + x.
        let lab = LabColor.rgbToLab(image.pixels.map { Float($0) / 255 })
        let hw = image.width * image.height
        var w: Float = 0
        for i in 0..<hw {
            w = max(w, abs(l.data[i] - (lab[3 * i] / 50 - 1)),
                    abs(ab.data[i] - lab[3 * i + 1] / 110), abs(ab.data[hw + i] - lab[3 * i + 2] / 110))
        }
        XCTAssertLessThan(w, 1e-6, "labTensors vs rgbToLab: max |diff| \(w)")
    }

    func testImageRoundTripThroughLab() throws {
        var state: UInt64 = 0x9E3779B97F4A7C15
        var random = [UInt8]()
        for _ in 0..<(37 * 23 * 3) {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            random.append(UInt8(truncatingIfNeeded: state >> 56))
        }
        for image in [try cubeImage(step: 5), try Image(width: 37, height: 23, channels: 3, pixels: random)] {
            let (l, ab) = image.labTensors()
            let back = try Image(l: l, ab: ab)
            XCTAssertEqual([back.width, back.height, back.channels], [image.width, image.height, 3])
            let worst = zip(back.pixels, image.pixels).map { abs(Int($0) - Int($1)) }.max()!
            print("Image \(image.width) x \(image.height) -> (L, ab) -> Image: worst difference \(worst) levels")
            XCTAssertLessThanOrEqual(worst, 1, "Image -> (L, ab) -> Image: worst difference \(worst) levels")
        }
    }

    func testGrayImageIsTheLightnessSource() throws {
        let grayPixels = (0..<256).map { UInt8($0) }
        let gray = try Image(width: 16, height: 16, channels: 1, pixels: grayPixels)
        let rgb = try Image(width: 16, height: 16, channels: 3, pixels: grayPixels.flatMap { [$0, $0, $0] })
        let (gl, gab) = gray.labTensors(), (rl, rab) = rgb.labTensors()
        XCTAssertEqual(gl.shape, [1, 1, 16, 16])
        XCTAssertEqual(gl.data, rl.data, "a gray image is L of r = g = b")
        XCTAssertEqual(gab.data, rab.data)
        XCTAssertLessThan(gab.data.map(abs).max()!, 1e-4, "gray has ab near 0")
        let back = try Image(l: gl, ab: gab)
        XCTAssertEqual(back.channels, 3)
        let worst = zip(back.pixels, rgb.pixels).map { abs(Int($0) - Int($1)) }.max()!
        XCTAssertLessThanOrEqual(worst, 1, "gray -> (L, ab) -> RGB: worst difference \(worst) levels")
        // A gray L with zero ab is gray too.
        let zero = Tensor(zeros: [1, 2, 16, 16])
        let neutral = try Image(l: gl, ab: zero)
        for i in 0..<256 { XCTAssertLessThanOrEqual(abs(Int(neutral.pixels[3 * i]) - i), 1) }
    }

    func testLabTensorsRefuseBadInput() throws {
        let l = Tensor(zeros: [2, 1, 4, 5]), ab = Tensor(zeros: [2, 2, 4, 5])
        XCTAssertNoThrow(try Image(l: l, ab: ab, index: 1))
        XCTAssertThrowsError(try Image(l: l, ab: ab, index: 2))
        XCTAssertThrowsError(try Image(l: ab, ab: l))
        XCTAssertThrowsError(try Image(l: l, ab: Tensor(zeros: [2, 2, 5, 4])))
        XCTAssertThrowsError(try Image(l: Tensor(zeros: [1, 4, 5]), ab: ab))
        let nan = Tensor(zeros: [1, 2, 4, 5])
        nan.data[7] = .nan
        XCTAssertThrowsError(try Image(l: Tensor(zeros: [1, 1, 4, 5]), ab: nan)) { error in
            XCTAssertTrue("\(error)".contains("non-finite value at pixel (2, 1)"), "\(error)")
        }
        let inf = Tensor(zeros: [1, 1, 4, 5])
        inf.data[0] = .infinity
        XCTAssertThrowsError(try Image(l: inf, ab: Tensor(zeros: [1, 2, 4, 5])))
    }
}
