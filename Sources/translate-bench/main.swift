import Foundation
import Tensors
import BenchCommands

// OpenBLAS reads OPENBLAS_CORETYPE when it loads: arrange it before any BLAS call.
BLASSetup.reexecIfNeeded()
AllocatorSetup.keepFreedMemory()
BenchCommand.main()
