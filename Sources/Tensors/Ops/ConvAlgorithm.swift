import CKernels
import Foundation
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// How `conv2d` and `convTranspose2d` compute, chosen per call from the geometry alone:
///
/// - direct correlations (`conv2dDirect`) for convolutions with at most 4 output channels:
///   per image a product (O x C*kH*kW) by (C*kH*kW x H*W) is then a few dot products per
///   pixel; OpenBLAS ran the ResNet generator's 64 -> 3 7x7 head at under 20 GFLOP/s through
///   an 822 MB column matrix;
/// - Winograd F(2x2, 3x3) and F(2x2, 4x4) (`Winograd`) for stride-1 3x3 and 4x4
///   convolutions with many channels (forward, input and weight gradients);
/// - Winograd F(2x2, 2x2) over phase images (`WinogradS2`) for the U-Net's and PatchGAN's
///   4x4 stride-2 convolutions and transposed convolutions: without gradients from 16 tiles,
///   in training from 256 tiles (planes of 32x32 and up);
/// - few-column products (`tr_gemm_fewcols`) for small planes without gradients;
/// - otherwise im2col + OpenBLAS, the column matrix built a chunk of output rows at a time,
///   and stride-1 input gradients as a convolution of the output gradient.
///
/// Its thresholds and switches are a `ConvPolicy` value in effect for the call (the
/// measured best unless a scope sets another); these are the readings of it that the
/// kernels share.
public enum ConvAlgorithm {
    /// Tests switch this off to compare the direct kernels with the GEMM path.
    static var directEnabled: Bool { ConvPolicy.current.direct }
    /// Largest output-channel count that takes the direct path.
    public static let directMaxOutputs = ConvPolicy.directMaxOutputs

    /// Bytes of column matrix per chunk of output rows (`chunkRows`): small enough to stay in
    /// the 32 MB last-level cache between im2col and the GEMM, large enough for full-speed GEMMs.
    static var chunkBytes: Int { ConvPolicy.current.chunkBytes }

    /// Output rows per column-matrix chunk for a convolution.
    static func chunkRows(_ g: ConvGeometry) -> Int {
        let perRow = max(1, g.colRows * g.outW * MemoryLayout<Float>.size)
        return max(1, min(g.outH, chunkBytes / perRow))
    }

    /// Whether stride-1 3x3 convolutions with at least `winogradMinChannels` input and output
    /// channels use Winograd F(2x2, 3x3) (`Winograd`); tests switch it off or lower the bound.
    /// `TRANSLATE_WINOGRAD=0` in the environment turns it off (direct sums, as PyTorch's CPU
    /// convolutions, at about 1.3x the CycleGAN step time).
    static var winogradEnabled: Bool { ConvPolicy.current.winograd }
    public static var winogradVariable: String { ConvPolicy.winogradVariable }
    static var winogradMinChannels: Int { ConvPolicy.current.winogradMinChannels }
    /// Whether stride-1 4x4 convolutions (PatchGAN's 256 -> 512 layer) use Winograd F(2x2, 4x4)
    /// under the same conditions; follows `TRANSLATE_WINOGRAD` through `winogradEnabled`.
    static var winogradK4Enabled: Bool { ConvPolicy.current.winograd4x4 }

    /// Whether 4x4 stride-2 padding-1 convolutions and transposed convolutions without
    /// gradients use Winograd F(2x2, 2x2) over the input's phase images (`WinogradS2`), when
    /// both channel counts reach `winogradMinChannels` and an image has at least
    /// `winogradS2MinTiles` 2x2 output tiles (smaller planes take the batched path; docs/BENCHMARKS.md, "Convolution policy"). Follows
    /// `TRANSLATE_WINOGRAD` like the 3x3 one.
    static var winogradS2Enabled: Bool { ConvPolicy.current.winogradS2 }
    static var winogradS2MinTiles: Int { ConvPolicy.current.winogradS2MinTiles }
    /// Planes with at least this many 2x2 tiles run each image's Winograd products through
    /// OpenBLAS; smaller ones run all images of a batch through the packed kernel at once.
    static var winogradS2PerImageTiles: Int { ConvPolicy.current.winogradS2PerImageTiles }
    /// Whether training (gradients recorded) uses it too, on planes of at least
    /// `winogradS2TrainMinTiles` tiles; the transformed filters are derived afresh on every
    /// call there (measurements: docs/BENCHMARKS.md, "Convolution policy").
    static var winogradS2TrainingEnabled: Bool { ConvPolicy.current.winogradS2Training }
    static var winogradS2TrainMinTiles: Int { ConvPolicy.current.winogradS2TrainMinTiles }

    /// Convolutions run without gradients whose output plane (conv) or input plane
    /// (transposed conv) has at most this many positions (the U-Net's inner layers: 1x1 to
    /// 16x16 planes, 256-1024 channels, 2-32 MB of weights) are computed for all images of a
    /// batch in one product (`batchedGEMM`) instead of one OpenBLAS product per image, each of
    /// which re-packs all the weights for a few columns. Both kernels used there compute every
    /// output as one multiply-add chain in a fixed order whatever the other columns are, and the
    /// choice depends on the plane only, so an image's result is the same in any batch.
    /// 0 turns it off.
    static var batchedMaxPositions: Int { ConvPolicy.current.batchedMaxPositions }
    /// Up to this many positions the batched product uses `tr_gemm_fewcols` (no packing: the
    /// weights are read once and the few columns stay in registers); above it, the packed
    /// kernel `tr_gemm_packed`, whose packed weights are kept between calls (`PackedWeights`).
    /// (Measurements: docs/BENCHMARKS.md, "Convolution policy".)
    static var fewColumnsMaxPositions: Int { ConvPolicy.current.fewColumnsMaxPositions }

    /// Whether the batched product of a plane of `positions` uses the few-column kernel.
    static func fewColumnsKernel(positions: Int, transposed: Bool) -> Bool {
        positions <= fewColumnsMaxPositions
    }
    /// The batched path packs (a group of) images' columns into at most about this many bytes
    /// at a time, so that they are still in the last-level cache when the product reads them.
    static var batchedGroupBytes: Int { ConvPolicy.current.batchedGroupBytes }

    /// Whether a convolution with geometry `g` (for a transposed one: of the matching
    /// convolution) and `positions` plane positions takes the batched path: planes of at most
    /// `fewColumnsMaxPositions` positions of any geometry, and the U-Net's and PatchGAN's 4x4
    /// stride-2 layers up to `batchedMaxPositions`. Only when no gradient is recorded
    /// (inference, evaluation, sampling): a training step's weights change every step, so
    /// packing them once per call would not pay (measured with `train-layers`). Other geometries keep OpenBLAS's
    /// products on larger planes, so that an image gives the same bits with and without
    /// gradients there (LPIPS-AlexNet's distance of an image to itself is exactly 0 while
    /// one side records gradients, as in cIMLE training).
    static func batched(_ g: ConvGeometry, positions: Int, inputs: [Tensor?]) -> Bool {
        (positions <= min(fewColumnsMaxPositions, batchedMaxPositions) || (g.isK4S2P1 && positions <= batchedMaxPositions))
            && !(GradMode.isEnabled && inputs.contains { $0?.requiresGrad == true })
    }

    /// Training steps with two or more images run the 4x4 stride-2 layers whose (conv) output
    /// or (transposed) input plane has at most this many positions as one product over all
    /// images (`BatchColumns`); 0 turns it off (measurements: docs/BENCHMARKS.md).
    static var trainingBatchedMaxPositions: Int { ConvPolicy.current.trainingBatchedMaxPositions }

    /// Tests switch this off to compare with folding the column gradient (col2im).
    static var inputGradientAsConvEnabled: Bool { ConvPolicy.current.inputGradientAsConv }

    /// For a stride-1, dilation-1 convolution with padding below the kernel size, the geometry
    /// of the convolution over the output gradient that yields the input gradient (its
    /// outputs are the C input channels); nil otherwise.
    static func inputGradientAsConv(_ g: ConvGeometry, outputs: Int) -> ConvGeometry? {
        guard inputGradientAsConvEnabled, g.strideH == 1, g.strideW == 1, g.dilationH == 1, g.dilationW == 1,
              g.padH < g.kernelH, g.padW < g.kernelW else { return nil }
        let t = ConvGeometry(channels: outputs, height: g.outH, width: g.outW, kernelH: g.kernelH, kernelW: g.kernelW,
                             padH: g.kernelH - 1 - g.padH, padW: g.kernelW - 1 - g.padW)
        assert(t.outH == g.height && t.outW == g.width)
        return t
    }

    static func useDirect(outputs: Int, _ g: ConvGeometry) -> Bool {
        directEnabled && outputs <= directMaxOutputs && g.strideH == 1 && g.strideW == 1
            && g.dilationH == 1 && g.dilationW == 1 && g.kernelW <= 8 && g.colRows >= 8
    }
}
