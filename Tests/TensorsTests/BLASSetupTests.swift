import XCTest
import Tensors

final class BLASSetupTests: XCTestCase {
    let zen5: Set<String> = ["sse2", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd", "avx512_bf16"]

    func testChoosesAVX512KernelsOnlyWhereTheCPUHasThem() {
        XCTAssertEqual(BLASSetup.coreType(cpuFlags: zen5), "COOPERLAKE")
        XCTAssertEqual(BLASSetup.coreType(cpuFlags: zen5.subtracting(["avx512_bf16"])), "SKYLAKEX")
        XCTAssertNil(BLASSetup.coreType(cpuFlags: ["sse2", "avx2", "fma"]))
        XCTAssertNil(BLASSetup.coreType(cpuFlags: ["avx2", "avx512f"]), "AVX-512 F alone is not enough")
        XCTAssertNil(BLASSetup.coreType(cpuFlags: []))
    }

    func testRespectsUserSettingAndNeverLoops() {
        XCTAssertEqual(BLASSetup.decision(cpuFlags: zen5, environment: [:]), "COOPERLAKE")
        // A pre-AVX-512 family (the mis-detection, or a preset environment) is replaced ...
        XCTAssertEqual(BLASSetup.decision(cpuFlags: zen5, environment: ["OPENBLAS_CORETYPE": "Haswell"]), "COOPERLAKE")
        XCTAssertNil(BLASSetup.decision(cpuFlags: ["avx2"], environment: ["OPENBLAS_CORETYPE": "Haswell"]))
        // ... an AVX-512 one is kept, and an explicit TRANSLATE_OPENBLAS_CORETYPE wins.
        XCTAssertNil(BLASSetup.decision(cpuFlags: zen5, environment: ["OPENBLAS_CORETYPE": "SkylakeX"]))
        XCTAssertEqual(BLASSetup.decision(cpuFlags: zen5, environment: ["TRANSLATE_OPENBLAS_CORETYPE": "ZEN"]), "ZEN")
        XCTAssertNil(BLASSetup.decision(cpuFlags: zen5, environment: ["TRANSLATE_OPENBLAS_CORETYPE": "ZEN", "OPENBLAS_CORETYPE": "zen"]))
        XCTAssertNil(BLASSetup.decision(cpuFlags: zen5, environment: [BLASSetup.optOutVariable: "1"]))
        XCTAssertNil(BLASSetup.decision(cpuFlags: zen5, environment: ["TRANSLATE_BLAS_REEXEC": "1"]))
    }

    func testSetsAShortThreadTimeoutUnlessGiven() {
        XCTAssertEqual(BLASSetup.variables(cpuFlags: zen5, environment: [:]),
                       ["OPENBLAS_CORETYPE": "COOPERLAKE", "OPENBLAS_THREAD_TIMEOUT": BLASSetup.threadTimeout])
        XCTAssertEqual(BLASSetup.variables(cpuFlags: ["avx2"], environment: ["OPENBLAS_THREAD_TIMEOUT": "28"]), [:])
        XCTAssertEqual(BLASSetup.variables(cpuFlags: ["avx2"], environment: [:]), ["OPENBLAS_THREAD_TIMEOUT": BLASSetup.threadTimeout])
        XCTAssertEqual(BLASSetup.variables(cpuFlags: zen5, environment: [BLASSetup.optOutVariable: "1"]), [:])
    }

    func testReportsCoreName() {
        XCTAssertFalse(BLASInfo.coreName.isEmpty)
        XCTAssertGreaterThanOrEqual(BLASInfo.threads, 1)
    }
}
