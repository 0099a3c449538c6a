import Dispatch
import Foundation

/// Wall time per op while a profile is active (`OpProfile.profile { ... }`; task-local, so
/// nothing is measured outside one and an inactive profile costs one task-local read per op).
///
/// Every differentiable op ends in `record` (with or without gradients): the time since the
/// previous event is charged to that op's forward pass. Each backward rule is timed on its own.
/// `phase(_:)` charges a block that is not an op (the optimizer step, data preparation) to its
/// own name, and the time between a backward pass and the next event goes to "other".
public final class OpProfile: @unchecked Sendable {
    /// Seconds and calls of one entry.
    public struct Entry: Sendable {
        public var seconds = 0.0
        public var calls = 0
    }

    private let lock = NSLock()
    private var last = DispatchTime.now().uptimeNanoseconds
    /// Keys: "forward NAME", "backward NAME", "phase NAME", "other".
    public private(set) var entries: [String: Entry] = [:]

    @TaskLocal static var active: OpProfile?

    /// Runs `body` with a fresh profile and returns it with the result.
    public static func profile<R>(_ body: () throws -> R) rethrows -> (result: R, profile: OpProfile) {
        let p = OpProfile()
        let r = try $active.withValue(p) { try body() }
        return (r, p)
    }

    /// Runs `body` (not an op) and charges its wall time to `name`, when a profile is active.
    public static func phase<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
        guard let p = active else { return try body() }
        p.charge("other")
        let r = try body()
        p.charge("phase " + name)
        return r
    }

    /// The op's name from `#function` ("conv2d(_:weight:...)" -> "conv2d").
    static func opName(_ function: StaticString) -> String {
        let s = "\(function)"
        return s.firstIndex(of: "(").map { String(s[..<$0]) } ?? s
    }

    /// An op finished its forward pass.
    @inline(__always)
    static func forward(_ function: StaticString) {
        guard let p = active else { return }
        p.charge("forward " + opName(function))
    }

    /// Wraps a backward rule so that its time is charged to the op, when a profile is active.
    @inline(__always)
    static func timedBackward(_ function: StaticString, _ rule: @escaping (UnsafeBufferPointer<Float>) -> Void)
        -> (UnsafeBufferPointer<Float>) -> Void {
        guard let p = active else { return rule }
        let key = "backward " + opName(function)
        return { g in
            let t0 = DispatchTime.now().uptimeNanoseconds
            rule(g)
            p.add(key, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
    }

    /// A backward pass starts or ends: the time before it is not an op's.
    static func boundary() { active?.charge("other") }

    private func charge(_ key: String) {
        lock.lock(); defer { lock.unlock() }
        let now = DispatchTime.now().uptimeNanoseconds
        entries[key, default: Entry()].seconds += Double(now - last) / 1e9
        entries[key, default: Entry()].calls += 1
        last = now
    }

    private func add(_ key: String, _ seconds: Double) {
        lock.lock(); defer { lock.unlock() }
        entries[key, default: Entry()].seconds += seconds
        entries[key, default: Entry()].calls += 1
        last = DispatchTime.now().uptimeNanoseconds
    }

    /// Total seconds over every entry.
    public var total: Double { entries.values.reduce(0) { $0 + $1.seconds } }
}
