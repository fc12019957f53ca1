using System.Collections.Concurrent;

namespace IIC.Grpc.Testing;

/// <summary>What the server saw of calls named by a key (cancellations), for tests to ask about later.</summary>
public static class Observations
{
    public static ConcurrentDictionary<string, string> Cancelled { get; } = new();

    /// <summary>Server streams that wrote all their messages (before the mode's tail: waiting, failing).</summary>
    public static ConcurrentDictionary<string, int> Written { get; } = new();

    /// <summary>
    /// "progress" streams: the last write whose task the handler got back incomplete (-2: its response headers), i.e. one
    /// that is waiting (queued behind another call's send, or for room) with the call's token on its wait. "Written" is
    /// set before a write starts, so a Cancel sent after seeing it can come before the wait does (the write is then
    /// refused, not cancelled); this is set only once the wait began.
    /// </summary>
    public static ConcurrentDictionary<string, int> Waiting { get; } = new();
}
