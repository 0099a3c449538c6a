import Foundation

/// A linear map along one axis of an image plane (length `inSize` to `outSize`), applied
/// without forming its matrix: what `separableApply` runs along rows and columns.
public protocol AxisOperator: Sendable {
    var inSize: Int { get }
    var outSize: Int { get }
    /// dst[o * dstStride] = sum_i M[o, i] src[i * srcStride], o < outSize.
    func apply(_ src: UnsafePointer<Float>, _ srcStride: Int, _ dst: UnsafeMutablePointer<Float>, _ dstStride: Int)
    /// dst[i * dstStride] += sum_o M[o, i] src[o * srcStride], i < inSize (the transpose,
    /// accumulated: the backward pass).
    func applyTransposedAdding(_ src: UnsafePointer<Float>, _ srcStride: Int, _ dst: UnsafeMutablePointer<Float>, _ dstStride: Int)
}

/// A banded matrix: row o has weights for inputs start[o] ..< start[o] + count[o]. PIL's
/// resampling matrices are of this kind (a few taps per output), so an image of any width
/// costs memory and time in proportion to its pixels, not their square.
public struct BandedAxis: AxisOperator {
    public let inSize: Int, outSize: Int
    public let start: [Int], count: [Int], offset: [Int]
    public let weights: [Float]

    /// From a dense outSize x inSize row-major matrix (zeros outside each row's first and
    /// last nonzero are dropped).
    public init(dense m: [Float], rows: Int, cols: Int) {
        var start: [Int] = [], count: [Int] = [], offset: [Int] = [], w: [Float] = []
        for o in 0..<rows {
            let row = m[(o * cols)..<((o + 1) * cols)]
            let first = row.firstIndex { $0 != 0 } ?? o * cols
            let last = row.lastIndex { $0 != 0 } ?? (o * cols - 1)
            start.append(first - o * cols); count.append(max(0, last - first + 1)); offset.append(w.count)
            if last >= first { w += m[first...last] }
        }
        self.init(inSize: cols, outSize: rows, start: start, count: count, offset: offset, weights: w)
    }

    public init(inSize: Int, outSize: Int, start: [Int], count: [Int], offset: [Int], weights: [Float]) {
        self.inSize = inSize; self.outSize = outSize; self.start = start; self.count = count; self.offset = offset; self.weights = weights
    }

    public func apply(_ src: UnsafePointer<Float>, _ ss: Int, _ dst: UnsafeMutablePointer<Float>, _ ds: Int) {
        weights.withUnsafeBufferPointer { w in
            for o in 0..<outSize {
                var s: Float = 0
                let b = offset[o], st = start[o]
                for k in 0..<count[o] { s += w[b + k] * src[(st + k) * ss] }
                dst[o * ds] = s
            }
        }
    }

    public func applyTransposedAdding(_ src: UnsafePointer<Float>, _ ss: Int, _ dst: UnsafeMutablePointer<Float>, _ ds: Int) {
        weights.withUnsafeBufferPointer { w in
            for o in 0..<outSize {
                let g = src[o * ss], b = offset[o], st = start[o]
                for k in 0..<count[o] { dst[(st + k) * ds] += w[b + k] * g }
            }
        }
    }

    /// M M^T as a symmetric band: its half-bandwidth and rows (Double).
    func gram() -> (bandwidth: Int, rows: [[Double]]) {
        var bw = 0
        for i in 0..<outSize {
            var j = i + 1
            while j < outSize, start[j] < start[i] + count[i] { j += 1 }
            bw = max(bw, j - 1 - i)
        }
        var g = [[Double]](repeating: [Double](repeating: 0, count: bw + 1), count: outSize)
        for i in 0..<outSize {
            for d in 0...bw where i + d < outSize {
                let j = i + d
                let lo = max(start[i], start[j]), hi = min(start[i] + count[i], start[j] + count[j])
                var s = 0.0
                if lo < hi { for x in lo..<hi { s += Double(weights[offset[i] + x - start[i]]) * Double(weights[offset[j] + x - start[j]]) } }
                g[i][d] = s
            }
        }
        return (bw, g)
    }
}

/// The least-norm right inverse of a full-row-rank banded map D: D^T (D D^T)^-1, applied
/// with a banded Cholesky factor of D D^T (half-bandwidth b: O(n b^2) to factor, O(n b) per
/// vector). Maps `D.outSize` values to `D.inSize`; the super-resolution consistency step.
public struct BandedRightInverse: AxisOperator {
    public let d: BandedAxis
    let bandwidth: Int
    /// Lower Cholesky factor by rows: l[i][k] = L[i, i - bandwidth + k], k <= bandwidth.
    let l: [[Double]]

    public var inSize: Int { d.outSize }
    public var outSize: Int { d.inSize }

    public init(_ d: BandedAxis) throws {
        self.d = d
        let (b, g) = d.gram()
        let n = d.outSize
        var l = [[Double]](repeating: [Double](repeating: 0, count: b + 1), count: n)
        func G(_ i: Int, _ j: Int) -> Double { i <= j ? g[i][j - i] : g[j][i - j] }
        func L(_ i: Int, _ j: Int) -> Double { j < i - b || j > i ? 0 : l[i][j - i + b] }
        for i in 0..<n {
            for j in max(0, i - b)...i {
                var s = G(j, i)
                for k in max(0, i - b)..<j { s -= L(i, k) * L(j, k) }
                if i == j {
                    guard s > 1e-12 else { throw TensorError.invalidArgument("consistency projection: the downscale matrix is not of full row rank (pivot \(s) at \(i))") }
                    l[i][b] = s.squareRoot()
                } else {
                    l[i][j - i + b] = s / L(j, j)
                }
            }
        }
        bandwidth = b
        self.l = l
    }

    /// Solves (L L^T) u = v in place (Double).
    func solve(_ u: inout [Double]) {
        let n = u.count, b = bandwidth
        for i in 0..<n {
            var s = u[i]
            for k in max(0, i - b)..<i { s -= l[i][k - i + b] * u[k] }
            u[i] = s / l[i][b]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = u[i]
            for k in (i + 1)..<min(n, i + b + 1) { s -= l[k][i - k + b] * u[k] }
            u[i] = s / l[i][b]
        }
    }

    public func apply(_ src: UnsafePointer<Float>, _ ss: Int, _ dst: UnsafeMutablePointer<Float>, _ ds: Int) {
        var u = (0..<inSize).map { Double(src[$0 * ss]) }
        solve(&u)
        for x in 0..<outSize { dst[x * ds] = 0 }
        var f = u.map(Float.init)
        f.withUnsafeMutableBufferPointer { d.applyTransposedAdding($0.baseAddress!, 1, dst, ds) }
    }

    /// (D^T G^-1)^T = G^-1 D (G is symmetric).
    public func applyTransposedAdding(_ src: UnsafePointer<Float>, _ ss: Int, _ dst: UnsafeMutablePointer<Float>, _ ds: Int) {
        var v = [Float](repeating: 0, count: inSize)
        v.withUnsafeMutableBufferPointer { d.apply(src, ss, $0.baseAddress!, 1) }
        var u = v.map(Double.init)
        solve(&u)
        for i in 0..<inSize { dst[i * ds] += Float(u[i]) }
    }
}

/// `rows` along every column and `cols` along every row of each image plane: for X (H x W),
/// R X C^T with R (outH x H) and C (outW x W) given as operators. Differentiable in x.
public func separableApply(_ x: Tensor, rows: AxisOperator, cols: AxisOperator) throws -> Tensor {
    try checkRank("separableApply", x, 4)
    let planes = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3]
    guard rows.inSize == H, cols.inSize == W else {
        throw TensorError.invalidArgument("separableApply: operators of \(rows.inSize) x \(cols.inSize) do not fit an image of \(H) x \(W)")
    }
    let oH = rows.outSize, oW = cols.outSize
    var out = [Float](repeating: 0, count: planes * oH * oW)
    var tmp = [Float](repeating: 0, count: H * oW)
    x.data.withUnsafeBufferPointer { xp in
        out.withUnsafeMutableBufferPointer { op in
            tmp.withUnsafeMutableBufferPointer { tp in
                for p in 0..<planes {
                    let src = xp.baseAddress! + p * H * W, dst = op.baseAddress! + p * oH * oW
                    for h in 0..<H { cols.apply(src + h * W, 1, tp.baseAddress! + h * oW, 1) }
                    for c in 0..<oW { rows.apply(tp.baseAddress! + c, oW, dst + c, oW) }
                }
            }
        }
    }
    let result = Tensor(uncheckedShape: [x.shape[0], x.shape[1], oH, oW], data: out)
    record(result, [x]) { g in
        x.withGrad { dx in
            var t = [Float](repeating: 0, count: oH * W)
            t.withUnsafeMutableBufferPointer { tp in
                for p in 0..<planes {
                    let gp = g.baseAddress! + p * oH * oW, dp = dx.baseAddress! + p * H * W
                    for i in 0..<(oH * W) { tp[i] = 0 }
                    for r in 0..<oH { cols.applyTransposedAdding(gp + r * oW, 1, tp.baseAddress! + r * W, 1) }
                    for c in 0..<W { rows.applyTransposedAdding(tp.baseAddress! + c, W, dp + c, W) }
                }
            }
        }
    }
    return result
}
