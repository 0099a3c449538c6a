/// Which algorithm computes each pass of a convolution: the rules, in priority order, and the
/// problem the algorithms are given.
///
/// A convolution C with geometry `g` (input plane, kernel, stride, padding) and `outputs`
/// channels has three operations, and each algorithm (one file each in `Algorithms/`)
/// implements those it can:
/// - apply: y = C x (conv2d's forward; a transposed convolution's input gradient);
/// - adjoint: x = C^T y (conv2d's input gradient; a transposed convolution's forward);
/// - weight gradient: dW from an input-plane x and an output-plane gradient y (for a
///   transposed convolution, the roles of its input and output gradient swap).
/// A transposed convolution is described by its matching convolution (whose input plane is
/// the transposed one's output), so both ops share every algorithm.

/// One convolution as the algorithms see it.
struct ConvProblem {
    /// The geometry of the (matching) convolution.
    let g: ConvGeometry
    /// Output channels of the (matching) convolution: O of conv2d, Cin of convTranspose2d.
    let outputs: Int
    let images: Int
    /// The weight tensor, (outputs, channels, kH, kW), for the weight cache.
    let weight: Tensor
    let policy: ConvPolicy
    /// Whether derived weights may be kept between calls (nothing records gradients).
    let keep: Bool

    var channels: Int { g.channels }
    /// Output positions of one image (the (matching) convolution's output plane).
    var positions: Int { g.outH * g.outW }
    /// Floats of one image's input plane and output plane.
    var inputFloats: Int { g.channels * g.height * g.width }
    var outputFloats: Int { outputs * positions }
}

/// The algorithm of every pass of one call: forward, and (when gradients are recorded) the
/// input and weight gradients.
struct ConvPlan: Equatable {
    var forward: ConvKernel
    var inputGradient: ConvKernel?
    var weightGradient: ConvKernel?

    private init(_ forward: ConvKernel, input: ConvKernel, weight: ConvKernel, recording: Bool) {
        self.forward = forward
        inputGradient = recording ? input : nil
        weightGradient = recording ? weight : nil
    }

    private init(all k: ConvKernel, recording: Bool) { self.init(k, input: k, weight: k, recording: recording) }

    /// conv2d's plan. The rules, first match wins:
    /// 1. at most `directMaxOutputs` outputs, stride 1: direct correlations, every pass;
    /// 2. 4x4 stride-2 padding-1 with many channels: Winograd over phase images, F(4x4, 2x2)
    ///    where the output plane's sides are multiples of 4, else F(2x2, 2x2), every pass
    ///    (training only on large planes);
    /// 3. training, 2+ images, small 4x4 stride-2 planes: one product over all images'
    ///    columns, every pass;
    /// 4. 1x1 stride-1 unpadded: one product per image, every pass;
    /// 5. otherwise the forward pass is Winograd F(4x4, 3x3) / F(2x2, 3x3) / F(3x3, 4x4) / F(2x2, 4x4) where it applies,
    ///    else without gradients one product over all images for small planes (few-column
    ///    kernel for the tiniest, packed kernel else), else im2col + GEMM; the weight gradient
    ///    is Winograd where the forward is, else im2col + GEMM; the input gradient is a
    ///    stride-1 convolution of the output gradient (Winograd where that convolution
    ///    qualifies, else GEMM), else GEMM + col2im.
    static func conv(_ g: ConvGeometry, outputs O: Int, images N: Int, recording: Bool, policy p: ConvPolicy) -> ConvPlan {
        if p.usesDirect(outputs: O, g) { return ConvPlan(all: .direct, recording: recording) }
        if let k = p.winogradS2Kernel(g, outputs: O, recording: recording) { return ConvPlan(all: k, recording: recording) }
        if p.usesBatchColumns(g, images: N, recording: recording) { return ConvPlan(all: .batchColumns, recording: recording) }
        if g.isPointwise { return ConvPlan(all: .pointwise, recording: recording) }
        let winograd = p.winograd(g, outputs: O)
        let forward = winograd ?? (p.usesBatched(g, recording: recording) ? p.batchedKernel(g) : .im2colGEMM)
        var input = ConvKernel.gemmCol2im
        if let gt = p.inputGradientAsConv(g, outputs: O) {
            switch p.winograd(gt, outputs: g.channels) {
            case .winograd3x3: input = .gradientConvWinograd3x3
            case .winograd3x3Tile4: input = .gradientConvWinograd3x3Tile4
            case .winograd4x4: input = .gradientConvWinograd4x4
            case .winograd4x4Tile3: input = .gradientConvWinograd4x4Tile3
            default: input = .gradientConvGEMM
            }
        }
        return ConvPlan(forward, input: input, weight: winograd ?? .im2colGEMM, recording: recording)
    }

    /// convTranspose2d's plan (`g` of the matching convolution, `outputs` its Cin): Winograd
    /// over phase images as rule 2 above, every pass; one product over all images' columns as
    /// rule 3; else the forward pass is one product over all images for small planes without
    /// gradients, else GEMM + col2im per image, and both gradients im2col + GEMM.
    static func transposed(_ g: ConvGeometry, outputs Cin: Int, images N: Int, recording: Bool, policy p: ConvPolicy) -> ConvPlan {
        if let k = p.winogradS2Kernel(g, outputs: Cin, recording: recording) { return ConvPlan(all: k, recording: recording) }
        if p.usesBatchColumns(g, images: N, recording: recording) { return ConvPlan(all: .batchColumns, recording: recording) }
        let forward = p.usesBatched(g, recording: recording) ? p.batchedKernel(g) : .gemmCol2im
        return ConvPlan(forward, input: .im2colGEMM, weight: .im2colGEMM, recording: recording)
    }

    /// Whether a call with these inputs records gradients.
    static func records(_ inputs: [Tensor?]) -> Bool {
        GradMode.isEnabled && inputs.contains { $0?.requiresGrad == true }
    }
}

extension ConvGeometry {
    /// 1x1, stride 1, unpadded: the input plane is its own column matrix.
    var isPointwise: Bool { kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0 }
}

/// The predicates of the rules, read from the policy's thresholds and switches (their
/// measurements: docs/BENCHMARKS.md, "Convolution policy").
extension ConvPolicy {
    /// Direct correlations: few outputs (per image a product (O x C*kH*kW) by (C*kH*kW x H*W)
    /// is then a few dot products per pixel), stride 1, rows of at most 8 taps.
    func usesDirect(outputs: Int, _ g: ConvGeometry) -> Bool {
        direct && outputs <= Self.directMaxOutputs && g.strideH == 1 && g.strideW == 1
            && g.dilationH == 1 && g.dilationW == 1 && g.kernelW <= 8 && g.colRows >= 8
    }

    /// Winograd for a stride-1 square 3x3 / 4x4 convolution with at least
    /// `winogradMinChannels` channels each way: F(4x4, 3x3) for 3x3 kernels on output planes
    /// of at least `winogradTile4MinPositions` positions, else F(2x2, 3x3); for 4x4 kernels
    /// F(3x3, 4x4) on planes of at least `winogradK4Tile3MinPositions`, else F(2x2, 4x4); nil
    /// where none applies.
    func winograd(_ g: ConvGeometry, outputs: Int) -> ConvKernel? {
        guard winograd, g.kernelH == g.kernelW, g.strideH == 1, g.strideW == 1, g.dilationH == 1, g.dilationW == 1,
              g.padH == g.padW, g.padH < g.kernelH,
              g.channels >= winogradMinChannels, outputs >= winogradMinChannels else { return nil }
        if g.kernelH == 3 { return g.outH * g.outW >= winogradTile4MinPositions ? .winograd3x3Tile4 : .winograd3x3 }
        if g.kernelH == 4 && winograd4x4 { return g.outH * g.outW >= winogradK4Tile3MinPositions ? .winograd4x4Tile3 : .winograd4x4 }
        return nil
    }

    /// Winograd over phase images: 4x4 stride-2 padding-1 on even planes with many channels,
    /// from `winogradS2MinTiles` 2x2 output tiles per image without gradients and from
    /// `winogradS2TrainMinTiles` with them (where `winogradS2Training` allows it); F(4x4, 2x2)
    /// (`winogradS2Tile4`) where both output sides are multiples of 4 (with gradients, on
    /// planes of at least `winogradS2Tile4TrainMinPositions` positions), else F(2x2, 2x2);
    /// nil where neither applies.
    func winogradS2Kernel(_ g: ConvGeometry, outputs: Int, recording: Bool) -> ConvKernel? {
        guard winograd && winogradS2 && g.isK4S2P1 && g.height == 2 * g.outH && g.width == 2 * g.outW
            && g.outH % 2 == 0 && g.outW % 2 == 0 && min(g.channels, outputs) >= winogradMinChannels else { return nil }
        let tiles = (g.outH / 2) * (g.outW / 2)
        guard recording ? winogradS2Training && tiles >= winogradS2TrainMinTiles : tiles >= winogradS2MinTiles else { return nil }
        let tile4 = winogradS2Tile4 && g.outH % 4 == 0 && g.outW % 4 == 0
            && (!recording || g.outH * g.outW >= winogradS2Tile4TrainMinPositions)
        return tile4 ? .winogradS2Tile4 : .winogradS2
    }

    /// One product over all images' columns: training steps of two or more images, 4x4
    /// stride-2 layers of at most `trainingBatchedMaxPositions` output positions.
    func usesBatchColumns(_ g: ConvGeometry, images: Int, recording: Bool) -> Bool {
        recording && images > 1 && g.isK4S2P1 && g.outH * g.outW <= trainingBatchedMaxPositions
    }

    /// One product over all images without gradients: planes of at most
    /// `fewColumnsMaxPositions` positions of any geometry, 4x4 stride-2 layers up to
    /// `batchedMaxPositions`. Only without gradients (a training step's weights change every
    /// step, so packing them would not pay); other geometries keep per-image products on
    /// larger planes, so that an image gives the same bits with and without gradients there
    /// (LPIPS-AlexNet's distance of an image to itself is exactly 0 while one side records).
    func usesBatched(_ g: ConvGeometry, recording: Bool) -> Bool {
        let positions = g.outH * g.outW
        return !recording && (positions <= min(fewColumnsMaxPositions, batchedMaxPositions) || (g.isK4S2P1 && positions <= batchedMaxPositions))
    }

    /// The kernel of the one-product-over-all-images path for a plane: the few-column kernel
    /// up to `fewColumnsMaxPositions` positions, the packed kernel above. It depends on the
    /// plane alone, so an image's result is the same in any batch.
    func batchedKernel(_ g: ConvGeometry) -> ConvKernel {
        g.outH * g.outW <= fewColumnsMaxPositions ? .batchedFewColumns : .batchedPacked
    }

    /// For a stride-1, dilation-1 convolution with padding below the kernel size (when
    /// `inputGradientAsConv` is on), the geometry of the convolution over the output gradient
    /// that yields the input gradient (its outputs are the input channels); nil otherwise.
    func inputGradientAsConv(_ g: ConvGeometry, outputs: Int) -> ConvGeometry? {
        guard inputGradientAsConv, g.strideH == 1, g.strideW == 1, g.dilationH == 1, g.dilationW == 1,
              g.padH < g.kernelH, g.padW < g.kernelW else { return nil }
        let t = ConvGeometry(channels: outputs, height: g.outH, width: g.outW, kernelH: g.kernelH, kernelW: g.kernelW,
                             padH: g.kernelH - 1 - g.padH, padW: g.kernelW - 1 - g.padW)
        assert(t.outH == g.height && t.outW == g.width)
        return t
    }

    /// Output rows per column-matrix chunk (im2col + GEMM): `chunkBytes` of columns, small
    /// enough to stay in the last-level cache between im2col and the GEMM.
    func chunkRows(_ g: ConvGeometry) -> Int {
        let perRow = max(1, g.colRows * g.outW * MemoryLayout<Float>.size)
        return max(1, min(g.outH, chunkBytes / perRow))
    }
}
