import COpenBLAS

/// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C,
/// op(A) is M x K, op(B) is K x N, C is M x N. The only entry point to BLAS.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    if GEMMCounter.enabled { GEMMCounter.flops += 2 * Double(m) * Double(n) * Double(k) }
    if k == 0 {
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        else if beta != 1 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
        return
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Counts the floating-point operations of every `sgemm`, and of the direct convolution
/// kernels that stand in for some, while enabled (benchmarks: the work of a training step,
/// for its GFLOP/s). Not thread-safe; enable only around serial code.
public enum GEMMCounter {
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) public static var flops: Double = 0

    /// Adds the work of a product of an m x k by a k x n matrix, done some other way.
    @inline(__always)
    static func count(m: Int, n: Int, k: Int) {
        if enabled { flops += 2 * Double(m) * Double(n) * Double(k) }
    }
}

/// Naive reference for `sgemm` (tests compare the BLAS path with it).
public func sgemmNaive(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                       alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                       b: UnsafePointer<Float>, ldb: Int,
                       beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var s: Double = 0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            c[i * ldc + j] = alpha * Float(s) + (beta == 0 ? 0 : beta * c[i * ldc + j])
        }
    }
}

/// What OpenBLAS reports about itself: its kernel family and thread count.
public enum BLASInfo {
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
    public static var config: String { openblas_get_config().map { String(cString: $0) } ?? "unknown" }
    public static var threads: Int { Int(openblas_get_num_threads()) }
}
