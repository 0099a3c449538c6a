// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "translate",
    products: [
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Pipelines", targets: ["Pipelines"]),
        .executable(name: "translate-bench", targets: ["translate-bench"]),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .target(name: "Tensors", dependencies: ["COpenBLAS"]),
        .target(name: "NN", dependencies: ["Tensors"]),
        .target(name: "Pipelines", dependencies: ["NN", "Tensors"]),
        .executableTarget(name: "translate-bench", dependencies: ["Pipelines", "NN", "Tensors"]),
        .target(name: "TestSupport", dependencies: ["Tensors", "NN"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Tensors", "TestSupport"]),
        .testTarget(name: "PipelinesTests", dependencies: ["Pipelines", "NN", "Tensors", "TestSupport"]),
    ]
)
