import Foundation

/// A one-line progress bar on standard error: epoch (or round), step i/N of this epoch,
/// images/s and ETA from the last steps' wall time, and running losses, always within the
/// terminal's width. On a terminal it redraws in place and can show what happens between
/// steps (`status`); otherwise (logs, CI) it prints a line every `logInterval` seconds and at
/// the end of each epoch.
public final class ProgressBar {
    /// Steps of the whole run (all epochs), for the ETA.
    let totalSteps: Int
    let isTTY: Bool
    let logInterval: Double
    /// What an epoch is called in the line: "epoch 3/10", "round 3/28".
    public var unitName: String
    /// Replaces "<unitName> e/E" at the start of the line (e.g. "eval").
    public var label: String?
    public var enabled = true
    /// The width to fit; nil: `COLUMNS`, else the terminal's (TIOCGWINSZ on stderr), else 80.
    public var columns: Int?
    /// Seconds (wall clock) and where the text goes; replaced in tests.
    let now: () -> Double
    let write: (String) -> Void

    /// The moving rate: wall time and images of the last `window` steps.
    static let window = 20
    var recent: [(seconds: Double, images: Int)] = []
    var lastTick: Double?
    /// A status was shown since the last step: the next step's time includes that work.
    var pausedSinceLastStep = false
    var stepsDone = 0
    var imagesDone = 0
    var lastPrint = -Double.infinity
    /// The last step's numbers, for `status`.
    var last: (epoch: Int, epochs: Int, step: Int, steps: Int, losses: [(String, Float)])?
    /// On a terminal: a progress line without its newline is shown / a status line is shown.
    var lineOpen = false
    var statusShown = false

    public init(totalSteps: Int, unitName: String = "epoch", logInterval: Double = 10) {
        self.totalSteps = totalSteps
        self.unitName = unitName
        self.isTTY = isatty(STDERR_FILENO) != 0
        self.logInterval = logInterval
        self.now = { Date().timeIntervalSinceReferenceDate }
        self.write = { writeStderr($0) }
        lastTick = now()
    }

    /// A bar for tests: a fake clock and terminal, output collected by `write`.
    init(totalSteps: Int, unitName: String = "epoch", tty: Bool, columns: Int, clock: @escaping () -> Double, write: @escaping (String) -> Void) {
        self.totalSteps = totalSteps
        self.unitName = unitName
        self.isTTY = tty
        self.logInterval = 10
        self.columns = columns
        self.now = clock
        self.write = write
        lastTick = clock()
    }

    deinit { finish() }

    // MARK: - Width and rate

    /// The terminal's width: `COLUMNS`, else TIOCGWINSZ on stderr, else 80.
    public static func terminalColumns() -> Int {
        if let c = ProcessInfo.processInfo.environment["COLUMNS"].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), c > 0 { return c }
        var ws = winsize()
        if isatty(STDERR_FILENO) != 0, ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 { return Int(ws.ws_col) }
        return 80
    }

    /// Images per second over the last steps (0 before the first).
    public var rate: Double {
        let s = recent.reduce(0) { $0 + $1.seconds }, n = recent.reduce(0) { $0 + $1.images }
        return s > 0 ? Double(n) / s : 0
    }

    /// Seconds per step over the last steps (nil before the first).
    public var secondsPerStep: Double? {
        recent.isEmpty ? nil : recent.reduce(0) { $0 + $1.seconds } / Double(recent.count)
    }

    /// Seconds left for the remaining steps of the run, at the moving rate.
    public var eta: Double {
        guard let sps = secondsPerStep else { return .nan }
        return sps * Double(max(totalSteps - stepsDone, 0))
    }

    static func clock(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "--:--" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%02d:%02d", t / 60, t % 60)
    }

    static func rateText(_ r: Double) -> String {
        if r <= 0 || !r.isFinite { return "-- img/s" }
        if r < 1 { return String(format: "%.0f s/img", 1 / r) }
        return String(format: r < 100 ? "%.1f img/s" : "%.0f img/s", r)
    }

    // MARK: - The line

    /// A loss name shortened: parts of names longer than 6 characters cut to 3 ("cycle_A" ->
    /// "cyc_A", "pixel_l1" -> "pix_l1"), and at most 8 characters.
    static func abbreviate(_ name: String) -> String {
        guard name.count > 6 else { return name }
        let parts = name.split(separator: "_", omittingEmptySubsequences: false).map { String($0.prefix(3)) }
        return String(parts.joined(separator: "_").prefix(8))
    }

    /// A loss value in `digits` significant digits, without a redundant exponent sign.
    static func number(_ v: Float, digits: Int) -> String {
        guard v.isFinite else { return v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
        return String(format: "%.\(digits)g", Double(v)).replacingOccurrences(of: "e+0", with: "e").replacingOccurrences(of: "e-0", with: "e-")
            .replacingOccurrences(of: "e+", with: "e")
    }

    /// The status line (without control characters) in at most `width` characters: the head
    /// and step count always, then (as room allows) ETA, rate, a bar of 10-20 characters and
    /// the losses, shortened (fewer digits, abbreviated names) and then dropped from the end.
    /// `status` replaces the losses.
    public func line(epoch: Int, epochs: Int, step: Int, steps: Int, losses: [(String, Float)], status: String? = nil, width: Int? = nil) -> String {
        let width = max(width ?? columns ?? Self.terminalColumns(), 1)
        let head = label ?? "\(unitName) \(epoch)/\(epochs)"
        let count = "\(step)/\(steps)"
        let eta = "ETA \(Self.clock(self.eta))"
        let rate = Self.rateText(self.rate)
        func bar(_ w: Int) -> String {
            let filled = steps > 0 ? min(w, w * max(step, 0) / steps) : 0
            return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: w - filled) + "]"
        }
        // Tails: the losses at three levels of detail, or the status text.
        var tails: [[String]]
        if let status {
            tails = [["| " + status]]
        } else {
            tails = [losses.map { "\($0.0) \(Self.number($0.1, digits: 4))" },
                     losses.map { "\(Self.abbreviate($0.0)) \(Self.number($0.1, digits: 3))" },
                     losses.map { "\(Self.abbreviate($0.0)) \(Self.number($0.1, digits: 2))" }]
        }
        func join(_ parts: [String]) -> String { parts.filter { !$0.isEmpty }.joined(separator: " ") }
        func assemble(bar barWidth: Int, rate showRate: Bool, eta showETA: Bool, tail: [String]) -> String {
            join([head, barWidth > 0 ? bar(barWidth) : "", count, showRate ? rate : "", showETA ? eta : ""] + tail)
        }
        // The first layout that fits: with a bar of 10 and the tail at each level of detail,
        // then without the bar and the tail at each level, then the shortest tail with items
        // dropped from the end, then without the rate, without the ETA.
        var best: String?
        search: for (b, r, e) in [(10, true, true), (0, true, true), (0, false, true), (0, false, false)] {
            for t in tails {
                let s = assemble(bar: b, rate: r, eta: e, tail: t)
                if s.count <= width { best = s; break search }
            }
            if b > 0 { continue }
            if status != nil { best = String(assemble(bar: 0, rate: false, eta: false, tail: tails[0]).prefix(width)); break }
            let t = tails[tails.count - 1]
            for n in stride(from: t.count - 1, through: 0, by: -1) {
                let s = assemble(bar: b, rate: r, eta: e, tail: Array(t.prefix(n)))
                if s.count <= width { best = s; break search }
            }
        }
        guard var s = best else { return String(join([head, count]).prefix(width)) }
        // Widen the bar into the room left (up to 20).
        if s.hasPrefix(head + " [") {
            let extra = min(10, width - s.count)
            if extra > 0 { s = head + " " + bar(10 + extra) + s.dropFirst(head.count + 1 + 12) }
        }
        return s
    }

    // MARK: - Drawing

    /// Records one step of `images` images (step i of `steps` in this epoch) and redraws.
    public func update(epoch: Int, epochs: Int, step: Int, steps: Int, images: Int, losses: [(String, Float)]) {
        let t = now()
        // The time since the previous step is this step's, unless a status (checkpoint,
        // samples, a page) or a new epoch's preparation came between; the very first step
        // counts from the creation of the bar.
        let newEpoch = last.map { $0.epoch != epoch || step < $0.step } ?? false
        if let prev = lastTick, !(pausedSinceLastStep || newEpoch) || recent.isEmpty {
            recent.append((max(t - prev, 0), images))
            if recent.count > Self.window { recent.removeFirst(recent.count - Self.window) }
        }
        lastTick = t
        pausedSinceLastStep = false
        stepsDone += 1
        imagesDone += images
        last = (epoch, epochs, step, steps, losses)
        guard enabled else { return }
        let endOfEpoch = step >= steps
        if isTTY {
            if t - lastPrint < 0.1 && !endOfEpoch && !statusShown { return }
            lastPrint = t
            let w = (columns ?? Self.terminalColumns()) - 1
            write("\r\u{1B}[K" + line(epoch: epoch, epochs: epochs, step: step, steps: steps, losses: losses, width: w) + (endOfEpoch ? "\n" : ""))
            lineOpen = !endOfEpoch
            statusShown = false
        } else if endOfEpoch || t - lastPrint >= logInterval {
            lastPrint = t
            write(line(epoch: epoch, epochs: epochs, step: step, steps: steps, losses: losses, width: columns ?? Self.terminalColumns()) + "\n")
        }
    }

    /// Shows what happens between steps ("saving checkpoint", "writing samples", "writing
    /// page") in the progress line until the next step; on a terminal only. The time it takes
    /// is not counted in the rate.
    public func status(_ text: String) {
        pausedSinceLastStep = true
        guard enabled, isTTY else { return }
        let w = (columns ?? Self.terminalColumns()) - 1
        let s: String
        if let l = last, lineOpen {
            s = line(epoch: l.epoch, epochs: l.epochs, step: l.step, steps: l.steps, losses: [], status: text, width: w)
        } else {
            let head = label ?? last.map { "\(unitName) \($0.epoch)/\($0.epochs)" }
            s = String(((head.map { $0 + ": " } ?? "") + text).prefix(max(w, 1)))
        }
        write("\r\u{1B}[K" + s)
        statusShown = true
        lastPrint = now()
    }

    /// Prints `text` as a line of its own above the progress line (which the next step
    /// redraws), also when the bar is disabled: for notes that must not be lost.
    public func message(_ text: String) {
        if enabled && isTTY && (lineOpen || statusShown) {
            write("\r\u{1B}[K" + text + "\n")
            lineOpen = false
            statusShown = false
            lastPrint = 0
        } else {
            write(text + "\n")
        }
    }

    /// Ends the display: a status line is cleared, an unfinished progress line gets its
    /// newline. Called by `deinit`; call it before printing anything else.
    public func finish() {
        guard enabled, isTTY else { return }
        if lineOpen {
            if statusShown, let l = last {
                let w = (columns ?? Self.terminalColumns()) - 1
                write("\r\u{1B}[K" + line(epoch: l.epoch, epochs: l.epochs, step: l.step, steps: l.steps, losses: l.losses, width: w))
            }
            write("\n")
        } else if statusShown {
            write("\r\u{1B}[K")
        }
        lineOpen = false
        statusShown = false
    }
}
