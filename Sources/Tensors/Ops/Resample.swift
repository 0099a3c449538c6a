/// Nearest and bilinear upsampling, average pooling. Inputs (N, C, H, W).

/// One output coordinate's two source taps and the weight of the second, as PyTorch's
/// bilinear with align_corners false (source = (dst + 0.5) / scale - 0.5, clamped at 0).
private func linearTaps(outSize: Int, inSize: Int, scale: Double, alignCorners: Bool) -> [(Int, Int, Float)] {
    (0..<outSize).map { o in
        var src: Double
        if alignCorners {
            src = outSize > 1 ? Double(o) * Double(inSize - 1) / Double(outSize - 1) : 0
        } else {
            src = max((Double(o) + 0.5) / scale - 0.5, 0)
        }
        let i0 = min(Int(src), inSize - 1)
        let i1 = min(i0 + 1, inSize - 1)
        return (i0, i1, Float(src - Double(i0)))
    }
}

/// Upsamples by an integer factor with nearest neighbour (`mode="nearest"`).
public func upsampleNearest(_ x: Tensor, scaleFactor: Int) throws -> Tensor {
    try checkRank("upsampleNearest", x, 4)
    guard scaleFactor >= 1 else { throw TensorError.invalidArgument("upsampleNearest: scale factor \(scaleFactor) must be >= 1") }
    let planes = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3]
    let OH = H * scaleFactor, OW = W * scaleFactor
    var out = [Float](repeating: 0, count: planes * OH * OW)
    x.data.withUnsafeBufferPointer { xp in
        for p in 0..<planes { for oy in 0..<OH { for ox in 0..<OW {
            out[(p * OH + oy) * OW + ox] = xp[(p * H + oy / scaleFactor) * W + ox / scaleFactor]
        } } }
    }
    let result = Tensor(uncheckedShape: [x.shape[0], x.shape[1], OH, OW], data: out)
    record(result, [x]) { g in
        x.withGrad { dx in
            for p in 0..<planes { for oy in 0..<OH { for ox in 0..<OW {
                dx[(p * H + oy / scaleFactor) * W + ox / scaleFactor] += g[(p * OH + oy) * OW + ox]
            } } }
        }
    }
    return result
}

/// Bilinear upsampling by a factor (`mode="bilinear"`), align_corners false by default.
public func upsampleBilinear(_ x: Tensor, scaleFactor: Int, alignCorners: Bool = false) throws -> Tensor {
    try checkRank("upsampleBilinear", x, 4)
    guard scaleFactor >= 1 else { throw TensorError.invalidArgument("upsampleBilinear: scale factor \(scaleFactor) must be >= 1") }
    return try resizeBilinear(x, height: x.shape[2] * scaleFactor, width: x.shape[3] * scaleFactor,
                              scale: (Double(scaleFactor), Double(scaleFactor)), alignCorners: alignCorners)
}

/// Bilinear resize to an exact size (`F.interpolate(size=...)`).
public func resizeBilinear(_ x: Tensor, height OH: Int, width OW: Int, alignCorners: Bool = false) throws -> Tensor {
    try checkRank("resizeBilinear", x, 4)
    return try resizeBilinear(x, height: OH, width: OW, scale: (Double(OH) / Double(x.shape[2]), Double(OW) / Double(x.shape[3])),
                              alignCorners: alignCorners)
}

private func resizeBilinear(_ x: Tensor, height OH: Int, width OW: Int, scale: (Double, Double), alignCorners: Bool) throws -> Tensor {
    let planes = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3]
    guard OH > 0, OW > 0, H > 0, W > 0 else { throw TensorError.invalidArgument("resizeBilinear: cannot resize \(x.shape) to \(OH)x\(OW)") }
    let ty = linearTaps(outSize: OH, inSize: H, scale: scale.0, alignCorners: alignCorners)
    let tx = linearTaps(outSize: OW, inSize: W, scale: scale.1, alignCorners: alignCorners)
    var out = [Float](repeating: 0, count: planes * OH * OW)
    x.data.withUnsafeBufferPointer { xp in
        for p in 0..<planes { for (oy, (y0, y1, ly)) in ty.enumerated() { for (ox, (x0, x1, lx)) in tx.enumerated() {
            let b = p * H * W
            let top = (1 - lx) * xp[b + y0 * W + x0] + lx * xp[b + y0 * W + x1]
            let bot = (1 - lx) * xp[b + y1 * W + x0] + lx * xp[b + y1 * W + x1]
            out[(p * OH + oy) * OW + ox] = (1 - ly) * top + ly * bot
        } } }
    }
    let result = Tensor(uncheckedShape: [x.shape[0], x.shape[1], OH, OW], data: out)
    record(result, [x]) { g in
        x.withGrad { dx in
            for p in 0..<planes { for (oy, (y0, y1, ly)) in ty.enumerated() { for (ox, (x0, x1, lx)) in tx.enumerated() {
                let b = p * H * W, v = g[(p * OH + oy) * OW + ox]
                dx[b + y0 * W + x0] += (1 - ly) * (1 - lx) * v
                dx[b + y0 * W + x1] += (1 - ly) * lx * v
                dx[b + y1 * W + x0] += ly * (1 - lx) * v
                dx[b + y1 * W + x1] += ly * lx * v
            } } }
        }
    }
    return result
}

/// Checks a pooling window against a 4-D input: (stride, planes, H, W, outH, outW), floor mode.
private func poolGeometry(_ op: String, _ x: Tensor, _ kernelSize: Size2, _ stride: Size2?, _ padding: Size2) throws
    -> (Size2, Int, Int, Int, Int, Int) {
    try checkRank(op, x, 4)
    let s = stride ?? kernelSize
    guard kernelSize.h > 0, kernelSize.w > 0, s.h > 0, s.w > 0, padding.h >= 0, padding.w >= 0,
          padding.h * 2 <= kernelSize.h, padding.w * 2 <= kernelSize.w else {
        throw TensorError.invalidArgument("\(op): kernel \(kernelSize), stride \(s) must be positive and padding \(padding) at most half the kernel")
    }
    let H = x.shape[2], W = x.shape[3]
    guard H + 2 * padding.h >= kernelSize.h, W + 2 * padding.w >= kernelSize.w else {
        throw TensorError.invalidArgument("\(op): kernel \(kernelSize) is larger than the padded input \(x.shape)")
    }
    return (s, x.shape[0] * x.shape[1], H, W, (H + 2 * padding.h - kernelSize.h) / s.h + 1, (W + 2 * padding.w - kernelSize.w) / s.w + 1)
}

/// Average pooling as `F.avg_pool2d` (ceil_mode false). With `countIncludePad` the divisor
/// is the window clipped to the padded input; otherwise the number of real pixels.
public func avgPool2d(_ x: Tensor, kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0,
                      countIncludePad: Bool = true) throws -> Tensor {
    let (s, planes, H, W, OH, OW) = try poolGeometry("avgPool2d", x, kernelSize, stride, padding)
    // Window bounds and divisor per output position along each axis.
    func windows(_ o: Int, _ size: Int, _ k: Int, _ st: Int, _ p: Int) -> (Int, Int, Int) {
        let start = o * st - p, end = min(start + k, size + p)
        let padded = end - start
        return (max(start, 0), min(end, size), padded)
    }
    var out = [Float](repeating: 0, count: planes * OH * OW)
    var divisors = [Float](repeating: 1, count: OH * OW)
    for oy in 0..<OH { for ox in 0..<OW {
        let (y0, y1, py) = windows(oy, H, kernelSize.h, s.h, padding.h)
        let (x0, x1, px) = windows(ox, W, kernelSize.w, s.w, padding.w)
        divisors[oy * OW + ox] = Float(countIncludePad ? py * px : max((y1 - y0) * (x1 - x0), 1))
    } }
    x.data.withUnsafeBufferPointer { xp in
        for p in 0..<planes { for oy in 0..<OH { for ox in 0..<OW {
            let (y0, y1, _) = windows(oy, H, kernelSize.h, s.h, padding.h)
            let (x0, x1, _) = windows(ox, W, kernelSize.w, s.w, padding.w)
            var acc: Float = 0
            for y in y0..<max(y0, y1) { for xx in x0..<max(x0, x1) { acc += xp[(p * H + y) * W + xx] } }
            out[(p * OH + oy) * OW + ox] = acc / divisors[oy * OW + ox]
        } } }
    }
    let result = Tensor(uncheckedShape: [x.shape[0], x.shape[1], OH, OW], data: out)
    record(result, [x]) { g in
        x.withGrad { dx in
            for p in 0..<planes { for oy in 0..<OH { for ox in 0..<OW {
                let (y0, y1, _) = windows(oy, H, kernelSize.h, s.h, padding.h)
                let (x0, x1, _) = windows(ox, W, kernelSize.w, s.w, padding.w)
                let v = g[(p * OH + oy) * OW + ox] / divisors[oy * OW + ox]
                for y in y0..<max(y0, y1) { for xx in x0..<max(x0, x1) { dx[(p * H + y) * W + xx] += v } }
            } } }
        }
    }
    return result
}

/// Max pooling over `kernelSize` windows (PyTorch `max_pool2d`, padding counts as -inf,
/// floor mode). The backward pass sends each output's gradient to the position that held
/// the maximum (the first one in scan order on ties, as PyTorch's CPU kernel).
public func maxPool2d(_ x: Tensor, kernelSize: Size2, stride: Size2? = nil, padding: Size2 = 0) throws -> Tensor {
    let (s, planes, H, W, OH, OW) = try poolGeometry("maxPool2d", x, kernelSize, stride, padding)
    var out = [Float](repeating: 0, count: planes * OH * OW)
    // Flat input index of each output's maximum, for the backward pass.
    var argmax = [Int32](repeating: 0, count: planes * OH * OW)
    x.data.withUnsafeBufferPointer { xp in
        out.withUnsafeMutableBufferPointer { op in
            argmax.withUnsafeMutableBufferPointer { ap in
                let o = op.baseAddress!, a = ap.baseAddress!
                parallelFor(planes, work: planes * OH * OW * kernelSize.h * kernelSize.w) { p in
                    for oy in 0..<OH {
                        let y0 = max(oy * s.h - padding.h, 0), y1 = min(oy * s.h - padding.h + kernelSize.h, H)
                        for ox in 0..<OW {
                            let x0 = max(ox * s.w - padding.w, 0), x1 = min(ox * s.w - padding.w + kernelSize.w, W)
                            var best = -Float.infinity, at = (p * H + y0) * W + x0
                            for y in y0..<y1 { for xx in x0..<x1 {
                                let i = (p * H + y) * W + xx, v = xp[i]
                                if v > best || v.isNaN { best = v; at = i }
                            } }
                            o[(p * OH + oy) * OW + ox] = best
                            a[(p * OH + oy) * OW + ox] = Int32(truncatingIfNeeded: at)
                        }
                    }
                }
            }
        }
    }
    let result = Tensor(uncheckedShape: [x.shape[0], x.shape[1], OH, OW], data: out)
    record(result, [x]) { g in
        x.withGrad { dx in
            for i in 0..<argmax.count { dx[Int(argmax[i])] += g[i] }
        }
    }
    return result
}
