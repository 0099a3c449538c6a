import Tensors
import Foundation
import CKernels

/// Adam as `torch.optim.Adam` (L2 weight decay added to the gradient, bias-corrected
/// moments, per-parameter step counts). State can be saved and restored exactly.
public final class Adam {
    public var lr: Float
    public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public let params: [(String, Tensor)]
    public private(set) var expAvg: [[Float]]
    public private(set) var expAvgSq: [[Float]]
    public private(set) var steps: [Int]

    public init(_ params: [(String, Tensor)], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                eps: Float = 1e-8, weightDecay: Float = 0) {
        self.params = params
        self.lr = lr; beta1 = betas.0; beta2 = betas.1; self.eps = eps; self.weightDecay = weightDecay
        expAvg = params.map { [Float](repeating: 0, count: $0.1.count) }
        expAvgSq = expAvg
        steps = [Int](repeating: 0, count: params.count)
    }

    /// One update of every parameter that has a gradient.
    public func step() {
        for (i, (_, p)) in params.enumerated() {
            guard let g = p.grad else { continue }
            steps[i] += 1
            let t = Float(steps[i])
            let bc1 = 1 - pow(beta1, t), bc2Sqrt = (1 - pow(beta2, t)).squareRoot()
            let stepSize = lr / bc1
            let (b1, b2, e, wd) = (beta1, beta2, eps, weightDecay)
            expAvg[i].withUnsafeMutableBufferPointer { mb in
                expAvgSq[i].withUnsafeMutableBufferPointer { vb in
                    p.data.withUnsafeMutableBufferPointer { wb in
                        g.withUnsafeBufferPointer { gb in
                            let (m, v, w, gp) = (mb.baseAddress!, vb.baseAddress!, wb.baseAddress!, gb.baseAddress!)
                            // Elementwise and memory-bound: vectorised (CKernels/adam.c, the same operations
                            // in the same order) and large tensors split over the cores.
                            parallelChunks(wb.count) { lo, hi in
                                tr_adam_update(m + lo, v + lo, w + lo, gp + lo, hi - lo, b1, b2, bc2Sqrt, e, stepSize, wd)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Clears the gradients. `setToNone` also frees their buffers (PyTorch's
    /// `zero_grad(set_to_none=True)`): a training step that calls it right after `step()`
    /// does not hold one network's gradients while it runs the other's passes (pix2pix's
    /// generator gradients, 218 MB for U-Net-256, during the discriminator update).
    public func zeroGrad(setToNone: Bool = false) {
        for (_, p) in params { if setToNone { p.releaseGradBuffer() } else { p.zeroGrad() } }
    }

    /// Moments as tensors `<prefix><param>.exp_avg` / `.exp_avg_sq`; steps and
    /// hyper-parameters go in `metadata`.
    public func stateTensors(prefix: String) throws -> [(String, Tensor)] {
        try params.indices.flatMap { i -> [(String, Tensor)] in
            let shape = params[i].1.shape
            return [(prefix + params[i].0 + ".exp_avg", try Tensor(shape: shape, data: expAvg[i])),
                    (prefix + params[i].0 + ".exp_avg_sq", try Tensor(shape: shape, data: expAvgSq[i]))]
        }
    }

    public var stateMetadata: [String: String] {
        ["lr": "\(lr)", "beta1": "\(beta1)", "beta2": "\(beta2)", "eps": "\(eps)", "weight_decay": "\(weightDecay)",
         "steps": steps.map(String.init).joined(separator: ",")]
    }

    /// Restores the state written by `stateTensors` / `stateMetadata`.
    public func loadState(tensors: [String: Tensor], prefix: String, metadata: [String: String]) throws {
        for (i, (name, p)) in params.enumerated() {
            for (suffix, isSq) in [(".exp_avg", false), (".exp_avg_sq", true)] {
                let key = prefix + name + suffix
                guard let t = tensors[key] else { throw ModuleError.missingKeys([key]) }
                guard t.shape == p.shape else { throw ModuleError.stateShapeMismatch(key: key, expected: p.shape, found: t.shape) }
                if isSq { expAvgSq[i] = t.data } else { expAvg[i] = t.data }
            }
        }
        func float(_ k: String) throws -> Float {
            guard let s = metadata[k], let v = Float(s) else { throw CheckpointError.badMetadata("optimizer field '\(k)' missing or not a number") }
            return v
        }
        lr = try float("lr"); beta1 = try float("beta1"); beta2 = try float("beta2"); eps = try float("eps")
        weightDecay = try float("weight_decay")
        let s = (metadata["steps"] ?? "").split(separator: ",").compactMap { Int($0) }
        guard s.count == params.count else {
            throw CheckpointError.badMetadata("optimizer steps: \(s.count) values for \(params.count) parameters")
        }
        steps = s
    }
}

/// Learning-rate policies of the reference (`--lr-policy`); `epoch` counts from 0.
public enum LRSchedule: Equatable, Codable {
    /// Constant for `nEpochs`, then linear decay to ~0 over `nEpochsDecay` (epoch_count 1).
    case linear(nEpochs: Int, nEpochsDecay: Int)
    /// Multiply by `gamma` every `stepSize` epochs.
    case step(stepSize: Int, gamma: Float)
    /// Cosine annealing to 0 over `tMax` epochs.
    case cosine(tMax: Int)
    case constant

    /// The learning-rate factor for epoch `epoch` (0-based).
    public func factor(epoch: Int) -> Double {
        switch self {
        case let .linear(n, d):
            return 1 - Double(max(0, epoch + 1 - n)) / Double(d + 1)
        case let .step(s, g):
            return pow(Double(g), Double(epoch / max(s, 1)))
        case let .cosine(t):
            return (1 + cos(Double.pi * Double(epoch) / Double(max(t, 1)))) / 2
        case .constant:
            return 1
        }
    }

    public func lr(base: Float, epoch: Int) -> Float { Float(Double(base) * factor(epoch: epoch)) }
}
