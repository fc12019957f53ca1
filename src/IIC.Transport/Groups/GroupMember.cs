namespace IIC.Transport;

/// <summary>One channel in a group: where it is raised, and the caller's tag.</summary>
internal sealed class GroupMember(WindowEndpoint endpoint, object? tag, GroupPageSlot slot, int vector)
{
    public WindowEndpoint Endpoint { get; } = endpoint;

    public object? Tag { get; } = tag;

    public GroupPageSlot Slot { get; } = slot;

    public int Vector { get; } = vector;

    /// <summary>False once removed (a stale entry in the ready queue is skipped).</summary>
    public bool Active { get; set; } = true;
}
