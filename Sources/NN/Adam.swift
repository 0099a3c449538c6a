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

    /// One update of every parameter that has a gradient. In a data-parallel job
    /// (`Distribution.current` has more than one rank) the gradients are first replaced by
    /// their mean over the ranks (`averageGradients`), so every replica takes the same step.
    public func step() { OpProfile.phase("adam") { update() } }

    private func update() {
        averageGradients(over: Distribution.current)
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

    /// Replaces every gradient by its mean over `communicator`'s ranks: one all-reduce of all
    /// of them packed in parameter order (every rank has the same parameters with gradients).
    /// Nothing happens with one rank.
    public func averageGradients(over communicator: Communicator) {
        guard communicator.size > 1 else { return }
        let withGrad = params.map(\.1).filter { $0.grad != nil }
        var flat = [Float]()
        flat.reserveCapacity(withGrad.reduce(0) { $0 + $1.count })
        for p in withGrad { flat += p.grad! }
        communicator.allReduceMean(&flat)
        var at = 0
        for p in withGrad {
            p.grad = Array(flat[at..<at + p.count])
            at += p.count
        }
    }

    /// Rank 0's moments and step counts on every rank (`communicator.broadcast`).
    public func broadcastState(over communicator: Communicator) {
        guard communicator.size > 1 else { return }
        for i in params.indices {
            communicator.broadcast(&expAvg[i])
            communicator.broadcast(&expAvgSq[i])
        }
        var s = steps.map { UInt64(bitPattern: Int64($0)) }
        communicator.broadcast(&s)
        steps = s.map { Int(Int64(bitPattern: $0)) }
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

    /// Largest per-parameter step count accepted from a checkpoint.
    public static let maxSteps = 1 << 40

    /// Restores the state written by `stateTensors` / `stateMetadata`. Everything is checked
    /// before anything changes: moments present with their parameter's shape and finite
    /// (`exp_avg_sq` >= 0), hyper-parameters finite and in range (lr >= 0, betas in [0, 1),
    /// eps > 0, weight decay >= 0), one step count in 0...maxSteps per parameter. A failure
    /// throws `CheckpointError.badMetadata` naming the field as it is stored
    /// (`<prefix>lr`, `<prefix><param>.exp_avg_sq`) and leaves the optimizer as it was.
    public func loadState(tensors: [String: Tensor], prefix: String, metadata: [String: String]) throws {
        let s = try checkedState(tensors: tensors, prefix: prefix, metadata: metadata)
        expAvg = s.expAvg; expAvgSq = s.expAvgSq; steps = s.steps
        lr = s.lr; beta1 = s.beta1; beta2 = s.beta2; eps = s.eps; weightDecay = s.weightDecay
    }

    /// The checks of `loadState` without loading (nothing is copied).
    public func validateState(tensors: [String: Tensor], prefix: String, metadata: [String: String]) throws {
        _ = try checkedState(tensors: tensors, prefix: prefix, metadata: metadata)
    }

    struct State {
        var expAvg: [[Float]], expAvgSq: [[Float]], steps: [Int]
        var lr: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    }

    func checkedState(tensors: [String: Tensor], prefix: String, metadata: [String: String]) throws -> State {
        var avg: [[Float]] = [], avgSq: [[Float]] = []
        for (name, p) in params {
            for (suffix, isSq) in [(".exp_avg", false), (".exp_avg_sq", true)] {
                let key = prefix + name + suffix
                guard let t = tensors[key] else { throw ModuleError.missingKeys([key]) }
                guard t.shape == p.shape else { throw ModuleError.stateShapeMismatch(key: key, expected: p.shape, found: t.shape) }
                let (nan, inf) = nonFiniteCounts(t.data)
                guard nan + inf == 0 else {
                    throw CheckpointError.badMetadata("optimizer moment '\(key)' holds \(nan) NaN and \(inf) infinite values")
                }
                if isSq {
                    if let i = t.data.firstIndex(where: { $0 < 0 }) {
                        throw CheckpointError.badMetadata("optimizer moment '\(key)' holds a negative value (\(t.data[i]) at \(i)); squared averages are >= 0")
                    }
                    avgSq.append(t.data)
                } else {
                    avg.append(t.data)
                }
            }
        }
        func float(_ k: String, _ ok: (Float) -> Bool, _ range: String) throws -> Float {
            guard let s = metadata[k] else { throw CheckpointError.badMetadata("optimizer field '\(prefix)\(k)' is missing") }
            guard let v = Float(s), v.isFinite, ok(v) else {
                throw CheckpointError.badMetadata("optimizer field '\(prefix)\(k)' is '\(s.prefix(40))', not a number \(range)")
            }
            return v
        }
        let newLR = try float("lr", { $0 >= 0 }, ">= 0")
        let newBeta1 = try float("beta1", { $0 >= 0 && $0 < 1 }, "in [0, 1)")
        let newBeta2 = try float("beta2", { $0 >= 0 && $0 < 1 }, "in [0, 1)")
        let newEps = try float("eps", { $0 > 0 }, "> 0")
        let newWD = try float("weight_decay", { $0 >= 0 }, ">= 0")
        guard let text = metadata["steps"] else { throw CheckpointError.badMetadata("optimizer field '\(prefix)steps' is missing") }
        let fields = text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count == params.count else {
            throw CheckpointError.badMetadata("optimizer field '\(prefix)steps': \(fields.count) values for \(params.count) parameters")
        }
        var newSteps: [Int] = []
        newSteps.reserveCapacity(fields.count)
        for (i, f) in fields.enumerated() {
            guard let v = parseDecimal(f), (0...Self.maxSteps).contains(v) else {
                throw CheckpointError.badMetadata("optimizer field '\(prefix)steps': value \(i + 1) is '\(f.prefix(24))', not an integer in 0...\(Self.maxSteps)")
            }
            newSteps.append(v)
        }
        return State(expAvg: avg, expAvgSq: avgSq, steps: newSteps,
                     lr: newLR, beta1: newBeta1, beta2: newBeta2, eps: newEps, weightDecay: newWD)
    }
}

/// A decimal integer with an optional leading '-', digits only (no '+', spaces or other
/// text), without overflow; nil otherwise.
func parseDecimal<S: StringProtocol>(_ s: S) -> Int? {
    let u = Array(s.utf8)
    let digits = u.first == UInt8(ascii: "-") ? u.dropFirst() : u[...]
    guard !digits.isEmpty, digits.count <= 19, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
    return Int(String(decoding: u, as: UTF8.self))
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
