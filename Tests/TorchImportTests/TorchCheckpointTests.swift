import XCTest
import Foundation
import Tensors
import NN
import Pipelines
import TestSupport
@testable import TorchImport

/// Fixtures written by tools/make_torch_import_fixtures.py.
let torchFixtures = fixturesURL.appendingPathComponent("torch_import")

func torchFixture(_ name: String) -> URL { torchFixtures.appendingPathComponent(name) }

/// Golden tests: files written by torch.save read back to PyTorch's values.
final class TorchCheckpointTests: XCTestCase {
    /// unet_small.pth (zip) and unet_small_legacy.pth hold the same state dict.
    func testUNetZipAndLegacyGiveIdenticalTensors() throws {
        let z = try TorchCheckpoint.read(torchFixture("unet_small.pth"))
        let l = try TorchCheckpoint.read(torchFixture("unet_small_legacy.pth"))
        XCTAssertEqual(z.tensors.map(\.0), l.tensors.map(\.0))
        XCTAssertEqual(z.ignored, [])
        XCTAssertEqual(l.ignored, [])
        for ((k, a), (_, b)) in zip(z.tensors, l.tensors) {
            XCTAssertEqual(a.shape, b.shape, k)
            XCTAssertEqual(a.data, b.data, k)
        }
        // 4 BatchNorm layers in the middle blocks x 2 + the innermost up norm = 7 BatchNorms.
        let counters = z.tensors.filter { $0.0.hasSuffix("num_batches_tracked") }
        XCTAssertEqual(counters.count, 7)
        XCTAssertTrue(counters.allSatisfy { $0.1.shape == [] && $0.1.data == [5] })
    }

    /// The U-Net's keys are the reference's: the state dict loads with strict key checking
    /// once the num_batches_tracked counters are dropped, and eval mode reproduces PyTorch.
    func testUNetFromTorchMatchesPyTorchInEvalMode() throws {
        let io = try Fixture("torch_import/unet_small_io")
        for file in ["unet_small.pth", "unet_small_legacy.pth"] {
            let read = try TorchCheckpoint.read(torchFixture(file))
            let state = Dictionary(read.tensors.filter { !$0.0.hasSuffix("num_batches_tracked") },
                                   uniquingKeysWith: { a, _ in a })
            var rng = RNG(seed: 0)
            let g = try UnetGenerator(inputNc: 3, outputNc: 3, numDowns: 5, ngf: 4, norm: .batch, useDropout: false,
                                      initType: nil, rng: &rng)
            XCTAssertEqual(state.count, g.stateDict().count)
            XCTAssertEqual(String(g.parameterCount), io.metadata["params"])
            try g.loadStateDict(state, strict: true)
            for (k, t) in g.stateDict() { XCTAssertEqual(t.data, state[k]?.data, k) }
            g.eval()
            let y = try withNoGrad { try g(try io.tensor("x")) }
            assertClose(y, try io.tensor("out"), rtol: 0, atol: 1e-4, "\(file): U-Net eval output vs PyTorch")
        }
    }

    /// Offsets, strides (slices, transposes, stride 0), shared storages and dtypes.
    func testViewsAndDtypesMatchPyTorch() throws {
        let expected = try Fixture("torch_import/views_expected")
        let keys = expected.args["keys"] as? [String] ?? []
        XCTAssertEqual(keys.count, 16)
        for file in ["views.pth", "views_legacy.pth"] {
            let read = try TorchCheckpoint.read(torchFixture(file))
            XCTAssertEqual(read.tensors.map(\.0), keys, file)
            XCTAssertEqual(read.ignored, [], file)
            for (k, t) in read.tensors {
                let e = try expected.tensor(k)
                XCTAssertEqual(t.shape, e.shape, "\(file) \(k)")
                XCTAssertEqual(t.data, e.data, "\(file) \(k)")
            }
            let byName = Dictionary(read.tensors, uniquingKeysWith: { a, _ in a })
            // base = arange(24).reshape(4, 6) * 0.5 - 3; view = base[1:, ::2]
            XCTAssertEqual(byName["view"]?.shape, [3, 3])
            XCTAssertEqual(byName["view"]?.data, [6, 8, 10, 12, 14, 16, 18, 20, 22].map { Float($0) * 0.5 - 3 })
            XCTAssertEqual(byName["row"]?.data, (12..<18).map { Float($0) * 0.5 - 3 })
            XCTAssertEqual(byName["int64"]?.data, [-3, 0, 7, 123_456, -1_099_511_627_777, 1_099_511_627_776].map { Float($0) })
            XCTAssertEqual(byName["uint8"]?.data, [0, 1, 255, 128])
            XCTAssertEqual(byName["bool"]?.data, [1, 0, 1])
            XCTAssertEqual(byName["scalar"]?.shape, [])
            XCTAssertEqual(byName["scalar"]?.data, [2.5])
            XCTAssertEqual(byName["empty"]?.shape, [0, 3])
            let ex = try XCTUnwrap(byName["expanded"])
            XCTAssertEqual(ex.shape, [3, 4])
            for r in 0..<3 { XCTAssertEqual(Set(ex.data[(4 * r)..<(4 * r + 4)]).count, 1, "row \(r) of an expand") }
        }
    }

    /// {"state_dict": {...}, "epoch": 7, "name": ..., "opt": {...}, "extra": [t, t]}.
    func testNestedContainersAreFlattenedAndScalarsReported() throws {
        let read = try TorchCheckpoint.read(torchFixture("nested.pth"))
        XCTAssertEqual(read.tensors.map(\.0), ["state_dict.a.weight", "state_dict.a.bias", "extra.0", "extra.1"])
        XCTAssertEqual(read.ignored, ["epoch", "name", "opt.lr", "opt.betas.0", "opt.betas.1"])
        XCTAssertEqual(read.tensors[2].1.data, [0, 1, 2])
        XCTAssertEqual(read.tensors[3].1.data, [1])
        XCTAssertEqual(read.tensors[0].1.shape, [2, 2])
    }

    /// The ResNet fixture (for the ResnetGenerator golden test to come) reads with the
    /// reference's keys and shapes.
    func testResnetFixtureHasTheReferenceLayout() throws {
        let read = try TorchCheckpoint.read(torchFixture("resnet_small.pth"))
        let shapes = Dictionary(read.tensors.map { ($0.0, $0.1.shape) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(read.tensors.count, 20)   // 10 convs with biases; InstanceNorm(affine=False) has no state
        XCTAssertEqual(shapes["model.1.weight"], [4, 3, 7, 7])
        XCTAssertEqual(shapes["model.4.weight"], [8, 4, 3, 3])
        XCTAssertEqual(shapes["model.7.weight"], [16, 8, 3, 3])
        XCTAssertEqual(shapes["model.10.conv_block.1.weight"], [16, 16, 3, 3])
        XCTAssertEqual(shapes["model.11.conv_block.5.bias"], [16])
        XCTAssertEqual(shapes["model.12.weight"], [16, 8, 3, 3])   // ConvTranspose2d: [in, out, kH, kW]
        XCTAssertEqual(shapes["model.15.weight"], [8, 4, 3, 3])
        XCTAssertEqual(shapes["model.19.weight"], [3, 4, 7, 7])
        XCTAssertEqual(shapes["model.19.bias"], [3])
        let io = try Fixture("torch_import/resnet_small_io")
        XCTAssertEqual(try io.tensor("x").shape, [1, 3, 20, 20])
        XCTAssertEqual(try io.tensor("out").shape, [1, 3, 20, 20])
        XCTAssertEqual(String(read.tensors.reduce(0) { $0 + $1.1.count }), io.metadata["params"])
    }

    /// A synthetic zip with zip64 extra fields and zip64 end records (as torch writes for big
    /// files) reads like the plain one.
    func testZip64ExtraFieldsAndEndRecords() throws {
        let storage: [Float] = [1, -2, 3.5, 4, 5, 6]
        let pkl = PickleBuilder.stateDict([("w", .init(key: "0", dtype: "FloatStorage", numel: 6, offset: 1, size: [2, 2], stride: [1, 2]))])
        let bytes = floatBytes(storage)
        for zip64 in [false, true] {
            let data = storedZip([("arch/data.pkl", pkl), ("arch/byteorder", Array("little".utf8)), ("arch/data/0", bytes),
                                  ("arch/version", Array("3\n".utf8))], zip64: zip64)
            let read = try TorchCheckpoint.read(data: data, path: "synthetic.pth")
            XCTAssertEqual(read.tensors.map(\.0), ["w"])
            XCTAssertEqual(read.tensors[0].1.shape, [2, 2])
            // element (i, j) = storage[1 + i + 2 j]
            XCTAssertEqual(read.tensors[0].1.data, [-2, 4, 3.5, 5], "zip64 \(zip64)")
        }
    }
}
