import XCTest
import Tensors
import TestSupport

/// `OpProfile`: every op's forward is charged to its name, every backward rule to its op,
/// `phase` blocks to their own name; nothing is recorded outside a profile.
final class OpProfileTests: XCTestCase {
    func testChargesOpsBackwardRulesAndPhases() throws {
        var rng = RNG(seed: 5)
        let x = Tensor.randn([1, 3, 8, 8], rng: &rng)
        let w = Tensor.randn([8, 3, 3, 3], rng: &rng)   // more than 4 outputs: not the direct kernels
        w.requiresGrad = true
        let (_, profile) = try OpProfile.profile { () throws -> Void in
            let y = try conv2d(x, weight: w, padding: 1)
            try sum(y * y).backward()
            OpProfile.phase("update") { usleep(2000) }
        }
        let keys = Set(profile.entries.keys)
        for k in ["forward conv2d", "backward conv2d", "forward sum", "backward sum", "phase update"] {
            XCTAssertTrue(keys.contains(k), "\(k) missing from \(keys.sorted())")
        }
        XCTAssertEqual(profile.entries["forward conv2d"]?.calls, 1)
        XCTAssertEqual(profile.entries["backward conv2d"]?.calls, 1)
        XCTAssertGreaterThanOrEqual(profile.entries["phase update"]!.seconds, 0.002)
        XCTAssertGreaterThan(profile.total, 0.002)
        // Outside a profile nothing is charged, and graphs built inside run their rules untimed later.
        let before = profile.entries.mapValues(\.calls)
        let y = try conv2d(x, weight: w, padding: 1)
        try sum(y).backward()
        XCTAssertEqual(profile.entries.mapValues(\.calls), before)
    }
}
