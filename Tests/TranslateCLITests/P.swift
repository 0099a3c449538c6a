import XCTest
final class PTranslateCLITests: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
