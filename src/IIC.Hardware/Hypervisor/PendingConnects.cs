namespace IIC.Hardware;

/// <summary>
/// Connects waiting for a service, either to be offered at all or for its listener to make room (a busy listener
/// with <see cref="HypervisorOptions.MaxQueuedGrantsPerPartition"/> grants it has not read yet, like a full accept
/// queue): a FIFO per service (granted in order once it is offered and its listener has room), a heap by deadline
/// (expired in O(log n) each; finished entries are skipped lazily) and each client's own set (dropped with it).
/// Every operation is O(1) or O(log n) in the number waiting, so a flood of pending connects costs linear time,
/// never quadratic; the flood itself is bounded by <see cref="QuotaLedger"/>.
/// </summary>
internal sealed class PendingConnects(QuotaLedger ledger)
{
    private readonly Dictionary<string, LinkedList<PendingConnect>> _byService = new(StringComparer.Ordinal);
    private readonly PriorityQueue<PendingConnect, long> _byDeadline = new();

    private int _count;

    /// <summary>Connects waiting (read by any thread: Hypervisor.PendingConnectCount).</summary>
    public int Count
    {
        get => Volatile.Read(ref _count);
        private set => Volatile.Write(ref _count, value);
    }

    /// <summary>The earliest deadline of a connect still waiting, or null.</summary>
    public long? NextDeadline
    {
        get
        {
            while (_byDeadline.TryPeek(out var first, out var deadline))
            {
                if (!first.Done)
                {
                    return deadline;
                }
                _byDeadline.Dequeue();
            }
            return null;
        }
    }

    public void Add(PendingConnect pending)
    {
        if (!_byService.TryGetValue(pending.Service, out var queue))
        {
            _byService[pending.Service] = queue = new LinkedList<PendingConnect>();
        }
        pending.Node = queue.AddLast(pending);
        if (_byDeadline.Count > (2 * Count) + 1024)
        {
            // Granted connects stay in the heap until their deadline; compact so the heap stays O(waiting).
            var live = _byDeadline.UnorderedItems.Where(e => !e.Element.Done).ToArray();
            _byDeadline.Clear();
            _byDeadline.EnqueueRange(live);
        }
        _byDeadline.Enqueue(pending, pending.Deadline);
        pending.Client.Pending.Add(pending);
        ledger.ChargePending(pending.Client);
        Count++;
    }

    /// <summary>Removes and returns the oldest connect waiting for <paramref name="service"/>.</summary>
    public bool TryTakeFor(string service, out PendingConnect pending)
    {
        if (_byService.TryGetValue(service, out var queue) && queue.First is { } first)
        {
            pending = first.Value;
            Finish(pending);
            return true;
        }
        pending = null!;
        return false;
    }

    /// <summary>Whether any connect waits for <paramref name="service"/>.</summary>
    public bool HasWaitingFor(string service) => _byService.ContainsKey(service);

    /// <summary>How many connects wait for <paramref name="service"/>.</summary>
    public int CountFor(string service) => _byService.TryGetValue(service, out var queue) ? queue.Count : 0;

    /// <summary>Removes and returns one connect whose deadline passed.</summary>
    public bool TryTakeExpired(long now, out PendingConnect pending)
    {
        while (_byDeadline.TryPeek(out var first, out var deadline) && deadline <= now)
        {
            _byDeadline.Dequeue();
            if (!first.Done)
            {
                pending = first;
                Finish(pending);
                return true;
            }
        }
        pending = null!;
        return false;
    }

    /// <summary>Drops one waiting connect (its caller cancelled it).</summary>
    public void Remove(PendingConnect pending) => Finish(pending);

    /// <summary>Drops every connect <paramref name="client"/> has waiting (it left).</summary>
    public void RemoveAll(ControlClient client)
    {
        foreach (var pending in client.Pending.ToArray())
        {
            Finish(pending);
        }
    }

    private void Finish(PendingConnect pending)
    {
        if (pending.Done)
        {
            return;
        }
        pending.Done = true;
        if (pending.Node is { List: { } list } node)
        {
            list.Remove(node);
            if (list.Count == 0)
            {
                _byService.Remove(pending.Service);
            }
        }
        pending.Client.Pending.Remove(pending);
        ledger.RefundPending(pending.Client);
        Count--;
    }
}
