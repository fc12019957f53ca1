using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// The group pages a partition receives through, one per peer partition it has grouped connections with (the
/// hypervisor makes them and names each with an id). A page is mapped once, shared by the connections with that
/// peer, and dropped with the last of them: a released peer's later writes reach a page nobody reads. Thread safe.
/// </summary>
internal sealed class ReceiveGroupPages
{
    private readonly object _lock = new();
    private readonly Dictionary<long, Entry> _pages = [];
    private readonly Dictionary<long, long> _pageOfConnection = [];

    /// <summary>
    /// The page <paramref name="pageId"/> for connection <paramref name="connectionId"/>: mapped from
    /// <paramref name="descriptor"/> the first time (validated), reused after (the descriptor is then closed).
    /// Takes ownership of the descriptor in every case.
    /// </summary>
    /// <exception cref="InvalidDataException">The descriptor is not a sealed group page.</exception>
    public InterruptGroup Adopt(long pageId, FileDescriptor descriptor, long connectionId)
    {
        lock (_lock)
        {
            if (_pages.TryGetValue(pageId, out var entry))
            {
                descriptor.Dispose();
            }
            else
            {
                InterruptGroup group;
                try
                {
                    group = InterruptGroup.Open(descriptor);
                }
                catch
                {
                    descriptor.Dispose();
                    throw;
                }
                entry = new Entry(group);
                _pages.Add(pageId, entry);
            }
            if (_pageOfConnection.TryAdd(connectionId, pageId))
            {
                entry.Connections++;
            }
            return entry.Group;
        }
    }

    /// <summary>Connection <paramref name="connectionId"/> ended: the page goes with its peer's last connection.</summary>
    public void Release(long connectionId)
    {
        lock (_lock)
        {
            if (!_pageOfConnection.Remove(connectionId, out var pageId) || !_pages.TryGetValue(pageId, out var entry) || --entry.Connections > 0)
            {
                return;
            }
            _pages.Remove(pageId);
            entry.Group.Dispose(); // unmapped once the windows and group receivers that lease it let go
        }
    }

    /// <summary>The group whose page is <paramref name="page"/>, if this partition receives through it.</summary>
    public InterruptGroup? Find(InterruptPage page)
    {
        lock (_lock)
        {
            foreach (var entry in _pages.Values)
            {
                if (entry.Group.Page == page)
                {
                    return entry.Group;
                }
            }
            return null;
        }
    }

    /// <summary>Drops every page (the partition's control socket closed).</summary>
    public void DisposeAll()
    {
        lock (_lock)
        {
            foreach (var entry in _pages.Values)
            {
                entry.Group.Dispose();
            }
            _pages.Clear();
            _pageOfConnection.Clear();
        }
    }

    private sealed class Entry(InterruptGroup group)
    {
        public InterruptGroup Group { get; } = group;

        public int Connections { get; set; }
    }
}
