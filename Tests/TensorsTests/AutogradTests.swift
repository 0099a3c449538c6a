import XCTest
import Tensors
import TestSupport

/// Gradient bookkeeping: accumulation, detach, no-grad scope, frozen tensors, shape errors.
final class AutogradTests: XCTestCase {
    func t(_ v: [Float], _ s: [Int], grad: Bool = true) -> Tensor { try! Tensor(shape: s, data: v, requiresGrad: grad) }

    func testGradientsAccumulateUntilZeroed() throws {
        let x = t([1, 2, 3], [3])
        try sum(x * 2).backward()
        try sum(x * 2).backward()
        XCTAssertEqual(x.grad, [4, 4, 4])
        x.zeroGrad()
        try sum(x * 3).backward()
        XCTAssertEqual(x.grad, [3, 3, 3])
    }

    func testSharedSubexpressionGetsBothPaths() throws {
        let x = t([2], [1])
        let y = try x * x          // used twice below
        let z = try y + y * x      // x^2 + x^3
        try sum(z).backward()
        XCTAssertEqual(x.grad?[0] ?? 0, 2 * 2 + 3 * 4, accuracy: 1e-5)
    }

    func testDetachStopsGradient() throws {
        let x = t([1, 2], [2])
        let y = try x * x.detach()
        try sum(y).backward()
        XCTAssertEqual(x.grad, [1, 2])   // only the non-detached factor
    }

    func testNoGradRecordsNothing() throws {
        let x = t([1, 2], [2])
        let y = withNoGrad { x * 2 }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertThrowsError(try sum(y).backward())
        XCTAssertTrue(GradMode.isEnabled)
    }

    func testFrozenParameterPassesGradientToInput() throws {
        let w = t([1, 1, 1, 1], [1, 1, 2, 2])
        let x = t([1, 2, 3, 4], [1, 1, 2, 2])
        w.requiresGrad = false
        try sum(try conv2d(x, weight: w)).backward()
        XCTAssertNil(w.grad)
        XCTAssertEqual(x.grad, [1, 1, 1, 1])
    }

    func testLongChainDoesNotOverflowStack() throws {
        let x = t([1], [1])
        var y = x
        for _ in 0..<20_000 { y = y + 1 }
        try sum(y).backward()
        XCTAssertEqual(x.grad, [1])
    }

    func testShapeErrorsNameBothShapes() {
        let a = t([1, 2, 3, 4, 5, 6], [2, 3]), b = t([1, 2], [2])
        XCTAssertThrowsError(try a + b) { e in
            XCTAssertEqual("\(e)", "add: incompatible shapes [2, 3] and [2]")
        }
        let x = Tensor(zeros: [1, 3, 8, 8]), w = Tensor(zeros: [4, 2, 3, 3])
        XCTAssertThrowsError(try conv2d(x, weight: w)) { e in
            XCTAssertTrue("\(e)".contains("[1, 3, 8, 8]") && "\(e)".contains("[4, 2, 3, 3]"), "\(e)")
        }
        XCTAssertThrowsError(try cat([Tensor(zeros: [1, 2, 3, 3]), Tensor(zeros: [1, 2, 4, 3])], dim: 1))
        XCTAssertThrowsError(try l1Loss(Tensor(zeros: [2, 3]), Tensor(zeros: [3, 2])))
        XCTAssertThrowsError(try Tensor(shape: [2, 2], data: [1, 2, 3]))
        XCTAssertThrowsError(try pad(Tensor(zeros: [1, 1, 2, 2]), left: 2, right: 0, top: 0, bottom: 0, mode: .reflect))
        XCTAssertThrowsError(try batchNorm(Tensor(zeros: [1, 3, 1, 1]), runningMean: nil, runningVar: nil, training: true))
        XCTAssertThrowsError(try conv2d(Tensor(zeros: [1, 1, 2, 2]), weight: Tensor(zeros: [1, 1, 3, 3])))
        XCTAssertThrowsError(try narrow(Tensor(zeros: [2, 3]), dim: 1, start: 2, length: 2))
    }

    func testBroadcastShapes() {
        XCTAssertEqual(broadcastShape([2, 3, 4], [3, 1]), [2, 3, 4])
        XCTAssertEqual(broadcastShape([], [5]), [5])
        XCTAssertNil(broadcastShape([2, 3], [4]))
    }

    func testDropoutIsSeededAndScaled() throws {
        let x = Tensor(repeating: 1, shape: [10_000])
        var r1 = RNG(seed: 9), r2 = RNG(seed: 9)
        let a = try dropout(x, p: 0.5, rng: &r1), b = try dropout(x, p: 0.5, rng: &r2)
        XCTAssertEqual(a.data, b.data)
        XCTAssertTrue(a.data.allSatisfy { $0 == 0 || $0 == 2 })
        let kept = a.data.filter { $0 != 0 }.count
        XCTAssertEqual(Double(kept) / 10_000, 0.5, accuracy: 0.03)
        XCTAssertEqual(try dropout(x, p: 0.5, training: false, rng: &r1).data, x.data)
    }

    func testRNGIsDeterministicAndRoughlyNormal() {
        var a = RNG(seed: 42), b = RNG(seed: 42)
        let xs = (0..<20_000).map { _ in a.nextNormal() }
        XCTAssertEqual(xs, (0..<20_000).map { _ in b.nextNormal() })
        let m = xs.reduce(0, +) / Float(xs.count)
        let v = xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Float(xs.count)
        XCTAssertEqual(m, 0, accuracy: 0.03)
        XCTAssertEqual(v, 1, accuracy: 0.04)
        XCTAssertNotEqual(RNG(seed: 1).stateWords, RNG(seed: 2).stateWords)
    }
}

/// Gradient buffers are reused across zeroGrad: the first write overwrites, later ones add.
final class GradientBufferReuseTests: XCTestCase {
    func testConvGradientsAfterZeroGradAndAccumulation() throws {
        var rng = RNG(seed: 21)
        for transposed in [false, true] {
            let x = Tensor.randn([2, 3, 6, 5], rng: &rng, requiresGrad: true)
            let w = Tensor.randn(transposed ? [3, 4, 4, 4] : [4, 3, 3, 3], rng: &rng, requiresGrad: true)
            let b = Tensor.randn([4], rng: &rng, requiresGrad: true)
            func run() throws {
                let y = transposed ? try convTranspose2d(x, weight: w, bias: b, stride: 2, padding: 1)
                                   : try conv2d(x, weight: w, bias: b, stride: 2, padding: 1)
                try y.backward(gradient: Tensor(repeating: 0.5, shape: y.shape))
            }
            try run()
            let (gx, gw, gb) = (x.grad!, w.grad!, b.grad!)
            try run()   // accumulates (adding into the kept values rounds differently from 2 * g)
            assertClose(x.grad!, gx.map { 2 * $0 }, rtol: 1e-6, "accumulated x grad, transposed \(transposed)", report: false)
            assertClose(w.grad!, gw.map { 2 * $0 }, rtol: 1e-6, "accumulated w grad", report: false)
            assertClose(b.grad!, gb.map { 2 * $0 }, rtol: 1e-6, "accumulated b grad", report: false)
            x.zeroGrad(); w.zeroGrad(); b.zeroGrad()
            XCTAssertNil(x.grad)
            try run()   // overwrites the kept buffers: bit-identical to the first pass
            XCTAssertEqual(x.grad!, gx)
            XCTAssertEqual(w.grad!, gw)
            XCTAssertEqual(b.grad!, gb)
        }
    }
}
