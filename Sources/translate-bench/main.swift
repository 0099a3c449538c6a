import Foundation
import Tensors

// OpenBLAS reads OPENBLAS_CORETYPE when it loads: arrange it before any BLAS call.
BLASSetup.reexecIfNeeded()
AllocatorSetup.keepFreedMemory()
let code = BenchCommand.run(Array(CommandLine.arguments.dropFirst()))
exit(code)
