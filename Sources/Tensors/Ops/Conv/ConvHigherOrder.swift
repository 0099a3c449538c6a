/// Higher-order gradients of conv2d and convTranspose2d: a documented fallback.
///
/// `backward()` runs each convolution's plan (`ConvPlan`: the fast kernel of every pass).
/// When gradients of gradients are asked for (`grad(of:wrt:createGraph:)`), the input and
/// weight gradients are instead computed with differentiable ops: conv2d's input gradient is
/// a `convTranspose2d` of the output gradient by the same weight (a transposed convolution's
/// is a `conv2d`), and the weight gradient is `conv2dWeight`, whose forward is the
/// im2col + GEMM weight-gradient kernel (any stride, padding, dilation) and whose own
/// gradients are again a conv2d and a convTranspose2d. The three ops are closed under
/// differentiation, so gradients of any order follow; the bias gradient is a `sumToSize`.

/// The differentiable backward of conv2d (`transposed` false) or convTranspose2d on `result`.
func recordConvGraph(_ result: Tensor, transposed: Bool, x: Tensor, weight: Tensor, bias: Tensor?,
                     stride: Size2, padding: Size2, dilation: Size2) {
    recordGraph(result) { g, needs in
        let kernel = Size2(weight.shape[2], weight.shape[3])
        var out: [Tensor?]
        if transposed {
            // x (N, Cin, Hin, Win) -> g (N, Cout, Hout, Wout): the matching convolution maps g's plane to x's
            out = [needs[0] ? try conv2d(g, weight: weight, stride: stride, padding: padding, dilation: dilation) : nil,
                   needs[1] ? try conv2dWeight(g, outputGradient: x, kernel: kernel, stride: stride, padding: padding, dilation: dilation) : nil]
        } else {
            let extra = leftover(input: Size2(x.shape[2], x.shape[3]), output: Size2(g.shape[2], g.shape[3]), kernel: kernel,
                                 stride: stride, padding: padding, dilation: dilation)
            out = [needs[0] ? try convTranspose2d(g, weight: weight, stride: stride, padding: padding, outputPadding: extra, dilation: dilation) : nil,
                   needs[1] ? try conv2dWeight(x, outputGradient: g, kernel: kernel, stride: stride, padding: padding, dilation: dilation) : nil]
        }
        if bias != nil { out.append(needs[2] ? try sumToSize(g, [1, g.shape[1], 1, 1]).reshaped([g.shape[1]]) : nil) }
        return out
    }
}

/// The input rows and columns a convolution's windows never reach (floor in its output
/// size): the output padding of the transposed convolution that restores the input's size.
private func leftover(input: Size2, output: Size2, kernel: Size2, stride: Size2, padding: Size2, dilation: Size2) -> Size2 {
    Size2(input.h - ((output.h - 1) * stride.h - 2 * padding.h + dilation.h * (kernel.h - 1) + 1),
          input.w - ((output.w - 1) * stride.w - 2 * padding.w + dilation.w * (kernel.w - 1) + 1))
}

/// The weight gradient of a convolution as an op: x (N, C, H, W) its input, y (N, O, outH, outW)
/// its output gradient -> dW (O, C, kH, kW) = sum over images and positions of y times the
/// matching window of x. Bilinear: its gradient in x is convTranspose2d(y, gw), in y conv2d(x, gw).
public func conv2dWeight(_ x: Tensor, outputGradient y: Tensor, kernel: Size2, stride: Size2, padding: Size2, dilation: Size2) throws -> Tensor {
    try checkRank("conv2dWeight", x, 4)
    try checkRank("conv2dWeight", y, 4, "output gradient")
    let (N, C, O) = (x.shape[0], x.shape[1], y.shape[1])
    let g = ConvGeometry(channels: C, height: x.shape[2], width: x.shape[3], kernelH: kernel.h, kernelW: kernel.w,
                         strideH: stride.h, strideW: stride.w, padH: padding.h, padW: padding.w,
                         dilationH: dilation.h, dilationW: dilation.w)
    guard y.shape[0] == N, y.shape[2] == g.outH, y.shape[3] == g.outW else {
        throw TensorError.shapeMismatch(op: "conv2dWeight (input vs output gradient)", shapes: [x.shape, y.shape])
    }
    // Im2colGEMM reads no derived weights, so the problem's weight tensor is a placeholder.
    let p = ConvProblem(g: g, outputs: O, images: N, weight: Tensor(zeros: [0]), policy: ConvPolicy.current, keep: false)
    var out = [Float](repeating: 0, count: O * g.colRows)
    x.data.withUnsafeBufferPointer { xp in y.data.withUnsafeBufferPointer { yp in out.withUnsafeMutableBufferPointer { op in
        Im2colGEMM.weightGradient(p, kernel: .im2colGEMM, x: xp.baseAddress!, y: yp.baseAddress!, dw: op.baseAddress!, accumulate: false)
    } } }
    let result = Tensor(uncheckedShape: [O, C, kernel.h, kernel.w], data: out)
    record(result, [x, y]) { gw in
        let w = gw.baseAddress!
        if x.requiresGrad {
            x.withGradForOverwrite { dx, fresh in
                y.data.withUnsafeBufferPointer { yp in Im2colGEMM.adjoint(p, kernel: .gemmCol2im, y: yp.baseAddress!, w: w, out: dx.baseAddress!, accumulate: !fresh) }
            }
        }
        if y.requiresGrad {
            y.withGradForOverwrite { dy, fresh in
                x.data.withUnsafeBufferPointer { xp in Im2colGEMM.apply(p, kernel: .im2colGEMM, x: xp.baseAddress!, w: w, out: dy.baseAddress!, accumulate: !fresh) }
            }
        }
    }
    recordGraph(result) { gw, needs in
        let extra = leftover(input: Size2(g.height, g.width), output: Size2(g.outH, g.outW), kernel: kernel,
                             stride: stride, padding: padding, dilation: dilation)
        return [needs[0] ? try convTranspose2d(y, weight: gw, stride: stride, padding: padding, outputPadding: extra, dilation: dilation) : nil,
                needs[1] ? try conv2d(x, weight: gw, stride: stride, padding: padding, dilation: dilation) : nil]
    }
    return result
}
