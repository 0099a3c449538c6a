import Foundation
import Tensors
import TranslateCLI

// OpenBLAS reads OPENBLAS_CORETYPE when it loads: arrange it before any BLAS call.
BLASSetup.reexecIfNeeded()
AllocatorSetup.keepFreedMemory()
TranslateCommand.main(arguments: Array(CommandLine.arguments.dropFirst()))
