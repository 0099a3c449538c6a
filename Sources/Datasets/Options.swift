import Foundation
import ImageIO

/// How files make pairs.
/// - auto: found from the folders (`DatasetLayout`); resolved before a dataset is built, so
///   checkpoints always record one of the others.
/// - aligned: one file holds `[A | B]` side by side, about twice as wide as high; it is split
///   at half its width (an odd width is an error, see `DatasetError.oddWidth`). Only the
///   images directly in the folder are read.
/// - paired: the root holds `A/` and `B/` with the same relative paths (the extension may
///   differ: `A/x.jpg` pairs with `B/x.png`).
/// - single: images only, no targets: a folder (searched recursively) or files.
/// - unaligned: two unpaired domains (CycleGAN): the root holds `<phase>A/` and `<phase>B/`
///   (`trainA/`, `trainB/` for the default phase "train"), listed separately (recursively).
///   An epoch has max(|A|, |B|) items; item i is A[i % |A|] with a B image drawn at random
///   (or B[i % |B|] with `serialB`), and A and B get independent crops and flips.
public enum DatasetMode: String, CaseIterable, Codable {
    case auto, aligned, paired, single, unaligned
}

/// Which side is the network's input: A for a-to-b, B for b-to-a.
public enum Direction: String, CaseIterable, Codable {
    case aToB = "a-to-b", bToA = "b-to-a"
}

/// The reference's `--preprocess` choices (pix2pix `get_transform`):
/// - resize-and-crop: resize to loadSize x loadSize (bicubic), random crop cropSize.
/// - crop: random crop cropSize (the image must be at least cropSize on each side).
/// - scale-width: resize to width loadSize keeping the aspect ratio, height at least cropSize.
/// - scale-width-and-crop: scale-width, then random crop cropSize.
/// - none: keep the size, but round both sides to multiples of 4 (bicubic).
public enum Preprocess: String, CaseIterable, Codable {
    case resizeAndCrop = "resize-and-crop", crop, scaleWidth = "scale-width", scaleWidthAndCrop = "scale-width-and-crop", none
}

/// Everything that decides how dataset files become tensors. Saved with checkpoints.
public struct DataOptions: Codable, Equatable {
    public var mode: DatasetMode
    public var direction: Direction
    public var preprocess: Preprocess
    public var loadSize: Int = 286
    public var cropSize: Int = 256
    /// Random horizontal flip with probability 0.5 (the same flip for A and B, except in
    /// unaligned mode, where A and B are flipped and cropped independently).
    public var flip: Bool = true
    /// Channels of the network's input and output side (1 gray, 3 RGB); images are converted.
    public var inputNc: Int = 3
    public var outputNc: Int = 3
    /// Use only the first `maxItems` items (after sorting); in unaligned mode, the first
    /// `maxItems` of A and of B (as the reference's `max_dataset_size`).
    public var maxItems: Int? = nil
    /// Unaligned mode only: the folders read are `<root>/<phase>A` and `<root>/<phase>B`
    /// ("train" -> trainA/trainB, "test" -> testA/testB). Ignored by the other modes, whose
    /// roots name the split folder directly.
    public var phase: String = "train"
    /// Unaligned mode only: pair item i with B[i % |B|] instead of a random B image.
    public var serialB: Bool = false
    /// What the items are made of and how they are read and shown (`ImageTask.definition`).
    public var task: ImageTask = .translation
    /// The layout task's label format, classes and working size (nil for the other tasks).
    public var layout: LayoutOptions? = nil

    public init(mode: DatasetMode, direction: Direction = .aToB, preprocess: Preprocess = .resizeAndCrop,
                loadSize: Int = 286, cropSize: Int = 256, flip: Bool = true, inputNc: Int = 3, outputNc: Int = 3,
                maxItems: Int? = nil, phase: String = "train", serialB: Bool = false) {
        self.mode = mode
        self.direction = direction
        self.preprocess = preprocess
        self.loadSize = loadSize
        self.cropSize = cropSize
        self.flip = flip
        self.inputNc = inputNc
        self.outputNc = outputNc
        self.maxItems = maxItems
        self.phase = phase
        self.serialB = serialB
    }

    private enum CodingKeys: String, CodingKey {
        case mode, direction, preprocess, loadSize, cropSize, flip, inputNc, outputNc, maxItems, phase, serialB, task, layout
    }

    /// Missing keys take the defaults, so options saved by older versions still load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(mode: try c.decode(DatasetMode.self, forKey: .mode))
        direction = try c.decodeIfPresent(Direction.self, forKey: .direction) ?? direction
        preprocess = try c.decodeIfPresent(Preprocess.self, forKey: .preprocess) ?? preprocess
        loadSize = try c.decodeIfPresent(Int.self, forKey: .loadSize) ?? loadSize
        cropSize = try c.decodeIfPresent(Int.self, forKey: .cropSize) ?? cropSize
        flip = try c.decodeIfPresent(Bool.self, forKey: .flip) ?? flip
        inputNc = try c.decodeIfPresent(Int.self, forKey: .inputNc) ?? inputNc
        outputNc = try c.decodeIfPresent(Int.self, forKey: .outputNc) ?? outputNc
        maxItems = try c.decodeIfPresent(Int.self, forKey: .maxItems)
        phase = try c.decodeIfPresent(String.self, forKey: .phase) ?? phase
        serialB = try c.decodeIfPresent(Bool.self, forKey: .serialB) ?? serialB
        task = try c.decodeIfPresent(ImageTask.self, forKey: .task) ?? task
        layout = try c.decodeIfPresent(LayoutOptions.self, forKey: .layout)
    }

    /// Throws `DatasetError.invalidOptions` naming the offending setting (CLI spelling).
    public func validate() throws {
        func bad(_ s: String) -> DatasetError { .invalidOptions(s) }
        guard loadSize >= 1 else { throw bad("--load-size must be positive, got \(loadSize)") }
        guard cropSize >= 1 else { throw bad("--crop-size must be positive, got \(cropSize)") }
        guard cropSize <= 8192, loadSize <= 8192 else { throw bad("--load-size and --crop-size must be at most 8192, got \(loadSize) and \(cropSize)") }
        try taskDefinition.validate(self)
        if preprocess == .resizeAndCrop || preprocess == .scaleWidthAndCrop, loadSize < cropSize {
            throw bad("--load-size \(loadSize) is smaller than --crop-size \(cropSize), which \(preprocess.rawValue) needs to crop")
        }
        if let m = maxItems, m < 1 { throw bad("--max-items must be positive, got \(m)") }
        guard !phase.isEmpty, !phase.contains("/") else {
            throw bad("--phase must be a non-empty folder name prefix without '/', got '\(phase)'")
        }
    }
}

/// Dataset errors: each names the file(s) or folder involved.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case missingRoot(path: String)
    /// A folder the mode needs (e.g. `A/` of a paired dataset) is missing, or a root is not a folder.
    case missingFolder(path: String, reason: String)
    /// A file given explicitly is not a JPEG/PNG by its name.
    case notAnImage(path: String)
    /// No images found; `skipped` non-image files were seen.
    case empty(path: String, skipped: Int)
    /// Paired mode: names without a partner (all of them; the description lists a few).
    case unpaired(root: String, onlyInA: [String], onlyInB: [String])
    /// Two files in one folder differ only by extension, so pairing by name is ambiguous.
    case ambiguousName(first: String, second: String)
    case pairSizeMismatch(pathA: String, widthA: Int, heightA: Int, pathB: String, widthB: Int, heightB: Int)
    case tooSmall(path: String, width: Int, height: Int, cropSize: Int)
    case oddWidth(path: String, width: Int)
    /// An aligned image that is not about 2:1.
    case notSideBySide(path: String, width: Int, height: Int)
    /// The folders do not make the layout this command needs.
    case wrongLayout(path: String, reason: String)
    /// A label map that cannot be used (wrong channels, classes, palette).
    case layout(path: String, reason: String)
    /// A layout setting (`flag`) that does not fit the label maps.
    case layoutOption(flag: String, reason: String)
    /// Two inputs would be written to the same output name.
    case nameCollision(first: String, second: String, output: String)
    /// Images of one batch ended up with different sizes (e.g. scale-width with batch size > 1).
    case mixedSizes(pathA: String, shapeA: [Int], pathB: String, shapeB: [Int])
    /// Decoding failed; keeps the ImageIOError (and its message, which starts with the path).
    case image(ImageIOError)
    case unreadableFolder(path: String, reason: String)
    case invalidOptions(String)
    case indexOutOfRange(index: Int, count: Int)

    public var description: String {
        func few(_ names: [String]) -> String {
            let shown = names.prefix(5).joined(separator: ", ")
            return names.count > 5 ? shown + ", ... (\(names.count) in all)" : shown
        }
        switch self {
        case let .missingRoot(path):
            return "\(path): no such file or folder"
        case let .missingFolder(path, reason):
            return "\(path): \(reason)"
        case let .notAnImage(path):
            return "\(path): not an image file (expected .\(ImageFile.extensions.sorted().joined(separator: ", .")))"
        case let .empty(path, skipped):
            return "\(path): no images found" + (skipped > 0 ? " (\(skipped) non-image file(s) skipped)" : "")
        case let .unpaired(root, a, b):
            var parts: [String] = []
            if !a.isEmpty { parts.append("\(a.count) file(s) in A/ without a partner in B/: \(few(a))") }
            if !b.isEmpty { parts.append("\(b.count) file(s) in B/ without a partner in A/: \(few(b))") }
            return "\(root): unpaired images: " + parts.joined(separator: "; ")
        case let .ambiguousName(first, second):
            return "\(first): ambiguous pairing, \(second) has the same name with another extension"
        case let .pairSizeMismatch(pa, wa, ha, pb, wb, hb):
            return "\(pa): size \(wa) x \(ha) differs from its pair \(pb) of size \(wb) x \(hb)"
        case let .tooSmall(path, w, h, crop):
            return "\(path): image is \(w) x \(h), smaller than --crop-size \(crop)"
        case let .oddWidth(path, w):
            return "\(path): an aligned image holds [A | B] side by side, so its width must be even; it is \(w)"
        case let .notSideBySide(path, w, h):
            return "\(path): image is \(w) x \(h); an aligned image holds [A | B] side by side, so it must be about twice as wide as high. For inputs and targets in separate files use A/ and B/ folders with matching names"
        case let .layout(path, reason):
            return "\(path): \(reason)"
        case let .layoutOption(flag, reason):
            return "\(flag): \(reason)"
        case let .wrongLayout(path, reason):
            return "\(path): \(reason)"
        case let .nameCollision(a, b, out):
            return "\(a) and \(b) would both be written as \(out); give them in separate runs or rename one"
        case let .mixedSizes(pa, sa, pb, sb):
            return "\(pa): batch mixes image sizes, \(sa) here and \(sb) for \(pb); use --batch-size 1 or a preprocess that crops to a fixed size"
        case let .image(e):
            return e.description
        case let .unreadableFolder(path, reason):
            return "\(path): cannot list folder: \(reason)"
        case let .invalidOptions(s):
            return s
        case let .indexOutOfRange(i, n):
            return "dataset index \(i) is out of range (\(n) items)"
        }
    }
}

extension DatasetError: LocalizedError {
    public var errorDescription: String? { description }
}
