import XCTest
import Tensors
import NN
import TestSupport

final class InitTests: XCTestCase {
    func stats(_ t: Tensor) -> (Float, Float) {
        let m = t.data.reduce(0, +) / Float(t.count)
        let v = t.data.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Float(t.count)
        return (m, v.squareRoot())
    }

    func testSchemesHaveTheirStandardDeviations() {
        var rng = RNG(seed: 11)
        let t = Tensor(zeros: [64, 32, 3, 3])
        let (fanIn, fanOut) = (32 * 9, 64 * 9)
        initialize(t, .normal, gain: 0.02, rng: &rng)
        XCTAssertEqual(stats(t).1, 0.02, accuracy: 0.001)
        initialize(t, .xavier, gain: 1, rng: &rng)
        XCTAssertEqual(stats(t).1, (2 / Float(fanIn + fanOut)).squareRoot(), accuracy: 0.002)
        initialize(t, .kaiming, gain: 1, rng: &rng)
        XCTAssertEqual(stats(t).1, (2 / Float(fanIn)).squareRoot(), accuracy: 0.003)
        XCTAssertEqual(stats(t).0, 0, accuracy: 0.003)
    }

    func testOrthogonalRowsOrColumnsAreOrthonormalTimesGain() {
        var rng = RNG(seed: 12)
        for shape in [[4, 3, 2, 2], [16, 3, 1, 1]] {   // wide (4 x 12) and tall (16 x 3)
            let t = Tensor(zeros: shape)
            initialize(t, .orthogonal, gain: 2, rng: &rng)
            let r = shape[0], c = t.count / r
            let rowsOrthonormal = r <= c
            let n = rowsOrthonormal ? r : c
            for i in 0..<n { for j in 0..<n {
                var dot: Float = 0
                for k in 0..<(rowsOrthonormal ? c : r) {
                    dot += rowsOrthonormal ? t.data[i * c + k] * t.data[j * c + k] : t.data[k * c + i] * t.data[k * c + j]
                }
                XCTAssertEqual(dot, i == j ? 4 : 0, accuracy: 1e-4, "shape \(shape) (\(i), \(j))")
            } }
        }
    }

    func testFansFollowPyTorch() {
        XCTAssertEqual(fans([8, 3, 4, 4]).0, 48)            // conv: in * k * k
        XCTAssertEqual(fans([8, 3, 4, 4]).1, 128)
        XCTAssertEqual(fans([16, 4, 4, 4]).0, 64)           // transposed (in, out, k, k): out * k * k
    }

    func testInitWeightsFollowsReference() {
        var rng = RNG(seed: 13)
        let net = Sequential(Conv2d(3, 64, kernelSize: 4, rng: &rng), BatchNorm2d(64),
                             ConvTranspose2d(64, 64, kernelSize: 4, rng: &rng))
        net.initWeights(.normal, gain: 0.02, rng: &rng)
        let conv = net.layers[0] as! Conv2d, bn = net.layers[1] as! BatchNorm2d
        XCTAssertEqual(stats(conv.weight).1, 0.02, accuracy: 0.002)
        XCTAssertTrue(conv.bias!.data.allSatisfy { $0 == 0 })
        XCTAssertEqual(stats(bn.weight!).0, 1, accuracy: 0.01)
        XCTAssertTrue(bn.bias!.data.allSatisfy { $0 == 0 })
        // Same seed, same bits.
        var r1 = RNG(seed: 5), r2 = RNG(seed: 5)
        let a = Conv2d(3, 4, kernelSize: 3, rng: &r1), b = Conv2d(3, 4, kernelSize: 3, rng: &r2)
        XCTAssertEqual(a.weight.data, b.weight.data)
    }
}
