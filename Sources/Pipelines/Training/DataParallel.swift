import Foundation
import Tensors
import NN
import Datasets

/// Data-parallel training over `Distribution.current` (as PyTorch's DDP and Horovod):
/// rank 0's state is broadcast at the start and after a resume, each epoch's shuffled order
/// is sharded (`Distribution.shardPositions`), `Adam.step` averages the gradients over the
/// ranks, losses are logged as the mean over ranks, and only rank 0 writes files. With one
/// rank nothing here changes a bit of the single-process run.
extension GANTrainer {
    /// Rank 0's parameters, buffers (BatchNorm running statistics) and optimiser moments
    /// and step counts on every rank.
    func broadcastState() {
        let comm = communicator
        guard comm.size > 1 else { return }
        for (_, m) in model.modules {
            for (_, t) in m.stateDict() { comm.broadcast(&t.data) }
        }
        for (_, o) in model.optimizers { o.broadcastState(over: comm) }
    }

    /// This rank's generator for training steps (dropout masks, CycleGAN's history pools):
    /// from (seed, rank), so that ranks draw different masks; rank 0 of one process keeps
    /// the trainer's own generator (no change to single-process runs).
    static func rankRNG(seed: UInt64, rank: Int) -> RNG {
        RNG(seed: seed ^ (UInt64(rank) &* 0x9E37_79B9_7F4A_7C15) ^ 0x5241_4E4B_5247_2121)  // "RANKRG!!"
    }

    /// Gives every Dropout of the models of ranks above 0 its own stream (from its rank-0
    /// state and the rank): replicas then draw different masks, as DDP's per-process seeds.
    func reseedDropout(rank: Int) {
        guard rank > 0 else { return }
        for (_, m) in model.modules {
            let states = m.rngStates.map { ($0.0, RNG(seed: $0.1.stateWords.reduce(UInt64(rank)) { ($0 &* 0x100_0000_01B3) ^ $1 })) }
            m.setRNGStates(Dictionary(states, uniquingKeysWith: { a, _ in a }))
        }
    }

    /// A checksum of every parameter's and buffer's bits (FNV-1a over the words).
    func replicaChecksum() -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for (_, m) in model.modules {
            for (_, t) in m.stateDict() {
                t.data.withUnsafeBufferPointer { b in
                    for v in b { h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01B3 }
                }
            }
        }
        return h
    }

    /// `--check-replicas`: every rank's checksum must equal rank 0's; else an error naming
    /// the ranks that differ.
    func checkReplicas(after what: String) throws {
        let comm = communicator
        guard comm.size > 1 else { return }
        let sums = comm.allGather(words: [replicaChecksum()]).map { $0[0] }
        let differ = sums.indices.filter { sums[$0] != sums[0] }
        guard differ.isEmpty else {
            throw TranslateError.badModel(path: runDir.path, reason: "--check-replicas: after \(what) the parameters of rank(s) \(differ.map(String.init).joined(separator: ", ")) differ from rank 0's (checksums \(sums.map { String($0, radix: 16) }.joined(separator: " ")))")
        }
    }

    /// The losses of one step as the mean over ranks, and whether any rank was asked to stop.
    func combine(_ losses: [Float], stopRequested: Bool) -> ([Float], Bool) {
        let comm = communicator
        guard comm.size > 1 else { return (losses, stopRequested) }
        var v = losses + [stopRequested ? 1 : 0]
        comm.allReduceMean(&v)
        return (Array(v.dropLast()), v.last! > 0)
    }

    /// Every rank's training generator, gathered for the checkpoint ("rank_rngs": 4 words
    /// per rank, in hexadecimal, ranks separated by ';'); empty with one rank.
    func gatheredRankRNGs() -> String {
        let comm = communicator
        guard comm.size > 1 else { return "" }
        return comm.allGather(words: stepRNG.stateWords).map { Checkpoint.encode(RNG(stateWords: $0)) }.joined(separator: ";")
    }

    /// After a resume: this rank's generator from the checkpoint (same number of ranks),
    /// else a fresh one from (seed, rank) with a note.
    func restoreRankRNG(_ meta: [String: String], savedRanks: Int) throws {
        let comm = communicator
        if savedRanks != comm.size {
            if startBatch > 0 {
                throw TranslateError.invalidFlag(flag: "--resume", reason: "the checkpoint stopped in the middle of an epoch of a job with \(savedRanks) rank(s); resume it with mpirun -np \(savedRanks) (a different number of ranks can continue only from the end of an epoch)")
            }
            resumeNotes.append("number of ranks \(savedRanks) -> \(comm.size): the effective batch is now \(comm.size) x --batch-size; per-rank random streams restart from (seed, rank)")
        }
        guard comm.size > 1 else { return }
        let parts = meta["rank_rngs"]?.split(separator: ";").map(String.init) ?? []
        if savedRanks == comm.size, parts.count == comm.size, let r = Checkpoint.decodeRNG(parts[comm.rank]) {
            stepRNG = r
        } else {
            stepRNG = Self.rankRNG(seed: options.seed &+ UInt64(startEpoch), rank: comm.rank)
        }
    }
}
