import Foundation
import Dispatch
import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// How many threads a computation uses, for our kernels and OpenBLAS alike.
///
/// A value, not a global switch: the executables build one from `--threads` or
/// `TRANSLATE_THREADS` (default: the CPUs this process may use, `availableCPUs()`) and run
/// the command inside `run(_:)`; tests run each case inside their own `run`. Work is split
/// into at most `threads` contiguous chunks of independent outputs, each with its own
/// scratch, and no chunk's result depends on where the chunks start, so results are
/// bit-identical for every thread count (reductions over images or pixels run in one fixed
/// order inside one chunk).
public struct Parallelism: Equatable, Sendable, CustomStringConvertible {
    /// At most this many threads at once (>= 1).
    public var threads: Int
    /// When set, replaces every kernel's minimum work for splitting (1: split whatever the
    /// size). For tests that check thread-count independence on tiny shapes.
    public var minimumWorkOverride: Int?

    public init(threads: Int, minimumWorkOverride: Int? = nil) {
        self.threads = max(1, threads)
        self.minimumWorkOverride = minimumWorkOverride
    }

    /// One thread.
    public static let serial = Parallelism(threads: 1)

    public var description: String { "\(threads) thread\(threads == 1 ? "" : "s")" }

    /// The name of the environment variable that sets the default thread count.
    public static let environmentVariable = "TRANSLATE_THREADS"

    /// The most threads accepted (more than any machine this runs on has cores).
    public static let maxThreads = 1024

    /// The parallelism in effect: the innermost `run`, else the process default
    /// (`TRANSLATE_THREADS`, else `availableCPUs()`).
    public static var current: Parallelism { bound ?? processDefault }

    @TaskLocal static var bound: Parallelism?

    static let processDefault: Parallelism = {
        let env = ProcessInfo.processInfo.environment
        if let s = env[environmentVariable], let p = try? parse(s, source: environmentVariable) { return p }
        return Parallelism(threads: availableCPUs())
    }()

    /// Parses a thread count ("8"; "0" or "auto" mean `availableCPUs()`); `source` names
    /// the flag or variable in the error.
    public static func parse(_ text: String, source: String) throws -> Parallelism {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t == "auto" || t == "0" { return Parallelism(threads: availableCPUs()) }
        guard let n = Int(t), (1...maxThreads).contains(n) else {
            throw ParallelismError.invalid(source: source, value: text, reason: "must be a whole number of threads from 1 to \(maxThreads), or auto (0) for the CPUs this process may use (\(availableCPUs()) here)")
        }
        return Parallelism(threads: n)
    }

    /// Runs `body` with this parallelism: our kernels, and the products `sgemm` hands to
    /// OpenBLAS (single-threaded, cell by cell of a fixed grid), split into at most `threads`
    /// chunks.
    public func run<T>(_ body: () throws -> T) rethrows -> T {
        try Parallelism.$bound.withValue(self) { try body() }
    }

    /// How many chunks `n` independent items of `work` total work are split into.
    func chunks(_ n: Int, work: Int, minimumWork: Int) -> Int {
        guard n >= 2, threads >= 2, work >= (minimumWorkOverride ?? minimumWork) else { return n > 0 ? 1 : 0 }
        return min(threads, n)
    }

    /// The CPUs this process may use: the affinity mask (`taskset`, cpusets), capped by a
    /// cgroup CPU quota (a container limited to 4 CPUs gets 4; v2 `cpu.max`, v1
    /// `cpu.cfs_quota_us` / `cpu.cfs_period_us`), rounded up; at least 1.
    public static func availableCPUs() -> Int {
        var n = ProcessInfo.processInfo.activeProcessorCount
        #if os(Linux)
        let affinity = Int(tr_affinity_cpus())
        if affinity > 0 { n = affinity }
        if let q = cgroupQuota() { n = min(n, q) }
        #endif
        return max(1, n)
    }

    /// CPUs allowed by the cgroup quota of this process, rounded up, or nil when unlimited.
    public static func cgroupQuota(root: String = "/sys/fs/cgroup", selfCgroup: String = "/proc/self/cgroup") -> Int? {
        func read(_ p: String) -> String? { try? String(contentsOfFile: p, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
        // The process's own cgroup path (v2: "0::/path"), then its ancestors up to the root.
        var paths = [""]
        if let lines = read(selfCgroup)?.split(separator: "\n"), let v2 = lines.first(where: { $0.hasPrefix("0::") }) {
            var p = String(v2.dropFirst(3))
            while !p.isEmpty && p != "/" {
                paths.insert(p, at: 0)
                p = (p as NSString).deletingLastPathComponent
            }
        }
        var best: Int?
        for p in paths {
            if let text = read(root + p + "/cpu.max") {
                best = minQuota(best, parseCPUMax(text))
            }
        }
        if let q = read(root + "/cpu/cpu.cfs_quota_us").flatMap({ Int($0) }), q > 0,
           let period = read(root + "/cpu/cpu.cfs_period_us").flatMap({ Int($0) }), period > 0 {
            best = minQuota(best, (q + period - 1) / period)
        }
        return best
    }

    /// "400000 100000" -> 4; "max 100000" -> nil; "150000 100000" -> 2 (rounded up).
    public static func parseCPUMax(_ text: String) -> Int? {
        let f = text.split(separator: " ")
        guard f.count == 2, let q = Int(f[0]), let period = Int(f[1]), q > 0, period > 0 else { return nil }
        return max(1, (q + period - 1) / period)
    }

    private static func minQuota(_ a: Int?, _ b: Int?) -> Int? {
        switch (a, b) {
        case let (x?, y?): return min(x, y)
        default: return a ?? b
        }
    }
}

public enum ParallelismError: Error, CustomStringConvertible, Equatable {
    case invalid(source: String, value: String, reason: String)
    public var description: String {
        switch self {
        case let .invalid(source, value, reason): return "\(source) '\(value)': \(reason)"
        }
    }
}

/// Runs `body(lo, hi)` over contiguous chunks of 0..<n, at most one per thread of
/// `Parallelism.current`, when the work (by default n itself) reaches `minimumWork`; else
/// once over 0..<n. Each chunk runs with one thread (nested calls do not split again), so a
/// body may allocate its own scratch and must write only its own outputs.
public func parallelChunks(_ n: Int, work: Int? = nil, minimumWork: Int = 1 << 16, _ body: (Int, Int) -> Void) {
    let p = Parallelism.current
    let chunks = p.chunks(n, work: work ?? n, minimumWork: minimumWork)
    if chunks <= 1 {
        if n > 0 { body(0, n) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        Parallelism.$bound.withValue(.serial) { body(n * c / chunks, n * (c + 1) / chunks) }
    }
}

/// Runs `body(i)` for i in 0..<n, split as `parallelChunks` splits.
@inline(__always)
func parallelFor(_ n: Int, work: Int, minimumWork: Int = 1 << 16, _ body: (Int) -> Void) {
    parallelChunks(n, work: work, minimumWork: minimumWork) { lo, hi in for i in lo..<hi { body(i) } }
}
