using System.Runtime.CompilerServices;

namespace IIC.Hardware;

/// <summary>One value per side of a window (index 0 or 1), stored inline in the owning object: no array per field.</summary>
[InlineArray(2)]
internal struct SidePair<T>
{
    private T _side0;
}
