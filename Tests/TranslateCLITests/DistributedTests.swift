import XCTest
import Foundation
import Tensors
import NN
import ImageIO
@testable import Pipelines

/// Data-parallel training and sharded apply and eval under Open MPI's mpirun (TCP forced, as
/// between machines). Open MPI is part of the test setup (tools/install-deps.sh installs it, as
/// CI does): without mpirun these tests fail, naming what to install, rather than pass unseen.
final class DistributedTests: CLITestCase {
    var mpirun: String {
        get throws {
            for dir in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/mpirun") { return dir + "/mpirun" }
            struct MissingMPI: Error, CustomStringConvertible {
                var description: String { "mpirun (Open MPI) is not installed: run `bash tools/install-deps.sh` (openmpi-bin, libopenmpi-dev) before the tests" }
            }
            throw MissingMPI()
        }
    }

    /// `translate args` as `ranks` processes; fails the test on a non-zero status.
    @discardableResult
    func mpi(_ ranks: Int, _ args: [String], expectSuccess: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws -> (status: Int32, out: String, err: String) {
        let r = try runProcess(URL(fileURLWithPath: try mpirun), try mpiArguments(ranks, args), extraEnvironment: mpiEnvironment)
        if expectSuccess { XCTAssertEqual(r.status, 0, "mpirun -np \(ranks) \(args): \(r.err)", file: file, line: line) }
        return r
    }

    /// mpirun's arguments for `translate args` on `ranks` processes, one thread each.
    func mpiArguments(_ ranks: Int, _ args: [String]) throws -> [String] {
        ["--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", "--mca", "btl", "tcp,self", "--mca", "pml", "ob1",
         "-x", "TRANSLATE_NO_BLAS_CORETYPE=1", try executable.path] + args + ["--threads", "1"]
    }
    /// Loopback only: TCP between the ranks of this machine, as between machines.
    let mpiEnvironment = ["OMPI_MCA_btl_tcp_if_include": "lo", "OMPI_MCA_oob_tcp_if_include": "lo"]

    /// A tiny pix2pix run: unet-32, InstanceNorm, no dropout, one epoch without decay.
    func trainArgs(_ data: URL, name: String, batch: Int) -> [String] {
        ["train", "pix2pix", "--dataroot", data.path, "--name", name, "--checkpoints-dir", tmp.appendingPathComponent("runs").path,
         "--net-g", "unet-32", "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32", "--norm", "instance",
         "--no-dropout", "--epochs", "1", "--epochs-decay", "0", "--batch-size", "\(batch)", "--seed", "3", "--samples", "1", "--quiet"]
    }

    func losses(_ name: String) throws -> [[String: Float]] {
        try lossRecords(tmp.appendingPathComponent("runs/\(name)")).map(\.losses)
    }

    func weights(_ name: String) throws -> [String: Tensor] {
        try SafeTensors.read(tmp.appendingPathComponent("runs/\(name)/latest.safetensors")).byName
    }

    /// 2 ranks x batch 1 train as 1 process x batch 2 (per-sample normalisation, no dropout):
    /// the same losses at each of the 3 steps and the same parameters after them, up to the
    /// rounding of the gradients' summation order; and 2 ranks twice give the same bits.
    func testTwoRanksTrainAsOneProcessWithTwiceTheBatch() throws {
        _ = try mpirun
        let data = try makeAligned(tmp.appendingPathComponent("data"), count: 6)
        XCTAssertEqual(try run(trainArgs(data, name: "one", batch: 2) + ["--threads", "1"]).status, 0)
        let r = try mpi(2, trainArgs(data, name: "two", batch: 1) + ["--check-replicas"])
        XCTAssertTrue(r.err.contains("data-parallel: 2 ranks"), r.err)
        try mpi(2, trainArgs(data, name: "again", batch: 1))
        let (a, b) = (try losses("one"), try losses("two"))
        XCTAssertEqual(a.count, 3)
        XCTAssertEqual(b.count, 3)
        for (x, y) in zip(a, b) {
            for (k, v) in x { XCTAssertEqual(v, y[k]!, accuracy: 1e-5 * max(1, abs(v)), "loss \(k)") }
        }
        // Every weight after 3 steps. Biases are compared through their step-1 gradients
        // below: a bias followed by InstanceNorm has a gradient that is zero in exact
        // arithmetic (the norm removes the mean), so what it holds is summation-order
        // rounding (~1e-10), and Adam's g / sqrt(v) turns that into steps of +-lr: measured
        // up to 2.2 x the tensor's largest value between the two runs. Weights agree.
        let (wa, wb, wc) = (try weights("one"), try weights("two"), try weights("again"))
        var worst: Float = 0
        for (k, t) in wa where !k.contains("exp_avg") {
            let u = try XCTUnwrap(wb[k], k)
            XCTAssertEqual(wc[k]!.data, u.data, "\(k): two 2-rank runs differ")
            guard k.hasSuffix(".weight") else { continue }
            worst = max(worst, zip(t.data, u.data).map { abs($0 - $1) }.max()! / max(t.data.map(abs).max()!, 1e-12))
        }
        XCTAssertLessThan(worst, 1e-5, "largest weight difference relative to its tensor's largest value")

        // Step 1's gradients, as Adam's first moments after one step (exp_avg = (1 - beta1) g):
        // within 1e-5 of the tensor's largest (measured: at most 6e-6). The biases before
        // InstanceNorm hold rounding (measured 6e-10 to 8e-6 of the network's largest
        // gradient; every other tensor is above 1.5e-3 of it): below 1e-4 of it in both runs.
        let step1 = trainArgs(data, name: "g1", batch: 2) + ["--max-items", "2"]
        XCTAssertEqual(try run(step1 + ["--threads", "1"]).status, 0)
        try mpi(2, trainArgs(data, name: "g2", batch: 1) + ["--max-items", "2"])
        try assertStepOneGradientsAgree(try weights("g1"), try weights("g2"))
    }

    /// Step 1's gradients of two runs, as Adam's first moments after one step (exp_avg =
    /// (1 - beta1) g): within 1e-5 of each tensor's largest value, except tensors whose
    /// gradient is rounding (below 1e-4 of its network's largest gradient), which must be so
    /// in both runs.
    func assertStepOneGradientsAgree(_ ga: [String: Tensor], _ gb: [String: Tensor], file: StaticString = #filePath, line: UInt = #line) throws {
        let moments = ga.filter { $0.key.hasSuffix(".exp_avg") }
        XCTAssertFalse(moments.isEmpty, file: file, line: line)
        for net in ["optim.G.", "optim.D."] {
            let mine = moments.filter { $0.key.hasPrefix(net) }
            let largest = mine.values.map { $0.data.map(abs).max()! }.max()!
            for (k, t) in mine {
                let u = try XCTUnwrap(gb[k], k, file: file, line: line)
                let scale = t.data.map(abs).max()!
                if scale < 1e-4 * largest {
                    XCTAssertLessThan(u.data.map(abs).max()!, 1e-4 * largest, "\(k): rounding-sized in one run only", file: file, line: line)
                } else {
                    XCTAssertLessThan(zip(t.data, u.data).map { abs($0 - $1) }.max()! / scale, 1e-5, k, file: file, line: line)
                }
            }
        }
    }

    /// BatchNorm (pix2pix's default norm, no dropout): with --sync-bn, 2 ranks x batch 1 train
    /// as 1 process x batch 2 (losses of every step within 1e-5, weights and running
    /// statistics after 3 steps within 1e-5 of each tensor's largest value); without it each
    /// rank normalises its own image and the runs part at the first step. --sync-bn with
    /// InstanceNorm is refused, naming the flag.
    func testSyncBatchNormTrainsAsOneProcessWithTwiceTheBatch() throws {
        _ = try mpirun
        let data = try makeAligned(tmp.appendingPathComponent("data"), count: 6)
        func args(_ name: String, _ batch: Int) -> [String] {
            var a = trainArgs(data, name: name, batch: batch)
            let i = a.firstIndex(of: "instance")!
            a[i] = "batch"
            return a
        }
        XCTAssertEqual(try run(args("one", 2) + ["--threads", "1"]).status, 0)
        try mpi(2, args("sync", 1) + ["--sync-bn", "--check-replicas"])
        try mpi(2, args("local", 1))
        let (a, b, c) = (try losses("one"), try losses("sync"), try losses("local"))
        XCTAssertEqual(a.count, 3)
        XCTAssertEqual(b.count, 3)
        for (x, y) in zip(a, b) {
            for (k, v) in x { XCTAssertEqual(v, y[k]!, accuracy: 1e-5 * max(1, abs(v)), "loss \(k)") }
        }
        let apart = zip(a[0], a[0].keys.map { c[0][$0]! }).map { abs($0.1 - $1) / max(1, abs($0.1)) }.max()!
        XCTAssertGreaterThan(apart, 1e-3, "per-rank statistics should differ from the batch of 2's at step 1")
        // Weights (not biases: see the InstanceNorm test) and running statistics. Running
        // statistics are the same on every rank with --sync-bn (--check-replicas).
        let (wa, wb) = (try weights("one"), try weights("sync"))
        var worst: (Float, String) = (0, ""), stats = 0
        for (k, t) in wa where k.hasSuffix(".weight") || k.hasSuffix(".running_mean") || k.hasSuffix(".running_var") {
            let u = try XCTUnwrap(wb[k], k)
            if !k.hasSuffix(".weight") { stats += 1 }
            let d = zip(t.data, u.data).map { abs($0 - $1) }.max()! / max(t.data.map(abs).max()!, 1e-12)
            if d > worst.0 { worst = (d, k) }
        }
        XCTAssertGreaterThan(stats, 4)
        XCTAssertLessThan(worst.0, 1e-4, "largest difference relative to its tensor's largest value: \(worst.1)")
        print("sync-bn: largest weight/statistic difference after 3 steps \(worst.0) of its tensor's largest value (\(worst.1))")
        // Step 1's gradients, before Adam can amplify rounding.
        try run(args("g1", 2) + ["--max-items", "2", "--threads", "1"])
        try mpi(2, args("g2", 1) + ["--max-items", "2", "--sync-bn"])
        try assertStepOneGradientsAgree(try weights("g1"), try weights("g2"))

        let refused = try mpi(2, trainArgs(data, name: "inst", batch: 1) + ["--sync-bn"], expectSuccess: false)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("--sync-bn") && refused.err.contains("no BatchNorm"), refused.err)
    }

    /// R1 needs gradients of gradients through the critic; through BatchNorm synchronised over
    /// the ranks (`--sync-bn`) there are none: the job ends at its first step with an error
    /// naming the flag on every rank that reports, and writes no checkpoint.
    func testR1ThroughSynchronisedBatchNormIsRefused() throws {
        _ = try mpirun
        let data = try makeAligned(tmp.appendingPathComponent("data"), count: 4)
        var a = trainArgs(data, name: "r1", batch: 1)
        a[a.firstIndex(of: "instance")!] = "batch"
        let refused = try mpi(2, a + ["--sync-bn", "--r1-gamma", "1"], expectSuccess: false)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("--sync-bn") && refused.err.contains("cannot be differentiated"), refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("runs/r1/latest.safetensors").path))
        // Without --sync-bn the same R1 run trains (each rank's own statistics, as DDP).
        XCTAssertEqual(try mpi(2, a.map { $0 == "r1" ? "r1local" : $0 } + ["--r1-gamma", "1"]).status, 0)
    }

    /// Ctrl-C to mpirun (which forwards SIGTERM to every rank) mid-epoch: all ranks stop at
    /// the same step, rank 0 writes one checkpoint and says so once, mpirun exits non-zero, and
    /// `--resume` under mpirun ends with the bits of a 2-rank run never interrupted.
    func testCtrlCUnderMPIRunStopsEveryRankAndResumesExactly() throws {
        let mpirunPath = try mpirun
        let data = try makeAligned(tmp.appendingPathComponent("data"), count: 6)
        func args(_ name: String) -> [String] {
            var a = trainArgs(data, name: name, batch: 1)
            a[a.firstIndex(of: "--epochs")! + 1] = "200"  // 3 steps per epoch, 600 in all: seconds, so that the signal lands mid-run
            return a
        }
        try mpi(2, args("straight"))
        let reference = try SafeTensors.read(tmp.appendingPathComponent("runs/straight/latest.safetensors"))

        let (p, errText) = try signalWhenLogged(URL(fileURLWithPath: mpirunPath), try mpiArguments(2, args("stopped")), extraEnvironment: mpiEnvironment,
                                                log: tmp.appendingPathComponent("runs/stopped/loss_log.jsonl"), lines: 5, signal: SIGINT)
        XCTAssertNotEqual(p.terminationStatus, 0, errText)
        XCTAssertEqual(errText.components(separatedBy: "checkpoint written to").count, 2, "one checkpoint line: \(errText)")
        XCTAssertEqual(errText.components(separatedBy: "finishing this step").count, 2, "rank 0 alone announces the signal: \(errText)")
        let meta = try SafeTensors.read(tmp.appendingPathComponent("runs/stopped/latest.safetensors")).metadata
        let steps = Int(meta["steps"] ?? "") ?? 0
        XCTAssertGreaterThanOrEqual(steps, 5)
        XCTAssertLessThan(steps, 600, "the signal came after the run had ended; slow the test run down")
        try mpi(2, args("stopped") + ["--resume"])
        let got = try SafeTensors.read(tmp.appendingPathComponent("runs/stopped/latest.safetensors"))
        XCTAssertEqual(got.tensors.map(\.0), reference.tensors.map(\.0))
        for ((k, ta), (_, tb)) in zip(reference.tensors, got.tensors) { XCTAssertEqual(ta.data, tb.data, k) }
        XCTAssertEqual(try losses("stopped"), try losses("straight"))
    }

    /// cIMLE under mpirun: the codes of a round depend on the seed, not on the number of ranks
    /// (each pool item's selection has its own generator), and a step takes N x --batch-size
    /// pool items, so 2 ranks x batch 2 and 4 ranks x batch 1 train alike: the same losses
    /// and weights after 2 rounds up to summation order, replicas equal (--check-replicas),
    /// and 2 ranks twice give the same bits.
    func testCIMLESelectionShardsAndRankCountsAgree() throws {
        _ = try mpirun
        let hr = tmp.appendingPathComponent("hr")
        try FileManager.default.createDirectory(at: hr, withIntermediateDirectories: true)
        for i in 0..<4 { try ImageFile.write(try makeImage(width: 40, height: 36, seed: UInt64(i + 3)), to: hr.appendingPathComponent("h\(i).png")) }
        func args(_ name: String, batch: Int) -> [String] {
            ["train", "cimle-sr", "--dataroot", hr.path, "--name", name, "--checkpoints-dir", tmp.appendingPathComponent("runs").path,
             "--scale", "2", "--widths", "8,8", "--noise-channels", "2", "--res-blocks", "1", "--level-candidates", "3,2",
             "--pool-size", "4", "--visits", "2", "--patch-size", "32", "--lpips-weight", "0", "--rounds", "2",
             "--batch-size", "\(batch)", "--seed", "4", "--samples", "1", "--quiet"]
        }
        try mpi(2, args("two", batch: 2) + ["--check-replicas"])
        try mpi(2, args("again", batch: 2))
        try mpi(4, args("four", batch: 1) + ["--check-replicas"])
        let (a, b) = (try losses("two"), try losses("four"))
        XCTAssertEqual(a.count, 4, "2 rounds x 2 visits x 4 items / 4 per step")
        XCTAssertEqual(b.count, a.count)
        for (x, y) in zip(a, b) {
            for (k, v) in x { XCTAssertEqual(v, y[k]!, accuracy: 1e-5 * max(1, abs(v)), "loss \(k)") }
        }
        let (wa, wb, wc) = (try weights("two"), try weights("four"), try weights("again"))
        var worst: Float = 0, compared = 0
        for (k, t) in wa where k.hasPrefix("netG.") {
            let u = try XCTUnwrap(wb[k], k)
            XCTAssertEqual(wc[k]!.data, t.data, "\(k): two 2-rank runs differ")
            worst = max(worst, zip(t.data, u.data).map { abs($0 - $1) }.max()! / max(t.data.map(abs).max()!, 1e-12))
            compared += 1
        }
        XCTAssertGreaterThan(compared, 4, "generator tensors compared: \(wa.keys.sorted().prefix(6))")
        XCTAssertLessThan(worst, 1e-5, "largest weight difference relative to its tensor's largest value (measured 7e-8)")
        print("cimle 2x2 vs 4x1: \(compared) generator tensors, largest difference \(worst) of the tensor's largest value")
    }

    /// A rank that fails ends the job: a truncated image, read by whichever rank's shard holds
    /// it, gives "rank R of 2 failed, ending the job" naming the file and a non-zero exit; a
    /// rank killed with SIGKILL mid-run makes mpirun end the job, and --resume under mpirun
    /// continues from the last complete checkpoint (--save-latest-freq) to the end.
    func testAFailingOrKilledRankEndsTheJob() throws {
        let mpirunPath = try mpirun
        let data = try makeAligned(tmp.appendingPathComponent("data"), count: 4)
        let bad = data.appendingPathComponent("003.png")
        let bytes = try Data(contentsOf: bad)
        try bytes.prefix(bytes.count / 2).write(to: bad)
        let failed = try mpi(2, trainArgs(data, name: "bad", batch: 1), expectSuccess: false)
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertTrue(failed.err.contains("of 2 failed, ending the job") && failed.err.contains("003.png"), failed.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("runs/bad/latest.safetensors").path))

        let good = try makeAligned(tmp.appendingPathComponent("good"), count: 6)
        var args = trainArgs(good, name: "killed", batch: 1) + ["--save-latest-freq", "2"]
        args[args.firstIndex(of: "--epochs")! + 1] = "200"
        let p = makeProcess(URL(fileURLWithPath: mpirunPath), try mpiArguments(2, args), extraEnvironment: mpiEnvironment)
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let log = tmp.appendingPathComponent("runs/killed/loss_log.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").count < 5 { usleep(2000) }
        // The ranks are the job's translate processes; kill the newest (rank 1, usually).
        let ps = try runProcess(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-f", "--", "--name killed"])
        let pids = ps.out.split(separator: "\n").compactMap { Int32($0) }.filter { $0 != p.processIdentifier }
        XCTAssertGreaterThanOrEqual(pids.count, 2, ps.out)
        kill(pids.max()!, SIGKILL)
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationStatus, 0)
        let saved = try SafeTensors.read(tmp.appendingPathComponent("runs/killed/latest.safetensors")).metadata
        let steps = Int(saved["steps"] ?? "") ?? 0
        XCTAssertGreaterThanOrEqual(steps, 2)
        XCTAssertLessThan(steps, 600, "the kill came after the run had ended")
        try mpi(2, args + ["--resume"])
        XCTAssertEqual(try SafeTensors.read(tmp.appendingPathComponent("runs/killed/latest.safetensors")).metadata["steps"], "600")
    }

    /// 3 ranks on 5 images (uneven shards: the order is padded to 6 by repeating its first
    /// item, as DistributedSampler): 2 steps per epoch, replicas equal, the same bits twice;
    /// --time-limit stops every rank at the same step with one checkpoint and exit status 0.
    func testUnevenShardsAndTimeLimitUnderMPI() throws {
        _ = try mpirun
        let data = try makeAligned(tmp.appendingPathComponent("data"), count: 5)
        let r = try mpi(3, trainArgs(data, name: "three", batch: 1) + ["--check-replicas"])
        XCTAssertTrue(r.err.contains("data-parallel: 3 ranks"), r.err)
        try mpi(3, trainArgs(data, name: "three-again", batch: 1))
        XCTAssertEqual(try losses("three").count, 2, "ceil(5 / 3) steps in the epoch")
        let (a, b) = (try weights("three"), try weights("three-again"))
        for (k, t) in a { XCTAssertEqual(b[k]?.data, t.data, k) }
        let limited = try mpi(2, trainArgs(data, name: "limited", batch: 1) + ["--time-limit", "0.000001"])
        XCTAssertTrue(limited.err.contains("time limit (1e-06 minutes) reached at step 1"), limited.err)
        XCTAssertEqual(limited.err.components(separatedBy: "time limit (").count - 1, 1, "rank 0 alone reports")
        XCTAssertEqual(try SafeTensors.read(tmp.appendingPathComponent("runs/limited/latest.safetensors")).metadata["steps"], "1")
    }

    /// CycleGAN: 2 ranks x batch 1 train as 1 process x batch 2 (InstanceNorm, no dropout, no
    /// history buffer, whose random draws are per rank): the losses of every step agree within
    /// 1e-5 relative, and two 2-rank runs give the same bits.
    func testCycleGANTwoRanksTrainAsOneProcessWithTwiceTheBatch() throws {
        _ = try mpirun
        let root = tmp.appendingPathComponent("unpaired")
        for dom in ["trainA", "trainB"] {
            let d = root.appendingPathComponent(dom)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<4 { try ImageFile.write(try makeImage(width: 32, height: 32, seed: UInt64(dom == "trainA" ? i : 20 + i)), to: d.appendingPathComponent("\(i).png")) }
        }
        func args(_ name: String, _ batch: Int) -> [String] {
            ["train", "cyclegan", "--dataroot", root.path, "--name", name, "--checkpoints-dir", tmp.appendingPathComponent("runs").path,
             "--net-g", "resnet-6blocks", "--ngf", "2", "--ndf", "2", "--load-size", "34", "--crop-size", "32", "--pool-size", "0",
             "--epochs", "1", "--epochs-decay", "0", "--batch-size", "\(batch)", "--seed", "3", "--samples", "1", "--quiet"]
        }
        XCTAssertEqual(try run(args("one", 2) + ["--threads", "1"]).status, 0)
        try mpi(2, args("two", 1) + ["--check-replicas"])
        try mpi(2, args("again", 1))
        let (a, b) = (try losses("one"), try losses("two"))
        XCTAssertEqual(a.count, 2)
        XCTAssertEqual(b.count, 2)
        for (x, y) in zip(a, b) {
            for (k, v) in x { XCTAssertEqual(v, y[k]!, accuracy: 1e-5 * max(1, abs(v)), "loss \(k)") }
        }
        let (wb, wc) = (try weights("two"), try weights("again"))
        for (k, t) in wb { XCTAssertEqual(wc[k]?.data, t.data, "\(k): two 2-rank runs differ") }

        // Its --dataroot evaluation (A -> B -> A over testA/, B -> A -> B over testB/) shards:
        // 3 ranks write one process's images and page (with its cycle L1) byte for byte.
        for (dom, n) in [("testA", 5), ("testB", 4)] {
            let d = root.appendingPathComponent(dom)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<n { try ImageFile.write(try makeImage(width: 32, height: 32, seed: UInt64(50 + 10 * n + i)), to: d.appendingPathComponent("\(i).png")) }
        }
        let apply = ["apply", "--model", tmp.appendingPathComponent("runs/two").path, "--dataroot", root.path, "--phase", "test"]
        let single = try run(apply + ["--output", tmp.appendingPathComponent("cycle1").path])
        XCTAssertEqual(single.status, 0, single.err)
        let sharded = try mpi(3, apply + ["--output", tmp.appendingPathComponent("cycle3").path])
        XCTAssertFalse(sharded.err.contains("does not shard"), sharded.err)
        XCTAssertEqual(sharded.out, single.out.replacingOccurrences(of: "cycle1", with: "cycle3"))
        try assertSameFiles(tmp.appendingPathComponent("cycle1"), tmp.appendingPathComponent("cycle3"), count: 1 + 3 * 9)
    }

    /// Sharded apply (3 ranks, 5 inputs: uneven shards) writes the same bytes as one process,
    /// and one index.html.
    func testShardedApplyIsByteIdentical() throws {
        _ = try mpirun
        let data = try makeAligned(tmp.appendingPathComponent("data"), count: 2)
        XCTAssertEqual(try run(trainArgs(data, name: "m", batch: 1) + ["--threads", "1"]).status, 0)
        let inputs = tmp.appendingPathComponent("inputs")
        try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
        for i in 0..<5 { try ImageFile.write(try makeImage(width: 32, height: 32, seed: UInt64(40 + i)), to: inputs.appendingPathComponent("in\(i).png")) }
        let model = tmp.appendingPathComponent("runs/m").path
        XCTAssertEqual(try run(["apply", "--model", model, "--input", inputs.path, "--output", tmp.appendingPathComponent("single").path, "--quiet"]).status, 0)
        try mpi(3, ["apply", "--model", model, "--input", inputs.path, "--output", tmp.appendingPathComponent("sharded").path, "--quiet"])
        try assertSameFiles(tmp.appendingPathComponent("single"), tmp.appendingPathComponent("sharded"), count: 6, skipping: ["index_files"])
    }

    /// Every file below `a` (but `skipping` folders) exists below `b` with the same bytes, and
    /// no other; `count` files in all, index.html among them.
    func assertSameFiles(_ a: URL, _ b: URL, count: Int, skipping: Set<String> = [], file: StaticString = #filePath, line: UInt = #line) throws {
        func files(_ root: URL) -> [String] {
            let e = FileManager.default.enumerator(atPath: root.path)!
            var out: [String] = []
            while let f = e.nextObject() as? String {
                if skipping.contains(f) { e.skipDescendants(); continue }
                var dir: ObjCBool = false
                if FileManager.default.fileExists(atPath: root.appendingPathComponent(f).path, isDirectory: &dir), !dir.boolValue { out.append(f) }
            }
            return out.sorted()
        }
        let single = files(a)
        XCTAssertEqual(files(b), single, file: file, line: line)
        XCTAssertEqual(single.count, count, "\(single)", file: file, line: line)
        XCTAssertTrue(single.contains("index.html"), file: file, line: line)
        for f in single {
            XCTAssertEqual(try Data(contentsOf: a.appendingPathComponent(f)), try Data(contentsOf: b.appendingPathComponent(f)), "\(f) differs", file: file, line: line)
        }
    }

    /// Sampling latent codes (a cIMLE super-resolution model, 3 samples per input) shards
    /// too: 3 ranks on 5 inputs write the files and the page of one process, byte for byte.
    func testShardedSamplingIsByteIdentical() throws {
        _ = try mpirun
        let hr = tmp.appendingPathComponent("hr")
        try FileManager.default.createDirectory(at: hr, withIntermediateDirectories: true)
        for i in 0..<5 { try ImageFile.write(try makeImage(width: 36 + 4 * i, height: 34, seed: UInt64(i + 7)), to: hr.appendingPathComponent("x\(i).png")) }
        let train = ["train", "cimle-sr", "--dataroot", hr.path, "--name", "sr", "--checkpoints-dir", tmp.appendingPathComponent("runs").path,
                     "--scale", "2", "--widths", "8,8", "--noise-channels", "2", "--res-blocks", "1", "--level-candidates", "3,2",
                     "--pool-size", "4", "--visits", "1", "--patch-size", "32", "--lpips-weight", "0", "--rounds", "1", "--quiet"]
        XCTAssertEqual(try run(train).status, 0)
        let apply = ["apply", "--model", tmp.appendingPathComponent("runs/sr").path, "--input", hr.path, "--samples", "3", "--quiet"]
        let one = try run(apply + ["--output", tmp.appendingPathComponent("one").path])
        XCTAssertEqual(one.status, 0, one.err)
        let sharded = try mpi(3, apply + ["--output", tmp.appendingPathComponent("three").path])
        XCTAssertFalse(sharded.err.contains("does not shard"), sharded.err)
        // 5 inputs x 3 samples, index.html, and each input's two page images (input, bicubic).
        try assertSameFiles(tmp.appendingPathComponent("one"), tmp.appendingPathComponent("three"), count: 5 * 3 + 1 + 5 * 2)
    }

    /// Sharded eval (3 ranks, 5 inputs: uneven shards) reports the same metrics as one
    /// process, bit for bit, and writes the same page images; a 2-model comparison too.
    func testShardedEvalMatchesOneProcess() throws {
        _ = try mpirun
        let root = tmp.appendingPathComponent("data")
        try makeAligned(root.appendingPathComponent("train"), count: 2, side: 64)
        try makeAligned(root.appendingPathComponent("val"), count: 5, side: 64)
        // U-Net-64 with dropout (the sampling noise, seeded per input).
        let swap = ["unet-32": "unet-64", "36": "70", "32": "64"]
        let train = trainArgs(root, name: "m", batch: 1).filter { $0 != "--no-dropout" }.map { swap[$0] ?? $0 }
        XCTAssertEqual(try run(train + ["--threads", "1"]).status, 0)
        let model = tmp.appendingPathComponent("runs/m").path
        let args = ["eval", "--model", model, "--dataroot", root.path, "--phase", "val", "--samples", "4", "--test-mode", "paper",
                    "--nn-size", "32", "--quiet"]
        let single = tmp.appendingPathComponent("single"), sharded = tmp.appendingPathComponent("sharded")
        let one = try run(args + ["--output", single.path, "--threads", "1"])
        XCTAssertEqual(one.status, 0, one.err)
        let many = try mpi(3, args + ["--output", sharded.path])
        XCTAssertEqual(many.out.replacingOccurrences(of: sharded.path, with: single.path).split(separator: "\n").filter { !$0.hasPrefix("time") },
                       one.out.split(separator: "\n").filter { !$0.hasPrefix("time") }, "the printed summary (once, by rank 0)")
        func metrics(_ dir: URL) throws -> [String: Any] {
            var m = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("metrics.json"))) as? [String: Any])
            m["seconds"] = nil
            return m
        }
        let ms = try metrics(single), mm = try metrics(sharded)
        XCTAssertEqual(try JSONSerialization.data(withJSONObject: ms, options: .sortedKeys), try JSONSerialization.data(withJSONObject: mm, options: .sortedKeys))
        XCTAssertGreaterThan(((ms["diversity"] as? [String: Any])?["pairwise_lpips"] as? Double) ?? 0, 0, "dropout makes the samples differ")
        let fm = FileManager.default
        let files = try XCTUnwrap(fm.subpathsOfDirectory(atPath: single.appendingPathComponent("index_files").path)).filter { $0.hasSuffix(".png") }.sorted()
        XCTAssertEqual(try fm.subpathsOfDirectory(atPath: sharded.appendingPathComponent("index_files").path).filter { $0.hasSuffix(".png") }.sorted(), files)
        XCTAssertTrue(files.contains("items/4/sample3.png"), "\(files)")
        for f in files {
            XCTAssertEqual(try Data(contentsOf: single.appendingPathComponent("index_files/" + f)), try Data(contentsOf: sharded.appendingPathComponent("index_files/" + f)), f)
        }
        // Two models side by side under mpirun: one report, each model's metrics as in one process.
        XCTAssertEqual(try run(train.map { $0 == "m" ? "m2" : $0 } + ["--seed", "9", "--threads", "1"]).status, 0)
        let cmp = tmp.appendingPathComponent("cmp")
        try mpi(2, ["eval", "--model", model, "--model", tmp.appendingPathComponent("runs/m2").path, "--dataroot", root.path, "--phase", "val",
                    "--samples", "4", "--test-mode", "paper", "--nn-size", "32", "--quiet", "--output", cmp.path])
        // The comparison reports best-of-k at every k (1...4 here, 1, 2 alone); the rest is the same.
        var mc = try metrics(cmp.appendingPathComponent("m")), ms2 = ms
        XCTAssertEqual(((mc["best_of_k"] as? [String: Any])?["lpips"] as? [String: Double])?["2"],
                       ((ms["best_of_k"] as? [String: Any])?["lpips"] as? [String: Double])?["2"])
        mc["best_of_k"] = nil; ms2["best_of_k"] = nil
        XCTAssertEqual(try JSONSerialization.data(withJSONObject: mc, options: .sortedKeys), try JSONSerialization.data(withJSONObject: ms2, options: .sortedKeys))
        XCTAssertTrue(fm.fileExists(atPath: cmp.appendingPathComponent("index.html").path))
    }

    /// A missing libmpi, asked for with --distributed, is an error naming the flag.
    func testMissingLibraryIsNamed() throws {
        let r = try runProcess(try executable, ["list", "--distributed"], extraEnvironment: [Distribution.libraryVariable: "libno-such-mpi.so"])
        let e = r.err
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(e.contains("--distributed") && e.contains("libno-such-mpi.so") && e.contains("TRANSLATE_LIBMPI"), e)
    }
}

/// The shard assignment and the one-process communicator (no MPI needed).
final class ShardTests: XCTestCase {
    func testShardsAsDistributedSampler() {
        // 7 items over 3 ranks: padded to 9 with items 0 and 1; rank r takes r, r + 3, ...
        XCTAssertEqual(Distribution.shardPositions(count: 7, rank: 0, size: 3), [0, 3, 6])
        XCTAssertEqual(Distribution.shardPositions(count: 7, rank: 1, size: 3), [1, 4, 0])
        XCTAssertEqual(Distribution.shardPositions(count: 7, rank: 2, size: 3), [2, 5, 1])
        XCTAssertEqual(Distribution.shardPositions(count: 5, rank: 0, size: 1), [0, 1, 2, 3, 4])
        XCTAssertEqual(Distribution.shard(Array("abcdef"), rank: 1, size: 2), Array("bdf"))
        XCTAssertEqual(Distribution.workPositions(count: 5, rank: 2, size: 3), [2])
        // Batch k of every rank together is batch k of one process with size x the batch.
        let order = Array(0..<12)
        for k in 0..<3 {
            let ranks = (0..<2).flatMap { Array(Distribution.shard(order, rank: $0, size: 2)[2 * k..<2 * k + 2]) }
            XCTAssertEqual(Set(ranks), Set(order[4 * k..<4 * k + 4]))
        }
    }

    func testSingleProcessIsTheIdentity() {
        let c = SingleProcess()
        XCTAssertEqual(c.rank, 0)
        XCTAssertEqual(c.size, 1)
        var v: [Float] = [1, 2.5, -3]
        c.allReduceMean(&v)
        XCTAssertEqual(v, [1, 2.5, -3])
        c.broadcast(&v)
        XCTAssertEqual(v, [1, 2.5, -3])
        XCTAssertEqual(c.allGather(words: [7, 9]), [[7, 9]])
        XCTAssertTrue(Distribution.current.size == 1)
        c.run { XCTAssertTrue(Distribution.current === c) }
    }
}
