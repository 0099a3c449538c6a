import XCTest
final class PPipelinesTests: XCTestCase { func testNothing() {} }
