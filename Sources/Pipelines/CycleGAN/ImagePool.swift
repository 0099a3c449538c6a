import Tensors

/// The CycleGAN history buffer (the reference's `ImagePool`, Shrivastava et al. 2017): the
/// discriminators see a mix of the newest fakes and fakes from earlier steps.
///
/// `query` goes through the batch image by image: while fewer than `size` images are stored,
/// the image is stored and returned; once full, with probability 0.5 a stored image (uniform
/// random index) is returned and the new one takes its place, otherwise the new image is
/// returned. Random draws per image once full, from the caller's generator: `nextDouble()`
/// (swap iff > 0.5, as the reference's `random.uniform(0, 1) > 0.5`), then `nextInt(size)`
/// only when swapping. So the first `size` queried images come back unchanged and use no
/// randomness. `size` 0 disables the pool.
///
/// Everything stored and returned is detached (no gradient flows into the generators
/// through the pool; it feeds only the discriminator update).
///
/// For exact resume, `images` (each `[1, C, H, W]`, in slot order) can be read and set, or
/// saved as one `[count, C, H, W]` tensor with `stateTensor()` / `restore(_:)`.
public final class ImagePool {
    /// Capacity (the reference's `pool_size`, 50 for CycleGAN).
    public let size: Int
    /// The stored images in slot order, each `[1, C, H, W]` and detached; at most `size`.
    public var images: [Tensor] {
        didSet { precondition(images.count <= size, "ImagePool: \(images.count) images set on a pool of size \(size)") }
    }

    public init(size: Int = 50) {
        precondition(size >= 0, "ImagePool: size must be at least 0, got \(size)")
        self.size = size
        images = []
    }

    public var isFull: Bool { images.count >= size }

    /// (N, C, H, W) -> (N, C, H, W): per image the new one or a stored one (see the type's
    /// description). Detached. With `size` 0 the input values come back unchanged (detached).
    public func query(_ batch: Tensor, rng: inout RNG) throws -> Tensor {
        guard size > 0 else { return batch.detach() }
        guard batch.rank == 4, batch.shape[0] >= 1 else {
            throw TensorError.invalidArgument("ImagePool.query: expected a non-empty (N, C, H, W) batch, got shape \(batch.shape)")
        }
        var out: [Tensor] = []
        out.reserveCapacity(batch.shape[0])
        for i in 0..<batch.shape[0] {
            // (1, C, H, W)
            let image = try narrow(batch, dim: 0, start: i, length: 1).detach()
            if images.count < size {
                images.append(image)
                out.append(image)
            } else if rng.nextDouble() > 0.5 {
                let slot = rng.nextInt(size)
                out.append(images[slot])
                images[slot] = image
            } else {
                out.append(image)
            }
        }
        return out.count == 1 ? out[0] : try cat(out, dim: 0).detach()
    }

    /// The stored images as one `[count, C, H, W]` tensor (nil when empty), for checkpoints.
    public func stateTensor() throws -> Tensor? {
        if images.isEmpty { return nil }
        return try cat(images, dim: 0).detach()
    }

    /// Replaces the stored images by the `count` images of a `[count, C, H, W]` tensor from
    /// `stateTensor()` (nil empties the pool). Throws if `count > size` or the rank is not 4.
    public func restore(_ state: Tensor?) throws {
        guard let t = state else { images = []; return }
        guard t.rank == 4, t.shape[0] <= size else {
            throw TensorError.invalidArgument("ImagePool.restore: expected (count <= \(size), C, H, W), got shape \(t.shape)")
        }
        images = try (0..<t.shape[0]).map { try narrow(t, dim: 0, start: $0, length: 1).detach() }
    }
}
