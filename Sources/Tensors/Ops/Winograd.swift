import CKernels
import Dispatch

/// Winograd F(2x2, 3x3) for stride-1 3x3 convolutions with many channels (the ResNet
/// generator's residual blocks: 256 -> 256 channels at 64 x 64, about 80 % of a CycleGAN
/// step's arithmetic). Each 2x2 output tile costs 16 products per channel pair instead of 36:
/// the convolution becomes 16 matrix products (O x C) by (C x tiles) between cheap linear
/// transforms of the input, the filter and the result (kernels in CKernels/direct_conv.c).
/// The weight gradient is the adjoint of the same bilinear form (16 products (O x tiles) by
/// (tiles x C)); the input gradient is a forward convolution of the output gradient (see
/// `ConvAlgorithm.inputGradientAsConv`), so it takes this path too.
///
/// The transforms use only +, - and halving, so the rounding error stays within a few ulps of
/// the direct sum's (tests: against the naive double-precision convolution).
enum Winograd {
    static func applies(_ g: ConvGeometry, outputs: Int) -> Bool {
        ConvAlgorithm.winogradEnabled && g.kernelH == 3 && g.kernelW == 3 && g.strideH == 1 && g.strideW == 1
            && g.dilationH == 1 && g.dilationW == 1 && g.padH == g.padW && g.padH <= 2
            && g.channels >= ConvAlgorithm.winogradMinChannels && outputs >= ConvAlgorithm.winogradMinChannels
    }

    /// Tiles of a geometry: (rows, columns).
    static func tiles(_ g: ConvGeometry) -> (Int, Int) { ((g.outH + 1) / 2, (g.outW + 1) / 2) }

    /// The transformed filter U (16, O, C) of w (O, C, 3, 3).
    static func filter(_ w: UnsafePointer<Float>, outputs O: Int, channels C: Int) -> [Float] {
        var u = uninitializedFloats(16 * O * C)
        u.withUnsafeMutableBufferPointer { up in
            parallelChunks(O * C, work: O * C * 64, minimumWork: 1 << 18) { lo, hi in tr_wino_filter(w, O, C, up.baseAddress!, lo, hi) }
        }
        return u
    }

    /// V (16, C, tiles) of one image.
    static func transformInput(_ x: UnsafePointer<Float>, _ g: ConvGeometry, into v: UnsafeMutablePointer<Float>,
                               scratch: UnsafeMutablePointer<Float>) {
        let (th, tw) = tiles(g), C = g.channels
        parallelChunks(C, work: C * th * tw * 16, minimumWork: 1 << 18) { lo, hi in
            tr_wino_input(x, C, g.height, g.width, g.padH, th, tw, v, lo, hi, scratch + (lo == 0 ? 0 : 32 * (tw + 1)))
        }
    }

    /// out (O, outH, outW) (+)= the convolution of image x with the filter whose transform is `u`.
    static func forward(_ x: UnsafePointer<Float>, _ g: ConvGeometry, u: UnsafePointer<Float>, outputs O: Int,
                        out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (th, tw) = tiles(g), T = th * tw, C = g.channels
        var v = uninitializedFloats(16 * C * T), m = uninitializedFloats(16 * O * T)
        var scratch = uninitializedFloats(64 * (tw + 1))
        v.withUnsafeMutableBufferPointer { vp in
            m.withUnsafeMutableBufferPointer { mp in
                scratch.withUnsafeMutableBufferPointer { sp in
                    transformInput(x, g, into: vp.baseAddress!, scratch: sp.baseAddress!)
                    for xi in 0..<16 {
                        sgemm(m: O, n: T, k: C, a: u + xi * O * C, lda: C, b: vp.baseAddress! + xi * C * T, ldb: T,
                              c: mp.baseAddress! + xi * O * T, ldc: T)
                    }
                    parallelChunks(O, work: O * T * 16, minimumWork: 1 << 18) { lo, hi in
                        tr_wino_output(mp.baseAddress!, O, th, tw, out, g.outH, g.outW, accumulate ? 1 : 0, lo, hi,
                                       sp.baseAddress! + (lo == 0 ? 0 : 32 * (tw + 1)))
                    }
                }
            }
        }
    }

    /// dw (O, C, 3, 3) (+)= the weight gradient over `images` images x (C, H, W) with output
    /// gradients gout (O, outH, outW).
    static func weightGradient(_ x: UnsafePointer<Float>, _ g: ConvGeometry, gout: UnsafePointer<Float>, outputs O: Int,
                               images: Int, dw: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (th, tw) = tiles(g), T = th * tw, C = g.channels
        let chw = C * g.height * g.width, ohw = O * g.outH * g.outW
        var v = uninitializedFloats(16 * C * T), gt = uninitializedFloats(16 * O * T), wh = uninitializedFloats(16 * O * C)
        var scratch = uninitializedFloats(64 * (tw + 1))
        v.withUnsafeMutableBufferPointer { vp in
            gt.withUnsafeMutableBufferPointer { gp in
                wh.withUnsafeMutableBufferPointer { hp in
                    scratch.withUnsafeMutableBufferPointer { sp in
                        for n in 0..<images {
                            transformInput(x + n * chw, g, into: vp.baseAddress!, scratch: sp.baseAddress!)
                            parallelChunks(O, work: O * T * 16, minimumWork: 1 << 18) { lo, hi in
                                tr_wino_gout(gout + n * ohw, O, g.outH, g.outW, th, tw, gp.baseAddress!, lo, hi,
                                             sp.baseAddress! + (lo == 0 ? 0 : 32 * (tw + 1)))
                            }
                            for xi in 0..<16 {
                                sgemm(transB: true, m: O, n: C, k: T, a: gp.baseAddress! + xi * O * T, lda: T,
                                      b: vp.baseAddress! + xi * C * T, ldb: T, beta: n == 0 ? 0 : 1,
                                      c: hp.baseAddress! + xi * O * C, ldc: C)
                            }
                        }
                        parallelChunks(O * C, work: O * C * 64, minimumWork: 1 << 18) { lo, hi in
                            tr_wino_wgrad_output(hp.baseAddress!, O, C, dw, accumulate ? 1 : 0, lo, hi)
                        }
                    }
                }
            }
        }
    }
}
