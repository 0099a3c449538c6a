import Foundation
import ImageIO
import Tensors

/// A dataset file: its path relative to the root it was found in (outputs mirror it) and URL.
struct DatasetFile {
    let relative: String
    let url: URL

    /// The image files of `roots` (folders, searched recursively or not, and files). With
    /// several roots, each folder's name is kept in front of its files' relative paths.
    static func list(_ roots: [URL], recursive: Bool, skipped: inout [String]) throws -> [DatasetFile] {
        var files: [DatasetFile] = []
        for root in roots {
            if try ImageDataset.isFolder(root) {
                let prefix = roots.count > 1 ? root.standardizedFileURL.lastPathComponent + "/" : ""
                files += try ImageDataset.listImages(root, recursive: recursive, skipped: &skipped).map { DatasetFile(relative: prefix + $0.0, url: $0.1) }
            } else {
                guard ImageFile.isImage(root) else { throw DatasetError.notAnImage(path: root.path) }
                files.append(DatasetFile(relative: root.lastPathComponent, url: root))
            }
        }
        return files
    }
}

/// Where a dataset's items come from, one type per mode (`SingleSource`, `AlignedSource`,
/// `PairedSource`, `UnalignedSource`): how the roots are listed, how many items there are,
/// and how item `index` is decoded into its A and B sides (before `direction`).
/// `ImageDataset` does everything that is the same for every mode: direction, channels,
/// the reference's preprocessing, the tasks.
protocol DatasetSource {
    /// Items per epoch.
    var count: Int { get }
    /// Files of one domain (unaligned) or sides of items (0 for B when there is none).
    func count(_ domain: ImageDataset.Domain) -> Int
    /// Path of item `index` on `domain`'s side relative to its root.
    func relativePath(_ domain: ImageDataset.Domain, _ index: Int) -> String
    /// The file holding `domain`'s side of item `index`.
    func path(_ domain: ImageDataset.Domain, _ index: Int) -> String
    /// The A and B images of item `index` (B nil without one) and their paths. Unaligned:
    /// A[i % |A|] and B[i % |B|].
    func sides(_ index: Int, read: (URL) throws -> Image) throws -> (a: Image, b: Image?, pathA: String, pathB: String?)
    /// `domain`'s image of item `index` (unaligned: file `index` of the domain) and its path.
    func image(_ domain: ImageDataset.Domain, _ index: Int, read: (URL) throws -> Image) throws -> (Image, String)
    /// Every file, for the check that no two outputs share a name (nil: names may repeat
    /// across domains, as in unaligned sets).
    var outputNames: [(String, URL)]? { get }
    /// The first `m` items (unaligned: of each domain), as the reference's `max_dataset_size`.
    func prefix(_ m: Int) -> Self
    /// Sources whose two sides are unrelated files (unaligned) give the files of training
    /// sample `index` here, drawing B from `rng` unless `serialB`; nil for sources whose
    /// sides are one item, preprocessed together.
    func independentFiles(_ index: Int, serialB: Bool, rng: inout RNG) -> (a: URL, b: URL)?
}

extension DatasetSource {
    func independentFiles(_ index: Int, serialB: Bool, rng: inout RNG) -> (a: URL, b: URL)? { nil }

    func image(_ domain: ImageDataset.Domain, _ index: Int, read: (URL) throws -> Image) throws -> (Image, String) {
        let s = try sides(index, read: read)
        guard domain == .a else {
            guard let b = s.b, let pb = s.pathB else { throw DatasetError.invalidOptions("internal: no B side") }
            return (b, pb)
        }
        return (s.a, s.pathA)
    }
}

/// Single mode: image files, folders searched recursively; no B side.
struct SingleSource: DatasetSource {
    let files: [DatasetFile]
    init(roots: [URL], skipped: inout [String]) throws { files = try DatasetFile.list(roots, recursive: true, skipped: &skipped) }
    init(files: [DatasetFile]) { self.files = files }
    var count: Int { files.count }
    func count(_ domain: ImageDataset.Domain) -> Int { domain == .a ? files.count : 0 }
    func relativePath(_ domain: ImageDataset.Domain, _ index: Int) -> String { files[index].relative }
    func path(_ domain: ImageDataset.Domain, _ index: Int) -> String { files[index].url.path }
    func sides(_ index: Int, read: (URL) throws -> Image) throws -> (a: Image, b: Image?, pathA: String, pathB: String?) {
        (try read(files[index].url), nil, files[index].url.path, nil)
    }
    var outputNames: [(String, URL)]? { files.map { ($0.relative, $0.url) } }
    func prefix(_ m: Int) -> SingleSource { SingleSource(files: Array(files.prefix(m))) }
}

/// Aligned mode: `[A | B]` files side by side, each about twice as wide as high; only the
/// split folder's own images (no descent into unrelated subfolders).
struct AlignedSource: DatasetSource {
    let files: [DatasetFile]
    init(roots: [URL], skipped: inout [String]) throws { files = try DatasetFile.list(roots, recursive: false, skipped: &skipped) }
    init(files: [DatasetFile]) { self.files = files }
    var count: Int { files.count }
    func count(_ domain: ImageDataset.Domain) -> Int { files.count }
    func relativePath(_ domain: ImageDataset.Domain, _ index: Int) -> String { files[index].relative }
    func path(_ domain: ImageDataset.Domain, _ index: Int) -> String { files[index].url.path }
    func sides(_ index: Int, read: (URL) throws -> Image) throws -> (a: Image, b: Image?, pathA: String, pathB: String?) {
        let path = files[index].url.path
        let ab = try read(files[index].url)
        try DatasetLayout.checkAligned(path: path, width: ab.width, height: ab.height)
        guard ab.width % 2 == 0 else { throw DatasetError.oddWidth(path: path, width: ab.width) }
        let half = ab.width / 2
        return (try ab.cropped(x: 0, y: 0, width: half, height: ab.height), try ab.cropped(x: half, y: 0, width: half, height: ab.height), path, path)
    }
    var outputNames: [(String, URL)]? { files.map { ($0.relative, $0.url) } }
    func prefix(_ m: Int) -> AlignedSource { AlignedSource(files: Array(files.prefix(m))) }
}

/// Paired mode: `A/<rel>` with `B/<rel>` of each root, matched by relative path without
/// extension; every file must have its partner, and the two must have one size.
struct PairedSource: DatasetSource {
    let a: [DatasetFile], b: [URL]
    init(roots: [URL], skipped: inout [String]) throws {
        var a: [DatasetFile] = [], b: [URL] = []
        for root in roots {
            guard try ImageDataset.isFolder(root) else {
                throw DatasetError.missingFolder(path: root.path, reason: "a paired dataset must be a folder holding A/ and B/")
            }
            for (rel, ua, ub) in try Self.pairs(in: root, skipped: &skipped) { a.append(DatasetFile(relative: rel, url: ua)); b.append(ub) }
        }
        self.a = a; self.b = b
    }
    init(a: [DatasetFile], b: [URL]) { self.a = a; self.b = b }
    var count: Int { a.count }
    func count(_ domain: ImageDataset.Domain) -> Int { a.count }
    func relativePath(_ domain: ImageDataset.Domain, _ index: Int) -> String { a[index].relative }
    func path(_ domain: ImageDataset.Domain, _ index: Int) -> String { domain == .a ? a[index].url.path : b[index].path }
    func sides(_ index: Int, read: (URL) throws -> Image) throws -> (a: Image, b: Image?, pathA: String, pathB: String?) {
        let pa = a[index].url.path, pb = b[index].path
        let ia = try read(a[index].url), ib = try read(b[index])
        guard ia.width == ib.width, ia.height == ib.height else {
            throw DatasetError.pairSizeMismatch(pathA: pa, widthA: ia.width, heightA: ia.height, pathB: pb, widthB: ib.width, heightB: ib.height)
        }
        return (ia, ib, pa, pb)
    }
    var outputNames: [(String, URL)]? { a.map { ($0.relative, $0.url) } }
    func prefix(_ m: Int) -> PairedSource { PairedSource(a: Array(a.prefix(m)), b: Array(b.prefix(m))) }

    /// Pairs `root/A/<rel>` with `root/B/<rel>`, matching relative paths without extension.
    static func pairs(in root: URL, skipped: inout [String]) throws -> [(String, URL, URL)] {
        var sides: [[String: (String, URL)]] = []
        for side in ["A", "B"] {
            let dir = root.appendingPathComponent(side)
            guard try ImageDataset.isFolder(dir, missingOK: true) else {
                throw DatasetError.missingFolder(path: dir.path, reason: "no such folder; a paired dataset holds A/ and B/ with matching file names")
            }
            var byKey: [String: (String, URL)] = [:]
            for (rel, url) in try ImageDataset.listImages(dir, skipped: &skipped) {
                let key = (rel as NSString).deletingPathExtension
                if let other = byKey[key] { throw DatasetError.ambiguousName(first: other.1.path, second: url.path) }
                byKey[key] = (rel, url)
            }
            sides.append(byKey)
        }
        let (a, b) = (sides[0], sides[1])
        func sorted(_ s: [String]) -> [String] { s.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }
        let onlyA = sorted(a.filter { b[$0.key] == nil }.map { "A/" + $0.value.0 })
        let onlyB = sorted(b.filter { a[$0.key] == nil }.map { "B/" + $0.value.0 })
        if !onlyA.isEmpty || !onlyB.isEmpty { throw DatasetError.unpaired(root: root.path, onlyInA: onlyA, onlyInB: onlyB) }
        return a.values.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }.compactMap { rel, url in
            b[(rel as NSString).deletingPathExtension].map { (rel, url, $0.1) }
        }
    }
}

/// Unaligned mode (CycleGAN): each root holds `<phase>A/` and `<phase>B/`, listed separately;
/// `count` is max(|A|, |B|). A training sample pairs A[i % |A|] with a B drawn by the
/// item's generator (or B[i % |B|] with `serialB`); `load` pairs A[i % |A|] with B[i % |B|].
struct UnalignedSource: DatasetSource {
    let a: [DatasetFile], b: [DatasetFile]
    init(roots: [URL], phase: String, skipped: inout [String]) throws {
        var a: [DatasetFile] = [], b: [DatasetFile] = []
        for root in roots {
            guard try ImageDataset.isFolder(root) else {
                throw DatasetError.missingFolder(path: root.path, reason: "an unaligned dataset must be a folder holding \(phase)A/ and \(phase)B/")
            }
            let (da, db) = try Self.domains(in: root, phase: phase, skipped: &skipped)
            a += da; b += db
        }
        self.a = a; self.b = b
    }
    init(a: [DatasetFile], b: [DatasetFile]) { self.a = a; self.b = b }
    var count: Int { max(a.count, b.count) }
    func count(_ domain: ImageDataset.Domain) -> Int { domain == .a ? a.count : b.count }
    func relativePath(_ domain: ImageDataset.Domain, _ index: Int) -> String { domain == .a ? a[index].relative : b[index].relative }
    func path(_ domain: ImageDataset.Domain, _ index: Int) -> String { domain == .a ? a[index].url.path : b[index].url.path }
    func sides(_ index: Int, read: (URL) throws -> Image) throws -> (a: Image, b: Image?, pathA: String, pathB: String?) {
        let fa = a[index % a.count], fb = b[index % b.count]
        return (try read(fa.url), try read(fb.url), fa.url.path, fb.url.path)
    }
    func image(_ domain: ImageDataset.Domain, _ index: Int, read: (URL) throws -> Image) throws -> (Image, String) {
        let f = domain == .a ? a[index] : b[index]
        return (try read(f.url), f.url.path)
    }
    var outputNames: [(String, URL)]? { nil }
    func prefix(_ m: Int) -> UnalignedSource { UnalignedSource(a: Array(a.prefix(m)), b: Array(b.prefix(m))) }
    func independentFiles(_ index: Int, serialB: Bool, rng: inout RNG) -> (a: URL, b: URL)? {
        (a[index % a.count].url, b[serialB ? index % b.count : rng.nextInt(b.count)].url)
    }

    /// The images of `root/<phase>A` and `root/<phase>B`, each sorted; each folder must exist
    /// and hold at least one image.
    static func domains(in root: URL, phase: String, skipped: inout [String]) throws -> ([DatasetFile], [DatasetFile]) {
        var out: [[DatasetFile]] = []
        for side in ["A", "B"] {
            let dir = root.appendingPathComponent(phase + side)
            guard try ImageDataset.isFolder(dir, missingOK: true) else {
                throw DatasetError.missingFolder(path: dir.path, reason: "no such folder; an unaligned dataset holds \(phase)A/ and \(phase)B/ (phase '\(phase)')")
            }
            var skippedHere: [String] = []
            let files = try ImageDataset.listImages(dir, skipped: &skippedHere)
            skipped += skippedHere
            if files.isEmpty { throw DatasetError.empty(path: dir.path, skipped: skippedHere.count) }
            out.append(files.map { DatasetFile(relative: $0.0, url: $0.1) })
        }
        return (out[0], out[1])
    }
}
