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
/// - Winograd F(2x2, 3x3) (`Winograd`) for stride-1 3x3 convolutions with many channels;
/// - few-column products (`tr_gemm_fewcols`) for small planes without gradients;
/// - otherwise im2col + OpenBLAS, the column matrix built a chunk of output rows at a time,
///   and stride-1 input gradients as a convolution of the output gradient.
///
/// The switches are for tests and measurements; the defaults are the measured best.
public enum ConvAlgorithm {
    /// Tests switch this off to compare the direct kernels with the GEMM path.
    nonisolated(unsafe) public static var directEnabled = true
    /// Largest output-channel count that takes the direct path.
    public static let directMaxOutputs = 4

    /// Bytes of column matrix per chunk of output rows (`chunkRows`): small enough to stay in
    /// the 32 MB last-level cache between im2col and the GEMM, large enough for full-speed GEMMs.
    nonisolated(unsafe) public static var chunkBytes = 8 << 20

    /// Output rows per column-matrix chunk for a convolution.
    static func chunkRows(_ g: ConvGeometry) -> Int {
        let perRow = max(1, g.colRows * g.outW * MemoryLayout<Float>.size)
        return max(1, min(g.outH, chunkBytes / perRow))
    }

    /// Whether stride-1 3x3 convolutions with at least `winogradMinChannels` input and output
    /// channels use Winograd F(2x2, 3x3) (`Winograd`); tests switch it off or lower the bound.
    /// `TRANSLATE_WINOGRAD=0` in the environment turns it off (direct sums, as PyTorch's CPU
    /// convolutions, at about 1.3x the CycleGAN step time).
    nonisolated(unsafe) public static var winogradEnabled = winogradSetting(getenv(winogradVariable).map { String(cString: $0) })
    public static let winogradVariable = "TRANSLATE_WINOGRAD"

    /// Winograd is on unless the variable says 0 (or off / false / no).
    static func winogradSetting(_ value: String?) -> Bool {
        guard let v = value?.trimmingCharacters(in: .whitespaces).lowercased() else { return true }
        return !["0", "off", "false", "no"].contains(v)
    }
    nonisolated(unsafe) public static var winogradMinChannels = 32

    /// Convolutions run without gradients whose output plane (conv) or input plane
    /// (transposed conv) has at most this many positions (the U-Net's innermost layers: 1x1
    /// to 4x4 planes, 512-1024 channels) are computed for all images of a batch in one pass
    /// over the weights (`tr_gemm_fewcols`) instead of one OpenBLAS product per image, each of which re-packs
    /// 16-32 MB of weights for 1-16 columns. The kernel's arithmetic for a column does not
    /// depend on the other columns, and the choice depends on the plane only, so an image's
    /// result is the same in any batch. 0 turns it off.
    nonisolated(unsafe) public static var fewColumnsMaxPositions = 16
    /// Products computed on the few-column path so far (tests check that it is taken).
    nonisolated(unsafe) static var fewColumnsProducts = 0

    /// Whether a convolution with `positions` plane positions takes the few-column path: only
    /// when no gradient is recorded (inference, evaluation, sampling), so that training
    /// steps keep OpenBLAS's arithmetic, which the PyTorch training-step fixtures check.
    static func fewColumns(positions: Int, inputs: [Tensor?]) -> Bool {
        positions <= fewColumnsMaxPositions
            && !(GradMode.isEnabled && inputs.contains { $0?.requiresGrad == true })
    }

    /// Tests switch this off to compare with folding the column gradient (col2im).
    nonisolated(unsafe) public static var inputGradientAsConvEnabled = true

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

/// C (M, ldb) = op(A) (M, K) * B (K, ldb) through `tr_gemm_fewcols`, rows split over both cores;
/// `n` real columns, B's and C's rows `ldb` = roundUp16(n) apart.
func fewColumnsGEMM(a: UnsafePointer<Float>, lda: Int, transA: Bool, b: UnsafePointer<Float>, ldb: Int,
                    c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int) {
    GEMMCounter.count(m: m, n: n, k: k)
    ConvAlgorithm.fewColumnsProducts += 1
    parallelChunks(m, work: m * k * ldb, minimumWork: 1 << 18) { i0, i1 in
        tr_gemm_fewcols(a, lda, transA ? 1 : 0, b, ldb, c, ldb, n, k, i0, i1)
    }
}

/// Columns of a few-column product: `n` rounded up to whole 16-column vectors.
@inline(__always) func fewColumnsStride(_ n: Int) -> Int { (n + 15) / 16 * 16 }
