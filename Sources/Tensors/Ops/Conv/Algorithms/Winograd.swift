import CKernels
import Dispatch

/// Winograd F(2x2, 3x3) for stride-1 3x3 convolutions with many channels (the ResNet
/// generator's residual blocks: 256 -> 256 channels at 64 x 64, about 80 % of a CycleGAN
/// step's arithmetic), and F(2x2, 4x4) for stride-1 4x4 ones (the PatchGAN's 256 -> 512
/// layer, about a third of a pix2pix step's arithmetic). Each 2x2 output tile costs 16
/// products per channel pair instead of 36 (3x3), 25 instead of 64 (4x4): the convolution
/// becomes 16 (25) matrix products (O x C) by (C x tiles) between cheap linear transforms of
/// the input, the filter and the result (kernels in CKernels/direct_conv.c, winograd_k4.c).
/// The weight gradient is the adjoint of the same bilinear form (products (O x tiles) by
/// (tiles x C)); the input gradient is a forward convolution of the output gradient (see
/// `GradientConv`), so it takes this path too where that convolution qualifies (`ConvPolicy.winograd`).
///
/// The 3x3 transforms use only +, - and halving, so the rounding error stays within a few
/// ulps of the direct sum's; the 4x4 ones (points 0, 1, -1, 2) also scale by 2 and 3 and the
/// filter transform by sixths, about 1.6e-6 relative for 256-channel sums (tests: against the
/// naive double-precision convolution).
enum Winograd: ConvAlgorithm {
    /// The transforms of one tile size: `points` = 16 for 3x3 kernels, 25 for 4x4.
    struct Kind {
        typealias Input = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, Int, Int, Int, UnsafeMutablePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?) -> Void
        typealias Filter = @convention(c) (UnsafePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?, Int, Int) -> Void
        typealias Output = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, UnsafeMutablePointer<Float>?, Int, Int, Int32, Int, Int, UnsafeMutablePointer<Float>?) -> Void
        typealias GOut = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, Int, Int, UnsafeMutablePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?) -> Void
        typealias WGrad = @convention(c) (UnsafePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?, Int32, Int, Int) -> Void
        let kernel: Int, points: Int
        let input: Input, filter: Filter, output: Output, gout: GOut, wgradOutput: WGrad
    }
    static let k3 = Kind(kernel: 3, points: 16, input: tr_wino_input, filter: tr_wino_filter, output: tr_wino_output,
                         gout: tr_wino_gout, wgradOutput: tr_wino_wgrad_output)
    static let k4 = Kind(kernel: 4, points: 25, input: tr_wk4_input, filter: tr_wk4_filter, output: tr_wk4_output,
                         gout: tr_wk4_gout, wgradOutput: tr_wk4_wgrad_output)

    static func kind(_ g: ConvGeometry) -> Kind { g.kernelH == 4 ? k4 : k3 }

    /// out[n] (O, outH, outW) (+)= the convolution of x[n] (`ConvKernel.winograd3x3`, `.winograd4x4`).
    static func apply(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let u = filter(w, p.g, outputs: p.outputs, channels: p.channels)
        for n in 0..<p.images {
            forward(x + n * p.inputFloats, p.g, u: u, outputs: p.outputs, out: out + n * p.outputFloats, accumulate: accumulate)
        }
    }

    /// dW (+)= the weight gradient over all images.
    static func weightGradient(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, y: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>,
                               accumulate: Bool) {
        weightGradient(x, p.g, gout: y, outputs: p.outputs, images: p.images, dw: dw, accumulate: accumulate)
    }

    /// Tiles of a geometry: (rows, columns).
    static func tiles(_ g: ConvGeometry) -> (Int, Int) { ((g.outH + 1) / 2, (g.outW + 1) / 2) }

    /// The transformed filter U (points, O, C) of w (O, C, k, k).
    static func filter(_ w: UnsafePointer<Float>, _ g: ConvGeometry, outputs O: Int, channels C: Int) -> [Float] {
        let k = kind(g)
        var u = uninitializedFloats(k.points * O * C)
        u.withUnsafeMutableBufferPointer { up in
            parallelChunks(O * C, work: O * C * 4 * k.points, minimumWork: 1 << 18) { lo, hi in k.filter(w, O, C, up.baseAddress!, lo, hi) }
        }
        return u
    }

    /// Floats of scratch one chunk of the tile transforms needs (a row of tiles).
    static func scratchFloats(_ g: ConvGeometry) -> Int { 32 * (tiles(g).1 + 1) }

    /// Runs `body` with a chunk's own scratch for the tile transforms.
    @inline(__always)
    static func withScratch(_ g: ConvGeometry, _ body: (UnsafeMutablePointer<Float>) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: scratchFloats(g)) { body($0.baseAddress!) }
    }

    /// V (points, C, tiles) of one image.
    static func transformInput(_ x: UnsafePointer<Float>, _ g: ConvGeometry, into v: UnsafeMutablePointer<Float>) {
        let (th, tw) = tiles(g), C = g.channels, k = kind(g)
        parallelChunks(C, work: C * th * tw * k.points, minimumWork: 1 << 18) { lo, hi in
            withScratch(g) { k.input(x, C, g.height, g.width, g.padH, th, tw, v, lo, hi, $0) }
        }
    }

    /// out (O, outH, outW) (+)= the convolution of image x with the filter whose transform is `u`.
    static func forward(_ x: UnsafePointer<Float>, _ g: ConvGeometry, u: UnsafePointer<Float>, outputs O: Int,
                        out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (th, tw) = tiles(g), T = th * tw, C = g.channels, k = kind(g), np = k.points
        var v = uninitializedFloats(np * C * T), m = uninitializedFloats(np * O * T)
        v.withUnsafeMutableBufferPointer { vp in
            m.withUnsafeMutableBufferPointer { mp in
                transformInput(x, g, into: vp.baseAddress!)
                for xi in 0..<np {
                    sgemm(m: O, n: T, k: C, a: u + xi * O * C, lda: C, b: vp.baseAddress! + xi * C * T, ldb: T,
                          c: mp.baseAddress! + xi * O * T, ldc: T)
                }
                parallelChunks(O, work: O * T * np, minimumWork: 1 << 18) { lo, hi in
                    withScratch(g) { k.output(mp.baseAddress!, O, th, tw, out, g.outH, g.outW, accumulate ? 1 : 0, lo, hi, $0) }
                }
            }
        }
    }

    /// dw (O, C, k, k) (+)= the weight gradient over `images` images x (C, H, W) with output
    /// gradients gout (O, outH, outW).
    static func weightGradient(_ x: UnsafePointer<Float>, _ g: ConvGeometry, gout: UnsafePointer<Float>, outputs O: Int,
                               images: Int, dw: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (th, tw) = tiles(g), T = th * tw, C = g.channels, k = kind(g), np = k.points
        let chw = C * g.height * g.width, ohw = O * g.outH * g.outW
        var v = uninitializedFloats(np * C * T), gt = uninitializedFloats(np * O * T), wh = uninitializedFloats(np * O * C)
        v.withUnsafeMutableBufferPointer { vp in
            gt.withUnsafeMutableBufferPointer { gp in
                wh.withUnsafeMutableBufferPointer { hp in
                    for n in 0..<images {
                        transformInput(x + n * chw, g, into: vp.baseAddress!)
                        parallelChunks(O, work: O * T * np, minimumWork: 1 << 18) { lo, hi in
                            withScratch(g) { k.gout(gout + n * ohw, O, g.outH, g.outW, th, tw, gp.baseAddress!, lo, hi, $0) }
                        }
                        for xi in 0..<np {
                            sgemm(transB: true, m: O, n: C, k: T, a: gp.baseAddress! + xi * O * T, lda: T,
                                  b: vp.baseAddress! + xi * C * T, ldb: T, beta: n == 0 ? 0 : 1,
                                  c: hp.baseAddress! + xi * O * C, ldc: C)
                        }
                    }
                    parallelChunks(O * C, work: O * C * 4 * np, minimumWork: 1 << 18) { lo, hi in
                        k.wgradOutput(hp.baseAddress!, O, C, dw, accumulate ? 1 : 0, lo, hi)
                    }
                }
            }
        }
    }
}
