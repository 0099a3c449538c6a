import XCTest
import Tensors
import TestSupport

/// Fast kernels (im2col + OpenBLAS GEMM) against the naive reference kernels kept in the code.
final class KernelTests: ConvPolicyTestCase {
    func testSgemmMatchesNaiveAllTransposes() {
        var rng = RNG(seed: 3)
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let (m, n, k) = (13, 7, 29)
            let a = Tensor.randn([m * k], rng: &rng).data, b = Tensor.randn([k * n], rng: &rng).data
            var c1 = Tensor.randn([m * n], rng: &rng).data
            var c2 = c1
            let lda = ta ? m : k, ldb = tb ? k : n
            sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb, beta: 1, c: &c1, ldc: n)
            sgemmNaive(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb, beta: 1, c: &c2, ldc: n)
            assertClose(c1, c2, rtol: 1e-5, "sgemm transA \(ta) transB \(tb)", report: false)
        }
    }

    /// `sgemmBatch` gives each product the bits of its own `sgemm` call, at any thread count:
    /// shapes over and under the 128 x 256 cells, every transpose, beta 0 and 1, and a deep
    /// product (its depth cut into parts) that falls back to one call per product.
    func testSgemmBatchHasTheBitsOfSeparateProducts() throws {
        var rng = RNG(seed: 8)
        for (count, m, n, k, ta, tb, beta) in [(5, 300, 530, 40, false, false, Float(0)), (3, 13, 7, 29, true, false, 1), (4, 129, 257, 64, false, true, 1),
                                               (2, 20, 30, 9000, true, true, 0), (36, 64, 100, 48, false, false, 1)] {
            let lda = ta ? m : k, ldb = tb ? k : n
            let a = Tensor.randn([count * m * k], rng: &rng).data, b = Tensor.randn([count * k * n], rng: &rng).data
            let c0 = Tensor.randn([count * m * n], rng: &rng).data
            var separate = c0
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in separate.withUnsafeMutableBufferPointer { cp in
                for i in 0..<count {
                    sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: ap.baseAddress! + i * m * k, lda: lda,
                          b: bp.baseAddress! + i * k * n, ldb: ldb, beta: beta, c: cp.baseAddress! + i * m * n, ldc: n)
                }
            } } }
            for threads in [1, 2, 3, 8] {
                var batched = c0
                try Parallelism(threads: threads, minimumWorkOverride: 1).run {
                    a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in batched.withUnsafeMutableBufferPointer { cp in
                        sgemmBatch(transA: ta, transB: tb, count: count, m: m, n: n, k: k, a: ap.baseAddress!, strideA: m * k, lda: lda,
                                   b: bp.baseAddress!, strideB: k * n, ldb: ldb, beta: beta, c: cp.baseAddress!, strideC: m * n, ldc: n)
                    } } }
                }
                XCTAssertEqual(batched, separate, "\(count) x \(m)x\(n)x\(k) transA \(ta) transB \(tb) beta \(beta), \(threads) threads")
            }
        }
    }

    /// Awkward shapes: odd sizes, stride 2, padding larger than 1, dilation, batch > 1, 1x1.
    let convCases: [(n: Int, c: Int, h: Int, w: Int, o: Int, k: Size2, s: Size2, p: Size2, d: Size2)] = [
        (1, 3, 7, 5, 4, 3, 1, 1, 1),
        (3, 2, 9, 8, 5, 4, 2, 1, 1),
        (2, 3, 11, 6, 2, Size2(3, 2), Size2(2, 3), Size2(2, 0), 1),
        (1, 4, 8, 9, 3, 3, 1, 3, 2),
        (2, 5, 4, 3, 6, 1, 1, 0, 1),
        (1, 2, 6, 6, 3, 1, 2, 0, 1),
        (1, 1, 1, 1, 2, 3, 1, 1, 1),
    ]

    func testConv2dMatchesNaive() throws {
        var rng = RNG(seed: 4)
        for cs in convCases {
            let x = Tensor.randn([cs.n, cs.c, cs.h, cs.w], rng: &rng)
            let w = Tensor.randn([cs.o, cs.c, cs.k.h, cs.k.w], rng: &rng)
            let b = Tensor.randn([cs.o], rng: &rng)
            let out = try conv2d(x, weight: w, bias: b, stride: cs.s, padding: cs.p, dilation: cs.d)
            let g = ConvGeometry(channels: cs.c, height: cs.h, width: cs.w, kernelH: cs.k.h, kernelW: cs.k.w,
                                 strideH: cs.s.h, strideW: cs.s.w, padH: cs.p.h, padW: cs.p.w, dilationH: cs.d.h, dilationW: cs.d.w)
            let ref = conv2dNaive(x: x.data, n: cs.n, g: g, weight: w.data, outChannels: cs.o, bias: b.data)
            XCTAssertEqual(out.shape, [cs.n, cs.o, g.outH, g.outW])
            assertClose(out.data, ref, rtol: 1e-5, "conv2d \(cs)", report: false)
        }
    }

    func testConvTranspose2dMatchesNaive() throws {
        var rng = RNG(seed: 5)
        let cases: [(n: Int, c: Int, h: Int, w: Int, o: Int, k: Size2, s: Size2, p: Size2, op: Size2, d: Size2)] = [
            (1, 3, 4, 5, 2, 4, 2, 1, 0, 1),
            (2, 2, 3, 3, 3, 3, 2, 1, 1, 1),
            (1, 4, 5, 2, 3, Size2(3, 2), Size2(1, 2), Size2(0, 1), Size2(0, 1), 1),
            (2, 2, 3, 4, 2, 3, 1, 0, 0, 2),
            (1, 5, 1, 1, 3, 4, 2, 1, 0, 1),
        ]
        for cs in cases {
            let x = Tensor.randn([cs.n, cs.c, cs.h, cs.w], rng: &rng)
            let w = Tensor.randn([cs.c, cs.o, cs.k.h, cs.k.w], rng: &rng)
            let b = Tensor.randn([cs.o], rng: &rng)
            let out = try convTranspose2d(x, weight: w, bias: b, stride: cs.s, padding: cs.p, outputPadding: cs.op, dilation: cs.d)
            let g = ConvGeometry(channels: cs.o, height: out.shape[2], width: out.shape[3], kernelH: cs.k.h, kernelW: cs.k.w,
                                 strideH: cs.s.h, strideW: cs.s.w, padH: cs.p.h, padW: cs.p.w, dilationH: cs.d.h, dilationW: cs.d.w)
            let ref = convTranspose2dNaive(x: x.data, n: cs.n, inChannels: cs.c, g: g, weight: w.data, bias: b.data)
            assertClose(out.data, ref, rtol: 1e-5, "convTranspose2d \(cs)", report: false)
        }
    }

    /// col2im is the adjoint of im2col: <im2col(x), y> == <x, col2im(y)>.
    func testCol2imIsAdjointOfIm2col() {
        var rng = RNG(seed: 6)
        let g = ConvGeometry(channels: 3, height: 7, width: 6, kernelH: 3, kernelW: 4, strideH: 2, strideW: 1,
                             padH: 1, padW: 2, dilationH: 2, dilationW: 1)
        let x = Tensor.randn([3 * 7 * 6], rng: &rng).data
        let y = Tensor.randn([g.colRows * g.colCols], rng: &rng).data
        var cols = [Float](repeating: 0, count: g.colRows * g.colCols)
        var back = [Float](repeating: 0, count: x.count)
        im2col(x, g, &cols)
        col2im(y, g, &back)
        var lhs = 0.0, rhs = 0.0
        for i in 0..<cols.count { lhs += Double(cols[i]) * Double(y[i]) }
        for i in 0..<x.count { rhs += Double(x[i]) * Double(back[i]) }
        XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, Swift.abs(lhs)))
    }

    /// The GEMM counter (benchmarks' GFLOP/s) counts 2 m n k per product: a conv forward is
    /// 2 * O * (C kH kW) * (outH outW) per image.
    func testGEMMCounterCountsConvolutionWork() throws {
        var rng = RNG(seed: 2)
        let x = Tensor.randn([2, 3, 8, 8], rng: &rng), w = Tensor.randn([4, 3, 3, 3], rng: &rng)
        GEMMCounter.flops = 0
        GEMMCounter.enabled = true
        _ = try withNoGrad { try conv2d(x, weight: w, padding: 1) }
        GEMMCounter.enabled = false
        XCTAssertEqual(GEMMCounter.flops, 2 * 2 * 4 * 27 * 64)
        _ = try conv2d(x, weight: w, padding: 1)
        XCTAssertEqual(GEMMCounter.flops, 2 * 2 * 4 * 27 * 64, "counts only while enabled")
    }

    /// The parallel path (large work) agrees with the naive kernel too.
    func testLargeConvUsesParallelPathCorrectly() throws {
        var rng = RNG(seed: 8)
        let x = Tensor.randn([1, 8, 40, 36], rng: &rng), w = Tensor.randn([6, 8, 4, 4], rng: &rng)
        let out = try conv2d(x, weight: w, stride: 2, padding: 1)
        let g = ConvGeometry(channels: 8, height: 40, width: 36, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2,
                             padH: 1, padW: 1, dilationH: 1, dilationW: 1)
        assertClose(out.data, conv2dNaive(x: x.data, n: 1, g: g, weight: w.data, outChannels: 6, bias: nil), rtol: 1e-5,
                    "conv2d large", report: false)
    }
}
