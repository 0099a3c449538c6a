import Foundation

/// Unit-normalises each pixel's feature vector across channels: x / (||x||_2 + eps), the
/// normalisation LPIPS applies to every network tap (x: N x C x H x W).
public func normalizeChannels(_ x: Tensor, eps: Float = 1e-10) throws -> Tensor {
    try checkRank("normalizeChannels", x, 4)
    let N = x.shape[0], C = x.shape[1], HW = x.shape[2] * x.shape[3]
    var out = [Float](repeating: 0, count: x.count)
    // Per pixel: the norm n (kept for the backward pass).
    var norms = [Float](repeating: 0, count: N * HW)
    x.data.withUnsafeBufferPointer { xp in
        out.withUnsafeMutableBufferPointer { op in
            norms.withUnsafeMutableBufferPointer { np in
                let o = op.baseAddress!, nrm = np.baseAddress!
                for n in 0..<N {
                    let base = n * C * HW
                    for p in 0..<HW { nrm[n * HW + p] = 0 }
                    for c in 0..<C { for p in 0..<HW { let v = xp[base + c * HW + p]; nrm[n * HW + p] += v * v } }
                    for p in 0..<HW { nrm[n * HW + p] = nrm[n * HW + p].squareRoot() }
                    for c in 0..<C { for p in 0..<HW { o[base + c * HW + p] = xp[base + c * HW + p] / (nrm[n * HW + p] + eps) } }
                }
            }
        }
    }
    let result = Tensor(uncheckedShape: x.shape, data: out)
    record(result, [x]) { g in
        // y = x / s with s = n + eps: dL/dx_k = g_k / s - x_k / (n s^2) * sum_c g_c x_c.
        x.withGrad { dx in
            x.data.withUnsafeBufferPointer { xp in
                var dot = [Float](repeating: 0, count: HW)
                for n in 0..<N {
                    let base = n * C * HW
                    for p in 0..<HW { dot[p] = 0 }
                    for c in 0..<C { for p in 0..<HW { dot[p] += g[base + c * HW + p] * xp[base + c * HW + p] } }
                    for c in 0..<C {
                        for p in 0..<HW {
                            let nv = norms[n * HW + p], s = nv + eps, i = base + c * HW + p
                            dx[i] += g[i] / s - (nv > 0 ? xp[i] * dot[p] / (nv * s * s) : 0)
                        }
                    }
                }
            }
        }
    }
    return result
}

/// LPIPS's per-tap distance: for each sample, the spatial mean of sum_c w_c (a_c - b_c)^2
/// (a, b: N x C x H x W; weight: C values, the linear head's 1x1 kernel). Returns N values.
/// The weight is a fixed constant (no gradient).
public func weightedChannelDistance(_ a: Tensor, _ b: Tensor, weight: [Float]) throws -> Tensor {
    try checkRank("weightedChannelDistance", a, 4)
    guard a.shape == b.shape else {
        throw TensorError.shapeMismatch(op: "weightedChannelDistance", shapes: [a.shape, b.shape])
    }
    let N = a.shape[0], C = a.shape[1], HW = a.shape[2] * a.shape[3]
    guard weight.count == C else {
        throw TensorError.invalidArgument("weightedChannelDistance: \(weight.count) weights for \(C) channels")
    }
    var out = [Float](repeating: 0, count: N)
    a.data.withUnsafeBufferPointer { ap in
        b.data.withUnsafeBufferPointer { bp in
            for n in 0..<N {
                var s: Double = 0
                for c in 0..<C {
                    var acc: Float = 0
                    let base = (n * C + c) * HW
                    for p in 0..<HW { let d = ap[base + p] - bp[base + p]; acc += d * d }
                    s += Double(weight[c]) * Double(acc)
                }
                out[n] = Float(s / Double(HW))
            }
        }
    }
    let result = Tensor(uncheckedShape: [N], data: out)
    record(result, [a, b]) { g in
        // d/da = 2 w_c (a - b) / HW * g_n; d/db = the negative.
        func grad(_ t: Tensor, _ sign: Float) {
            guard t.requiresGrad else { return }
            t.withGrad { dt in
                a.data.withUnsafeBufferPointer { ap in
                    b.data.withUnsafeBufferPointer { bp in
                        for n in 0..<N { for c in 0..<C {
                            let k = sign * 2 * weight[c] * g[n] / Float(HW), base = (n * C + c) * HW
                            for p in 0..<HW { dt[base + p] += k * (ap[base + p] - bp[base + p]) }
                        } }
                    }
                }
            }
        }
        grad(a, 1); grad(b, -1)
    }
    return result
}
