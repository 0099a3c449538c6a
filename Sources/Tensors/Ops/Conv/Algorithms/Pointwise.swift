/// 1x1 stride-1 unpadded convolutions (`ConvKernel.pointwise`): an image's (C, H*W) plane is
/// its own column matrix, so each pass is one OpenBLAS product per image, no unfolding.
enum Pointwise: ConvAlgorithm {
    /// out[n] (O, P) = W (O, C) * x[n] (C, P) (+ out[n] when `accumulate`).
    static func apply(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (C, O, P) = (p.channels, p.outputs, p.positions)
        for n in 0..<p.images {
            sgemm(m: O, n: P, k: C, a: w, lda: C, b: x + n * p.inputFloats, ldb: P, beta: accumulate ? 1 : 0,
                  c: out + n * p.outputFloats, ldc: P)
        }
    }

    /// out[n] (C, P) = W^T (C, O) * y[n] (O, P) (+ out[n] when `accumulate`).
    static func adjoint(_ p: ConvProblem, kernel: ConvKernel, y: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (C, O, P) = (p.channels, p.outputs, p.positions)
        for n in 0..<p.images {
            sgemm(transA: true, m: C, n: P, k: O, a: w, lda: C, b: y + n * p.outputFloats, ldb: P, beta: accumulate ? 1 : 0,
                  c: out + n * p.inputFloats, ldc: P)
        }
    }

    /// dW (O, C) = sum over images of y[n] (O, P) * x[n]^T (P, C) (+ dW when `accumulate`).
    static func weightGradient(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, y: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>,
                               accumulate: Bool) {
        let (C, O, P) = (p.channels, p.outputs, p.positions)
        for n in 0..<p.images {
            sgemm(transB: true, m: O, n: C, k: P, a: y + n * p.outputFloats, lda: P, b: x + n * p.inputFloats, ldb: P,
                  beta: !accumulate && n == 0 ? 0 : 1, c: dw, ldc: C)
        }
    }
}
