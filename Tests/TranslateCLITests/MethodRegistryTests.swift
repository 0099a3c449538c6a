import XCTest
import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import TranslateCLI
@testable import Pipelines

/// The shared networks factory and the method registry, seen from the commands.
final class MethodRegistryTests: CLITestCase {
    /// pix2pix takes the ResNet generators (as the reference does): trained, applied,
    /// exported, and the exported file gives the same outputs.
    func testPix2PixWithAResNetGenerator() throws {
        let root = try makeAligned(tmp.appendingPathComponent("d/train"), count: 2).deletingLastPathComponent()
        let runs = tmp.appendingPathComponent("runs")
        let r = try run(["train", "pix2pix", "--dataroot", root.path, "--name", "res", "--checkpoints-dir", runs.path,
                         "--net-g", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32",
                         "--epochs", "1", "--epochs-decay", "0", "--quiet"])
        XCTAssertEqual(r.status, 0, r.err)
        let g = try LoadedGenerator(path: runs.appendingPathComponent("res").path)
        XCTAssertTrue(g.netG is ResnetGenerator, "\(type(of: g.netG))")
        XCTAssertEqual(g.method, .pix2pix)
        let exported = tmp.appendingPathComponent("res.safetensors")
        XCTAssertEqual(try run(["export", "--model", runs.appendingPathComponent("res").path, "--output", exported.path]).status, 0)
        let input = root.appendingPathComponent("train").path
        for (model, out) in [(runs.appendingPathComponent("res").path, "o1"), (exported.path, "o2")] {
            let a = try run(["apply", "--model", model, "--input", input, "--output", tmp.appendingPathComponent(out).path, "--test-mode", "eval", "--quiet"])
            XCTAssertEqual(a.status, 0, a.err)
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: input) where name.hasSuffix(".png") {
            XCTAssertEqual(try Data(contentsOf: tmp.appendingPathComponent("o1/\(name)")), try Data(contentsOf: tmp.appendingPathComponent("o2/\(name)")), name)
        }
    }

    /// One factory builds every generator: the same spec gives the same network as the
    /// architecture's own initialiser with the same generator.
    func testFactoryMatchesTheArchitectures() throws {
        for arch in GeneratorArch.allCases {
            let spec = GeneratorSpec(arch: arch, inputNc: 3, outputNc: 2, ngf: 2, norm: .instance, dropout: false, blocks: arch.isUNet ? nil : 1)
            var r1 = RNG(seed: 4), r2 = RNG(seed: 4)
            let a = try spec.make(rng: &r1)
            let b: Module = arch.isUNet
                ? try UnetGenerator(inputNc: 3, outputNc: 2, numDowns: arch.numDowns!, ngf: 2, norm: .instance, useDropout: false, rng: &r2)
                : try ResnetGenerator(inputNc: 3, outputNc: 2, ngf: 2, norm: .instance, useDropout: false, nBlocks: 1, rng: &r2)
            XCTAssertEqual(a.stateDict().map(\.0), b.stateDict().map(\.0), arch.rawValue)
            XCTAssertEqual(a.stateDict().map(\.1.data), b.stateDict().map(\.1.data), arch.rawValue)
        }
        XCTAssertEqual(Set(GeneratorArch.allCases.map(\.rawValue)), ["unet-256", "unet-128", "unet-64", "unet-32", "resnet-9blocks", "resnet-6blocks"])
    }

    /// Every method's kind field round-trips through the registry; generator files say so.
    func testKindFieldsRoundTrip() throws {
        for m in Method.allCases {
            for generatorOnly in [false, true] {
                let url = tmp.appendingPathComponent("\(m.rawValue)\(generatorOnly).safetensors")
                try SafeTensors.write([("x", Tensor(scalar: 1))], metadata: ["kind": m.kindField(generatorOnly: generatorOnly)], to: url)
                let f = try ModelFile.open(url)
                XCTAssertEqual(f.method, m)
                XCTAssertEqual(f.generatorOnly, generatorOnly)
                XCTAssertThrowsError(try f.options(Pix2PixTrainOptions.self)) { XCTAssertTrue("\($0)".contains("no 'config' field"), "\($0)") }
            }
        }
    }
}
