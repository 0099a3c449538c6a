import Dispatch
import CKernels

/// Geometry of a 2-D convolution window over one image plane stack.
public struct ConvGeometry: Equatable {
    public var channels: Int, height: Int, width: Int
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var padH: Int, padW: Int
    public var dilationH: Int, dilationW: Int

    public init(channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int, strideH: Int = 1, strideW: Int = 1,
                padH: Int = 0, padW: Int = 0, dilationH: Int = 1, dilationW: Int = 1) {
        self.channels = channels; self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW; self.strideH = strideH; self.strideW = strideW
        self.padH = padH; self.padW = padW; self.dilationH = dilationH; self.dilationW = dilationW
    }

    public var outH: Int { (height + 2 * padH - dilationH * (kernelH - 1) - 1) / strideH + 1 }
    public var outW: Int { (width + 2 * padW - dilationW * (kernelW - 1) - 1) / strideW + 1 }
    /// Rows of the column matrix: C * kH * kW.
    public var colRows: Int { channels * kernelH * kernelW }
    /// Columns of the column matrix: outH * outW.
    public var colCols: Int { outH * outW }
    /// The U-Net's and PatchGAN's 4x4 stride-2 padding-1 window, unfolded by dedicated kernels.
    var isK4S2P1: Bool {
        kernelH == 4 && kernelW == 4 && strideH == 2 && strideW == 2 && padH == 1 && padW == 1
            && dilationH == 1 && dilationW == 1 && width >= 2
    }
}

/// Unfolds image x (C, H, W) into cols (C*kH*kW, outH*outW); zero outside the image.
public func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ cols: UnsafeMutablePointer<Float>) {
    im2col(x, g, cols, outRows: 0..<g.outH)
}

/// The columns of output rows `outRows` only: cols (C*kH*kW, outRows.count*outW), rows of the
/// column matrix `rowStride` apart (default: packed; wider to place several images side by side).
public func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ cols: UnsafeMutablePointer<Float>, outRows: Range<Int>,
                   rowStride: Int? = nil) {
    let oh = outRows.count, ow = g.outW, rows = g.colRows, y0 = outRows.lowerBound
    let ld = rowStride ?? oh * ow
    if g.isK4S2P1 {
        parallelChunks(g.channels, work: rows * oh * ow, minimumWork: 1 << 18) { c0, c1 in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * (ow + 2)) { scratch in
                tr_im2col_k4s2p1(x, g.height, g.width, g.outH, ow, cols, ld, y0, y0 + oh, c0, c1, scratch.baseAddress!)
            }
        }
        return
    }
    parallelFor(rows, work: rows * oh * ow) { r in
        let c = r / (g.kernelH * g.kernelW)
        let ki = (r / g.kernelW) % g.kernelH
        let kj = r % g.kernelW
        let plane = x + c * g.height * g.width
        let dst = cols + r * ld
        // Valid output-column range for this kernel column: 0 <= ow*s - p + kj*d < W.
        let off = kj * g.dilationW - g.padW
        var lo = 0
        while lo < ow && lo * g.strideW + off < 0 { lo += 1 }
        var hi = ow
        while hi > lo && (hi - 1) * g.strideW + off >= g.width { hi -= 1 }
        for y in 0..<oh {
            let iy = (y + y0) * g.strideH - g.padH + ki * g.dilationH
            let row = dst + y * ow
            if iy < 0 || iy >= g.height {
                row.update(repeating: 0, count: ow)
                continue
            }
            if lo > 0 { row.update(repeating: 0, count: lo) }
            if hi < ow { (row + hi).update(repeating: 0, count: ow - hi) }
            let src = plane + iy * g.width + off
            if g.strideW == 1 {
                if hi > lo { (row + lo).update(from: src + lo, count: hi - lo) }
            } else {
                var xo = lo
                while xo < hi { row[xo] = src[xo * g.strideW]; xo += 1 }
            }
        }
    }
}

/// Adjoint of `im2col`: folds cols (C*kH*kW, outH*outW) back into x (C, H, W), adding; rows
/// of cols `rowStride` apart (default outH*outW).
public func col2im(_ cols: UnsafePointer<Float>, _ g: ConvGeometry, _ x: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
    let oh = g.outH, ow = g.outW, kk = g.kernelH * g.kernelW, ld = rowStride ?? oh * ow
    if g.isK4S2P1 {
        parallelChunks(g.channels, work: g.colRows * oh * ow, minimumWork: 1 << 18) { c0, c1 in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * (ow + 2)) { scratch in
                tr_col2im_k4s2p1(cols, ld, g.height, g.width, oh, ow, x, c0, c1, scratch.baseAddress!)
            }
        }
        return
    }
    parallelFor(g.channels, work: g.colRows * oh * ow) { c in
        let plane = x + c * g.height * g.width
        for k in 0..<kk {
            let ki = k / g.kernelW, kj = k % g.kernelW
            let src = cols + (c * kk + k) * ld
            let off = kj * g.dilationW - g.padW
            var lo = 0
            while lo < ow && lo * g.strideW + off < 0 { lo += 1 }
            var hi = ow
            while hi > lo && (hi - 1) * g.strideW + off >= g.width { hi -= 1 }
            if hi <= lo { continue }
            for y in 0..<oh {
                let iy = y * g.strideH - g.padH + ki * g.dilationH
                if iy < 0 || iy >= g.height { continue }
                let dst = plane + iy * g.width + off
                let row = src + y * ow
                if g.strideW == 1 {
                    var xo = lo
                    while xo < hi { dst[xo] += row[xo]; xo += 1 }
                } else {
                    var xo = lo
                    while xo < hi { dst[xo * g.strideW] += row[xo]; xo += 1 }
                }
            }
        }
    }
}

/// Naive direct convolution, the reference for the im2col + GEMM path.
/// x (N, C, H, W), w (O, C, kH, kW), bias (O) or nil -> out (N, O, outH, outW).
public func conv2dNaive(x: [Float], n: Int, g: ConvGeometry, weight: [Float], outChannels: Int,
                        bias: [Float]?) -> [Float] {
    let oh = g.outH, ow = g.outW, C = g.channels
    var out = [Float](repeating: 0, count: n * outChannels * oh * ow)
    for b in 0..<n { for o in 0..<outChannels { for y in 0..<oh { for xo in 0..<ow {
        var s: Double = Double(bias?[o] ?? 0)
        for c in 0..<C { for i in 0..<g.kernelH { for j in 0..<g.kernelW {
            let iy = y * g.strideH - g.padH + i * g.dilationH
            let ix = xo * g.strideW - g.padW + j * g.dilationW
            if iy < 0 || iy >= g.height || ix < 0 || ix >= g.width { continue }
            s += Double(x[((b * C + c) * g.height + iy) * g.width + ix]) *
                 Double(weight[((o * C + c) * g.kernelH + i) * g.kernelW + j])
        } } }
        out[((b * outChannels + o) * oh + y) * ow + xo] = Float(s)
    } } } }
    return out
}

/// Naive direct transposed convolution (scatter form), the reference for col2im + GEMM.
/// x (N, Cin, Hin, Win), w (Cin, Cout, kH, kW); `g` describes the OUTPUT plane (Cout, Hout, Wout),
/// whose conv grid is (Hin, Win).
public func convTranspose2dNaive(x: [Float], n: Int, inChannels: Int, g: ConvGeometry, weight: [Float],
                                 bias: [Float]?) -> [Float] {
    let hin = g.outH, win = g.outW, O = g.channels
    var acc = [Double](repeating: 0, count: n * O * g.height * g.width)
    for b in 0..<n { for c in 0..<inChannels { for y in 0..<hin { for xo in 0..<win {
        let v = Double(x[((b * inChannels + c) * hin + y) * win + xo])
        for o in 0..<O { for i in 0..<g.kernelH { for j in 0..<g.kernelW {
            let oy = y * g.strideH - g.padH + i * g.dilationH
            let ox = xo * g.strideW - g.padW + j * g.dilationW
            if oy < 0 || oy >= g.height || ox < 0 || ox >= g.width { continue }
            acc[((b * O + o) * g.height + oy) * g.width + ox] +=
                v * Double(weight[((c * O + o) * g.kernelH + i) * g.kernelW + j])
        } } }
    } } } }
    if let bias { for b in 0..<n { for o in 0..<O { for p in 0..<(g.height * g.width) {
        acc[(b * O + o) * g.height * g.width + p] += Double(bias[o])
    } } } }
    return acc.map { Float($0) }
}
