import Foundation
import ImageIO
import Tensors

/// The registry of tasks: what a model is conditioned on and what it produces. Each case
/// names its `TaskDefinition` (one file in `Tasks/`), which holds everything the task does
/// with data; nothing outside the definitions branches on the task. Methods (pix2pix,
/// cIMLE, ...) train on any task whose channels they take.
/// - translation: an image in, an image out (the pairs of an aligned or paired dataset).
/// - colorization: the lightness L of a colour photo in, its colour ab out (CIE Lab).
/// - layout: a label map in (one-hot, one channel per class), its photo out.
public enum ImageTask: String, CaseIterable, Codable, Sendable {
    case translation, colorization, layout

    /// The task's definition: the one switch over tasks.
    public var definition: any TaskDefinition {
        switch self {
        case .translation: return TranslationTask()
        case .colorization: return ColorizationTask()
        case .layout: return LayoutTask()
        }
    }

    /// What the task is, for pages and messages.
    public var title: String { definition.title }
}

extension DataOptions {
    /// The definition of `task`.
    public var taskDefinition: any TaskDefinition { task.definition }

    /// A tensor of this task's data as an image for pages: a layout input in its label
    /// colours, colorization's ab (an output or target) in colour with the input's L
    /// (`lightness`), anything else as it is. `isInput`: `t` is the network's input side.
    public func displayImage(_ t: Tensor, isInput: Bool, lightness: Tensor? = nil, index: Int = 0) throws -> Image {
        try taskDefinition.display(t, isInput: isInput, lightness: lightness, index: index, options: self)
    }

    /// These options with `task` and what it fixes (`TaskDefinition.prepare`).
    public func with(task: ImageTask) -> DataOptions {
        var o = self
        o.task = task
        task.definition.prepare(&o)
        return o
    }
}
