import XCTest
import Tensors
import NN
import TestSupport

/// Every op against PyTorch: forward output and every input gradient for loss = sum(out * r),
/// from fixtures written by tools/make_fixtures.py (Tests/Fixtures/ops).
final class GoldenOpsTests: XCTestCase {
    /// Runs one case: builds `out` from the fixture's inputs with `f`, back-propagates the
    /// stored `r` and compares `out` and `grad.<role>` for every role.
    func check(_ name: String, _ roles: [String], rtol: Float = 1e-5, atol: Float = 1e-6,
               file: StaticString = #filePath, line: UInt = #line,
               _ f: (Fixture, [String: Tensor]) throws -> Tensor) throws {
        let fx = try Fixture("ops/" + name)
        var inputs: [String: Tensor] = [:]
        for r in roles { inputs[r] = try fx.tensor(r, requiresGrad: true) }
        print("\(name):")
        let out = try f(fx, inputs)
        assertClose(out, try fx.tensor("out"), rtol: rtol, atol: atol, "\(name) out", file: file, line: line)
        try out.backward(gradient: try fx.tensor("r"))
        for r in roles where fx.has("grad." + r) {
            let g = try XCTUnwrap(inputs[r]?.grad, "\(name): no gradient for \(r)", file: file, line: line)
            assertClose(g, try fx.tensor("grad." + r).data, rtol: rtol, atol: atol, "\(name) grad.\(r)", file: file, line: line)
        }
    }

    func testConv2d() throws {
        for name in ["conv2d_basic", "conv2d_stride2", "conv2d_dilation_nobias", "conv2d_rect"] {
            let fx = try Fixture("ops/" + name)
            let roles = fx.has("bias") ? ["x", "weight", "bias"] : ["x", "weight"]
            try check(name, roles) { fx, t in
                try conv2d(t["x"]!, weight: t["weight"]!, bias: t["bias"], stride: fx.pair("stride"),
                           padding: fx.pair("padding"), dilation: fx.pair("dilation"))
            }
        }
    }

    func testConvTranspose2d() throws {
        for name in ["conv_transpose2d_basic", "conv_transpose2d_outpad", "conv_transpose2d_s1_nobias"] {
            let fx = try Fixture("ops/" + name)
            let roles = fx.has("bias") ? ["x", "weight", "bias"] : ["x", "weight"]
            try check(name, roles) { fx, t in
                try convTranspose2d(t["x"]!, weight: t["weight"]!, bias: t["bias"], stride: fx.pair("stride"),
                                    padding: fx.pair("padding"), outputPadding: fx.pair("output_padding"),
                                    dilation: fx.pair("dilation"))
            }
        }
    }

    func testBatchNorm() throws {
        for name in ["batch_norm_train", "batch_norm_eval"] {
            let fx = try Fixture("ops/" + name)
            let rm = try fx.tensor("running_mean"), rv = try fx.tensor("running_var")
            try check(name, ["x", "weight", "bias"], rtol: 2e-5) { fx, t in
                try batchNorm(t["x"]!, runningMean: rm, runningVar: rv, weight: t["weight"], bias: t["bias"],
                              training: fx.bool("training"), momentum: fx.float("momentum"), eps: fx.float("eps"))
            }
            assertClose(rm, try fx.tensor("running_mean.after"), "\(name) running_mean")
            assertClose(rv, try fx.tensor("running_var.after"), "\(name) running_var")
        }
    }

    func testInstanceNorm() throws {
        try check("instance_norm", ["x"], rtol: 2e-5) { fx, t in try instanceNorm(t["x"]!, eps: fx.float("eps")) }
        try check("instance_norm_affine", ["x", "weight", "bias"], rtol: 2e-5) { fx, t in
            try instanceNorm(t["x"]!, weight: t["weight"], bias: t["bias"], eps: fx.float("eps"))
        }
    }

    func testActivations() throws {
        try check("relu", ["x"]) { _, t in relu(t["x"]!) }
        try check("leaky_relu", ["x"]) { fx, t in leakyReLU(t["x"]!, negativeSlope: fx.float("negative_slope")) }
        try check("tanh", ["x"]) { _, t in tanh(t["x"]!) }
        try check("sigmoid", ["x"]) { _, t in sigmoid(t["x"]!) }
    }

    func testPadding() throws {
        try check("reflection_pad", ["x"]) { fx, t in
            let p = fx.ints("pad")
            return try pad(t["x"]!, left: p[0], right: p[1], top: p[2], bottom: p[3], mode: .reflect)
        }
        try check("zero_pad", ["x"]) { fx, t in
            let p = fx.ints("pad")
            return try pad(t["x"]!, left: p[0], right: p[1], top: p[2], bottom: p[3], mode: .constant)
        }
    }

    func testCatAndNarrow() throws {
        try check("cat", ["a", "b"]) { fx, t in try cat([t["a"]!, t["b"]!], dim: fx.int("dim")) }
        for name in ["narrow_dim1", "narrow_dim3"] {
            try check(name, ["x"]) { fx, t in
                try narrow(t["x"]!, dim: fx.int("dim"), start: fx.int("start"), length: fx.int("length"))
            }
        }
    }

    func testBinaryAndScalar() throws {
        try check("add", ["a", "b"]) { _, t in try t["a"]! + t["b"]! }
        try check("sub", ["a", "b"]) { _, t in try t["a"]! - t["b"]! }
        try check("mul", ["a", "b"]) { _, t in try t["a"]! * t["b"]! }
        try check("div", ["a", "b"]) { _, t in try t["a"]! / t["b"]! }
        try check("add_scalar", ["x"]) { fx, t in t["x"]! + fx.float("scalar") }
        try check("sub_scalar", ["x"]) { fx, t in t["x"]! - fx.float("scalar") }
        try check("rsub_scalar", ["x"]) { fx, t in fx.float("scalar") - t["x"]! }
        try check("mul_scalar", ["x"]) { fx, t in t["x"]! * fx.float("scalar") }
        try check("div_scalar", ["x"]) { fx, t in t["x"]! / fx.float("scalar") }
    }

    func testReductions() throws {
        try check("mean", ["x"]) { _, t in mean(t["x"]!) }
        try check("sum", ["x"]) { _, t in sum(t["x"]!) }
    }

    func testResampling() throws {
        try check("upsample_nearest", ["x"]) { fx, t in try upsampleNearest(t["x"]!, scaleFactor: fx.int("scale_factor")) }
        try check("upsample_bilinear", ["x"]) { fx, t in
            try upsampleBilinear(t["x"]!, scaleFactor: fx.int("scale_factor"), alignCorners: fx.bool("align_corners"))
        }
        for name in ["avg_pool2d_k2", "avg_pool2d_k3p1"] {
            try check(name, ["x"]) { fx, t in
                try avgPool2d(t["x"]!, kernelSize: fx.pair("kernel_size"), stride: fx.pair("stride"),
                              padding: fx.pair("padding"), countIncludePad: fx.bool("count_include_pad"))
            }
        }
        // Written by tools/make_eval_fixtures.py (LPIPS's AlexNet uses 3x3 stride-2 max pooling).
        for name in ["max_pool2d", "max_pool2d_s1p1"] {
            try check(name, ["x"]) { fx, t in
                try maxPool2d(t["x"]!, kernelSize: fx.pair("kernel"), stride: fx.pair("stride"), padding: fx.pair("padding"))
            }
        }
    }

    func testLosses() throws {
        try check("l1_loss", ["x", "target"]) { _, t in try l1Loss(t["x"]!, t["target"]!) }
        try check("mse_loss", ["x", "target"]) { _, t in try mseLoss(t["x"]!, t["target"]!) }
        try check("bce_with_logits", ["x", "target"]) { _, t in try binaryCrossEntropyWithLogits(t["x"]!, t["target"]!) }
    }
}
