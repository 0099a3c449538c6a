import CKernels
/// conv2d and convTranspose2d: validate, ask the policy in effect for a plan (`ConvPlan`: one
/// algorithm per pass), run its forward pass and record its backward pass. The algorithms are
/// in `Algorithms/`, one file each. Weight layouts as PyTorch: conv (O, C, kH, kW),
/// transposed (Cin, Cout, kH, kW), which is the matching convolution's (O, C, kH, kW).

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
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    let policy = ConvPolicy.current, recording = ConvPlan.records(inputs)
    let plan = ConvPlan.conv(g, outputs: O, images: N, recording: recording, policy: policy)
    trace(plan, transposed: false, channels: C, outputs: O, height: H, width: W, g, images: N, x: x, weight: weight)
    if plan.forward == .direct {
        let result = conv2dDirect(x, weight: weight, bias: bias, g)
        recordConvGraph(result, transposed: false, x: x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation)
        return result
    }
    let p = ConvProblem(g: g, outputs: O, images: N, weight: weight, policy: policy, keep: !recording)
    // Every algorithm writes the whole output (or zeroes it first), so no zero fill here.
    var out = uninitializedFloats(N * O * p.positions)
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer { op in
                plan.forward.apply(p, x: xp.baseAddress!, w: wp.baseAddress!, out: op.baseAddress!, accumulate: false)
                if let b = bias { addChannelBias(op.baseAddress!, b.data, n: N, c: O, plane: p.positions) }
            }
        }
    }
    let result = Tensor(uncheckedShape: [N, O, g.outH, g.outW], data: out)
    record(result, inputs) { gout in
        let go = gout.baseAddress!
        if let k = plan.weightGradient, weight.requiresGrad {
            weight.withGradForOverwrite { dw, fresh in
                x.data.withUnsafeBufferPointer { xp in k.weightGradient(p, x: xp.baseAddress!, y: go, dw: dw.baseAddress!, accumulate: !fresh) }
            }
        }
        if let k = plan.inputGradient, x.requiresGrad {
            x.withGradForOverwrite { dx, fresh in
                weight.data.withUnsafeBufferPointer { wp in k.adjoint(p, y: go, w: wp.baseAddress!, out: dx.baseAddress!, accumulate: !fresh) }
            }
        }
        if let b = bias, b.requiresGrad { b.withGrad { db in channelBiasGrad(go, db.baseAddress!, n: N, c: O, plane: p.positions) } }
    }
    recordConvGraph(result, transposed: false, x: x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation)
    return result
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
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    let policy = ConvPolicy.current, recording = ConvPlan.records(inputs)
    let plan = ConvPlan.transposed(g, outputs: Cin, images: N, recording: recording, policy: policy)
    trace(plan, transposed: true, channels: Cin, outputs: Cout, height: Hin, width: Win, g, images: N, x: x, weight: weight)
    let p = ConvProblem(g: g, outputs: Cin, images: N, weight: weight, policy: policy, keep: !recording)
    let plane = Hout * Wout
    var out = uninitializedFloats(N * p.inputFloats)
    x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
            out.withUnsafeMutableBufferPointer { op in
                plan.forward.adjoint(p, y: xp.baseAddress!, w: wp.baseAddress!, out: op.baseAddress!, accumulate: false)
                if let b = bias { addChannelBias(op.baseAddress!, b.data, n: N, c: Cout, plane: plane) }
            }
        }
    }
    let result = Tensor(uncheckedShape: [N, Cout, Hout, Wout], data: out)
    record(result, inputs) { gout in
        let go = gout.baseAddress!
        if let k = plan.inputGradient, x.requiresGrad {
            // dx: the matching convolution of gout
            x.withGradForOverwrite { dx, fresh in
                weight.data.withUnsafeBufferPointer { wp in k.apply(p, x: go, w: wp.baseAddress!, out: dx.baseAddress!, accumulate: !fresh) }
            }
        }
        if let k = plan.weightGradient, weight.requiresGrad {
            // dW: the weight gradient of that convolution, whose output gradient is x
            weight.withGradForOverwrite { dw, fresh in
                x.data.withUnsafeBufferPointer { xp in k.weightGradient(p, x: go, y: xp.baseAddress!, dw: dw.baseAddress!, accumulate: !fresh) }
            }
        }
        if let b = bias, b.requiresGrad { b.withGrad { db in channelBiasGrad(go, db.baseAddress!, n: N, c: Cout, plane: plane) } }
    }
    recordConvGraph(result, transposed: true, x: x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation)
    return result
}

/// Records the plan of a call in the active `ConvTrace`, with the gradient passes that will run.
private func trace(_ plan: ConvPlan, transposed: Bool, channels: Int, outputs: Int, height: Int, width: Int, _ g: ConvGeometry,
                   images: Int, x: Tensor, weight: Tensor) {
    guard ConvTrace.active != nil else { return }
    ConvTrace.record(ConvPlanRecord(transposed: transposed, channels: channels, outputs: outputs, height: height, width: width,
                                    kernel: g.kernelH, stride: g.strideH, padding: g.padH, images: images, forward: plan.forward,
                                    inputGradient: x.requiresGrad ? plan.inputGradient : nil,
                                    weightGradient: weight.requiresGrad ? plan.weightGradient : nil))
}

/// An algorithm: the operations of a convolution it implements (`ConvPlan` never names an
/// algorithm for an operation it lacks). `kernel` is the plan's name for it, for the
/// algorithms that cover several (Winograd 3x3 / 4x4, few-column / packed kernels).
protocol ConvAlgorithm {
    /// out (+)= C x over all images.
    static func apply(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                      out: UnsafeMutablePointer<Float>, accumulate: Bool)
    /// out (+)= C^T y over all images.
    static func adjoint(_ p: ConvProblem, kernel: ConvKernel, y: UnsafePointer<Float>, w: UnsafePointer<Float>,
                        out: UnsafeMutablePointer<Float>, accumulate: Bool)
    /// dW (+)= the weight gradient from input-plane x and output-plane gradient y.
    static func weightGradient(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, y: UnsafePointer<Float>,
                               dw: UnsafeMutablePointer<Float>, accumulate: Bool)
}

extension ConvAlgorithm {
    static func apply(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                      out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        preconditionFailure("\(kernel.rawValue) does not compute a convolution's forward pass")
    }
    static func adjoint(_ p: ConvProblem, kernel: ConvKernel, y: UnsafePointer<Float>, w: UnsafePointer<Float>,
                        out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        preconditionFailure("\(kernel.rawValue) does not compute a convolution's adjoint")
    }
    static func weightGradient(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, y: UnsafePointer<Float>,
                               dw: UnsafeMutablePointer<Float>, accumulate: Bool) {
        preconditionFailure("\(kernel.rawValue) does not compute a convolution's weight gradient")
    }
}

extension ConvKernel {
    /// The file that implements this kernel (`direct` runs as its own op, `conv2dDirect`).
    var algorithm: ConvAlgorithm.Type {
        switch self {
        case .direct: preconditionFailure("direct correlations run as conv2dDirect")
        case .pointwise: Pointwise.self
        case .im2colGEMM, .gemmCol2im: Im2colGEMM.self
        case .winograd3x3, .winograd3x3Tile4, .winograd4x4, .winograd4x4Tile3: Winograd.self
        case .winogradS2, .winogradS2Tile4: WinogradS2.self
        case .batchedFewColumns, .batchedPacked: BatchedProduct.self
        case .batchColumns: BatchColumns.self
        case .gradientConvGEMM, .gradientConvWinograd3x3, .gradientConvWinograd3x3Tile4, .gradientConvWinograd4x4, .gradientConvWinograd4x4Tile3: GradientConv.self
        }
    }

    func apply(_ p: ConvProblem, x: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        algorithm.apply(p, kernel: self, x: x, w: w, out: out, accumulate: accumulate)
    }
    func adjoint(_ p: ConvProblem, y: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        algorithm.adjoint(p, kernel: self, y: y, w: w, out: out, accumulate: accumulate)
    }
    func weightGradient(_ p: ConvProblem, x: UnsafePointer<Float>, y: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>, accumulate: Bool) {
        algorithm.weightGradient(p, kernel: self, x: x, y: y, dw: dw, accumulate: accumulate)
    }
}

/// Runs `body`, which writes a whole buffer of `count` floats, straight into `dst` when it
/// is `fresh`, else into a scratch buffer added to `dst`.
@inline(__always)
func writeOrAdd(_ dst: UnsafeMutablePointer<Float>, count: Int, fresh: Bool, _ body: (UnsafeMutablePointer<Float>) -> Void) {
    if fresh { return body(dst) }
    var tmp = uninitializedFloats(count)
    tmp.withUnsafeMutableBufferPointer { tp in
        body(tp.baseAddress!)
        for i in 0..<count { dst[i] += tp[i] }
    }
}

/// out[n, c, :] += bias[c], the planes across threads.
@inline(__always)
func addChannelBias(_ out: UnsafeMutablePointer<Float>, _ bias: [Float], n: Int, c: Int, plane: Int) {
    bias.withUnsafeBufferPointer { b in
        let b = b.baseAddress!
        parallelFor(n * c, work: n * c * plane) { q in
            let p = out + q * plane, v = b[q % c]
            for j in 0..<plane { p[j] += v }
        }
    }
}

/// db[c] += sum over n and the plane of gout[n, c, :]: each channel summed by one thread, its
/// planes in order (`tr_plane_sum`, fixed association), so any thread count gives the same bits.
@inline(__always)
func channelBiasGrad(_ gout: UnsafePointer<Float>, _ db: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int) {
    parallelFor(c, work: n * c * plane) { ch in
        var s = 0.0
        for i in 0..<n { s += tr_plane_sum(gout + (i * c + ch) * plane, plane) }
        db[ch] += Float(s)
    }
}

/// An array whose contents are unspecified, for buffers that are written in full before
/// being read (saves a memory pass over large im2col and output buffers).
@inline(__always)
func uninitializedFloats(_ n: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: n) { _, count in count = n }
}
