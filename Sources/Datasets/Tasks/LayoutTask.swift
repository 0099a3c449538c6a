import Foundation
import ImageIO
import Tensors

/// The layout-to-image task: a label map in (one-hot, `numClasses` channels), its photo out,
/// both at the working size `width` x `height`. Any method that takes these channels trains
/// on it (pix2pix, conditional IMLE).
///
/// Labels are class-id PNGs beside the photos (CamVid: `<split>/x.png` with
/// `<split><labelsSuffix>/x.png`, single mode) or colour-coded maps quantised to `palette`
/// (the facades B side: aligned `[photo | labels]` with direction b-to-a). A label map must
/// cover its photo pixel for pixel; both are resized to the working size (labels by nearest
/// neighbour, photos bicubic) and flipped together.
public struct LayoutOptions: Codable, Equatable, Sendable {
    public var labelFormat = LabelFormat.ids
    public var numClasses = 12
    public var width = 128, height = 96
    /// Palette format: one RGB colour per class, fitted on the training labels.
    public var palette: [[Int]] = []
    /// Class-id format: labels of `<split>/x.*` are `<split><labelsSuffix>/x.png`.
    public var labelsSuffix = "annot"

    public init(labelFormat: LabelFormat = .ids, numClasses: Int = 12, width: Int = 128, height: Int = 96) {
        self.labelFormat = labelFormat; self.numClasses = numClasses; self.width = width; self.height = height
    }

    private enum CodingKeys: String, CodingKey { case labelFormat, numClasses, width, height, palette, labelsSuffix }

    /// Missing keys take the defaults (the settings of older cIMLE files are read this way).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        labelFormat = try c.decodeIfPresent(LabelFormat.self, forKey: .labelFormat) ?? labelFormat
        numClasses = try c.decodeIfPresent(Int.self, forKey: .numClasses) ?? numClasses
        width = try c.decodeIfPresent(Int.self, forKey: .width) ?? width
        height = try c.decodeIfPresent(Int.self, forKey: .height) ?? height
        palette = try c.decodeIfPresent([[Int]].self, forKey: .palette) ?? palette
        labelsSuffix = try c.decodeIfPresent(String.self, forKey: .labelsSuffix) ?? labelsSuffix
    }

    /// Errors name the flag.
    public func validate() throws {
        if numClasses < 2 || numClasses > 255 { throw DatasetError.layoutOption(flag: "--num-classes", reason: "must be between 2 and 255, got \(numClasses)") }
        if width < 8 || height < 8 || width > 4096 || height > 4096 {
            throw DatasetError.layoutOption(flag: "--width/--height", reason: "must be between 8 and 4096, got \(width)x\(height)")
        }
        if labelFormat == .palette && !palette.isEmpty && palette.count != numClasses {
            throw DatasetError.layoutOption(flag: "--num-classes", reason: "the palette has \(palette.count) colours for \(numClasses) classes")
        }
    }

    /// The label file of a photo in class-id format.
    public func labelURL(photo: String) -> URL {
        let u = URL(fileURLWithPath: photo)
        let dir = u.deletingLastPathComponent()
        return dir.deletingLastPathComponent().appendingPathComponent(dir.lastPathComponent + labelsSuffix)
            .appendingPathComponent(u.deletingPathExtension().lastPathComponent + ".png")
    }

    /// Class ids of a label image at the working size (nearest neighbour); `path` names it in errors.
    public func ids(_ label: Image, path: String) throws -> [Int] {
        let ids = try LayoutCodec.ids(label, format: labelFormat, numClasses: numClasses, palette: palette, path: path)
        return try LayoutCodec.resize(ids, width: label.width, height: label.height, toWidth: width, toHeight: height)
    }

    /// The network input of a label image: [1, numClasses, height, width] one-hot.
    public func input(_ label: Image, path: String) throws -> Tensor {
        try LayoutCodec.oneHot(try ids(label, path: path), width: width, height: height, numClasses: numClasses)
    }

    /// The label map of a one-hot input (item `index`) in display colours.
    public func display(_ oneHot: Tensor, index: Int = 0) throws -> Image {
        guard oneHot.shape.count == 4, oneHot.shape[1] == numClasses, oneHot.shape[2] == height, oneHot.shape[3] == width else {
            throw DatasetError.layoutOption(flag: "--num-classes", reason: "a layout input of shape \(oneHot.shape) is not \(numClasses) x \(height) x \(width)")
        }
        let plane = width * height, base = index * numClasses * plane
        let ids = oneHot.data.withUnsafeBufferPointer { d in
            (0..<plane).map { p in (0..<numClasses).max { d[base + $0 * plane + p] < d[base + $1 * plane + p] }! }
        }
        return try LayoutCodec.colorize(ids, width: width, height: height, palette: palette, numClasses: numClasses)
    }

    /// The sample of a label map and its photo (checked to be the same size): the one-hot
    /// labels and the photo at the working size, flipped together when `flip`.
    func sample(label: Image, labelPath: String, photo: Image, photoPath: String, flip: Bool) throws -> Sample {
        guard label.width == photo.width, label.height == photo.height else {
            throw DatasetError.layout(path: labelPath, reason: "label map is \(label.width) x \(label.height), but its photo \(photoPath) is \(photo.width) x \(photo.height); a label map must have its photo's size")
        }
        var ids = try ids(label, path: labelPath)
        var small = photo.converted(toChannels: 3).resized(width: width, height: height, filter: .bicubic)
        if flip {
            small = small.flippedHorizontally()
            let w = width
            ids = (0..<ids.count).map { ids[($0 / w) * w + w - 1 - $0 % w] }
        }
        return Sample(input: try LayoutCodec.oneHot(ids, width: width, height: height, numClasses: numClasses), target: small.tensor(),
                      inputPath: labelPath, targetPath: photoPath, originalWidth: label.width, originalHeight: label.height)
    }
}

extension ImageDataset {
    /// The layout task's sample of item `index` (`flip` mirrors labels and photo together).
    func layoutSample(_ index: Int, flip: Bool) throws -> Sample {
        guard let layout = options.layout else { throw DatasetError.invalidOptions("internal: the layout task without its options") }
        switch layout.labelFormat {
        case .ids:
            let (photo, _, photoPath, _) = try rawSides(index)
            let u = layout.labelURL(photo: photoPath)
            guard FileManager.default.fileExists(atPath: u.path) else {
                throw DatasetError.layout(path: u.path, reason: "no label map for the photo \(photoPath) (the labels of <split>/x.* are <split>\(layout.labelsSuffix)/x.png; --labels-suffix changes the folder)")
            }
            return try layout.sample(label: try read(u), labelPath: u.path, photo: channels(photo, 3, path: photoPath), photoPath: photoPath, flip: flip)
        case .palette:
            let (a, b, pa, pb) = try rawSides(index)
            guard let bb = b, let pbb = pb else { throw DatasetError.invalidOptions("palette layouts need pairs (aligned [photo | labels] files or A/ B/ folders)") }
            // a-to-b: A is the label map; b-to-a (facades): B is.
            let (label, photo, lp, pp) = options.direction == .aToB ? (a, bb, pa, pbb) : (bb, a, pbb, pa)
            return try layout.sample(label: label, labelPath: lp, photo: channels(photo, 3, path: pp), photoPath: pp, flip: flip)
        }
    }
}

/// The layout-to-image task (`LayoutOptions` in `DataOptions.layout`): one-hot label maps in
/// at the working size, photos out; outputs are resized to each label map's size.
public struct LayoutTask: TaskDefinition {
    public init() {}
    public var title: String { "layout to image" }
    public var items: String { "layouts" }
    public var inputName: String { "layout" }
    /// Labels and photos are resized to the working size, not preprocessed.
    public var resizes: Bool { false }

    func options(_ o: DataOptions) throws -> LayoutOptions {
        guard let l = o.layout else { throw DatasetError.invalidOptions("the layout task needs its label format, classes and working size") }
        return l
    }

    public func fixedChannels(_ o: DataOptions) -> (input: Int, output: Int)? { o.layout.map { ($0.numClasses, 3) } }

    /// Class ids come beside photos (single mode); palette maps are one side of pairs.
    public func prepare(_ o: inout DataOptions) {
        guard let l = o.layout else { return }
        if l.labelFormat == .ids { o.mode = .single } else if ![.auto, .aligned, .paired].contains(o.mode) { o.mode = .auto }
        o.preprocess = .none
        o.inputNc = l.numClasses
        o.outputNc = 3
    }

    public func validate(_ o: DataOptions) throws {
        let l = try options(o)
        try l.validate()
        guard o.inputNc == l.numClasses, o.outputNc == 3 else {
            throw DatasetError.invalidOptions("layouts are one-hot label maps in (--num-classes \(l.numClasses) channels) and RGB photos out; got --input-nc \(o.inputNc), --output-nc \(o.outputNc)")
        }
        guard (l.labelFormat == .ids) == (o.mode == .single) else {
            throw DatasetError.invalidOptions(l.labelFormat == .ids ? "class-id labels go with photos in a split folder (single mode), not \(o.mode.rawValue) pairs" : "palette labels are one side of aligned or paired images, not single images")
        }
    }

    public func workingSize(_ o: DataOptions) -> (width: Int, height: Int, flag: String) {
        (o.layout?.width ?? 0, o.layout?.height ?? 0, "--width/--height")
    }

    /// Class-id layouts: the label folder must be there before anything is trained on.
    public func checkListed(_ o: DataOptions, firstFile: String) throws {
        guard let l = o.layout, l.labelFormat == .ids else { return }
        let first = URL(fileURLWithPath: firstFile).deletingLastPathComponent()
        let labels = first.deletingLastPathComponent().appendingPathComponent(first.lastPathComponent + l.labelsSuffix)
        guard (try? ImageDataset.isFolder(labels, missingOK: true)) == true else {
            throw DatasetError.layout(path: labels.path, reason: "no such folder: class-id layouts read the labels of \(first.path)/x.* from \(labels.lastPathComponent)/x.png (--labels-suffix changes the name; --label-format palette reads colour-coded labels)")
        }
    }

    public func sample(_ ds: ImageDataset, _ index: Int, rng: inout RNG) throws -> Sample {
        try ds.layoutSample(index, flip: ds.options.flip && rng.nextInt(2) == 1)
    }

    public func load(_ ds: ImageDataset, _ index: Int) throws -> Sample { try ds.layoutSample(index, flip: false) }

    /// The labelled split `root/phase`, read as in training (working size) without flips.
    public func heldOut(root: URL, phase: String, model o: DataOptions, mode: DatasetMode, direction: Direction,
                        maxItems: Int?) throws -> (options: DataOptions, layout: DatasetLayout) {
        var d = o
        d.flip = false
        d.maxItems = maxItems
        d.phase = phase
        let split = root.appendingPathComponent(phase)
        guard FileManager.default.fileExists(atPath: split.path) else {
            throw DatasetError.missingFolder(path: split.path, reason: "no such folder: the --phase \(phase) split of labelled layouts")
        }
        return (d, DatasetLayout(mode: d.mode, folder: split, detected: false))
    }

    /// Label maps as stored (one channel for class ids, colours for a palette); photos out.
    public func fileOptions(model o: DataOptions, inputNc: Int) -> DataOptions {
        DataOptions(mode: .single, preprocess: .none, flip: false, inputNc: o.layout?.labelFormat == .ids ? 1 : 3, outputNc: 3)
    }

    public func fileInput(_ s: Sample, model o: DataOptions) throws -> Sample {
        var s = s
        s.input = try input(image: try Image(tensor: s.input), path: s.inputPath, model: o)
        return s
    }

    /// The one-hot map of a label image at the working size.
    public func input(image: Image, path: String, model o: DataOptions) throws -> Tensor { try options(o).input(image, path: path) }

    /// Layout inputs are at the working size already.
    public func networkInput(_ x: Tensor, side: Int?, model o: DataOptions) throws -> Tensor { x }

    /// Inputs in their label colours.
    public func display(_ t: Tensor, isInput: Bool, lightness: Tensor?, index: Int, options o: DataOptions) throws -> Image {
        isInput ? try options(o).display(t, index: index) : try Image(tensor: t, index: index)
    }

    public func fixedSizeReason(model o: DataOptions) -> String? {
        "a layout model works at its training size \(o.layout.map { "\($0.width)x\($0.height)" } ?? "")"
    }
}
