import XCTest
import ArgumentParser
@testable import BenchCommands
import TestSupport

/// translate-bench's command line: the whole help text of every command (snapshots, 80
/// columns), the defaults and meanings of the options, and errors that name the flag or
/// list the valid workloads.
final class BenchCommandsTests: XCTestCase {
    func assertHelp(_ command: ParsableCommand.Type, equals expected: String, file: StaticString = #filePath, line: UInt = #line) {
        let actual = command == BenchCommand.self ? BenchCommand.helpMessage(columns: 80) : BenchCommand.helpMessage(for: command, columns: 80)
        XCTAssertEqual(actual, expected, "help of \(command) changed:\n\(actual)", file: file, line: line)
    }

    func testRootHelp() {
        assertHelp(BenchCommand.self, equals: """
        OVERVIEW: Benchmarks of the kernels, whole training steps and inference,
        against PyTorch if given one.

        Environment: OPENBLAS_CORETYPE is set to an AVX-512 family on AVX-512 CPUs
        (TRANSLATE_NO_BLAS_CORETYPE=1 disables); TRANSLATE_WINOGRAD=0 runs every
        convolution without Winograd (direct sums: im2col + OpenBLAS).

        USAGE: translate-bench [kernels] [--iters <n>] [--quick] [--torch-python <path>] [--json <file>]
               translate-bench <subcommand> [<options>]

        OPTIONS:
          -h, --help              Show help information.

        SUBCOMMANDS:
          kernels (default)       sgemm, every U-Net-256 convolution layer, and the
                                  whole U-Net-256 forward and backward at 1x3x256x256.
          compare, steps          Whole training steps and inference vs PyTorch and
                                  ONNX Runtime, each workload in its own process.
          scaling                 The pix2pix training step against image size (batch
                                  1) and batch size (256 px), ours in child processes.
          workload                One workload in this process; prints one JSON line
                                  (compare and scaling run these in child processes).
          plan                    Print the convolution plan of every layer of the
                                  benchmark workloads (no timing).
          profile                 Wall time per op and phase of whole-step workloads at
                                  several thread counts, and a per-phase projection to
                                  4, 8 and 16 threads.

          See 'translate-bench help <subcommand>' for detailed help.
        """)
    }

    func testKernelsHelp() {
        assertHelp(Kernels.self, equals: """
        OVERVIEW: sgemm, every U-Net-256 convolution layer, and the whole U-Net-256
        forward and backward at 1x3x256x256.

        USAGE: translate-bench kernels [--iters <n>] [--quick] [--torch-python <path>] [--json <file>]

        OPTIONS:
          --iters <n>             Timed repetitions per measurement (the median is
                                  reported). (default: 7)
          --quick                 Fewer and smaller measurements (a smoke run: 2
                                  repetitions, 64 px, no PyTorch).
          --torch-python <path>   A Python with torch: runs tools/bench_torch_unet.py
                                  in the same run for the ratio.
          --json <file>           Also write the results as JSON.
          -h, --help              Show help information.

        """)
    }

    func testCompareHelp() {
        assertHelp(Compare.self, equals: """
        OVERVIEW: Whole training steps and inference vs PyTorch and ONNX Runtime, each
        workload in its own process.

        Reports the median time at each thread count, the ratios to PyTorch and ONNX
        Runtime at the same count (medians of per-round ratios), the speed-up from the
        fewest to the most threads, the matrix-product rate against the sgemm rate of
        the same run and each workload's peak resident memory. PyTorch runs
        ../shared/bench/torch_reference.py's networks and steps through
        tools/bench_torch_workloads.py; ONNX Runtime the same generators exported with
        torch.onnx.export (tools/bench_onnx.py).

        USAGE: translate-bench compare [--size <n>] [--iters <n>] [--rounds <r>] [--only <a,b>] [--torch-python <path>] [--threads <a,b>] [--onnx]

        OPTIONS:
          --size <n>              Image size. (default: 256)
          --iters <n>             Timed repetitions per measurement (the median is
                                  reported). (default: 3)
          --rounds <r>            Rounds alternating PyTorch and ours; medians, and the
                                  median of the per-round ratios. (default: 1)
          --only <a,b>            Only these workloads, PyTorch's too (comma-separated:
                                  pix2pix-step, cyclegan-step, unet-infer-b8,
                                  resnet-infer-b8).
          --torch-python <path>   A Python with torch: runs PyTorch's reference in the
                                  same run for the ratio.
          --threads <a,b>         Thread counts, each run by ours (TRANSLATE_THREADS),
                                  PyTorch (set_num_threads) and ONNX Runtime (intra-op
                                  threads); default: this process's.
          --onnx                  Also time ONNX Runtime on the inference workloads
                                  (needs onnx, onnxscript and onnxruntime in
                                  --torch-python's environment).
          -h, --help              Show help information.

        """)
    }

    func testScalingHelp() {
        assertHelp(Scaling.self, equals: """
        OVERVIEW: The pix2pix training step against image size (batch 1) and batch size
        (256 px), ours in child processes.

        USAGE: translate-bench scaling [--iters <n>] [--torch-python <path>]

        OPTIONS:
          --iters <n>             Timed repetitions per measurement (the median is
                                  reported). (default: 3)
          --torch-python <path>   A Python with torch: runs
                                  tools/bench_torch_scaling.py in the same run for the
                                  ratio.
          -h, --help              Show help information.

        """)
    }

    func testProfileHelp() {
        assertHelp(Profile.self, equals: """
        OVERVIEW: Wall time per op and phase of whole-step workloads at several thread
        counts, and a per-phase projection to 4, 8 and 16 threads.

        USAGE: translate-bench profile [--workloads <names>] [--threads <list>] [--rounds <n>] [--size <n>] [--top <n>]

        OPTIONS:
          --workloads <names>     Workloads, comma-separated. (default:
                                  pix2pix-step,cyclegan-step,unet-infer-b8,resnet-infer-b8)
          --threads <list>        Thread counts, comma-separated (the first is the base
                                  of the speed-ups). (default: 1,2)
          --rounds <n>            Rounds (each runs every thread count once; medians
                                  are reported). (default: 3)
          --size <n>              Image size. (default: 256)
          --top <n>               Rows shown per workload (the largest phases; the rest
                                  are summed). (default: 12)
          -h, --help              Show help information.

        """)
    }

    func testWorkloadHelp() {
        assertHelp(Workload.self, equals: """
        OVERVIEW: One workload in this process; prints one JSON line (compare and
        scaling run these in child processes).

        unet-layers: each U-Net-256 layer without gradients, per-image OpenBLAS vs
        batched (batch 8 unless --batch). train-layers: each pix2pix convolution with
        gradients, per-image direct sums vs the defaults (batch 1 unless --batch).
        tile-layers: Winograd's two tile sizes, F(2x2, 3x3) vs F(4x4, 3x3) on the 3x3
        convolutions of the shipped networks and F(2x2, 2x2) vs F(4x4, 2x2) on
        U-Net-256's 4x4 stride-2 layers, with gradients (batch 1 unless --batch) and
        without (batch 8 unless --batch).

        USAGE: translate-bench workload <name> [--size <n>] [--iters <n>] [--batch <n>]

        ARGUMENTS:
          <name>                  The workload. (values: pix2pix-step, cyclegan-step,
                                  unet-infer-b8, resnet-infer-b8, unet-layers,
                                  train-layers, tile-layers)

        OPTIONS:
          --size <n>              Image size. (default: 256)
          --iters <n>             Timed repetitions per measurement (the median is
                                  reported). (default: 3)
          --batch <n>             Images per step (training: 1, inference: 8 unless
                                  given).
          -h, --help              Show help information.

        """)
    }

    /// The parsed command of `args`, as the executable would run it.
    func parse(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ParsableCommand {
        do { return try BenchCommand.parseAsRoot(args) } catch {
            XCTFail("\(args): \(BenchCommand.message(for: error))", file: file, line: line)
            throw error
        }
    }

    /// `args` fail to parse with a usage error (exit status 64) whose message contains every
    /// one of `needles`.
    func assertRejected(_ args: [String], mentions needles: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try BenchCommand.parseAsRoot(args), "\(args)", file: file, line: line) { error in
            let message = BenchCommand.message(for: error)
            XCTAssertEqual(BenchCommand.exitCode(for: error), .validationFailure, "\(args): \(message)", file: file, line: line)
            for n in needles { XCTAssertTrue(message.contains(n), "\(args): '\(message)' does not mention '\(n)'", file: file, line: line) }
        }
    }

    func testUnknownWorkloadNamesTheValidOnes() {
        assertRejected(["workload", "nope"], mentions: ["nope"] + WorkloadName.allCases.map(\.rawValue))
        assertRejected(["workload"], mentions: ["<name>"])
        // compare --only takes the compared workloads only.
        assertRejected(["compare", "--only", "pix2pix-step,nope"], mentions: ["--only", "nope", "pix2pix-step", "cyclegan-step", "unet-infer-b8"])
        assertRejected(["compare", "--only", "unet-layers"], mentions: ["--only", "unet-layers", "unet-infer-b8"])
        assertRejected(["steps", "--only", ","], mentions: ["--only"])
    }

    func testBadValuesNameTheFlag() {
        assertRejected(["--iters", "0"], mentions: ["--iters"])
        assertRejected(["kernels", "--iters", "x"], mentions: ["--iters"])
        assertRejected(["compare", "--size", "0"], mentions: ["--size"])
        assertRejected(["compare", "--rounds", "0"], mentions: ["--rounds"])
        assertRejected(["compare", "--threads", "1,x"], mentions: ["--threads", "1,x"])
        assertRejected(["compare", "--threads", "0"], mentions: ["--threads"])
        assertRejected(["compare", "--onnx"], mentions: ["--onnx", "--torch-python"])
        assertRejected(["steps", "--iters", "-1"], mentions: ["--iters"])
        assertRejected(["scaling", "--iters", "0"], mentions: ["--iters"])
        assertRejected(["scaling", "--size", "64"], mentions: ["--size"])
        assertRejected(["workload", "pix2pix-step", "--batch", "0"], mentions: ["--batch"])
        assertRejected(["workload", "pix2pix-step", "--size", "big"], mentions: ["--size"])
        assertRejected(["profile", "--workloads", "pix2pix-step,train-layers"], mentions: ["--workloads", "train-layers", "cyclegan-step"])
        assertRejected(["profile", "--threads", "2"], mentions: ["--threads", "at least two"])
        assertRejected(["profile", "--threads", "1,0"], mentions: ["--threads", "'0'"])
        assertRejected(["profile", "--rounds", "0"], mentions: ["--rounds"])
        assertRejected(["--frobnicate"], mentions: ["--frobnicate"])
        assertRejected(["--json"], mentions: ["--json"])
    }

    /// A tiny profile runs end to end: every thread count's column, the whole-step row and the
    /// phase that would stop scaling first.
    func testProfileRunsOnATinyStep() throws {
        let p = try XCTUnwrap(try parse(["profile", "--workloads", "pix2pix-step", "--size", "32", "--rounds", "1", "--threads", "1,3"]) as? Profile)
        let out = try captureStandardOutput { try p.run() }
        for needle in ["pix2pix-step", "1 thr", "3 thr", "forward conv2d", "backward conv2d", "phase adam", "whole", "at 16 threads the largest phase"] {
            XCTAssertTrue(out.contains(needle), "'\(needle)' missing from:\n\(out)")
        }
    }

    func testDefaultsAndMeanings() throws {
        // No subcommand: kernels, 7 repetitions.
        for args in [[], ["kernels"]] {
            let k = try XCTUnwrap(try parse(args) as? Kernels)
            XCTAssertEqual(k.iters, 7); XCTAssertFalse(k.quick); XCTAssertNil(k.torchPython); XCTAssertNil(k.json)
        }
        let k = try XCTUnwrap(try parse(["--iters", "4", "--quick", "--torch-python", "/venv/bin/python", "--json", "out.json"]) as? Kernels)
        XCTAssertEqual(k.iters, 4); XCTAssertTrue(k.quick); XCTAssertEqual(k.torchPython, "/venv/bin/python"); XCTAssertEqual(k.json, "out.json")
        // compare, alias steps: its own --iters (not the kernels' 7).
        for name in ["compare", "steps"] {
            let c = try XCTUnwrap(try parse([name]) as? Compare)
            XCTAssertEqual(c.size, 256); XCTAssertEqual(c.iters, 3); XCTAssertEqual(c.rounds, 1); XCTAssertNil(c.only); XCTAssertNil(c.torchPython)
        }
        // As docs/BENCHMARKS.md runs it; --only keeps the usual order.
        let c = try XCTUnwrap(try parse(["compare", "--only", "unet-infer-b8,pix2pix-step", "--iters", "5", "--rounds", "5",
                                          "--size", "128", "--torch-python", "py"]) as? Compare)
        XCTAssertEqual(c.only, [.pix2pixStep, .unetInferB8])
        XCTAssertEqual(c.iters, 5); XCTAssertEqual(c.rounds, 5); XCTAssertEqual(c.size, 128); XCTAssertEqual(c.torchPython, "py")
        XCTAssertNil(c.threads); XCTAssertFalse(c.onnx)
        let t = try XCTUnwrap(try parse(["compare", "--threads", "1, 2", "--onnx", "--torch-python", "py"]) as? Compare)
        XCTAssertEqual(t.threads, [1, 2]); XCTAssertTrue(t.onnx)
        let s = try XCTUnwrap(try parse(["scaling"]) as? Scaling)
        XCTAssertEqual(s.iters, 3); XCTAssertNil(s.torchPython)
        XCTAssertEqual(try XCTUnwrap(try parse(["scaling", "--iters", "9", "--torch-python", "py"]) as? Scaling).iters, 9)
        // workload NAME, in the form Workloads.spawn runs it in a child process.
        for name in WorkloadName.allCases {
            let w = try XCTUnwrap(try parse(["workload", name.rawValue]) as? Workload)
            XCTAssertEqual(w.name, name); XCTAssertEqual(w.size, 256); XCTAssertEqual(w.iters, 3); XCTAssertNil(w.batch)
        }
        let w = try XCTUnwrap(try parse(["workload", "pix2pix-step", "--size", "128", "--iters", "2", "--batch", "4"]) as? Workload)
        XCTAssertEqual(w.name, .pix2pixStep); XCTAssertEqual(w.size, 128); XCTAssertEqual(w.iters, 2); XCTAssertEqual(w.batch, 4)
        XCTAssertEqual(WorkloadName.compared.map(\.rawValue), ["pix2pix-step", "cyclegan-step", "unet-infer-b8", "resnet-infer-b8"])
    }

    /// The built executable: a usage error exits non-zero with the message on standard error.
    func testExecutableRejectsAnUnknownWorkload() throws {
        var dir = Bundle.main.bundleURL
        var exe: URL?
        for _ in 0..<3 where exe == nil {
            let candidate = dir.appendingPathComponent("translate-bench")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { exe = candidate }
            dir = dir.deletingLastPathComponent()
        }
        let bench = try XCTUnwrap(exe, "translate-bench near \(Bundle.main.bundleURL.path)")
        func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
            let p = Process()
            p.executableURL = bench
            p.arguments = args
            var env = ProcessInfo.processInfo.environment
            env["TRANSLATE_NO_BLAS_CORETYPE"] = "1"
            p.environment = env
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        let bad = try run(["workload", "nope"])
        XCTAssertNotEqual(bad.status, 0)
        for n in WorkloadName.allCases { XCTAssertTrue(bad.err.contains(n.rawValue), bad.err) }
        let zero = try run(["compare", "--iters", "0"])
        XCTAssertNotEqual(zero.status, 0)
        XCTAssertTrue(zero.err.contains("--iters"), zero.err)
        let help = try run(["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.out.contains("compare, steps") && help.out.contains("kernels (default)"), help.out)
    }
}
