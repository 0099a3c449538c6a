import Foundation

/// Values derived from weight tensors for the no-gradient paths (packed panels, Winograd
/// filter transforms), kept between calls while the tensor lives and its `version` is
/// unchanged: inference runs the same weights batch after batch, and re-deriving them was
/// ~7% of U-Net inference. Keyed by tensor identity and kind, checked through a weak
/// reference (a new tensor at a freed one's address never matches); entries of freed tensors
/// are dropped, and the whole cache when it would exceed `limitFloats`. Any write to the
/// weights (an optimiser step, loading a checkpoint) changes `version` and so misses.
public enum PackedWeights {
    private struct Entry {
        weak var tensor: Tensor?
        let version: Int
        let floats: Int
        let value: Any
    }
    private struct Key: Hashable { let id: ObjectIdentifier; let kind: String }
    nonisolated(unsafe) private static var entries: [Key: Entry] = [:]
    nonisolated(unsafe) private static var floats = 0
    private static let lock = NSLock()
    /// Derivations done so far (tests check reuse and invalidation).
    nonisolated(unsafe) static var derivations = 0

    /// `make()` (about `floats` floats) for `weight` as it is now, from the cache when the
    /// same tensor at the same version was derived the same way (`kind`) before, while the
    /// policy's `weightCache` is on; at most `weightCacheFloats` floats are kept.
    static func cached<T>(_ weight: Tensor, kind: String, floats count: Int, policy: ConvPolicy, _ make: () -> T) -> T {
        guard policy.weightCache else { derivations += 1; return make() }
        let limitFloats = policy.weightCacheFloats
        let key = Key(id: ObjectIdentifier(weight), kind: kind)
        lock.lock()
        defer { lock.unlock() }
        if let e = entries[key], e.tensor === weight, e.version == weight.version, let v = e.value as? T { return v }
        derivations += 1
        let v = make()
        if let old = entries.removeValue(forKey: key) { floats -= old.floats }
        for (k, e) in entries where e.tensor == nil { entries[k] = nil; floats -= e.floats }
        if floats + count > limitFloats { entries = [:]; floats = 0 }
        if count <= limitFloats {
            entries[key] = Entry(tensor: weight, version: weight.version, floats: count, value: v)
            floats += count
        }
        return v
    }

    /// Forgets every derived weight.
    public static func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        entries = [:]
        floats = 0
    }
}
