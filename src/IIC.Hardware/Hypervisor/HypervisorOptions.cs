namespace IIC.Hardware;

/// <summary>What a hypervisor allows and how it reports.</summary>
public sealed record HypervisorOptions
{
    /// <summary>User ids allowed to attach. Empty (the default) means only the hypervisor's own effective uid.</summary>
    public IReadOnlySet<uint> AllowedUids { get; init; } = new HashSet<uint>();

    /// <summary>
    /// Per-service allow-lists of partition names: a service listed here may be offered and connected to only
    /// by the named partitions. Services not listed are open to every attached partition.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlySet<string>> ServicePartitions { get; init; } = new Dictionary<string, IReadOnlySet<string>>();

    /// <summary>The largest ring a connection may ask for (default 64 MiB per direction).</summary>
    public int MaxRingCapacity { get; init; } = 64 << 20;

    /// <summary>The most partitions attached at once (default 1024).</summary>
    public int MaxPartitions { get; init; } = 1024;

    /// <summary>The most live grants (connections) per partition (default 4096).</summary>
    public int MaxGrantsPerPartition { get; init; } = 4096;

    /// <summary>Receives one line per attach, grant, death and refusal (default: none).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>The directory for the socket; default <c>$XDG_RUNTIME_DIR/iic</c>, else <c>/tmp/iic-UID</c>.</summary>
    public string? SocketDirectory { get; init; }
}
