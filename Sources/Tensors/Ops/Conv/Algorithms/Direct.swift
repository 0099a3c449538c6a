import CKernels

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
                            parallelChunks(oh, work: O * P * g.colRows, minimumWork: 1 << 18) { y0, y1 in
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
                                parallelChunks(C, work: O * P * g.colRows, minimumWork: 1 << 18) { c0, c1 in
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
                                parallelChunks(ph, work: O * P * g.colRows, minimumWork: 1 << 18) { y0, y1 in
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
