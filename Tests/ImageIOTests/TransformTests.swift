import Foundation
@testable import ImageIO
import Tensors
import TestSupport
import XCTest

final class TransformTests: XCTestCase {
    /// Every resize fixture (Pillow's Image.resize output) within +-1 of ours.
    func testResizeMatchesPillow() throws {
        let src = try ImageFile.read(fixture("resize_src.png")).image
        let gsrc = try ImageFile.read(fixture("resize_src_gray.png")).image
        XCTAssertEqual([src.width, src.height, src.channels, gsrc.channels], [23, 17, 3, 1])
        var cases: [(Image, String, ResizeFilter, Int, Int)] = []
        for f in ResizeFilter.allCases {
            for (w, h) in [(37, 29), (9, 7), (11, 31), (46, 17)] { cases.append((src, "resize_\(f.rawValue)_\(w)x\(h).png", f, w, h)) }
            for (w, h) in [(8, 5), (40, 27)] { cases.append((gsrc, "resize_gray_\(f.rawValue)_\(w)x\(h).png", f, w, h)) }
        }
        var worst = 0
        for (img, name, f, w, h) in cases {
            let ref = try ImageFile.read(fixture(name)).image
            let ours = img.resized(width: w, height: h, filter: f)
            XCTAssertEqual([ours.width, ours.height, ours.channels], [ref.width, ref.height, ref.channels], name)
            let d = maxDiff(ours, ref)
            worst = max(worst, d)
            XCTAssertLessThanOrEqual(d, 1, "\(name): max abs diff \(d)")
        }
        print("  resize vs Pillow, \(cases.count) cases: worst max abs diff \(worst)")
        XCTAssertEqual(src.resized(width: 23, height: 17), src, "same size is the identity")
    }

    func testGrayConversionMatchesPillow() throws {
        let src = try ImageFile.read(fixture("resize_src.png")).image
        let ref = try ImageFile.read(fixture("resize_src_L.png")).image
        XCTAssertEqual(src.converted(toChannels: 1), ref)
        let rgb = ref.converted(toChannels: 3)
        XCTAssertEqual(rgb.channels, 3)
        for i in 0..<ref.pixels.count { XCTAssertEqual(rgb.pixels[3 * i ..< 3 * i + 3].map { $0 }, [ref.pixels[i], ref.pixels[i], ref.pixels[i]]) }
        XCTAssertEqual(rgb.converted(toChannels: 1), ref, "gray -> RGB -> gray is exact")
        XCTAssertEqual(src.converted(toChannels: 3), src)
    }

    func testCropAndBounds() throws {
        let img = try Image(width: 4, height: 3, channels: 1, pixels: Array(0..<12))
        let c = try img.cropped(x: 1, y: 1, width: 2, height: 2)
        XCTAssertEqual(c, try Image(width: 2, height: 2, channels: 1, pixels: [5, 6, 9, 10]))
        XCTAssertEqual(try img.cropped(x: 0, y: 0, width: 4, height: 3), img)
        let rgb = try randomImage(5, 4, 3, seed: 3)
        let rc = try rgb.cropped(x: 4, y: 3, width: 1, height: 1)
        XCTAssertEqual(rc.pixels, Array(rgb.pixels[(3 * 5 + 4) * 3 ..< (3 * 5 + 4) * 3 + 3]))
        for (x, y, w, h) in [(-1, 0, 2, 2), (0, -1, 2, 2), (3, 0, 2, 2), (0, 2, 2, 2), (0, 0, 5, 3), (0, 0, 0, 1), (0, 0, 1, 0)] {
            XCTAssertThrowsError(try img.cropped(x: x, y: y, width: w, height: h)) { e in
                XCTAssertTrue("\(e)".contains("4 x 3"), "the message names the image size: \(e)")
            }
        }
    }

    func testFlip() throws {
        let img = try Image(width: 3, height: 2, channels: 3, pixels: Array(0..<18))
        let f = img.flippedHorizontally()
        XCTAssertEqual(f.pixels, [6, 7, 8, 3, 4, 5, 0, 1, 2, 15, 16, 17, 12, 13, 14, 9, 10, 11])
        XCTAssertEqual(f.flippedHorizontally(), img)
        // Pillow's FLIP_TOP_BOTTOM and TRANSPOSE on the gray 3 x 2 image 0...5.
        let g = try Image(width: 3, height: 2, channels: 1, pixels: [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(g.flippedVertically().pixels, [3, 4, 5, 0, 1, 2])
        let t = g.transposed()
        XCTAssertEqual([t.width, t.height], [2, 3])
        XCTAssertEqual(t.pixels, [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(img.transposed().transposed(), img)
    }

    /// The real-valued resampling matrices equal PIL's 8-bit resize up to its rounding
    /// (downscaling, bicubic and bilinear; bilinear upscaling. Bicubic upscaling of noise
    /// overshoots and PIL clips its intermediate pass to 8 bits, which a matrix cannot do).
    func testResampleMatrixMatchesResize() throws {
        var rng = RNG(seed: 4)
        let (w, h) = (37, 24)
        let img = try Image(width: w, height: h, channels: 1, pixels: (0..<(w * h)).map { _ in UInt8(rng.nextInt(256)) })
        for (ow, oh, f) in [(9, 6, ResizeFilter.bicubic), (12, 8, .bilinear), (50, 31, .bilinear)] {
            let rows = resampleMatrix(inSize: h, outSize: oh, filter: f), cols = resampleMatrix(inSize: w, outSize: ow, filter: f)
            let ref = img.resized(width: ow, height: oh, filter: f)
            var worst = 0.0
            for y in 0..<oh { for x in 0..<ow {
                var v = 0.0
                for i in 0..<h { for j in 0..<w { v += Double(rows[y * h + i]) * Double(cols[x * w + j]) * Double(img.pixels[i * w + j]) } }
                worst = max(worst, abs(min(255, max(0, v)) - Double(ref.pixels[y * ow + x])))
            } }
            XCTAssertLessThanOrEqual(worst, 1.5, "\(f) \(w)x\(h) -> \(ow)x\(oh)")
            for y in 0..<oh { XCTAssertEqual(Double((0..<h).map { rows[y * h + $0] }.reduce(0, +)), 1, accuracy: 1e-5) }
        }
    }

    /// All EXIF orientations against Pillow's ImageOps.exif_transpose methods on a 3 x 2 image 0...5.
    func testEXIFOrientations() throws {
        let img = try Image(width: 3, height: 2, channels: 1, pixels: [0, 1, 2, 3, 4, 5])
        let expected: [Int: (Int, Int, [UInt8])] = [
            1: (3, 2, [0, 1, 2, 3, 4, 5]),
            2: (3, 2, [2, 1, 0, 5, 4, 3]), 3: (3, 2, [5, 4, 3, 2, 1, 0]), 4: (3, 2, [3, 4, 5, 0, 1, 2]),
            5: (2, 3, [0, 3, 1, 4, 2, 5]), 6: (2, 3, [3, 0, 4, 1, 5, 2]), 7: (2, 3, [5, 2, 4, 1, 3, 0]),
            8: (2, 3, [2, 5, 1, 4, 0, 3]),
        ]
        for (o, (w, h, px)) in expected {
            let r = img.applyingEXIFOrientation(o)
            XCTAssertEqual([r.width, r.height], [w, h], "orientation \(o)")
            XCTAssertEqual(r.pixels, px, "orientation \(o)")
        }
    }

    func testImageValidation() {
        XCTAssertThrowsError(try Image(width: 2, height: 2, channels: 3, pixels: [1, 2, 3]))
        XCTAssertThrowsError(try Image(width: 2, height: 2, channels: 2, pixels: [UInt8](repeating: 0, count: 8)))
        XCTAssertThrowsError(try Image(width: 0, height: 2, channels: 1, pixels: []))
        XCTAssertNoThrow(try Image(width: 1, height: 1, channels: 1, pixels: [7]))
    }

    func testTensorRoundTripIsExact() throws {
        for c in [1, 3] {
            var px = [UInt8](0...255)
            px += [UInt8](repeating: 0, count: 6 * 50 * c - 256)
            let img = try Image(width: 50, height: 6, channels: c, pixels: Array(px.prefix(300 * c)))
            let t = img.tensor()
            XCTAssertEqual(t.shape, [1, c, 6, 50])
            XCTAssertEqual(t.data.min(), -1)
            XCTAssertEqual(t.data.max(), 1)
            XCTAssertEqual(try Image(tensor: t), img)
            // Channel-planar layout: value of (x=1, y=0, c=last) is pixel byte c-1 + c.
            XCTAssertEqual(t.data[(c - 1) * 300 + 1], Float(img.pixels[c + c - 1]) / 127.5 - 1)
        }
    }

    func testImageFromTensorClampsRoundsAndIndexes() throws {
        // Two images of 1 channel, 1 x 4.
        let t = try Tensor(shape: [2, 1, 1, 4], data: [-2, 1.5, 0, 0.999, -1, -0.996, 1, 0.004])
        let a = try Image(tensor: t)
        XCTAssertEqual(a.pixels, [0, 255, 128, 255])  // 0 -> 127.5 rounds to 128
        let b = try Image(tensor: t, index: 1)
        XCTAssertEqual(b.pixels, [0, 1, 255, 128])
        XCTAssertThrowsError(try Image(tensor: t, index: 2))
        XCTAssertThrowsError(try Image(tensor: Tensor(zeros: [1, 2, 3, 3])))
        XCTAssertThrowsError(try Image(tensor: Tensor(zeros: [3, 3, 3])))
        XCTAssertThrowsError(try Image(tensor: Tensor(shape: [1, 1, 1, 1], data: [.nan])))
    }

    func testStack() throws {
        let a = try randomImage(4, 3, 3, seed: 1), b = try randomImage(4, 3, 3, seed: 2)
        let s = try stack([a.tensor(), b.tensor()])
        XCTAssertEqual(s.shape, [2, 3, 3, 4])
        XCTAssertEqual(try Image(tensor: s, index: 0), a)
        XCTAssertEqual(try Image(tensor: s, index: 1), b)
        XCTAssertThrowsError(try stack([a.tensor(), try randomImage(5, 3, 3, seed: 3).tensor()])) { e in
            XCTAssertTrue("\(e)".contains("[1, 3, 3, 4]") && "\(e)".contains("[1, 3, 3, 5]"), "\(e)")
        }
        XCTAssertThrowsError(try stack([]))
    }
}
