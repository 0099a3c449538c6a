import XCTest
import Tensors
import TestSupport

/// Finite-difference checks of every op's double backward (`grad(of:wrt:createGraph:)`):
/// for out = f(inputs) and a random upstream gradient r, the first gradients
/// G_k = d<out, r>/d input_k are recorded; s = sum_k <G_k, q_k> (random q_k) is
/// back-propagated, and ds/d input_k and ds/dr are compared with central differences of s
/// (s recomputed each time with `grad` without a graph). The upstream gradient is an input
/// too, because a gradient penalty differentiates every rule in its upstream gradient.
final class DoubleBackwardTests: ConvPolicyTestCase {
    var rng = RNG(seed: 4321)
    func randn(_ s: [Int], _ std: Float = 1) -> Tensor { Tensor.randn(s, std: std, rng: &rng) }

    func doubleGradCheck(_ inputs: [Tensor], eps: Float = 1e-2, rtol: Float = 2e-3, atol: Float = 2e-3, _ what: String,
                         file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) throws -> Tensor) throws {
        for t in inputs { t.requiresGrad = true; t.zeroGrad() }
        var gen = RNG(seed: 99)
        let out = try f(inputs)
        let r = Tensor.randn(out.shape, rng: &gen, requiresGrad: true)
        let q = inputs.map { Tensor.randn($0.shape, rng: &gen) }
        func s(_ grads: [Tensor]) -> Double {
            var acc: Double = 0
            for (g, qk) in zip(grads, q) { for i in 0..<g.count { acc += Double(g.data[i]) * Double(qk.data[i]) } }
            return acc
        }
        func sValue() throws -> Double { s(try grad(of: [try f(inputs)], wrt: inputs, gradOutputs: [r])) }
        // The first gradients agree with backward()'s.
        let first = try grad(of: [out], wrt: inputs, gradOutputs: [r], createGraph: true)
        let plain = try f(inputs)
        try plain.backward(gradient: r.detach())
        for (k, t) in inputs.enumerated() {
            assertClose(first[k].data, t.grad ?? [Float](repeating: 0, count: t.count), rtol: 1e-4, atol: 1e-5,
                        "\(what): grad() vs backward() of input \(k)", report: false, file: file, line: line)
            t.zeroGrad()
        }
        var total: Tensor?
        for (g, qk) in zip(first, q) where g.requiresGrad {
            let term = sum(try g * qk)
            total = try total.map { try $0 + term } ?? term
        }
        if let total, total.requiresGrad { try total.backward() }
        for (k, t) in ([r] + inputs).enumerated() {
            let analytic = t.grad ?? [Float](repeating: 0, count: t.count)
            var worst = 0, excess: Float = -.infinity, numericWorst: Float = 0
            for i in 0..<t.count {
                let v = t.data[i]
                t.data[i] = v + eps; let sp = try sValue()
                t.data[i] = v - eps; let sm = try sValue()
                t.data[i] = v
                let numeric = Float((sp - sm) / (2 * Double(eps)))
                let e = Swift.abs(analytic[i] - numeric) - (atol + rtol * Swift.abs(numeric))
                if e > excess { excess = e; worst = i; numericWorst = numeric }
            }
            XCTAssertLessThanOrEqual(excess, 0, "\(what): d s / d \(k == 0 ? "upstream gradient" : "input \(k - 1)") element \(worst): analytic \(analytic[worst]) vs finite difference \(numericWorst)",
                                     file: file, line: line)
            t.zeroGrad()
        }
    }

    func testConv2d() throws {
        try doubleGradCheck([randn([2, 3, 5, 4]), randn([4, 3, 3, 3]), randn([4])], "conv2d s1 p1") {
            try conv2d($0[0], weight: $0[1], bias: $0[2], stride: 1, padding: 1)
        }
        // PatchGAN's layers: 4x4 stride 2 (batch-wide columns with 2 images), 4x4 stride 1 to one output (direct)
        try doubleGradCheck([randn([2, 2, 8, 6]), randn([3, 2, 4, 4]), randn([3])], "conv2d 4x4 s2 p1 batch 2") {
            try conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
        let direct = try ConvTrace.trace {
            try doubleGradCheck([randn([1, 3, 5, 5]), randn([1, 3, 4, 4]), randn([1])], "conv2d 4x4 s1 p1 one output") {
                try conv2d($0[0], weight: $0[1], bias: $0[2], stride: 1, padding: 1)
            }
        }.plans
        XCTAssertTrue(direct.contains { $0.forward == .direct }, "the direct path was differentiated twice")
        try doubleGradCheck([randn([1, 2, 7, 6]), randn([3, 2, 3, 2])], "conv2d s(2,1) p(2,1) dilation 2, odd sizes") {
            try conv2d($0[0], weight: $0[1], stride: Size2(2, 1), padding: Size2(2, 1), dilation: 2)
        }
        try doubleGradCheck([randn([2, 4, 3, 3]), randn([2, 4, 1, 1]), randn([2])], "conv2d 1x1") {
            try conv2d($0[0], weight: $0[1], bias: $0[2])
        }
    }

    func testConvTranspose2dAndWeightGradient() throws {
        try doubleGradCheck([randn([2, 3, 3, 4]), randn([3, 2, 4, 4]), randn([2])], "convT s2 p1") {
            try convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
        try doubleGradCheck([randn([1, 2, 3, 3]), randn([2, 3, 3, 3])], "convT s2 p1 output padding 1") {
            try convTranspose2d($0[0], weight: $0[1], stride: 2, padding: 1, outputPadding: 1)
        }
        try doubleGradCheck([randn([2, 2, 5, 5]), randn([2, 3, 3, 3])], "conv2dWeight 3x3 s2 p1") {
            try conv2dWeight($0[0], outputGradient: $0[1], kernel: 3, stride: 2, padding: 1, dilation: 1)
        }
    }

    func testActivations() throws {
        try doubleGradCheck([awayFromZero(randn([2, 3, 4]), margin: 0.05)], "leakyReLU") { leakyReLU($0[0], negativeSlope: 0.2) }
        try doubleGradCheck([awayFromZero(randn([2, 3, 4]), margin: 0.05)], "relu") { relu($0[0]) }
        try doubleGradCheck([awayFromZero(randn([2, 3]), margin: 0.05)], "abs") { abs($0[0]) }
        try doubleGradCheck([randn([2, 3, 4])], "tanh, sigmoid, exp") { try tanh($0[0]) + sigmoid($0[0]) * exp($0[0] * 0.5) }
        let positive = randn([2, 3, 4]).data.map { Swift.abs($0) + 0.5 }
        try doubleGradCheck([try Tensor(shape: [2, 3, 4], data: positive)], "sqrt, log, pow") {
            try sqrt($0[0]) + log($0[0]) + pow($0[0], 3) + pow($0[0], -0.5)
        }
    }

    func testNorms() throws {
        try doubleGradCheck([randn([2, 3, 3, 4])], "instanceNorm") { try instanceNorm($0[0]) }
        try doubleGradCheck([randn([2, 2, 3, 3]), randn([2]) + 1, randn([2])], "instanceNorm affine") {
            try instanceNorm($0[0], weight: $0[1], bias: $0[2])
        }
        let rm = Tensor(zeros: [3]), rv = Tensor(repeating: 1, shape: [3])
        try doubleGradCheck([randn([3, 3, 2, 3]), randn([3]) + 1, randn([3])], "batchNorm train") {
            try batchNorm($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: true)
        }
        try doubleGradCheck([randn([2, 3, 2, 2]), randn([3]), randn([3])], "batchNorm eval") {
            try batchNorm($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: false)
        }
    }

    func testArithmeticReductionsAndShapes() throws {
        let b = randn([1, 3, 1, 2]).data.map { ($0 >= 0 ? 1 : -1) * (Swift.abs($0) + 0.5) }
        try doubleGradCheck([randn([2, 3, 4, 2]), try Tensor(shape: [1, 3, 1, 2], data: b)], "mul, div, add, sub broadcast") {
            try ($0[0] * $0[1]) + ($0[0] / $0[1]) - ($0[1] * $0[1])
        }
        try doubleGradCheck([randn([2, 3]), randn([])], "0-d operand, scalar forms") { try (((2 * $0[0]) + 1.5) - 0.25) / 3 * $0[1] - (0.7 - $0[0] * $0[0]) }
        try doubleGradCheck([randn([2, 3, 2])], "sum, mean of a square") { try sum($0[0] * $0[0]) * mean($0[0] * $0[0] * $0[0]) }
        try doubleGradCheck([randn([2, 3, 2, 2])], "sumToSize, expand") {
            let s = try sumToSize($0[0] * $0[0], [2, 1, 1, 1])
            return try expand(s, to: [2, 3, 2, 2]) * $0[0]
        }
        try doubleGradCheck([randn([2, 2, 3]), randn([2, 1, 3])], "cat, narrow, reshape") {
            let c = try cat([$0[0], $0[1] * $0[1]], dim: 1)
            return try narrow(c, dim: 1, start: 1, length: 2).reshaped([2, -1]) * narrow(c, dim: 2, start: 0, length: 2).reshaped([2, -1])
        }
        try doubleGradCheck([randn([1, 2, 3, 2])], "zero pad") {
            let p = try pad($0[0], left: 1, right: 2, top: 0, bottom: 1)
            return try p * p
        }
    }

    /// A gradient penalty on a small critic, as WGAN-GP computes it: the exact second
    /// derivative of x^3 first, then the pieces together.
    func testGradOfGradBasics() throws {
        let x = try Tensor(shape: [2], data: [1.5, -2], requiresGrad: true)
        let g = try grad(of: [sum(pow(x, 3))], wrt: [x], createGraph: true)[0]      // 3 x^2
        XCTAssertEqual(g.data, [6.75, 12])
        XCTAssertNil(x.grad, "grad(of:wrt:) leaves leaf gradients alone")
        try sum(g).backward()                                                      // 6 x
        XCTAssertEqual(x.grad ?? [], [9, -12])
        // An input the outputs do not depend on gets zeros; a plain grad records nothing.
        let unused = Tensor(zeros: [3], requiresGrad: true)
        let gs = try grad(of: [sum(x * x)], wrt: [x, unused])
        XCTAssertEqual(gs[1].data, [0, 0, 0])
        XCTAssertFalse(gs[0].requiresGrad)
        // An op without a differentiable rule is named when its gradient would be differentiated.
        let img = Tensor.randn([1, 1, 3, 3], rng: &rng, requiresGrad: true)
        XCTAssertThrowsError(try grad(of: [sum(try pad(img, left: 1, right: 1, top: 1, bottom: 1, mode: .reflect))], wrt: [img], createGraph: true)) {
            XCTAssertTrue("\($0)".contains("pad (reflect)"), "\($0)")
        }
        XCTAssertThrowsError(try grad(of: [x.detach()], wrt: [x]))
    }
}
