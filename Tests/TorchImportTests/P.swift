import XCTest
final class PTorchImport: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
