import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import Pipelines
import Pages

/// `translate apply --model CYCLEGAN --dataroot DIR`: translates `<phase>A/` with G_A and
/// `<phase>B/` with G_B, maps each result back with the other generator, and reports the
/// cycle reconstruction L1 (0-1 scale, reconstruction rounded to 8 bits) per direction, with
/// an index.html of real | fake | reconstruction rows.
public final class CycleEvalJob {
    public let gA: LoadedGenerator, gB: LoadedGenerator
    public let root: URL, output: URL
    public let phase: String
    public let loadSize: Int?
    public let testMode: TestMode
    public let maxItems: Int?

    public struct Result { public var cycleL1: [String: Double]; public var counts: [String: Int]; public var failed: [String] }

    public convenience init(modelPath: String, dataroot: String, phase: String = "test", output: String, loadSize: Int?,
                            testMode: TestMode?, maxItems: Int? = nil) throws {
        try self.init(file: try ModelFile.open(path: modelPath), dataroot: dataroot, phase: phase, output: output,
                      loadSize: loadSize, testMode: testMode, maxItems: maxItems)
    }

    public init(file: ModelFile, dataroot: String, phase: String = "test", output: String, loadSize: Int?,
                testMode: TestMode?, maxItems: Int? = nil) throws {
        try file.require(.cyclegan, for: "cycle evaluation")
        guard !file.generatorOnly else {
            throw TranslateError.badModel(path: file.url.path, reason: "cycle evaluation needs both generators; this exported file holds only \(file.metadata["generator"] ?? "one")")
        }
        gA = try LoadedGenerator(file: file, direction: .aToB)
        gB = try LoadedGenerator(file: file, direction: .bToA)
        root = URL(fileURLWithPath: dataroot)
        self.output = URL(fileURLWithPath: output)
        self.phase = phase
        self.loadSize = loadSize
        self.testMode = testMode ?? gA.defaultTestMode
        self.maxItems = maxItems
    }

    /// Under mpirun rank r translates images r, r + N, ... of each domain and rank 0 gathers
    /// the rows and per-image L1 (summed in image order, so the numbers are one process's)
    /// and writes the page; other ranks return empty results.
    public func run() throws -> Result {
        var l1: [String: Double] = [:], counts: [String: Int] = [:], failed: [String] = []
        var sections = ""
        let comm = Distribution.current
        for (domain, first, second) in [("A", gA, gB), ("B", gB, gA)] {
            let folder = root.appendingPathComponent(phase + domain)
            guard FileManager.default.fileExists(atPath: folder.path) else {
                _ = try DatasetLayout.unpaired(root: root, phase: phase)  // says what the root holds instead
                throw TranslateError.notFound(path: folder.path, what: "--dataroot folder")
            }
            let data = DataOptions(mode: .single, direction: .aToB, preprocess: .none, flip: false,
                                   inputNc: first.inputNc, outputNc: first.outputNc, maxItems: maxItems)
            let ds = try ImageDataset(roots: [folder], options: data)
            var rows: [(String, [String?])] = [], rowItems: [Int] = [], scores: [[Double]] = []
            var domainFailed: [String] = [], failedItems: [Int] = []
            for i in Distribution.workPositions(count: ds.count, rank: comm.rank, size: comm.size) {
                var x: Tensor
                do { x = try ds.load(i).input } catch {
                    stderrLine("error: \(error)")
                    domainFailed.append(ds.sourcePath(i)); failedItems.append(i)
                    continue
                }
                if let s = loadSize { x = try Image(tensor: x).resized(width: s, height: s, filter: .bicubic).tensor() }
                let fake = try first.netG.translate(x, mode: testMode)
                let rec = try second.netG.translate(fake, mode: testMode)
                let real8 = try Image(tensor: x), rec8 = try Image(tensor: rec)
                scores.append([ApplyJob.psnr(rec8, real8).l1])
                let rel = ds.relativePath(i)
                var cells: [String?] = []
                for (kind, img) in [("real", real8), ("fake", try Image(tensor: fake)), ("rec", rec8)] {
                    let path = "\(phase)\(domain)/\(kind)/" + pageImageName(rel)
                    let url = output.appendingPathComponent(path)
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try ImageFile.write(img, to: url)
                    cells.append(path)
                }
                rows.append((rel, cells))
                rowItems.append(i)
            }
            if comm.size > 1 {
                let merged = ApplyShard.merge(try comm.allGather(ApplyShard(rows: rows.map { ApplyShard.Row(name: $0.0, cells: $0.1) }, rowItems: rowItems,
                                                                          scores: scores, failed: domainFailed, failedItems: failedItems)))
                rows = merged.rows.map { ($0.name, $0.cells) }
                scores = merged.scores
                domainFailed = merged.failed
            }
            failed += domainFailed
            counts[domain] = rows.count
            l1[domain] = rows.isEmpty ? nil : scores.map { $0[0] }.reduce(0, +) / Double(rows.count)
            let other = domain == "A" ? "B" : "A"
            sections += "<h2>\(phase)\(domain): \(domain) -> \(other) -> \(domain), cycle L1 \(String(format: "%.4f", l1[domain] ?? .nan))</h2>"
                + HTMLReport.imageTable(headers: ["real \(domain)", "fake \(other)", "reconstructed \(domain)"], rows: rows)
        }
        guard comm.isRoot else { return Result(cycleL1: [:], counts: [:], failed: []) }
        let meta: [(String, String)] = [("model", gA.url.path), ("dataroot", root.path),
                                        ("test-time mode", testMode.rawValue), ("resize", loadSize.map { "\($0)x\($0)" } ?? "none"),
                                        ("cycle L1 A->B->A", String(format: "%.4f", l1["A"] ?? .nan)),
                                        ("cycle L1 B->A->B", String(format: "%.4f", l1["B"] ?? .nan))]
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try writeText(HTMLReport.page(title: "CycleGAN test translations", meta: meta, body: sections),
                      to: output.appendingPathComponent("index.html"))
        return Result(cycleL1: l1, counts: counts, failed: failed)
    }
}
