import Foundation
import Tensors
import NN

/// Normalisation layer of the reference networks (`--norm`). The conv biases follow the
/// reference's rule: a conv followed by BatchNorm has no bias; with InstanceNorm (or no
/// norm) it has one.
public enum Norm: String, CaseIterable, Codable {
    case batch, instance, none

    /// Whether convs followed by this norm carry a bias.
    public var useBias: Bool { self != .batch }

    /// BatchNorm2d (affine, running stats), InstanceNorm2d (no affine, no running stats),
    /// or `NoNorm` (a parameter-free identity, like the reference's `Identity`, kept so
    /// that the indices of later layers in a `Sequential` do not move).
    public func layer(_ channels: Int) -> Module {
        switch self {
        case .batch: return BatchNorm2d(channels)
        case .instance: return InstanceNorm2d(channels)
        case .none: return NoNorm()
        }
    }
}

/// The identity in a norm slot when `norm == .none` (no parameters, no buffers).
public final class NoNorm: Module {
    override public init() {}
    override public func callAsFunction(_ x: Tensor) throws -> Tensor { x }
}

/// Errors of network construction and of the checks at the network input.
public enum NetworkError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case channelMismatch(network: String, expected: Int, found: Int, shape: [Int])
    case badInputShape(network: String, shape: [Int])

    public var description: String {
        switch self {
        case let .invalidOption(s): return s
        case let .channelMismatch(net, e, f, shape):
            return "\(net): expected an input with \(e) channel\(e == 1 ? "" : "s"), found \(f) (input shape \(shape))"
        case let .badInputShape(net, shape):
            return "\(net): expected a non-empty 4-d input (N, C, H, W), got shape \(shape)"
        }
    }
}

extension NetworkError: LocalizedError {
    public var errorDescription: String? { description }
}

/// Throws unless `x` is (N, channels, H, W) with N, H, W > 0.
func checkInput(_ x: Tensor, channels: Int, network: String) throws {
    guard x.rank == 4, !x.shape.contains(0) else { throw NetworkError.badInputShape(network: network, shape: x.shape) }
    guard x.shape[1] == channels else {
        throw NetworkError.channelMismatch(network: network, expected: channels, found: x.shape[1], shape: x.shape)
    }
}
