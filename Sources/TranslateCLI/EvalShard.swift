import Foundation
import ImageIO
import Evaluation
import Pipelines

/// What one rank of a sharded `translate eval` sends to rank 0: per input its measurements,
/// its first sample at the set-comparison size and, for the inputs shown on the page, the
/// grid row and its images. Numbers travel as bit patterns (exact, and infinities such as
/// the PSNR of identical images survive JSON).
struct EvalShard: Codable {
    var items: [Item] = []

    struct Item: Codable {
        var index: Int
        var name = ""
        var failed: String?
        var result: Result?
        var thumbnail: WireImage?
        var row: Row?
        var files: [File] = []

        init(index: Int, failed: String) {
            self.index = index
            self.failed = failed
        }

        init(index: Int, name: String, result: ItemResult, thumbnail: Image) {
            self.index = index
            self.name = name
            self.result = Result(result)
            self.thumbnail = WireImage(thumbnail)
        }
    }

    /// An image file of the page, relative to index_files/.
    struct File: Codable {
        var path: String
        var image: WireImage
    }

    struct WireImage: Codable {
        var width: Int, height: Int, channels: Int
        var pixels: Data
        init(_ img: Image) {
            width = img.width; height = img.height; channels = img.channels
            pixels = Data(img.pixels)
        }
        var image: Image {
            get throws { try Image(width: width, height: height, channels: channels, pixels: [UInt8](pixels)) }
        }
    }

    /// `ItemResult` with its numbers as bit patterns.
    struct Result: Codable {
        var name: String
        var series: [String: [UInt64]]
        var scalars: [String: UInt64]
        var birthday: BirthdayTest.Curve?
        var closest: [UInt64]?
        var within: [UInt32]

        static let seriesKeys: [(String, WritableKeyPath<ItemResult, [Double]>)] = [
            ("l1", \.l1), ("mse", \.mse), ("psnr", \.psnr), ("ssim", \.ssim), ("lpips", \.lpips),
            ("psnrY", \.psnrY), ("lrConsistency", \.lrConsistency),
        ]
        static let scalarKeys: [(String, WritableKeyPath<ItemResult, Double?>)] = [
            ("bicubicPSNRY", \.bicubicPSNRY), ("pairLPIPS", \.pairLPIPS), ("pairL1", \.pairL1), ("stdMean", \.stdMean), ("hfStdMean", \.hfStdMean),
        ]

        init(_ r: ItemResult) {
            name = r.name
            series = Dictionary(uniqueKeysWithValues: Self.seriesKeys.map { ($0.0, r[keyPath: $0.1].map(\.bitPattern)) })
            scalars = Dictionary(uniqueKeysWithValues: Self.scalarKeys.compactMap { k, p in r[keyPath: p].map { (k, $0.bitPattern) } })
            birthday = r.birthday
            closest = r.closest.map { [UInt64($0.i), UInt64($0.j), UInt64($0.distance.bitPattern)] }
            within = r.withinDistances.map(\.bitPattern)
        }

        func itemResult() throws -> ItemResult {
            var r = ItemResult(name: name)
            for (k, p) in Self.seriesKeys { r[keyPath: p] = (series[k] ?? []).map(Double.init(bitPattern:)) }
            for (k, p) in Self.scalarKeys { r[keyPath: p] = scalars[k].map(Double.init(bitPattern:)) }
            r.birthday = birthday
            if let c = closest {
                guard c.count == 3 else { throw TranslateError.io(path: name, reason: "a rank sent a malformed result") }
                r.closest = (Int(c[0]), Int(c[1]), Float(bitPattern: UInt32(c[2])))
            }
            r.withinDistances = within.map(Float.init(bitPattern:))
            return r
        }
    }

    /// A grid row of the page (paths relative to the page).
    struct Row: Codable {
        var name: String
        var input: String?, target: String?
        var samples: [String]
        var std: String?
        var stdScale: UInt64?
        var closest: [String]?
        var closestDistance: UInt32?
        var closestSamples: [Int]?
        var scores: String?

        init(_ r: EvalReport.GridRow) {
            name = r.name; input = r.input; target = r.target; samples = r.samples; std = r.std
            stdScale = r.stdScale?.bitPattern
            if let c = r.closest {
                closest = [c.0, c.1]; closestDistance = c.2.bitPattern; closestSamples = [c.3, c.4]
            }
            scores = r.scores
        }

        var gridRow: EvalReport.GridRow {
            var r = EvalReport.GridRow(name: name)
            r.input = input; r.target = target; r.samples = samples; r.std = std
            r.stdScale = stdScale.map(Double.init(bitPattern:))
            if let c = closest, c.count == 2, let d = closestDistance, let s = closestSamples, s.count == 2 {
                r.closest = (c[0], c[1], Float(bitPattern: d), s[0], s[1])
            }
            r.scores = scores
            return r
        }
    }
}
