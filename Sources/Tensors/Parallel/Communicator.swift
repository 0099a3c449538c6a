import Foundation
import CMPIShim

/// The processes of a data-parallel job and their collective operations (MPI's
/// all-reduce, broadcast, all-gather, barrier), over `MPI_COMM_WORLD`.
///
/// Like `Parallelism`, a scoped value, not a global: the executables build one (`SingleProcess`,
/// or `MPICommunicator` under `mpirun` / `--distributed`) and run the command inside
/// `run(_:)`; code that trains or shards reads `Distribution.current`. With one process
/// every operation is the identity, and no code path differs from a program without MPI.
/// Only the main thread calls a communicator.
public protocol Communicator: AnyObject, Sendable {
    /// This process's index, 0..<size; rank 0 writes the job's files.
    var rank: Int { get }
    var size: Int { get }
    /// Element-wise sum over all ranks, in place (every rank ends with the same values).
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>)
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>)
    /// Replaces `buffer` on every rank by root's bytes.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int)
    /// Every rank's `bytes` (the same length on every rank), in rank order.
    func allGather(_ bytes: [UInt8]) -> [[UInt8]]
    func barrier()
    /// Ends every process of the job with `code`.
    func abort(code: Int32) -> Never
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// Runs `body` with this communicator as `Distribution.current`.
    public func run<T>(_ body: () throws -> T) rethrows -> T {
        try Distribution.$bound.withValue(self) { try body() }
    }

    /// The mean over ranks, in place.
    public func allReduceMean(_ values: inout [Float]) {
        guard size > 1 else { return }
        values.withUnsafeMutableBufferPointer { allReduceSum($0) }
        let n = Float(size)
        for i in values.indices { values[i] /= n }
    }

    /// Root's `values` on every rank (the same count on every rank).
    public func broadcast(_ values: inout [Float], root: Int = 0) {
        guard size > 1 else { return }
        values.withUnsafeMutableBytes { broadcast($0, root: root) }
    }

    /// Root's words on every rank.
    public func broadcast(_ values: inout [UInt64], root: Int = 0) {
        guard size > 1 else { return }
        values.withUnsafeMutableBytes { broadcast($0, root: root) }
    }

    /// Every rank's 64-bit words (as many on every rank), in rank order.
    public func allGather(words: [UInt64]) -> [[UInt64]] {
        guard size > 1 else { return [words] }
        let bytes = words.withUnsafeBytes { Array($0) }
        return allGather(bytes).map { b in b.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) } }
    }

    /// Every rank's bytes of any length, in rank order (lengths first, then one padded gather).
    public func allGatherVariable(_ bytes: [UInt8]) -> [[UInt8]] {
        guard size > 1 else { return [bytes] }
        let lengths = allGather(words: [UInt64(bytes.count)]).map { Int($0[0]) }
        let longest = lengths.max() ?? 0
        let all = allGather(bytes + [UInt8](repeating: 0, count: longest - bytes.count))
        return zip(all, lengths).map { Array($0.0.prefix($0.1)) }
    }

    /// Every rank's `value`, in rank order (JSON between the ranks).
    public func allGather<T: Codable>(_ value: T) throws -> [T] {
        guard size > 1 else { return [value] }
        return try allGatherVariable(Array(try JSONEncoder().encode(value))).map { try JSONDecoder().decode(T.self, from: Data($0)) }
    }

    /// "rank 1 of 4" (for messages).
    public var rankDescription: String { "rank \(rank) of \(size)" }
}

/// The communicator in effect.
public enum Distribution {
    @TaskLocal static var bound: Communicator?

    /// The innermost `Communicator.run`, else one process.
    public static var current: Communicator { bound ?? SingleProcess.instance }

    /// The environment variable that names the MPI library to load (default `libmpi.so.40`,
    /// Open MPI 4 and 5's soname).
    public static let libraryVariable = "TRANSLATE_LIBMPI"

    /// Whether this process was started by Open MPI's `mpirun` (which sets `OMPI_COMM_WORLD_SIZE`).
    public static func startedByMPIRun(_ environment: [String: String]) -> Bool {
        environment["OMPI_COMM_WORLD_SIZE"] != nil
    }

    /// The positions of rank `rank`'s shard of `count` items split over `size` ranks, as
    /// PyTorch's DistributedSampler (drop_last false): the list is padded to a multiple of
    /// `size` by repeating its first items, and rank r takes positions r, r + size, ...; every
    /// rank gets ceil(count / size) positions. A single rank gets 0..<count.
    public static func shardPositions(count: Int, rank: Int, size: Int) -> [Int] {
        precondition(size >= 1 && (0..<size).contains(rank))
        guard size > 1, count > 0 else { return Array(0..<count) }
        let per = (count + size - 1) / size
        return (0..<per).map { (rank + $0 * size) % count }
    }

    /// `items` at `shardPositions`.
    public static func shard<T>(_ items: [T], rank: Int, size: Int) -> [T] {
        shardPositions(count: items.count, rank: rank, size: size).map { items[$0] }
    }

    /// The positions of `count` items that rank `rank` computes when the results are
    /// gathered (no padding: rank r takes r, r + size, ...; some ranks may get one fewer).
    public static func workPositions(count: Int, rank: Int, size: Int) -> [Int] {
        Array(stride(from: rank, to: count, by: size))
    }
}

/// One process: every collective is the identity.
public final class SingleProcess: Communicator, @unchecked Sendable {
    static let instance = SingleProcess()
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {}
    public func allGather(_ bytes: [UInt8]) -> [[UInt8]] { [bytes] }
    public func barrier() {}
    public func abort(code: Int32) -> Never { exit(code) }
}

public enum DistributionError: Error, CustomStringConvertible, Equatable {
    case libraryMissing(library: String, reason: String, requestedBy: String)
    case initFailed(String)

    public var description: String {
        switch self {
        case let .libraryMissing(lib, reason, by):
            return "\(by) needs Open MPI's library \(lib), which could not be loaded (\(reason)). Install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev), or name the library with \(Distribution.libraryVariable)=PATH; without --distributed and outside mpirun, translate runs as one process"
        case let .initFailed(why): return "MPI_Init failed: \(why)"
        }
    }
}

/// Open MPI's `MPI_COMM_WORLD`, loaded at run time (`dlopen`): the binary does not link
/// libmpi, so machines without Open MPI build and run everything else. MPI is initialised
/// once per process (`start`) and finalised by `finish()` at exit.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int

    /// Loads the library (`TRANSLATE_LIBMPI`, else `libmpi.so.40`) and initialises MPI.
    /// `requestedBy` names what asked for it in the error ("--distributed", "mpirun").
    public static func start(environment: [String: String], requestedBy: String) throws -> MPICommunicator {
        let lib = environment[Distribution.libraryVariable] ?? "libmpi.so.40"
        var err = [CChar](repeating: 0, count: 512)
        guard tr_mpi_load(lib, &err, Int32(err.count)) == 0 else {
            throw DistributionError.libraryMissing(library: lib, reason: String(cString: err), requestedBy: requestedBy)
        }
        var r: Int32 = 0, s: Int32 = 0
        guard tr_mpi_init(&r, &s) == 0 else { throw DistributionError.initFailed("no rank or size from MPI_COMM_WORLD") }
        return MPICommunicator(rank: Int(r), size: Int(s))
    }

    init(rank: Int, size: Int) { self.rank = rank; self.size = size }

    /// MPI_Finalize (before a normal exit).
    public func finish() { _ = tr_mpi_finalize() }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard let p = buffer.baseAddress, buffer.count > 0 else { return }
        check(tr_mpi_allreduce_sum_float(p, buffer.count), "MPI_Allreduce")
    }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        guard let p = buffer.baseAddress, buffer.count > 0 else { return }
        check(tr_mpi_allreduce_sum_double(p, buffer.count), "MPI_Allreduce")
    }
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {
        guard let p = buffer.baseAddress, buffer.count > 0 else { return }
        check(tr_mpi_bcast_bytes(p, buffer.count, Int32(root)), "MPI_Bcast")
    }
    public func allGather(_ bytes: [UInt8]) -> [[UInt8]] {
        var out = [UInt8](repeating: 0, count: bytes.count * size)
        guard !bytes.isEmpty else { return Array(repeating: [], count: size) }
        let rc = bytes.withUnsafeBytes { s in out.withUnsafeMutableBytes { tr_mpi_allgather_bytes(s.baseAddress, $0.baseAddress, bytes.count) } }
        check(rc, "MPI_Allgather")
        return (0..<size).map { Array(out[$0 * bytes.count..<($0 + 1) * bytes.count]) }
    }
    public func barrier() { check(tr_mpi_barrier(), "MPI_Barrier") }
    public func abort(code: Int32) -> Never {
        tr_mpi_abort(code)
        exit(code)
    }

    private func check(_ rc: Int32, _ what: String) {
        if rc != 0 {
            FileHandle.standardError.write(Data("translate: \(rankDescription): \(what) failed (\(rc))\n".utf8))
            abort(code: 1)
        }
    }
}
