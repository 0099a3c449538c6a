import Foundation
import ImageIO
import Tensors

/// A batch of samples: `[N, C, H, W]` tensors, the input-side paths and dataset indices.
public struct Batch {
    public var input: Tensor
    public var target: Tensor?
    public var paths: [String]
    public var indices: [Int]

    public init(input: Tensor, target: Tensor?, paths: [String], indices: [Int]) {
        self.input = input
        self.target = target
        self.paths = paths
        self.indices = indices
    }
}

/// The batches of one epoch, decoded and preprocessed ahead on a background thread.
///
/// Determinism: the order is a Fisher-Yates shuffle seeded from (seed, epoch), and item i's
/// augmentation (crop, flip) uses its own generator seeded from (seed, epoch, i). So epoch e
/// is the same whether or not the process restarted, and whatever the thread timing; a
/// synchronous run with `order(...)` and `augmentationRNG(...)` gives identical batches.
///
/// At most `prefetch` (4) batches wait in the queue. A failure (e.g. a corrupt file) is
/// thrown from `next()` in its place in the sequence; the epoch ends there. The thread
/// stops on `cancel()` or when the loader is deinitialised (which waits for it).
public final class EpochLoader {
    public let batchCount: Int
    public static let prefetch = 4
    private let state: LoaderState
    private let thread: Thread

    /// `startBatch`: skip the epoch's first batches (resuming a mid-epoch checkpoint); they are
    /// not loaded, and `batchCount` still counts the whole epoch. `shard`: this rank's share
    /// of the epoch's order in a data-parallel job (`Distribution.shardPositions`: positions
    /// rank, rank + size, ..., padded), so that batch k of every rank together holds batch k
    /// of one process with `size` times the batch.
    public init(dataset: ImageDataset, batchSize: Int, shuffle: Bool, seed: UInt64, epoch: Int, dropLast: Bool = false,
                startBatch: Int = 0, shard: (rank: Int, size: Int) = (0, 1)) {
        precondition(batchSize >= 1, "EpochLoader: batchSize must be positive, got \(batchSize)")
        let order = Distribution.shard(Self.order(count: dataset.count, shuffle: shuffle, seed: seed, epoch: epoch),
                                       rank: shard.rank, size: shard.size)
        var batches: [[Int]] = stride(from: 0, to: order.count, by: batchSize).map {
            Array(order[$0..<min($0 + batchSize, order.count)])
        }
        if dropLast, let last = batches.last, last.count < batchSize { batches.removeLast() }
        batchCount = batches.count
        let work = Array(batches.dropFirst(max(0, startBatch)))
        let state = LoaderState(capacity: Self.prefetch)
        self.state = state
        thread = Thread {
            for indices in work {
                if state.isCancelled { break }
                let result = Result { try Self.makeBatch(dataset, indices, seed: seed, epoch: epoch) }
                if !state.put(result) { break }
                if case .failure = result { break }
            }
            state.finish()
        }
        thread.name = "EpochLoader(epoch \(epoch))"
        thread.stackSize = 8 << 20
        thread.start()
    }

    deinit {
        state.cancel()
        state.waitUntilFinished()
    }

    /// The next batch, nil at the end of the epoch (or after `cancel()` or a thrown error).
    public func next() throws -> Batch? {
        guard let r = state.take() else { return nil }
        return try r.get()
    }

    /// Stops the background thread; `next()` returns nil afterwards.
    public func cancel() { state.cancel() }

    // MARK: - The deterministic parts, public so a synchronous loop can reproduce them

    /// Dataset indices in epoch order: a Fisher-Yates shuffle from (seed, epoch), or 0..<count.
    public static func order(count: Int, shuffle: Bool, seed: UInt64, epoch: Int) -> [Int] {
        var order = Array(0..<count)
        guard shuffle, count > 1 else { return order }
        var rng = RNG(seed: mix(seed, UInt64(bitPattern: Int64(epoch)), 0x5348_5546_464C_4521))  // "SHUFFLE!"
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(i + 1)) }
        return order
    }

    /// The generator for item `index`'s augmentation in `epoch`.
    public static func augmentationRNG(seed: UInt64, epoch: Int, index: Int) -> RNG {
        RNG(seed: mix(seed, UInt64(bitPattern: Int64(epoch)), UInt64(bitPattern: Int64(index)), 0x4155_474D_454E_5421))  // "AUGMENT!"
    }

    /// Loads `indices` with their augmentation generators and stacks them.
    public static func makeBatch(_ dataset: ImageDataset, _ indices: [Int], seed: UInt64, epoch: Int) throws -> Batch {
        var samples: [Sample] = []
        for i in indices {
            var rng = augmentationRNG(seed: seed, epoch: epoch, index: i)
            let s = try dataset.sample(i, rng: &rng)
            if let first = samples.first, first.input.shape != s.input.shape || first.target?.shape != s.target?.shape {
                let (a, b) = first.input.shape != s.input.shape ? (first.input.shape, s.input.shape)
                                                                 : (first.target?.shape ?? [], s.target?.shape ?? [])
                throw DatasetError.mixedSizes(pathA: s.inputPath, shapeA: b, pathB: first.inputPath, shapeB: a)
            }
            samples.append(s)
        }
        let input = try stack(samples.map(\.input))
        let targets = samples.compactMap(\.target)
        let target = targets.count == samples.count && !targets.isEmpty ? try stack(targets) : nil
        return Batch(input: input, target: target, paths: samples.map(\.inputPath), indices: indices)
    }

    /// splitmix64 over the parts: distinct inputs give unrelated seeds.
    static func mix(_ parts: UInt64...) -> UInt64 {
        var h: UInt64 = 0x6A09_E667_F3BC_C908
        for p in parts {
            h = (h ^ p) &+ 0x9E37_79B9_7F4A_7C15
            h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
            h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
            h ^= h >> 31
        }
        return h
    }
}

/// The bounded queue between the loader thread and the consumer.
private final class LoaderState: @unchecked Sendable {  // all state behind `cond`
    private let cond = NSCondition()
    private var queue: [Result<Batch, Error>] = []
    private let capacity: Int
    private var cancelled = false
    private var finished = false

    init(capacity: Int) { self.capacity = capacity }

    var isCancelled: Bool { cond.lock(); defer { cond.unlock() }; return cancelled }

    /// Waits for room; false if cancelled meanwhile (the item is dropped).
    func put(_ item: Result<Batch, Error>) -> Bool {
        cond.lock(); defer { cond.unlock() }
        while queue.count >= capacity && !cancelled { cond.wait() }
        if cancelled { return false }
        queue.append(item)
        cond.broadcast()
        return true
    }

    /// Waits for an item; nil once the producer has finished and the queue is empty, or after cancel.
    func take() -> Result<Batch, Error>? {
        cond.lock(); defer { cond.unlock() }
        while queue.isEmpty && !finished && !cancelled { cond.wait() }
        if cancelled || queue.isEmpty { return nil }
        let item = queue.removeFirst()
        cond.broadcast()
        return item
    }

    func finish() { cond.lock(); finished = true; cond.broadcast(); cond.unlock() }

    func cancel() { cond.lock(); cancelled = true; queue.removeAll(); cond.broadcast(); cond.unlock() }

    func waitUntilFinished() {
        cond.lock(); defer { cond.unlock() }
        while !finished { cond.wait() }
    }
}
