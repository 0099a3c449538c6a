import ArgumentParser
import Foundation
import Tensors
import ImageIO
import Datasets
import Pipelines

extension ImageTask: ReferenceSpelled {}

/// The layout task's flags, declared once for every method that trains on layouts
/// (`train pix2pix --task layout`, `train cimle-layout`).
public struct LayoutFlags: ParsableArguments {
    public init() {}
    @Option(help: "Layouts: ids (single-channel PNGs of class ids beside the photos) or palette (colour-coded labels, one side of aligned or paired images).") var labelFormat = LabelFormat.ids
    @Option(help: "Layouts: number of classes.") var numClasses = 12
    @Option(help: "Layouts: working width (labels and photos are resized to it).") var width = 128
    @Option(help: "Layouts: working height.") var height = 96
    @Option(help: "Layouts, ids format: the labels of <phase>/x.* are <phase><suffix>/x.png.") var labelsSuffix = "annot"

    public func validate() throws {
        do { try options.validate() } catch let e as DatasetError { throw ValidationError("\(e)") }
    }

    /// The layout options (without a palette: `fitPalette` adds it for the palette format).
    public var options: LayoutOptions {
        var l = LayoutOptions(labelFormat: labelFormat, numClasses: numClasses, width: width, height: height)
        l.labelsSuffix = labelsSuffix
        return l
    }

    /// The data mode the labels come in: class ids beside photos (single), palette maps as
    /// one side of pairs (`pairs`: aligned, paired or auto).
    func mode(pairs: DatasetMode) -> DatasetMode { labelFormat == .ids ? .single : pairs }
}

extension DataOptions {
    /// For the palette format, fits the palette on up to 60 training label maps (k-means; the
    /// JPEG colours cluster around it) and says so. `root`: the dataroot; `seed`: the run's.
    mutating func fitPalette(root: String, phase: String, seed: UInt64) throws {
        guard task == .layout, var l = layout, l.labelFormat == .palette, l.palette.isEmpty else { return }
        var o = self
        o.task = .translation; o.layout = nil; o.inputNc = 3; o.outputNc = 3; o.preprocess = .none; o.flip = false
        let rootURL = URL(fileURLWithPath: root)
        let layout = try DatasetLayout.paired(root: rootURL, phase: phase, mode: mode)
        o.mode = layout.mode
        let ds = try ImageDataset(roots: [layout.folder], options: o)
        var rng = RNG(seed: seed ^ 0x9a1e77e)
        let imgs = try (0..<min(ds.count, 60)).map { try Image(tensor: try ds.load($0).input) }
        l.palette = try LayoutCodec.fitPalette(imgs, numClasses: l.numClasses, rng: &rng)
        self.layout = l
        stderrLine("palette fitted on \(imgs.count) label maps: \(l.palette.map { "#" + $0.map { String(format: "%02x", $0) }.joined() }.joined(separator: " "))")
    }
}
