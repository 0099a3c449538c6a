import XCTest
import Foundation
import ArgumentParser
import TestSupport
@testable import TranslateCLI

/// The whole help text of every command, against Tests/Fixtures/help/<command>.txt (as
/// ArgumentParser's own examples test theirs). After a deliberate change of flags or help,
/// regenerate with TRANSLATE_UPDATE_HELP=1 swift test --filter HelpSnapshotTests and review
/// the diff.
final class HelpSnapshotTests: XCTestCase {
    static let commands: [(String, ParsableCommand.Type)] = [
        ("translate", TranslateCommand.self), ("train", Train.self),
        ("train-pix2pix", TrainPix2Pix.self), ("train-colorization", TrainColorization.self), ("train-cyclegan", TrainCycleGAN.self),
        ("train-cimle", TrainCIMLE.self), ("train-cimle-colorization", TrainCIMLEColorization.self),
        ("train-cimle-sr", TrainCIMLESR.self), ("train-cimle-layout", TrainCIMLELayout.self), ("train-bicyclegan", TrainBicycleGAN.self),
        ("apply", Apply.self), ("eval", Eval.self), ("export", Export.self), ("import", Import.self),
        ("info", Info.self), ("list", List.self),
    ]

    func testHelpTexts() throws {
        let dir = fixturesURL.appendingPathComponent("help")
        let update = ProcessInfo.processInfo.environment["TRANSLATE_UPDATE_HELP"] == "1"
        if update { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        for (name, command) in Self.commands {
            let text = TranslateCommand.helpMessage(for: command, columns: 100) + "\n"
            let file = dir.appendingPathComponent(name + ".txt")
            if update { try text.write(to: file, atomically: true, encoding: .utf8); continue }
            let want = try String(contentsOf: file, encoding: .utf8)
            if text != want {
                let a = text.split(separator: "\n", omittingEmptySubsequences: false), b = want.split(separator: "\n", omittingEmptySubsequences: false)
                let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
                XCTFail("help of \(name) differs from \(file.path) at line \(i + 1):\n  now:  \(i < a.count ? String(a[i]) : "<end>")\n  was:  \(i < b.count ? String(b[i]) : "<end>")\n(regenerate with TRANSLATE_UPDATE_HELP=1 if the change is meant)")
            }
        }
    }

    /// Every subcommand of the tree is in the list above, so none goes unchecked.
    func testEveryCommandHasASnapshot() {
        func all(_ c: ParsableCommand.Type) -> [ParsableCommand.Type] { [c] + c.configuration.subcommands.flatMap(all) }
        let listed = Set(Self.commands.map { ObjectIdentifier($0.1) })
        for c in all(TranslateCommand.self) {
            XCTAssertTrue(listed.contains(ObjectIdentifier(c)), "\(c) has no help snapshot")
        }
    }
}
