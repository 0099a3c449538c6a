import XCTest
@testable import Tensors
import TestSupport

/// The direct kernels for convolutions with few output channels (`ConvPolicy.usesDirect`): forward
/// against the naive convolution, gradients against the GEMM path and finite differences,
/// over shapes that reach every tile of the kernels (64-column tiles, 16-column tiles, scalar
/// tails; 1 to 4 outputs; padding 0 and > 0; batch > 1; kernels 1x1 to 7x7).
final class DirectConvTests: ConvPolicyTestCase {
    var rng = RNG(seed: 99)


    struct Case { var n, c, h, w, o, kh, kw, pad: Int }
    let cases = [
        Case(n: 2, c: 5, h: 9, w: 37, o: 3, kh: 7, kw: 7, pad: 0),    // 16-wide tiles + scalar tail
        Case(n: 1, c: 6, h: 8, w: 70, o: 3, kh: 7, kw: 7, pad: 3),    // 64-wide tile + tail, padded
        Case(n: 1, c: 9, h: 6, w: 31, o: 1, kh: 4, kw: 4, pad: 1),    // PatchGAN's last layer shape
        Case(n: 3, c: 4, h: 5, w: 18, o: 4, kh: 3, kw: 2, pad: 1),    // rectangular kernel, 4 outputs
        Case(n: 1, c: 2, h: 4, w: 85, o: 2, kh: 1, kw: 8, pad: 0),    // widest kernel row
        Case(n: 2, c: 16, h: 3, w: 5, o: 3, kh: 1, kw: 1, pad: 0),    // 1x1, tails only
    ]

    func testTakesDirectPathOnlyForFewOutputs() {
        let g = ConvGeometry(channels: 64, height: 262, width: 262, kernelH: 7, kernelW: 7)
        XCTAssertTrue(ConvPolicy.current.usesDirect(outputs: 3, g))
        XCTAssertFalse(ConvPolicy.current.usesDirect(outputs: 5, g))
        XCTAssertFalse(ConvPolicy.current.usesDirect(outputs: 3, ConvGeometry(channels: 64, height: 20, width: 20, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2)))
        XCTAssertFalse(ConvPolicy.current.usesDirect(outputs: 3, ConvGeometry(channels: 64, height: 20, width: 20, kernelH: 3, kernelW: 9)))
    }

    func testForwardMatchesNaive() throws {
        for k in cases {
            let x = Tensor.randn([k.n, k.c, k.h, k.w], rng: &rng)
            let w = Tensor.randn([k.o, k.c, k.kh, k.kw], rng: &rng)
            let b = Tensor.randn([k.o], rng: &rng)
            let g = ConvGeometry(channels: k.c, height: k.h, width: k.w, kernelH: k.kh, kernelW: k.kw, padH: k.pad, padW: k.pad)
            XCTAssertTrue(ConvPolicy.current.usesDirect(outputs: k.o, g), "\(k)")
            let y = try conv2d(x, weight: w, bias: b, padding: Size2(k.pad, k.pad))
            let ref = conv2dNaive(x: x.data, n: k.n, g: g, weight: w.data, outChannels: k.o, bias: b.data)
            XCTAssertEqual(y.shape, [k.n, k.o, g.outH, g.outW])
            assertClose(y.data, ref, rtol: 1e-5, atol: 1e-5, "direct forward \(k)")
        }
    }

    /// Gradients of x, weight and bias for a random upstream gradient, direct vs GEMM path,
    /// with x also used a second time so that its gradient accumulates.
    func testGradientsMatchGEMMPath() throws {
        for k in cases {
            let x = Tensor.randn([k.n, k.c, k.h, k.w], rng: &rng)
            let w = Tensor.randn([k.o, k.c, k.kh, k.kw], rng: &rng)
            let b = Tensor.randn([k.o], rng: &rng)
            let r = Tensor.randn([k.n, k.o, k.h + 2 * k.pad - k.kh + 1, k.w + 2 * k.pad - k.kw + 1], rng: &rng)
            var results: [[[Float]]] = []
            for direct in [true, false] {
                scope.policy.direct = direct
                for t in [x, w, b] { t.requiresGrad = true; t.zeroGrad() }
                let y = try conv2d(x, weight: w, bias: b, padding: Size2(k.pad, k.pad))
                let loss = try sum(y * r) + sum(x * x)
                try loss.backward()
                results.append([x.grad!, w.grad!, b.grad!, y.data])
            }
            for (i, name) in ["dx", "dw", "db", "y"].enumerated() {
                assertClose(results[0][i], results[1][i], rtol: 1e-5, atol: 1e-4, "\(name) \(k)")
            }
        }
    }

    func testFiniteDifferences() throws {
        try gradCheck([Tensor.randn([2, 3, 5, 19], rng: &rng), Tensor.randn([3, 3, 3, 3], rng: &rng), Tensor.randn([3], rng: &rng)],
                      "direct conv2d padded") {
            try conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1)
        }
        try gradCheck([Tensor.randn([1, 2, 7, 21], rng: &rng), Tensor.randn([1, 2, 7, 5], rng: &rng)],
                      "direct conv2d unpadded, one output") {
            try conv2d($0[0], weight: $0[1])
        }
    }

    /// The ResNet generator's last layer at a full 64-column tile width: direct vs GEMM.
    func testGeneratorHeadShape() throws {
        let x = Tensor.randn([1, 16, 14, 134], rng: &rng)
        let w = Tensor.randn([3, 16, 7, 7], std: 0.05, rng: &rng)
        scope.policy.direct = false
        let ref = try conv2d(x, weight: w)
        scope.policy.direct = true
        let y = try conv2d(x, weight: w)
        assertClose(y.data, ref.data, rtol: 1e-5, atol: 1e-5, "generator head")
    }
}

/// The GEMM path's variants: column matrices built a few output rows at a time, and the input
/// gradient of stride-1 convolutions as a convolution of the output gradient (instead of
/// folding a column gradient with col2im). Both against the plain path and the naive conv.
final class ConvGEMMPathTests: ConvPolicyTestCase {
    var rng = RNG(seed: 5)


    func testChunkedColumnsAndInputGradientAsConvolution() throws {
        // (n, c, h, w, o, k, stride, pad)
        let cases = [(2, 3, 9, 11, 6, 3, 1, 1), (1, 5, 10, 7, 8, 3, 1, 0), (1, 4, 12, 13, 5, 5, 1, 2),
                     (2, 3, 9, 10, 6, 4, 2, 1), (1, 2, 8, 8, 7, 7, 1, 3)]
        for (n, c, h, w, o, k, s, p) in cases {
            let x = Tensor.randn([n, c, h, w], rng: &rng)
            let wt = Tensor.randn([o, c, k, k], rng: &rng)
            let b = Tensor.randn([o], rng: &rng)
            let g = ConvGeometry(channels: c, height: h, width: w, kernelH: k, kernelW: k, strideH: s, strideW: s, padH: p, padW: p)
            scope.policy.inputGradientAsConv = true
            XCTAssertEqual(ConvPolicy.current.inputGradientAsConv(g, outputs: o) != nil, s == 1)
            let r = Tensor.randn([n, o, g.outH, g.outW], rng: &rng)
            var results: [[[Float]]] = []
            for (chunk, asConv) in [(64, true), (1 << 30, false)] {   // 64 bytes: one output row per chunk
                scope.policy.chunkBytes = chunk
                scope.policy.inputGradientAsConv = asConv
                for t in [x, wt, b] { t.requiresGrad = true; t.zeroGrad() }
                let y = try conv2d(x, weight: wt, bias: b, stride: Size2(s, s), padding: Size2(p, p))
                try (sum(y * r) + sum(x * 0.5)).backward()
                results.append([y.data, x.grad!, wt.grad!, b.grad!])
            }
            let ref = conv2dNaive(x: x.data, n: n, g: g, weight: wt.data, outChannels: o, bias: b.data)
            assertClose(results[0][0], ref, rtol: 1e-5, atol: 1e-5, "chunked forward vs naive \(g)")
            for (i, name) in ["y", "dx", "dw", "db"].enumerated() {
                assertClose(results[0][i], results[1][i], rtol: 1e-5, atol: 1e-4, "\(name) \(g)")
            }
        }
    }
}

/// Winograd F(2x2, 3x3), F(4x4, 3x3) and F(2x2, 4x4) (`Winograd`, stride-1 convolutions with many channels): forward
/// against the naive double-precision convolution, all gradients against the GEMM path and
/// finite differences; odd and even sizes (partial tiles), padding 0, 1, 2, batch > 1.
final class WinogradTests: ConvPolicyTestCase {
    var rng = RNG(seed: 11)


    func testEnvironmentSwitch() {
        XCTAssertTrue(ConvPolicy.winogradSetting(nil))
        XCTAssertTrue(ConvPolicy.winogradSetting("1"))
        for off in ["0", "off", "False", " no "] { XCTAssertFalse(ConvPolicy.winogradSetting(off), off) }
    }

    func testAppliesOnlyToStrideOne3x3And4x4WithManyChannels() {
        let g = ConvGeometry(channels: 256, height: 66, width: 66, kernelH: 3, kernelW: 3)
        XCTAssertTrue(winogradApplies(g, outputs: 256))
        XCTAssertFalse(winogradApplies(g, outputs: 16))
        XCTAssertFalse(winogradApplies(ConvGeometry(channels: 256, height: 66, width: 66, kernelH: 3, kernelW: 3, strideH: 2, strideW: 2), outputs: 256))
        XCTAssertFalse(winogradApplies(ConvGeometry(channels: 256, height: 66, width: 66, kernelH: 3, kernelW: 3, padH: 3, padW: 3), outputs: 256))
        // PatchGAN's 256 -> 512 layer, and its input gradient (padding 2)
        let k4 = ConvGeometry(channels: 256, height: 32, width: 32, kernelH: 4, kernelW: 4, padH: 1, padW: 1)
        XCTAssertTrue(winogradApplies(k4, outputs: 512))
        XCTAssertTrue(winogradApplies(ConvGeometry(channels: 512, height: 31, width: 31, kernelH: 4, kernelW: 4, padH: 2, padW: 2), outputs: 256))
        XCTAssertFalse(winogradApplies(ConvGeometry(channels: 256, height: 32, width: 32, kernelH: 4, kernelW: 4, padH: 4, padW: 4), outputs: 512))
        XCTAssertFalse(winogradApplies(ConvGeometry(channels: 256, height: 32, width: 32, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1), outputs: 512))
        XCTAssertFalse(winogradApplies(ConvGeometry(channels: 256, height: 32, width: 32, kernelH: 5, kernelW: 5), outputs: 512))
        XCTAssertFalse(winogradApplies(ConvGeometry(channels: 256, height: 32, width: 32, kernelH: 4, kernelW: 3), outputs: 512))
        scope.policy.winograd4x4 = false
        XCTAssertFalse(winogradApplies(k4, outputs: 512))
        XCTAssertTrue(winogradApplies(g, outputs: 256))
    }

    func testPicksFourByFourTilesOnLargePlanes() {
        // the ResNet-9 residual blocks (256 -> 256 at 64 x 64) and their input gradient
        let block = ConvGeometry(channels: 256, height: 66, width: 66, kernelH: 3, kernelW: 3)
        XCTAssertEqual(ConvPolicy.current.winograd(block, outputs: 256), .winograd3x3Tile4)
        XCTAssertEqual(ConvPlan.conv(block, outputs: 256, images: 1, recording: true, policy: ConvPolicy.current).inputGradient,
                       .gradientConvWinograd3x3Tile4)
        XCTAssertEqual(ConvPolicy.current.winograd(ConvGeometry(channels: 256, height: 13, width: 13, kernelH: 3, kernelW: 3, padH: 1, padW: 1), outputs: 256),
                       .winograd3x3)
        scope.policy.winogradTile4MinPositions = .max
        XCTAssertEqual(ConvPolicy.current.winograd(block, outputs: 256), .winograd3x3)
    }

    func testMatchesNaiveAndGEMMPath() throws {
        scope.policy.winogradMinChannels = 1
        // (n, c, h, w, o, kernel, pad): odd and even planes (a last tile row/column half outside), every padding;
        // 3x3 with 2x2 tiles (F(2x2, 3x3)) and 4x4 tiles (F(4x4, 3x3): planes of 1-3 columns past a tile too)
        var cases: [(Int, Int, Int, Int, Int, Int, Int, Int)] = []
        for tile4 in [Int.max, 0] {
            cases += [(1, 3, 9, 11, 5, 3, 0), (2, 4, 8, 8, 6, 3, 1), (1, 5, 7, 10, 3, 3, 2), (1, 6, 13, 6, 7, 3, 1), (2, 40, 12, 20, 36, 3, 1)]
                .map { ($0.0, $0.1, $0.2, $0.3, $0.4, $0.5, $0.6, tile4) }
        }
        cases += [(1, 7, 3, 4, 5, 3, 1, 0), (1, 9, 11, 14, 4, 3, 2, 0), (2, 64, 18, 17, 48, 3, 1, 0)]
        // 4x4 with 2x2 tiles (F(2x2, 4x4)) and 3x3 tiles (F(3x3, 4x4): planes of 1-2 columns past a tile too)
        for tile in [Int.max, 0] {
            cases += [(1, 3, 9, 11, 5, 4, 0), (2, 4, 8, 8, 6, 4, 1), (1, 5, 7, 10, 3, 4, 2), (1, 6, 13, 6, 7, 4, 3),
                      (2, 40, 12, 20, 36, 4, 1), (1, 33, 5, 5, 17, 4, 1), (1, 8, 10, 11, 5, 4, 2)]
                .map { ($0.0, $0.1, $0.2, $0.3, $0.4, $0.5, $0.6, tile) }
        }
        for (n, c, h, w, o, k, p, tile4) in cases {
            scope.policy.winogradTile4MinPositions = tile4
            scope.policy.winogradK4Tile3MinPositions = tile4
            let x = Tensor.randn([n, c, h, w], rng: &rng)
            let wt = Tensor.randn([o, c, k, k], std: 0.3, rng: &rng)
            let b = Tensor.randn([o], rng: &rng)
            let g = ConvGeometry(channels: c, height: h, width: w, kernelH: k, kernelW: k, padH: p, padW: p)
            scope.policy.winograd = true
            XCTAssertEqual(ConvPolicy.current.winograd(g, outputs: o), k == 4 ? (tile4 == 0 ? .winograd4x4Tile3 : .winograd4x4) : tile4 == 0 ? .winograd3x3Tile4 : .winograd3x3)
            let r = Tensor.randn([n, o, g.outH, g.outW], rng: &rng)
            var results: [[[Float]]] = []
            for wino in [true, false] {
                scope.policy.winograd = wino
                for t in [x, wt, b] { t.requiresGrad = true; t.zeroGrad() }
                let y = try conv2d(x, weight: wt, bias: b, padding: Size2(p, p))
                try (sum(y * r) + sum(x * 0.25) + sum(wt * 0.5)).backward()
                results.append([y.data, x.grad!, wt.grad!, b.grad!])
            }
            let ref = conv2dNaive(x: x.data, n: n, g: g, weight: wt.data, outChannels: o, bias: b.data)
            assertClose(results[0][0], ref, rtol: 1e-5, atol: 1e-5, "Winograd forward vs naive \(g)")
            for (i, name) in ["y", "dx", "dw", "db"].enumerated() {
                assertClose(results[0][i], results[1][i], rtol: 1e-5, atol: 1e-4, "Winograd \(name) vs GEMM \(g)")
            }
        }
    }

    func testFiniteDifferences() throws {
        scope.policy.winogradMinChannels = 1
        try gradCheck([Tensor.randn([2, 3, 7, 6], rng: &rng), Tensor.randn([4, 3, 3, 3], std: 0.5, rng: &rng), Tensor.randn([4], rng: &rng)],
                      "Winograd conv2d p1") {
            try conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1)
        }
        try gradCheck([Tensor.randn([1, 2, 6, 9], rng: &rng), Tensor.randn([3, 2, 3, 3], std: 0.5, rng: &rng)], "Winograd conv2d p0") {
            try conv2d($0[0], weight: $0[1])
        }
        scope.policy.winogradTile4MinPositions = 0
        XCTAssertEqual(ConvPolicy.current.winograd(ConvGeometry(channels: 3, height: 9, width: 6, kernelH: 3, kernelW: 3, padH: 1, padW: 1), outputs: 4),
                       .winograd3x3Tile4)
        try gradCheck([Tensor.randn([2, 3, 9, 6], rng: &rng), Tensor.randn([4, 3, 3, 3], std: 0.5, rng: &rng), Tensor.randn([4], rng: &rng)],
                      "Winograd F(4x4, 3x3) conv2d p1") {
            try conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1)
        }
        try gradCheck([Tensor.randn([1, 2, 10, 7], rng: &rng), Tensor.randn([3, 2, 3, 3], std: 0.5, rng: &rng)], "Winograd F(4x4, 3x3) conv2d p0") {
            try conv2d($0[0], weight: $0[1])
        }
        scope.policy.winogradTile4MinPositions = .max
        XCTAssertTrue(winogradApplies(ConvGeometry(channels: 3, height: 7, width: 6, kernelH: 4, kernelW: 4, padH: 1, padW: 1), outputs: 2))
        try gradCheck([Tensor.randn([2, 3, 7, 6], rng: &rng), Tensor.randn([2, 3, 4, 4], std: 0.5, rng: &rng), Tensor.randn([2], rng: &rng)],
                      "Winograd 4x4 conv2d p1") {
            try conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1)
        }
        try gradCheck([Tensor.randn([1, 2, 8, 9], rng: &rng), Tensor.randn([3, 2, 4, 4], std: 0.5, rng: &rng)], "Winograd 4x4 conv2d p0") {
            try conv2d($0[0], weight: $0[1])
        }
        // F(3x3, 4x4): forward, weight gradient and (padding 2-3) the input gradient as its convolution;
        // the op is linear in each input, so a wider step only lowers the float32 rounding's share
        scope.policy.winogradK4Tile3MinPositions = 0
        // (the direct few-output kernels off, else they would take both passes)
        scope.policy.direct = false
        let g43 = ConvGeometry(channels: 3, height: 8, width: 7, kernelH: 4, kernelW: 4, padH: 1, padW: 1)
        let plan43 = ConvPlan.conv(g43, outputs: 2, images: 2, recording: true, policy: ConvPolicy.current)
        XCTAssertEqual(plan43.forward, .winograd4x4Tile3)
        XCTAssertEqual(plan43.weightGradient, .winograd4x4Tile3)
        XCTAssertEqual(plan43.inputGradient, .gradientConvWinograd4x4Tile3)
        try gradCheck([Tensor.randn([2, 3, 8, 7], rng: &rng), Tensor.randn([2, 3, 4, 4], std: 0.5, rng: &rng), Tensor.randn([2], rng: &rng)],
                      eps: 5e-2, "Winograd F(3x3, 4x4) conv2d p1") {
            try conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1)
        }
        try gradCheck([Tensor.randn([1, 2, 9, 10], rng: &rng), Tensor.randn([3, 2, 4, 4], std: 0.5, rng: &rng)], eps: 5e-2,
                      "Winograd F(3x3, 4x4) conv2d p0") {
            try conv2d($0[0], weight: $0[1])
        }
    }

    func testPicksThreeByThreeTilesForFourByFourKernelsOnLargerPlanes() {
        // PatchGAN's 256 -> 512 layer (31 x 31 outputs) and its input gradient (32 x 32)
        let d4 = ConvGeometry(channels: 256, height: 32, width: 32, kernelH: 4, kernelW: 4, padH: 1, padW: 1)
        let plan = ConvPlan.conv(d4, outputs: 512, images: 1, recording: true, policy: ConvPolicy.current)
        XCTAssertEqual(plan.forward, .winograd4x4Tile3)
        XCTAssertEqual(plan.inputGradient, .gradientConvWinograd4x4Tile3)
        XCTAssertEqual(plan.weightGradient, .winograd4x4Tile3)
        XCTAssertEqual(ConvPolicy.current.winograd(ConvGeometry(channels: 256, height: 12, width: 12, kernelH: 4, kernelW: 4, padH: 1, padW: 1), outputs: 256),
                       .winograd4x4)
        scope.policy.winogradK4Tile3MinPositions = .max
        XCTAssertEqual(ConvPolicy.current.winograd(d4, outputs: 512), .winograd4x4)
    }
}

/// The dedicated 4x4 / stride 2 / padding 1 unfolding (U-Net, PatchGAN) against a naive
/// unfolding, with row ranges and a wider row stride, and col2im as its exact adjoint.
final class K4S2P1UnfoldTests: ConvPolicyTestCase {
    func testIm2colAndCol2imAgainstNaive() {
        var rng = RNG(seed: 21)
        for (c, h, w) in [(3, 8, 8), (2, 9, 7), (1, 2, 2), (2, 5, 12), (1, 3, 35)] {
            let g = ConvGeometry(channels: c, height: h, width: w, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1)
            XCTAssertTrue(g.isK4S2P1)
            let x = (0..<(c * h * w)).map { _ in rng.nextFloat() - 0.5 }
            let rows = g.colRows, oh = g.outH, ow = g.outW, ld = oh * ow + 3
            // Naive: cols[r][y*ow + v] = x[c][2y-1+ki][2v-1+kj] or 0.
            var ref = [Float](repeating: 0, count: rows * oh * ow)
            for r in 0..<rows { for y in 0..<oh { for v in 0..<ow {
                let ch = r / 16, ki = (r / 4) % 4, kj = r % 4, iy = 2 * y - 1 + ki, ix = 2 * v - 1 + kj
                if iy >= 0 && iy < h && ix >= 0 && ix < w { ref[r * oh * ow + y * ow + v] = x[(ch * h + iy) * w + ix] }
            } } }
            // In two row ranges, into a matrix with rows `ld` apart.
            var cols = [Float](repeating: .nan, count: rows * ld)
            let split = oh / 2
            cols.withUnsafeMutableBufferPointer { cp in
                im2col(x, g, cp.baseAddress!, outRows: 0..<split, rowStride: ld)
                im2col(x, g, cp.baseAddress! + split * ow, outRows: split..<oh, rowStride: ld)
            }
            for r in 0..<rows {
                XCTAssertEqual(Array(cols[(r * ld)..<(r * ld + oh * ow)]), Array(ref[(r * oh * ow)..<((r + 1) * oh * ow)]), "im2col \(g) row \(r)")
            }
            // Adjoint: <im2col(x), y> == <x, col2im(y)>, and col2im adds into what is there.
            let y = (0..<(rows * ld)).map { _ in rng.nextFloat() - 0.5 }
            var back = [Float](repeating: 1, count: c * h * w)
            y.withUnsafeBufferPointer { yp in back.withUnsafeMutableBufferPointer { col2im(yp.baseAddress!, g, $0.baseAddress!, rowStride: ld) } }
            var lhs = 0.0, rhs = 0.0
            for r in 0..<rows { for p in 0..<(oh * ow) { lhs += Double(ref[r * oh * ow + p]) * Double(y[r * ld + p]) } }
            for i in 0..<x.count { rhs += Double(x[i]) * Double(back[i] - 1) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4, "col2im adjoint \(g)")
        }
    }
}

/// Convolutions without gradients on planes of <= `batchedMaxPositions` positions: all images
/// of a batch through the weights at once, by the few-column kernel (`tr_gemm_fewcols`) on the
/// smallest planes and the packed kernel (`tr_gemm_packed`) above. Against the per-image
/// OpenBLAS path, and batch invariance: an image's output has the same bits alone, in any
/// batch, at any position. With gradients recorded, the OpenBLAS path is kept.
final class BatchedConvTests: ConvPolicyTestCase {
    var rng = RNG(seed: 31)


    /// The packed product against a double-precision one: rows not a multiple of the 12-row
    /// panel, columns not a multiple of 32, a depth over the 256-deep blocking, both layouts of A.
    func testPackedProductMatchesNaive() {
        scope.policy.fewColumnsMaxPositions = 0
        for (m, n, k, transA) in [(29, 70, 300, false), (29, 70, 300, true), (12, 32, 5, false), (1, 1, 1, true), (50, 200, 257, false)] {
            let ld = batchedStride(n)
            let a = (0..<(m * k)).map { _ in rng.nextFloat() - 0.5 }
            var b = [Float](repeating: 0, count: k * ld)
            for r in 0..<k { for j in 0..<n { b[r * ld + j] = rng.nextFloat() - 0.5 } }
            var c = [Float](repeating: .nan, count: m * ld)
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                batchedGEMM(a: ap.baseAddress!, lda: transA ? m : k, transA: transA, b: bp.baseAddress!, ldb: ld,
                            c: cp.baseAddress!, m: m, n: n, k: k, fewColumns: false, weightTensor: nil, policy: scope.policy)
            } } }
            var worst = 0.0
            for i in 0..<m { for j in 0..<n {
                var s = 0.0
                for r in 0..<k { s += Double(transA ? a[r * m + i] : a[i * k + r]) * Double(b[r * ld + j]) }
                worst = max(worst, abs(s - Double(c[i * ld + j])))
            } }
            XCTAssertLessThan(worst, 1e-4, "packed product m\(m) n\(n) k\(k) transA \(transA)")
        }
    }

    func testMatchesPerImageProductsAndIsBatchInvariant() throws {
        // conv 4x4 s2 p1 to a 1x1 plane (few-column kernel), to 2x2 and 4x4 (packed, side by
        // side), 8x8 and 16x16 (packed, unfolded straight into panels), 6x6 (packed, side by
        // side), and a 3x3 one on a 1x1 plane (few-column)
        for (c, h, o, k, s, p) in [(40, 2, 36, 4, 2, 1), (24, 4, 20, 4, 2, 1), (20, 8, 33, 4, 2, 1), (17, 1, 9, 3, 1, 1),
                                   (9, 16, 14, 4, 2, 1), (5, 32, 13, 4, 2, 1), (7, 12, 11, 4, 2, 1)] {
            let w = Tensor.randn([o, c, k, k], std: 0.1, rng: &rng)
            let b = Tensor.randn([o], rng: &rng)
            let imgs = (0..<3).map { _ in Tensor.randn([1, c, h, h], rng: &rng) }
            let conv = { (x: Tensor) in try conv2d(x, weight: w, bias: b, stride: Size2(s, s), padding: Size2(p, p)) }
            try checkInvariance(imgs, conv, "conv c\(c) h\(h) o\(o) k\(k)")
        }
        // transposed 4x4 s2 p1 from 1x1 (few-column), 2x2, 4x4, 3x3 and 6x6 (packed, side by
        // side) and 8x8 (packed straight from the input)
        for (c, h, o) in [(40, 1, 36), (24, 2, 20), (20, 4, 17), (13, 3, 7), (9, 6, 5), (11, 8, 6)] {
            let w = Tensor.randn([c, o, 4, 4], std: 0.1, rng: &rng)
            let b = Tensor.randn([o], rng: &rng)
            let imgs = (0..<3).map { _ in Tensor.randn([1, c, h, h], rng: &rng) }
            let convT = { (x: Tensor) in try convTranspose2d(x, weight: w, bias: b, stride: 2, padding: 1) }
            try checkInvariance(imgs, convT, "convT c\(c) h\(h) o\(o)")
        }
    }

    /// Other geometries on planes above the few-column size keep OpenBLAS without gradients
    /// too (LPIPS-AlexNet's 11x11/4 and 5x5 layers): the same bits with and without.
    func testOtherGeometriesKeepOpenBLAS() throws {
        for (c, h, o, k, s, p) in [(3, 64, 64, 11, 4, 2), (64, 7, 48, 5, 1, 2), (6, 10, 25, 3, 1, 1)] {
            let w = Tensor.randn([o, c, k, k], std: 0.1, rng: &rng)
            let x = Tensor.randn([2, c, h, h], rng: &rng)
            let (y, plans) = try ConvTrace.trace { try withNoGrad { try conv2d(x, weight: w, stride: Size2(s, s), padding: Size2(p, p)) } }
            XCTAssertEqual(plans.map(\.forward), [.im2colGEMM], "k\(k) s\(s) on \(h)x\(h): not batched")
            x.requiresGrad = true
            XCTAssertEqual(y.data, try conv2d(x, weight: w, stride: Size2(s, s), padding: Size2(p, p)).data)
        }
    }

    /// Groups of images packed a few at a time give the same bits as all at once.
    func testGroupingDoesNotChangeResults() throws {
        let w = Tensor.randn([10, 6, 4, 4], std: 0.1, rng: &rng), wt = Tensor.randn([6, 5, 4, 4], std: 0.1, rng: &rng)
        let x = Tensor.randn([5, 6, 16, 16], rng: &rng), xt = Tensor.randn([5, 6, 8, 8], rng: &rng)
        let whole = try withNoGrad { (try conv2d(x, weight: w, stride: 2, padding: 1), try convTranspose2d(xt, weight: wt, stride: 2, padding: 1)) }
        scope.policy.batchedGroupBytes = 1   // one image per group
        let grouped = try withNoGrad { (try conv2d(x, weight: w, stride: 2, padding: 1), try convTranspose2d(xt, weight: wt, stride: 2, padding: 1)) }
        XCTAssertEqual(whole.0.data, grouped.0.data)
        XCTAssertEqual(whole.1.data, grouped.1.data)
    }

    func checkInvariance(_ imgs: [Tensor], _ f: (Tensor) throws -> Tensor, _ what: String) throws {
        let (singles, plans) = try ConvTrace.trace { try imgs.map { x in try withNoGrad { try f(x) } } }
        XCTAssertTrue(plans.allSatisfy { [.batchedFewColumns, .batchedPacked].contains($0.forward) } && plans.count >= imgs.count,
                      "\(what): the batched path is taken (\(plans.map(\.forward)))")
        // batches: all three, a repeated image, and a different order
        for order in [[0, 1, 2], [1, 1, 1, 1, 1], [2, 0, 1, 0]] {
            let y = try withNoGrad { try f(try cat(order.map { imgs[$0] }, dim: 0)) }
            let per = y.count / order.count
            for (slot, i) in order.enumerated() {
                XCTAssertEqual(Array(y.data[(slot * per)..<((slot + 1) * per)]), singles[i].data,
                               "\(what): image \(i) at position \(slot) of \(order.count) differs from its single-image result")
            }
        }
        // against the per-image OpenBLAS products, which a forward pass recording gradients uses
        for (i, x) in imgs.enumerated() {
            x.requiresGrad = true
            defer { x.requiresGrad = false }
            assertClose(singles[i].data, try f(x).data, rtol: 1e-5, atol: 1e-5, "\(what) image \(i) vs OpenBLAS")
        }
        try ConvPolicy.current.with { $0.batchedMaxPositions = 0 }.run {
            XCTAssertEqual(try withNoGrad { try f(imgs[0]) }.data, try f(imgs[0]).data, "\(what): switched off, no-grad and grad paths agree")
        }
    }
}

/// Winograd over phase images, F(2x2, 2x2) and F(4x4, 2x2), for 4x4 stride-2 padding-1
/// convolutions and transposed convolutions (`WinogradS2`): against the naive
/// double-precision sums and the OpenBLAS path on awkward shapes (non-square, odd channel
/// counts, one tile row, batches), batch invariance, gradients, and the choice of path.
final class WinogradS2Tests: ConvPolicyTestCase {
    var rng = RNG(seed: 23)


    func testAppliesToEvenTiledPlanes() {
        let g = ConvGeometry(channels: 64, height: 128, width: 128, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1)
        let x = Tensor(repeating: 0, shape: [1, 64, 128, 128]), w = Tensor(repeating: 0, shape: [128, 64, 4, 4])
        XCTAssertTrue(winogradS2Applies(g, outputs: 128, inputs: [x, w]))
        w.requiresGrad = true
        XCTAssertTrue(winogradS2Applies(g, outputs: 128, inputs: [x, w]), "training, 1024 tiles")
        scope.policy.winogradS2Training = false
        XCTAssertFalse(winogradS2Applies(g, outputs: 128, inputs: [x, w]), "training switched off")
        XCTAssertTrue(withNoGrad { winogradS2Applies(g, outputs: 128, inputs: [x, w]) })
        scope.policy.winogradS2Training = true
        // 64 tiles: enough without gradients, too few for training's threshold
        let g16 = ConvGeometry(channels: 64, height: 32, width: 32, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1)
        XCTAssertFalse(winogradS2Applies(g16, outputs: 128, inputs: [x, w]), "training, 64 tiles")
        XCTAssertTrue(withNoGrad { winogradS2Applies(g16, outputs: 128, inputs: [x, w]) })
        w.requiresGrad = false
        XCTAssertFalse(winogradS2Applies(g, outputs: 3, inputs: [x, w]), "few output channels")
        // an odd output plane (tiles would straddle it), an odd input side, a small plane, stride 1
        XCTAssertFalse(winogradS2Applies(ConvGeometry(channels: 64, height: 34, width: 34, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1), outputs: 64, inputs: [x]))
        XCTAssertFalse(winogradS2Applies(ConvGeometry(channels: 64, height: 129, width: 128, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1), outputs: 64, inputs: [x]))
        XCTAssertFalse(winogradS2Applies(ConvGeometry(channels: 64, height: 8, width: 8, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1), outputs: 64, inputs: [x]))
        XCTAssertFalse(winogradS2Applies(ConvGeometry(channels: 64, height: 128, width: 128, kernelH: 4, kernelW: 4, padH: 1, padW: 1), outputs: 64, inputs: [x]))
        scope.policy.winogradS2 = false
        XCTAssertFalse(winogradS2Applies(g, outputs: 128, inputs: [x, w]))
    }

    /// F(4x4, 2x2) where both output sides are multiples of 4 (with gradients from
    /// `winogradS2Tile4TrainMinPositions`), else F(2x2, 2x2).
    func testTileSize() {
        func kernel(_ side: Int, _ width: Int? = nil, recording: Bool) -> ConvKernel? {
            let g = ConvGeometry(channels: 64, height: side, width: width ?? side, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1)
            return scope.policy.winogradS2Kernel(g, outputs: 128, recording: recording)
        }
        XCTAssertEqual(kernel(128, recording: false), .winogradS2Tile4)
        XCTAssertEqual(kernel(128, recording: true), .winogradS2Tile4, "64x64 outputs with gradients")
        XCTAssertEqual(kernel(64, recording: false), .winogradS2Tile4)
        XCTAssertEqual(kernel(64, recording: true), .winogradS2, "32x32 outputs with gradients: below the threshold")
        XCTAssertEqual(kernel(16, recording: false), .winogradS2Tile4, "8x8 outputs")
        XCTAssertEqual(kernel(20, recording: false), .winogradS2, "10x10 outputs: sides not multiples of 4")
        XCTAssertEqual(kernel(16, 20, recording: false), .winogradS2, "8x10 outputs")
        scope.policy.winogradS2Tile4TrainMinPositions = 1024
        XCTAssertEqual(kernel(64, recording: true), .winogradS2Tile4)
        scope.policy.winogradS2Tile4 = false
        XCTAssertEqual(kernel(128, recording: false), .winogradS2)
        XCTAssertEqual(kernel(128, recording: true), .winogradS2)
    }

    /// Both ways of running the products: each image through OpenBLAS, and all images side
    /// by side through the packed kernel.
    func testConvolutionMatchesNaiveAndOpenBLAS() throws {
        scope.policy.winogradMinChannels = 1
        scope.policy.winogradS2MinTiles = 1
        for (perImage, tile4) in [(1, false), (1 << 30, false), (1, true), (1 << 30, true)] {
            scope.policy.winogradS2PerImageTiles = perImage
            scope.policy.winogradS2Tile4 = tile4
            // (n, c, h, w, o): output planes 2x2 (one tile), 4x6, 6x2, 8x8, 4x4, 4x12, 12x8 (the
            // last four also F(4x4, 2x2) tiles); odd channel counts
            for (n, c, h, w, o) in [(1, 1, 4, 4, 1), (2, 3, 8, 12, 5), (1, 7, 12, 4, 2), (3, 9, 16, 16, 11), (1, 33, 8, 8, 17),
                                    (2, 5, 8, 24, 3), (1, 6, 24, 16, 7)] {
                let x = Tensor.randn([n, c, h, w], rng: &rng)
                let wt = Tensor.randn([o, c, 4, 4], std: 0.3, rng: &rng)
                let b = Tensor.randn([o], rng: &rng)
                let g = ConvGeometry(channels: c, height: h, width: w, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1)
                try check(x, g, outputs: o, inputs: [x, wt, b],
                          naive: conv2dNaive(x: x.data, n: n, g: g, weight: wt.data, outChannels: o, bias: b.data), "conv") {
                    try conv2d($0, weight: wt, bias: b, stride: 2, padding: 1)
                }
            }
        }
    }

    func testTransposedConvolutionMatchesNaiveAndOpenBLAS() throws {
        scope.policy.winogradMinChannels = 1
        scope.policy.winogradS2MinTiles = 1
        for (perImage, tile4) in [(1, false), (1 << 30, false), (1, true), (1 << 30, true)] {
            scope.policy.winogradS2PerImageTiles = perImage
            scope.policy.winogradS2Tile4 = tile4
            // (n, cin, h, w, cout): input planes 2x2, 4x6, 6x2, 8x8, 4x4, 4x12, 12x8
            for (n, ci, h, w, co) in [(1, 1, 2, 2, 1), (2, 5, 4, 6, 3), (1, 2, 6, 2, 7), (3, 11, 8, 8, 9), (1, 17, 4, 4, 33),
                                      (2, 3, 4, 12, 5), (1, 7, 12, 8, 6)] {
                let x = Tensor.randn([n, ci, h, w], rng: &rng)
                let wt = Tensor.randn([ci, co, 4, 4], std: 0.3, rng: &rng)
                let b = Tensor.randn([co], rng: &rng)
                let g = ConvGeometry(channels: co, height: 2 * h, width: 2 * w, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1)
                try check(x, g, outputs: ci, inputs: [x, wt, b],
                          naive: convTranspose2dNaive(x: x.data, n: n, inChannels: ci, g: g, weight: wt.data, bias: b.data), "transposed") {
                    try convTranspose2d($0, weight: wt, bias: b, stride: 2, padding: 1)
                }
            }
        }
        // output padding 1 (odd output) is not this geometry: the OpenBLAS path, still right
        let x = Tensor.randn([1, 4, 4, 4], rng: &rng), wt = Tensor.randn([4, 3, 4, 4], std: 0.3, rng: &rng)
        let y = try withNoGrad { try convTranspose2d(x, weight: wt, stride: 2, padding: 1, outputPadding: 1) }
        let g = ConvGeometry(channels: 3, height: 9, width: 9, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1)
        XCTAssertFalse(winogradS2Applies(g, outputs: 4, inputs: [x, wt]))
        assertClose(y.data, convTranspose2dNaive(x: x.data, n: 1, inChannels: 4, g: g, weight: wt.data, bias: nil), rtol: 1e-5, atol: 1e-5,
                    "output padding 1 vs naive")
    }

    /// Training through Winograd s2: the output and the gradients of x, weight and bias for
    /// random upstream gradients agree with the direct sums (im2col + OpenBLAS), once with
    /// fresh gradients and once with x and the weight used twice (gradients accumulate),
    /// for convolutions and transposed convolutions, per-image and packed products.
    func testTrainingMatchesDirectSums() throws {
        scope.policy.winogradMinChannels = 1
        scope.policy.winogradS2TrainMinTiles = 1
        scope.policy.winogradS2Tile4TrainMinPositions = 1
        for (perImage, tile4) in [(1, false), (1 << 30, false), (1, true), (1 << 30, true)] {
            scope.policy.winogradS2PerImageTiles = perImage
            scope.policy.winogradS2Tile4 = tile4
            try compareStride2TrainingPaths([(false, 1, 3, 5, 8, 12), (false, 2, 9, 4, 16, 16), (false, 1, 33, 17, 4, 4), (false, 2, 6, 5, 8, 24),
                                             (true, 1, 5, 3, 4, 6), (true, 2, 4, 9, 8, 8), (true, 1, 17, 33, 2, 2), (true, 2, 5, 6, 12, 4)],
                                            rng: &rng, "Winograd s2 per-image from \(perImage), tile 4 \(tile4)", rtol: 1e-5, atol: 1e-4) { wino, g, outputs, inputs, run in
                scope.policy.winogradS2Training = wino
                XCTAssertEqual(winogradS2Applies(g, outputs: outputs, inputs: inputs), wino)
                return try run()
            }
        }
    }

    func testTrainingFiniteDifferences() throws {
        scope.policy.winogradMinChannels = 1
        scope.policy.winogradS2TrainMinTiles = 1
        scope.policy.winogradS2Tile4TrainMinPositions = 1
        // output planes 4x6 (F(2x2, 2x2)) and 4x8 (F(4x4, 2x2))
        for (w0, kernel) in [(12, ConvKernel.winogradS2), (16, .winogradS2Tile4)] {
            let g = ConvGeometry(channels: 3, height: 8, width: w0, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1)
            XCTAssertEqual(scope.policy.winogradS2Kernel(g, outputs: 2, recording: true), kernel)
            let x = Tensor.randn([2, 3, 8, w0], rng: &rng), w = Tensor.randn([2, 3, 4, 4], std: 0.5, rng: &rng)
            w.requiresGrad = true
            XCTAssertTrue(winogradS2Applies(g, outputs: 2, inputs: [x, w]))
            try gradCheck([x, w, Tensor.randn([2], rng: &rng)], "\(kernel) conv2d training") {
                try conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
            }
            let xt = Tensor.randn([2, 2, 4, w0 / 2], rng: &rng), wt = Tensor.randn([2, 3, 4, 4], std: 0.5, rng: &rng)
            wt.requiresGrad = true
            XCTAssertTrue(winogradS2Applies(g, outputs: 2, inputs: [xt, wt]))
            try gradCheck([xt, wt, Tensor.randn([3], rng: &rng)], "\(kernel) convTranspose2d training") {
                try convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
            }
        }
    }

    /// `f` on x without gradients takes the Winograd path and agrees with the naive
    /// double-precision sums and with the OpenBLAS path, and is batch-invariant.
    func check(_ x: Tensor, _ g: ConvGeometry, outputs: Int, inputs: [Tensor], naive: [Float], _ what: String,
               _ f: (Tensor) throws -> Tensor) throws {
        XCTAssertTrue(winogradS2Applies(g, outputs: outputs, inputs: inputs), "\(what) \(g): Winograd s2 applies")
        let y = try withNoGrad { try f(x) }
        assertClose(y.data, naive, rtol: 1e-5, atol: 1e-5,
                    "Winograd s2 \(what) vs naive \(g) per-image from \(scope.policy.winogradS2PerImageTiles) tiles")
        scope.policy.winogradS2 = false
        let blas = try withNoGrad { try f(x) }
        scope.policy.winogradS2 = true
        assertClose(y.data, blas.data, rtol: 1e-5, atol: 1e-5, "Winograd s2 \(what) vs OpenBLAS \(g)")
        try checkBatchInvariance(x, f)
    }

    /// Each image of a batch gets the bits it gets alone, wherever it sits.
    func checkBatchInvariance(_ x: Tensor, _ f: (Tensor) throws -> Tensor) throws {
        let n = x.shape[0]
        let whole = try withNoGrad { try f(x) }
        let per = whole.count / n
        for i in 0..<n {
            let alone = try withNoGrad { try f(try narrow(x, dim: 0, start: i, length: 1)) }
            XCTAssertEqual(Array(whole.data[(i * per)..<((i + 1) * per)]), alone.data, "image \(i) of \(n)")
        }
        // packed a group of one image at a time
        scope.policy.batchedGroupBytes = 1
        XCTAssertEqual(try withNoGrad { try f(x) }.data, whole.data, "grouped one image at a time")
    }
}

/// Training steps with several images on the small planes of 4x4 stride-2 layers: one
/// product over all images' columns (`BatchColumns`) against the per-image products.
final class BatchColumnsTests: ConvPolicyTestCase {
    var rng = RNG(seed: 57)


    func testAppliesOnlyToBatchesWithGradientsOnSmall4x4Stride2Planes() {
        let g = ConvGeometry(channels: 8, height: 8, width: 8, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1)
        let x = Tensor(repeating: 0, shape: [2, 8, 8, 8]), w = Tensor(repeating: 0, shape: [4, 8, 4, 4], requiresGrad: true)
        func forward(_ g: ConvGeometry, images: Int, _ inputs: [Tensor]) -> ConvKernel {
            ConvPlan.conv(g, outputs: 4, images: images, recording: ConvPlan.records(inputs), policy: scope.policy).forward
        }
        XCTAssertEqual(forward(g, images: 2, [x, w]), .batchColumns)
        XCTAssertNotEqual(forward(g, images: 1, [x, w]), .batchColumns, "one image")
        let large = ConvGeometry(channels: 8, height: 32, width: 32, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1)
        XCTAssertNotEqual(forward(large, images: 2, [x, w]), .batchColumns, "large plane (256 positions)")
        XCTAssertNotEqual(withNoGrad { forward(g, images: 2, [x, w]) }, .batchColumns, "no gradients")
        let s1 = ConvGeometry(channels: 8, height: 8, width: 8, kernelH: 3, kernelW: 3, padH: 1, padW: 1)
        XCTAssertNotEqual(forward(s1, images: 2, [x, w]), .batchColumns, "other geometry")
    }

    /// Output and the gradients of x, weight and bias, once fresh and once with x and the
    /// weight used twice (accumulating), for convolutions and transposed convolutions.
    func testMatchesPerImageProducts() throws {
        try compareStride2TrainingPaths([(false, 2, 3, 5, 8, 12), (false, 3, 16, 9, 2, 2), (false, 4, 7, 6, 16, 16),
                                         (true, 2, 5, 3, 4, 6), (true, 3, 9, 16, 1, 1), (true, 4, 6, 7, 8, 8)],
                                        rng: &rng, "batch-wide products", rtol: 1e-5, atol: 1e-5) { fast, _, _, _, run in
            scope.policy.trainingBatchedMaxPositions = fast ? 64 : 0
            let (y, plans) = try ConvTrace.trace { try run() }
            XCTAssertEqual(plans.contains { $0.forward == .batchColumns }, fast, "path taken")
            return y
        }
    }

    func testFiniteDifferences() throws {
        try gradCheck([Tensor.randn([3, 2, 4, 6], rng: &rng), Tensor.randn([3, 2, 4, 4], std: 0.5, rng: &rng), Tensor.randn([3], rng: &rng)],
                      "batch-wide conv2d") {
            try conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
        try gradCheck([Tensor.randn([2, 3, 2, 3], rng: &rng), Tensor.randn([3, 2, 4, 4], std: 0.5, rng: &rng), Tensor.randn([2], rng: &rng)],
                      "batch-wide convTranspose2d") {
            try convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
    }
}

/// Weights derived for the no-gradient paths are kept while the tensor is unchanged, and
/// re-derived after any write to it.
final class PackedWeightsTests: ConvPolicyTestCase {
    var rng = RNG(seed: 41)


    func testReusedWhileUnchangedAndRederivedAfterWrites() throws {
        scope.policy.winogradMinChannels = 1
        // batched conv (packed, to 8x8), batched transposed (from 8x8), Winograd s2 conv (per
        // image, to 32x32) and transposed (packed, from 16x16)
        let cases: [(Tensor, Tensor, Bool)] = [
            (Tensor.randn([2, 6, 16, 16], rng: &rng), Tensor.randn([5, 6, 4, 4], std: 0.2, rng: &rng), false),
            (Tensor.randn([2, 6, 8, 8], rng: &rng), Tensor.randn([6, 5, 4, 4], std: 0.2, rng: &rng), true),
            (Tensor.randn([1, 4, 64, 64], rng: &rng), Tensor.randn([3, 4, 4, 4], std: 0.2, rng: &rng), false),
            (Tensor.randn([2, 4, 16, 16], rng: &rng), Tensor.randn([4, 3, 4, 4], std: 0.2, rng: &rng), true),
        ]
        for (i, (x, w, transposed)) in cases.enumerated() {
            let f = { try withNoGrad { transposed ? try convTranspose2d(x, weight: w, stride: 2, padding: 1)
                                                  : try conv2d(x, weight: w, stride: 2, padding: 1) } }
            let start = PackedWeights.derivations
            let first = try f()
            let before = PackedWeights.derivations
            XCTAssertGreaterThan(before, start, "case \(i): derived on first use")
            XCTAssertEqual(try f().data, first.data, "case \(i): same result from the kept weights")
            XCTAssertEqual(PackedWeights.derivations, before, "case \(i): derived once")
            w.data[3] += 0.5   // an element write
            let changed = try f()
            XCTAssertGreaterThan(PackedWeights.derivations, before, "case \(i): re-derived after a write")
            scope.policy.weightCache = false
            XCTAssertEqual(try f().data, changed.data, "case \(i): kept and fresh agree")
            scope.policy.weightCache = true
            w.data.withUnsafeMutableBufferPointer { $0[0] -= 1 }   // an in-place write
            let again = try f()
            w.requiresGrad = true
            assertClose(again.data, try (transposed ? convTranspose2d(x, weight: w, stride: 2, padding: 1)
                                                    : conv2d(x, weight: w, stride: 2, padding: 1)).data,
                        rtol: 1e-5, atol: 1e-5, "case \(i): after in-place write vs OpenBLAS")
            w.requiresGrad = false
        }
    }
}

/// For 4x4 stride-2 padding-1 convolutions (`transposed` false) and transposed convolutions of
/// the given shapes (transposed, images, in channels, out channels, input height, width): the
/// output and the gradients of x, weight and bias for random upstream gradients with a fast
/// path on (`forward(true, ...)` sets it up and runs the convolution) against it off, once
/// with fresh gradients and once with x and the weight used twice (gradients accumulate).
func compareStride2TrainingPaths(_ cases: [(Bool, Int, Int, Int, Int, Int)], rng: inout RNG, _ what: String, rtol: Float, atol: Float,
                                 forward: (_ fast: Bool, _ g: ConvGeometry, _ outputs: Int, _ inputs: [Tensor],
                                           _ run: () throws -> Tensor) throws -> Tensor) throws {
    for (t, n, ci, co, h, w) in cases {
        let x = Tensor.randn([n, ci, h, w], rng: &rng)
        let wt = Tensor.randn(t ? [ci, co, 4, 4] : [co, ci, 4, 4], std: 0.3, rng: &rng)
        let b = Tensor.randn([co], rng: &rng)
        let f = { (x: Tensor) in t ? try convTranspose2d(x, weight: wt, bias: b, stride: 2, padding: 1)
                                   : try conv2d(x, weight: wt, bias: b, stride: 2, padding: 1) }
        let outShape = try withNoGrad { try f(x) }.shape
        let r1 = Tensor.randn(outShape, rng: &rng), r2 = Tensor.randn(outShape, rng: &rng)
        let g = t ? ConvGeometry(channels: co, height: 2 * h, width: 2 * w, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1)
                  : ConvGeometry(channels: ci, height: h, width: w, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padH: 1, padW: 1)
        for twice in [false, true] {
            var results: [[[Float]]] = []
            for fast in [true, false] {
                for v in [x, wt, b] { v.requiresGrad = true; v.zeroGrad() }
                let y = try forward(fast, g, t ? ci : co, [x, wt, b]) { try f(x) }
                var loss = try sum(y * r1)
                if twice { loss = try loss + sum(try f(x) * r2) }
                try loss.backward()
                results.append([y.data, x.grad!, wt.grad!, b.grad!])
            }
            for (i, name) in ["y", "dx", "dw", "db"].enumerated() {
                assertClose(results[0][i], results[1][i], rtol: rtol, atol: atol,
                            "\(what): \(t ? "transposed" : "conv") \(name) twice \(twice) \(g), \(n) images")
            }
        }
    }
}

/// Whether the policy in effect gives a geometry Winograd F(2x2, 3x3) / F(2x2, 4x4).
private func winogradApplies(_ g: ConvGeometry, outputs: Int) -> Bool { ConvPolicy.current.winograd(g, outputs: outputs) != nil }

/// Whether the policy in effect gives a geometry Winograd over phase images, for a call with these inputs.
private func winogradS2Applies(_ g: ConvGeometry, outputs: Int, inputs: [Tensor?]) -> Bool {
    ConvPolicy.current.winogradS2Kernel(g, outputs: outputs, recording: ConvPlan.records(inputs)) != nil
}
