/// Higher-order gradients: `grad(of:wrt:createGraph:)`, as `torch.autograd.grad`.
///
/// Every op records two backward rules on its result. The first (`Node.backward`) works on
/// raw buffers and is what `backward()` runs: the fast kernels, accumulating into `grad`.
/// The second (`Node.graphBackward`, set by `recordGraph`) computes the same input
/// gradients as tensors, with differentiable ops. `grad(of:wrt:createGraph: true)` runs the
/// second rules with gradient recording on, so the gradients it returns are themselves
/// results of recorded ops: a function of them (a gradient penalty) can be back-propagated
/// again by `backward()`, through the gradient computation and the forward graph it reads.
/// Leaf `grad` buffers are never touched by `grad(of:wrt:)`.

/// Given the gradient of an op's result and which inputs need a gradient, the inputs'
/// gradients (nil where not needed), computed with differentiable ops.
typealias GraphBackward = (_ gradient: Tensor, _ needs: [Bool]) throws -> [Tensor?]

/// Attaches the differentiable backward rule to `out` when its forward was recorded.
@inline(__always)
func recordGraph(_ out: Tensor, _ rule: @escaping GraphBackward) {
    out.node?.graphBackward = rule
}

/// Thrown for an op without a differentiable rule on the path of a higher-order gradient.
func noGraphRule(_ op: String) -> TensorError {
    TensorError.invalidArgument("grad(of:wrt:): \(op) has no differentiable backward, so gradients through it cannot be differentiated again")
}

/// The gradients of `outputs` (weighted by `gradOutputs`, or 1 for one-element outputs)
/// with respect to `inputs`, as `torch.autograd.grad`. With `createGraph` the returned
/// gradients are recorded (they require grad where anything they depend on does), so a
/// function of them can be back-propagated again; the graph of `outputs` is kept (it is
/// part of theirs). Inputs that `outputs` do not depend on get zeros. Leaf `grad` buffers
/// are not changed.
public func grad(of outputs: [Tensor], wrt inputs: [Tensor], gradOutputs: [Tensor]? = nil,
                 createGraph: Bool = false) throws -> [Tensor] {
    guard !outputs.isEmpty else { throw TensorError.invalidArgument("grad(of:wrt:): no outputs") }
    if let go = gradOutputs {
        guard go.count == outputs.count else {
            throw TensorError.invalidArgument("grad(of:wrt:): \(go.count) gradOutputs for \(outputs.count) outputs")
        }
        for (o, g) in zip(outputs, go) where o.shape != g.shape {
            throw TensorError.shapeMismatch(op: "grad(of:wrt:) (output vs gradOutput)", shapes: [o.shape, g.shape])
        }
    }
    for o in outputs where !o.requiresGrad {
        throw TensorError.invalidArgument("grad(of:wrt:): an output of shape \(o.shape) does not require grad (nothing on its path requires grad)")
    }
    let seeds = try gradOutputs ?? outputs.map { o in
        guard o.count == 1 else { throw TensorError.invalidArgument("grad(of:wrt:): gradOutputs can be implied only for one-element outputs, got \(o.shape)") }
        return Tensor(repeating: 1, shape: o.shape)
    }
    if !createGraph { return try withNoGrad { try gradientGraph(outputs, seeds, inputs) } }
    guard GradMode.isEnabled else { throw TensorError.invalidArgument("grad(of:wrt:createGraph: true) inside withNoGrad: nothing could be recorded") }
    return try gradientGraph(outputs, seeds, inputs)
}

/// Runs the differentiable rules from `outputs` (gradients `seeds`) down to `inputs`,
/// visiting only the nodes through which some input is reached.
private func gradientGraph(_ outputs: [Tensor], _ seeds: [Tensor], _ inputs: [Tensor]) throws -> [Tensor] {
    let targets = Set(inputs.map(ObjectIdentifier.init))
    // Post-order DFS (children before parents) over tensors that require grad; a tensor
    // reaches a target if it is one or one of its node's inputs does.
    var order: [Tensor] = []
    var reaches = Set<ObjectIdentifier>(), visited = Set<ObjectIdentifier>()
    for root in outputs where visited.insert(ObjectIdentifier(root)).inserted {
        var stack: [(Tensor, Int)] = [(root, 0)]
        while let (t, i) = stack.popLast() {
            if let node = t.node, i < node.inputs.count {
                stack.append((t, i + 1))
                let child = node.inputs[i]
                if child.requiresGrad, visited.insert(ObjectIdentifier(child)).inserted { stack.append((child, 0)) }
                continue
            }
            order.append(t)
            let id = ObjectIdentifier(t)
            if targets.contains(id) || (t.node?.inputs.contains { reaches.contains(ObjectIdentifier($0)) } ?? false) { reaches.insert(id) }
        }
    }
    var grads: [ObjectIdentifier: Tensor] = [:]
    func accumulate(_ t: Tensor, _ g: Tensor) throws {
        guard g.shape == t.shape else { throw TensorError.shapeMismatch(op: "grad(of:wrt:) (tensor vs its gradient)", shapes: [t.shape, g.shape]) }
        let id = ObjectIdentifier(t)
        grads[id] = try grads[id].map { try $0 + g } ?? g
    }
    for (o, s) in zip(outputs, seeds) { try accumulate(o, s) }
    for t in order.reversed() {
        let id = ObjectIdentifier(t)
        guard let node = t.node, reaches.contains(id), let g = grads[id] else { continue }
        let needs = node.inputs.map { reaches.contains(ObjectIdentifier($0)) }
        guard needs.contains(true) else { continue }
        guard let rule = node.graphBackward else { throw noGraphRule("the op that made a tensor of shape \(t.shape)") }
        let gs = try rule(g, needs)
        for (k, input) in node.inputs.enumerated() where needs[k] {
            if let gk = gs[k] { try accumulate(input, gk) }
        }
        // A gradient is consumed once its node has passed it on (unless asked for).
        if !targets.contains(id) { grads[id] = nil }
    }
    return inputs.map { grads[ObjectIdentifier($0)] ?? Tensor(zeros: $0.shape) }
}
