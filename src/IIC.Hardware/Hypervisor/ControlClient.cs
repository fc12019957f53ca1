using System.Diagnostics;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// One control connection to the hypervisor: the process behind it (pidfd, SO_PEERCRED), the partition once
/// attached, what it holds (services, grants, pending connects, window bytes) and the messages queued for it.
/// The socket is never written with a blocking call: what the kernel does not take at once waits in
/// <see cref="Outbound"/> until the socket polls writable.
/// </summary>
internal sealed class ControlClient(SeqPacketSocket socket, ProcessHandle process, PeerCredentials credentials)
{
    public SeqPacketSocket Socket { get; } = socket;

    public ProcessHandle Process { get; } = process;

    public PeerCredentials Credentials { get; } = credentials;

    /// <summary>When the connection was accepted (Stopwatch ticks), for the attach deadline.</summary>
    public long AcceptedAt { get; } = Stopwatch.GetTimestamp();

    public string? Name { get; set; }

    public uint Id { get; set; }

    public bool Attached { get; set; }

    /// <summary>False once detached: handlers running later in the same loop turn skip it.</summary>
    public bool Connected { get; set; } = true;

    public HashSet<string> Services { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, bool> GroupedServices { get; } = new(StringComparer.Ordinal);

    /// <summary>Each offered service's listen backlog (connections granted that its application has not taken yet).</summary>
    public Dictionary<string, ServiceBacklog> Backlogs { get; } = new(StringComparer.Ordinal);

    /// <summary>The grants this partition is the listener or connector of (for an O(grants) detach).</summary>
    public HashSet<GrantRecord> Grants { get; } = [];

    /// <summary>The Connects this partition has waiting.</summary>
    public HashSet<PendingConnect> Pending { get; } = [];

    /// <summary>Window bytes charged to this partition (the connector of each grant pays).</summary>
    public long WindowBytes { get; set; }

    /// <summary>Peer partitions this one receives grouped connections from (one pair group page each).</summary>
    public int GroupPeers { get; set; }

    /// <summary>Messages the socket did not take yet, oldest first.</summary>
    public OutboundQueue Outbound { get; } = new();

    public string Describe() => $"partition '{Name ?? "(unattached)"}' (pid {Credentials.Pid}, uid {Credentials.Uid})";
}
