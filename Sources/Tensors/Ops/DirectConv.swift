import CKernels
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Which algorithm `conv2d` uses for convolutions with few output channels.
///
/// A convolution with O output channels is, per image, a matrix product (O x C*kH*kW) by
/// (C*kH*kW x H*W). With O <= 4 (the ResNet generator's last layer: 64 -> 3 channels, 7x7 on
/// 256 x 256, a 3136 x 65536 column matrix of 822 MB) that product is a few dot products
/// per pixel: OpenBLAS runs it at under 20 GFLOP/s and the unfolded matrix costs more than the
/// arithmetic. Those layers run as direct correlations over the (padded) image planes
/// instead, forward and both gradients, without any column matrix.
public enum ConvAlgorithm {
    /// Tests switch this off to compare the direct kernels with the GEMM path.
    nonisolated(unsafe) public static var directEnabled = true
    /// Largest output-channel count that takes the direct path.
    public static let directMaxOutputs = 4

    /// Bytes of column matrix per chunk of output rows (`chunkRows`): small enough to stay in
    /// the 32 MB last-level cache between im2col and the GEMM, large enough for full-speed GEMMs.
    nonisolated(unsafe) public static var chunkBytes = 8 << 20

    /// Output rows per column-matrix chunk for a convolution.
    static func chunkRows(_ g: ConvGeometry) -> Int {
        let perRow = max(1, g.colRows * g.outW * MemoryLayout<Float>.size)
        return max(1, min(g.outH, chunkBytes / perRow))
    }

    /// Whether stride-1 3x3 convolutions with at least `winogradMinChannels` input and output
    /// channels use Winograd F(2x2, 3x3) (`Winograd`); tests switch it off or lower the bound.
    /// `TRANSLATE_WINOGRAD=0` in the environment turns it off (direct sums, as PyTorch's CPU
    /// convolutions, at about 1.3x the CycleGAN step time).
    nonisolated(unsafe) public static var winogradEnabled = getenv("TRANSLATE_WINOGRAD").map { String(cString: $0) != "0" } ?? true
    nonisolated(unsafe) public static var winogradMinChannels = 32

    /// Tests switch this off to compare with folding the column gradient (col2im).
    nonisolated(unsafe) public static var inputGradientAsConvEnabled = true

    /// For a stride-1, dilation-1 convolution with padding below the kernel size, the geometry
    /// of the convolution over the output gradient that yields the input gradient (its
    /// outputs are the C input channels); nil otherwise.
    static func inputGradientAsConv(_ g: ConvGeometry, outputs: Int) -> ConvGeometry? {
        guard inputGradientAsConvEnabled, g.strideH == 1, g.strideW == 1, g.dilationH == 1, g.dilationW == 1,
              g.padH < g.kernelH, g.padW < g.kernelW else { return nil }
        let t = ConvGeometry(channels: outputs, height: g.outH, width: g.outW, kernelH: g.kernelH, kernelW: g.kernelW,
                             padH: g.kernelH - 1 - g.padH, padW: g.kernelW - 1 - g.padW)
        assert(t.outH == g.height && t.outW == g.width)
        return t
    }

    static func useDirect(outputs: Int, _ g: ConvGeometry) -> Bool {
        directEnabled && outputs <= directMaxOutputs && g.strideH == 1 && g.strideW == 1
            && g.dilationH == 1 && g.dilationW == 1 && g.kernelW <= 8 && g.colRows >= 8
    }
}

/// An image's planes zero-padded by (padH, padW), or the image itself when there is no padding.
private func paddedPlanes<R>(_ x: UnsafePointer<Float>, _ g: ConvGeometry,
                             _ body: (UnsafePointer<Float>, _ stride: Int, _ plane: Int) -> R) -> R {
    if g.padH == 0 && g.padW == 0 { return body(x, g.width, g.height * g.width) }
    let ph = g.height + 2 * g.padH, pw = g.width + 2 * g.padW
    var canvas = [Float](repeating: 0, count: g.channels * ph * pw)
    return canvas.withUnsafeMutableBufferPointer { cp in
        for c in 0..<g.channels { for y in 0..<g.height {
            (cp.baseAddress! + (c * ph + y + g.padH) * pw + g.padW).update(from: x + (c * g.height + y) * g.width, count: g.width)
        } }
        return body(UnsafePointer(cp.baseAddress!), pw, ph * pw)
    }
}

/// Splits `0..<n` over both cores when `work` is large.
func splitRange(_ n: Int, work: Int, _ body: (Int, Int) -> Void) {
    if n >= 2 && work >= 1 << 18 {
        DispatchQueue.concurrentPerform(iterations: 2) { c in body(n * c / 2, n * (c + 1) / 2) }
    } else if n > 0 {
        body(0, n)
    }
}

/// conv2d through `tr_correlate` / `tr_correlate_wgrad` (stride 1, dilation 1, kW <= 8).
func conv2dDirect(_ x: Tensor, weight: Tensor, bias: Tensor?, _ g: ConvGeometry) -> Tensor {
    let N = x.shape[0], C = g.channels, O = weight.shape[0]
    let kh = g.kernelH, kw = g.kernelW, oh = g.outH, ow = g.outW, P = oh * ow, chw = C * g.height * g.width
    GEMMCounter.count(m: O, n: P * N, k: g.colRows)
    var out = uninitializedFloats(N * O * P)
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer { op in
                for n in 0..<N {
                    paddedPlanes(xp.baseAddress! + n * chw, g) { src, stride, plane in
                        let dst = op.baseAddress! + n * O * P
                        splitRange(oh, work: O * P * g.colRows) { y0, y1 in
                            tr_correlate(src, C, stride, plane, wp.baseAddress!, O, kh, kw,
                                         dst, ow, ow, P, y0, y1, 0)
                        }
                    }
                }
                if let b = bias { addChannelBias(op.baseAddress!, b.data, n: N, c: O, plane: P) }
            }
        }
    }
    let result = Tensor(uncheckedShape: [N, O, oh, ow], data: out)
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    record(result, inputs) { gout in
        let go = gout.baseAddress!
        if weight.requiresGrad {
            GEMMCounter.count(m: O, n: P * N, k: g.colRows)
            weight.withGradForOverwrite { dw, fresh in
                x.data.withUnsafeBufferPointer { xp in
                    for n in 0..<N {
                        paddedPlanes(xp.baseAddress! + n * chw, g) { src, stride, plane in
                            splitRange(C, work: O * P * g.colRows) { c0, c1 in
                                tr_correlate_wgrad(src, C, stride, plane, go + n * O * P, O, ow, P, oh, ow,
                                                   dw.baseAddress!, kh, kw, c0, c1, fresh && n == 0 ? 0 : 1)
                            }
                        }
                    }
                }
            }
        }
        if x.requiresGrad {
            GEMMCounter.count(m: O, n: P * N, k: g.colRows)
            // d(padded x)[c][u][v] = sum_{o,i,j} w[o][c][kh-1-i][kw-1-j] * gz[o][u+i][v+j], where gz is
            // the output gradient with kh-1 / kw-1 zero rows and columns around it: the same
            // correlation with channels swapped and the kernel flipped.
            var flipped = uninitializedFloats(C * O * kh * kw)
            weight.data.withUnsafeBufferPointer { wp in
                for o in 0..<O { for c in 0..<C { for i in 0..<kh { for j in 0..<kw {
                    flipped[((c * O + o) * kh + i) * kw + j] = wp[((o * C + c) * kh + kh - 1 - i) * kw + kw - 1 - j]
                } } } }
            }
            let gh = oh + 2 * (kh - 1), gw = ow + 2 * (kw - 1)
            let ph = g.height + 2 * g.padH, pw = g.width + 2 * g.padW
            let padded = g.padH > 0 || g.padW > 0
            var gz = [Float](repeating: 0, count: O * gh * gw)
            var canvas = padded ? uninitializedFloats(C * ph * pw) : []
            x.withGradForOverwrite { dx, fresh in
                gz.withUnsafeMutableBufferPointer { gzp in
                    flipped.withUnsafeBufferPointer { fp in
                        canvas.withUnsafeMutableBufferPointer { cp in
                            for n in 0..<N {
                                for o in 0..<O { for y in 0..<oh {
                                    (gzp.baseAddress! + (o * gh + y + kh - 1) * gw + kw - 1)
                                        .update(from: go + n * O * P + (o * oh + y) * ow, count: ow)
                                } }
                                let src = UnsafePointer(gzp.baseAddress!)
                                if padded {
                                    splitRange(ph, work: O * P * g.colRows) { y0, y1 in
                                        tr_correlate(src, O, gw, gh * gw, fp.baseAddress!, C, kh, kw,
                                                     cp.baseAddress!, pw, pw, ph * pw, y0, y1, 0)
                                    }
                                    let d = dx.baseAddress! + n * chw
                                    for c in 0..<C { for y in 0..<g.height {
                                        let s = cp.baseAddress! + (c * ph + y + g.padH) * pw + g.padW
                                        let r = d + (c * g.height + y) * g.width
                                        if fresh { r.update(from: s, count: g.width) } else { for v in 0..<g.width { r[v] += s[v] } }
                                    } }
                                } else {
                                    splitRange(g.height, work: O * P * g.colRows) { y0, y1 in
                                        tr_correlate(src, O, gw, gh * gw, fp.baseAddress!, C, kh, kw,
                                                     dx.baseAddress! + n * chw, g.width, g.width, g.height * g.width,
                                                     y0, y1, fresh ? 0 : 1)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let b = bias, b.requiresGrad { b.withGrad { db in channelBiasGrad(go, db.baseAddress!, n: N, c: O, plane: P) } }
    }
    return result
}
