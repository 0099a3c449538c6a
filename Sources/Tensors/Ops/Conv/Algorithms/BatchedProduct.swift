import CKernels
import Foundation

/// The batched path of conv2d and convTranspose2d (`ConvKernel.batchedFewColumns`,
/// `.batchedPacked`; `ConvPolicy.usesBatched`): without
/// gradients, all images of a batch go through one product with the weights, packed once,
/// instead of one OpenBLAS product per image that re-packs 2-32 MB of weights each time.
///
/// Batch invariance: both kernels (`tr_gemm_fewcols`, `tr_gemm_packed`) compute every output
/// as one multiply-add chain over the reduction in a fixed order, whatever the other columns
/// are and wherever the column sits, and the kernel is chosen from the plane alone. An image
/// therefore gets the same bits alone, repeated, or anywhere in any batch.
///
/// Images are packed a group at a time (`ConvPolicy.batchedGroupBytes`), so that the packed
/// columns are still in cache when the product reads them; the grouping never changes a result.

enum BatchedProduct: ConvAlgorithm {
    /// out[n] = the convolution of x[n], all images in one product (forward without gradients).
    static func apply(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                      accumulate: Bool) {
        precondition(!accumulate, "the batched product only writes a forward output")
        batchedConv(x, p.g, images: p.images, weight: w, outputs: p.outputs, out: out, weightTensor: p.weight,
                    fewColumns: kernel == .batchedFewColumns, policy: p.policy)
    }

    /// out[n] = the adjoint (transposed convolution) of y[n], all images in one product.
    static func adjoint(_ p: ConvProblem, kernel: ConvKernel, y: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                        accumulate: Bool) {
        precondition(!accumulate, "the batched product only writes a forward output")
        out.update(repeating: 0, count: p.images * p.inputFloats)
        batchedTransposedConv(y, p.g, images: p.images, channels: p.outputs, weight: w, out: out, weightTensor: p.weight,
                              fewColumns: kernel == .batchedFewColumns, policy: p.policy)
    }
}

/// op(A) (M, K) packed once into `tr_gemm_pack_a`'s panels (once per call: the weights), for
/// the products of all image groups.
struct PackedA {
    private var panels: [Float]
    let m: Int, k: Int
    var count: Int { panels.count }

    init(_ a: UnsafePointer<Float>, lda: Int, transA: Bool, m: Int, k: Int) {
        self.m = m
        self.k = k
        let count = (m + Int(TR_GEMM_MR) - 1) / Int(TR_GEMM_MR)
        panels = uninitializedFloats(tr_gemm_packed_a_size(m, k))
        panels.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            parallelChunks(count, work: m * k, minimumWork: 1 << 18) { p0, p1 in
                tr_gemm_pack_a(a, lda, transA ? 1 : 0, m, k, base, p0, p1)
            }
        }
    }

    /// C = op(A) * B, B (K, n) in `tr_gemm_pack_b`'s panels. C's columns may be split into
    /// images of `imageColumns` columns (a multiple of `TR_GEMM_NR`), `imageStride` floats apart.
    func multiply(packedB: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, n: Int,
                  imageColumns: Int? = nil, imageStride: Int = 0) {
        GEMMCounter.count(m: m, n: n, k: k)
        let count = (m + Int(TR_GEMM_MR) - 1) / Int(TR_GEMM_MR), (m, k) = (m, k)
        panels.withUnsafeBufferPointer { p in
            let base = p.baseAddress!
            parallelChunks(count, work: m * k * n, minimumWork: 1 << 18) { p0, p1 in
                tr_gemm_packed(base, packedB, c, ldc, m, n, k, p0, p1, 0, imageColumns ?? n, imageStride)
            }
        }
    }
}

/// C (M, ldb) = op(A) (M, K) * B (K, ldb): `n` real columns, B's and C's rows `ldb` apart, B's
/// padding zero; the few-column kernel when `fewColumns` (the plan's choice for the plane),
/// else the packed one. `weightTensor`: A's tensor, whose packed panels are then kept (`PackedWeights`).
func batchedGEMM(a: UnsafePointer<Float>, lda: Int, transA: Bool, b: UnsafePointer<Float>, ldb: Int,
                 c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int, fewColumns: Bool, weightTensor: Tensor?, policy: ConvPolicy) {
    if fewColumns {
        GEMMCounter.count(m: m, n: n, k: k)
        parallelChunks(m, work: m * k * ldb, minimumWork: 1 << 18) { i0, i1 in
            tr_gemm_fewcols(a, lda, transA ? 1 : 0, b, ldb, c, ldb, n, k, i0, i1)
        }
        return
    }
    var bp = uninitializedFloats(tr_gemm_packed_b_size(n, k))
    bp.withUnsafeMutableBufferPointer { bpp in
        let panels = (n + Int(TR_GEMM_NR) - 1) / Int(TR_GEMM_NR)
        parallelChunks(panels, work: n * k, minimumWork: 1 << 18) { q0, q1 in
            tr_gemm_pack_b(b, ldb, k, n, bpp.baseAddress!, q0, q1)
        }
        let pa = weightTensor.map { t in
            PackedWeights.cached(t, kind: transA ? "gemm transposed" : "gemm", floats: m * k, policy: policy) {
                PackedA(a, lda: lda, transA: transA, m: m, k: k)
            }
        } ?? PackedA(a, lda: lda, transA: transA, m: m, k: k)
        pa.multiply(packedB: bpp.baseAddress!, c: c, ldc: ldb, n: n)
    }
}

/// Columns of a side-by-side batch: `n` rounded up to whole 16-column vectors.
@inline(__always) func batchedStride(_ n: Int) -> Int { (n + 15) / 16 * 16 }

/// Images per packed group: at least one, at most `images`, about `bytesPerImage` each.
private func groupSize(images: Int, bytesPerImage: Int, policy: ConvPolicy) -> Int {
    max(1, min(images, policy.batchedGroupBytes / max(1, bytesPerImage)))
}

private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

/// conv2d's batched path: out[n] (O, P) = W (O, K) * cols(x[n]) for all N images.
/// 4x4/2/1 convolutions whose output plane splits into units of whole rows that are whole
/// 32-column panels are unfolded unit by unit straight into the packed layout and the product
/// written straight into `out`; other geometries place the images' column matrices side by side.
func batchedConv(_ x: UnsafePointer<Float>, _ g: ConvGeometry, images N: Int, weight: UnsafePointer<Float>, outputs O: Int,
                 out: UnsafeMutablePointer<Float>, weightTensor: Tensor, fewColumns: Bool, policy: ConvPolicy) {
    let K = g.colRows, P = g.colCols, chw = g.channels * g.height * g.width, ow = g.outW, nr = Int(TR_GEMM_NR)
    let unitRows = nr / gcd(ow, nr)   // output rows per unit: unitRows * ow is a multiple of 32
    if g.isK4S2P1 && !fewColumns && g.outH % unitRows == 0 {
        let unitCols = unitRows * ow, unitPanels = unitCols / nr, unitsPerImage = g.outH / unitRows
        let group = groupSize(images: N, bytesPerImage: K * P * 4, policy: policy)
        let a = PackedWeights.cached(weightTensor, kind: "conv", floats: O * K, policy: policy) { PackedA(weight, lda: K, transA: false, m: O, k: K) }
        var bp = uninitializedFloats(K * group * P)
        bp.withUnsafeMutableBufferPointer { bpp in
            let b = bpp.baseAddress!
            for g0 in stride(from: 0, to: N, by: group) {
                let gn = min(group, N - g0)
                parallelChunks(gn * unitsPerImage, work: K * gn * P, minimumWork: 1 << 18) { u0, u1 in
                    let scratchCount = 4 * (ow + 2), tmpCount = unitPanels > 1 ? K * unitCols : 0
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: scratchCount + tmpCount) { s in
                        let scratch = s.baseAddress!, tmp = scratch + scratchCount
                        for u in u0..<u1 {
                            let n = g0 + u / unitsPerImage, y0 = (u % unitsPerImage) * unitRows
                            let dst = b + u * unitPanels * nr * K
                            if unitPanels == 1 {
                                tr_im2col_k4s2p1(x + n * chw, g.height, g.width, g.outH, ow, dst, nr, y0, y0 + unitRows,
                                                 0, g.channels, scratch)
                            } else {
                                tr_im2col_k4s2p1(x + n * chw, g.height, g.width, g.outH, ow, tmp, unitCols, y0, y0 + unitRows,
                                                 0, g.channels, scratch)
                                tr_gemm_pack_b(tmp, unitCols, K, unitCols, dst, 0, unitPanels)
                            }
                        }
                    }
                }
                a.multiply(packedB: b, c: out + g0 * O * P, ldc: P, n: gn * P, imageColumns: P, imageStride: O * P)
            }
        }
        return
    }
    // out[., o, .] (O, N*P) = W (O, K) * [cols(x[0]) ... cols(x[N-1])] (K, N*P)
    let np = N * P, ld = batchedStride(np)
    var bcols = [Float](repeating: 0, count: K * ld), prod = uninitializedFloats(O * ld)
    bcols.withUnsafeMutableBufferPointer { bc in
        for n in 0..<N {
            im2col(x + n * chw, g, bc.baseAddress! + n * P, outRows: 0..<g.outH, rowStride: ld)
        }
        prod.withUnsafeMutableBufferPointer { pp in
            batchedGEMM(a: weight, lda: K, transA: false, b: bc.baseAddress!, ldb: ld, c: pp.baseAddress!, m: O, n: np, k: K,
                        fewColumns: fewColumns, weightTensor: weightTensor, policy: policy)
            for n in 0..<N { for o in 0..<O {
                (out + (n * O + o) * P).update(from: pp.baseAddress! + o * ld + n * P, count: P)
            } }
        }
    }
}

/// convTranspose2d's batched path: cols(n) (K, P) = W^T (K, Cin) * x[n] (Cin, P) for all N
/// images, then out[n] += col2im(cols(n)); `g` is the geometry of the matching convolution
/// (its input is the output plane), `out` zero on entry. Planes of whole 32-column panels are
/// packed straight from x, a group of images at a time, each group folded while in cache.
func batchedTransposedConv(_ x: UnsafePointer<Float>, _ g: ConvGeometry, images N: Int, channels Cin: Int,
                           weight: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, weightTensor: Tensor, fewColumns: Bool,
                           policy: ConvPolicy) {
    let K = g.colRows, P = g.colCols, outPlane = g.channels * g.height * g.width, nr = Int(TR_GEMM_NR)
    if !fewColumns && P % nr == 0 {
        let panelsPerImage = P / nr
        let group = groupSize(images: N, bytesPerImage: max(K, Cin) * P * 4, policy: policy)
        let a = PackedWeights.cached(weightTensor, kind: "convT", floats: K * Cin, policy: policy) { PackedA(weight, lda: K, transA: true, m: K, k: Cin) }
        var bp = uninitializedFloats(Cin * group * P), cols = uninitializedFloats(K * group * P)
        bp.withUnsafeMutableBufferPointer { bpp in
            cols.withUnsafeMutableBufferPointer { cp in
                let b = bpp.baseAddress!, c = cp.baseAddress!
                for g0 in stride(from: 0, to: N, by: group) {
                    let gn = min(group, N - g0)
                    parallelChunks(gn * panelsPerImage, work: Cin * gn * P, minimumWork: 1 << 18) { q0, q1 in
                        for q in q0..<q1 {
                            let n = g0 + q / panelsPerImage, j = (q % panelsPerImage) * nr
                            tr_gemm_pack_b(x + n * Cin * P + j, P, Cin, nr, b + q * nr * Cin, 0, 1)
                        }
                    }
                    a.multiply(packedB: b, c: c, ldc: P, n: gn * P, imageColumns: P, imageStride: K * P)
                    for i in 0..<gn { col2im(UnsafePointer(c + i * K * P), g, out + (g0 + i) * outPlane) }
                }
            }
        }
        return
    }
    // cols (K, N*P) = W^T (K, Cin) * [x[0] ... x[N-1]] (Cin, N*P); out[n] = col2im(its columns)
    let ld = batchedStride(N * P)
    var xb = [Float](repeating: 0, count: Cin * ld), cols = uninitializedFloats(K * ld)
    xb.withUnsafeMutableBufferPointer { bp in
        cols.withUnsafeMutableBufferPointer { cp in
            for n in 0..<N { for c in 0..<Cin {
                (bp.baseAddress! + c * ld + n * P).update(from: x + (n * Cin + c) * P, count: P)
            } }
            batchedGEMM(a: weight, lda: K, transA: true, b: bp.baseAddress!, ldb: ld, c: cp.baseAddress!, m: K, n: N * P, k: Cin,
                        fewColumns: fewColumns, weightTensor: weightTensor, policy: policy)
            for n in 0..<N {
                col2im(UnsafePointer(cp.baseAddress! + n * P), g, out + n * outPlane, rowStride: ld)
            }
        }
    }
}

