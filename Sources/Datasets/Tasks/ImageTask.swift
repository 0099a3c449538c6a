import Foundation
import ImageIO
import Tensors

/// What a model is conditioned on and what it produces, with the data preparation and the
/// output conversion that go with it. Methods (pix2pix, cIMLE, ...) train on any task whose
/// channels they take.
/// - translation: an image in, an image out (the pairs of an aligned or paired dataset).
/// - colorization: the lightness L of a colour photo in (1 channel), its colour ab out
///   (2 channels), in CIE Lab as the reference's colorization model; outputs are converted
///   back to RGB with the input's L.
/// - layout: a label map in (one-hot, one channel per class), its photo out (`LayoutOptions`).
public enum ImageTask: String, CaseIterable, Codable, Sendable {
    case translation, colorization, layout

    /// What the task is, for pages and messages.
    public var title: String {
        switch self {
        case .translation: return "image translation"
        case .colorization: return "colorization (L in, ab out)"
        case .layout: return "layout to image"
        }
    }
}

extension DataOptions {
    /// A tensor of this task's data as an image for pages: a layout input in its label
    /// colours, colorization's ab (an output or target) in colour with the input's L
    /// (`lightness`), anything else as it is. `isInput`: `t` is the network's input side.
    public func displayImage(_ t: Tensor, isInput: Bool, lightness: Tensor? = nil, index: Int = 0) throws -> Image {
        switch task {
        case .layout where isInput:
            guard let layout else { throw DatasetError.invalidOptions("internal: the layout task without its options") }
            return try layout.display(t, index: index)
        case .colorization where !isInput && t.shape.count == 4 && t.shape[1] == Colorization.outputNc:
            guard let l = lightness else { throw DatasetError.invalidOptions("internal: colorization output shown without its L") }
            return try Colorization.merge(l: l, ab: t, index: index)
        default:
            return try Image(tensor: t, index: index)
        }
    }
}
