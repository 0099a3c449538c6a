import XCTest
import Foundation
import Tensors
import NN
import Pipelines
import TestSupport
import TranslateCLI

/// Reference checkpoints saved by torch.save (tools/make_torch_import_fixtures.py) imported
/// into model files that `apply` loads, with PyTorch's outputs reproduced.
final class ImportTests: CLITestCase {
    func check(pth: String, io: String, arch: GeneratorArch, ngf: Int, norm: Norm, nBlocks: Int?, expectedKind: String) throws {
        let out = tmp.appendingPathComponent("\(pth).safetensors")
        let r = try TorchModelImporter.importGenerator(pth: fixturesURL.appendingPathComponent("torch_import/\(pth)"), arch: arch, ngf: ngf,
                                                       norm: norm, dropout: false, nBlocks: nBlocks, inputNc: 3, outputNc: 3,
                                                       output: out, fp16: false)
        XCTAssertGreaterThan(r.loaded, 10)
        let g = try LoadedGenerator(path: out.path)
        XCTAssertEqual(g.metadata["kind"], expectedKind)
        let fx = try Fixture("torch_import/\(io)")
        let y = try g.netG.translate(try fx.tensor("x"), mode: .eval)
        assertClose(y, try fx.tensor("out"), rtol: 1e-4, atol: 1e-5, "\(pth) output after import")
    }

    func testUNetAndResNetCheckpointsReproducePyTorch() throws {
        try check(pth: "unet_small.pth", io: "unet_small_io", arch: .unet32, ngf: 4, norm: .batch, nBlocks: nil, expectedKind: "pix2pix-generator")
        try check(pth: "unet_small_legacy.pth", io: "unet_small_io", arch: .unet32, ngf: 4, norm: .batch, nBlocks: nil, expectedKind: "pix2pix-generator")
        try check(pth: "resnet_small.pth", io: "resnet_small_io", arch: .resnet9, ngf: 4, norm: .instance, nBlocks: 2, expectedKind: "cyclegan-generator")
    }

    func testWrongArchitectureAndHostileFilesAreRefused() throws {
        let out = tmp.appendingPathComponent("x.safetensors")
        assertThrows("wrong ngf", contains: ["unet_small.pth"]) {
            _ = try TorchModelImporter.importGenerator(pth: fixturesURL.appendingPathComponent("torch_import/unet_small.pth"), arch: .unet32,
                                                       ngf: 8, norm: .batch, dropout: false, nBlocks: nil, inputNc: 3, outputNc: 3, output: out, fp16: false)
        }
        assertThrows("resnet as unet", contains: ["resnet_small.pth"]) {
            _ = try TorchModelImporter.importGenerator(pth: fixturesURL.appendingPathComponent("torch_import/resnet_small.pth"), arch: .unet32,
                                                       ngf: 4, norm: .batch, dropout: false, nBlocks: nil, inputNc: 3, outputNc: 3, output: out, fp16: false)
        }
        assertThrows("os.system pickle", contains: ["evil_os_system.pth"]) {
            _ = try TorchModelImporter.importGenerator(pth: fixturesURL.appendingPathComponent("torch_import/evil_os_system.pth"), arch: .unet32,
                                                       ngf: 4, norm: .batch, dropout: false, nBlocks: nil, inputNc: 3, outputNc: 3, output: out, fp16: false)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "nothing written on failure")
    }
}
