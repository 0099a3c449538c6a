import Foundation
import Tensors
BLASSetup.reexecIfNeeded()
AllocatorSetup.keepFreedMemory()
print("translate: coming soon")
