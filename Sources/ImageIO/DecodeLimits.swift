import Foundation

/// What decoding one file may cost. Checked after the file's header is read and before any
/// buffer whose size the header decides is allocated, so a file that claims 16384 x 16384
/// pixels in a 100-byte PNG is refused at once, naming the file and its claimed size.
///
/// Callers create one (or use `.standard`) and pass it to `ImageFile.read(_:limits:)` /
/// `ImageFile.decode(_:path:limits:)`; there is no global setting.
public struct DecodeLimits: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Most pixels (width * height) of one image. Default 64 megapixels (2^26: 8192 x 8192).
    public var maxPixels: Int
    /// Largest width or height. Default 65535 (JPEG's own limit is 65500).
    public var maxSide: Int
    /// Most bytes one decode may need at its peak, estimated from the header: the file's bytes,
    /// the 8-bit output and the copy `Image` keeps, libjpeg's whole-image 16-bit coefficient
    /// buffer for progressive (and other multi-scan) JPEGs, the codecs' row buffers (16-bit
    /// rows for 16-bit PNGs). Default 1 GiB, enough for any image within the default
    /// `maxPixels` (a 64-megapixel progressive CMYK JPEG needs about 0.9 GiB).
    public var maxBytes: Int
    /// Most scans of a JPEG (SOS markers). Progressive files have about 10 (at most a few
    /// hundred for exotic valid scripts); files with thousands of scans re-read the whole
    /// image per scan and can take minutes. Default 1000, as libjpeg-turbo's fuzzers bound it.
    public var maxJPEGScans: Int
    /// Most pixels of a JPEG's scans together, each scan counting the samples of the components
    /// it codes (a scan of the luma of a 1000 x 1000 image counts 10^6): bounds the decoding
    /// time of many scans over a large image, which `maxJPEGScans` alone does not (1000 scans
    /// over 64 megapixels take seconds). Ordinary files cover about 10 times their image.
    /// Default 100 x 2^26 (100 passes over a 64-megapixel image, about half a second).
    public var maxJPEGScanPixels: Int

    public init(maxPixels: Int = 1 << 26, maxSide: Int = 65_535, maxBytes: Int = 1 << 30, maxJPEGScans: Int = 1000,
                maxJPEGScanPixels: Int = 100 << 26) {
        self.maxPixels = maxPixels
        self.maxSide = maxSide
        self.maxBytes = maxBytes
        self.maxJPEGScans = maxJPEGScans
        self.maxJPEGScanPixels = maxJPEGScanPixels
    }

    /// The defaults: 64 megapixels, 65535 a side, 1 GiB, 1000 JPEG scans covering at most
    /// 100 x 64 megapixels.
    public static let standard = DecodeLimits()

    /// The standard limits with `maxPixels` replaced and `maxBytes` and `maxJPEGScanPixels`
    /// scaled to match (16 bytes and 100 scan pixels a pixel, the standard ratios; never below
    /// the standard values), e.g. for a flag `--max-megapixels N`:
    /// `DecodeLimits.scaled(toMaxPixels: N << 20)`.
    public static func scaled(toMaxPixels px: Int) -> DecodeLimits {
        let s = DecodeLimits.standard
        func times(_ k: Int, atLeast v: Int) -> Int {
            let (p, overflow) = px.multipliedReportingOverflow(by: k)
            return overflow ? Int.max : max(v, p)
        }
        return DecodeLimits(maxPixels: px, maxBytes: times(16, atLeast: s.maxBytes), maxJPEGScans: s.maxJPEGScans,
                            maxJPEGScanPixels: times(100, atLeast: s.maxJPEGScanPixels))
    }

    public var description: String {
        "at most \(maxPixels) pixels, \(maxSide) a side, \(formatBytes(maxBytes)), \(maxJPEGScans) JPEG scans of \(maxJPEGScanPixels) pixels"
    }

    /// Throws `invalidArgument` when a limit is not positive.
    func validate() throws {
        for (name, v) in [("maxPixels", maxPixels), ("maxSide", maxSide), ("maxBytes", maxBytes), ("maxJPEGScans", maxJPEGScans),
                          ("maxJPEGScanPixels", maxJPEGScanPixels)] where v < 1 {
            throw ImageIOError.invalidArgument("DecodeLimits.\(name) must be at least 1, got \(v)")
        }
    }
}

/// "812 MB", "1.07 GB", "3.1 kB" (powers of 1000).
func formatBytes(_ n: Int) -> String {
    let d = Double(n)
    if d >= 1e9 { return String(format: "%.2f GB", d / 1e9) }
    if d >= 1e6 { return String(format: "%.0f MB", d / 1e6) }
    if d >= 1e3 { return String(format: "%.1f kB", d / 1e3) }
    return "\(n) bytes"
}
