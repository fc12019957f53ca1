using System.Collections.Concurrent;

namespace IIC.Grpc.Testing;

/// <summary>What the server saw of calls named by a key (cancellations), for tests to ask about later.</summary>
public static class Observations
{
    public static ConcurrentDictionary<string, string> Cancelled { get; } = new();
}
