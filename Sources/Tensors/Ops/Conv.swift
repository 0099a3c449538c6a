import CKernels
/// conv2d and convTranspose2d, forward and backward side by side; which algorithm runs is
/// `ConvAlgorithm`'s choice. Weight layouts as PyTorch: conv (O, C, kH, kW), transposed (Cin, Cout, kH, kW).

/// 2-D convolution. x (N, C, H, W), weight (O, C, kH, kW), bias (O) -> (N, O, outH, outW).
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Size2 = 1,
                   padding: Size2 = 0, dilation: Size2 = 1) throws -> Tensor {
    try checkRank("conv2d", x, 4)
    try checkRank("conv2d", weight, 4, "weight")
    let (N, C, H, W) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let O = weight.shape[0]
    guard weight.shape[1] == C else { throw TensorError.shapeMismatch(op: "conv2d (input channels vs weight[1])", shapes: [x.shape, weight.shape]) }
    if let b = bias, b.shape != [O] { throw TensorError.shapeMismatch(op: "conv2d (bias vs weight[0])", shapes: [b.shape, weight.shape]) }
    guard stride.h > 0, stride.w > 0, dilation.h > 0, dilation.w > 0, padding.h >= 0, padding.w >= 0 else {
        throw TensorError.invalidArgument("conv2d: stride \(stride) and dilation \(dilation) must be positive, padding \(padding) non-negative")
    }
    let g = ConvGeometry(channels: C, height: H, width: W, kernelH: weight.shape[2], kernelW: weight.shape[3],
                         strideH: stride.h, strideW: stride.w, padH: padding.h, padW: padding.w,
                         dilationH: dilation.h, dilationW: dilation.w)
    guard H + 2 * padding.h - dilation.h * (g.kernelH - 1) - 1 >= 0, W + 2 * padding.w - dilation.w * (g.kernelW - 1) - 1 >= 0 else {
        throw TensorError.shapeMismatch(op: "conv2d (kernel larger than padded input)", shapes: [x.shape, weight.shape])
    }
    let grads = GradMode.isEnabled
    if ConvAlgorithm.useDirect(outputs: O, g) {
        ConvTrace.record(ConvPlanRecord(transposed: false, channels: C, outputs: O, height: H, width: W, kernel: g.kernelH, stride: stride.h,
                                        padding: padding.h, images: N, forward: .direct,
                                        inputGradient: grads && x.requiresGrad ? .direct : nil, weightGradient: grads && weight.requiresGrad ? .direct : nil))
        return conv2dDirect(x, weight: weight, bias: bias, g)
    }
    let K = g.colRows, P = g.colCols, chw = C * H * W
    // A 1x1 stride-1 unpadded convolution needs no unfolding: cols == x.
    let direct = g.kernelH == 1 && g.kernelW == 1 && stride == 1 && padding == 0
    let chunk = ConvAlgorithm.chunkRows(g)
    // Both are written in full (GEMM with beta 0, im2col), so no zero fill.
    var out = uninitializedFloats(N * O * P)
    let winoS2 = WinogradS2.applies(g, outputs: O, inputs: [x, weight, bias])
    let keep = !WinogradS2.recordsGradient([x, weight, bias])
    let batched = !winoS2 && ConvAlgorithm.batched(g, positions: P, inputs: [x, weight, bias])
    let batchCols = !winoS2 && BatchColumns.applies(g, images: N, positions: P, inputs: [x, weight, bias])
    if ConvTrace.active != nil {
        let wino: ConvKernel? = !direct && Winograd.applies(g, outputs: O) ? (g.kernelH == 4 ? .winograd4x4 : .winograd3x3) : nil
        let forward: ConvKernel = wino ?? (winoS2 ? .winogradS2 : !direct && batched ? (ConvAlgorithm.fewColumnsKernel(positions: P, transposed: false) ? .batchedFewColumns : .batchedPacked)
            : batchCols ? .batchColumns : direct ? .pointwise : .im2colGEMM)
        var inputGrad: ConvKernel?, weightGrad: ConvKernel?
        if grads && weight.requiresGrad {
            weightGrad = winoS2 ? .winogradS2 : batchCols ? .batchColumns : wino ?? (direct ? .pointwise : .im2colGEMM)
        }
        if grads && x.requiresGrad {
            if winoS2 { inputGrad = .winogradS2 } else if batchCols { inputGrad = .batchColumns } else if let gt = ConvAlgorithm.inputGradientAsConv(g, outputs: O), !direct {
                inputGrad = Winograd.applies(gt, outputs: C) ? (gt.kernelH == 4 ? .gradientConvWinograd4x4 : .gradientConvWinograd3x3) : .gradientConvGEMM
            } else { inputGrad = direct ? .pointwise : .col2im }
        }
        ConvTrace.record(ConvPlanRecord(transposed: false, channels: C, outputs: O, height: H, width: W, kernel: g.kernelH, stride: stride.h,
                                        padding: padding.h, images: N, forward: forward, inputGradient: inputGrad, weightGradient: weightGrad))
    }
    var cols = direct || Winograd.applies(g, outputs: O) || batched || winoS2 || batchCols ? [] : uninitializedFloats(K * chunk * g.outW)
    // out[n] (O, P) = weight (O, K) * cols (K, P)
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer { op in
                cols.withUnsafeMutableBufferPointer { cp in
                    if !direct && Winograd.applies(g, outputs: O) {
                        let u = Winograd.filter(wp.baseAddress!, g, outputs: O, channels: C)
                        for n in 0..<N {
                            Winograd.forward(xp.baseAddress! + n * chw, g, u: u, outputs: O, out: op.baseAddress! + n * O * P,
                                             accumulate: false)
                        }
                        return
                    }
                    if winoS2 {
                        WinogradS2.conv(xp.baseAddress!, g, images: N, weight: wp.baseAddress!, outputs: O, out: op.baseAddress!,
                                        weightTensor: weight, keep: keep)
                        return
                    }
                    if !direct && batched {
                        batchedConv(xp.baseAddress!, g, images: N, weight: wp.baseAddress!, outputs: O, out: op.baseAddress!,
                                    weightTensor: weight)
                        return
                    }
                    if batchCols {
                        // out (O, N*P) = weight (O, K) * cols of all images (K, N*P)
                        var all = uninitializedFloats(K * N * P), res = uninitializedFloats(O * N * P)
                        all.withUnsafeMutableBufferPointer { ap in
                            res.withUnsafeMutableBufferPointer { rp in
                                BatchColumns.im2colAll(xp.baseAddress!, g, images: N, into: ap.baseAddress!)
                                sgemm(m: O, n: N * P, k: K, a: wp.baseAddress!, lda: K, b: ap.baseAddress!, ldb: N * P,
                                      c: rp.baseAddress!, ldc: N * P)
                                BatchColumns.scatter(rp.baseAddress!, rows: O, images: N, positions: P, into: op.baseAddress!, add: false)
                            }
                        }
                        return
                    }
                    for n in 0..<N {
                        if direct {
                            sgemm(m: O, n: P, k: K, a: wp.baseAddress!, lda: K, b: xp.baseAddress! + n * chw, ldb: P,
                                  c: op.baseAddress! + n * O * P, ldc: P)
                        } else {
                            convGEMM(xp.baseAddress! + n * chw, g, weight: wp.baseAddress!, outputs: O,
                                     out: op.baseAddress! + n * O * P, beta: 0, cols: cp.baseAddress!, chunk: chunk)
                        }
                    }
                }
                if let b = bias { addChannelBias(op.baseAddress!, b.data, n: N, c: O, plane: P) }
            }
        }
    }
    cols = []
    let result = Tensor(uncheckedShape: [N, O, g.outH, g.outW], data: out)
    // The column matrix is not kept for backward: recomputing it there is cheap next to the
    // GEMMs and keeps peak memory to the activations themselves.
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    record(result, inputs) { gout in
        // gout (N, O, P)
        let go = gout.baseAddress!
        if winoS2 {
            if weight.requiresGrad {
                weight.withGradForOverwrite { dw, fresh in
                    x.data.withUnsafeBufferPointer { xp in
                        WinogradS2.weightGradient(xp.baseAddress!, g, images: N, gout: go, outputs: O, dw: dw.baseAddress!,
                                                  accumulate: !fresh)
                    }
                }
            }
            if x.requiresGrad {
                // dx = the transposed convolution of gout: the adjoint
                x.withGradForOverwrite { dx, fresh in
                    weight.data.withUnsafeBufferPointer { wp in
                        writeOrAdd(dx, fresh: fresh) { out in
                            WinogradS2.transposed(go, g, images: N, channels: O, weight: wp.baseAddress!, out: out,
                                                  weightTensor: weight, keep: false)
                        }
                    }
                }
            }
            return finishBias()
        }
        if batchCols {
            let NP = N * P
            var goAll = uninitializedFloats(O * NP)
            goAll.withUnsafeMutableBufferPointer { gp in
                BatchColumns.gather(go, rows: O, images: N, positions: P, into: gp.baseAddress!)
                if weight.requiresGrad {
                    // dW (O, K) = gout of all images (O, N*P) * their cols^T (N*P, K)
                    var all = uninitializedFloats(K * NP)
                    all.withUnsafeMutableBufferPointer { ap in
                        x.data.withUnsafeBufferPointer { xp in BatchColumns.im2colAll(xp.baseAddress!, g, images: N, into: ap.baseAddress!) }
                        weight.withGradForOverwrite { dw, fresh in
                            sgemm(transB: true, m: O, n: K, k: NP, a: gp.baseAddress!, lda: NP, b: ap.baseAddress!, ldb: NP,
                                  beta: fresh ? 0 : 1, c: dw.baseAddress!, ldc: K)
                        }
                    }
                }
                if x.requiresGrad {
                    // dcols (K, N*P) = W^T (K, O) * gout of all images; dx[n] += col2im(block n)
                    var dcols = uninitializedFloats(K * NP)
                    dcols.withUnsafeMutableBufferPointer { dc in
                        weight.data.withUnsafeBufferPointer { wp in
                            sgemm(transA: true, m: K, n: NP, k: O, a: wp.baseAddress!, lda: K, b: gp.baseAddress!, ldb: NP,
                                  c: dc.baseAddress!, ldc: NP)
                        }
                        x.withGradForOverwrite { dx, fresh in
                            if fresh { dx.update(repeating: 0) }
                            BatchColumns.col2imAll(dc.baseAddress!, g, images: N, into: dx.baseAddress!)
                        }
                    }
                }
            }
            return finishBias()
        }
        if weight.requiresGrad && !direct && Winograd.applies(g, outputs: O) {
            weight.withGradForOverwrite { dw, fresh in
                x.data.withUnsafeBufferPointer { xp in
                    Winograd.weightGradient(xp.baseAddress!, g, gout: go, outputs: O, images: N, dw: dw.baseAddress!,
                                            accumulate: !fresh)
                }
            }
        } else if weight.requiresGrad {
            var tmp = direct ? [] : uninitializedFloats(K * chunk * g.outW)
            weight.withGradForOverwrite { dw, fresh in
                x.data.withUnsafeBufferPointer { xp in
                    tmp.withUnsafeMutableBufferPointer { cp in
                        for n in 0..<N {
                            if direct {
                                // dW (O, C) += gout[n] (O, P) * x[n]^T (P, C)
                                sgemm(transB: true, m: O, n: K, k: P, a: go + n * O * P, lda: P, b: xp.baseAddress! + n * chw,
                                      ldb: P, beta: fresh && n == 0 ? 0 : 1, c: dw.baseAddress!, ldc: K)
                                continue
                            }
                            // dW (O, K) += gout[n] (O, rows) * cols(rows)^T, a chunk of output rows at a time
                            var y0 = 0
                            while y0 < g.outH {
                                let y1 = min(g.outH, y0 + chunk), cn = (y1 - y0) * g.outW
                                im2col(xp.baseAddress! + n * chw, g, cp.baseAddress!, outRows: y0..<y1)
                                sgemm(transB: true, m: O, n: K, k: cn, a: go + n * O * P + y0 * g.outW, lda: P,
                                      b: cp.baseAddress!, ldb: cn, beta: fresh && n == 0 && y0 == 0 ? 0 : 1,
                                      c: dw.baseAddress!, ldc: K)
                                y0 = y1
                            }
                        }
                    }
                }
            }
        }
        if x.requiresGrad {
            if let gt = ConvAlgorithm.inputGradientAsConv(g, outputs: O), !direct {
                // dx[n] = the correlation of gout[n], zero-padded by k-1-p, with the kernel flipped
                // and its channel axes swapped: a forward convolution, no column matrix to fold.
                let kk = g.kernelH * g.kernelW
                var flipped = uninitializedFloats(C * O * kk)
                weight.data.withUnsafeBufferPointer { wp in
                    for o in 0..<O { for c in 0..<C { for k in 0..<kk {
                        flipped[(c * O + o) * kk + kk - 1 - k] = wp[(o * C + c) * kk + k]
                    } } }
                }
                if Winograd.applies(gt, outputs: C) {
                    let u = flipped.withUnsafeBufferPointer { Winograd.filter($0.baseAddress!, gt, outputs: C, channels: O) }
                    x.withGradForOverwrite { dx, fresh in
                        for n in 0..<N {
                            Winograd.forward(go + n * O * P, gt, u: u, outputs: C, out: dx.baseAddress! + n * chw, accumulate: !fresh)
                        }
                    }
                    return finishBias()
                }
                let gchunk = ConvAlgorithm.chunkRows(gt)
                var gcols = uninitializedFloats(gt.colRows * gchunk * gt.outW)
                x.withGradForOverwrite { dx, fresh in
                    flipped.withUnsafeBufferPointer { fp in
                        gcols.withUnsafeMutableBufferPointer { cp in
                            for n in 0..<N {
                                convGEMM(go + n * O * P, gt, weight: fp.baseAddress!, outputs: C, out: dx.baseAddress! + n * chw,
                                         beta: fresh ? 0 : 1, cols: cp.baseAddress!, chunk: gchunk)
                            }
                        }
                    }
                }
                return finishBias()
            }
            var dcols = direct ? [] : uninitializedFloats(K * P)
            x.withGradForOverwrite { dx, fresh in
                if fresh && !direct { dx.update(repeating: 0) }
                weight.data.withUnsafeBufferPointer { wp in
                    dcols.withUnsafeMutableBufferPointer { dc in
                        for n in 0..<N {
                            if direct {
                                // dx[n] (C, P) += W^T (C, O) * gout[n] (O, P)
                                sgemm(transA: true, m: K, n: P, k: O, a: wp.baseAddress!, lda: K, b: go + n * O * P,
                                      ldb: P, beta: fresh ? 0 : 1, c: dx.baseAddress! + n * chw, ldc: P)
                            } else {
                                // dcols (K, P) = W^T (K, O) * gout[n] (O, P); dx[n] += col2im(dcols)
                                sgemm(transA: true, m: K, n: P, k: O, a: wp.baseAddress!, lda: K, b: go + n * O * P,
                                      ldb: P, c: dc.baseAddress!, ldc: P)
                                col2im(UnsafePointer(dc.baseAddress!), g, dx.baseAddress! + n * chw)
                            }
                        }
                    }
                }
            }
        }
        finishBias()
        func finishBias() {
            if let b = bias, b.requiresGrad { b.withGrad { db in channelBiasGrad(go, db.baseAddress!, n: N, c: O, plane: P) } }
        }
    }
    return result
}

/// out (O, outH*outW) = weight (O, K) * im2col(x) + beta * out, one chunk of `chunk` output
/// rows at a time: each chunk's columns are still in cache when the GEMM reads them.
/// `cols` holds K * chunk * outW values.
func convGEMM(_ x: UnsafePointer<Float>, _ g: ConvGeometry, weight: UnsafePointer<Float>, outputs O: Int,
              out: UnsafeMutablePointer<Float>, beta: Float, cols: UnsafeMutablePointer<Float>, chunk: Int) {
    let K = g.colRows, ow = g.outW, P = g.outH * ow
    var y0 = 0
    while y0 < g.outH {
        let y1 = min(g.outH, y0 + chunk), cn = (y1 - y0) * ow
        im2col(x, g, cols, outRows: y0..<y1)
        sgemm(m: O, n: cn, k: K, a: weight, lda: K, b: cols, ldb: cn, beta: beta, c: out + y0 * ow, ldc: P)
        y0 = y1
    }
}

/// 2-D transposed convolution (the adjoint of conv2d in x).
/// x (N, Cin, H, W), weight (Cin, Cout, kH, kW), bias (Cout) ->
/// (N, Cout, (H-1)*s - 2p + d*(k-1) + outputPadding + 1, ...).
public func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Size2 = 1,
                            padding: Size2 = 0, outputPadding: Size2 = 0, dilation: Size2 = 1) throws -> Tensor {
    try checkRank("convTranspose2d", x, 4)
    try checkRank("convTranspose2d", weight, 4, "weight")
    let (N, Cin, Hin, Win) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    guard weight.shape[0] == Cin else { throw TensorError.shapeMismatch(op: "convTranspose2d (input channels vs weight[0])", shapes: [x.shape, weight.shape]) }
    let Cout = weight.shape[1], kH = weight.shape[2], kW = weight.shape[3]
    if let b = bias, b.shape != [Cout] { throw TensorError.shapeMismatch(op: "convTranspose2d (bias vs weight[1])", shapes: [b.shape, weight.shape]) }
    guard stride.h > 0, stride.w > 0, dilation.h > 0, dilation.w > 0, padding.h >= 0, padding.w >= 0 else {
        throw TensorError.invalidArgument("convTranspose2d: stride \(stride) and dilation \(dilation) must be positive, padding \(padding) non-negative")
    }
    guard outputPadding.h >= 0, outputPadding.w >= 0,
          outputPadding.h < max(stride.h, dilation.h), outputPadding.w < max(stride.w, dilation.w) else {
        throw TensorError.invalidArgument("convTranspose2d: output padding \(outputPadding) must be smaller than stride \(stride) or dilation \(dilation)")
    }
    let Hout = (Hin - 1) * stride.h - 2 * padding.h + dilation.h * (kH - 1) + outputPadding.h + 1
    let Wout = (Win - 1) * stride.w - 2 * padding.w + dilation.w * (kW - 1) + outputPadding.w + 1
    guard Hout > 0, Wout > 0 else {
        throw TensorError.invalidArgument("convTranspose2d: output size \(Hout)x\(Wout) for input \(x.shape) is not positive")
    }
    // The output plane seen as the input of the matching conv: its conv grid is (Hin, Win).
    let g = ConvGeometry(channels: Cout, height: Hout, width: Wout, kernelH: kH, kernelW: kW,
                         strideH: stride.h, strideW: stride.w, padH: padding.h, padW: padding.w,
                         dilationH: dilation.h, dilationW: dilation.w)
    assert(g.outH == Hin && g.outW == Win)
    let K = g.colRows, P = Hin * Win, outPlane = Cout * Hout * Wout
    let winoS2 = WinogradS2.applies(g, outputs: Cin, inputs: [x, weight, bias])
    let keep = !WinogradS2.recordsGradient([x, weight, bias])
    let batched = !winoS2 && ConvAlgorithm.batched(g, positions: P, inputs: [x, weight, bias])
    let batchCols = !winoS2 && BatchColumns.applies(g, images: N, positions: P, inputs: [x, weight, bias])
    if ConvTrace.active != nil {
        let grads = GradMode.isEnabled
        let forward: ConvKernel = winoS2 ? .winogradS2 : batched ? (ConvAlgorithm.fewColumnsKernel(positions: P, transposed: true) ? .batchedFewColumns : .batchedPacked)
            : batchCols ? .batchColumns : .gemmCol2im
        let back: ConvKernel = winoS2 ? .winogradS2 : batchCols ? .batchColumns : .im2colGEMM
        ConvTrace.record(ConvPlanRecord(transposed: true, channels: Cin, outputs: Cout, height: Hin, width: Win, kernel: kH, stride: stride.h,
                                        padding: padding.h, images: N, forward: forward,
                                        inputGradient: grads && x.requiresGrad ? back : nil, weightGradient: grads && weight.requiresGrad ? back : nil))
    }
    // col2im adds into it; Winograd writes it whole
    var out = winoS2 ? uninitializedFloats(N * outPlane) : [Float](repeating: 0, count: N * outPlane)
    var cols = batched || winoS2 || batchCols ? [] : uninitializedFloats(K * P)
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer { op in
                cols.withUnsafeMutableBufferPointer { cp in
                    if winoS2 {
                        WinogradS2.transposed(xp.baseAddress!, g, images: N, channels: Cin, weight: wp.baseAddress!,
                                              out: op.baseAddress!, weightTensor: weight, keep: keep)
                        return
                    }
                    if batched {
                        batchedTransposedConv(xp.baseAddress!, g, images: N, channels: Cin, weight: wp.baseAddress!,
                                              out: op.baseAddress!, weightTensor: weight)
                        return
                    }
                    if batchCols {
                        // cols (K, N*P) = W^T (K, Cin) * x of all images (Cin, N*P); out[n] = col2im(block n)
                        var xAll = uninitializedFloats(Cin * N * P), all = uninitializedFloats(K * N * P)
                        xAll.withUnsafeMutableBufferPointer { xa in
                            all.withUnsafeMutableBufferPointer { ap in
                                BatchColumns.gather(xp.baseAddress!, rows: Cin, images: N, positions: P, into: xa.baseAddress!)
                                sgemm(transA: true, m: K, n: N * P, k: Cin, a: wp.baseAddress!, lda: K, b: xa.baseAddress!, ldb: N * P,
                                      c: ap.baseAddress!, ldc: N * P)
                                BatchColumns.col2imAll(ap.baseAddress!, g, images: N, into: op.baseAddress!)
                            }
                        }
                        return
                    }
                    for n in 0..<N {
                        // cols (K, P) = W^T (K, Cin) * x[n] (Cin, P); out[n] = col2im(cols)
                        sgemm(transA: true, m: K, n: P, k: Cin, a: wp.baseAddress!, lda: K,
                              b: xp.baseAddress! + n * Cin * P, ldb: P, c: cp.baseAddress!, ldc: P)
                        col2im(UnsafePointer(cp.baseAddress!), g, op.baseAddress! + n * outPlane)
                    }
                }
                if let b = bias { addChannelBias(op.baseAddress!, b.data, n: N, c: Cout, plane: Hout * Wout) }
            }
        }
    }
    let result = Tensor(uncheckedShape: [N, Cout, Hout, Wout], data: out)
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    record(result, inputs) { gout in
        let go = gout.baseAddress!
        if winoS2 {
            if x.requiresGrad {
                // dx = the convolution of gout by the same weights (Cin outputs)
                x.withGradForOverwrite { dx, fresh in
                    weight.data.withUnsafeBufferPointer { wp in
                        writeOrAdd(dx, fresh: fresh) { out in
                            WinogradS2.conv(go, g, images: N, weight: wp.baseAddress!, outputs: Cin, out: out,
                                            weightTensor: weight, keep: false)
                        }
                    }
                }
            }
            if weight.requiresGrad {
                // dW: the weight gradient of that convolution, whose output gradient is x
                weight.withGradForOverwrite { dw, fresh in
                    x.data.withUnsafeBufferPointer { xp in
                        WinogradS2.weightGradient(go, g, images: N, gout: xp.baseAddress!, outputs: Cin, dw: dw.baseAddress!,
                                                  accumulate: !fresh)
                    }
                }
            }
            if let b = bias, b.requiresGrad {
                b.withGrad { db in channelBiasGrad(go, db.baseAddress!, n: N, c: Cout, plane: Hout * Wout) }
            }
            return
        }
        if batchCols {
            let NP = N * P
            var dcols = uninitializedFloats(K * NP)
            dcols.withUnsafeMutableBufferPointer { dc in
                BatchColumns.im2colAll(go, g, images: N, into: dc.baseAddress!)
                if x.requiresGrad {
                    // dx of all images (Cin, N*P) = W (Cin, K) * dcols (K, N*P)
                    var dxAll = uninitializedFloats(Cin * NP)
                    dxAll.withUnsafeMutableBufferPointer { dp in
                        weight.data.withUnsafeBufferPointer { wp in
                            sgemm(m: Cin, n: NP, k: K, a: wp.baseAddress!, lda: K, b: dc.baseAddress!, ldb: NP, c: dp.baseAddress!, ldc: NP)
                        }
                        x.withGradForOverwrite { dx, fresh in
                            BatchColumns.scatter(dp.baseAddress!, rows: Cin, images: N, positions: P, into: dx.baseAddress!, add: !fresh)
                        }
                    }
                }
                if weight.requiresGrad {
                    // dW (Cin, K) = x of all images (Cin, N*P) * dcols^T (N*P, K)
                    var xAll = uninitializedFloats(Cin * NP)
                    xAll.withUnsafeMutableBufferPointer { xa in
                        x.data.withUnsafeBufferPointer { xp in
                            BatchColumns.gather(xp.baseAddress!, rows: Cin, images: N, positions: P, into: xa.baseAddress!)
                        }
                        weight.withGradForOverwrite { dw, fresh in
                            sgemm(transB: true, m: Cin, n: K, k: NP, a: xa.baseAddress!, lda: NP, b: dc.baseAddress!, ldb: NP,
                                  beta: fresh ? 0 : 1, c: dw.baseAddress!, ldc: K)
                        }
                    }
                }
            }
            if let b = bias, b.requiresGrad {
                b.withGrad { db in channelBiasGrad(go, db.baseAddress!, n: N, c: Cout, plane: Hout * Wout) }
            }
            return
        }
        var dcols = uninitializedFloats(K * P)
        let xFresh = x.requiresGrad && x.grad == nil, wFresh = weight.requiresGrad && weight.grad == nil
        dcols.withUnsafeMutableBufferPointer { dc in
            for n in 0..<N {
                // dcols (K, P) = im2col(gout[n])
                im2col(go + n * outPlane, g, dc.baseAddress!)
                if x.requiresGrad {
                    // dx[n] (Cin, P) += W (Cin, K) * dcols (K, P)   (each n writes its own slice)
                    x.withGradForOverwrite { dx, _ in
                        weight.data.withUnsafeBufferPointer { wp in
                            sgemm(m: Cin, n: P, k: K, a: wp.baseAddress!, lda: K, b: dc.baseAddress!, ldb: P,
                                  beta: xFresh ? 0 : 1, c: dx.baseAddress! + n * Cin * P, ldc: P)
                        }
                    }
                }
                if weight.requiresGrad {
                    // dW (Cin, K) += x[n] (Cin, P) * dcols^T (P, K)
                    weight.withGradForOverwrite { dw, _ in
                        x.data.withUnsafeBufferPointer { xp in
                            sgemm(transB: true, m: Cin, n: K, k: P, a: xp.baseAddress! + n * Cin * P, lda: P,
                                  b: dc.baseAddress!, ldb: P, beta: wFresh && n == 0 ? 0 : 1, c: dw.baseAddress!, ldc: K)
                        }
                    }
                }
            }
        }
        if let b = bias, b.requiresGrad {
            b.withGrad { db in channelBiasGrad(go, db.baseAddress!, n: N, c: Cout, plane: Hout * Wout) }
        }
    }
    return result
}

/// Runs `body`, which writes a whole buffer the size of `dst`, straight into `dst` when it
/// is `fresh`, else into a scratch buffer added to `dst`.
@inline(__always)
func writeOrAdd(_ dst: UnsafeMutableBufferPointer<Float>, fresh: Bool, _ body: (UnsafeMutablePointer<Float>) -> Void) {
    if fresh { return body(dst.baseAddress!) }
    var tmp = uninitializedFloats(dst.count)
    tmp.withUnsafeMutableBufferPointer { tp in
        body(tp.baseAddress!)
        for i in 0..<dst.count { dst[i] += tp[i] }
    }
}

/// out[n, c, :] += bias[c]
@inline(__always)
func addChannelBias(_ out: UnsafeMutablePointer<Float>, _ bias: [Float], n: Int, c: Int, plane: Int) {
    bias.withUnsafeBufferPointer { b in
        for i in 0..<n { for ch in 0..<c {
            let p = out + (i * c + ch) * plane, v = b[ch]
            for j in 0..<plane { p[j] += v }
        } }
    }
}

/// db[c] += sum over n and the plane of gout[n, c, :]
@inline(__always)
func channelBiasGrad(_ gout: UnsafePointer<Float>, _ db: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int) {
    for ch in 0..<c {
        var s: Float = 0
        for i in 0..<n {
            let p = gout + (i * c + ch) * plane
            for j in 0..<plane { s += p[j] }
        }
        db[ch] += s
    }
}

/// An array whose contents are unspecified, for buffers that are written in full before
/// being read (saves a memory pass over large im2col and output buffers).
@inline(__always)
func uninitializedFloats(_ n: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: n) { _, count in count = n }
}
