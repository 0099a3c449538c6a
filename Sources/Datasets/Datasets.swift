import Foundation
import ImageIO
import Tensors

/// One loaded item. `input` is the network's input side after `direction` (A for a-to-b),
/// `[1, C, H, W]` in [-1, 1] with C = inputNc; `target` likewise with outputNc (nil in
/// single mode).
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
public final class ImageDataset: @unchecked Sendable {  // immutable after init
    public let options: DataOptions
    public let skipped: [String]

    private struct Item {
        let relative: String
        let a: URL   // the file (aligned, single) or the A side (paired)
        let b: URL?  // the B side (paired)
    }
    private let items: [Item]

    /// For aligned and paired training pass the split folder (e.g. `facades/train`; for paired
    /// it holds `A/` and `B/`). For single: folders and/or files. Several roots are concatenated.
    public init(roots: [URL], options: DataOptions) throws {
        try options.validate()
        guard !roots.isEmpty else { throw DatasetError.invalidOptions("no dataset folder or file given") }
        self.options = options
        var items: [Item] = []
        var skipped: [String] = []
        for root in roots {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDir) else {
                throw DatasetError.missingRoot(path: root.path)
            }
            if options.mode == .paired {
                guard isDir.boolValue else {
                    throw DatasetError.missingFolder(path: root.path, reason: "a paired dataset must be a folder holding A/ and B/")
                }
                items += try Self.pairs(in: root, skipped: &skipped)
            } else if isDir.boolValue {
                items += try Self.listImages(root, skipped: &skipped).map { Item(relative: $0.0, a: $0.1, b: nil) }
            } else {
                guard ImageFile.isImage(root) else { throw DatasetError.notAnImage(path: root.path) }
                items.append(Item(relative: root.lastPathComponent, a: root, b: nil))
            }
        }
        if items.isEmpty {
            throw DatasetError.empty(path: roots.map(\.path).joined(separator: ", "), skipped: skipped.count)
        }
        if let m = options.maxItems { items = Array(items.prefix(m)) }
        self.items = items
        self.skipped = skipped
    }

    public var count: Int { items.count }

    /// Path relative to its root (the A side's, for paired), used to mirror folder structure.
    public func relativePath(_ index: Int) -> String { items[index].relative }

    /// The file of the input side (the file itself for aligned and single).
    public func sourcePath(_ index: Int) -> String {
        let it = items[index]
        if options.mode == .paired, options.direction == .bToA, let b = it.b { return b.path }
        return it.a.path
    }

    /// Loads and preprocesses item `index` for training; all randomness (crop offset, flip)
    /// comes from `rng` (x, y, then flip, as the reference's `get_params`) and is shared by A and B.
    public func sample(_ index: Int, rng: inout RNG) throws -> Sample {
        var (input, target, inPath, tgtPath) = try decoded(index)
        let (ow, oh) = (input.width, input.height)
        let p = try params(width: ow, height: oh, path: inPath, rng: &rng)
        input = try transform(input, p)
        target = try target.map { try transform($0, p) }
        return Sample(input: input.tensor(), target: target?.tensor(), inputPath: inPath, targetPath: tgtPath,
                      originalWidth: ow, originalHeight: oh)
    }

    /// For inference: the images at their decoded size (no resize, crop or flip; only the
    /// channel conversion), plus that size in `originalWidth/Height`. Networks that need
    /// particular sizes pad (the U-Net does).
    public func load(_ index: Int) throws -> Sample {
        let (input, target, inPath, tgtPath) = try decoded(index)
        return Sample(input: input.tensor(), target: target?.tensor(), inputPath: inPath, targetPath: tgtPath,
                      originalWidth: input.width, originalHeight: input.height)
    }

    // MARK: - Decoding

    /// Input and target images (after split, direction and channel conversion) and their paths.
    private func decoded(_ index: Int) throws -> (Image, Image?, String, String?) {
        guard index >= 0, index < items.count else { throw DatasetError.indexOutOfRange(index: index, count: items.count) }
        let it = items[index]
        func read(_ url: URL) throws -> Image {
            do { return try ImageFile.read(url).image } catch let e as ImageIOError { throw DatasetError.image(e) }
        }
        var a: Image, b: Image?
        var pathA = it.a.path, pathB: String?
        switch options.mode {
        case .single:
            a = try read(it.a)
            b = nil
        case .aligned:
            let ab = try read(it.a)
            guard ab.width % 2 == 0 else { throw DatasetError.oddWidth(path: pathA, width: ab.width) }
            let half = ab.width / 2
            a = try ab.cropped(x: 0, y: 0, width: half, height: ab.height)
            b = try ab.cropped(x: half, y: 0, width: half, height: ab.height)
            pathB = pathA
        case .paired:
            guard let bURL = it.b else { throw DatasetError.invalidOptions("internal: paired item without B") }
            a = try read(it.a)
            let bi = try read(bURL)
            pathB = bURL.path
            guard a.width == bi.width, a.height == bi.height else {
                throw DatasetError.pairSizeMismatch(pathA: pathA, widthA: a.width, heightA: a.height,
                                                    pathB: bURL.path, widthB: bi.width, heightB: bi.height)
            }
            b = bi
        }
        if options.direction == .bToA, let bb = b, let pb = pathB {
            (a, b) = (bb, a)
            (pathA, pathB) = (pb, pathA)
        }
        return (a.converted(toChannels: options.inputNc), b?.converted(toChannels: options.outputNc), pathA, pathB)
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

    /// Image files under `root`, recursively (following symbolic links, each real folder once),
    /// as (relative path, URL), sorted bytewise by relative path.
    static func listImages(_ root: URL, skipped: inout [String]) throws -> [(String, URL)] {
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
                if isDir.boolValue { try walk(url, r) } else if ImageFile.isImage(url) { found.append((r, url)) } else { skipped.append(url.path) }
            }
        }
        try walk(root, "")
        skipped.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return found.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
    }

    /// Pairs `root/A/<rel>` with `root/B/<rel>`, matching relative paths without extension.
    private static func pairs(in root: URL, skipped: inout [String]) throws -> [Item] {
        var sides: [[String: (String, URL)]] = []
        for side in ["A", "B"] {
            let dir = root.appendingPathComponent(side)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
                throw DatasetError.missingFolder(path: dir.path, reason: "no such folder; a paired dataset holds A/ and B/ with matching file names")
            }
            var byKey: [String: (String, URL)] = [:]
            for (rel, url) in try listImages(dir, skipped: &skipped) {
                let key = (rel as NSString).deletingPathExtension
                if let other = byKey[key] { throw DatasetError.ambiguousName(first: other.1.path, second: url.path) }
                byKey[key] = (rel, url)
            }
            sides.append(byKey)
        }
        let (a, b) = (sides[0], sides[1])
        func sorted(_ s: [String]) -> [String] { s.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }
        let onlyA = sorted(a.filter { b[$0.key] == nil }.map { "A/" + $0.value.0 })
        let onlyB = sorted(b.filter { a[$0.key] == nil }.map { "B/" + $0.value.0 })
        if !onlyA.isEmpty || !onlyB.isEmpty { throw DatasetError.unpaired(root: root.path, onlyInA: onlyA, onlyInB: onlyB) }
        return a.values.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }.compactMap { rel, url in
            b[(rel as NSString).deletingPathExtension].map { Item(relative: rel, a: url, b: $0.1) }
        }
    }
}
