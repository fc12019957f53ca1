namespace IIC.Native;

/// <summary>memfd seals (fcntl F_ADD_SEALS / F_GET_SEALS).</summary>
[Flags]
public enum FileSeals
{
    /// <summary>No seals.</summary>
    None = 0,
    /// <summary>F_SEAL_SEAL: no further seals can be added.</summary>
    Seal = 0x1,
    /// <summary>F_SEAL_SHRINK: the file cannot shrink (a peer cannot make our mapping SIGBUS).</summary>
    Shrink = 0x2,
    /// <summary>F_SEAL_GROW: the file cannot grow.</summary>
    Grow = 0x4,
    /// <summary>F_SEAL_WRITE: the contents cannot be written.</summary>
    Write = 0x8,
    /// <summary>F_SEAL_FUTURE_WRITE: no new writable mappings.</summary>
    FutureWrite = 0x10,
}
