import XCTest
final class PDatasetsTests: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
