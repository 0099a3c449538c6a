import Foundation
import ImageIO

/// How a dataset folder is laid out, found from its folders before anything is read, so that
/// a wrong layout is refused instead of silently trained on.
///
/// Paired data (pix2pix), for `--dataroot R --phase p`:
/// 1. The split folder S is `R/p` when it exists; otherwise R itself when R directly holds
///    images or `A/` and `B/` (the user named the split folder). `R/pA` + `R/pB` without
///    `R/p` is CycleGAN's layout and is refused, naming `translate train cyclegan`; any other
///    R is refused listing the splits it holds.
/// 2. In S: `A/` + `B/` means paired folders (matching names); images directly in S mean
///    aligned `[A | B]` files, each about twice as wide as high (`ImageDataset` checks every
///    file when it loads it; the first one is checked here). Subfolders of an aligned split
///    are not searched.
///
/// Unpaired data (CycleGAN): `R/pA` + `R/pB`; a paired layout is refused naming
/// `translate train pix2pix`.
public struct DatasetLayout: Equatable, CustomStringConvertible {
    /// `.aligned`, `.paired` or `.unaligned`.
    public var mode: DatasetMode
    /// What `ImageDataset(roots:)` reads: the split folder (aligned, paired) or R (unaligned).
    public var folder: URL
    /// Whether the mode was detected (true) or given.
    public var detected: Bool
    /// Further folders read with `folder` (single mode: a colorization set's second domain).
    public var others: [URL] = []

    public init(mode: DatasetMode, folder: URL, detected: Bool) {
        self.mode = mode; self.folder = folder; self.detected = detected
    }

    /// Every folder `ImageDataset(roots:)` reads.
    public var folders: [URL] { [folder] + others }

    public var description: String {
        let how = detected ? "detected" : "as given"
        switch mode {
        case .paired: return "paired folders A/ B/ in \(folder.path) (\(how))"
        case .aligned: return "aligned [A | B] images in \(folder.path) (\(how))"
        case .unaligned: return "unpaired folders in \(folder.path) (\(how))"
        case .single, .auto: return "images in " + folders.map(\.path).joined(separator: " and ")
        }
    }

    /// The accepted width / height of an aligned image: 2 within 12.5 %.
    public static let alignedRatio: ClosedRange<Double> = 1.75...2.25

    static func isDir(_ u: URL) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: u.path, isDirectory: &d) && d.boolValue
    }

    /// Visible entries of `dir` (names not starting with "."), sorted.
    static func entries(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Image files directly in `dir` (not in subfolders), sorted.
    static func directImages(_ dir: URL) -> [URL] {
        entries(dir).map { dir.appendingPathComponent($0) }.filter { ImageFile.isImage($0) && !isDir($0) }
    }

    static func hasPairFolders(_ dir: URL) -> Bool {
        isDir(dir.appendingPathComponent("A")) && isDir(dir.appendingPathComponent("B"))
    }

    /// Subfolders of `root` that hold a split: images directly, or A/ and B/.
    public static func splits(in root: URL) -> [String] {
        entries(root).filter { name in
            let u = root.appendingPathComponent(name)
            return isDir(u) && !["A", "B"].contains(name) && (hasPairFolders(u) || !directImages(u).isEmpty)
        }
    }

    /// "train/, val/" or "nothing" for messages.
    static func listing(_ dir: URL) -> String {
        let e = entries(dir).prefix(12).map { isDir(dir.appendingPathComponent($0)) ? $0 + "/" : $0 }
        return e.isEmpty ? "nothing" : e.joined(separator: ", ") + (entries(dir).count > 12 ? ", ..." : "")
    }

    /// Paired data under `root` for `phase`; `mode` is `.auto` (detect), `.aligned` or `.paired`.
    /// `cycleGANCommand` is the command suggested for an unpaired layout.
    public static func paired(root: URL, phase: String, mode: DatasetMode = .auto,
                              cycleGANCommand: String = "translate train cyclegan") throws -> DatasetLayout {
        guard FileManager.default.fileExists(atPath: root.path) else { throw DatasetError.missingRoot(path: root.path) }
        guard [.auto, .aligned, .paired].contains(mode) else {
            throw DatasetError.invalidOptions("--dataset-mode must be auto, aligned or paired for paired data, got \(mode.rawValue)")
        }
        guard isDir(root) else {
            throw DatasetError.missingFolder(path: root.path, reason: "a paired dataset must be a folder (holding \(phase)/, or A/ and B/, or aligned [A | B] images)")
        }
        let phaseDir = root.appendingPathComponent(phase)
        let split: URL
        if isDir(phaseDir) {
            split = phaseDir
        } else if hasPairFolders(root) || !directImages(root).isEmpty {
            split = root
        } else if isDir(root.appendingPathComponent(phase + "A")) && isDir(root.appendingPathComponent(phase + "B")) {
            throw DatasetError.wrongLayout(path: root.path, reason: "this is an unpaired (CycleGAN) layout with \(phase)A/ and \(phase)B/, but this command needs pairs; train on unpaired images with `\(cycleGANCommand) --dataroot \(root.path)`, or lay pairs out as \(phase)/A/ and \(phase)/B/ (matching names) or as aligned [A | B] images in \(phase)/")
        } else {
            let s = splits(in: root)
            let what = s.isEmpty ? "it holds \(listing(root))" : "its splits are " + s.map { $0 + "/" }.joined(separator: ", ") + " (choose one with --phase)"
            throw DatasetError.wrongLayout(path: root.path, reason: "no \(phase)/ split, no A/ and B/ folders and no images directly in it; \(what)")
        }
        let pairFolders = hasPairFolders(split)
        let images = directImages(split)
        let chosen: DatasetMode
        switch mode {
        case .paired: chosen = .paired
        case .aligned: chosen = .aligned
        default:
            if pairFolders { chosen = .paired } else if !images.isEmpty { chosen = .aligned } else {
                throw DatasetError.wrongLayout(path: split.path, reason: "holds neither A/ and B/ folders (paired) nor images (aligned [A | B]); it holds \(listing(split))")
            }
        }
        if chosen == .paired && !pairFolders {
            throw DatasetError.missingFolder(path: split.appendingPathComponent(isDir(split.appendingPathComponent("A")) ? "B" : "A").path,
                                             reason: "no such folder; a paired dataset holds A/ and B/ with matching file names")
        }
        if chosen == .aligned {
            guard let first = images.first else {
                throw DatasetError.wrongLayout(path: split.path, reason: "no images directly in it for aligned [A | B] mode (subfolders are not searched); it holds \(listing(split))")
            }
            let img: Image
            do { img = try ImageFile.read(first).image } catch let e as ImageIOError { throw DatasetError.image(e) }
            try checkAligned(path: first.path, width: img.width, height: img.height)
        }
        return DatasetLayout(mode: chosen, folder: split, detected: mode == .auto)
    }

    /// Unpaired data: `root/<phase>A` and `root/<phase>B`.
    public static func unpaired(root: URL, phase: String, pix2pixCommand: String = "translate train pix2pix") throws -> DatasetLayout {
        guard FileManager.default.fileExists(atPath: root.path) else { throw DatasetError.missingRoot(path: root.path) }
        let a = root.appendingPathComponent(phase + "A"), b = root.appendingPathComponent(phase + "B")
        if isDir(a) && isDir(b) { return DatasetLayout(mode: .unaligned, folder: root, detected: true) }
        let phaseDir = root.appendingPathComponent(phase)
        if hasPairFolders(root) || hasPairFolders(phaseDir) || (isDir(phaseDir) && !directImages(phaseDir).isEmpty) {
            throw DatasetError.wrongLayout(path: root.path, reason: "this is a paired layout (\(hasPairFolders(root) || hasPairFolders(phaseDir) ? "A/ and B/ folders" : "aligned images in \(phase)/")), but unpaired training needs \(phase)A/ and \(phase)B/; train on pairs with `\(pix2pixCommand) --dataroot \(root.path)`")
        }
        let missing = isDir(a) ? b : a
        throw DatasetError.missingFolder(path: missing.path, reason: "no such folder; an unaligned dataset holds \(phase)A/ and \(phase)B/ (phase '\(phase)'); \(root.path) holds \(listing(root))")
    }

    /// Refuses an aligned image that is not about twice as wide as high.
    public static func checkAligned(path: String, width: Int, height: Int) throws {
        let r = Double(width) / Double(max(height, 1))
        guard alignedRatio.contains(r) else { throw DatasetError.notSideBySide(path: path, width: width, height: height) }
    }

    /// "paired folders A/ B/ in x (detected): 30 pairs" for the start of a run.
    public func datasetSummary(_ d: ImageDataset) -> String {
        switch mode {
        case .aligned, .paired: return "\(self): \(d.count) pairs"
        case .unaligned: return "\(self): \(d.count(.a)) images in A, \(d.count(.b)) in B"
        case .single, .auto: return "\(self): \(d.count) images"
        }
    }
}
