import XCTest
import Tensors
import TestSupport

/// Finite-difference checks of every differentiable op, random upstream gradient, awkward
/// shapes (odd sizes, stride 2, padding, output padding, batch > 1).
final class GradCheckTests: XCTestCase {
    var rng = RNG(seed: 1234)
    func randn(_ s: [Int], _ std: Float = 1) -> Tensor { Tensor.randn(s, std: std, rng: &rng) }
    func meanAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.data, b.data).map { abs($0 - $1) }.reduce(0, +) / Float(max(a.count, 1))
    }

    func testConv2d() throws {
        try gradCheck([randn([2, 3, 7, 6]), randn([4, 3, 3, 3]), randn([4])], "conv2d s1 p1") {
            try conv2d($0[0], weight: $0[1], bias: $0[2], stride: 1, padding: 1)
        }
        try gradCheck([randn([1, 2, 9, 8]), randn([3, 2, 4, 4])], "conv2d s2 p1 no bias") {
            try conv2d($0[0], weight: $0[1], stride: 2, padding: 1)
        }
        try gradCheck([randn([2, 2, 9, 7]), randn([3, 2, 3, 2]), randn([3])], "conv2d dilation 2, rect") {
            try conv2d($0[0], weight: $0[1], bias: $0[2], stride: Size2(2, 1), padding: Size2(2, 1), dilation: 2)
        }
        try gradCheck([randn([2, 4, 3, 5]), randn([3, 4, 1, 1]), randn([3])], "conv2d 1x1 direct path") {
            try conv2d($0[0], weight: $0[1], bias: $0[2])
        }
    }

    func testConvTranspose2d() throws {
        try gradCheck([randn([2, 3, 4, 5]), randn([3, 2, 4, 4]), randn([2])], "convT s2 p1") {
            try convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
        try gradCheck([randn([1, 2, 3, 5]), randn([2, 3, 3, 3]), randn([3])], "convT s2 p1 op1") {
            try convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1, outputPadding: 1)
        }
        try gradCheck([randn([2, 2, 3, 3]), randn([2, 2, 3, 2])], "convT s1 dilation 2") {
            try convTranspose2d($0[0], weight: $0[1], stride: 1, padding: 0, dilation: 2)
        }
    }

    func testNorms() throws {
        let rm = Tensor(zeros: [3]), rv = Tensor(repeating: 1, shape: [3])
        try gradCheck([randn([3, 3, 4, 5]), randn([3]) + 1, randn([3])], eps: 1e-2, "batchNorm train") {
            try batchNorm($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: true)
        }
        try gradCheck([randn([2, 3, 3, 3]), randn([3]), randn([3])], "batchNorm eval") {
            try batchNorm($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: false)
        }
        try gradCheck([randn([2, 3, 5, 4])], "instanceNorm") { try instanceNorm($0[0]) }
        try gradCheck([randn([2, 3, 5, 3]), randn([3]) + 1, randn([3])], "instanceNorm affine") {
            try instanceNorm($0[0], weight: $0[1], bias: $0[2])
        }
    }

    func testActivations() throws {
        try gradCheck([awayFromZero(randn([2, 3, 4, 5]), margin: 0.05)], "relu") { relu($0[0]) }
        try gradCheck([awayFromZero(randn([2, 3, 4, 5]), margin: 0.05)], "leakyReLU") { leakyReLU($0[0], negativeSlope: 0.2) }
        try gradCheck([randn([2, 3, 4, 5])], "tanh") { tanh($0[0]) }
        try gradCheck([randn([2, 3, 4, 5])], "sigmoid") { sigmoid($0[0]) }
        try gradCheck([awayFromZero(randn([2, 3, 4]), margin: 0.05)], "abs") { abs($0[0]) }
        try gradCheck([randn([2, 3, 4], 0.5)], "exp") { exp($0[0]) }
        try gradCheck([randn([2, 3, 4]).data.map { Swift.abs($0) + 0.5 }.tensor([2, 3, 4])], "log, sqrt") {
            try log($0[0]) + sqrt($0[0])
        }
    }

    func testDropout() throws {
        // The mask is drawn from the generator: replay the same generator state per evaluation.
        let start = rng
        try gradCheck([randn([2, 3, 5, 5])], "dropout") { inputs in
            var r = start
            return try dropout(inputs[0], p: 0.3, training: true, rng: &r)
        }
    }

    func testPaddingCatNarrow() throws {
        try gradCheck([randn([2, 3, 5, 6])], "reflect pad") { try pad($0[0], left: 2, right: 1, top: 3, bottom: 1, mode: .reflect) }
        try gradCheck([randn([1, 2, 4, 5])], "replicate pad") { try pad($0[0], left: 1, right: 3, top: 0, bottom: 2, mode: .replicate) }
        try gradCheck([randn([1, 2, 4, 5])], "zero pad") { try pad($0[0], left: 1, right: 2, top: 0, bottom: 3) }
        try gradCheck([randn([2, 3, 4, 5]), randn([2, 2, 4, 5]), randn([2, 1, 4, 5])], "cat dim 1") { try cat($0, dim: 1) }
        try gradCheck([randn([2, 3, 4]), randn([2, 3, 2])], "cat dim -1") { try cat($0, dim: -1) }
        try gradCheck([randn([2, 5, 4, 3])], "narrow") { try narrow($0[0], dim: 1, start: 1, length: 3) }
        try gradCheck([randn([2, 3, 4, 6])], "narrow last") { try narrow($0[0], dim: 3, start: 2, length: 3) }
        try gradCheck([randn([2, 3, 4])], "reshape") { try $0[0].reshaped([4, -1]) }
    }

    func testBinaryOps() throws {
        let b = randn([2, 3, 4]).data.map { ($0 >= 0 ? 1 : -1) * (Swift.abs($0) + 0.5) }.tensor([2, 3, 4])
        try gradCheck([randn([2, 3, 4]), randn([2, 3, 4])], "add") { try $0[0] + $0[1] }
        try gradCheck([randn([2, 3, 4]), randn([2, 3, 4])], "sub") { try $0[0] - $0[1] }
        try gradCheck([randn([2, 3, 4]), randn([2, 3, 4])], "mul") { try $0[0] * $0[1] }
        try gradCheck([randn([2, 3, 4]), b], "div") { try $0[0] / $0[1] }
        // Broadcasting: per-channel (1, C, 1, 1) and scalar (0-d) operands.
        try gradCheck([randn([2, 3, 4, 5]), randn([1, 3, 1, 1])], "mul broadcast channel") { try $0[0] * $0[1] }
        try gradCheck([randn([2, 3]), randn([])], "add broadcast 0-d") { try $0[0] + $0[1] }
        try gradCheck([randn([3, 1]), randn([1, 4])], "sub broadcast outer") { try $0[0] - $0[1] }
        try gradCheck([randn([2, 3])], "scalar forms") { (((2 * $0[0]) + 1.5) - 0.25) / 3 }
        try gradCheck([randn([2, 3])], "rsub and neg") { 0.7 - (-$0[0]) }
    }

    func testReductionsAndLosses() throws {
        try gradCheck([randn([2, 3, 4, 5])], "sum") { sum($0[0]) }
        try gradCheck([randn([2, 3, 4, 5])], "mean") { mean($0[0]) }
        let t = randn([2, 3, 4])
        let x = try t + awayFromZero(randn([2, 3, 4]), margin: 0.05)
        try gradCheck([x, t], "l1Loss") { try l1Loss($0[0], $0[1]) }
        try gradCheck([randn([2, 3, 4]), randn([2, 3, 4])], "mseLoss") { try mseLoss($0[0], $0[1]) }
        try gradCheck([randn([2, 3, 4]), Tensor.rand([2, 3, 4], rng: &rng)], "bceWithLogits") {
            try binaryCrossEntropyWithLogits($0[0], $0[1])
        }
    }

    func testResampling() throws {
        try gradCheck([randn([2, 2, 3, 4])], "upsample nearest x2") { try upsampleNearest($0[0], scaleFactor: 2) }
        try gradCheck([randn([2, 2, 3, 5])], "upsample bilinear x2") { try upsampleBilinear($0[0], scaleFactor: 2) }
        try gradCheck([randn([1, 2, 3, 3])], "upsample bilinear x3 align corners") {
            try upsampleBilinear($0[0], scaleFactor: 3, alignCorners: true)
        }
        try gradCheck([randn([1, 2, 5, 7])], "resize bilinear to 4x9") { try resizeBilinear($0[0], height: 4, width: 9) }
        // Max pooling is piecewise linear: distinct, well separated values keep the finite
        // differences away from ties.
        let pool = (0..<70).map { Float(($0 * 37) % 70) * 0.1 - 3.5 }
        try gradCheck([try Tensor(shape: [1, 2, 5, 7], data: pool)], "maxPool k3 s2") { try maxPool2d($0[0], kernelSize: 3, stride: 2) }
        try gradCheck([try Tensor(shape: [1, 2, 5, 7], data: pool)], "maxPool k3 s1 p1") { try maxPool2d($0[0], kernelSize: 3, stride: 1, padding: 1) }
        let rows: [Float] = [0.2, 0.5, -0.1, 0.7, 0.3, 0.1, 0.0, 0.4, -0.3], cols: [Float] = [0.6, 0.1, 0.2, -0.4, 0.9, 0.3, 0.5, 0.2]
        // The banded operators: the same map as the dense matrices, and their gradients.
        let bandRows = BandedAxis(dense: rows, rows: 3, cols: 3), bandCols = BandedAxis(dense: cols, rows: 2, cols: 4)
        try gradCheck([randn([2, 1, 3, 4])], "separableApply banded") { try separableApply($0[0], rows: bandRows, cols: bandCols) }
        // Against R X C^T computed from the dense matrices.
        let x = randn([2, 1, 3, 4])
        var dense = [Float](repeating: 0, count: 2 * 3 * 2)
        for p in 0..<2 { for o in 0..<3 { for c in 0..<2 {
            var s: Float = 0
            for h in 0..<3 { for w in 0..<4 { s += rows[o * 3 + h] * x.data[p * 12 + h * 4 + w] * cols[c * 4 + w] } }
            dense[p * 6 + o * 2 + c] = s
        } } }
        XCTAssertLessThan(meanAbsDiff(try separableApply(x, rows: bandRows, cols: bandCols), try Tensor(shape: [2, 1, 3, 2], data: dense)), 1e-6)
        // A wide downscale (a band of 4 taps per output) and its right inverse.
        var d = [Float](repeating: 0, count: 3 * 8)
        for o in 0..<3 { for k in 0..<4 where o * 2 + k < 8 { d[o * 8 + o * 2 + k] = Float(k + 1) * 0.1 + Float(o) * 0.05 } }
        let down = BandedAxis(dense: d, rows: 3, cols: 8), inverse = try BandedRightInverse(down)
        try gradCheck([randn([1, 2, 3, 3])], "separableApply right inverse") { try separableApply($0[0], rows: inverse, cols: inverse) }
        let v = randn([1, 1, 3, 3])
        let back = try separableApply(try separableApply(v, rows: inverse, cols: inverse), rows: down, cols: down)
        XCTAssertLessThan(meanAbsDiff(back, v), 1e-5, "D (D^T (D D^T)^-1) v = v")
        try gradCheck([randn([2, 3, 3, 4])], "normalizeChannels") { try normalizeChannels($0[0]) }
        try gradCheck([randn([2, 3, 3, 4]), randn([2, 3, 3, 4])], "weightedChannelDistance") {
            try weightedChannelDistance($0[0], $0[1], weight: [0.3, 1.2, 0.05])
        }
        try gradCheck([randn([1, 2, 6, 7])], "avgPool k2") { try avgPool2d($0[0], kernelSize: 2) }
        try gradCheck([randn([2, 2, 7, 7])], "avgPool k3 s2 p1") { try avgPool2d($0[0], kernelSize: 3, stride: 2, padding: 1) }
        try gradCheck([randn([1, 2, 7, 6])], "avgPool k3 s2 p1 exclude pad") {
            try avgPool2d($0[0], kernelSize: 3, stride: 2, padding: 1, countIncludePad: false)
        }
    }
}

extension Array where Element == Float {
    func tensor(_ shape: [Int]) -> Tensor { try! Tensor(shape: shape, data: self) }
}
