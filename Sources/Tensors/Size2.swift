/// A (height, width) pair for kernel sizes, strides, paddings and dilations.
/// An integer literal means the same value for both sides, as in PyTorch.
public struct Size2: Equatable, ExpressibleByIntegerLiteral, CustomStringConvertible, Codable {
    public var h: Int, w: Int
    public init(_ h: Int, _ w: Int) { self.h = h; self.w = w }
    public init(_ both: Int) { self.h = both; self.w = both }
    public init(integerLiteral value: Int) { self.init(value) }
    public var description: String { h == w ? "\(h)" : "(\(h), \(w))" }
}

@inline(__always) func checkRank(_ op: String, _ t: Tensor, _ r: Int, _ what: String = "input") throws {
    guard t.rank == r else {
        throw TensorError.invalidArgument("\(op): expected a \(r)-d \(what), got shape \(t.shape)")
    }
}
