/// The adjoint of a stride-1 convolution as a convolution (`ConvKernel.gradientConvGEMM`,
/// `.gradientConvWinograd3x3`, `.gradientConvWinograd3x3Tile4`, `.gradientConvWinograd4x4`, `.gradientConvWinograd4x4Tile3`): x[n] is the correlation of y[n],
/// zero-padded by k-1-p, with the kernel flipped and its channel axes swapped, so conv2d's
/// input gradient needs no column matrix to fold and takes Winograd where that convolution
/// qualifies (`ConvPolicy.inputGradientAsConv`).
enum GradientConv: ConvAlgorithm {
    /// out[n] (C, H, W) = the convolution of y[n] by the flipped kernel (+ out[n] when `accumulate`).
    static func adjoint(_ p: ConvProblem, kernel: ConvKernel, y: UnsafePointer<Float>, w: UnsafePointer<Float>,
                        out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (C, O) = (p.channels, p.outputs), kk = p.g.kernelH * p.g.kernelW
        guard let gt = p.policy.inputGradientAsConv(p.g, outputs: O) else { preconditionFailure("GradientConv: \(p.g) is not stride 1") }
        var flipped = uninitializedFloats(C * O * kk)
        flipped.withUnsafeMutableBufferPointer { fp in
            let f = fp.baseAddress!
            parallelFor(O, work: O * C * kk, minimumWork: 1 << 18) { o in
                for c in 0..<C { for k in 0..<kk { f[(c * O + o) * kk + kk - 1 - k] = w[(o * C + c) * kk + k] } }
            }
        }
        if kernel != .gradientConvGEMM {
            let k = Winograd.kind(kernel)
            let u = flipped.withUnsafeBufferPointer { Winograd.filter($0.baseAddress!, k, outputs: C, channels: O) }
            for n in 0..<p.images {
                Winograd.forward(y + n * p.outputFloats, gt, k, u: u, outputs: C, out: out + n * p.inputFloats, accumulate: accumulate)
            }
            return
        }
        let chunk = p.policy.chunkRows(gt)
        var cols = uninitializedFloats(gt.colRows * chunk * gt.outW)
        flipped.withUnsafeBufferPointer { fp in
            cols.withUnsafeMutableBufferPointer { cp in
                for n in 0..<p.images {
                    convGEMM(y + n * p.outputFloats, gt, weight: fp.baseAddress!, outputs: C, out: out + n * p.inputFloats,
                             beta: accumulate ? 1 : 0, cols: cp.baseAddress!, chunk: chunk)
                }
            }
        }
    }
}
