import XCTest
import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import Pipelines
import TranslateCLI

/// A user's own folders: every layout that used to be trained on silently is detected or
/// refused with a message naming the folder, the file or the command to use instead.
final class UserDataTests: CLITestCase {
    /// `A/` and `B/` with `count` images of matching names (side x side).
    @discardableResult
    func makePairs(_ dir: URL, count: Int, side: Int = 32) throws -> URL {
        for (sub, seed) in [("A", 1), ("B", 100)] {
            let d = dir.appendingPathComponent(sub)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<count {
                try ImageFile.write(try makeImage(width: side, height: side, seed: UInt64(seed + i)),
                                    to: d.appendingPathComponent(String(format: "%02d.png", i)))
            }
        }
        return dir
    }

    func makeImages(_ dir: URL, count: Int, width: Int, height: Int) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for i in 0..<count {
            try ImageFile.write(try makeImage(width: width, height: height, seed: UInt64(i + 7)),
                                to: dir.appendingPathComponent(String(format: "%02d.png", i)))
        }
    }

    // MARK: - Detection

    /// A/ + B/ at the root used to be split into halves as aligned images ("60 pairs").
    func testPairedFoldersAreDetectedAtRootOrUnderPhase() throws {
        let root = try makePairs(tmp.appendingPathComponent("pairs"), count: 3)
        let l = try DatasetLayout.paired(root: root, phase: "train")
        XCTAssertEqual(l.mode, .paired)
        XCTAssertEqual(l.folder.standardizedFileURL, root.standardizedFileURL)
        XCTAssertTrue(l.detected)
        let split = try makePairs(tmp.appendingPathComponent("ds/train"), count: 2)
        let l2 = try DatasetLayout.paired(root: split.deletingLastPathComponent(), phase: "train")
        XCTAssertEqual(l2.mode, .paired)
        XCTAssertEqual(l2.folder.lastPathComponent, "train")
        // The trainer trains on the pairs (not on halves of the A images) and remembers the mode.
        let t = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "p", epochs: 1, decay: 0), resume: false)
        XCTAssertEqual(t.dataset.count, 3)
        XCTAssertEqual(t.options.data.mode, .paired)
        XCTAssertTrue(t.layout.datasetSummary(t.dataset).contains("paired folders A/ B/"))
        XCTAssertTrue(t.layout.datasetSummary(t.dataset).hasSuffix("3 pairs"))
        t.progressEnabled = false
        try t.run()
        let saved = try SafeTensors.read(t.latestURL).metadata["config"] ?? ""
        XCTAssertTrue(saved.contains("\"mode\":\"paired\""), saved)
        let s = try t.dataset.load(0)
        XCTAssertEqual(s.input.shape, [1, 3, 32, 32])
        XCTAssertTrue(s.targetPath?.hasSuffix("B/00.png") ?? false)
    }

    /// A CycleGAN layout given to pix2pix used to train on testA/ as "pairs".
    func testCycleGANLayoutGivenToPix2PixNamesTheCycleGANCommand() throws {
        let root = tmp.appendingPathComponent("cyc")
        for d in ["trainA", "trainB", "testA", "testB"] { try makeImages(root.appendingPathComponent(d), count: 2, width: 64, height: 32) }
        assertThrows("pix2pix on trainA/trainB", contains: ["unpaired (CycleGAN) layout", "translate train cyclegan"]) {
            _ = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "x"), resume: false)
        }
        // And the other way round.
        let pairs = try makePairs(tmp.appendingPathComponent("pairs"), count: 2)
        assertThrows("cyclegan on A/B", contains: ["paired layout", "translate train pix2pix"]) {
            _ = try DatasetLayout.unpaired(root: pairs, phase: "train")
        }
    }

    /// The datasets root used to train on an unrelated subfolder found recursively.
    func testRootOfSeveralDatasetsIsRefusedListingWhatItHolds() throws {
        let root = tmp.appendingPathComponent("datasets")
        try makeAligned(root.appendingPathComponent("facades/train"), count: 2)
        try makeImages(root.appendingPathComponent("flowers/trainA"), count: 2, width: 32, height: 32)
        assertThrows("datasets root", contains: ["no train/ split", "facades/", "flowers/"]) {
            _ = try DatasetLayout.paired(root: root, phase: "train")
        }
        // A split with the images one level down is not searched recursively either.
        let nested = tmp.appendingPathComponent("nested/train/sub")
        try makeAligned(nested, count: 2)
        assertThrows("nested", contains: ["neither A/ and B/", "sub/"]) {
            _ = try DatasetLayout.paired(root: tmp.appendingPathComponent("nested"), phase: "train")
        }
        // Splits other than the phase are listed.
        let two = tmp.appendingPathComponent("two")
        try makeAligned(two.appendingPathComponent("train"), count: 1)
        try makeAligned(two.appendingPathComponent("val"), count: 1)
        assertThrows("missing phase", contains: ["no test/ split", "train/, val/", "--phase"]) {
            _ = try DatasetLayout.paired(root: two, phase: "test")
        }
    }

    /// A folder of label maps only (square images) used to be accepted as aligned pairs.
    func testAlignedImagesThatAreNotTwoToOneAreRefusedNamingFileAndSize() throws {
        let dir = tmp.appendingPathComponent("labels/train")
        try makeImages(dir, count: 2, width: 40, height: 40)
        assertThrows("square images", contains: ["00.png", "40 x 40", "twice as wide", "A/ and B/"]) {
            _ = try DatasetLayout.paired(root: dir.deletingLastPathComponent(), phase: "train")
        }
        // One bad file among good ones is refused when it is loaded, by name.
        let mixed = try makeAligned(tmp.appendingPathComponent("mixed/train"), count: 2)
        try ImageFile.write(try makeImage(width: 30, height: 30, seed: 3), to: mixed.appendingPathComponent("zz.png"))
        let ds = try ImageDataset(roots: [mixed], options: DataOptions(mode: .aligned, preprocess: .none, flip: false))
        XCTAssertNoThrow(try ds.load(0))
        assertThrows("bad file", contains: ["zz.png", "30 x 30"]) { _ = try ds.load(2) }
        // And an unresolved auto mode never reaches a dataset.
        assertThrows("auto", contains: ["auto"]) { _ = try ImageDataset(roots: [mixed], options: DataOptions(mode: .auto)) }
    }

    // MARK: - apply and eval use what the model remembers

    /// apply --dataroot on a paired-folders model used to read the pairs as aligned halves and
    /// to score train and val together; now it reads --phase (default test) as paired.
    func testApplyOnPairedModelUsesPhaseAndNumTest() throws {
        let root = tmp.appendingPathComponent("ds")
        try makePairs(root.appendingPathComponent("train"), count: 2)
        try makePairs(root.appendingPathComponent("test"), count: 3)
        try makePairs(root.appendingPathComponent("val"), count: 4)
        let t = try Pix2PixTrainer(options: tinyOptions(dataroot: root, name: "m", epochs: 1, decay: 0), resume: false)
        t.progressEnabled = false
        try t.run()
        let job = try ApplyJob(modelPath: t.runDir.path, inputs: [], dataroot: root.path, direction: nil,
                               output: tmp.appendingPathComponent("out").path, batchSize: 2, testMode: nil, seed: 0, loadSize: nil)
        XCTAssertEqual(job.dataset.options.mode, .paired)
        XCTAssertEqual(job.dataset.count, 3)
        let r = try job.translateAll()
        XCTAssertEqual(r.translated, 3)
        XCTAssertNotNil(r.meanPSNR)
        let val = try ApplyJob(modelPath: t.runDir.path, inputs: [], dataroot: root.path, phase: "val", numTest: 2, direction: nil,
                               output: tmp.appendingPathComponent("out2").path, batchSize: 2, testMode: nil, seed: 0, loadSize: nil)
        XCTAssertEqual(val.dataset.count, 2)
        XCTAssertTrue(val.dataset.sourcePath(0).contains("/val/A/"))
        assertThrows("missing split", contains: ["no holdout/ split", "test/, train/, val/"]) {
            _ = try ApplyJob(modelPath: t.runDir.path, inputs: [], dataroot: root.path, phase: "holdout", direction: nil,
                             output: tmp.appendingPathComponent("o3").path, batchSize: 1, testMode: nil, seed: 0, loadSize: nil)
        }
        // The direction is the model's unless given.
        let g = try LoadedGenerator(path: t.runDir.path)
        XCTAssertEqual(g.trainedDataMode, .paired)
        XCTAssertEqual(g.trainedDirection, .aToB)
    }

    /// Two --input folders holding 1.png used to overwrite each other's output.
    func testOutputNamesNeverCollide() throws {
        let a = tmp.appendingPathComponent("x/a"), b = tmp.appendingPathComponent("y/b")
        for d in [a, b] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            try ImageFile.write(try makeImage(width: 16, height: 16, seed: 1), to: d.appendingPathComponent("1.png"))
        }
        let opts = DataOptions(mode: .single, preprocess: .none, flip: false)
        let ds = try ImageDataset(roots: [a, b], options: opts)
        XCTAssertEqual((0..<ds.count).map { ds.relativePath($0) }, ["a/1.png", "b/1.png"])
        // Folders of the same name, or the same file name given twice, are refused naming both.
        let a2 = tmp.appendingPathComponent("z/a")
        try FileManager.default.createDirectory(at: a2, withIntermediateDirectories: true)
        try ImageFile.write(try makeImage(width: 16, height: 16, seed: 2), to: a2.appendingPathComponent("1.png"))
        assertThrows("same folder names", contains: ["x/a/1.png", "z/a/1.png", "a/1.png"]) {
            _ = try ImageDataset(roots: [a, a2], options: opts)
        }
        assertThrows("same file names", contains: ["x/a/1.png", "y/b/1.png"]) {
            _ = try ImageDataset(roots: [a.appendingPathComponent("1.png"), b.appendingPathComponent("1.png")], options: opts)
        }
        // One folder keeps its own relative paths.
        XCTAssertEqual(try ImageDataset(roots: [a], options: opts).relativePath(0), "1.png")
    }

    // MARK: - Interrupting and resuming

    /// A stop request after every single step, each followed by a resume, gives the bits of
    /// the run that was never interrupted (data order, RNG, dropout, Adam state).
    func testStopAfterEveryStepAndResumeIsBitExact() throws {
        try assertStopAfterEveryStepResumesExactly(tag: "vanilla") { _ in }
    }

    /// The same with WGAN-GP and two critic steps per generator step: the critic-only steps
    /// after a resume report the generator's losses of its last update, as the uninterrupted
    /// run does (they are kept in the checkpoint), not zeros.
    func testStopAfterEveryStepAndResumeIsBitExactWithCriticSteps() throws {
        try assertStopAfterEveryStepResumesExactly(tag: "wgangp") { o in
            o.model.ganMode = .wgangp
            o.model.norm = .instance
            o.model.penalties = GANPenalties(lambdaGP: 10, nCritic: 2)
        }
    }

    private func assertStopAfterEveryStepResumesExactly(tag: String, configure: (inout Pix2PixTrainOptions) -> Void) throws {
        let root = try makeAligned(tmp.appendingPathComponent("\(tag)/train"), count: 3).deletingLastPathComponent()
        var o = tinyOptions(dataroot: root, name: "straight-\(tag)", epochs: 1, decay: 1)
        o.batchSize = 1
        configure(&o)
        let a = try Pix2PixTrainer(options: o, resume: false)
        a.progressEnabled = false
        try a.run()
        o = tinyOptions(dataroot: root, name: "stopped-\(tag)", epochs: 1, decay: 1)
        o.batchSize = 1
        configure(&o)
        var stops = 0
        var resume = false
        while true {
            let t = try Pix2PixTrainer(options: o, resume: resume)
            t.progressEnabled = false
            let stop = StopRequest()
            stop.request(SIGINT)
            t.stop = stop
            do {
                try t.run()
                break
            } catch let e as TrainingInterrupted {
                stops += 1
                XCTAssertEqual(e.exitCode, 130)
                if e.midEpoch {
                    let meta = try SafeTensors.read(t.latestURL).metadata
                    XCTAssertEqual(meta["epoch_batches"], "\(e.batches)")
                    XCTAssertEqual(meta["steps"], "\(e.step)")
                }
                resume = true
            }
            XCTAssertLessThan(stops, 10)
        }
        XCTAssertEqual(stops, 5)  // after steps 1, 2, 3 (end of epoch 1), 4, 5; step 6 ends the run
        let fa = try SafeTensors.read(a.latestURL)
        let fb = try SafeTensors.read(o.runDirectory.appendingPathComponent("latest.safetensors"))
        XCTAssertEqual(fa.tensors.map(\.0), fb.tensors.map(\.0))
        for ((k, ta), (_, tb)) in zip(fa.tensors, fb.tensors) { XCTAssertEqual(ta.data, tb.data, k) }
        XCTAssertEqual(fa.metadata["rng"], fb.metadata["rng"])
        let (la, lb) = (try lossRecords(a.runDir).map(\.losses), try lossRecords(o.runDirectory).map(\.losses))
        XCTAssertEqual(la, lb)
        XCTAssertEqual(la.count, 6)
        if o.model.penalties?.nCritic == 2 {
            // Steps 3 and 5 update the critic only, each right after a resume: they repeat the
            // generator losses of steps 2 and 4.
            XCTAssertEqual(lb[2]["G_L1"], lb[1]["G_L1"])
            XCTAssertEqual(lb[4]["G_GAN"], lb[3]["G_GAN"])
            XCTAssertGreaterThan(lb[2]["G_L1"] ?? 0, 0)
        }
    }

    /// --resume may lengthen a run and change save frequencies (reported); other changed
    /// flags are refused by name; a finished run says so.
    func testResumeWithChangedFlags() throws {
        let root = try makeAligned(tmp.appendingPathComponent("d/train"), count: 2).deletingLastPathComponent()
        let base = ["--dataroot", root.path, "--name", "r", "--checkpoints-dir", tmp.appendingPathComponent("runs").path,
                    "--net-g", "unet-32", "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32", "--quiet"]
        let first = try run(["train", "pix2pix"] + base + ["--epochs", "1", "--epochs-decay", "0"])
        XCTAssertEqual(first.status, 0, first.err)
        let again = try run(["train", "pix2pix"] + base + ["--epochs", "1", "--epochs-decay", "0", "--resume"])
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertTrue(again.out.contains("has finished all 1 epochs already"), again.out)
        let lr = try run(["train", "pix2pix"] + base + ["--epochs", "1", "--epochs-decay", "0", "--resume", "--lr", "0.001"])
        XCTAssertNotEqual(lr.status, 0)
        XCTAssertTrue(lr.err.contains("--lr") && lr.err.contains("cannot change when resuming"), lr.err)
        let arch = try run(["train", "pix2pix"] + base + ["--epochs", "1", "--epochs-decay", "0", "--resume", "--ngf", "8"])
        XCTAssertNotEqual(arch.status, 0)
        XCTAssertTrue(arch.err.contains("--ngf"), arch.err)
        let longer = try run(["train", "pix2pix"] + base + ["--epochs", "2", "--epochs-decay", "0", "--resume", "--save-epoch-freq", "1"])
        XCTAssertEqual(longer.status, 0, longer.err)
        XCTAssertTrue(longer.err.contains("changed --epochs 1 -> 2"), longer.err)
        XCTAssertTrue(longer.err.contains("--save-epoch-freq 5 -> 1"), longer.err)
        let meta = try SafeTensors.read(tmp.appendingPathComponent("runs/r/latest.safetensors")).metadata
        XCTAssertEqual(meta["epoch"], "2")
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("runs/r/epoch_2.safetensors").path))
        // A moved run resumes where the command line points, not where it was trained.
        let archive = tmp.appendingPathComponent("archive")
        try FileManager.default.createDirectory(at: archive, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: tmp.appendingPathComponent("runs/r"), to: archive.appendingPathComponent("r"))
        var moved = base
        moved[moved.firstIndex(of: "--checkpoints-dir")! + 1] = archive.path
        let m = try run(["train", "pix2pix"] + moved + ["--epochs", "3", "--epochs-decay", "0", "--resume"])
        XCTAssertEqual(m.status, 0, m.err)
        XCTAssertEqual(try SafeTensors.read(archive.appendingPathComponent("r/latest.safetensors")).metadata["epoch"], "3")
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("runs/r").path))
    }

    /// SIGINT to a training process: a checkpoint of the current step, the command that
    /// continues, exit status 130; resuming gives the bits of the uninterrupted run. Then
    /// SIGKILL after a --save-latest-freq checkpoint: resuming also gives the same bits.
    /// --time-limit: the step at the limit completes, a checkpoint of it is written, the
    /// command exits 0 and says how to continue; the resumed run ends with the bits of a run
    /// that had no limit. A non-positive limit is refused naming the flag.
    func testTimeLimitStopsWithACheckpointAndResumesExactly() throws {
        let root = try makeAligned(tmp.appendingPathComponent("d/train"), count: 3).deletingLastPathComponent()
        var o = tinyOptions(dataroot: root, name: "straight", epochs: 1, decay: 1)
        o.batchSize = 1
        let a = try Pix2PixTrainer(options: o, resume: false)
        a.progressEnabled = false
        try a.run()
        o.name = "limited"
        let t = try Pix2PixTrainer(options: o, resume: false)
        t.progressEnabled = false
        t.timeLimit = 1e-9
        do { try t.run(); XCTFail("the time limit did not stop the run") } catch let e as TrainingInterrupted {
            XCTAssertEqual(e.cause, .timeLimit(1e-9))
            XCTAssertEqual(e.exitCode, 0)
            XCTAssertTrue(e.midEpoch)
            XCTAssertEqual(e.step, 1, "stops after the first step")
            XCTAssertTrue(e.description.contains("time limit"), e.description)
            XCTAssertEqual(try SafeTensors.read(t.latestURL).metadata["steps"], "1")
        }
        let r = try Pix2PixTrainer(options: o, resume: true)
        r.progressEnabled = false
        try r.run()
        let fa = try SafeTensors.read(a.latestURL), fb = try SafeTensors.read(r.latestURL)
        for ((k, ta), (_, tb)) in zip(fa.tensors, fb.tensors) { XCTAssertEqual(ta.data, tb.data, k) }

        let args = ["train", "pix2pix", "--dataroot", root.path, "--name", "cli", "--checkpoints-dir", tmp.appendingPathComponent("runs").path,
                    "--net-g", "unet-32", "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32", "--epochs", "3", "--epochs-decay", "0", "--quiet"]
        let c = try run(args + ["--time-limit", "0.000001"])
        XCTAssertEqual(c.status, 0, c.err)
        XCTAssertTrue(c.err.contains("time limit (1e-06 minutes) reached at step 1"), c.err)
        XCTAssertTrue(c.err.contains("--name cli") && c.err.contains("--resume"), c.err)
        XCTAssertTrue(c.out.contains("stopped at the time limit"), c.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("runs/cli/latest.safetensors").path))
        try expectFailure(args + ["--time-limit", "0"], mentions: "--time-limit")
        try expectFailure(args + ["--time-limit", "-5"], mentions: "--time-limit")
    }

    func testSignalsDuringTrainingInAChildProcess() throws {
        let root = try makeAligned(tmp.appendingPathComponent("d/train"), count: 12, side: 64).deletingLastPathComponent()
        func args(_ name: String) -> [String] {
            ["train", "pix2pix", "--dataroot", root.path, "--name", name, "--checkpoints-dir", tmp.appendingPathComponent("runs").path,
             "--net-g", "unet-64", "--ngf", "8", "--ndf", "8", "--load-size", "68", "--crop-size", "64",
             "--epochs", "2", "--epochs-decay", "1", "--quiet", "--samples", "1"]
        }
        let straight = try run(args("straight"))
        XCTAssertEqual(straight.status, 0, straight.err)
        let reference = try SafeTensors.read(tmp.appendingPathComponent("runs/straight/latest.safetensors"))

        for (sig, name, extra) in [(SIGINT, "int", [String]()), (SIGKILL, "kill", ["--save-latest-freq", "2"])] {
            // Signalled mid-epoch, once a few steps are logged.
            let (p, errText) = try signalWhenLogged(try executable, args(name) + extra,
                                                    log: tmp.appendingPathComponent("runs/\(name)/loss_log.jsonl"), lines: 5, signal: sig)
            if sig == SIGINT {
                XCTAssertEqual(p.terminationReason, .exit)
                XCTAssertEqual(p.terminationStatus, 130, errText)
                XCTAssertTrue(errText.contains("checkpoint written to"), errText)
                XCTAssertTrue(errText.contains("continue with: translate train pix2pix --dataroot \(root.path) --name int"), errText)
                XCTAssertTrue(errText.contains("--resume"), errText)
                let meta = try SafeTensors.read(tmp.appendingPathComponent("runs/int/latest.safetensors")).metadata
                XCTAssertNotEqual(meta["steps"], "36", "the signal came after the run had ended; slow the test run down")
            } else {
                XCTAssertEqual(p.terminationReason, .uncaughtSignal)
            }
            let resumed = try run(args(name) + ["--resume"])
            XCTAssertEqual(resumed.status, 0, resumed.err)
            let got = try SafeTensors.read(tmp.appendingPathComponent("runs/\(name)/latest.safetensors"))
            XCTAssertEqual(got.tensors.map(\.0), reference.tensors.map(\.0))
            for ((k, ta), (_, tb)) in zip(reference.tensors, got.tensors) { XCTAssertEqual(ta.data, tb.data, "\(name): \(k)") }
            XCTAssertEqual(got.metadata["rng"], reference.metadata["rng"])
        }
    }
}

/// The reference's spellings, `--version`, `info`, `list`, `apply --epoch`, direction warnings.
final class FamiliarCommandTests: CLITestCase {
    func testReferenceOptionNamesAndValuesAreAccepted() throws {
        let (args, notes) = ReferenceNames.rewrite(["train", "pix2pix", "--netG", "unet_256", "--netD=n_layers", "--n_epochs", "3",
                                                    "--n_epochs_decay", "4", "--lambda_L1", "50", "--load_size", "64", "--crop_size", "32",
                                                    "--no_flip", "--batch_size", "2", "--gan_mode", "lsgan", "--continue_train",
                                                    "--gpu_ids", "-1", "--direction", "BtoA", "--dataroot", "d", "--name", "n"])
        XCTAssertEqual(args, ["train", "pix2pix", "--net-g", "unet_256", "--net-d=n_layers", "--epochs", "3", "--epochs-decay", "4",
                              "--lambda-l1", "50", "--load-size", "64", "--crop-size", "32", "--no-flip", "--batch-size", "2",
                              "--gan-mode", "lsgan", "--resume", "--direction", "BtoA", "--dataroot", "d", "--name", "n"])
        XCTAssertEqual(notes.count, 1)
        XCTAssertTrue(notes[0].contains("--gpu_ids"))
        let cmd = try TrainPix2Pix.parse(Array(args.dropFirst(2)))
        let o = cmd.trainOptions
        XCTAssertEqual(o.model.netG, .unet256)
        XCTAssertEqual(o.model.netD, .nLayers)
        XCTAssertEqual([o.epochs, o.epochsDecay, o.batchSize], [3, 4, 2])
        XCTAssertEqual(o.model.lambdaL1, 50)
        XCTAssertEqual(o.model.ganMode, .lsgan)
        XCTAssertEqual(o.data.direction, .bToA)
        XCTAssertFalse(o.data.flip)
        XCTAssertEqual(try TrainCycleGAN.parse(ReferenceNames.rewrite(["--dataroot", "d", "--name", "n", "--netG", "resnet_6blocks"]).args).trainOptions.model.netG, .resnet6)
        XCTAssertEqual(Upsampling(argument: "resize-conv"), .resizeConv)
        XCTAssertEqual(Preprocess(argument: "resize_and_crop"), .resizeAndCrop)
        XCTAssertEqual(Direction(argument: "AtoB"), .aToB)
        XCTAssertNil(Direction(argument: "sideways"))
        XCTAssertEqual(ReferenceNames.rewrite(["apply", "--num_test", "5", "--results_dir", "r", "--epoch", "3"]).args,
                       ["apply", "--num-test", "5", "--output", "r", "--epoch", "3"])
    }

    func testVersionInfoListAndEpochPick() throws {
        let v = try run(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertEqual(v.out.trimmingCharacters(in: .whitespacesAndNewlines), "translate \(TranslateVersion.current)")
        let root = try makeAligned(tmp.appendingPathComponent("d/train"), count: 2).deletingLastPathComponent()
        let runs = tmp.appendingPathComponent("runs")
        let tr = try run(["train", "pix2pix", "--dataroot", root.path, "--name", "r1", "--checkpoints-dir", runs.path,
                          "--netG", "unet_32", "--ngf", "4", "--ndf", "4", "--load_size", "36", "--crop_size", "32",
                          "--n_epochs", "2", "--n_epochs_decay", "0", "--save_epoch_freq", "1", "--direction", "BtoA", "--quiet"])
        XCTAssertEqual(tr.status, 0, tr.err)
        XCTAssertTrue(tr.err.contains("dataset: aligned [A | B] images in \(root.path)/train (detected): 2 pairs"), tr.err)
        let info = try run(["info", runs.appendingPathComponent("r1").path])
        XCTAssertEqual(info.status, 0, info.err)
        for needle in ["kind              pix2pix", "netG unet-32", "ngf 4", "epoch 2 of 2, 4 steps", "dataset mode      aligned",
                       "direction         b-to-a", "parameters        netD ", "lambdaL1 100", "dropout yes"] {
            XCTAssertTrue(info.out.contains(needle), "info lacks '\(needle)':\n\(info.out)")
        }
        let list = try run(["list", "--checkpoints-dir", runs.path])
        XCTAssertEqual(list.status, 0, list.err)
        XCTAssertTrue(list.out.contains("r1\tpix2pix\t2/2\t4 steps"), list.out)
        XCTAssertTrue(list.out.contains("finished"), list.out)
        // apply --epoch 1 uses epoch_1; a missing epoch lists those that exist; the model's
        // direction is used, and a contradicting --direction is warned about.
        let ap = try run(["apply", "--model", runs.appendingPathComponent("r1").path, "--epoch", "1", "--dataroot", root.path,
                          "--phase", "train", "--output", tmp.appendingPathComponent("o").path, "--quiet"])
        XCTAssertEqual(ap.status, 0, ap.err)
        XCTAssertTrue(ap.err.contains("2 pairs, b-to-a"), ap.err)
        let missing = try run(["apply", "--model", runs.appendingPathComponent("r1").path, "--epoch", "7", "--dataroot", root.path,
                               "--output", tmp.appendingPathComponent("o2").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.contains("--epoch") && missing.err.contains("epochs 1, 2"), missing.err)
        let contra = try run(["apply", "--model", runs.appendingPathComponent("r1").path, "--dataroot", root.path, "--phase", "train",
                              "--direction", "AtoB", "--num_test", "1", "--output", tmp.appendingPathComponent("o3").path])
        XCTAssertEqual(contra.status, 0, contra.err)
        XCTAssertTrue(contra.err.contains("contradicts the model's training direction b-to-a"), contra.err)
        XCTAssertTrue(contra.out.contains("translated 1 image"), contra.out)
        // export says which generator it wrote.
        let ex = try run(["export", "--model", runs.appendingPathComponent("r1").path, "--output", tmp.appendingPathComponent("g.safetensors").path, "--fp16"])
        XCTAssertEqual(ex.status, 0, ex.err)
        XCTAssertTrue(ex.out.contains("wrote the pix2pix generator (netG, b-to-a)") && ex.out.contains("float16"), ex.out)
    }
}
