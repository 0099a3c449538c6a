import Foundation
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

    /// What to do given the environment: the core type to set and re-exec with, or nil.
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

/// Process-wide memory settings for training loops.
public enum AllocatorSetup {
    /// Keeps freed memory in the heap instead of returning it to the kernel: glibc otherwise
    /// serves blocks over 32 MB (weight gradients of 512-channel layers) with mmap, and every
    /// training step pays page faults to zero fresh pages. Call once at program start.
    public static func keepFreedMemory() {
        #if os(Linux)
        _ = c_mallopt(-4, 0)              // M_MMAP_MAX: never serve blocks with mmap
        _ = c_mallopt(-1, Int32.max)      // M_TRIM_THRESHOLD: never give the heap top back
        #endif
    }
}

#if os(Linux)
/// glibc's mallopt (declared in <malloc.h>, which the Glibc module does not export).
@_silgen_name("mallopt") private func c_mallopt(_ param: Int32, _ value: Int32) -> Int32
#endif
