import Foundation

/// One thing that was changed on the way from a file to an 8-bit gray or RGB `Image`: by the
/// decoder (alpha dropped, 16-bit scaled, palette expanded, CMYK converted, EXIF rotation, a
/// JPEG without its end marker) or by a channel conversion (gray expanded to RGB).
public struct ConversionNote: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, CaseIterable, Hashable, Sendable {
        case paletteExpanded = "palette expanded"
        case lowBitDepthScaled = "low bit depth scaled"
        case sixteenBitScaled = "16-bit scaled"
        case alphaDropped = "alpha dropped"
        case cmykConverted = "CMYK converted"
        case ycckConverted = "YCCK converted"
        case exifOrientation = "EXIF orientation applied"
        case missingEndMarker = "JPEG end marker missing"
        case codecWarning = "codec warning"
        case grayExpanded = "gray expanded to RGB"
        case colorToGray = "RGB converted to gray"
    }

    public var kind: Kind
    /// What happened, e.g. "alpha channel dropped", "rotated per EXIF orientation 6".
    public var text: String
    /// The file it happened to.
    public var path: String

    public init(kind: Kind, text: String, path: String) {
        self.kind = kind
        self.text = text
        self.path = path
    }

    /// "a.png: alpha channel dropped".
    public var description: String { "\(path): \(text)" }

    /// The note for `image.converted(toChannels: to)` of an image with `from` channels, or nil
    /// when the channels stay the same.
    public static func channelConversion(from: Int, to: Int, path: String) -> ConversionNote? {
        if from == to { return nil }
        return to == 3
            ? ConversionNote(kind: .grayExpanded, text: "gray image expanded to RGB (the model takes 3 channels)", path: path)
            : ConversionNote(kind: .colorToGray, text: "RGB image converted to gray (the model takes 1 channel)", path: path)
    }
}

/// Collects the conversion notes of the files a command reads so that each kind is said once
/// per run (with the first file it happened to) and counted in a summary at the end. A value:
/// the caller creates one per run and records into it; nothing is global.
///
///     var conversions = ConversionNotes()
///     for url in files {
///         let d = try ImageFile.read(url)
///         for line in conversions.record(d) { print(line) }   // new kinds only
///     }
///     for line in conversions.summary { print(line) }         // one line per kind, with counts
public struct ConversionNotes: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var kind: ConversionNote.Kind
        /// The first note of this kind (its file and text).
        public var first: ConversionNote
        /// How many notes of this kind were recorded (a file gives at most one of each kind).
        public var count: Int
    }

    /// One entry per kind, in the order the kinds were first seen.
    public private(set) var entries: [Entry] = []

    public init() {}

    public var isEmpty: Bool { entries.isEmpty }

    /// Records `notes`; returns one line for each kind not seen before in this run, e.g.
    /// "note: a.png: alpha channel dropped (said once; later files are counted)".
    @discardableResult
    public mutating func record(_ notes: [ConversionNote]) -> [String] {
        var lines: [String] = []
        for n in notes {
            if let i = entries.firstIndex(where: { $0.kind == n.kind }) {
                entries[i].count += 1
            } else {
                entries.append(Entry(kind: n.kind, first: n, count: 1))
                lines.append("note: \(n.path): \(n.text) (said once; later files are counted)")
            }
        }
        return lines
    }

    /// Records the notes of a decoded file.
    @discardableResult
    public mutating func record(_ decoded: DecodedImage) -> [String] { record(decoded.conversions) }

    /// Adds the counts of `other` (e.g. collected on another thread); kinds new to `self` keep
    /// `other`'s first note.
    public mutating func merge(_ other: ConversionNotes) {
        for e in other.entries {
            if let i = entries.firstIndex(where: { $0.kind == e.kind }) {
                entries[i].count += e.count
            } else {
                entries.append(e)
            }
        }
    }

    /// One line per kind: "alpha channel dropped: 12 files (first: a.png)".
    public var summary: [String] {
        entries.map { e in
            "\(e.first.text): \(e.count) file\(e.count == 1 ? "" : "s") (first: \(e.first.path))"
        }
    }
}
