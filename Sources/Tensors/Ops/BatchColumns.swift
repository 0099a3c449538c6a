/// Training steps with several images on the small planes of the U-Net's and PatchGAN's 4x4
/// stride-2 layers (1x1 to 16x16: 16-32 MB of weights for a handful of columns per image):
/// one OpenBLAS product over all images' columns side by side instead of one per image,
/// which reads the weights once per batch instead of once per image. Only with gradients
/// recorded (inference has the batch-invariant batched path), only for this geometry (other
/// layers keep the per-image products, e.g. LPIPS's), and only for batches of two or more.
enum BatchColumns {
    static func applies(_ g: ConvGeometry, images N: Int, positions P: Int, inputs: [Tensor?]) -> Bool {
        N > 1 && g.isK4S2P1 && P <= ConvAlgorithm.trainingBatchedMaxPositions && WinogradS2.recordsGradient(inputs)
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
