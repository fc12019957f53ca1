using System.Collections.Concurrent;

namespace IIC.Grpc.Testing;

/// <summary>What the server saw of calls named by a key (cancellations), for tests to ask about later.</summary>
public static class Observations
{
    public static ConcurrentDictionary<string, string> Cancelled { get; } = new();

    /// <summary>Server streams that wrote all their messages (before the mode's tail: waiting, failing).</summary>
    public static ConcurrentDictionary<string, int> Written { get; } = new();
}
