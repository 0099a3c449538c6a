import CImageCodecs
import Foundation

/// Reading and writing JPEG and PNG files through libjpeg and libpng (the C shim in
/// `CImageCodecs`; this is the only file that imports it).
public enum ImageFile {
    /// Extensions (lowercase) of the files we read and write.
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Whether the name says JPEG or PNG (the content is checked when reading).
    public static func isImage(_ url: URL) -> Bool { extensions.contains(url.pathExtension.lowercased()) }

    /// Reads and decodes a file; the format is detected from its first bytes, not its name.
    /// Files and images beyond `limits` are refused (`ImageIOError.limitExceeded`) before
    /// their pixels are allocated.
    public static func read(_ url: URL, limits: DecodeLimits = .standard) throws -> DecodedImage {
        let path = url.path
        try limits.validate()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ImageIOError.unreadable(path: path, reason: "no such file")
        }
        if isDir.boolValue { throw ImageIOError.unreadable(path: path, reason: "is a folder, not a file") }
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber,
           size.int64Value > Int64(limits.maxBytes) {
            throw ImageIOError.limitExceeded(
                path: path, reason: "the file is \(size.int64Value) bytes (\(formatBytes(Int(clamping: size.int64Value)))), more than the decode memory limit of \(formatBytes(limits.maxBytes)) (DecodeLimits.maxBytes)")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            let reason = FileManager.default.isReadableFile(atPath: path) ? (error as NSError).localizedDescription : "permission denied"
            throw ImageIOError.unreadable(path: path, reason: reason)
        }
        return try decode(data, path: path, limits: limits)
    }

    /// Decodes JPEG or PNG bytes; `path` names the source in errors (and its extension decides
    /// whether unrecognised bytes are reported as a corrupt JPEG/PNG or an unknown format).
    public static func decode(_ data: Data, path: String, limits: DecodeLimits = .standard) throws -> DecodedImage {
        try limits.validate()
        switch sniff(data) {
        case .jpeg: return try decodeWith(ic_decode_jpeg, format: "JPEG", data, path: path, limits: limits)
        case .png: return try decodeWith(ic_decode_png, format: "PNG", data, path: path, limits: limits)
        case .empty:
            throw ImageIOError.corrupt(path: path, reason: "empty file (0 bytes)")
        case .truncatedSignature(let format):
            throw ImageIOError.corrupt(path: path, reason: "corrupt \(format): file is \(data.count) bytes, truncated inside the signature")
        case .other(let name):
            throw ImageIOError.unsupported(path: path, reason: "\(name) files are not supported; convert to PNG or JPEG")
        case .unknown:
            let head = describeHead(data)
            let ext = (path as NSString).pathExtension.lowercased()
            if extensions.contains(ext) {
                let claimed = ext == "png" ? "PNG" : "JPEG"
                throw ImageIOError.corrupt(path: path, reason: "not a \(claimed) file despite its name: it starts with \(head)")
            }
            throw ImageIOError.unsupported(path: path, reason: "unknown format: the file starts with \(head); expected JPEG or PNG")
        }
    }

    /// Writes PNG or JPEG, chosen by the extension, atomically: the bytes go to a temporary
    /// file in the same folder which is then renamed over `url`. On failure `url` is untouched.
    public static func write(_ image: Image, to url: URL, quality: Int = 95) throws {
        let ext = url.pathExtension.lowercased()
        let data: Data
        switch ext {
        case "png": data = try encodePNG(image)
        case "jpg", "jpeg": data = try encodeJPEG(image, quality: quality)
        default:
            throw ImageIOError.unwritable(path: url.path,
                                          reason: "cannot write '\(ext.isEmpty ? "(no extension)" : "." + ext)' files; use .png, .jpg or .jpeg")
        }
        try writeAtomically(data, to: url)
    }

    /// Lossless PNG bytes (8-bit gray or RGB).
    public static func encodePNG(_ image: Image) throws -> Data {
        try validate(image)
        return try encodeWith("PNG", image) { px, out, size, msg in
            ic_encode_png(px, Int32(image.width), Int32(image.height), Int32(image.channels), out, size, msg)
        }
    }

    /// Baseline JPEG bytes with the given quality (1...100), 4:2:0 chroma subsampling for RGB.
    public static func encodeJPEG(_ image: Image, quality: Int) throws -> Data {
        guard (1...100).contains(quality) else {
            throw ImageIOError.invalidArgument("JPEG quality must be in 1...100, got \(quality)")
        }
        try validate(image)
        guard image.width <= 65_500, image.height <= 65_500 else {
            throw ImageIOError.invalidArgument("JPEG images are limited to 65500 pixels a side, got \(image.width) x \(image.height)")
        }
        return try encodeWith("JPEG", image) { px, out, size, msg in
            ic_encode_jpeg(px, Int32(image.width), Int32(image.height), Int32(image.channels), Int32(quality), out, size, msg)
        }
    }

    // MARK: - Internals

    enum Sniffed: Equatable { case jpeg, png, empty, truncatedSignature(String), other(String), unknown }

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static func sniff(_ data: Data) -> Sniffed {
        if data.isEmpty { return .empty }
        let b = [UInt8](data.prefix(16))
        func starts(_ s: [UInt8]) -> Bool { b.count >= s.count && Array(b.prefix(s.count)) == s }
        func ascii(_ s: String, at i: Int = 0) -> Bool {
            let u = Array(s.utf8)
            return b.count >= i + u.count && Array(b[i..<(i + u.count)]) == u
        }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts(pngSignature) { return .png }
        if b.count < 8, Array(pngSignature.prefix(b.count)) == b { return .truncatedSignature("PNG") }
        if b.count < 3, Array([0xFF, 0xD8, 0xFF].prefix(b.count)) == b { return .truncatedSignature("JPEG") }
        if ascii("GIF87a") || ascii("GIF89a") { return .other("GIF") }
        if ascii("BM") && b.count >= 14 { return .other("BMP") }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .other("TIFF") }
        if ascii("RIFF") && ascii("WEBP", at: 8) { return .other("WebP") }
        if ascii("ftyp", at: 4) {
            if ascii("avif", at: 8) || ascii("avis", at: 8) { return .other("AVIF") }
            if ascii("heic", at: 8) || ascii("heix", at: 8) || ascii("mif1", at: 8) { return .other("HEIF") }
        }
        if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || starts([0xFF, 0x4F, 0xFF, 0x51]) { return .other("JPEG 2000") }
        if starts([0xFF, 0x0A]) || starts([0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20]) { return .other("JPEG XL") }
        if ascii("8BPS") { return .other("Photoshop (PSD)") }
        return .unknown
    }

    /// "bytes 68 65 6c 6c 6f 20 77 6f (text "hello wo")" for error messages.
    static func describeHead(_ data: Data) -> String {
        let b = [UInt8](data.prefix(8))
        let hex = b.map { String(format: "%02x", $0) }.joined(separator: " ")
        let printable = b.allSatisfy { (0x20...0x7E).contains($0) || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        if printable {
            let text = String(decoding: b, as: UTF8.self).replacingOccurrences(of: "\n", with: "\\n")
                .replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\t", with: "\\t")
            return "bytes \(hex) (text \"\(text)\")"
        }
        return "bytes \(hex)"
    }

    private typealias Decoder = (UnsafePointer<UInt8>?, Int, UnsafePointer<ic_limits>?, UnsafeMutablePointer<ic_decoded>?) -> Int32

    private static func decodeWith(_ decoder: Decoder, format: String, _ data: Data, path: String,
                                   limits: DecodeLimits) throws -> DecodedImage {
        var out = ic_decoded()
        // The Swift copy of the pixels ([UInt8] in Image) is counted as one more output buffer.
        var lim = ic_limits(max_side: Int64(limits.maxSide), max_pixels: Int64(limits.maxPixels), max_bytes: Int64(limits.maxBytes),
                            max_scans: Int32(clamping: limits.maxJPEGScans), max_scan_pixels: Int64(limits.maxJPEGScanPixels),
                            output_copies: 1)
        let status = data.withUnsafeBytes { raw -> Int32 in
            decoder(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &lim, &out)
        }
        let message = cString(&out.message)
        switch Int(status) {
        case Int(IC_OK):
            break
        case Int(IC_TOO_LARGE):
            throw ImageIOError.limitExceeded(path: path, reason: limitReason(format, out, limits))
        case Int(IC_UNSUPPORTED):
            throw ImageIOError.unsupported(path: path, reason: "\(format): \(message)")
        case Int(IC_NO_MEMORY):
            throw ImageIOError.unsupported(path: path, reason: "\(format) of \(out.width) x \(out.height) pixels: \(message)")
        default:
            throw ImageIOError.corrupt(path: path, reason: "corrupt \(format): \(message)")
        }
        defer { ic_free(out.pixels) }
        let (w, h, c) = (Int(out.width), Int(out.height), Int(out.channels))
        guard let px = out.pixels, w >= 1, h >= 1, c == 1 || c == 3 else {
            throw ImageIOError.corrupt(path: path, reason: "corrupt \(format): decoder returned no pixels")
        }
        let pixels = [UInt8](UnsafeBufferPointer(start: px, count: w * h * c))
        var image = Image(unchecked: w, h, c, pixels)
        var notes: [ConversionNote] = []
        func note(_ kind: ConversionNote.Kind, _ text: String) { notes.append(ConversionNote(kind: kind, text: text, path: path)) }
        let n = out.notes
        if n & Int32(IC_NOTE_PALETTE_EXPANDED) != 0 { note(.paletteExpanded, "palette expanded") }
        if n & Int32(IC_NOTE_LOW_BIT_DEPTH) != 0 { note(.lowBitDepthScaled, "1, 2 or 4-bit gray samples scaled to 8 bits") }
        if n & Int32(IC_NOTE_16BIT_SCALED) != 0 { note(.sixteenBitScaled, "16-bit samples scaled to 8 bits") }
        if n & Int32(IC_NOTE_ALPHA_DROPPED) != 0 { note(.alphaDropped, "alpha channel dropped") }
        if n & Int32(IC_NOTE_CMYK_CONVERTED) != 0 { note(.cmykConverted, "CMYK converted to RGB (no colour management)") }
        if n & Int32(IC_NOTE_YCCK_CONVERTED) != 0 { note(.ycckConverted, "YCCK converted to RGB (no colour management)") }
        if n & Int32(IC_NOTE_MISSING_EOI) != 0 {
            note(.missingEndMarker, "JPEG ends without its end-of-image marker (all pixel data present; decoded)")
        }
        if n & Int32(IC_NOTE_WARNING) != 0 { note(.codecWarning, "\(format) warning: \(cString(&out.warning))") }
        let orientation = Int(out.orientation)
        if orientation >= 2 && orientation <= 8 {
            image = image.applyingEXIFOrientation(orientation)
            let what = [3, 6, 8].contains(orientation) ? "rotated" : (orientation == 2 || orientation == 4) ? "flipped" : "rotated and flipped"
            note(.exifOrientation, "\(what) per EXIF orientation \(orientation)")
        }
        return DecodedImage(image: image, path: path, conversions: notes)
    }

    /// Why a file was refused by `limits` (status IC_TOO_LARGE): its claimed size and the limit.
    private static func limitReason(_ format: String, _ out: ic_decoded, _ limits: DecodeLimits) -> String {
        let (w, h) = (Int(out.width), Int(out.height))
        switch Int(out.limit) {
        case Int(IC_LIMIT_SCANS):
            return "\(format) has more than \(limits.maxJPEGScans) scans (DecodeLimits.maxJPEGScans); progressive JPEGs have about 10, and each scan re-reads the whole \(w) x \(h) image"
        case Int(IC_LIMIT_SCAN_WORK):
            return "\(format)'s first \(out.scans) scans already cover \(out.scan_pixels) pixels, more than \(limits.maxJPEGScanPixels) (DecodeLimits.maxJPEGScanPixels): decoding them would take too long (ordinary files cover about 10 times their \(w) x \(h) image)"
        case Int(IC_LIMIT_MEMORY):
            return "decoding this \(w) x \(h) \(format) would need about \(formatBytes(Int(out.bytes_needed))), more than the limit of \(formatBytes(limits.maxBytes)) (DecodeLimits.maxBytes)"
        case Int(IC_LIMIT_SIDE):
            if w <= 0 || h <= 0 { return "\(format) header claims \(w) x \(h) pixels" }
            return "\(format) header claims \(w) x \(h) pixels; a side of more than \(limits.maxSide) pixels exceeds the limit (DecodeLimits.maxSide)"
        default:
            let (px, _) = w.multipliedReportingOverflow(by: h)
            return "\(format) header claims \(w) x \(h) pixels (\(px) pixels), which exceeds the limit of \(limits.maxPixels) pixels (DecodeLimits.maxPixels); nothing was decoded"
        }
    }

    private static func cString<T>(_ tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[0..<end], as: UTF8.self)
        }
    }

    private static func validate(_ image: Image) throws {
        guard image.width >= 1, image.height >= 1, image.channels == 1 || image.channels == 3,
              image.pixels.count == image.width * image.height * image.channels else {
            throw ImageIOError.invalidArgument(
                "cannot encode a \(image.width) x \(image.height) image with \(image.channels) channels and \(image.pixels.count) values")
        }
    }

    private static func encodeWith(
        _ format: String, _ image: Image,
        _ encode: (UnsafePointer<UInt8>?, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?, UnsafeMutablePointer<Int>?,
                   UnsafeMutablePointer<CChar>?) -> Int32
    ) throws -> Data {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var message = [CChar](repeating: 0, count: Int(IC_MESSAGE_LENGTH))
        let status = image.pixels.withUnsafeBufferPointer { px in
            message.withUnsafeMutableBufferPointer { m in encode(px.baseAddress, &out, &size, m.baseAddress) }
        }
        defer { ic_free(out) }
        guard status == IC_OK, let bytes = out else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageIOError.invalidArgument("\(format) encoding failed: \(text)")
        }
        return Data(bytes: bytes, count: size)
    }
}

/// Writes `data` to a temporary file next to `url`, then renames it over `url`, so readers
/// never see a half-written file and a failure leaves an existing file untouched.
func writeAtomically(_ data: Data, to url: URL) throws {
    let path = url.path
    let dir = url.deletingLastPathComponent()
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
        throw ImageIOError.unwritable(path: path, reason: "folder \(dir.path) does not exist")
    }
    let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
    guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
        throw ImageIOError.unwritable(path: path, reason: "cannot create a temporary file in \(dir.path)")
    }
    do {
        let h = try FileHandle(forWritingTo: tmp)
        defer { try? h.close() }
        try h.write(contentsOf: data)
        try h.synchronize()
    } catch {
        try? FileManager.default.removeItem(at: tmp)
        throw ImageIOError.unwritable(path: path, reason: (error as NSError).localizedDescription)
    }
    if rename(tmp.path, path) != 0 {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(at: tmp)
        throw ImageIOError.unwritable(path: path, reason: reason)
    }
}
