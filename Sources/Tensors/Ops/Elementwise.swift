/// Activations, dropout, binary ops with broadcasting, scalar forms, reductions.
import Foundation

/// An elementwise function and its derivative given input x and output y.
protocol PointwiseFunction {
    func value(_ x: Float) -> Float
    func derivative(_ x: Float, _ y: Float) -> Float
    /// g * f'(x) with differentiable ops, for higher-order gradients (x the input, y the output).
    func graphGradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor
}

extension PointwiseFunction {
    /// f'(x) at x's values as a constant: the whole derivative of a piecewise linear f.
    func derivativeConstant(_ x: Tensor) -> Tensor {
        Tensor(uncheckedShape: x.shape, data: x.data.map { derivative($0, 0) })
    }
}

/// Applies `fn` elementwise; backward multiplies by its derivative. Generic, so that each
/// function is compiled into its own loops (no call per element); both cores on large tensors.
@inline(__always)
func pointwise<F: PointwiseFunction>(_ x: Tensor, _ fn: F) -> Tensor {
    var out = uninitializedFloats(x.count)
    x.data.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
        let (xb, ob) = (xp.baseAddress!, op.baseAddress!)
        parallelChunks(xp.count) { lo, hi in for i in lo..<hi { ob[i] = fn.value(xb[i]) } }
    } }
    let result = Tensor(uncheckedShape: x.shape, data: out)
    record(result, [x]) { [unowned result] g in
        x.withGradForOverwrite { dx, fresh in
            x.data.withUnsafeBufferPointer { xp in result.data.withUnsafeBufferPointer { yp in
                let (d, xb, yb, gb) = (dx.baseAddress!, xp.baseAddress!, yp.baseAddress!, g.baseAddress!)
                parallelChunks(dx.count) { lo, hi in
                    if fresh { for i in lo..<hi { d[i] = gb[i] * fn.derivative(xb[i], yb[i]) } }
                    else { for i in lo..<hi { d[i] += gb[i] * fn.derivative(xb[i], yb[i]) } }
                }
            } }
        }
    }
    recordGraph(result) { [unowned result] g, _ in [try fn.graphGradient(g, x: x, y: result)] }
    return result
}

struct ClosureFunction: PointwiseFunction {
    let f: (Float) -> Float, df: (Float, Float) -> Float
    let graph: ((Tensor, Tensor, Tensor) throws -> Tensor)?
    func value(_ x: Float) -> Float { f(x) }
    func derivative(_ x: Float, _ y: Float) -> Float { df(x, y) }
    func graphGradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor {
        guard let graph else { throw noGraphRule("this elementwise function") }
        return try graph(g, x, y)
    }
}

/// Applies f elementwise; backward multiplies by df(x, y); `graph` is that product as
/// differentiable ops of (g, x, y), for higher-order gradients.
func unaryOp(_ x: Tensor, _ f: @escaping (Float) -> Float, _ df: @escaping (Float, Float) -> Float,
             graph: ((Tensor, Tensor, Tensor) throws -> Tensor)? = nil) -> Tensor {
    pointwise(x, ClosureFunction(f: f, df: df, graph: graph))
}

struct ReLUFunction: PointwiseFunction {
    func value(_ x: Float) -> Float { max(x, 0) }
    func derivative(_ x: Float, _ y: Float) -> Float { x > 0 ? 1 : 0 }
    func graphGradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor { try g * derivativeConstant(x) }
}

struct LeakyReLUFunction: PointwiseFunction {
    let slope: Float
    func value(_ x: Float) -> Float { x > 0 ? x : x * slope }
    func derivative(_ x: Float, _ y: Float) -> Float { x > 0 ? 1 : slope }
    func graphGradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor { try g * derivativeConstant(x) }
}

public func relu(_ x: Tensor) -> Tensor { pointwise(x, ReLUFunction()) }

public func leakyReLU(_ x: Tensor, negativeSlope: Float = 0.01) -> Tensor {
    pointwise(x, LeakyReLUFunction(slope: negativeSlope))
}

public func tanh(_ x: Tensor) -> Tensor {
    unaryOp(x, { Foundation.tanh($0) }, { _, y in 1 - y * y }, graph: { g, _, y in try g * (1 - (try y * y)) })
}

public func sigmoid(_ x: Tensor) -> Tensor {
    unaryOp(x, { 1 / (1 + Foundation.exp(-$0)) }, { _, y in y * (1 - y) }, graph: { g, _, y in try g * (try y * (1 - y)) })
}

public func abs(_ x: Tensor) -> Tensor {
    let sign: (Float, Float) -> Float = { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) }
    return unaryOp(x, { Swift.abs($0) }, sign, graph: { g, x, _ in try g * x.data.map { sign($0, 0) }.constant(x.shape) })
}

public func exp(_ x: Tensor) -> Tensor { unaryOp(x, { Foundation.exp($0) }, { _, y in y }, graph: { g, _, y in try g * y }) }

public func log(_ x: Tensor) -> Tensor { unaryOp(x, { Foundation.log($0) }, { x, _ in 1 / x }, graph: { g, x, _ in try g / x }) }

public func sqrt(_ x: Tensor) -> Tensor { unaryOp(x, { $0.squareRoot() }, { _, y in 0.5 / y }, graph: { g, _, y in try (g * 0.5) / y }) }

/// x to the power `exponent`, elementwise, as `torch.pow` with a scalar exponent.
public func pow(_ x: Tensor, _ exponent: Float) -> Tensor {
    unaryOp(x, { Foundation.pow($0, exponent) }, { x, _ in exponent * Foundation.pow(x, exponent - 1) },
            graph: { g, x, _ in try g * (pow(x, exponent - 1) * exponent) })
}

extension Array where Element == Float {
    /// A tensor of these values that does not require grad.
    func constant(_ shape: [Int]) -> Tensor { Tensor(uncheckedShape: shape, data: self) }
}

/// Inverted dropout: in training, zeroes each element with probability p and scales the
/// rest by 1/(1-p); the mask comes from `rng`. Identity in eval mode or for p == 0.
public func dropout(_ x: Tensor, p: Float = 0.5, training: Bool = true, rng: inout RNG) throws -> Tensor {
    guard p >= 0, p <= 1 else { throw TensorError.invalidArgument("dropout: probability has to be between 0 and 1, but got \(p)") }
    if !training || p == 0 { return x }
    let scale: Float = p == 1 ? 0 : 1 / (1 - p)
    var mask = [Float](repeating: 0, count: x.count)
    for i in 0..<mask.count { mask[i] = rng.nextFloat() >= p ? scale : 0 }
    var out = x.data
    for i in 0..<out.count { out[i] *= mask[i] }
    let result = Tensor(uncheckedShape: x.shape, data: out)
    record(result, [x]) { g in x.withGrad { dx in for i in 0..<dx.count { dx[i] += g[i] * mask[i] } } }
    return result
}

// MARK: - Broadcasting binary ops

/// NumPy/PyTorch broadcast of two shapes, or nil.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}

/// For each element of `outShape`, the flat index into a tensor of `shape` broadcast to it.
func broadcastIndex(_ shape: [Int], to outShape: [Int]) -> [Int] {
    let r = outShape.count
    let padded = [Int](repeating: 1, count: r - shape.count) + shape
    var strides = [Int](repeating: 0, count: r)
    var acc = 1
    for i in stride(from: r - 1, through: 0, by: -1) {
        strides[i] = padded[i] == 1 ? 0 : acc
        acc *= padded[i]
    }
    let total = outShape.reduce(1, *)
    var idx = [Int](repeating: 0, count: total)
    var counter = [Int](repeating: 0, count: r)
    var flat = 0
    for k in 0..<total {
        idx[k] = flat
        var d = r - 1
        while d >= 0 {
            counter[d] += 1; flat += strides[d]
            if counter[d] < outShape[d] { break }
            flat -= strides[d] * counter[d]; counter[d] = 0; d -= 1
        }
    }
    return idx
}

/// Binary elementwise op with broadcasting; `da`/`db` give the partial derivatives.
/// `graph` gives (g * da, g * db) at the output's shape as differentiable ops of (g, a, b),
/// each only where asked for (higher-order gradients); they are summed down to a and b.
@inline(__always)
func binaryOp(_ name: String, _ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float,
              _ da: @escaping (Float, Float) -> Float, _ db: @escaping (Float, Float) -> Float,
              graph: @escaping (Tensor, Tensor, Tensor, [Bool]) throws -> (Tensor?, Tensor?)) throws -> Tensor {
    guard let shape = broadcastShape(a.shape, b.shape) else {
        throw TensorError.shapeMismatch(op: name, shapes: [a.shape, b.shape])
    }
    let n = shape.reduce(1, *)
    var out = uninitializedFloats(n)
    let same = a.shape == b.shape
    let ia = same || a.shape == shape ? nil : broadcastIndex(a.shape, to: shape)
    let ib = same || b.shape == shape ? nil : broadcastIndex(b.shape, to: shape)
    a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in out.withUnsafeMutableBufferPointer { op in
        if ia == nil && ib == nil {
            // One thread: split across two, this loop ran 3x slower over a CycleGAN step
            // (`translate-bench profile`, docs/BENCHMARKS.md).
            for i in 0..<n { op[i] = f(ap[i], bp[i]) }
        } else {
            for i in 0..<n { op[i] = f(ap[ia?[i] ?? i], bp[ib?[i] ?? i]) }
        }
    } } }
    let result = Tensor(uncheckedShape: shape, data: out)
    record(result, [a, b]) { g in
        a.data.withUnsafeBufferPointer { ap in b.data.withUnsafeBufferPointer { bp in
            if ia == nil && ib == nil {
                // Same shapes: one term per element, so the elements split across threads.
                let (ab, bb, gp) = (ap.baseAddress!, bp.baseAddress!, g.baseAddress!)
                if a.requiresGrad {
                    a.withGrad { ga in let d = ga.baseAddress!; parallelChunks(n) { lo, hi in for i in lo..<hi { d[i] += gp[i] * da(ab[i], bb[i]) } } }
                }
                if b.requiresGrad {
                    b.withGrad { gb in let d = gb.baseAddress!; parallelChunks(n) { lo, hi in for i in lo..<hi { d[i] += gp[i] * db(ab[i], bb[i]) } } }
                }
                return
            }
            if a.requiresGrad {
                a.withGrad { ga in
                    for i in 0..<n { let j = ia?[i] ?? i, k = ib?[i] ?? i; ga[j] += g[i] * da(ap[j], bp[k]) }
                }
            }
            if b.requiresGrad {
                b.withGrad { gb in
                    for i in 0..<n { let j = ia?[i] ?? i, k = ib?[i] ?? i; gb[k] += g[i] * db(ap[j], bp[k]) }
                }
            }
        } }
    }
    recordGraph(result) { g, needs in
        let (ga, gb) = try graph(g, a, b, needs)
        return [try ga.map { try sumToSize($0, a.shape) }, try gb.map { try sumToSize($0, b.shape) }]
    }
    return result
}

public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try binaryOp("add", a, b, +, { _, _ in 1 }, { _, _ in 1 }) { g, _, _, _ in (g, g) }
}
public func sub(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try binaryOp("sub", a, b, -, { _, _ in 1 }, { _, _ in -1 }) { g, _, _, n in (g, n[1] ? -g : nil) }
}
public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try binaryOp("mul", a, b, *, { _, y in y }, { x, _ in x }) { g, a, b, n in (n[0] ? try g * b : nil, n[1] ? try g * a : nil) }
}
public func div(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try binaryOp("div", a, b, /, { _, y in 1 / y }, { x, y in -x / (y * y) }) { g, a, b, n in
        (n[0] ? try g / b : nil, n[1] ? -(try (try g * a) / (try b * b)) : nil)
    }
}

public func + (a: Tensor, b: Tensor) throws -> Tensor { try add(a, b) }
public func - (a: Tensor, b: Tensor) throws -> Tensor { try sub(a, b) }
public func * (a: Tensor, b: Tensor) throws -> Tensor { try mul(a, b) }
public func / (a: Tensor, b: Tensor) throws -> Tensor { try div(a, b) }

// Scalar forms.
public func + (a: Tensor, s: Float) -> Tensor { unaryOp(a, { $0 + s }, { _, _ in 1 }, graph: { g, _, _ in g }) }
public func + (s: Float, a: Tensor) -> Tensor { a + s }
public func - (a: Tensor, s: Float) -> Tensor { unaryOp(a, { $0 - s }, { _, _ in 1 }, graph: { g, _, _ in g }) }
public func - (s: Float, a: Tensor) -> Tensor { unaryOp(a, { s - $0 }, { _, _ in -1 }, graph: { g, _, _ in -g }) }
public func * (a: Tensor, s: Float) -> Tensor { unaryOp(a, { $0 * s }, { _, _ in s }, graph: { g, _, _ in g * s }) }
public func * (s: Float, a: Tensor) -> Tensor { a * s }
public func / (a: Tensor, s: Float) -> Tensor { unaryOp(a, { $0 / s }, { _, _ in 1 / s }, graph: { g, _, _ in g / s }) }
public prefix func - (a: Tensor) -> Tensor { a * -1 }

// MARK: - Reductions

/// Sum of all elements, a 0-d tensor.
public func sum(_ x: Tensor) -> Tensor {
    var s: Double = 0
    x.data.withUnsafeBufferPointer { p in for v in p { s += Double(v) } }
    let result = Tensor(uncheckedShape: [], data: [Float(s)])
    record(result, [x]) { g in let v = g[0]; x.withGrad { dx in for i in 0..<dx.count { dx[i] += v } } }
    recordGraph(result) { g, _ in [try expand(g, to: x.shape)] }
    return result
}

/// Mean of all elements, a 0-d tensor.
public func mean(_ x: Tensor) -> Tensor {
    var s: Double = 0
    x.data.withUnsafeBufferPointer { p in for v in p { s += Double(v) } }
    let n = Float(max(x.count, 1))
    let result = Tensor(uncheckedShape: [], data: [x.count == 0 ? .nan : Float(s / Double(x.count))])
    record(result, [x]) { g in let v = g[0] / n; x.withGrad { dx in for i in 0..<dx.count { dx[i] += v } } }
    recordGraph(result) { g, _ in [try expand(g / n, to: x.shape)] }
    return result
}

// MARK: - Losses (reduction: mean, as the PyTorch defaults)

private func checkSameShape(_ op: String, _ a: Tensor, _ b: Tensor) throws {
    guard a.shape == b.shape else { throw TensorError.shapeMismatch(op: op, shapes: [a.shape, b.shape]) }
}

/// Elementwise loss l(x, t) averaged over all elements, with partials dl/dx and dl/dt.
private func meanLoss(_ name: String, _ x: Tensor, _ t: Tensor, _ l: (Float, Float) -> Double,
                      _ dx: @escaping (Float, Float) -> Float, _ dt: @escaping (Float, Float) -> Float) throws -> Tensor {
    try checkSameShape(name, x, t)
    guard x.count > 0 else { throw TensorError.invalidArgument("\(name): empty input \(x.shape)") }
    var s: Double = 0
    x.data.withUnsafeBufferPointer { xp in t.data.withUnsafeBufferPointer { tp in
        for i in 0..<xp.count { s += l(xp[i], tp[i]) }
    } }
    let n = x.count
    let result = Tensor(uncheckedShape: [], data: [Float(s / Double(n))])
    record(result, [x, t]) { g in
        let k = g[0] / Float(n)
        x.data.withUnsafeBufferPointer { xp in t.data.withUnsafeBufferPointer { tp in
            if x.requiresGrad { x.withGrad { gx in for i in 0..<n { gx[i] += k * dx(xp[i], tp[i]) } } }
            if t.requiresGrad { t.withGrad { gt in for i in 0..<n { gt[i] += k * dt(xp[i], tp[i]) } } }
        } }
    }
    return result
}

@inline(__always) private func sign(_ v: Float) -> Float { v > 0 ? 1 : (v < 0 ? -1 : 0) }

/// mean |input - target|
public func l1Loss(_ input: Tensor, _ target: Tensor) throws -> Tensor {
    try meanLoss("l1Loss", input, target, { Double(Swift.abs($0 - $1)) }, { sign($0 - $1) }, { -sign($0 - $1) })
}

/// mean (input - target)^2
public func mseLoss(_ input: Tensor, _ target: Tensor) throws -> Tensor {
    try meanLoss("mseLoss", input, target, { let d = Double($0 - $1); return d * d }, { 2 * ($0 - $1) }, { 2 * ($1 - $0) })
}

/// mean of the binary cross-entropy between sigmoid(input) and target, computed stably:
/// max(x, 0) - x t + log(1 + exp(-|x|)).
public func binaryCrossEntropyWithLogits(_ input: Tensor, _ target: Tensor) throws -> Tensor {
    try meanLoss("binaryCrossEntropyWithLogits", input, target, { x, t in
        let xd = Double(x), td = Double(t)
        return Swift.max(xd, 0) - xd * td + Foundation.log1p(Foundation.exp(-Swift.abs(xd)))
    }, { x, t in 1 / (1 + Foundation.exp(-x)) - t }, { x, _ in -x })
}
