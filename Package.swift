// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "translate",
    products: [
        .executable(name: "translate", targets: ["translate"]),
        .executable(name: "translate-bench", targets: ["translate-bench"]),
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "ImageIO", targets: ["ImageIO"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Pages", targets: ["Pages"]),
        .library(name: "Pipelines", targets: ["Pipelines"]),
        .library(name: "TorchImport", targets: ["TorchImport"]),
        .library(name: "Perceptual", targets: ["Perceptual"]),
        .library(name: "Evaluation", targets: ["Evaluation"]),
        .library(name: "TranslateCLI", targets: ["TranslateCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries (pkg-config names as Debian ships them).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        // C shims: libjpeg/libpng error handling needs setjmp, which Swift cannot call.
        .target(name: "CImageCodecs", dependencies: ["CJPEG", "CPNG"],
                linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        // Direct convolution kernels (AVX-512 and baseline copies, chosen at load time).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
        // Open MPI, loaded at run time (dlopen) only under mpirun or --distributed: no build
        // dependency, and a machine without it runs everything else unchanged.
        .target(name: "CMPIShim", linkerSettings: [.linkedLibrary("dl")]),
        // Data flows one way: Tensors -> NN -> (ImageIO, Datasets, Perceptual) -> Pipelines
        // -> Evaluation -> TranslateCLI (Evaluation needs no pipeline; Pipelines no metric).
        // Pages (HTML pages and their SVG charts) stands apart on Foundation alone: Pipelines
        // draws the training pages with it, TranslateCLI those of apply and eval.
        .target(name: "Pages"),
        .target(name: "Tensors", dependencies: ["COpenBLAS", "CKernels", "CMPIShim"]),
        .target(name: "NN", dependencies: ["Tensors", "CKernels"]),
        .target(name: "ImageIO", dependencies: ["CImageCodecs", "Tensors"]),
        .target(name: "Datasets", dependencies: ["ImageIO", "Tensors"]),
        // The perceptual distance (LPIPS-AlexNet): a training loss for cIMLE and a metric.
        .target(name: "Perceptual", dependencies: ["ImageIO", "NN", "Tensors"]),
        // Image metrics, diversity and mode-collapse statistics.
        .target(name: "Evaluation", dependencies: ["Perceptual", "ImageIO", "NN", "Tensors"]),
        .target(name: "Pipelines", dependencies: ["Datasets", "Perceptual", "ImageIO", "NN", "Tensors", "Pages"]),
        // Reads torch.save files (zip and legacy pickle) without executing them.
        .target(name: "TorchImport", dependencies: ["NN", "Tensors"]),
        .target(name: "TranslateCLI", dependencies: [
            "Evaluation", "Perceptual", "Pipelines", "Datasets", "ImageIO", "TorchImport", "NN", "Tensors", "Pages",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "translate", dependencies: ["TranslateCLI", "Tensors"]),
        // The benchmark commands (a library, so that tests can parse them) and their executable.
        .target(name: "BenchCommands", dependencies: [
            "Pipelines", "NN", "Tensors", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "translate-bench", dependencies: ["BenchCommands", "Tensors"]),
        .target(name: "TestSupport", dependencies: ["Tensors", "NN"], path: "Tests/TestSupport"),
        .testTarget(name: "PagesTests", dependencies: ["Pages"]),
        .testTarget(name: "BenchCommandsTests", dependencies: ["BenchCommands", "TestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Tensors", "TestSupport"]),
        .testTarget(name: "ImageIOTests", dependencies: ["ImageIO", "Tensors", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "ImageIO", "Tensors", "TestSupport"]),
        .testTarget(name: "PipelinesTests", dependencies: ["Pipelines", "Perceptual", "NN", "Tensors", "TestSupport"]),
        .testTarget(name: "TorchImportTests", dependencies: ["TorchImport", "Pipelines", "NN", "Tensors", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Perceptual", "ImageIO", "NN", "Tensors", "TestSupport"]),
        .testTarget(name: "TranslateCLITests", dependencies: ["TranslateCLI", "Evaluation", "Perceptual", "Pipelines", "Pages", "Datasets", "ImageIO", "NN", "Tensors", "TestSupport"]),
    ]
)
