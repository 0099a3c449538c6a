import Foundation
import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Debian's OpenBLAS 0.3.21 detects AMD Zen 4/5 as Haswell and runs AVX2 kernels at half
/// speed (and some machines preset `OPENBLAS_CORETYPE=Haswell`). `OPENBLAS_CORETYPE` picks
/// the kernels, but only when the library loads, i.e. before `main`. So an executable calls
/// `BLASSetup.reexecIfNeeded()` first: if the CPU has AVX-512 and the variable is unset or
/// names a pre-AVX-512 family, it sets an AVX-512 family and re-executes itself once.
/// `TRANSLATE_OPENBLAS_CORETYPE=NAME` forces a family; `TRANSLATE_NO_BLAS_CORETYPE=1` leaves
/// the environment alone.
public enum BLASSetup {
    /// The environment variable that disables the whole mechanism (any value).
    public static let optOutVariable = "TRANSLATE_NO_BLAS_CORETYPE"
    public static let forceVariable = "TRANSLATE_OPENBLAS_CORETYPE"
    static let guardVariable = "TRANSLATE_BLAS_REEXEC"
    /// OpenBLAS families that already use AVX-512 kernels.
    static let avx512Families: Set<String> = ["SKYLAKEX", "COOPERLAKE", "SAPPHIRERAPIDS"]

    /// The core type to request for a CPU with these /proc/cpuinfo flags, or nil when the
    /// CPU lacks the AVX-512 subsets OpenBLAS's SkylakeX kernels use (F, BW, DQ, VL, CD).
    public static func coreType(cpuFlags: Set<String>) -> String? {
        let needed: Set<String> = ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]
        guard needed.isSubset(of: cpuFlags) else { return nil }
        return cpuFlags.contains("avx512_bf16") ? "COOPERLAKE" : "SKYLAKEX"
    }

    /// How long (2^n cycles) an idle OpenBLAS thread spins before sleeping. The library's
    /// default (28, ~0.1 s) lets its worker burn the second core through all of our
    /// non-GEMM work between matrix products; 10 measured ~10 % faster training steps.
    public static let threadTimeout = "10"

    /// The environment variables to set before OpenBLAS loads (empty: nothing to do).
    public static func variables(cpuFlags: Set<String>, environment: [String: String]) -> [String: String] {
        if environment[optOutVariable] != nil || environment[guardVariable] != nil { return [:] }
        var v: [String: String] = [:]
        if let core = decision(cpuFlags: cpuFlags, environment: environment) { v["OPENBLAS_CORETYPE"] = core }
        if environment["OPENBLAS_THREAD_TIMEOUT"] == nil { v["OPENBLAS_THREAD_TIMEOUT"] = threadTimeout }
        return v
    }

    /// The core type to set given the environment, or nil.
    public static func decision(cpuFlags: Set<String>, environment: [String: String]) -> String? {
        if environment[optOutVariable] != nil || environment[guardVariable] != nil { return nil }
        let current = environment["OPENBLAS_CORETYPE"]
        if let forced = environment[forceVariable], !forced.isEmpty {
            return forced.uppercased() == current?.uppercased() ? nil : forced
        }
        if let c = current, avx512Families.contains(c.uppercased()) { return nil }
        return coreType(cpuFlags: cpuFlags)
    }

    /// The `flags` line of /proc/cpuinfo (empty where unavailable).
    public static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            if let colon = line.firstIndex(of: ":") { return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init)) }
        }
        return []
    }

    /// Sets OPENBLAS_CORETYPE / OPENBLAS_THREAD_TIMEOUT and re-executes the running program
    /// if that makes OpenBLAS faster here; returns normally when nothing is to be done or the
    /// exec fails (the program then runs with the library's defaults).
    public static func reexecIfNeeded() {
        let vars = variables(cpuFlags: cpuFlags(), environment: ProcessInfo.processInfo.environment)
        guard !vars.isEmpty else { return }
        for (k, v) in vars { setenv(k, v, 1) }
        setenv(guardVariable, "1", 1)
        let args = CommandLine.arguments
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cargs.append(nil)
        execv("/proc/self/exe", &cargs)
        // exec failed: carry on with the library as loaded.
        for k in vars.keys { unsetenv(k) }
    }
}

/// Process-wide memory settings for training loops.
public enum AllocatorSetup {
    /// Keeps freed memory in the heap instead of returning it to the kernel: glibc otherwise
    /// serves blocks over 32 MB (weight gradients of 512-channel layers) with mmap, and every
    /// training step pays page faults to zero fresh pages. Call once at program start.
    @discardableResult
    public static func keepFreedMemory() -> Bool {
        #if os(Linux)
        let a = mallopt(M_MMAP_MAX, 0)             // never serve blocks with mmap
        let b = mallopt(M_TRIM_THRESHOLD, Int32.max) // never give the heap top back
        let c = mallopt(M_ARENA_MAX, 1)           // one arena: other threads' frees are reused too
        return a == 1 && b == 1 && c == 1
        #else
        return false
        #endif
    }
}
