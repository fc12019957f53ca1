using IIC.Native;

namespace IIC.Hardware;

/// <summary>One control connection to the hypervisor: the partition behind it, once attached, and what it holds.</summary>
internal sealed class ControlClient(SeqPacketSocket socket, ProcessHandle process, PeerCredentials credentials)
{
    public SeqPacketSocket Socket { get; } = socket;

    public ProcessHandle Process { get; } = process;

    public PeerCredentials Credentials { get; } = credentials;

    public string? Name { get; set; }

    public uint Id { get; set; }

    public bool Attached { get; set; }

    public int GrantCount { get; set; }

    public HashSet<string> Services { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, bool> GroupedServices { get; } = new(StringComparer.Ordinal);

    public InterruptGroup? Group { get; set; }

    public Stack<int> FreeVectors { get; } = new();

    public int NextVector { get; set; }

    public int TakeVector() => FreeVectors.Count > 0 ? FreeVectors.Pop() : NextVector++;
}
