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
    _ = BLASThreads.single
    let rowBlocks = (m + BLASGrid.rows - 1) / BLASGrid.rows, colBlocks = (n + BLASGrid.columns - 1) / BLASGrid.columns
    let cells = rowBlocks * colBlocks
    // One cell of C over depth range p0..<p1, into `dst` (ldd) with `beta`.
    func cell(_ index: Int, _ p0: Int, _ p1: Int, _ dst: UnsafeMutablePointer<Float>, _ ldd: Int, _ beta: Float) {
        let i0 = (index / colBlocks) * BLASGrid.rows, j0 = (index % colBlocks) * BLASGrid.columns
        let mi = min(BLASGrid.rows, m - i0), nj = min(BLASGrid.columns, n - j0)
        let ai = transA ? a + p0 * lda + i0 : a + i0 * lda + p0, bj = transB ? b + j0 * ldb + p0 : b + p0 * ldb + j0
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(mi), Int32(nj), Int32(p1 - p0), alpha, ai, Int32(lda), bj, Int32(ldb), beta, dst + i0 * ldd + j0, Int32(ldd))
    }
    let parts = BLASGrid.depthParts(cells: cells, k: k)
    if parts == 1 {
        if cells == 1 { cell(0, 0, k, c, ldc, beta); return }
        parallelChunks(cells, work: m * n * k, minimumWork: 1 << 21) { lo, hi in for i in lo..<hi { cell(i, 0, k, c, ldc, beta) } }
        return
    }
    // A deep product with a small C (a weight gradient summed over every pixel): the depth is
    // cut into fixed parts, each summed into its own buffer, then added in order.
    var partial = [Float](repeating: 0, count: parts * m * n)
    partial.withUnsafeMutableBufferPointer { pp in
        let base = pp.baseAddress!
        parallelChunks(parts * cells, work: m * n * k, minimumWork: 1 << 21) { lo, hi in
            for t in lo..<hi {
                let part = t / cells
                let p0 = k * part / parts, p1 = k * (part + 1) / parts
                cell(t % cells, p0, p1, base + part * m * n, n, 0)
            }
        }
        parallelChunks(m, work: m * n * parts, minimumWork: 1 << 18) { i0, i1 in
            for i in i0..<i1 {
                for j in 0..<n {
                    var s = base[i * n + j]
                    for part in 1..<parts { s += base[part * m * n + i * n + j] }
                    let dst = c + i * ldc + j
                    dst.pointee = beta == 0 ? s : beta * dst.pointee + s
                }
            }
        }
    }
}

/// `count` independent products of one shape, C_i = op(A_i) op(B_i) + beta C_i, with A_i at
/// a + i * strideA (likewise B, C): the same cells as `sgemm` gives each (so the same bits),
/// but all products' cells shared among the threads at once, so that many small products
/// (a Winograd convolution's 16-36) keep every thread busy and wait once, not once each.
public func sgemmBatch(transA: Bool = false, transB: Bool = false, count: Int, m: Int, n: Int, k: Int,
                       a: UnsafePointer<Float>, strideA: Int, lda: Int, b: UnsafePointer<Float>, strideB: Int, ldb: Int,
                       beta: Float = 0, c: UnsafeMutablePointer<Float>, strideC: Int, ldc: Int) {
    if count == 0 || m == 0 || n == 0 { return }
    let rowBlocks = (m + BLASGrid.rows - 1) / BLASGrid.rows, colBlocks = (n + BLASGrid.columns - 1) / BLASGrid.columns
    let cells = rowBlocks * colBlocks
    guard k > 0, count > 1, BLASGrid.depthParts(cells: cells, k: k) == 1 else {
        for i in 0..<count {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
                  beta: beta, c: c + i * strideC, ldc: ldc)
        }
        return
    }
    _ = BLASThreads.single
    if GEMMCounter.enabled { GEMMCounter.flops += 2 * Double(count) * Double(m) * Double(n) * Double(k) }
    parallelChunks(count * cells, work: count * m * n * k, minimumWork: 1 << 21) { lo, hi in
        for t in lo..<hi {
            let product = t / cells, index = t % cells
            let i0 = (index / colBlocks) * BLASGrid.rows, j0 = (index % colBlocks) * BLASGrid.columns
            let mi = min(BLASGrid.rows, m - i0), nj = min(BLASGrid.columns, n - j0)
            let ap = a + product * strideA, bp = b + product * strideB
            let ai = transA ? ap + i0 : ap + i0 * lda, bj = transB ? bp + j0 * ldb : bp + j0
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(mi), Int32(nj), Int32(k), 1, ai, Int32(lda), bj, Int32(ldb), beta,
                        c + product * strideC + i0 * ldc + j0, Int32(ldc))
        }
    }
}

/// The fixed grid `sgemm` cuts C into: each cell is one single-threaded OpenBLAS product,
/// the cells are shared among our threads. OpenBLAS's own threading is off because its
/// results depend on its thread count on some CPUs (Haswell kernels: a 128 x 4096 x 128
/// product differs in 5 % of its values between 1 and 2 threads); a grid that depends only
/// on the shape gives the same bits at every thread count.
enum BLASGrid {
    /// Rows of C per cell (a multiple of every OpenBLAS sgemm kernel's unroll).
    static let rows = 128
    /// Columns of C per cell.
    static let columns = 256
    /// Depth per part when the depth is cut (see `depthParts`).
    static let depth = 4096

    /// Parts the depth k is cut into: 1 when C has cells enough to share (8), else one per
    /// `depth` of k, at most 16. Depends only on the shape.
    static func depthParts(cells: Int, k: Int) -> Int {
        cells >= 8 || k < 2 * depth ? 1 : min(16, k / depth)
    }
}

/// OpenBLAS runs single-threaded (set once, before its first product).
enum BLASThreads {
    static let single: Void = { openblas_set_num_threads(1) }()
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
