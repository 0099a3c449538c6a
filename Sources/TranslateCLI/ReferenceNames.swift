import ArgumentParser
import Foundation
import NN
import Datasets
import Pipelines

/// The pix2pix/CycleGAN reference's option spellings (`--netG`, `--n_epochs`, `--lambda_L1`,
/// `--load_size`, `--continue_train`, ...), rewritten to ours before parsing so that its
/// users' command lines work as they are. Values (`AtoB`, `unet_256`, `resnet_9blocks`,
/// `resize_and_crop`) are accepted by the choices themselves (`ReferenceSpelled`).
public enum ReferenceNames {
    /// Reference names whose meaning is not the kebab-case of the name.
    public static let renamed: [String: String] = [
        "--netG": "--net-g", "--netD": "--net-d", "--n_layers_D": "--n-layers-d",
        "--n_epochs": "--epochs", "--n_epochs_decay": "--epochs-decay", "--niter": "--epochs", "--niter_decay": "--epochs-decay",
        "--lambda_L1": "--lambda-l1", "--lambda_A": "--lambda-a", "--lambda_B": "--lambda-b",
        "--continue_train": "--resume", "--results_dir": "--output", "--max_dataset_size": "--max-items",
    ]
    /// Reference options that mean nothing here (GPUs, the visdom display); dropped with a note,
    /// with the number of values each takes.
    public static let ignored: [String: Int] = ["--gpu_ids": 1, "--display_id": 1, "--display_port": 1, "--display_server": 1,
                                                "--display_freq": 1, "--display_ncols": 1, "--display_winsize": 1, "--no_html": 0,
                                                "--update_html_freq": 1, "--use_wandb": 0, "--verbose": 0]

    /// `args` (without the program name) with reference spellings replaced; notes for dropped options.
    public static func rewrite(_ args: [String]) -> (args: [String], notes: [String]) {
        var out: [String] = [], notes: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            i += 1
            if a == "--" { out += args[(i - 1)...]; break }
            guard a.hasPrefix("--") else { out.append(a); continue }
            let (name, value): (String, String?) = {
                guard let eq = a.firstIndex(of: "=") else { return (a, nil) }
                return (String(a[..<eq]), String(a[a.index(after: eq)...]))
            }()
            if let n = ignored[name] {
                notes.append("note: ignoring the reference's \(name): translate runs on the CPU and writes its own pages")
                if value == nil { i += n }
                continue
            }
            var ours = renamed[name] ?? name
            if ours == name, name.contains("_") || name.dropFirst(2).contains(where: \.isUppercase) {
                ours = "--" + name.dropFirst(2).replacingOccurrences(of: "_", with: "-").lowercased()
            }
            out.append(value.map { ours + "=" + $0 } ?? ours)
        }
        return (out, notes)
    }

    /// `s` lowercased without '-' and '_': "AtoB", "a-to-b" and "a_to_b" are one spelling.
    static func folded(_ s: String) -> String { s.lowercased().filter { $0 != "-" && $0 != "_" } }
}

/// A closed choice that also takes the reference's spellings of its values.
protocol ReferenceSpelled: ExpressibleByArgument, CaseIterable, RawRepresentable where RawValue == String {}

extension ReferenceSpelled {
    public init?(argument: String) {
        if let v = Self(rawValue: argument) { self = v; return }
        let f = ReferenceNames.folded(argument)
        guard let v = Self.allCases.first(where: { ReferenceNames.folded($0.rawValue) == f }) else { return nil }
        self = v
    }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

extension GeneratorArch: ReferenceSpelled {}
extension DiscriminatorArch: ReferenceSpelled {}
extension Norm: ReferenceSpelled {}
extension Upsampling: ReferenceSpelled {}
extension GANMode: ReferenceSpelled {}
extension InitType: ReferenceSpelled {}
extension TestMode: ReferenceSpelled {}
extension LRPolicy: ReferenceSpelled {}
extension DatasetMode: ReferenceSpelled {}
extension Direction: ReferenceSpelled {}
extension Preprocess: ReferenceSpelled {}
