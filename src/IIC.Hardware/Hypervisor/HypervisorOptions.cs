using Microsoft.Extensions.Logging;

namespace IIC.Hardware;

/// <summary>
/// What a hypervisor allows, how much any one partition, user or the whole machine may hold, and how it reports.
/// Every quota refuses the one request that would exceed it with an Error reply (docs/guarantees.md, "Resource
/// limits"); the hypervisor keeps serving everyone else.
/// </summary>
public sealed record HypervisorOptions
{
    /// <summary>User ids allowed to attach. Empty (the default) means only the hypervisor's own effective uid.</summary>
    public IReadOnlySet<uint> AllowedUids { get; init; } = new HashSet<uint>();

    /// <summary>
    /// Per-service allow-lists of partition names: a service listed here may be offered and connected to only
    /// by the named partitions. Names are a convenience: pair them with <see cref="NameOwners"/> or use
    /// <see cref="ServiceUids"/> so that the kernel's identity, not a chosen name, decides.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlySet<string>> ServicePartitions { get; init; } = new Dictionary<string, IReadOnlySet<string>>();

    /// <summary>Per-service allow-lists of user ids (SO_PEERCRED): a service listed here may be offered and connected to only by these uids.</summary>
    public IReadOnlyDictionary<string, IReadOnlySet<uint>> ServiceUids { get; init; } = new Dictionary<string, IReadOnlySet<uint>>();

    /// <summary>Per-service allow-lists of group ids (SO_PEERCRED): a service listed here may be offered and connected to only by these gids.</summary>
    public IReadOnlyDictionary<string, IReadOnlySet<uint>> ServiceGids { get; init; } = new Dictionary<string, IReadOnlySet<uint>>();

    /// <summary>Partition names reserved for one uid: only that uid may attach under the name.</summary>
    public IReadOnlyDictionary<string, uint> NameOwners { get; init; } = new Dictionary<string, uint>();

    /// <summary>The largest ring a connection may ask for (default 64 MiB per direction).</summary>
    public int MaxRingCapacity { get; init; } = 64 << 20;

    /// <summary>The most partitions attached at once (default 1024).</summary>
    public int MaxPartitions { get; init; } = 1024;

    /// <summary>The most live grants (connections) per partition, as listener or connector (default 4096).</summary>
    public int MaxGrantsPerPartition { get; init; } = 4096;

    /// <summary>The most live grants held by the partitions of one uid (default 16384).</summary>
    public int MaxGrantsPerUid { get; init; } = 16384;

    /// <summary>The most live grants in the whole hypervisor (default 65536).</summary>
    public int MaxGrants { get; init; } = 65536;

    /// <summary>The most Connects one partition may have waiting, for a service to appear or for its busy listener to read (default 256).</summary>
    public int MaxPendingConnectsPerPartition { get; init; } = 256;

    /// <summary>The most Connects the partitions of one uid may have waiting (default 1024).</summary>
    public int MaxPendingConnectsPerUid { get; init; } = 1024;

    /// <summary>The most Connects waiting in the whole hypervisor (default 8192).</summary>
    public int MaxPendingConnects { get; init; } = 8192;

    /// <summary>Window bytes (both rings and headers) the connections a partition asked for may total (default 1 GiB).</summary>
    public long MaxWindowBytesPerPartition { get; init; } = 1L << 30;

    /// <summary>Window bytes the partitions of one uid may total (default 4 GiB).</summary>
    public long MaxWindowBytesPerUid { get; init; } = 4L << 30;

    /// <summary>Window bytes of all live grants (default 16 GiB).</summary>
    public long MaxWindowBytes { get; init; } = 16L << 30;

    /// <summary>
    /// Grants queued for a listener that has not read them from its control socket yet (its accept queue, default 64).
    /// Further connects to it wait, in order and within their own timeouts, until it reads (a busy listener), counting
    /// against the pending-connect quotas; a connect with no timeout is refused at once (<see cref="ControlError.NotAccepting"/>).
    /// </summary>
    public int MaxQueuedGrantsPerPartition { get; init; } = 64;

    /// <summary>
    /// How long a listener with <see cref="MaxQueuedGrantsPerPartition"/> grants unread may read nothing at all before it
    /// counts as stopped or hung (default 5 s): the connects waiting for it then fail with
    /// <see cref="ControlError.NotAccepting"/>, naming it, and so do new ones until it reads again or is detached
    /// (<see cref="OutboundStallTimeout"/>). A busy listener that reads at any pace never meets it.
    /// </summary>
    public TimeSpan AcceptStallTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Control messages queued for a partition that is not reading before it is detached (default 1024).</summary>
    public int MaxOutboundMessagesPerPartition { get; init; } = 1024;

    /// <summary>How long a partition may leave its control socket full before it is detached (default 10 s).</summary>
    public TimeSpan OutboundStallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a new control connection has to send Attach (default 5 s).</summary>
    public TimeSpan AttachTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Control connections accepted but not yet attached, at most (default 128); further ones are closed at once.</summary>
    public int MaxUnattachedConnections { get; init; } = 128;

    /// <summary>
    /// Make the whole process non-dumpable (prctl PR_SET_DUMPABLE 0) while this hypervisor runs, so same-uid processes
    /// cannot reopen its windows through /proc/PID/fd or read its memory. Default true, for an embedded hypervisor as
    /// for <c>iic hypervisor</c>. The trade-off: while it is set, same-uid debuggers and dump tools cannot attach to the
    /// host process (no <c>createdump</c>, <c>dotnet-dump collect</c>, gdb or core dumps; EventPipe tools such as
    /// dotnet-counters and dotnet-trace still work). Set false to debug or dump the host, accepting that same-uid
    /// processes can then open the live windows the hypervisor holds. Disposing the last non-dumpable hypervisor of the
    /// process makes it dumpable again if it was before.
    /// </summary>
    public bool NonDumpable { get; init; } = true;

    /// <summary>Receives one line per attach, grant, death and refusal (default: none).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Logs grants, refusals, detaches, deaths and quota hits (default: none).</summary>
    public ILogger? Logger { get; init; }

    /// <summary>
    /// Windows of the default ring size (<see cref="WindowOptions.DefaultRingCapacity"/>) kept ready for the next
    /// connects, made while the hypervisor is idle (each a fresh sealed memfd, never reused; 0 makes every grant
    /// create its own). Default 4: about 16 KiB of memory and 4 descriptors.
    /// </summary>
    public int WindowPoolSize { get; init; } = 4;

    /// <summary>The directory for the socket; default <c>$XDG_RUNTIME_DIR/iic</c>, else <c>/tmp/iic-UID</c>.</summary>
    public string? SocketDirectory { get; init; }

    /// <summary>Throws unless every limit is positive.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A limit is zero or negative.</exception>
    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxPartitions, nameof(MaxPartitions));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxGrantsPerPartition, nameof(MaxGrantsPerPartition));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxGrantsPerUid, nameof(MaxGrantsPerUid));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxGrants, nameof(MaxGrants));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxPendingConnectsPerPartition, nameof(MaxPendingConnectsPerPartition));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxPendingConnectsPerUid, nameof(MaxPendingConnectsPerUid));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxPendingConnects, nameof(MaxPendingConnects));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxWindowBytesPerPartition, nameof(MaxWindowBytesPerPartition));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxWindowBytesPerUid, nameof(MaxWindowBytesPerUid));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxWindowBytes, nameof(MaxWindowBytes));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxQueuedGrantsPerPartition, nameof(MaxQueuedGrantsPerPartition));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxOutboundMessagesPerPartition, nameof(MaxOutboundMessagesPerPartition));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxUnattachedConnections, nameof(MaxUnattachedConnections));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(OutboundStallTimeout, TimeSpan.Zero, nameof(OutboundStallTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(AcceptStallTimeout, TimeSpan.Zero, nameof(AcceptStallTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(AttachTimeout, TimeSpan.Zero, nameof(AttachTimeout));
        ArgumentOutOfRangeException.ThrowIfNegative(WindowPoolSize, nameof(WindowPoolSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(WindowPoolSize, 64, nameof(WindowPoolSize));
    }
}
