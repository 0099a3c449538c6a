/// Batch and instance normalisation over (N, C, spatial...) tensors, one kernel for both:
/// a "group" is a channel across the batch (batch norm) or one (n, c) plane (instance norm).
import CKernels
import Foundation

/// Statistics over groups. x viewed as (N, C, S). Returns per-group mean and 1/sqrt(var+eps),
/// plus the biased variance (for running-stat updates). Accumulates in Double.
private func groupStats(_ x: UnsafePointer<Float>, n: Int, c: Int, s: Int, perInstance: Bool,
                        eps: Float) -> (mean: [Float], invstd: [Float], variance: [Double]) {
    let groups = perInstance ? n * c : c
    var mean = [Float](repeating: 0, count: groups)
    var invstd = [Float](repeating: 0, count: groups)
    var variance = [Double](repeating: 0, count: groups)
    let m = Double(perInstance ? s : n * s)
    // Groups are independent: both cores, each group computed exactly as serially.
    mean.withUnsafeMutableBufferPointer { mp in invstd.withUnsafeMutableBufferPointer { ip in variance.withUnsafeMutableBufferPointer { vp in
        let mean = mp.baseAddress!, invstd = ip.baseAddress!, variance = vp.baseAddress!
        parallelFor(groups, work: n * c * s) { gi in
            // Segments of group gi: perInstance: one plane gi; else planes (b*c + gi) for all b.
            let segs = perInstance ? [gi] : (0..<n).map { $0 * c + gi }
            var sum: Double = 0
            for seg in segs { sum += tr_plane_sum(x + seg * s, s) }
            let mu = sum / m
            var sq: Double = 0
            for seg in segs { sq += tr_plane_sqdev(x + seg * s, s, mu) }
            let v = sq / m
            mean[gi] = Float(mu)
            variance[gi] = v
            invstd[gi] = Float(1 / (v + Double(eps)).squareRoot())
        }
    } } }
    return (mean, invstd, variance)
}

/// Batch statistics of each channel over the batches of every rank of `comm` (synchronised
/// BatchNorm, `--sync-bn`): per-channel sums all-reduced in Double, then the squared
/// deviations from the global mean the same way (two passes, as `groupStats`). Returns the
/// values count per channel over all ranks as well.
private func syncedChannelStats(_ x: UnsafePointer<Float>, n: Int, c: Int, s: Int, eps: Float, comm: Communicator)
    -> (mean: [Float], invstd: [Float], variance: [Double], count: Double) {
    // Per-plane sums (as groupStats), added per channel in Double.
    func channelSums(_ plane: (UnsafePointer<Float>) -> Double) -> [Double] {
        var sums = [Double](repeating: 0, count: c + 1)
        sums.withUnsafeMutableBufferPointer { sp in
            let sp = sp.baseAddress!
            parallelFor(c, work: n * c * s) { ch in
                var t: Double = 0
                for b in 0..<n { t += plane(x + (b * c + ch) * s) }
                sp[ch] = t
            }
        }
        return sums
    }
    var first = channelSums { p in tr_plane_sum(p, s) }
    first[c] = Double(n * s)
    first.withUnsafeMutableBufferPointer { comm.allReduceSum($0) }
    let m = first[c]
    let mu = (0..<c).map { first[$0] / m }
    var second = [Double](repeating: 0, count: c)
    second.withUnsafeMutableBufferPointer { sp in
        let sp = sp.baseAddress!
        parallelFor(c, work: n * c * s) { ch in
            var t: Double = 0
            for b in 0..<n { t += tr_plane_sqdev(x + (b * c + ch) * s, s, mu[ch]) }
            sp[ch] = t
        }
    }
    second.withUnsafeMutableBufferPointer { comm.allReduceSum($0) }
    let variance = second.map { $0 / m }
    return (mu.map { Float($0) }, variance.map { Float(1 / ($0 + Double(eps)).squareRoot()) }, variance, m)
}

/// y = (x - mean[g]) * invstd[g] * gamma[c] + beta[c], with gamma/beta optional.
private func normalizeForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int, c: Int, s: Int,
                              perInstance: Bool, mean: [Float], invstd: [Float], gamma: [Float]?, beta: [Float]?) {
    parallelFor(n * c, work: n * c * s) { plane in
        let b = plane / c, ch = plane % c
        let gi = perInstance ? b * c + ch : ch
        let scale = invstd[gi] * (gamma?[ch] ?? 1)
        let shift = (beta?[ch] ?? 0) - mean[gi] * scale
        let p = x + (b * c + ch) * s, q = y + (b * c + ch) * s
        for j in 0..<s { q[j] = p[j] * scale + shift }
    }
}

/// Backward of the normalisation. With `statsDependOnX` (training-mode batch norm, instance
/// norm) the mean/variance terms are included; otherwise (eval batch norm) they are constants.
///
/// With `sync` (batch norm over every rank's batch, `count` values per channel in all), the
/// per-channel sums that dx needs are all-reduced first; the affine parameters' gradients stay
/// this rank's own (data-parallel training averages them over the ranks afterwards).
private func normalizeBackward(x: Tensor, gout: UnsafePointer<Float>, n: Int, c: Int, s: Int, perInstance: Bool,
                               mean: [Float], invstd: [Float], weight: Tensor?, bias: Tensor?, statsDependOnX: Bool,
                               sync: (comm: Communicator, count: Double)? = nil) {
    let groups = perInstance ? n * c : c
    let m = Float(sync?.count ?? Double(perInstance ? s : n * s))
    let gamma = weight?.data
    // Per-group sums of dy and dy * xhat (Double accumulation).
    var sumDy = [Double](repeating: 0, count: groups)
    var sumDyXhat = [Double](repeating: 0, count: groups)
    // Per-channel sums for the affine parameters.
    var chDy = [Double](repeating: 0, count: c)
    var chDyXhat = [Double](repeating: 0, count: c)
    x.data.withUnsafeBufferPointer { xb in
        let xp = xb.baseAddress!
        // Per-plane sums across the threads (`tr_plane_dy_sums`), then added up serially in plane order.
        var planeDy = [Double](repeating: 0, count: n * c), planeDyXhat = [Double](repeating: 0, count: n * c)
        planeDy.withUnsafeMutableBufferPointer { pd in planeDyXhat.withUnsafeMutableBufferPointer { px in
            let pd = pd.baseAddress!, px = px.baseAddress!
            parallelFor(n * c, work: n * c * s) { plane in
                let b = plane / c, ch = plane % c
                let gi = perInstance ? b * c + ch : ch
                let p = xp + plane * s, d = gout + plane * s
                var sd = 0.0, sdx = 0.0
                tr_plane_dy_sums(d, p, s, mean[gi], invstd[gi], &sd, &sdx)
                pd[plane] = sd; px[plane] = sdx
            }
        } }
        for b in 0..<n { for ch in 0..<c {
            let gi = perInstance ? b * c + ch : ch
            let sd = planeDy[b * c + ch], sdx = planeDyXhat[b * c + ch]
            sumDy[gi] += sd; sumDyXhat[gi] += sdx
            chDy[ch] += sd; chDyXhat[ch] += sdx
        } }
        if let sync, x.requiresGrad, statsDependOnX {
            var both = sumDy + sumDyXhat
            both.withUnsafeMutableBufferPointer { sync.comm.allReduceSum($0) }
            sumDy = Array(both[..<groups]); sumDyXhat = Array(both[groups...])
        }
        if x.requiresGrad {
            x.withGrad { dxb in
                let dx = dxb.baseAddress!
                parallelFor(n * c, work: n * c * s) { plane in
                    let b = plane / c, ch = plane % c
                    let gi = perInstance ? b * c + ch : ch
                    let p = xp + (b * c + ch) * s, d = gout + (b * c + ch) * s, o = dx + (b * c + ch) * s
                    let gm = gamma?[ch] ?? 1
                    let mu = mean[gi], istd = invstd[gi]
                    if statsDependOnX {
                        // dx = gamma * istd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat))
                        let k = gm * istd / m
                        let a = Float(sumDy[gi]), bb = Float(sumDyXhat[gi])
                        for j in 0..<s { o[j] += k * (m * d[j] - a - (p[j] - mu) * istd * bb) }
                    } else {
                        let k = gm * istd
                        for j in 0..<s { o[j] += k * d[j] }
                    }
                }
            }
        }
    }
    if let w = weight, w.requiresGrad { w.withGrad { g in for ch in 0..<c { g[ch] += Float(chDyXhat[ch]) } } }
    if let bi = bias, bi.requiresGrad { bi.withGrad { g in for ch in 0..<c { g[ch] += Float(chDy[ch]) } } }
}

/// The same backward as differentiable ops (higher-order gradients): with
/// `statsDependOnX` the statistics are recomputed from x as ops (so their own dependence on
/// x is differentiated too), otherwise they are constants. `needs` follows the op's inputs:
/// x, then weight and bias where given.
private func normalizeGraphBackward(_ g: Tensor, x: Tensor, weight: Tensor?, bias: Tensor?, perInstance: Bool, statsDependOnX: Bool,
                                    mean: [Float], invstd: [Float], eps: Float, needs: [Bool]) throws -> [Tensor?] {
    let n = x.shape[0], c = x.shape[1], s = x.shape.dropFirst(2).reduce(1, *)
    let ones = [Int](repeating: 1, count: x.rank - 2)
    let channel = [1, c] + ones                                  // (1, C, 1, 1)
    let group = (perInstance ? [n, c] : [1, c]) + ones           // one value per group
    let m = Float(perInstance ? s : n * s)
    let xhat: Tensor, istd: Tensor
    if statsDependOnX {
        let xc = try x - sumToSize(x, group) / m
        istd = pow(try sumToSize(xc * xc, group) / m + eps, -0.5)
        xhat = try xc * istd
    } else {
        istd = invstd.constant(channel)
        xhat = try (x - mean.constant(channel)) * istd
    }
    let gg = try weight.map { try g * $0.reshaped(channel) } ?? g    // gamma * dy
    var out: [Tensor?] = [nil]
    if needs[0] {
        // dx = istd * (gg - mean(gg) - xhat * mean(gg * xhat)), means over each group
        out[0] = statsDependOnX ? try istd * (gg - sumToSize(gg, group) / m - xhat * (sumToSize(gg * xhat, group) / m)) : try gg * istd
    }
    if weight != nil { out.append(needs[out.count] ? try sumToSize(g * xhat, channel).reshaped([c]) : nil) }
    if bias != nil { out.append(needs[out.count] ? try sumToSize(g, channel).reshaped([c]) : nil) }
    return out
}

private func checkNormArgs(_ op: String, _ x: Tensor, _ weight: Tensor?, _ bias: Tensor?) throws -> (Int, Int, Int) {
    guard x.rank >= 2 else { throw TensorError.invalidArgument("\(op): expected (N, C, ...) input, got shape \(x.shape)") }
    let n = x.shape[0], c = x.shape[1], s = x.shape.dropFirst(2).reduce(1, *)
    for (t, what) in [(weight, "weight"), (bias, "bias")] {
        if let t, t.shape != [c] { throw TensorError.shapeMismatch(op: "\(op) (\(what) vs input channels)", shapes: [t.shape, x.shape]) }
    }
    return (n, c, s)
}

/// Batch normalisation as `F.batch_norm`. Training: batch statistics (biased variance) and,
/// if given, running stats updated in place with the unbiased variance and `momentum`.
/// Eval: running statistics.
///
/// `across`: in training, the statistics of the batches of every rank of this communicator
/// together, as PyTorch's SyncBatchNorm (every rank must call it at the same point); the
/// running statistics then agree on all ranks. Gradients of gradients are not available
/// through it.
public func batchNorm(_ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil,
                      bias: Tensor? = nil, training: Bool, momentum: Float = 0.1, eps: Float = 1e-5,
                      across comm: Communicator? = nil) throws -> Tensor {
    let (n, c, s) = try checkNormArgs("batchNorm", x, weight, bias)
    for (t, what) in [(runningMean, "running_mean"), (runningVar, "running_var")] {
        if let t, t.shape != [c] { throw TensorError.shapeMismatch(op: "batchNorm (\(what) vs input channels)", shapes: [t.shape, x.shape]) }
    }
    var mean: [Float], invstd: [Float]
    var sync: (comm: Communicator, count: Double)?
    if training {
        let st: (mean: [Float], invstd: [Float], variance: [Double])
        let m: Double
        if let comm, comm.size > 1 {
            let r = x.data.withUnsafeBufferPointer { syncedChannelStats($0.baseAddress!, n: n, c: c, s: s, eps: eps, comm: comm) }
            st = (r.mean, r.invstd, r.variance); m = r.count
            sync = (comm, m)
        } else {
            st = x.data.withUnsafeBufferPointer { groupStats($0.baseAddress!, n: n, c: c, s: s, perInstance: false, eps: eps) }
            m = Double(n * s)
        }
        // Checked after the all-reduce, so that every rank takes part in it before any throws.
        guard m > 1 else {
            throw TensorError.invalidArgument("batchNorm: expected more than 1 value per channel when training, got input shape \(x.shape)")
        }
        mean = st.mean; invstd = st.invstd
        if let rm = runningMean {
            for ch in 0..<c { rm.data[ch] = (1 - momentum) * rm.data[ch] + momentum * st.mean[ch] }
        }
        if let rv = runningVar {
            for ch in 0..<c { rv.data[ch] = (1 - momentum) * rv.data[ch] + momentum * Float(st.variance[ch] * m / (m - 1)) }
        }
    } else {
        guard let rm = runningMean, let rv = runningVar else {
            throw TensorError.invalidArgument("batchNorm: eval mode needs running_mean and running_var")
        }
        mean = rm.data
        invstd = rv.data.map { 1 / ($0 + eps).squareRoot() }
    }
    var out = [Float](repeating: 0, count: x.count)
    x.data.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
        normalizeForward(xp.baseAddress!, op.baseAddress!, n: n, c: c, s: s, perInstance: false,
                         mean: mean, invstd: invstd, gamma: weight?.data, beta: bias?.data)
    } }
    let result = Tensor(uncheckedShape: x.shape, data: out)
    let inputs = [x] + [weight, bias].compactMap { $0 }
    record(result, inputs) { g in
        normalizeBackward(x: x, gout: g.baseAddress!, n: n, c: c, s: s, perInstance: false, mean: mean,
                          invstd: invstd, weight: weight, bias: bias, statsDependOnX: training, sync: sync)
    }
    if sync != nil {
        recordGraph(result) { _, _ in throw noGraphRule("batchNorm over the batches of all ranks (--sync-bn)") }
        return result
    }
    recordGraph(result) { [mean, invstd] g, needs in
        try normalizeGraphBackward(g, x: x, weight: weight, bias: bias, perInstance: false, statsDependOnX: training,
                                   mean: mean, invstd: invstd, eps: eps, needs: needs)
    }
    return result
}

/// Instance normalisation as `F.instance_norm` without running stats: each (n, c) plane is
/// normalised by its own mean and biased variance; optional per-channel affine.
public func instanceNorm(_ x: Tensor, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) throws -> Tensor {
    let (n, c, s) = try checkNormArgs("instanceNorm", x, weight, bias)
    guard s > 1 else {
        throw TensorError.invalidArgument("instanceNorm: expected more than 1 spatial element per channel, got input shape \(x.shape)")
    }
    let st = x.data.withUnsafeBufferPointer { groupStats($0.baseAddress!, n: n, c: c, s: s, perInstance: true, eps: eps) }
    var out = [Float](repeating: 0, count: x.count)
    x.data.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
        normalizeForward(xp.baseAddress!, op.baseAddress!, n: n, c: c, s: s, perInstance: true,
                         mean: st.mean, invstd: st.invstd, gamma: weight?.data, beta: bias?.data)
    } }
    let result = Tensor(uncheckedShape: x.shape, data: out)
    let inputs = [x] + [weight, bias].compactMap { $0 }
    record(result, inputs) { g in
        normalizeBackward(x: x, gout: g.baseAddress!, n: n, c: c, s: s, perInstance: true, mean: st.mean,
                          invstd: st.invstd, weight: weight, bias: bias, statsDependOnX: true)
    }
    recordGraph(result) { g, needs in
        try normalizeGraphBackward(g, x: x, weight: weight, bias: bias, perInstance: true, statsDependOnX: true,
                                   mean: st.mean, invstd: st.invstd, eps: eps, needs: needs)
    }
    return result
}
