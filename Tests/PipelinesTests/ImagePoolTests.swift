import XCTest
import Tensors
import TestSupport
@testable import Pipelines

final class ImagePoolTests: XCTestCase {
    /// A (n, 1, 2, 2) batch whose image k is filled with values[k].
    func batch(_ values: [Float]) throws -> Tensor {
        try Tensor(shape: [values.count, 1, 2, 2], data: values.flatMap { [Float](repeating: $0, count: 4) })
    }

    func values(_ t: Tensor) -> [Float] { stride(from: 0, to: t.count, by: 4).map { t.data[$0] } }

    func testFillsUpReturningTheNewImagesWithoutRandomness() throws {
        let pool = ImagePool(size: 3)
        var rng = RNG(seed: 1)
        let start = rng
        XCTAssertEqual(values(try pool.query(try batch([1]), rng: &rng)), [1])
        XCTAssertEqual(values(try pool.query(try batch([2, 3]), rng: &rng)), [2, 3])
        XCTAssertEqual(rng, start, "no draws while filling up")
        XCTAssertTrue(pool.isFull)
        XCTAssertEqual(pool.images.map { $0.shape }, [[1, 1, 2, 2], [1, 1, 2, 2], [1, 1, 2, 2]])
        XCTAssertEqual(pool.images.map { values($0) }, [[1], [2], [3]])
        // A batch that crosses the boundary: the first image fills the last slot, the second is a coin flip.
        let p2 = ImagePool(size: 2)
        var r2 = RNG(seed: 2)
        _ = try p2.query(try batch([1]), rng: &r2)
        var replay = r2
        let out = values(try p2.query(try batch([2, 3]), rng: &r2))
        XCTAssertEqual(out[0], 2)
        if replay.nextDouble() > 0.5 {
            let slot = replay.nextInt(2)
            XCTAssertEqual(out[1], Float(slot + 1))
            XCTAssertEqual(values(p2.images[slot]), [3])
        } else {
            XCTAssertEqual(out[1], 3)
            XCTAssertEqual(p2.images.map { values($0) }, [[1], [2]])
        }
        XCTAssertEqual(r2, replay)
    }

    func testSizeZeroReturnsTheInput() throws {
        let pool = ImagePool(size: 0)
        var rng = RNG(seed: 3)
        let start = rng
        let x = Tensor.randn([2, 3, 4, 4], rng: &rng, requiresGrad: true)
        let probe = rng
        let y = try pool.query(x * 2, rng: &rng)
        XCTAssertEqual(y.data, (x * 2).data)
        XCTAssertEqual(y.shape, x.shape)
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(pool.images.isEmpty)
        XCTAssertEqual(rng, probe)
        XCTAssertNotEqual(rng, start)
    }

    /// Once full: per image a coin (nextDouble() > 0.5) and, on a swap, a slot (nextInt(size)),
    /// replayed here from a copy of the generator; swaps happen about half the time.
    func testSwapStatisticsAndDraws() throws {
        let size = 5, n = 4000
        let pool = ImagePool(size: size)
        var rng = RNG(seed: 42)
        _ = try pool.query(try batch((0..<size).map(Float.init)), rng: &rng)
        var model = (0..<size).map(Float.init)   // what the pool should hold
        var replay = rng
        var swaps = 0, slotCounts = [Int](repeating: 0, count: size)
        for i in 0..<n {
            let v = Float(size + i)
            let out = values(try pool.query(try batch([v]), rng: &rng))[0]
            if replay.nextDouble() > 0.5 {
                let slot = replay.nextInt(size)
                XCTAssertEqual(out, model[slot])
                model[slot] = v
                swaps += 1
                slotCounts[slot] += 1
            } else {
                XCTAssertEqual(out, v)
            }
        }
        XCTAssertEqual(rng, replay)
        XCTAssertEqual(pool.images.map { values($0)[0] }, model)
        // Binomial(4000, 0.5): sd ~ 32; the bounds are ~6 sd.
        XCTAssertGreaterThan(swaps, n / 2 - 200)
        XCTAssertLessThan(swaps, n / 2 + 200)
        for c in slotCounts { XCTAssertGreaterThan(c, swaps / size / 2, "slots are drawn uniformly") }
    }

    func testReturnedAndStoredTensorsAreDetached() throws {
        var rng = RNG(seed: 5)
        let w = Tensor.randn([3, 2, 4, 4], rng: &rng, requiresGrad: true)
        let fake = tanh(w * 3)        // a non-leaf that requires grad
        XCTAssertTrue(fake.requiresGrad)
        let pool = ImagePool(size: 4)
        for _ in 0..<4 {
            let y = try pool.query(fake, rng: &rng)
            XCTAssertEqual(y.shape, [3, 2, 4, 4])
            XCTAssertFalse(y.requiresGrad)
            XCTAssertTrue(y.isLeaf)
        }
        XCTAssertTrue(pool.images.allSatisfy { !$0.requiresGrad && $0.isLeaf })
    }

    func testStateRoundTripResumesExactly() throws {
        var rng = RNG(seed: 7)
        let pool = ImagePool(size: 4)
        for i in 0..<3 { _ = try pool.query(Tensor.randn([2, 3, 2, 2], rng: &rng) + Float(i), rng: &rng) }
        let state = try XCTUnwrap(pool.stateTensor())
        XCTAssertEqual(state.shape, [4, 3, 2, 2])
        let resumed = ImagePool(size: 4)
        try resumed.restore(state)
        XCTAssertEqual(resumed.images.map(\.data), pool.images.map(\.data))
        var r1 = rng, r2 = rng
        for _ in 0..<10 {
            let x = Tensor.randn([1, 3, 2, 2], rng: &rng)
            XCTAssertEqual(try pool.query(x, rng: &r1).data, try resumed.query(x, rng: &r2).data)
        }
        XCTAssertNil(try ImagePool(size: 2).stateTensor())
        XCTAssertThrowsError(try ImagePool(size: 2).restore(state))   // 4 images into 2 slots
        let empty = ImagePool(size: 4)
        try empty.restore(nil)
        XCTAssertTrue(empty.images.isEmpty)
        XCTAssertThrowsError(try ImagePool(size: 2).query(Tensor(zeros: [3, 2, 2]), rng: &rng))
    }
}
