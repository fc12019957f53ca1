using System.Globalization;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// The hypervisor's group pages, one per (receiving partition, sending partition) pair with grouped grants between
/// them. A receiver waits on all its pages with one futex_waitv, so it may receive grouped connections from at most
/// <see cref="MaxPeersPerReceiver"/> peer partitions; the next is refused with a clear error.
/// </summary>
internal sealed class PairGroups
{
    /// <summary>futex_waitv's limit: one word per page.</summary>
    public const int MaxPeersPerReceiver = Futex.MaxWaitAnyCount;

    private readonly Dictionary<(ControlClient Receiver, ControlClient Sender), PairGroup> _pages = [];
    private long _nextId;

    /// <summary>Pages alive now.</summary>
    public int Count => _pages.Count;

    /// <summary>Why a grouped grant for <paramref name="receiver"/> receiving from <paramref name="sender"/> cannot be made, or null.</summary>
    /// <param name="receiver">The partition whose side is grouped.</param>
    /// <param name="sender">Its peer, which raises the page.</param>
    /// <param name="vectors">Vectors this grant needs on the pair's page (2 when a partition connects to itself grouped on both sides).</param>
    public string? Check(ControlClient receiver, ControlClient sender, int vectors)
    {
        if (_pages.TryGetValue((receiver, sender), out var page))
        {
            return page.FreeVectors.Count + (InterruptPage.MaxVectorCount - page.NextVector) >= vectors ? null
                : string.Create(CultureInfo.InvariantCulture, $"partition '{receiver.Name}' already receives {InterruptPage.MaxVectorCount} grouped connections from partition '{sender.Name}' (one group page per peer holds {InterruptPage.MaxVectorCount} vectors)");
        }
        return receiver.GroupPeers < MaxPeersPerReceiver ? null
            : string.Create(CultureInfo.InvariantCulture, $"partition '{receiver.Name}' already receives grouped connections from {MaxPeersPerReceiver} peer partitions, the most one IicChannelGroup waits on (futex_waitv takes {MaxPeersPerReceiver} words); connect this one ungrouped, or spread the peers over more receiving partitions");
    }

    /// <summary>Takes a vector on the pair's page, creating the page at the pair's first grouped grant.</summary>
    /// <exception cref="NativeException">The page could not be created (out of descriptors or memory).</exception>
    public PairGroup Take(ControlClient receiver, ControlClient sender, out int vector)
    {
        if (!_pages.TryGetValue((receiver, sender), out var page))
        {
            var group = InterruptGroup.Create("iic-group");
            page = new PairGroup(++_nextId, group, receiver, sender);
            _pages.Add((receiver, sender), page);
            receiver.GroupPeers++;
        }
        vector = page.TakeVector();
        return page;
    }

    /// <summary>Gives a vector back; the last one drops the page (the partitions keep their own mappings until they let go).</summary>
    public void Give(PairGroup page, int vector)
    {
        page.FreeVectors.Push(vector);
        if (--page.InUse > 0)
        {
            return;
        }
        _pages.Remove((page.Receiver, page.Sender));
        page.Receiver.GroupPeers--;
        page.Group.Dispose();
    }
}
