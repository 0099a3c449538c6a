import Foundation

/// Errors a user sees (training, translating, evaluating): each names the file, folder or
/// flag that was wrong.
public enum TranslateError: Error, CustomStringConvertible, Equatable {
    case invalidFlag(flag: String, reason: String)
    case runExists(path: String)
    case notFound(path: String, what: String)
    case badModel(path: String, reason: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidFlag(f, r): return "\(f): \(r)"
        case let .runExists(p): return "\(p) already holds a training run; pass --resume to continue it or choose another --name"
        case let .notFound(p, w): return "\(p): \(w) not found"
        case let .badModel(p, r): return "\(p): \(r)"
        case let .io(p, r): return "\(p): \(r)"
        }
    }
}

extension TranslateError: LocalizedError { public var errorDescription: String? { description } }

/// Writes text through a temporary file and a rename.
public func writeText(_ text: String, to url: URL) throws {
    do { try Data(text.utf8).write(to: url, options: .atomic) } catch {
        throw TranslateError.io(path: url.path, reason: "cannot write: \(ioReason(error))")
    }
}

/// Writes `s` to standard error; a failing stderr (a full disk, `/dev/full`, a closed pipe)
/// loses the text but never stops the program (FileHandle.write would trap).
public func writeStderr(_ s: String) {
    _ = s.withCString { fputs($0, stderr) }
    fflush(stderr)
}

public func stderrLine(_ s: String) { writeStderr(s + "\n") }

/// Why an I/O operation failed, in words: the POSIX reason (strerror) where the error carries
/// one, instead of "The operation could not be completed" or a bare Cocoa error code.
public func ioReason(_ error: Error) -> String {
    let ns = error as NSError
    var e: NSError? = ns
    while let cur = e {
        if cur.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(cur.code))) }
        e = cur.userInfo[NSUnderlyingErrorKey] as? NSError
    }
    switch (ns.domain, ns.code) {
    case (NSCocoaErrorDomain, NSFileWriteOutOfSpaceError): return "no space left on device"
    case (NSCocoaErrorDomain, NSFileWriteVolumeReadOnlyError): return "read-only file system"
    case (NSCocoaErrorDomain, NSFileWriteNoPermissionError), (NSCocoaErrorDomain, NSFileReadNoPermissionError): return "permission denied"
    case (NSCocoaErrorDomain, NSFileWriteFileExistsError): return "a file of that name exists"
    case (NSCocoaErrorDomain, NSFileNoSuchFileError), (NSCocoaErrorDomain, NSFileReadNoSuchFileError): return "no such file or folder"
    case (NSCocoaErrorDomain, NSFileWriteUnknownError): return "the write failed (a file-size limit or a full disk?)"
    default: return ns.localizedDescription
    }
}

/// The name of a page's PNG copy of an image with relative path `rel`: `rel` itself when it
/// is a PNG, else `rel` + ".png" (so `x.jpg` and `x.png` of one folder stay apart).
public func pageImageName(_ rel: String) -> String {
    (rel as NSString).pathExtension.lowercased() == "png" ? rel : rel + ".png"
}

/// The path `url` names once every symbolic link in it is followed, also when its last
/// components do not exist yet (an output about to be written): the deepest existing
/// ancestor is resolved and the rest appended.
public func resolvedPath(_ url: URL) -> String {
    var head = url.standardizedFileURL
    var tail: [String] = []
    while !FileManager.default.fileExists(atPath: head.path) && head.pathComponents.count > 1 {
        tail.insert(head.lastPathComponent, at: 0)
        head.deleteLastPathComponent()
    }
    var out = head.resolvingSymlinksInPath()
    for t in tail { out.appendPathComponent(t) }
    return out.standardizedFileURL.path
}

/// Refuses an output file that is (through links too) the input it is made from.
public func refuseOverwriting(_ output: URL, input: URL, flag: String) throws {
    if resolvedPath(output) == resolvedPath(input) {
        throw TranslateError.invalidFlag(flag: flag, reason: "\(output.path) is the input \(input.path) itself; writing it would destroy the source. Choose another file")
    }
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: output.path, isDirectory: &isDir), isDir.boolValue {
        throw TranslateError.invalidFlag(flag: flag, reason: "\(output.path) is a folder; give the file to write")
    }
}
