import Foundation

/// An exclusive lock on a run folder (`flock` on `<run>/.lock`) for as long as the value
/// lives, so two trainings never write one run. The holder's process id is written into the
/// file for the message a second writer gets. The kernel releases a `flock` when its process
/// ends, however it ends, so a lock left by a killed process never blocks.
public final class RunLock {
    public let url: URL
    private let fd: Int32

    public init(folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        url = folder.appendingPathComponent(".lock")
        fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw TranslateError.io(path: url.path, reason: "cannot create the run's lock file: \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOf: url, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw TranslateError.io(path: folder.path, reason: "another training is writing this run (process \(holder.isEmpty ? "unknown" : holder)); wait for it to finish or stop it, or choose another --name")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { write(fd, $0, strlen($0)) }
    }

    deinit {
        _ = ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
    }
}
