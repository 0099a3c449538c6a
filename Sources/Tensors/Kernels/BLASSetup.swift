import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Debian's OpenBLAS 0.3.21 detects AMD Zen 4/5 as Haswell and runs AVX2 kernels at half
/// speed. `OPENBLAS_CORETYPE` picks the kernels, but only when the library loads, i.e.
/// before `main`. So an executable calls `BLASSetup.reexecIfNeeded()` first: if the CPU has
/// AVX-512 and the variable is unset, it sets it and re-executes itself once.
public enum BLASSetup {
    /// The environment variable that disables the whole mechanism (any value).
    public static let optOutVariable = "TRANSLATE_NO_BLAS_CORETYPE"
    static let guardVariable = "TRANSLATE_BLAS_REEXEC"

    /// The core type to request for a CPU with these /proc/cpuinfo flags, or nil when the
    /// CPU lacks the AVX-512 subsets OpenBLAS's SkylakeX kernels use (F, BW, DQ, VL, CD).
    public static func coreType(cpuFlags: Set<String>) -> String? {
        let needed: Set<String> = ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]
        guard needed.isSubset(of: cpuFlags) else { return nil }
        return cpuFlags.contains("avx512_bf16") ? "COOPERLAKE" : "SKYLAKEX"
    }

    /// What to do given the environment: the core type to set and re-exec with, or nil.
    public static func decision(cpuFlags: Set<String>, environment: [String: String]) -> String? {
        if environment["OPENBLAS_CORETYPE"] != nil || environment[optOutVariable] != nil || environment[guardVariable] != nil {
            return nil
        }
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

    /// Sets OPENBLAS_CORETYPE and re-executes the running program if that makes OpenBLAS
    /// faster here; returns normally when nothing is to be done or the exec fails.
    public static func reexecIfNeeded() {
        guard let core = decision(cpuFlags: cpuFlags(), environment: ProcessInfo.processInfo.environment) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(guardVariable, "1", 1)
        let args = CommandLine.arguments
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cargs.append(nil)
        execv("/proc/self/exe", &cargs)
        // exec failed: carry on with the default kernels.
        unsetenv("OPENBLAS_CORETYPE")
    }
}
