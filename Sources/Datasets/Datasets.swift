import Foundation
import ImageIO
import Tensors

/// One loaded item. `input` is the network's input side after `direction` (A for a-to-b),
/// `[1, C, H, W]` in [-1, 1] with C = inputNc; `target` likewise with outputNc (nil in
/// single mode). In unaligned mode the two sides are unrelated images of the two domains.
public struct Sample {
    public var input: Tensor
    public var target: Tensor?
    public var inputPath: String
    public var targetPath: String?
    /// Size of the input-side image as decoded (after the aligned split), before preprocessing.
    public var originalWidth: Int
    public var originalHeight: Int

    public init(input: Tensor, target: Tensor?, inputPath: String, targetPath: String?,
                originalWidth: Int, originalHeight: Int) {
        self.input = input
        self.target = target
        self.inputPath = inputPath
        self.targetPath = targetPath
        self.originalWidth = originalWidth
        self.originalHeight = originalHeight
    }
}

/// A list of image files (or pairs) and the reference's preprocessing.
///
/// Files are found recursively, sorted by relative path (bytewise), so indices are the same on
/// every machine. Hidden files and folders (names starting with ".") are ignored; other
/// non-image files are skipped and listed in `skipped`. Decoding happens in `sample`/`load`,
/// so a corrupt file is reported when its item is loaded.
///
/// Unaligned mode (CycleGAN): each root holds `<phase>A/` and `<phase>B/`; the two domains are
/// listed separately and `count` is max(|A|, |B|). Item i is A[i % |A|] with B drawn from the
/// item's generator (or B[i % |B|] with `serialB`) in `sample`, B[i % |B|] in `load`.
/// `count(_:)`, `load(_:_:)` and `relativePath(_:_:)` reach each domain's own list (for
/// evaluation on all of testA and all of testB).
public final class ImageDataset: @unchecked Sendable {  // immutable after init
    public let options: DataOptions
    public let skipped: [String]
    /// Conversions made while decoding (thread-safe; see `ConversionLog`).
    public let conversions = ConversionLog()

    /// The files of the mode, and how an item's sides are decoded (`Sources/`).
    private let source: DatasetSource

    /// The two domains (unaligned), or the two sides of a pair (aligned, paired), before
    /// `direction` is applied.
    public enum Domain: String, CaseIterable {
        case a = "A", b = "B"
    }

    /// For aligned and paired training pass the split folder (e.g. `facades/train`; for paired
    /// it holds `A/` and `B/`). For single: folders and/or files. For unaligned: the dataset
    /// folder holding `<phase>A/` and `<phase>B/` (e.g. `iphone2dslr_flower`, phase "train").
    /// Several roots are concatenated (per domain, for unaligned).
    public init(roots: [URL], options: DataOptions) throws {
        try options.validate()
        guard !roots.isEmpty else { throw DatasetError.invalidOptions("no dataset folder or file given") }
        self.options = options
        var skipped: [String] = []
        var source: DatasetSource
        switch options.mode {
        case .single: source = try SingleSource(roots: roots, skipped: &skipped)
        case .aligned: source = try AlignedSource(roots: roots, skipped: &skipped)
        case .paired: source = try PairedSource(roots: roots, skipped: &skipped)
        case .unaligned: source = try UnalignedSource(roots: roots, phase: options.phase, skipped: &skipped)
        case .auto: throw DatasetError.invalidOptions("internal: dataset mode auto must be resolved with DatasetLayout first")
        }
        if source.count == 0 {
            throw DatasetError.empty(path: roots.map(\.path).joined(separator: ", "), skipped: skipped.count)
        }
        if let m = options.maxItems { source = source.prefix(m) }
        try options.taskDefinition.checkListed(options, firstFile: source.path(.a, 0))
        // Outputs are named by relative path: two items with one name would overwrite each other.
        var seen: [String: URL] = [:]
        for (name, url) in source.outputNames ?? [] {
            if let other = seen.updateValue(url, forKey: name) {
                throw DatasetError.nameCollision(first: other.path, second: url.path, output: name)
            }
        }
        self.source = source
        self.skipped = skipped
    }

    /// Whether `url` is a folder; a missing path is an error naming it unless `missingOK`.
    static func isFolder(_ url: URL, missingOK: Bool = false) throws -> Bool {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            if missingOK { return false }
            throw DatasetError.missingRoot(path: url.path)
        }
        return isDir.boolValue
    }

    /// Why a path in `skipped` was skipped, in words.
    public static func whySkipped(_ path: String) -> String {
        if path.unicodeScalars.contains("\u{FFFD}") {
            return "its name is not valid UTF-8, so it cannot be opened by name (rename it to read it)"
        }
        if path.hasSuffix("/") { return "a folder (this layout reads no subfolders)" }
        if !FileManager.default.fileExists(atPath: path) { return "a broken symbolic link" }
        return "not an image file"
    }

    /// Items per epoch: max(|A|, |B|) in unaligned mode.
    public var count: Int { source.count }

    /// Files of one domain (unaligned), or `count` for either side of aligned/paired items
    /// (0 for B in single mode).
    public func count(_ domain: Domain) -> Int { source.count(domain) }

    /// The side that is the network's input after `direction` (A in single mode).
    private var inputDomain: Domain { options.direction == .bToA && source.count(.b) > 0 ? .b : .a }

    /// Path relative to its root (the A side's, for paired), used to mirror folder structure.
    /// Unaligned: relative to `<phase>A/` or `<phase>B/`, of the input side's file in `load(index)`.
    public func relativePath(_ index: Int) -> String {
        let d = inputDomain
        return source.relativePath(d, index % source.count(d))
    }

    /// A domain file's path relative to its folder (unaligned), or `relativePath(index)`.
    public func relativePath(_ domain: Domain, _ index: Int) -> String { source.relativePath(domain, index) }

    /// The file of the input side (the file itself for aligned and single; unaligned: the
    /// input side's file in `load(index)`).
    public func sourcePath(_ index: Int) -> String {
        let d = inputDomain
        return source.path(d, index % source.count(d))
    }

    /// Loads and preprocesses item `index` for training; all randomness (crop offset, flip)
    /// comes from `rng` (x, y, then flip, as the reference's `get_params`) and is shared by A and B.
    ///
    /// Unaligned: draws the B index first (unless `serialB`), then A's x, y, flip, then B's
    /// own x, y, flip (independent crops and flips); then `direction` swaps the sides.
    public func sample(_ index: Int, rng: inout RNG) throws -> Sample {
        guard index >= 0, index < count else { throw DatasetError.indexOutOfRange(index: index, count: count) }
        if let files = source.independentFiles(index, serialB: options.serialB, rng: &rng) { return try independentSample(files, rng: &rng) }
        return try options.taskDefinition.sample(self, index, rng: &rng)
    }

    /// For inference: the images at their decoded size (no resize, crop or flip; only the
    /// channel conversion), plus that size in `originalWidth/Height`. Networks that need
    /// particular sizes pad (the U-Net does). Unaligned: A[i % |A|] and B[i % |B|].
    public func load(_ index: Int) throws -> Sample {
        try options.taskDefinition.load(self, index)
    }

    /// For inference on one domain: file `index` of `domain` (unaligned; for aligned/paired the
    /// side `domain` of item `index`) at its decoded size in `input` (`target` nil), converted
    /// to the channels of the side it plays after `direction` (inputNc if it is the input side).
    public func load(_ domain: Domain, _ index: Int) throws -> Sample {
        let n = count(domain)
        guard index >= 0, index < n else { throw DatasetError.indexOutOfRange(index: index, count: n) }
        let (image, path) = try source.image(domain, index, read: read)
        let isInput = (domain == .a) == (options.direction == .aToB)
        let img = channels(image, isInput ? options.inputNc : options.outputNc, path: path)
        return Sample(input: img.tensor(), target: nil, inputPath: path, targetPath: nil,
                      originalWidth: img.width, originalHeight: img.height)
    }

    // MARK: - Decoding

    /// Decodes `url`, recording its conversions in `conversions`.
    func read(_ url: URL) throws -> Image {
        do {
            let d = try ImageFile.read(url)
            conversions.record(d.conversions)
            return d.image
        } catch let e as ImageIOError { throw DatasetError.image(e) }
    }

    /// `image` with `channels` channels, recording a gray/RGB conversion in `conversions`.
    func channels(_ image: Image, _ channels: Int, path: String) -> Image {
        if let n = ConversionNote.channelConversion(from: image.channels, to: channels, path: path) { conversions.record([n]) }
        return image.converted(toChannels: channels)
    }

    /// Input and target images of item `index` after the aligned split and `direction`
    /// (before channel conversion) and their paths.
    func directedSides(_ index: Int) throws -> (Image, Image?, String, String?) {
        var (a, b, pathA, pathB) = try rawSides(index)
        if options.direction == .bToA, let bb = b, let pb = pathB {
            (a, b) = (bb, a)
            (pathA, pathB) = (pb, pathA)
        }
        return (a, b, pathA, pathB)
    }

    /// A and B images of item `index` (after the aligned split) and their paths, before
    /// `direction` and channel conversion. Unaligned: A[i % |A|], B[i % |B|].
    func rawSides(_ index: Int) throws -> (Image, Image?, String, String?) {
        guard index >= 0, index < count else { throw DatasetError.indexOutOfRange(index: index, count: count) }
        let s = try source.sides(index, read: read)
        return (s.a, s.b, s.pathA, s.pathB)
    }

    /// A training sample of unrelated A and B files (unaligned): independent preprocessing of
    /// each (A's x, y, flip, then B's), then direction and channel conversion.
    private func independentSample(_ files: (a: URL, b: URL), rng: inout RNG) throws -> Sample {
        let rawA = try read(files.a), rawB = try read(files.b)
        let pa = try params(width: rawA.width, height: rawA.height, path: files.a.path, rng: &rng)
        let a = try transform(rawA, pa)
        let pb = try params(width: rawB.width, height: rawB.height, path: files.b.path, rng: &rng)
        let b = try transform(rawB, pb)
        let aIsInput = options.direction == .aToB
        let (input, target) = aIsInput ? (a, b) : (b, a)
        let (inPath, tgtPath) = aIsInput ? (files.a.path, files.b.path) : (files.b.path, files.a.path)
        let (ow, oh) = aIsInput ? (rawA.width, rawA.height) : (rawB.width, rawB.height)
        return Sample(input: channels(input, options.inputNc, path: inPath).tensor(),
                      target: channels(target, options.outputNc, path: tgtPath).tensor(),
                      inputPath: inPath, targetPath: tgtPath, originalWidth: ow, originalHeight: oh)
    }

    // MARK: - Preprocessing (pix2pix get_params / get_transform)

    struct Params: Equatable {
        var x: Int, y: Int, flip: Bool
    }

    /// The reference's `get_params`: crop offset from the size the image will have after
    /// resizing, and the flip coin. Three draws always, whatever the options.
    func params(width w: Int, height h: Int, path: String, rng: inout RNG) throws -> Params {
        let o = options
        var newW = w, newH = h
        switch o.preprocess {
        case .resizeAndCrop: newW = o.loadSize; newH = o.loadSize
        case .scaleWidthAndCrop: newW = o.loadSize; newH = o.loadSize * h / w
        case .crop:
            guard w >= o.cropSize, h >= o.cropSize else {
                throw DatasetError.tooSmall(path: path, width: w, height: h, cropSize: o.cropSize)
            }
        case .scaleWidth, .none: break
        }
        let x = rng.nextInt(max(0, newW - o.cropSize) + 1)
        let y = rng.nextInt(max(0, newH - o.cropSize) + 1)
        let flip = rng.nextDouble() > 0.5
        return Params(x: x, y: y, flip: flip)
    }

    /// The reference's `get_transform` (resize, crop, make multiple of 4, flip) for one image.
    func transform(_ image: Image, _ p: Params) throws -> Image {
        let o = options
        var img = image
        switch o.preprocess {
        case .resizeAndCrop:
            img = img.resized(width: o.loadSize, height: o.loadSize, filter: .bicubic)
        case .scaleWidth, .scaleWidthAndCrop:
            img = Self.scaleWidth(img, target: o.loadSize, minHeight: o.cropSize)
        case .crop, .none:
            break
        }
        if o.preprocess == .resizeAndCrop || o.preprocess == .crop || o.preprocess == .scaleWidthAndCrop {
            let c = o.cropSize
            if img.width > c || img.height > c {
                img = try img.cropped(x: p.x, y: p.y, width: c, height: c)
            }
        }
        if o.preprocess == .none { img = Self.makeMultiple(img, base: 4) }
        if o.flip && p.flip { img = img.flippedHorizontally() }
        return img
    }

    /// `__scale_width`: width `target`, height `int(max(target * h / w, minHeight))`.
    static func scaleWidth(_ img: Image, target: Int, minHeight: Int) -> Image {
        if img.width == target && img.height >= minHeight { return img }
        let h = Int(max(Double(target) * Double(img.height) / Double(img.width), Double(minHeight)))
        return img.resized(width: target, height: h, filter: .bicubic)
    }

    /// `__make_power_2`: sides rounded (half to even, as Python's round) to multiples of
    /// `base`, at least `base`; bicubic when the size changes.
    static func makeMultiple(_ img: Image, base: Int) -> Image {
        func side(_ s: Int) -> Int { max(base, Int((Double(s) / Double(base)).rounded(.toNearestOrEven)) * base) }
        let w = side(img.width), h = side(img.height)
        if w == img.width && h == img.height { return img }
        return img.resized(width: w, height: h, filter: .bicubic)
    }

    // MARK: - Listing

    /// Image files under `root`, recursively unless `recursive` is false (following symbolic
    /// links, each real folder once),
    /// as (relative path, URL), sorted bytewise by relative path.
    static func listImages(_ root: URL, recursive: Bool = true, skipped: inout [String]) throws -> [(String, URL)] {
        var found: [(String, URL)] = []
        var visited = Set<String>()
        func walk(_ dir: URL, _ rel: String) throws {
            guard visited.insert(dir.resolvingSymlinksInPath().path).inserted else { return }
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: dir.path) } catch {
                throw DatasetError.unreadableFolder(path: dir.path, reason: (error as NSError).localizedDescription)
            }
            for name in names where !name.hasPrefix(".") {
                let url = dir.appendingPathComponent(name)
                let r = rel.isEmpty ? name : rel + "/" + name
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
                    skipped.append(url.path)  // a broken symbolic link
                    continue
                }
                if isDir.boolValue { if recursive { try walk(url, r) } else { skipped.append(url.path + "/") } } else if ImageFile.isImage(url) { found.append((r, url)) } else { skipped.append(url.path) }
            }
        }
        try walk(root, "")
        skipped.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return found.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
    }
}
