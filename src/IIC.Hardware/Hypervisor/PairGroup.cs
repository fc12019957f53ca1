namespace IIC.Hardware;

/// <summary>
/// The interrupt group page one partition (<see cref="Receiver"/>) receives through from one peer partition
/// (<see cref="Sender"/>): the hypervisor creates it at the first grouped grant between the pair, hands it to both,
/// and drops it with the last such grant. A peer can only ever write the pages of the pairs it belongs to, so it can
/// disturb the receiver's channels with itself and nothing else (docs/architecture.md, "Group pages per peer").
/// </summary>
internal sealed class PairGroup(long id, InterruptGroup group, ControlClient receiver, ControlClient sender)
{
    /// <summary>Unique for the hypervisor's lifetime: the receiver recognises a page it already maps.</summary>
    public long Id { get; } = id;

    public InterruptGroup Group { get; } = group;

    public ControlClient Receiver { get; } = receiver;

    public ControlClient Sender { get; } = sender;

    /// <summary>Vectors in use (grants between the pair whose receiving side is grouped).</summary>
    public int InUse { get; set; }

    public Stack<int> FreeVectors { get; } = new();

    public int NextVector { get; set; }

    public bool HasFreeVector => FreeVectors.Count > 0 || NextVector < InterruptPage.MaxVectorCount;

    public int TakeVector()
    {
        InUse++;
        return FreeVectors.Count > 0 ? FreeVectors.Pop() : NextVector++;
    }
}
