import XCTest
final class PTensorsTests: XCTestCase { func testNothing() {} }
