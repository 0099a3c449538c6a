import XCTest
final class PImageIOTests: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
