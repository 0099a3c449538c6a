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

    /// Convolutions run without gradients whose output plane (conv) or input plane
    /// (transposed conv) has at most this many positions (the U-Net's innermost layers: 1x1
    /// to 4x4 planes, 512-1024 channels) are computed for all images of a batch in one pass
    /// over the weights
    /// (`tr_gemm_fewcols`) instead of one OpenBLAS product per image, each of which re-packs
    /// 16-32 MB of weights for 1-16 columns. The kernel's arithmetic for a column does not
    /// depend on the other columns, and the choice depends on the plane only, so an image's
    /// result is the same in any batch. 0 turns it off.
    nonisolated(unsafe) public static var fewColumnsMaxPositions = 16
    /// Products computed on the few-column path so far (tests check that it is taken).
    nonisolated(unsafe) static var fewColumnsProducts = 0

    /// Whether a convolution with `positions` plane positions takes the few-column path: only
    /// when no gradient is recorded (inference, evaluation, sampling), so that training
    /// steps keep OpenBLAS's arithmetic, which the PyTorch training-step fixtures check.
    static func fewColumns(positions: Int, inputs: [Tensor?]) -> Bool {
        positions <= fewColumnsMaxPositions
            && !(GradMode.isEnabled && inputs.contains { $0?.requiresGrad == true })
    }

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

/// `planes` planes of `rows` x `cols` values (`src` rows `srcStride` apart) in a zero canvas of
/// `canvasRows` x `canvasStride` per plane, at row `top`, column `left`.
private func canvas(_ src: UnsafePointer<Float>, planes: Int, rows: Int, cols: Int, srcStride: Int, top: Int, left: Int,
                    canvasRows: Int, canvasStride: Int) -> [Float] {
    var c = [Float](repeating: 0, count: planes * canvasRows * canvasStride)
    c.withUnsafeMutableBufferPointer { cp in
        for p in 0..<planes { for y in 0..<rows {
            (cp.baseAddress! + (p * canvasRows + y + top) * canvasStride + left).update(from: src + (p * rows + y) * srcStride, count: cols)
        } }
    }
    return c
}

/// Widths are computed in whole 16-column vectors: `roundUp16(n)` columns, the rest zeros.
@inline(__always) private func roundUp16(_ n: Int) -> Int { (n + 15) / 16 * 16 }

/// Splits `0..<n` over both cores when `work` is large.
func splitRange(_ n: Int, work: Int, _ body: (Int, Int) -> Void) {
    if n >= 2 && work >= 1 << 18 {
        DispatchQueue.concurrentPerform(iterations: 2) { c in body(n * c / 2, n * (c + 1) / 2) }
    } else if n > 0 {
        body(0, n)
    }
}

/// conv2d through `tr_correlate` / `tr_correlate_wgrad` (stride 1, dilation 1, kW <= 8). Rows
/// are computed in whole 16-column vectors: inputs are copied into zero canvases wide enough
/// (unless the image already fits: no padding and a width multiple of 16), results cropped.
func conv2dDirect(_ x: Tensor, weight: Tensor, bias: Tensor?, _ g: ConvGeometry) -> Tensor {
    let N = x.shape[0], C = g.channels, O = weight.shape[0], H = g.height, W = g.width
    let kh = g.kernelH, kw = g.kernelW, oh = g.outH, ow = g.outW, P = oh * ow, chw = C * H * W
    let wr = roundUp16(ow)                                  // output row width computed
    let fits = g.padH == 0 && g.padW == 0 && wr == ow       // x itself is a valid canvas
    let ch = oh + kh - 1, cs = fits ? W : wr + kw - 1        // input canvas rows and row stride
    /// The input canvas of image n (C, ch, cs): x[n] zero-padded.
    func inputCanvas<R>(_ xp: UnsafePointer<Float>, _ n: Int, _ body: (UnsafePointer<Float>) -> R) -> R {
        if fits { return body(xp + n * chw) }
        let c = canvas(xp + n * chw, planes: C, rows: H, cols: W, srcStride: W, top: g.padH, left: g.padW,
                       canvasRows: ch, canvasStride: cs)
        return c.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
    GEMMCounter.count(m: O, n: P * N, k: g.colRows)
    var out = uninitializedFloats(N * O * P)
    var wide = fits ? [] : uninitializedFloats(O * oh * wr)
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer { op in
                wide.withUnsafeMutableBufferPointer { wd in
                    for n in 0..<N {
                        inputCanvas(xp.baseAddress!, n) { src in
                            let dst = fits ? op.baseAddress! + n * O * P : wd.baseAddress!
                            splitRange(oh, work: O * P * g.colRows) { y0, y1 in
                                tr_correlate(src, C, cs, ch * cs, wp.baseAddress!, O, kh, kw, dst, wr, wr, oh * wr, y0, y1, 0)
                            }
                        }
                        if !fits {
                            for r in 0..<(O * oh) { (op.baseAddress! + n * O * P + r * ow).update(from: wd.baseAddress! + r * wr, count: ow) }
                        }
                    }
                }
                if let b = bias { addChannelBias(op.baseAddress!, b.data, n: N, c: O, plane: P) }
            }
        }
    }
    wide = []
    let result = Tensor(uncheckedShape: [N, O, oh, ow], data: out)
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    record(result, inputs) { gout in
        let go = gout.baseAddress!
        if weight.requiresGrad {
            GEMMCounter.count(m: O, n: P * N, k: g.colRows)
            weight.withGradForOverwrite { dw, fresh in
                x.data.withUnsafeBufferPointer { xp in
                    for n in 0..<N {
                        // The output gradient with zero columns up to the computed width.
                        let gw = fits ? [] : canvas(go + n * O * P, planes: O, rows: oh, cols: ow, srcStride: ow, top: 0, left: 0,
                                                    canvasRows: oh, canvasStride: wr)
                        gw.withUnsafeBufferPointer { gwp in
                            let gsrc = fits ? go + n * O * P : gwp.baseAddress!
                            inputCanvas(xp.baseAddress!, n) { src in
                                splitRange(C, work: O * P * g.colRows) { c0, c1 in
                                    tr_correlate_wgrad(src, C, cs, ch * cs, gsrc, O, wr, oh * wr, oh, wr,
                                                       dw.baseAddress!, kh, kw, c0, c1, fresh && n == 0 ? 0 : 1)
                                }
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
            let ph = H + 2 * g.padH, pw = W + 2 * g.padW, pr = roundUp16(pw)   // padded input, computed width
            let gh = oh + 2 * (kh - 1), gs = pr + kw - 1
            let direct = g.padH == 0 && g.padW == 0 && pr == W      // write into dx itself
            var wideDx = direct ? [] : uninitializedFloats(C * ph * pr)
            x.withGradForOverwrite { dx, fresh in
                flipped.withUnsafeBufferPointer { fp in
                    wideDx.withUnsafeMutableBufferPointer { cp in
                        for n in 0..<N {
                            let gz = canvas(go + n * O * P, planes: O, rows: oh, cols: ow, srcStride: ow, top: kh - 1, left: kw - 1,
                                            canvasRows: gh, canvasStride: gs)
                            gz.withUnsafeBufferPointer { gzp in
                                let d = dx.baseAddress! + n * chw
                                splitRange(ph, work: O * P * g.colRows) { y0, y1 in
                                    tr_correlate(gzp.baseAddress!, O, gs, gh * gs, fp.baseAddress!, C, kh, kw,
                                                 direct ? d : cp.baseAddress!, pr, pr, ph * pr, y0, y1, direct && !fresh ? 1 : 0)
                                }
                                if direct { return }
                                for c in 0..<C { for y in 0..<H {
                                    let s = cp.baseAddress! + (c * ph + y + g.padH) * pr + g.padW
                                    let r = d + (c * H + y) * W
                                    if fresh { r.update(from: s, count: W) } else { for v in 0..<W { r[v] += s[v] } }
                                } }
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

/// C (M, ldb) = op(A) (M, K) * B (K, ldb) through `tr_gemm_fewcols`, rows split over both cores;
/// `n` real columns, B's and C's rows `ldb` = roundUp16(n) apart.
func fewColumnsGEMM(a: UnsafePointer<Float>, lda: Int, transA: Bool, b: UnsafePointer<Float>, ldb: Int,
                    c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int) {
    GEMMCounter.count(m: m, n: n, k: k)
    ConvAlgorithm.fewColumnsProducts += 1
    splitRange(m, work: m * k * ldb) { i0, i1 in
        tr_gemm_fewcols(a, lda, transA ? 1 : 0, b, ldb, c, ldb, n, k, i0, i1)
    }
}

/// Columns of a few-column product: `n` rounded up to whole 16-column vectors.
@inline(__always) func fewColumnsStride(_ n: Int) -> Int { (n + 15) / 16 * 16 }
