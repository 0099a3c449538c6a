import XCTest
import Foundation
import Tensors
import NN
import TestSupport

/// Modules against PyTorch: a Sequential is built from the layer list stored in the fixture,
/// the PyTorch state dict is loaded by key (strict), and the output, input gradient, every
/// parameter gradient and the updated buffers are compared.
final class ModuleGoldenTests: XCTestCase {
    func build(_ layers: [[String: Any]]) throws -> Sequential {
        var rng = RNG(seed: 0)
        func i(_ l: [String: Any], _ k: String) -> Int { (l[k] as? NSNumber)?.intValue ?? 0 }
        func b(_ l: [String: Any], _ k: String) -> Bool { (l[k] as? NSNumber)?.boolValue ?? false }
        return Sequential(try layers.map { l -> Module in
            switch l["type"] as? String {
            case "Conv2d":
                return Conv2d(i(l, "in_channels"), i(l, "out_channels"), kernelSize: Size2(i(l, "kernel_size")),
                              stride: Size2(i(l, "stride")), padding: Size2(i(l, "padding")), bias: b(l, "bias"), rng: &rng)
            case "ConvTranspose2d":
                return ConvTranspose2d(i(l, "in_channels"), i(l, "out_channels"), kernelSize: Size2(i(l, "kernel_size")),
                                       stride: Size2(i(l, "stride")), padding: Size2(i(l, "padding")),
                                       outputPadding: Size2(i(l, "output_padding")), bias: b(l, "bias"), rng: &rng)
            case "BatchNorm2d": return BatchNorm2d(i(l, "num_features"))
            case "InstanceNorm2d": return InstanceNorm2d(i(l, "num_features"), affine: b(l, "affine"))
            case "ReLU": return ReLU()
            case "LeakyReLU": return LeakyReLU(negativeSlope: (l["negative_slope"] as? NSNumber)?.floatValue ?? 0.01)
            case "Tanh": return Tanh()
            case "Sigmoid": return Sigmoid()
            case "ReflectionPad2d":
                let p = (l["padding"] as? [NSNumber])?.map(\.intValue) ?? [0, 0, 0, 0]
                return ReflectionPad2d(left: p[0], right: p[1], top: p[2], bottom: p[3])
            case let other: throw TensorError.invalidArgument("unknown layer \(other ?? "nil")")
            }
        })
    }

    func check(_ name: String) throws {
        let fx = try Fixture("modules/" + name)
        let net = try build(try XCTUnwrap(fx.args["layers"] as? [[String: Any]]))
        var state: [String: Tensor] = [:]
        for (k, v) in fx.tensors where k.hasPrefix("param.") { state[String(k.dropFirst(6))] = v }
        try net.loadStateDict(state)   // strict: proves the key layout matches PyTorch's
        if !fx.bool("training") { net.eval() }
        let x = try fx.tensor("x", requiresGrad: true)
        print("\(name):")
        let out = try net(x)
        assertClose(out, try fx.tensor("out"), rtol: 1e-5, "\(name) out")
        try out.backward(gradient: try fx.tensor("r"))
        assertClose(try XCTUnwrap(x.grad), try fx.tensor("grad.x").data, rtol: 1e-5, "\(name) grad.x")
        // A conv bias followed by a norm layer has an exact gradient of 0: PyTorch's values there
        // are rounding noise, so absolute tolerances scale with the largest gradient of the case.
        let gradScale = fx.tensors.filter { $0.key.hasPrefix("grad.") }.map { maxAbsDiff($0.value.data, $0.value.data.map { _ in 0 }).diff }.max() ?? 1
        for (key, p) in net.namedParameters() {
            assertClose(try XCTUnwrap(p.grad, key), try fx.tensor("grad.param." + key).data, rtol: 1e-5, atol: 1e-6 * gradScale,
                        "\(name) grad \(key)")
        }
        for (key, b) in net.namedBuffers() {
            assertClose(b, try fx.tensor("buffer_after." + key), rtol: 1e-5, "\(name) buffer \(key)")
        }
    }

    func testSequentialTrainMode() throws { try check("sequential_mixed") }
    func testSequentialEvalMode() throws { try check("sequential_eval") }
    func testInstanceNormAffineModule() throws { try check("instance_affine_module") }

    func testStateDictKeysAndErrors() throws {
        var rng = RNG(seed: 1)
        let net = Sequential(Conv2d(3, 4, kernelSize: 3, bias: false, rng: &rng), BatchNorm2d(4), ReLU(),
                             Sequential(ConvTranspose2d(4, 2, kernelSize: 4, stride: 2, padding: 1, rng: &rng)))
        XCTAssertEqual(net.stateDict().map(\.0), ["0.weight", "1.weight", "1.bias", "3.0.weight", "3.0.bias",
                                                  "1.running_mean", "1.running_var"])
        XCTAssertEqual(net.namedParameters().map(\.0), ["0.weight", "1.weight", "1.bias", "3.0.weight", "3.0.bias"])
        var bad = Dictionary(net.stateDict(), uniquingKeysWith: { a, _ in a })
        bad["0.weight"] = Tensor(zeros: [4, 3, 3, 1])
        XCTAssertThrowsError(try net.loadStateDict(bad)) { XCTAssertTrue("\($0)".contains("0.weight")) }
        bad["0.weight"] = nil
        XCTAssertThrowsError(try net.loadStateDict(bad)) { XCTAssertTrue("\($0)".contains("missing")) }
        var extra = Dictionary(net.stateDict(), uniquingKeysWith: { a, _ in a })
        extra["9.weight"] = Tensor(zeros: [1])
        XCTAssertThrowsError(try net.loadStateDict(extra)) { XCTAssertTrue("\($0)".contains("9.weight")) }
        XCTAssertNoThrow(try net.loadStateDict(extra, strict: false))
    }

    func testTrainEvalAndFreeze() throws {
        var rng = RNG(seed: 2)
        let bn = BatchNorm2d(2)
        let net = Sequential(Conv2d(1, 2, kernelSize: 3, padding: 1, rng: &rng), bn, Dropout(p: 0.5, rng: &rng))
        net.eval()
        XCTAssertFalse(bn.training)
        let x = Tensor.randn([1, 1, 5, 5], rng: &rng)
        let a = try net(x), b = try net(x)
        XCTAssertEqual(a.data, b.data, "eval mode is deterministic")
        XCTAssertEqual(bn.runningMean?.data, [0, 0], "eval mode leaves running stats alone")
        net.train()
        XCTAssertTrue(bn.training)
        let c = try net(x)
        XCTAssertNotEqual(c.data, a.data)
        XCTAssertNotEqual(bn.runningMean?.data, [0, 0])
        net.requiresGrad(false)
        XCTAssertTrue(net.parameters.allSatisfy { !$0.requiresGrad })
        x.requiresGrad = true
        try sum(try net(x)).backward()
        XCTAssertTrue(net.parameters.allSatisfy { $0.grad == nil })
        XCTAssertNotNil(x.grad)
    }
}
