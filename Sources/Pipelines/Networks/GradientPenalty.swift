import Tensors

/// Gradient penalties on a critic (`--lambda-gp` with `--gan-mode wgangp`, `--r1-gamma`)
/// and the schedule of critic steps (`--n-critic`); saved in checkpoints (nil: defaults).
public struct GANPenalties: Codable, Equatable {
    /// Weight of WGAN-GP's penalty (wgangp only).
    public var lambdaGP: Float = 10
    /// Critic (discriminator) steps per generator step.
    public var nCritic = 1
    /// Weight gamma of the R1 penalty gamma/2 * ||grad D(real)||^2 (any mode; 0 is off).
    public var r1Gamma: Float = 0
    public init(lambdaGP: Float = 10, nCritic: Int = 1, r1Gamma: Float = 0) {
        self.lambdaGP = lambdaGP; self.nCritic = nCritic; self.r1Gamma = r1Gamma
    }

    /// Whether the generator is updated in a step that follows `criticSteps` critic updates.
    public func updatesGenerator(afterCriticSteps criticSteps: Int) -> Bool { criticSteps % nCritic == 0 }
}

/// WGAN-GP's random points between real and fake samples: x_hat = eps real + (1 - eps) fake,
/// eps ~ U[0, 1) per sample (one `rng.nextFloat()` per sample, in order).
public func interpolate(real: Tensor, fake: Tensor, rng: inout RNG) throws -> Tensor {
    guard real.rank >= 1, real.shape == fake.shape else { throw TensorError.shapeMismatch(op: "interpolate (real vs fake)", shapes: [real.shape, fake.shape]) }
    let eps = Tensor.rand([real.shape[0]] + [Int](repeating: 1, count: real.rank - 1), rng: &rng)
    return try interpolate(real: real, fake: fake, eps: eps)
}

/// eps real + (1 - eps) fake with per-sample weights eps (N, 1, ..., 1), detached.
public func interpolate(real: Tensor, fake: Tensor, eps: Tensor) throws -> Tensor {
    try withNoGrad { try eps * real + (1 - eps) * fake }
}

/// The squared norm of each sample's gradient of sum(critic(x)) w.r.t. x, (N, 1), recorded
/// (`createGraph`) so that a penalty on it trains the critic's parameters.
private func squaredGradientNorms(_ critic: (Tensor) throws -> Tensor, at x: Tensor) throws -> Tensor {
    let point = x.detach()
    point.requiresGrad = true
    let g = try grad(of: [sum(try critic(point))], wrt: [point], createGraph: true)[0]
    let n = g.shape[0]
    return try sumToSize((g * g).reshaped([n, -1]), [n, 1])
}

/// WGAN-GP's penalty (Gulrajani et al. 2017): the mean over samples of
/// (||grad_x critic(x)||_2 - 1)^2 at the points x (from `interpolate`). The norm is
/// sqrt(squared norm + 1e-12), so that a zero gradient has a finite derivative.
public func gradientPenalty(_ critic: (Tensor) throws -> Tensor, at x: Tensor) throws -> Tensor {
    let norms = sqrt(try squaredGradientNorms(critic, at: x) + 1e-12)
    return mean(pow(norms - 1, 2))
}

/// The R1 penalty's norm term (Mescheder et al. 2018): the mean over samples of
/// ||grad_x critic(x)||^2 at real samples x; the loss adds gamma/2 times it.
public func r1Penalty(_ critic: (Tensor) throws -> Tensor, at real: Tensor) throws -> Tensor {
    mean(try squaredGradientNorms(critic, at: real))
}
