using System.Runtime.InteropServices;

namespace IIC.Hardware;

/// <summary>
/// A line pair (<see cref="Smp.PaddedLineSize"/> bytes) of nothing, declared as the last field of a class whose fields
/// one thread writes on every message. The runtime lays out a class's struct-typed fields after its primitive ones, so
/// the padding ends the object and keeps those words a line pair from the next object the allocator places after it:
/// a WindowEndpoint allocates its ring writer and ring reader back to back, and a sending and a receiving thread write
/// them (issue 17, round 7; RingLayoutTests checks the order on the running runtime).
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = Smp.PaddedLineSize)]
internal struct LinePairPadding;
