import XCTest
import Tensors
import NN
import TestSupport
@testable import Pipelines

/// The whole pix2pix network pair against PyTorch (tools/make_fixtures.py, `make_network`):
/// U-Net (numDowns 8, ngf 8, BatchNorm, no dropout) and PatchGAN (6 inputs, ndf 8, 3 layers,
/// BatchNorm), train mode, on a 1x3x256x256 input:
///
///     fake = G(A); pred = D(torch.cat([A, fake], 1))
///     loss = (fake * r_fake).sum() + (pred * r_pred).sum(); loss.backward()
///
/// Strict `loadStateDict` of the `G.*` / `D.*` tensors proves that our keys are the
/// reference's; then fake, pred, every parameter gradient and every running statistic after
/// the step are compared within 1e-3 of each tensor's max |ref|.
final class NetworkGoldenTests: XCTestCase {
    /// The fixture's tensors under `prefix` (e.g. "G."), without the prefix and without the
    /// `.after` running statistics.
    func stateDict(_ f: Fixture, _ prefix: String) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, t) in f.tensors where k.hasPrefix(prefix) && !k.hasSuffix(".after") {
            out[String(k.dropFirst(prefix.count))] = t
        }
        return out
    }

    func testUnet8PatchGANMatchesPyTorch() throws {
        let f = try Fixture("network/unet8_patchgan")
        XCTAssertEqual(f.args["norm"] as? String, "batch")
        var rng = RNG(seed: 0)
        let G = try UnetGenerator(inputNc: f.int("input_nc"), outputNc: f.int("output_nc"), numDowns: f.int("num_downs"),
                                  ngf: f.int("ngf"), norm: .batch, useDropout: false, initType: nil, rng: &rng)
        let D = try NLayerDiscriminator(inputNc: f.int("input_nc") + f.int("output_nc"), ndf: f.int("ndf"),
                                        nLayers: f.int("n_layers"), norm: .batch, initType: nil, rng: &rng)
        XCTAssertEqual(String(G.parameterCount), f.metadata["g_params"])
        XCTAssertEqual(String(D.parameterCount), f.metadata["d_params"])
        try G.loadStateDict(stateDict(f, "G."), strict: true)
        try D.loadStateDict(stateDict(f, "D."), strict: true)
        G.train(); D.train()

        let A = try f.tensor("A")                                   // (1, 3, 256, 256)
        let fake = try G(A)                                         // (1, 3, 256, 256)
        let pred = try D(try cat([A, fake], dim: 1))                // (1, 1, 30, 30)
        let loss = try sum(fake * f.tensor("r_fake")) + sum(pred * f.tensor("r_pred"))
        try loss.backward()

        var worst: (rel: Float, what: String) = (0, "")
        func check(_ actual: [Float], _ key: String, shape: [Int]) {
            guard let ref = f.tensors[key] else { XCTFail("fixture has no '\(key)'"); return }
            XCTAssertEqual(shape, ref.shape, "\(key): shape")
            assertClose(actual, ref.data, rtol: 1e-3, atol: 0, key)
            let (d, s) = maxAbsDiff(actual, ref.data)
            if s > 0, d / s > worst.rel { worst = (d / s, key) }
        }
        check(fake.data, "fake", shape: fake.shape)
        check(pred.data, "pred", shape: pred.shape)
        for (prefix, net) in [("G", G as Module), ("D", D as Module)] {
            let params = net.namedParameters()
            // Every reference gradient has a parameter here and vice versa.
            let refGradKeys = Set(f.tensors.keys.filter { $0.hasPrefix("grad.\(prefix).") })
            XCTAssertEqual(Set(params.map { "grad.\(prefix).\($0.0)" }), refGradKeys)
            for (k, p) in params {
                XCTAssertNotNil(p.grad, "\(prefix).\(k) got no gradient")
                check(p.grad ?? [Float](repeating: 0, count: p.count), "grad.\(prefix).\(k)", shape: p.shape)
            }
            let buffers = net.namedBuffers()
            XCTAssertEqual(Set(buffers.map { "\(prefix).\($0.0).after" }),
                           Set(f.tensors.keys.filter { $0.hasPrefix("\(prefix).") && $0.hasSuffix(".after") }))
            for (k, b) in buffers { check(b.data, "\(prefix).\(k).after", shape: b.shape) }
        }
        print("  largest relative diff (max abs diff / max |ref|) over all tensors: \(worst.rel) (\(worst.what))")
    }
}
