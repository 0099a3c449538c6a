import Foundation

extension Image {
    /// The `width x height` region whose top-left pixel is (x, y); it must lie inside the image.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) throws -> Image {
        guard w >= 1, h >= 1, x >= 0, y >= 0, x <= width - w, y <= height - h else {
            throw ImageIOError.invalidArgument(
                "crop of \(w) x \(h) at (\(x), \(y)) does not fit inside the \(width) x \(height) image")
        }
        if x == 0, y == 0, w == width, h == height { return self }
        var out = [UInt8](repeating: 0, count: w * h * channels)
        let rowBytes = w * channels
        pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<h {
                    let src = ((y + r) * width + x) * channels
                    for i in 0..<rowBytes { o[r * rowBytes + i] = p[src + i] }
                }
            }
        }
        return Image(unchecked: w, h, channels, out)
    }

    /// Mirror image (left and right swapped), as PIL's `FLIP_LEFT_RIGHT`.
    public func flippedHorizontally() -> Image {
        var out = pixels
        let c = channels
        pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                for y in 0..<height {
                    let row = y * width * c
                    for x in 0..<width {
                        let s = row + (width - 1 - x) * c, d = row + x * c
                        for k in 0..<c { o[d + k] = p[s + k] }
                    }
                }
            }
        }
        return Image(unchecked: width, height, c, out)
    }

    /// Upside down (PIL's `FLIP_TOP_BOTTOM`).
    public func flippedVertically() -> Image {
        var out = pixels
        let row = width * channels
        for y in 0..<height { out[(y * row)..<((y + 1) * row)] = pixels[((height - 1 - y) * row)..<((height - y) * row)] }
        return Image(unchecked: width, height, channels, out)
    }

    /// Rows and columns swapped (PIL's `TRANSPOSE`).
    public func transposed() -> Image {
        var out = pixels
        let c = channels
        for y in 0..<height { for x in 0..<width { for k in 0..<c { out[(x * height + y) * c + k] = pixels[(y * width + x) * c + k] } } }
        return Image(unchecked: height, width, c, out)
    }

    /// Gray from RGB as PIL's `convert("L")`: `(R*19595 + G*38470 + B*7471 + 0x8000) >> 16`
    /// (ITU-R 601-2 weights 0.299, 0.587, 0.114 in 16-bit fixed point, rounded); gray to RGB
    /// replicates. `c` must be 1 or 3.
    public func converted(toChannels c: Int) -> Image {
        precondition(c == 1 || c == 3, "converted(toChannels:): channels must be 1 or 3, got \(c)")
        if c == channels { return self }
        let n = width * height
        var out = [UInt8](repeating: 0, count: n * c)
        pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                if c == 1 {
                    for i in 0..<n {
                        let l = UInt32(p[3 * i]) * 19595 + UInt32(p[3 * i + 1]) * 38470 + UInt32(p[3 * i + 2]) * 7471 + 0x8000
                        o[i] = UInt8(l >> 16)
                    }
                } else {
                    for i in 0..<n { let v = p[i]; o[3 * i] = v; o[3 * i + 1] = v; o[3 * i + 2] = v }
                }
            }
        }
        return Image(unchecked: width, height, c, out)
    }

    /// Applies an EXIF orientation (1...8) so the image displays upright, as PIL's
    /// `ImageOps.exif_transpose`: 2 mirror, 3 rotate 180, 4 flip vertically, 5 transpose,
    /// 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise.
    func applyingEXIFOrientation(_ orientation: Int) -> Image {
        let (w, h, c) = (width, height, channels)
        let swaps = orientation >= 5 && orientation <= 8
        guard orientation >= 2 && orientation <= 8 else { return self }
        let ow = swaps ? h : w, oh = swaps ? w : h
        // Source pixel of output (x, y).
        let source: (Int, Int) -> (Int, Int)
        switch orientation {
        case 2: source = { x, y in (w - 1 - x, y) }
        case 3: source = { x, y in (w - 1 - x, h - 1 - y) }
        case 4: source = { x, y in (x, h - 1 - y) }
        case 5: source = { x, y in (y, x) }
        case 6: source = { x, y in (y, h - 1 - x) }
        case 7: source = { x, y in (w - 1 - y, h - 1 - x) }
        default: source = { x, y in (w - 1 - y, x) }  // 8
        }
        var out = [UInt8](repeating: 0, count: ow * oh * c)
        for y in 0..<oh {
            for x in 0..<ow {
                let (sx, sy) = source(x, y)
                let s = (sy * w + sx) * c, d = (y * ow + x) * c
                for k in 0..<c { out[d + k] = pixels[s + k] }
            }
        }
        return Image(unchecked: ow, oh, c, out)
    }
}
