/// Training steps with several images on the small planes of the U-Net's and PatchGAN's 4x4
/// stride-2 layers (1x1 to 16x16: 16-32 MB of weights for a handful of columns per image):
/// one OpenBLAS product over all images' columns side by side instead of one per image,
/// which reads the weights once per batch instead of once per image. Only with gradients
/// recorded (inference has the batch-invariant batched path), only for this geometry (other
/// layers keep the per-image products, e.g. LPIPS's), and only for batches of two or more
/// (`ConvPolicy.usesBatchColumns`).
enum BatchColumns: ConvAlgorithm {
    /// out[n] (O, P) (+)= W (O, K) * cols of image n: one product (O, K) by (K, N*P).
    static func apply(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (N, O, P, K) = (p.images, p.outputs, p.positions, p.g.colRows)
        var all = uninitializedFloats(K * N * P), res = uninitializedFloats(O * N * P)
        all.withUnsafeMutableBufferPointer { ap in
            res.withUnsafeMutableBufferPointer { rp in
                im2colAll(x, p.g, images: N, into: ap.baseAddress!)
                sgemm(m: O, n: N * P, k: K, a: w, lda: K, b: ap.baseAddress!, ldb: N * P, c: rp.baseAddress!, ldc: N * P)
                scatter(rp.baseAddress!, rows: O, images: N, positions: P, into: out, add: accumulate)
            }
        }
    }

    /// out[n] (+)= col2im(block n of W^T (K, O) * y of all images (O, N*P)).
    static func adjoint(_ p: ConvProblem, kernel: ConvKernel, y: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (N, O, P, K) = (p.images, p.outputs, p.positions, p.g.colRows)
        var yAll = uninitializedFloats(O * N * P), cols = uninitializedFloats(K * N * P)
        yAll.withUnsafeMutableBufferPointer { yp in
            cols.withUnsafeMutableBufferPointer { cp in
                gather(y, rows: O, images: N, positions: P, into: yp.baseAddress!)
                sgemm(transA: true, m: K, n: N * P, k: O, a: w, lda: K, b: yp.baseAddress!, ldb: N * P, c: cp.baseAddress!, ldc: N * P)
                if !accumulate { out.update(repeating: 0, count: N * p.inputFloats) }
                col2imAll(cp.baseAddress!, p.g, images: N, into: out)
            }
        }
    }

    /// dW (O, K) (+)= y of all images (O, N*P) * their columns^T (N*P, K).
    static func weightGradient(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, y: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>,
                               accumulate: Bool) {
        let (N, O, P, K) = (p.images, p.outputs, p.positions, p.g.colRows)
        var yAll = uninitializedFloats(O * N * P), all = uninitializedFloats(K * N * P)
        yAll.withUnsafeMutableBufferPointer { yp in
            all.withUnsafeMutableBufferPointer { ap in
                gather(y, rows: O, images: N, positions: P, into: yp.baseAddress!)
                im2colAll(x, p.g, images: N, into: ap.baseAddress!)
                sgemm(transB: true, m: O, n: K, k: N * P, a: yp.baseAddress!, lda: N * P, b: ap.baseAddress!, ldb: N * P,
                      beta: accumulate ? 1 : 0, c: dw, ldc: K)
            }
        }
    }

    /// dst (R, N*P): column block n = src[n] (R, P).
    static func gather(_ src: UnsafePointer<Float>, rows R: Int, images N: Int, positions P: Int, into dst: UnsafeMutablePointer<Float>) {
        for n in 0..<N { for r in 0..<R { (dst + r * N * P + n * P).update(from: src + (n * R + r) * P, count: P) } }
    }

    /// dst[n] (R, P) = (or += when `add`) src (R, N*P)'s column block n.
    static func scatter(_ src: UnsafePointer<Float>, rows R: Int, images N: Int, positions P: Int, into dst: UnsafeMutablePointer<Float>,
                        add: Bool) {
        for n in 0..<N {
            for r in 0..<R {
                let s = src + r * N * P + n * P, d = dst + (n * R + r) * P
                if add { for j in 0..<P { d[j] += s[j] } } else { d.update(from: s, count: P) }
            }
        }
    }

    /// cols (K, N*P): image n's columns of x (N, C, H, W) in block n.
    static func im2colAll(_ x: UnsafePointer<Float>, _ g: ConvGeometry, images N: Int, into cols: UnsafeMutablePointer<Float>) {
        let P = g.outH * g.outW, chw = g.channels * g.height * g.width
        for n in 0..<N { im2col(x + n * chw, g, cols + n * P, outRows: 0..<g.outH, rowStride: N * P) }
    }

    /// x[n] (C, H, W) += the fold of cols (K, N*P)'s block n, for every image.
    static func col2imAll(_ cols: UnsafePointer<Float>, _ g: ConvGeometry, images N: Int, into x: UnsafeMutablePointer<Float>) {
        let P = g.outH * g.outW, chw = g.channels * g.height * g.width
        for n in 0..<N { col2im(cols + n * P, g, x + n * chw, rowStride: N * P) }
    }
}
