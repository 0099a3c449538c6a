import CKernels
import Dispatch

/// Winograd F(2x2, 3x3) and F(4x4, 3x3) for stride-1 3x3 convolutions with many channels
/// (the ResNet generator's residual blocks: 256 -> 256 channels at 64 x 64, about 80 % of a
/// CycleGAN step's arithmetic, take F(4x4, 3x3)), and F(2x2, 4x4) for stride-1 4x4 ones (the
/// PatchGAN's 256 -> 512 layer, about a third of a pix2pix step's arithmetic) and F(3x3, 4x4)
/// for them on larger planes (36 products per 3x3 tile, the same points as F(4x4, 3x3)). A 2x2 output
/// tile costs 16 products per channel pair instead of 36 (3x3), 25 instead of 64 (4x4); a
/// 4x4 tile 36 instead of 144 (3x3): the convolution becomes 16 (25, 36) matrix products
/// (O x C) by (C x tiles) between cheap linear transforms of the input, the filter and the
/// result (kernels in CKernels/direct_conv.c, winograd_k4.c, winograd_f43.c).
/// The weight gradient is the adjoint of the same bilinear form (products (O x tiles) by
/// (tiles x C)); the input gradient is a forward convolution of the output gradient (see
/// `GradientConv`), so it takes this path too where that convolution qualifies (`ConvPolicy.winograd`).
///
/// The F(2x2, 3x3) transforms use only +, - and halving, so the rounding error stays within
/// a few ulps of the direct sum's; the F(2x2, 4x4) ones (points 0, 1, -1, 2) also scale by 2
/// and 3 and the filter transform by sixths, about 1.6e-6 relative for 256-channel sums; the
/// F(4x4, 3x3) ones (points 0, +-1, +-2) scale by up to 8 and 1/24 (tests: against the naive
/// double-precision convolution, docs/BENCHMARKS.md for the measured error).
enum Winograd: ConvAlgorithm {
    /// The transforms of one tile size: `points` = (tile + kernel - 1)^2 planes, output tiles
    /// of `tile` x `tile`, `scratch` floats per tile column of a chunk's scratch.
    struct Kind {
        typealias Input = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, Int, Int, Int, UnsafeMutablePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?) -> Void
        typealias Filter = @convention(c) (UnsafePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?, Int, Int) -> Void
        typealias Output = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, UnsafeMutablePointer<Float>?, Int, Int, Int32, Int, Int, UnsafeMutablePointer<Float>?) -> Void
        typealias GOut = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, Int, Int, UnsafeMutablePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?) -> Void
        typealias WGrad = @convention(c) (UnsafePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?, Int32, Int, Int) -> Void
        let kernel: Int, tile: Int, points: Int, scratch: Int
        let input: Input, filter: Filter, output: Output, gout: GOut, wgradOutput: WGrad
    }
    static let k3 = Kind(kernel: 3, tile: 2, points: 16, scratch: 32, input: tr_wino_input, filter: tr_wino_filter, output: tr_wino_output,
                         gout: tr_wino_gout, wgradOutput: tr_wino_wgrad_output)
    static let k3Tile4 = Kind(kernel: 3, tile: 4, points: 36, scratch: 40, input: tr_wf43_input, filter: tr_wf43_filter,
                              output: tr_wf43_output, gout: tr_wf43_gout, wgradOutput: tr_wf43_wgrad_output)
    static let k4 = Kind(kernel: 4, tile: 2, points: 25, scratch: 32, input: tr_wk4_input, filter: tr_wk4_filter, output: tr_wk4_output,
                         gout: tr_wk4_gout, wgradOutput: tr_wk4_wgrad_output)
    static let k4Tile3 = Kind(kernel: 4, tile: 3, points: 36, scratch: 40, input: tr_wk43_input, filter: tr_wk43_filter,
                              output: tr_wk43_output, gout: tr_wk43_gout, wgradOutput: tr_wk43_wgrad_output)

    /// The transforms of a Winograd kernel (forward or input-gradient-as-convolution).
    static func kind(_ kernel: ConvKernel) -> Kind {
        switch kernel {
        case .winograd3x3, .gradientConvWinograd3x3: k3
        case .winograd3x3Tile4, .gradientConvWinograd3x3Tile4: k3Tile4
        case .winograd4x4, .gradientConvWinograd4x4: k4
        case .winograd4x4Tile3, .gradientConvWinograd4x4Tile3: k4Tile3
        default: preconditionFailure("\(kernel.rawValue) is not a Winograd kernel")
        }
    }

    /// out[n] (O, outH, outW) (+)= the convolution of x[n] (`ConvKernel.winograd3x3`,
    /// `.winograd3x3Tile4`, `.winograd4x4`, `.winograd4x4Tile3`).
    static func apply(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let k = kind(kernel)
        let u = filter(w, k, outputs: p.outputs, channels: p.channels)
        for n in 0..<p.images {
            forward(x + n * p.inputFloats, p.g, k, u: u, outputs: p.outputs, out: out + n * p.outputFloats, accumulate: accumulate)
        }
    }

    /// dW (+)= the weight gradient over all images.
    static func weightGradient(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, y: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>,
                               accumulate: Bool) {
        weightGradient(x, p.g, kind(kernel), gout: y, outputs: p.outputs, images: p.images, dw: dw, accumulate: accumulate)
    }

    /// Tiles of a geometry: (rows, columns).
    static func tiles(_ g: ConvGeometry, _ k: Kind) -> (Int, Int) { ((g.outH + k.tile - 1) / k.tile, (g.outW + k.tile - 1) / k.tile) }

    /// The transformed filter U (points, O, C) of w (O, C, k, k).
    static func filter(_ w: UnsafePointer<Float>, _ k: Kind, outputs O: Int, channels C: Int) -> [Float] {
        var u = uninitializedFloats(k.points * O * C)
        u.withUnsafeMutableBufferPointer { up in
            parallelChunks(O * C, work: O * C * 4 * k.points, minimumWork: 1 << 18) { lo, hi in k.filter(w, O, C, up.baseAddress!, lo, hi) }
        }
        return u
    }

    /// Floats of scratch one chunk of the tile transforms needs (a row of tiles).
    static func scratchFloats(_ g: ConvGeometry, _ k: Kind) -> Int { k.scratch * (tiles(g, k).1 + 1) }

    /// Runs `body` with a chunk's own scratch for the tile transforms.
    @inline(__always)
    static func withScratch(_ g: ConvGeometry, _ k: Kind, _ body: (UnsafeMutablePointer<Float>) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: scratchFloats(g, k)) { body($0.baseAddress!) }
    }

    /// V (points, C, tiles) of one image.
    static func transformInput(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ k: Kind, into v: UnsafeMutablePointer<Float>) {
        let (th, tw) = tiles(g, k), C = g.channels
        parallelChunks(C, work: C * th * tw * k.points, minimumWork: 1 << 18) { lo, hi in
            withScratch(g, k) { k.input(x, C, g.height, g.width, g.padH, th, tw, v, lo, hi, $0) }
        }
    }

    /// out (O, outH, outW) (+)= the convolution of image x with the filter whose transform is `u`.
    static func forward(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ k: Kind, u: UnsafePointer<Float>, outputs O: Int,
                        out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (th, tw) = tiles(g, k), T = th * tw, C = g.channels, np = k.points
        var v = uninitializedFloats(np * C * T), m = uninitializedFloats(np * O * T)
        v.withUnsafeMutableBufferPointer { vp in
            m.withUnsafeMutableBufferPointer { mp in
                transformInput(x, g, k, into: vp.baseAddress!)
                sgemmBatch(count: np, m: O, n: T, k: C, a: u, strideA: O * C, lda: C, b: vp.baseAddress!, strideB: C * T, ldb: T,
                           c: mp.baseAddress!, strideC: O * T, ldc: T)
                parallelChunks(O, work: O * T * np, minimumWork: 1 << 18) { lo, hi in
                    withScratch(g, k) { k.output(mp.baseAddress!, O, th, tw, out, g.outH, g.outW, accumulate ? 1 : 0, lo, hi, $0) }
                }
            }
        }
    }

    /// dw (O, C, k, k) (+)= the weight gradient over `images` images x (C, H, W) with output
    /// gradients gout (O, outH, outW).
    static func weightGradient(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ k: Kind, gout: UnsafePointer<Float>, outputs O: Int,
                               images: Int, dw: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (th, tw) = tiles(g, k), T = th * tw, C = g.channels, np = k.points
        let chw = C * g.height * g.width, ohw = O * g.outH * g.outW
        var v = uninitializedFloats(np * C * T), gt = uninitializedFloats(np * O * T), wh = uninitializedFloats(np * O * C)
        v.withUnsafeMutableBufferPointer { vp in
            gt.withUnsafeMutableBufferPointer { gp in
                wh.withUnsafeMutableBufferPointer { hp in
                    for n in 0..<images {
                        transformInput(x + n * chw, g, k, into: vp.baseAddress!)
                        parallelChunks(O, work: O * T * np, minimumWork: 1 << 18) { lo, hi in
                            withScratch(g, k) { k.gout(gout + n * ohw, O, g.outH, g.outW, th, tw, gp.baseAddress!, lo, hi, $0) }
                        }
                        sgemmBatch(transB: true, count: np, m: O, n: C, k: T, a: gp.baseAddress!, strideA: O * T, lda: T,
                                   b: vp.baseAddress!, strideB: C * T, ldb: T, beta: n == 0 ? 0 : 1,
                                   c: hp.baseAddress!, strideC: O * C, ldc: C)
                    }
                    parallelChunks(O * C, work: O * C * 4 * np, minimumWork: 1 << 18) { lo, hi in
                        k.wgradOutput(hp.baseAddress!, O, C, dw, accumulate ? 1 : 0, lo, hi)
                    }
                }
            }
        }
    }
}
