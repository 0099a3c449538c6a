import Foundation

/// A one-line progress bar on standard error: epoch, step, images/s, ETA and running losses.
/// On a terminal it redraws in place; otherwise (logs, CI) it prints a line every
/// `logInterval` seconds and at the end of each epoch.
public final class ProgressBar {
    let totalSteps: Int
    let isTTY: Bool
    let logInterval: Double
    let startTime = Date()
    var lastPrint = Date.distantPast
    var stepsDone = 0
    var imagesDone = 0
    public var enabled = true
    /// Replaces "epoch e/E" at the start of the line (e.g. "sampling" for evaluation).
    public var label: String?

    public init(totalSteps: Int, logInterval: Double = 10) {
        self.totalSteps = totalSteps
        self.isTTY = isatty(STDERR_FILENO) != 0
        self.logInterval = logInterval
    }

    static func clock(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "--:--" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%02d:%02d", t / 60, t % 60)
    }

    /// The status line (without control characters), for tests and logs.
    public func line(epoch: Int, epochs: Int, step: Int, steps: Int, losses: [(String, Float)]) -> String {
        let elapsed = Date().timeIntervalSince(startTime)
        let rate = elapsed > 0 ? Double(imagesDone) / elapsed : 0
        let eta = stepsDone > 0 ? elapsed / Double(stepsDone) * Double(totalSteps - stepsDone) : .nan
        let width = 20
        let filled = steps > 0 ? min(width, width * step / steps) : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let l = losses.map { "\($0.0) \(String(format: "%.3f", $0.1))" }.joined(separator: " ")
        let head = label ?? "epoch \(epoch)/\(epochs)"
        return "\(head) [\(bar)] \(step)/\(steps) \(String(format: "%.1f", rate)) img/s ETA \(Self.clock(eta)) \(l)"
    }

    public func update(epoch: Int, epochs: Int, step: Int, steps: Int, images: Int, losses: [(String, Float)]) {
        stepsDone += 1
        imagesDone += images
        guard enabled else { return }
        let now = Date()
        let endOfEpoch = step == steps
        if isTTY {
            if now.timeIntervalSince(lastPrint) < 0.1 && !endOfEpoch { return }
            lastPrint = now
            let s = "\r\u{1B}[K" + line(epoch: epoch, epochs: epochs, step: step, steps: steps, losses: losses) + (endOfEpoch ? "\n" : "")
            FileHandle.standardError.write(Data(s.utf8))
        } else if endOfEpoch || now.timeIntervalSince(lastPrint) >= logInterval {
            lastPrint = now
            FileHandle.standardError.write(Data((line(epoch: epoch, epochs: epochs, step: step, steps: steps, losses: losses) + "\n").utf8))
        }
    }
}
