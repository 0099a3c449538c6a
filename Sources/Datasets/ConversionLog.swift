import Foundation
import ImageIO

/// The conversions a dataset made while decoding (alpha dropped, 16-bit scaled, EXIF
/// orientation applied, gray expanded to RGB, ...), collected across the loader's threads so
/// that a command can say each kind once per run and count the rest at the end.
///
/// One per `ImageDataset` (its `conversions`); the command that reads the dataset drains the
/// new lines after each batch (`drainNewLines`) and prints `summary` when it finishes.
public final class ConversionLog: @unchecked Sendable {   // every access holds `lock`
    private let lock = NSLock()
    private var notes = ConversionNotes()
    private var pending: [String] = []

    public init() {}

    /// Records one file's notes (any thread).
    public func record(_ new: [ConversionNote]) {
        guard !new.isEmpty else { return }
        lock.lock(); defer { lock.unlock() }
        pending += notes.record(new)
    }

    /// The "note: FILE: what (said once; ...)" lines of kinds first seen since the last call.
    public func drainNewLines() -> [String] {
        lock.lock(); defer { lock.unlock() }
        let lines = pending
        pending = []
        return lines
    }

    /// All recorded notes so far.
    public var snapshot: ConversionNotes {
        lock.lock(); defer { lock.unlock() }
        return notes
    }

    /// One line per kind with its count, e.g. "alpha channel dropped: 12 files (first: a.png)".
    public var summary: [String] { snapshot.summary }
}
