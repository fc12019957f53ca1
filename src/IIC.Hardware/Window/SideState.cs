namespace IIC.Hardware;

/// <summary>The life cycle of one side of a window, kept in the window's header.</summary>
public enum SideState
{
    /// <summary>No partition has attached to this side yet.</summary>
    Empty = 0,
    /// <summary>A partition uses this side.</summary>
    Attached = 1,
    /// <summary>The partition closed its side: it sends nothing more (what it published is still delivered).</summary>
    Closed = 2,
    /// <summary>The partition died (marked by the hypervisor, which bumps the epoch).</summary>
    Dead = 3,
}

/// <summary>A snapshot of one side's state block.</summary>
/// <param name="State">The life-cycle state.</param>
/// <param name="Epoch">Bumped each time the state changes to <see cref="SideState.Dead"/>.</param>
/// <param name="ProcessId">The pid of the partition that attached, or 0.</param>
public readonly record struct SideStatus(SideState State, int Epoch, int ProcessId);
