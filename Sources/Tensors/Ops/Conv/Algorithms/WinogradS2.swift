import CKernels

/// Winograd over phase images for the 4x4, stride-2, padding-1 convolutions and transposed
/// convolutions of the U-Net and PatchGAN. Such a convolution is a stride-1 2x2 correlation
/// over the input's four phase images (every other row and column), so the layer becomes
/// `planes` matrix products (O x 4C) by (4C x tiles) between cheap transforms. Two tile sizes
/// (`Variant`): F(2x2, 2x2), 9 products per channel pair for each 2x2 output tile instead of
/// 16, with transforms that only add and subtract (CKernels/winograd_s2.c), and F(4x4, 2x2),
/// 25 for each 4x4 tile instead of 64 (CKernels/winograd_s2t4.c; points 0, +-1, 2), for
/// planes whose sides are multiples of 4. A transposed convolution is the adjoint of a
/// convolution in its input, so it runs the same products transposed.
///
/// Each image is its own set of products (the same shapes whatever the batch), so an image's
/// result has the same bits alone or in any batch. Results differ from the direct sums by
/// rounding only (tests: against the naive double-precision convolution).
///
/// Training (gradients recorded) uses it on planes of at least `winogradS2TrainMinTiles`
/// tiles: the forward pass as above, the input gradient through the adjoint (a convolution's
/// is a transposed convolution of the output gradient and vice versa), and the weight
/// gradient as `planes` products (O x T) by (T x 4C) of the transformed output gradient and input,
/// folded back by the adjoint of the filter transform (`weightGradient`). Nothing is kept
/// between calls there (the weights change every step, and the transformed filters would
/// take 2.25x (F(2x2, 2x2)) or 6.25x (F(4x4, 2x2)) the weights' memory).
enum WinogradS2: ConvAlgorithm {
    /// One tile size: its transforms (the same arguments and roles for both, see
    /// winograd_s2.h) and the number of transformed planes.
    struct Variant {
        typealias Filter = (UnsafePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?, Int, Int) -> Void
        typealias Planes = (UnsafePointer<Float>?, Int, Int, Int, UnsafeMutablePointer<Float>?, Int, Int, Int, Int) -> Void
        typealias Tiles = (UnsafePointer<Float>?, Int, Int, Int, Int, UnsafeMutablePointer<Float>?, Int, Int) -> Void
        typealias Gout = (UnsafePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?, Int, Int, Int, Int) -> Void
        typealias FilterAdjoint = (UnsafePointer<Float>?, Int, Int, UnsafeMutablePointer<Float>?, Int32, Int, Int) -> Void
        /// Output tile side (2 or 4) and transformed planes ((side + 1)^2).
        let side: Int, planes: Int
        let name: String
        let filter: Filter, input: Planes, output: Tiles, gout: Gout, inputAdjoint: Tiles, filterAdjoint: FilterAdjoint

        /// Tiles of one image's output plane (oh x ow).
        func tiles(_ g: ConvGeometry) -> Int { (g.outH / side) * (g.outW / side) }
    }

    static let tile2 = Variant(side: 2, planes: 9, name: "winograd-s2", filter: tr_ws2_filter, input: tr_ws2_input, output: tr_ws2_output,
                               gout: tr_ws2_gout, inputAdjoint: tr_ws2_input_adjoint, filterAdjoint: tr_ws2_filter_adjoint)
    static let tile4 = Variant(side: 4, planes: 25, name: "winograd-s2t4", filter: tr_ws4_filter, input: tr_ws4_input, output: tr_ws4_output,
                               gout: tr_ws4_gout, inputAdjoint: tr_ws4_input_adjoint, filterAdjoint: tr_ws4_filter_adjoint)

    static func variant(_ kernel: ConvKernel) -> Variant {
        switch kernel {
        case .winogradS2: tile2
        case .winogradS2Tile4: tile4
        default: preconditionFailure("\(kernel.rawValue) is not Winograd over phase images")
        }
    }

    /// out[n] (+)= the convolution of x[n], every image (`writeOrAdd` when accumulating).
    static func apply(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let v = variant(kernel)
        writeOrAdd(out, count: p.images * p.outputFloats, fresh: !accumulate) { o in
            v.conv(x, p.g, images: p.images, weight: w, outputs: p.outputs, out: o, weightTensor: p.weight, keep: p.keep, policy: p.policy)
        }
    }

    /// out[n] (+)= the adjoint (transposed convolution) of y[n].
    static func adjoint(_ p: ConvProblem, kernel: ConvKernel, y: UnsafePointer<Float>, w: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let v = variant(kernel)
        writeOrAdd(out, count: p.images * p.inputFloats, fresh: !accumulate) { o in
            v.transposed(y, p.g, images: p.images, channels: p.outputs, weight: w, out: o, weightTensor: p.weight, keep: p.keep, policy: p.policy)
        }
    }

    /// dW (+)= the weight gradient over all images.
    static func weightGradient(_ p: ConvProblem, kernel: ConvKernel, x: UnsafePointer<Float>, y: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>,
                               accumulate: Bool) {
        variant(kernel).weightGradient(x, p.g, images: p.images, gout: y, outputs: p.outputs, dw: dw, accumulate: accumulate)
    }
}

extension WinogradS2.Variant {
    /// Work estimates for splitting the transforms: per tile and channel, in and out.
    private var inWork: Int { 4 * planes }
    private var outWork: Int { side * side * 4 }

    /// dw (O, C, 4, 4) = (or += when `accumulate`) the weight gradient of the convolution of
    /// x[n] (C, 2oh, 2ow) giving an output whose gradient is gout[n] (O, oh, ow), n < images:
    /// dU[xi] (O, 4C) = sum over images of Gt[xi] (O, T) * V[xi]^T (T, 4C), then G^T dU G.
    func weightGradient(_ x: UnsafePointer<Float>, _ g: ConvGeometry, images N: Int, gout: UnsafePointer<Float>, outputs O: Int,
                        dw: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let C = g.channels, oh = g.outH, ow = g.outW, T = tiles(g), K4 = 4 * C, chw = C * g.height * g.width, P = planes
        var v = uninitializedFloats(P * K4 * T), gt = uninitializedFloats(P * O * T), du = uninitializedFloats(P * O * K4)
        v.withUnsafeMutableBufferPointer { vp in
            gt.withUnsafeMutableBufferPointer { gp in
                du.withUnsafeMutableBufferPointer { dp in
                    let vb = vp.baseAddress!, gb = gp.baseAddress!, db = dp.baseAddress!
                    for n in 0..<N {
                        parallelChunks(C, work: C * T * inWork, minimumWork: 1 << 17) { lo, hi in
                            input(x + n * chw, C, oh, ow, vb, K4 * T, T, lo, hi)
                        }
                        parallelChunks(O, work: O * T * outWork, minimumWork: 1 << 17) { lo, hi in
                            self.gout(gout + n * O * oh * ow, oh, ow, gb, O * T, T, lo, hi)
                        }
                        sgemmBatch(transB: true, count: P, m: O, n: K4, k: T, a: gb, strideA: O * T, lda: T, b: vb, strideB: K4 * T, ldb: T,
                                   beta: n == 0 ? 0 : 1, c: db, strideC: O * K4, ldc: K4)
                    }
                    parallelChunks(O * C, work: O * C * inWork, minimumWork: 1 << 18) { lo, hi in
                        filterAdjoint(db, O, C, dw, accumulate ? 1 : 0, lo, hi)
                    }
                }
            }
        }
    }

    /// The transformed filter U (planes, O, 4C) of w (O, C, 4, 4).
    func transformedFilter(_ w: UnsafePointer<Float>, outputs O: Int, channels C: Int) -> [Float] {
        var u = uninitializedFloats(planes * O * 4 * C)
        u.withUnsafeMutableBufferPointer { up in
            parallelChunks(O * C, work: O * C * inWork, minimumWork: 1 << 18) { lo, hi in filter(w, O, C, up.baseAddress!, lo, hi) }
        }
        return u
    }

    /// out[n] (O, outH, outW) = the convolution of x[n] (C, H, W) by w (O, C, 4, 4), n < images.
    func conv(_ x: UnsafePointer<Float>, _ g: ConvGeometry, images N: Int, weight: UnsafePointer<Float>, outputs O: Int,
              out: UnsafeMutablePointer<Float>, weightTensor: Tensor, keep: Bool, policy: ConvPolicy) {
        let C = g.channels, oh = g.outH, ow = g.outW, T = tiles(g), K4 = 4 * C, chw = C * g.height * g.width
        // V (planes, 4C, T) = B^T d B per tile; M[xi] (O, T) = U[xi] (O, 4C) * V[xi] (4C, T); out[n] = A^T M A
        products(images: N, tiles: T, inRows: K4, outRows: O, weightTensor: weightTensor, keep: keep, policy: policy, kind: name + " conv",
                 filter: { transformedFilter(weight, outputs: O, channels: C) }, transA: false, lda: K4,
                 transformIn: { n, v, plane, ld in
                     parallelChunks(C, work: C * T * inWork, minimumWork: 1 << 17) { lo, hi in
                         input(x + n * chw, C, oh, ow, v, plane, ld, lo, hi)
                     }
                 },
                 transformOut: { n, m, plane, ld in
                     parallelChunks(O, work: O * T * outWork, minimumWork: 1 << 17) { lo, hi in
                         output(m, plane, ld, oh, ow, out + n * O * oh * ow, lo, hi)
                     }
                 })
    }

    /// out[n] (Cout, 2H, 2W) = the transposed convolution of x[n] (Cin, H, W) by w (Cin, Cout, 4, 4):
    /// the adjoint of the convolution with geometry `g` (channels Cout, plane 2H x 2W, output H x W).
    func transposed(_ x: UnsafePointer<Float>, _ g: ConvGeometry, images N: Int, channels Cin: Int,
                    weight: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, weightTensor: Tensor, keep: Bool, policy: ConvPolicy) {
        let C = g.channels, oh = g.outH, ow = g.outW, T = tiles(g), K4 = 4 * C, outPlane = C * g.height * g.width
        // Gt (planes, Cin, T) = A x A^T per tile; Z[xi] (4C, T) = U[xi]^T (4C, Cin) * Gt[xi] (Cin, T); out[n] = sum of B Z B^T
        products(images: N, tiles: T, inRows: Cin, outRows: K4, weightTensor: weightTensor, keep: keep, policy: policy, kind: name + " transposed",
                 filter: { transformedFilter(weight, outputs: Cin, channels: C) }, transA: true, lda: K4,
                 transformIn: { n, gt, plane, ld in
                     parallelChunks(Cin, work: Cin * T * outWork, minimumWork: 1 << 17) { lo, hi in
                         gout(x + n * Cin * oh * ow, oh, ow, gt, plane, ld, lo, hi)
                     }
                 },
                 transformOut: { n, z, plane, ld in
                     parallelChunks(C, work: C * T * inWork, minimumWork: 1 << 17) { lo, hi in
                         inputAdjoint(z, plane, ld, oh, ow, out + n * outPlane, lo, hi)
                     }
                 })
    }

    /// The products of every image: out[xi] (outRows, T) = op(A[xi]) * in[xi] (inRows, T) for
    /// each of the `planes` planes xi, A[xi] at xi * inRows * outRows in `filter()`'s result (the transformed weights, derived
    /// once per weight version through `PackedWeights` unless `keep` is false, and packed there for the packed kernel).
    /// `transformIn(n, in, plane, ld)` writes image n's transformed planes, `transformOut(n, out, plane, ld)` consumes its products (planes
    /// `plane` floats apart, rows `ld` apart, the image's tiles from column 0). Images with
    /// at least `winogradS2PerImageTiles` 2x2 tiles' worth of positions each get their own OpenBLAS products; smaller
    /// ones go through the packed kernel a group at a time, side by side, so that the weights
    /// are packed once per call, not once per image. Both give an image the same bits in any batch.
    private func products(images N: Int, tiles T: Int, inRows: Int, outRows: Int, weightTensor: Tensor, keep: Bool, policy: ConvPolicy, kind: String,
                          filter: () -> [Float], transA: Bool, lda: Int,
                          transformIn: (Int, UnsafeMutablePointer<Float>, Int, Int) -> Void,
                          transformOut: (Int, UnsafePointer<Float>, Int, Int) -> Void) {
        let weightPlane = inRows * outRows, P = planes
        if T * side * side >= 4 * policy.winogradS2PerImageTiles {
            let u = keep ? PackedWeights.cached(weightTensor, kind: kind, floats: P * weightPlane, policy: policy, filter) : filter()
            var bin = uninitializedFloats(P * inRows * T), bout = uninitializedFloats(P * outRows * T)
            bin.withUnsafeMutableBufferPointer { ip in
                bout.withUnsafeMutableBufferPointer { op in
                    let ib = ip.baseAddress!, ob = op.baseAddress!
                    u.withUnsafeBufferPointer { up in
                        for n in 0..<N {
                            transformIn(n, ib, inRows * T, T)
                            sgemmBatch(transA: transA, count: P, m: outRows, n: T, k: inRows, a: up.baseAddress!, strideA: weightPlane, lda: lda,
                                       b: ib, strideB: inRows * T, ldb: T, c: ob, strideC: outRows * T, ldc: T)
                            transformOut(n, UnsafePointer(ob), outRows * T, T)
                        }
                    }
                }
            }
            return
        }
        func pack() -> [PackedA] {
            filter().withUnsafeBufferPointer { up in
                (0..<P).map { xi in PackedA(up.baseAddress! + xi * weightPlane, lda: lda, transA: transA, m: outRows, k: inRows) }
            }
        }
        let packed = keep ? PackedWeights.cached(weightTensor, kind: kind + " packed", floats: P * weightPlane, policy: policy) { pack() } : pack()
        let group = max(1, min(N, policy.batchedGroupBytes / max(1, P * max(inRows, outRows) * T * 4)))
        let ld = group * T
        var bin = uninitializedFloats(P * inRows * ld), bout = uninitializedFloats(P * outRows * ld)
        var bp = uninitializedFloats(tr_gemm_packed_b_size(ld, inRows))
        bin.withUnsafeMutableBufferPointer { ip in
            bout.withUnsafeMutableBufferPointer { op in
                bp.withUnsafeMutableBufferPointer { pp in
                    let ib = ip.baseAddress!, ob = op.baseAddress!, pb = pp.baseAddress!
                    for n0 in stride(from: 0, to: N, by: group) {
                        let gn = min(group, N - n0), cols = gn * T
                        for i in 0..<gn { transformIn(n0 + i, ib + i * T, inRows * ld, ld) }
                        let panels = (cols + Int(TR_GEMM_NR) - 1) / Int(TR_GEMM_NR)
                        for xi in 0..<P {
                            parallelChunks(panels, work: cols * inRows, minimumWork: 1 << 17) { q0, q1 in
                                tr_gemm_pack_b(ib + xi * inRows * ld, ld, inRows, cols, pb, q0, q1)
                            }
                            packed[xi].multiply(packedB: pb, c: ob + xi * outRows * ld, ldc: ld, n: cols)
                        }
                        for i in 0..<gn { transformOut(n0 + i, UnsafePointer(ob + i * T), outRows * ld, ld) }
                    }
                }
            }
        }
    }
}
