import ArgumentParser
import Pipelines

/// The critic's penalties and schedule, for pix2pix and CycleGAN (`@OptionGroup`).
public struct GANPenaltyFlags: ParsableArguments {
    public init() {}
    @Option(help: "Weight of WGAN-GP's gradient penalty (--gan-mode wgangp).") var lambdaGP: Float = 10
    @Option(help: "Discriminator (critic) steps per generator step, each on its own batch.") var nCritic = 1
    @Option(help: "R1 penalty gamma/2 * |grad D(real)|^2 on real samples, any --gan-mode (0: off).") var r1Gamma: Float = 0

    /// nil when every flag is at its default (the configuration then reads as before the flags existed).
    var penalties: GANPenalties? {
        let p = GANPenalties(lambdaGP: lambdaGP, nCritic: nCritic, r1Gamma: r1Gamma)
        return p == GANPenalties() ? nil : p
    }
}
