import Foundation

/// Errors of the image metrics and the perceptual distance: each says which input was wrong.
public enum MetricsError: Error, CustomStringConvertible, Equatable {
    case mismatch(String)
    case tooSmall(String)
    public var description: String {
        switch self {
        case .mismatch(let s): return s
        case .tooSmall(let s): return s
        }
    }
}
