/// im2col + OpenBLAS (`ConvKernel.im2colGEMM`, `.gemmCol2im`), the general path: the column
/// matrix of an image (C*kH*kW, outH*outW) is built a chunk of output rows at a time
/// (`ConvPolicy.chunkRows`), so each chunk is still in cache when the product reads it; the
/// adjoint multiplies by the transposed weights and folds the columns back (col2im). The
/// column matrix is never kept for the backward pass: recomputing it is cheap next to the
/// products and keeps peak memory to the activations.
enum Im2colGEMM: ConvAlgorithm {
    /// out[n] (O, P) = W (O, K) * cols(x[n]) (+ out[n] when `accumulate`).
    static func apply(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let chunk = p.policy.chunkRows(p.g)
        var cols = uninitializedFloats(p.g.colRows * chunk * p.g.outW)
        cols.withUnsafeMutableBufferPointer { cp in
            for n in 0..<p.images {
                convGEMM(x + n * p.inputFloats, p.g, weight: w, outputs: p.outputs, out: out + n * p.outputFloats,
                         beta: accumulate ? 1 : 0, cols: cp.baseAddress!, chunk: chunk)
            }
        }
    }

    /// out[n] (C, H, W) = col2im(W^T (K, O) * y[n] (O, P)) (+ out[n] when `accumulate`).
    static func adjoint(_ p: ConvProblem, kernel: ConvKernel, y: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let K = p.g.colRows, P = p.positions
        if !accumulate { out.update(repeating: 0, count: p.images * p.inputFloats) }
        var dcols = uninitializedFloats(K * P)
        dcols.withUnsafeMutableBufferPointer { dc in
            for n in 0..<p.images {
                sgemm(transA: true, m: K, n: P, k: p.outputs, a: w, lda: K, b: y + n * p.outputFloats, ldb: P, c: dc.baseAddress!, ldc: P)
                col2im(UnsafePointer(dc.baseAddress!), p.g, out + n * p.inputFloats)
            }
        }
    }

    /// dW (O, K) = sum over images of y[n] (O, P) * cols(x[n])^T, a chunk of output rows at a
    /// time (+ dW when `accumulate`).
    static func weightGradient(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, y: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>,
                               accumulate: Bool) {
        let g = p.g, K = g.colRows, P = p.positions, chunk = p.policy.chunkRows(g)
        var cols = uninitializedFloats(K * chunk * g.outW)
        cols.withUnsafeMutableBufferPointer { cp in
            for n in 0..<p.images {
                var y0 = 0
                while y0 < g.outH {
                    let y1 = min(g.outH, y0 + chunk), cn = (y1 - y0) * g.outW
                    im2col(x + n * p.inputFloats, g, cp.baseAddress!, outRows: y0..<y1)
                    sgemm(transB: true, m: p.outputs, n: K, k: cn, a: y + n * p.outputFloats + y0 * g.outW, lda: P,
                          b: cp.baseAddress!, ldb: cn, beta: !accumulate && n == 0 && y0 == 0 ? 0 : 1, c: dw, ldc: K)
                    y0 = y1
                }
            }
        }
    }
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
