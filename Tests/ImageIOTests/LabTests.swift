import XCTest
import Foundation
import ImageIO
import TestSupport

/// Lab conversion against scikit-image (tools/make_lab_fixture.py).
final class LabTests: XCTestCase {
    struct Fixture: Decodable { var skimage: String; var rgb: [Double]; var lab: [Double]; var lab_in: [Double]; var rgb_out: [Double] }

    func load() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixturesURL.appendingPathComponent("lab/lab.json")))
    }

    func worst(_ a: [Float], _ b: [Double]) -> (Double, Int) {
        var w = 0.0, at = 0
        for (i, (x, y)) in zip(a, b).enumerated() where abs(Double(x) - y) > w { w = abs(Double(x) - y); at = i }
        return (w, at)
    }

    func testMatchesScikitImage() throws {
        let f = try load()
        let lab = LabColor.rgbToLab(f.rgb.map(Float.init))
        let (w1, i1) = worst(lab, f.lab)
        print("rgb2lab: worst |diff| \(w1) at \(i1) (scikit-image \(f.skimage))")
        XCTAssertLessThan(w1, 1e-4)
        let rgb = LabColor.labToRgb(f.lab_in.map(Float.init))
        let (w2, i2) = worst(rgb, f.rgb_out)
        print("lab2rgb: worst |diff| \(w2) at \(i2)")
        XCTAssertLessThan(w2, 1e-4)
    }

    func testRoundTrip() throws {
        let f = try load()
        let back = LabColor.labToRgb(LabColor.rgbToLab(f.rgb.map(Float.init)))
        XCTAssertLessThan(worst(back, f.rgb).0, 1e-5)
    }
}
