/// The two adjoint broadcasting ops: `expand` (copy along broadcast dimensions) and
/// `sumToSize` (sum along them). Each is the other's backward, so both are differentiable to
/// any order; the higher-order rules of broadcasting arithmetic and reductions use them.

/// x broadcast to `shape` (x's shape must broadcast to it), as `Tensor.expand` (a copy).
public func expand(_ x: Tensor, to shape: [Int]) throws -> Tensor {
    guard broadcastShape(x.shape, shape) == shape else { throw TensorError.shapeMismatch(op: "expand", shapes: [x.shape, shape]) }
    if x.shape == shape { return x }
    let idx = broadcastIndex(x.shape, to: shape)
    var out = uninitializedFloats(idx.count)
    x.data.withUnsafeBufferPointer { xp in for i in 0..<idx.count { out[i] = xp[idx[i]] } }
    let result = Tensor(uncheckedShape: shape, data: out)
    record(result, [x]) { g in x.withGrad { dx in for i in 0..<idx.count { dx[idx[i]] += g[i] } } }
    recordGraph(result) { g, _ in [try sumToSize(g, x.shape)] }
    return result
}

/// x summed down to `shape` (which must broadcast to x's shape), as `Tensor.sum_to_size`:
/// the sum over every dimension that `shape` broadcasts along. Accumulates in Double.
public func sumToSize(_ x: Tensor, _ shape: [Int]) throws -> Tensor {
    guard broadcastShape(shape, x.shape) == x.shape else { throw TensorError.shapeMismatch(op: "sumToSize", shapes: [x.shape, shape]) }
    if x.shape == shape { return x }
    let idx = broadcastIndex(shape, to: x.shape)
    var acc = [Double](repeating: 0, count: shape.reduce(1, *))
    x.data.withUnsafeBufferPointer { xp in for i in 0..<idx.count { acc[idx[i]] += Double(xp[i]) } }
    let result = Tensor(uncheckedShape: shape, data: acc.map { Float($0) })
    record(result, [x]) { g in x.withGrad { dx in for i in 0..<idx.count { dx[i] += g[idx[i]] } } }
    recordGraph(result) { g, _ in [try expand(g, to: x.shape)] }
    return result
}
