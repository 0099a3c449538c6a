import XCTest
import Foundation
import Tensors
import NN

/// The committed fixtures folder (Tests/Fixtures), found from this source file's path.
public let fixturesURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures")

/// A golden case written by tools/make_fixtures.py.
public struct Fixture {
    public let name: String
    public let tensors: [String: Tensor]
    public let metadata: [String: String]
    /// The `args` metadata, parsed.
    public let args: [String: Any]

    public init(_ relativePath: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = fixturesURL.appendingPathComponent(relativePath + ".safetensors")
        let f = try SafeTensors.read(url)
        name = relativePath
        tensors = f.byName
        metadata = f.metadata
        let argText = f.metadata["args"] ?? "{}"
        args = (try JSONSerialization.jsonObject(with: Data(argText.utf8))) as? [String: Any] ?? [:]
    }

    /// A fresh copy of a stored tensor (optionally requiring grad).
    public func tensor(_ key: String, requiresGrad: Bool = false) throws -> Tensor {
        guard let t = tensors[key] else { throw TensorError.invalidArgument("fixture \(name): no tensor '\(key)'") }
        return try Tensor(shape: t.shape, data: t.data, requiresGrad: requiresGrad)
    }

    public func has(_ key: String) -> Bool { tensors[key] != nil }

    public func int(_ key: String) -> Int { (args[key] as? NSNumber)?.intValue ?? 0 }
    public func float(_ key: String) -> Float { (args[key] as? NSNumber)?.floatValue ?? 0 }
    public func bool(_ key: String) -> Bool { (args[key] as? NSNumber)?.boolValue ?? false }
    public func pair(_ key: String) -> Size2 {
        if let a = args[key] as? [NSNumber], a.count == 2 { return Size2(a[0].intValue, a[1].intValue) }
        return Size2((args[key] as? NSNumber)?.intValue ?? 0)
    }
    public func ints(_ key: String) -> [Int] { (args[key] as? [NSNumber])?.map(\.intValue) ?? [] }
}

/// Max absolute difference and max |expected|.
public func maxAbsDiff(_ a: [Float], _ b: [Float]) -> (diff: Float, scale: Float) {
    var d: Float = 0, s: Float = 0
    for i in 0..<min(a.count, b.count) { d = max(d, abs(a[i] - b[i])); s = max(s, abs(b[i])) }
    return (d, s)
}

/// Asserts that `actual` matches `expected` within `rtol * max|expected| + atol`, reporting
/// the max abs difference either way (so every golden comparison prints its number).
public func assertClose(_ actual: [Float], _ expected: [Float], rtol: Float = 1e-5, atol: Float = 1e-6,
                        _ what: String, report: Bool = true, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what): \(actual.count) values, expected \(expected.count)", file: file, line: line)
    guard actual.count == expected.count else { return }
    let (d, s) = maxAbsDiff(actual, expected)
    let tol = rtol * s + atol
    if report { print("  \(what): max abs diff \(d) (max |ref| \(s), tol \(tol))") }
    XCTAssertFalse(actual.contains { !$0.isFinite }, "\(what): non-finite values", file: file, line: line)
    XCTAssertLessThanOrEqual(d, tol, "\(what): max abs diff \(d) > tol \(tol) (max |ref| \(s))", file: file, line: line)
}

public func assertClose(_ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-5, atol: Float = 1e-6,
                        _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "\(what): shape", file: file, line: line)
    assertClose(actual.data, expected.data, rtol: rtol, atol: atol, what, file: file, line: line)
}

/// Finite-difference gradient check with a random upstream gradient r: loss = sum(f(inputs) * r),
/// accumulated in Double. Compares every element of every input's analytic gradient with the
/// central difference, elementwise within atol + rtol * |numeric|. Float32 forward passes
/// limit the accuracy, hence eps ~1e-2 and tolerances of 1e-3 (a 1% derivative error fails).
public func gradCheck(_ inputs: [Tensor], eps: Float = 1e-2, rtol: Float = 1e-3, atol: Float = 1e-3,
                      seed: UInt64 = 7, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                      _ f: ([Tensor]) throws -> Tensor) throws {
    for t in inputs { t.requiresGrad = true; t.zeroGrad() }
    let out = try f(inputs)
    var rng = RNG(seed: seed)
    let r = Tensor.randn(out.shape, rng: &rng)
    func lossValue() throws -> Double {
        let o = try withNoGrad { try f(inputs) }
        var s: Double = 0
        for i in 0..<o.count { s += Double(o.data[i]) * Double(r.data[i]) }
        return s
    }
    try out.backward(gradient: r)
    for (k, t) in inputs.enumerated() {
        let analytic = t.grad ?? [Float](repeating: 0, count: t.count)
        var numeric = [Float](repeating: 0, count: t.count)
        for i in 0..<t.count {
            let v = t.data[i]
            t.data[i] = v + eps; let lp = try lossValue()
            t.data[i] = v - eps; let lm = try lossValue()
            t.data[i] = v
            numeric[i] = Float((lp - lm) / (2 * Double(eps)))
        }
        // Elementwise: |analytic - numeric| <= atol + rtol * |numeric|.
        var worst = 0, excess: Float = -.infinity
        for i in 0..<t.count {
            let e = abs(analytic[i] - numeric[i]) - (atol + rtol * abs(numeric[i]))
            if e > excess { excess = e; worst = i }
        }
        if t.count > 0 {
            XCTAssertLessThanOrEqual(excess, 0, "\(what): input \(k) element \(worst): analytic \(analytic[worst]) vs finite difference \(numeric[worst])",
                                     file: file, line: line)
        }
    }
}

/// Moves values away from 0 (for kinks of relu, abs, ...): sign(x) * (|x| + margin).
public func awayFromZero(_ t: Tensor, margin: Float = 0.1) -> Tensor {
    for i in 0..<t.count { t.data[i] = (t.data[i] >= 0 ? 1 : -1) * (abs(t.data[i]) + margin) }
    return t
}

/// A test case whose every test runs in a convolution-policy scope of its own (`scope.policy`
/// may be changed as the test goes; nothing global is, so tests do not depend on order).
open class ConvPolicyTestCase: XCTestCase {
    public var scope: ConvPolicyScope!
    override open func invokeTest() {
        ConvPolicy.scoped { s in
            scope = s
            super.invokeTest()
        }
    }
}

/// What `body` prints to standard output (file descriptor 1, through a temporary file).
public func captureStandardOutput(_ body: () throws -> Void) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("stdout-\(UUID().uuidString).txt")
    FileManager.default.createFile(atPath: url.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: url) }
    let file = try FileHandle(forWritingTo: url)
    fflush(stdout)
    let saved = dup(1)
    dup2(file.fileDescriptor, 1)
    defer { fflush(stdout); dup2(saved, 1); close(saved); try? file.close() }
    try body()
    fflush(stdout)
    return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
}
