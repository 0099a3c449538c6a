/// Padding, concatenation and slicing.

public enum PaddingMode: String, CaseIterable, Codable {
    case constant, reflect, replicate
}

/// Source index along one axis for each padded position, or -1 for a constant pad.
private func padMap(size: Int, before: Int, after: Int, mode: PaddingMode) -> [Int] {
    (0..<(size + before + after)).map { o in
        let i = o - before
        if i >= 0 && i < size { return i }
        switch mode {
        case .constant: return -1
        case .replicate: return i < 0 ? 0 : size - 1
        case .reflect: return i < 0 ? -i : 2 * (size - 1) - i
        }
    }
}

/// Pads the last two dimensions of x (N, C, H, W) as `F.pad(x, (left, right, top, bottom), mode)`.
public func pad(_ x: Tensor, left: Int, right: Int, top: Int, bottom: Int, mode: PaddingMode = .constant,
                value: Float = 0) throws -> Tensor {
    guard x.rank >= 2 else { throw TensorError.invalidArgument("pad: expected at least 2-d input, got \(x.shape)") }
    let H = x.shape[x.rank - 2], W = x.shape[x.rank - 1]
    let planes = x.shape.dropLast(2).reduce(1, *)
    if mode == .reflect {
        guard max(left, right) < W, max(top, bottom) < H, min(left, right, top, bottom) >= 0 else {
            throw TensorError.invalidArgument("pad (reflect): padding (\(left), \(right), \(top), \(bottom)) must be non-negative and smaller than the input's spatial size \(H)x\(W) (input \(x.shape))")
        }
    } else {
        guard min(left, right, top, bottom) >= 0 else { throw TensorError.invalidArgument("pad: negative padding (\(left), \(right), \(top), \(bottom))") }
        if mode == .replicate && (H == 0 || W == 0) { throw TensorError.invalidArgument("pad (replicate): empty input \(x.shape)") }
    }
    let rows = padMap(size: H, before: top, after: bottom, mode: mode)
    let cols = padMap(size: W, before: left, after: right, mode: mode)
    let OH = rows.count, OW = cols.count
    var out = [Float](repeating: value, count: planes * OH * OW)
    // Planes are independent (each written, or accumulated in the same order, by one thread).
    x.data.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
        let (xb, ob) = (xp.baseAddress!, op.baseAddress!)
        parallelFor(planes, work: planes * OH * OW) { p in
            let src = xb + p * H * W, dst = ob + p * OH * OW
            for (oy, iy) in rows.enumerated() where iy >= 0 {
                let s = src + iy * W, d = dst + oy * OW
                (d + left).update(from: s, count: W)   // the interior, then the padded columns
                for ox in 0..<left where cols[ox] >= 0 { d[ox] = s[cols[ox]] }
                for ox in (left + W)..<OW where cols[ox] >= 0 { d[ox] = s[cols[ox]] }
            }
        }
    } }
    let result = Tensor(uncheckedShape: Array(x.shape.dropLast(2)) + [OH, OW], data: out)
    record(result, [x]) { g in
        x.withGrad { dx in
            let (db, gb) = (dx.baseAddress!, g.baseAddress!)
            parallelFor(planes, work: planes * OH * OW) { p in
                let dst = db + p * H * W, src = gb + p * OH * OW
                for (oy, iy) in rows.enumerated() where iy >= 0 {
                    let s = src + oy * OW, d = dst + iy * W
                    for (ox, ix) in cols.enumerated() where ix >= 0 { d[ix] += s[ox] }
                }
            }
        }
    }
    recordGraph(result) { g, _ in
        // Zero padding's adjoint is the slice it padded around; the other modes have none yet.
        guard mode == .constant else { throw noGraphRule("pad (\(mode.rawValue))") }
        return [try narrow(try narrow(g, dim: -2, start: top, length: H), dim: -1, start: left, length: W)]
    }
    return result
}

/// Splits a shape at `dim` into (outer, size, inner) element counts.
private func splitAt(_ shape: [Int], _ dim: Int) -> (Int, Int, Int) {
    (shape[..<dim].reduce(1, *), shape[dim], shape[(dim + 1)...].reduce(1, *))
}

private func normalizeDim(_ op: String, _ dim: Int, _ rank: Int) throws -> Int {
    let d = dim < 0 ? dim + rank : dim
    guard d >= 0 && d < rank else { throw TensorError.invalidArgument("\(op): dimension \(dim) out of range for a \(rank)-d tensor") }
    return d
}

/// Concatenation along `dim` (all other dimensions must match), as `torch.cat`.
public func cat(_ tensors: [Tensor], dim: Int = 1) throws -> Tensor {
    guard let first = tensors.first else { throw TensorError.invalidArgument("cat: expected a non-empty list of tensors") }
    let d = try normalizeDim("cat", dim, first.rank)
    for t in tensors.dropFirst() {
        var a = first.shape, b = t.shape
        guard a.count == b.count else { throw TensorError.shapeMismatch(op: "cat (dim \(dim))", shapes: [first.shape, t.shape]) }
        a[d] = 0; b[d] = 0
        guard a == b else { throw TensorError.shapeMismatch(op: "cat (dim \(dim))", shapes: [first.shape, t.shape]) }
    }
    var shape = first.shape
    shape[d] = tensors.map { $0.shape[d] }.reduce(0, +)
    let (outer, total, inner) = splitAt(shape, d)
    var out = [Float](repeating: 0, count: shape.reduce(1, *))
    var offset = 0
    var offsets: [Int] = []
    out.withUnsafeMutableBufferPointer { op in
        for t in tensors {
            offsets.append(offset)
            let len = t.shape[d] * inner
            t.data.withUnsafeBufferPointer { tp in
                for o in 0..<outer where len > 0 {
                    (op.baseAddress! + o * total * inner + offset).update(from: tp.baseAddress! + o * len, count: len)
                }
            }
            offset += len
        }
    }
    let result = Tensor(uncheckedShape: shape, data: out)
    record(result, tensors) { g in
        for (t, off) in zip(tensors, offsets) where t.requiresGrad {
            let len = t.shape[d] * inner
            t.withGrad { dt in
                for o in 0..<outer { for j in 0..<len { dt[o * len + j] += g[o * total * inner + off + j] } }
            }
        }
    }
    recordGraph(result) { g, needs in
        var start = 0
        return try zip(tensors, needs).map { t, need in
            defer { start += t.shape[d] }
            return need ? try narrow(g, dim: d, start: start, length: t.shape[d]) : nil
        }
    }
    return result
}

/// The slice [start, start + length) along `dim`, as `torch.narrow`.
public func narrow(_ x: Tensor, dim: Int, start: Int, length: Int) throws -> Tensor {
    let d = try normalizeDim("narrow", dim, x.rank)
    guard start >= 0, length >= 0, start + length <= x.shape[d] else {
        throw TensorError.invalidArgument("narrow: range \(start)..<\(start + length) is outside dimension \(d) of size \(x.shape[d]) (shape \(x.shape))")
    }
    let (outer, size, inner) = splitAt(x.shape, d)
    var shape = x.shape
    shape[d] = length
    let len = length * inner
    var out = [Float](repeating: 0, count: outer * len)
    x.data.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
        for o in 0..<outer where len > 0 {
            (op.baseAddress! + o * len).update(from: xp.baseAddress! + (o * size + start) * inner, count: len)
        }
    } }
    let result = Tensor(uncheckedShape: shape, data: out)
    record(result, [x]) { g in
        x.withGrad { dx in
            for o in 0..<outer { for j in 0..<len { dx[(o * size + start) * inner + j] += g[o * len + j] } }
        }
    }
    recordGraph(result) { g, _ in
        // The slice back in place: zeros before and after it along d.
        func zeros(_ n: Int) -> Tensor { var zs = x.shape; zs[d] = n; return Tensor(zeros: zs) }
        let after = size - start - length
        let parts = (start > 0 ? [zeros(start)] : []) + [g] + (after > 0 ? [zeros(after)] : [])
        return [parts.count == 1 ? g : try cat(parts, dim: d)]
    }
    return result
}
