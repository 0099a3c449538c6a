import Foundation
import Tensors

/// An 8-bit image, interleaved HWC: `pixels[(y * width + x) * channels + c]`.
/// `channels` is 1 (gray) or 3 (RGB).
public struct Image: Equatable {
    public var width: Int, height: Int, channels: Int
    public var pixels: [UInt8]

    /// Checks that the sizes are positive, `channels` is 1 or 3 and `pixels` has
    /// `width * height * channels` values.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        guard width >= 1, height >= 1 else {
            throw ImageIOError.invalidArgument("image size must be positive, got \(width) x \(height)")
        }
        guard channels == 1 || channels == 3 else {
            throw ImageIOError.invalidArgument("image channels must be 1 (gray) or 3 (RGB), got \(channels)")
        }
        let (n, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, n.multipliedReportingOverflow(by: channels).overflow == false,
              pixels.count == n * channels else {
            throw ImageIOError.invalidArgument(
                "a \(width) x \(height) image with \(channels) channels needs \(width) * \(height) * \(channels) pixel values, got \(pixels.count)")
        }
        self.init(unchecked: width, height, channels, pixels)
    }

    /// For results whose sizes are correct by construction.
    init(unchecked width: Int, _ height: Int, _ channels: Int, _ pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }
}

/// A decoded file: the image and what the decoder changed to make it 8-bit gray or RGB
/// (e.g. "alpha channel dropped", "16-bit samples scaled to 8 bits").
public struct DecodedImage {
    public var image: Image
    /// The file (as given to `ImageFile.read` / `decode`).
    public var path: String
    /// What was converted, in a fixed order; record them in a `ConversionNotes` to say each
    /// kind once per run.
    public var conversions: [ConversionNote]
    /// The conversions' texts.
    public var notes: [String] { conversions.map(\.text) }

    public init(image: Image, path: String, conversions: [ConversionNote] = []) {
        self.image = image
        self.path = path
        self.conversions = conversions
    }
}

/// Errors of reading, decoding, encoding and writing images. Every file error carries the
/// path, and its description starts with it.
public enum ImageIOError: Error, CustomStringConvertible, Equatable {
    /// Missing file, a folder, no permission.
    case unreadable(path: String, reason: String)
    /// Truncated or damaged data, codec errors, a file whose content is not the image its name says.
    case corrupt(path: String, reason: String)
    /// A format or variant we do not decode.
    case unsupported(path: String, reason: String)
    /// Refused before decoding: beyond the caller's `DecodeLimits` (size, pixels, memory, JPEG
    /// scans); the reason names the claimed size and the limit.
    case limitExceeded(path: String, reason: String)
    case unwritable(path: String, reason: String)
    case invalidArgument(String)

    public var path: String? {
        switch self {
        case let .unreadable(p, _), let .corrupt(p, _), let .unsupported(p, _), let .limitExceeded(p, _), let .unwritable(p, _):
            return p
        case .invalidArgument: return nil
        }
    }

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .corrupt(path, reason): return "\(path): \(reason)"
        case let .unsupported(path, reason): return "\(path): unsupported image: \(reason)"
        case let .limitExceeded(path, reason): return "\(path): refused: \(reason)"
        case let .unwritable(path, reason): return "\(path): cannot write: \(reason)"
        case let .invalidArgument(s): return s
        }
    }
}

extension ImageIOError: LocalizedError {
    public var errorDescription: String? { description }
}

// MARK: - Tensors

extension Image {
    /// The image as a `[1, C, H, W]` tensor with values `x / 127.5 - 1` in [-1, 1].
    public func tensor() -> Tensor {
        let hw = width * height
        let t = Tensor(zeros: [1, channels, height, width])
        var out = [Float](repeating: 0, count: channels * hw)
        pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                for c in 0..<channels {
                    for i in 0..<hw { o[c * hw + i] = Float(p[i * channels + c]) / 127.5 - 1 }
                }
            }
        }
        t.data = out
        return t
    }

    /// Image `index` of an `[N, C, H, W]` tensor in [-1, 1] (C is 1 or 3): `(v + 1) * 127.5`,
    /// clamped to [0, 255] and rounded to nearest. Throws on other shapes and on NaN.
    public init(tensor: Tensor, index: Int = 0) throws {
        let s = tensor.shape
        guard s.count == 4 else {
            throw ImageIOError.invalidArgument("an image tensor must be [N, C, H, W], got shape \(s)")
        }
        guard s[1] == 1 || s[1] == 3 else {
            throw ImageIOError.invalidArgument("an image tensor needs 1 or 3 channels, got shape \(s)")
        }
        guard s[2] >= 1, s[3] >= 1 else { throw ImageIOError.invalidArgument("empty image tensor of shape \(s)") }
        guard index >= 0, index < s[0] else {
            throw ImageIOError.invalidArgument("image index \(index) is out of range for a tensor of shape \(s)")
        }
        let (c, h, w) = (s[1], s[2], s[3])
        let hw = h * w
        let base = index * c * hw
        var px = [UInt8](repeating: 0, count: c * hw)
        var sawNaN = false
        tensor.data.withUnsafeBufferPointer { d in
            for ch in 0..<c {
                for i in 0..<hw {
                    let v = d[base + ch * hw + i]
                    if v.isNaN { sawNaN = true; continue }
                    let f = min(max((v + 1) * 127.5, 0), 255)
                    px[i * c + ch] = UInt8(f.rounded())
                }
            }
        }
        if sawNaN { throw ImageIOError.invalidArgument("image tensor \(index) of shape \(s) contains NaN values") }
        self.init(unchecked: w, h, c, px)
    }
}

/// Concatenates image tensors `[n_i, C, H, W]` (usually `[1, C, H, W]` each) along the batch
/// dimension into `[sum n_i, C, H, W]`. A shape error names both shapes.
public func stack(_ tensors: [Tensor]) throws -> Tensor {
    guard let first = tensors.first else { throw TensorError.invalidArgument("stack: no tensors given") }
    guard first.rank == 4 else {
        throw TensorError.invalidArgument("stack: tensor 0 has shape \(first.shape); expected [N, C, H, W]")
    }
    let item = Array(first.shape.dropFirst())
    var n = 0
    for (i, t) in tensors.enumerated() {
        guard t.rank == 4, Array(t.shape.dropFirst()) == item else {
            throw TensorError.invalidArgument("stack: tensor \(i) has shape \(t.shape) but tensor 0 has shape \(first.shape)")
        }
        n += t.shape[0]
    }
    if tensors.count == 1 { return first.detach() }
    var data = [Float]()
    data.reserveCapacity(n * item.reduce(1, *))
    for t in tensors { data.append(contentsOf: t.data) }
    return try Tensor(shape: [n] + item, data: data)
}
