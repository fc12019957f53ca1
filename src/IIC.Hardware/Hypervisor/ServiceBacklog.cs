namespace IIC.Hardware;

/// <summary>
/// The hypervisor's view of one offered service's listen backlog: connections granted to its listener that the
/// listening application has not taken yet (accepted, or dropped unaccepted), as the listener reports them in
/// <c>Accepted</c> messages. At <see cref="Limit"/> further connects wait (HypervisorAcceptQueue.cs).
/// </summary>
internal sealed class ServiceBacklog(int limit)
{
    /// <summary>Connections granted but not yet taken that the service may have (the listener's backlog).</summary>
    public int Limit { get; } = limit;

    /// <summary>Grants sent for the service minus those the listener reported taken; never negative.</summary>
    public int Untaken { get; private set; }

    /// <summary>When the backlog last became full (Stopwatch ticks); meaningful while <see cref="IsFull"/>.</summary>
    public long FullSince { get; private set; }

    public bool IsFull => Untaken >= Limit;

    public void Granted(long now)
    {
        Untaken++;
        if (Untaken == Limit)
        {
            FullSince = now;
        }
    }

    /// <summary>
    /// The listener reports <paramref name="count"/> more connections taken. A listener that claims more than it was
    /// granted (buggy or lying) is clamped at zero: it can only make its own service receive more than its backlog,
    /// which every other quota (grants, window bytes, its socket's queue) still bounds.
    /// </summary>
    public void Taken(uint count) => Untaken = (int)Math.Max(0, Untaken - Math.Min(count, (uint)int.MaxValue));
}
