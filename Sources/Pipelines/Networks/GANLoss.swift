import Tensors

/// The adversarial objective (`--gan-mode`). `wgangp` is deliberately absent: its gradient
/// penalty needs a backward pass through a gradient, which the core's first-order autograd
/// does not do yet; shipping it without the penalty would be a different method.
public enum GANMode: String, CaseIterable, Codable {
    /// Binary cross-entropy on logits (the pix2pix paper).
    case vanilla
    /// Least squares towards 1 (real) and 0 (fake) (CycleGAN's default).
    case lsgan
}

/// The loss of discriminator output `prediction` against "real" or "fake" labels, averaged
/// over all patches, as the reference's `GANLoss`.
public func ganLoss(_ prediction: Tensor, targetIsReal: Bool, mode: GANMode) throws -> Tensor {
    let target = Tensor(repeating: targetIsReal ? 1 : 0, shape: prediction.shape)
    switch mode {
    case .vanilla: return try binaryCrossEntropyWithLogits(prediction, target)
    case .lsgan: return try mseLoss(prediction, target)
    }
}
