import Tensors

/// The adversarial objective (`--gan-mode`).
public enum GANMode: String, CaseIterable, Codable {
    /// Binary cross-entropy on logits (the pix2pix paper).
    case vanilla
    /// Least squares towards 1 (real) and 0 (fake) (CycleGAN's default).
    case lsgan
    /// Wasserstein critic with the gradient penalty (Gulrajani et al. 2017): critic loss
    /// D(fake) - D(real) + lambda_gp * penalty (not halved), generator loss -D(fake).
    case wgangp
}

/// The loss of discriminator output `prediction` against "real" or "fake" labels, averaged
/// over all patches, as the reference's `GANLoss` (wgangp: -mean for real, mean for fake).
public func ganLoss(_ prediction: Tensor, targetIsReal: Bool, mode: GANMode) throws -> Tensor {
    if mode == .wgangp { return targetIsReal ? -mean(prediction) : mean(prediction) }
    let target = Tensor(repeating: targetIsReal ? 1 : 0, shape: prediction.shape)
    switch mode {
    case .vanilla: return try binaryCrossEntropyWithLogits(prediction, target)
    case .lsgan: return try mseLoss(prediction, target)
    case .wgangp: preconditionFailure("handled above")
    }
}
