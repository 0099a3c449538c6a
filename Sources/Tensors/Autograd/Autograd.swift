/// Reverse-mode automatic differentiation: nodes, recording, backward, no-grad scope.

/// How a tensor was computed: its inputs and the rule that pushes its gradient to them.
final class Node {
    let inputs: [Tensor]
    /// Receives the output's gradient and accumulates into the inputs' gradients.
    let backward: (UnsafeBufferPointer<Float>) -> Void
    /// The same rule as differentiable ops (`recordGraph`), for higher-order gradients
    /// (`grad(of:wrt:createGraph:)`); nil for ops that have none.
    var graphBackward: GraphBackward?
    init(inputs: [Tensor], backward: @escaping (UnsafeBufferPointer<Float>) -> Void) {
        self.inputs = inputs
        self.backward = backward
    }
}

/// Global gradient-recording switch (single-threaded training loop).
public enum GradMode {
    public private(set) static var isEnabled = true

    /// Runs `body` without recording any graph (inference, target computations).
    public static func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
        let old = isEnabled
        isEnabled = false
        defer { isEnabled = old }
        return try body()
    }
}

/// Runs `body` without recording gradients.
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R { try GradMode.withNoGrad(body) }

/// Attaches a backward rule to `out` if gradients are on and any input requires them.
@inline(__always)
func record(_ out: Tensor, _ inputs: [Tensor], function: StaticString = #function,
            _ backward: @escaping (UnsafeBufferPointer<Float>) -> Void) {
    OpProfile.forward(function)
    guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return }
    out.requiresGrad = true
    out.node = Node(inputs: inputs, backward: OpProfile.timedBackward(function, backward))
}

extension Tensor {
    /// Back-propagates from this tensor. With no `gradient`, the tensor must have one
    /// element and its gradient is 1 (as `loss.backward()`). Leaf gradients accumulate;
    /// intermediate gradients and the graph are released unless `retainGraph`.
    public func backward(gradient: Tensor? = nil, retainGraph: Bool = false) throws {
        guard requiresGrad else {
            throw TensorError.invalidArgument("backward: tensor \(shape) does not require grad (no parameter or input on its path requires grad)")
        }
        let seed: [Float]
        if let g = gradient {
            guard g.shape == shape else { throw TensorError.shapeMismatch(op: "backward(gradient:)", shapes: [shape, g.shape]) }
            seed = g.data
        } else {
            guard count == 1 else {
                throw TensorError.invalidArgument("backward: gradient can be implied only for one-element tensors, got \(shape)")
            }
            seed = [1]
        }
        // Iterative DFS post-order over tensors with nodes.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while let (t, i) = stack.popLast() {
            guard let node = t.node else { order.append(t); continue }
            if i < node.inputs.count {
                stack.append((t, i + 1))
                let child = node.inputs[i]
                if child.requiresGrad, visited.insert(ObjectIdentifier(child)).inserted {
                    stack.append((child, 0))
                }
            } else {
                order.append(t)
            }
        }
        OpProfile.boundary()
        defer { OpProfile.boundary() }
        seed.withUnsafeBufferPointer { accumulateGrad($0) }
        for t in order.reversed() {
            guard let node = t.node, let g = t.grad else { continue }
            g.withUnsafeBufferPointer { node.backward($0) }
            // Intermediate gradients are consumed; only leaves keep theirs.
            t.releaseGrad()
            if !retainGraph { t.node = nil }
        }
    }
}
