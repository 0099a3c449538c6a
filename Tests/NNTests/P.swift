import XCTest
final class PNNTests: XCTestCase { func testNothing() {} }
