import Tensors
import Foundation

/// Weight initialisation schemes of the pix2pix/CycleGAN reference (`--init-type`).
public enum InitType: String, CaseIterable, Codable {
    case normal, xavier, kaiming, orthogonal
}

/// (fan_in, fan_out) as PyTorch computes them: dim 1 is "in", dim 0 is "out", times the
/// receptive field (so for ConvTranspose2d weights (in, out, k, k) fan_in = out * k * k).
public func fans(_ shape: [Int]) -> (Int, Int) {
    guard shape.count >= 2 else { return (shape.first ?? 1, shape.first ?? 1) }
    let rf = shape.dropFirst(2).reduce(1, *)
    return (shape[1] * rf, shape[0] * rf)
}

/// Fills `t` in place.
/// normal: N(0, gain); xavier: xavier_normal with gain; kaiming: kaiming_normal (a 0, fan_in);
/// orthogonal: orthogonal with gain (rows = dim 0, columns = the rest).
public func initialize(_ t: Tensor, _ type: InitType, gain: Float, rng: inout RNG) {
    let (fanIn, fanOut) = fans(t.shape)
    switch type {
    case .normal:
        for i in 0..<t.count { t.data[i] = gain * rng.nextNormal() }
    case .xavier:
        let std = gain * (2 / Float(fanIn + fanOut)).squareRoot()
        for i in 0..<t.count { t.data[i] = std * rng.nextNormal() }
    case .kaiming:
        let std = (2 / Float(fanIn)).squareRoot()
        for i in 0..<t.count { t.data[i] = std * rng.nextNormal() }
    case .orthogonal:
        let rows = t.shape.first ?? 1, cols = t.count / max(rows, 1)
        t.data = orthogonalMatrix(rows: rows, cols: cols, rng: &rng).map { Float($0) * gain }
    }
}

/// A rows x cols matrix with orthonormal rows (rows <= cols) or columns (rows > cols), from the
/// QR decomposition of a Gaussian matrix with the sign of R's diagonal folded in (as torch).
func orthogonalMatrix(rows: Int, cols: Int, rng: inout RNG) -> [Double] {
    // Work on the tall orientation m x n (m >= n), orthonormalise its n columns.
    let transpose = rows < cols
    let m = max(rows, cols), n = min(rows, cols)
    var a = [Double](repeating: 0, count: m * n)   // column-major: column j at a[j*m ..< (j+1)*m]
    for i in 0..<a.count { a[i] = Double(rng.nextNormal()) }
    // Modified Gram-Schmidt; the sign of R's diagonal is positive by construction, which is
    // what torch's sign correction produces.
    for j in 0..<n {
        for k in 0..<j {
            var dot = 0.0
            for i in 0..<m { dot += a[k * m + i] * a[j * m + i] }
            for i in 0..<m { a[j * m + i] -= dot * a[k * m + i] }
        }
        var norm = 0.0
        for i in 0..<m { norm += a[j * m + i] * a[j * m + i] }
        norm = norm.squareRoot()
        for i in 0..<m { a[j * m + i] /= max(norm, 1e-300) }
    }
    var out = [Double](repeating: 0, count: rows * cols)
    for r in 0..<rows { for c in 0..<cols {
        // tall matrix Q (m x n): element (i, j) = a[j*m + i]
        out[r * cols + c] = transpose ? a[r * m + c] : a[c * m + r]
    } }
    return out
}

extension Module {
    /// The reference's `init_weights`: conv and linear weights by `type` with `gain` (std for normal),
    /// biases 0; BatchNorm2d weights N(1, gain), biases 0.
    public func initWeights(_ type: InitType = .normal, gain: Float = 0.02, rng: inout RNG) {
        for (_, m) in namedModules() {
            if let c = m as? Conv2d {
                initialize(c.weight, type, gain: gain, rng: &rng)
                if let b = c.bias { for i in 0..<b.count { b.data[i] = 0 } }
            } else if let c = m as? ConvTranspose2d {
                initialize(c.weight, type, gain: gain, rng: &rng)
                if let b = c.bias { for i in 0..<b.count { b.data[i] = 0 } }
            } else if let l = m as? Linear {
                initialize(l.weight, type, gain: gain, rng: &rng)
                if let b = l.bias { for i in 0..<b.count { b.data[i] = 0 } }
            } else if let bn = m as? BatchNorm2d {
                if let w = bn.weight { for i in 0..<w.count { w.data[i] = 1 + gain * rng.nextNormal() } }
                if let b = bn.bias { for i in 0..<b.count { b.data[i] = 0 } }
            }
        }
    }
}
